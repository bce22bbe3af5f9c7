"""Read a list file (CSV, xlsx, xls, JSON, JSONL) into the row frame (docs/architecture.md).

Published 权力清单 arrive in every shape: GB18030 CSVs, workbooks with title rows and merged department
cells, JSON dumps of portal APIs. Each format's module reduces a file to tables (``table.Table``: rows of
cell text plus the physical row numbers); then one function finds the header, maps columns and builds
the frame, so the rules (blank rows, ragged rows, cell size cap) are the same for every format.

Problems with one row are recorded on that row (``row_errors``) so that it is quarantined, never dropped;
only a source that cannot be read at all raises :class:`SourceReadError`. Modules: ``limits`` (the caps on
hostile input), ``text`` (decoding), ``csvfile``, ``jsonfile``, ``workbook`` (xlsx/xls; its reference path
is openpyxl), ``xlsx_fast`` (the fast path for xlsx cells), ``table`` (header, columns, frame).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from transforms import gc_paused
from transforms.ingest.columns import (
    check_overrides,
    is_numbering,
    map_headers,
    unique_keys,
)
from transforms.ingest.manifest import (
    FORMATS,
    OLD_BINARY_MESSAGE,
    SourceSpec,
    format_from_name,
    old_binary_refusal,
)
from transforms.ingest.read.bundle import zip_members
from transforms.ingest.read.csvfile import _csv_table
from transforms.ingest.read.docxfile import docx_tables
from transforms.ingest.read.htmlfile import html_tables
from transforms.ingest.read.jsonfile import _json_table, _jsonl_table
from transforms.ingest.read.limits import (
    HEADER_SCAN_ROWS,
    MAX_LINE_BYTES,
    MAX_MERGED_CELLS,
    MAX_SOURCE_BYTES,
    MAX_UNZIPPED_BYTES,
    MAX_WORKBOOK_CELLS,
    MAX_ZIP_RATIO,
)
from transforms.ingest.read.pdffile import pdf_tables
from transforms.ingest.read.table import (
    _STRIP,
    SourceReadError,
    Table,
    _fill_merges,
    _FrameBuilder,
    _header_index,
    _header_width,
    _pad_rows,
    _where,
)
from transforms.ingest.read.text import _decode
from transforms.ingest.read.workbook import _read_workbook, pick_sheet

__all__ = [
    "FORMATS",
    "HEADER_SCAN_ROWS",
    "MAX_LINE_BYTES",
    "MAX_MERGED_CELLS",
    "MAX_SOURCE_BYTES",
    "MAX_UNZIPPED_BYTES",
    "MAX_WORKBOOK_CELLS",
    "MAX_ZIP_RATIO",
    "SourceReadError",
    "html_page_title",
    "read_rows",
    "read_source_file",
    "read_spec_rows",
]


def read_rows(
    data: bytes,
    *,
    source_id: str,
    fmt: str,
    encoding: str = "auto",
    sheet: str | int | None = None,
    header_row: int | None = None,
    columns: dict[str, str] | None = None,
    max_cell_chars: int = 32768,
    max_line_bytes: int = MAX_LINE_BYTES,
    data_selector: str | None = None,
    paged: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Read one source into the row frame.

    Returns ``(frame, info)``; ``info`` records what was detected (encoding, sheets used, header row per
    sheet, the header text behind each canonical column, unmapped headers) so the run report can show it.
    Any failure to read the source as a whole is a :class:`SourceReadError`, whatever its cause, so that
    one bad file never stops the other sources. ``data_selector`` is where a JSON document keeps its
    records (``data.list``); ``paged``: the bytes are the pages of a paginated download, in order.
    """
    if fmt != "html" and (page := html_page_title(data)) is not None:
        raise SourceReadError(
            f"this is an HTML page, not a {fmt} file (as a portal returns for an error, a login or a moved "
            f"file; its title: {page!r}); download the list itself or point url/path at it"
        )
    try:
        with gc_paused():
            return _read(
                data,
                source_id=source_id,
                fmt=fmt,
                encoding=encoding,
                sheet=sheet,
                header_row=header_row,
                columns=columns,
                max_cell_chars=max_cell_chars,
                max_line_bytes=max_line_bytes,
                data_selector=data_selector,
                paged=paged,
            )
    except SourceReadError:
        raise
    except RecursionError as exc:
        raise SourceReadError(f"{fmt}: nested too deeply to read") from exc
    except MemoryError as exc:
        raise SourceReadError(f"{fmt}: out of memory while reading ({len(data):,} bytes)") from exc
    except Exception as exc:
        raise SourceReadError(f"{fmt}: unreadable ({type(exc).__name__}: {exc})") from exc


_HTML_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.I | re.S
)

_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.I | re.S)


def read_spec_rows(data: bytes, spec: SourceSpec) -> tuple[pd.DataFrame, dict]:
    """``read_rows`` with every reading option the manifest gives ``spec`` (format, encoding, sheet,
    header row, column names, where a JSON document keeps its records, whether the bytes are pages)."""
    return read_rows(
        data,
        source_id=spec.id,
        fmt=spec.format,
        encoding=spec.encoding,
        sheet=spec.sheet,
        header_row=spec.header_row,
        columns=spec.columns or None,
        data_selector=spec.data_selector,
        paged=spec.paginator is not None,
    )


def html_page_title(data: bytes) -> str | None:
    """The title ('' when none) of ``data`` if it is an HTML page, else None.

    Portals answer a moved list, a login wall or an error with an HTML page and status 200; read as a
    CSV it only failed later with "no header with an item-name column", which hid the cause.
    """
    head = data[:65536]
    if not _HTML_START.match(head):
        return None
    title = _HTML_TITLE.search(head)
    if title is None:
        return ""
    raw = title.group(1)
    for codec in ("utf-8", "gb18030"):
        try:
            return " ".join(raw.decode(codec).split())[:120]
        except UnicodeDecodeError:
            continue
    return ""


def read_source_file(path: Path | str, max_bytes: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of a local list file, refused by its size before any of it is read.

    ``read_rows`` needs the whole file in memory; checking the size first keeps a 5 GB file (a database
    dump saved as .csv, a runaway export) from costing 5 GB. Raises :class:`SourceReadError`; ``OSError``
    (missing, unreadable) is left to the caller, which names the path.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise SourceReadError(f"refused: the file is {size:,} bytes, over the limit of {max_bytes:,} bytes")
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)  # the file may grow between stat and read
    if len(data) > max_bytes:
        raise SourceReadError(f"refused: the file grew past the limit of {max_bytes:,} bytes while being read")
    return data


def _read(
    data: bytes,
    *,
    source_id: str,
    fmt: str,
    encoding: str,
    sheet: str | int | None,
    header_row: int | None,
    columns: dict[str, str] | None,
    max_cell_chars: int,
    max_line_bytes: int,
    data_selector: str | None = None,
    paged: bool = False,
) -> tuple[pd.DataFrame, dict]:
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise SourceReadError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    try:
        overrides = check_overrides(columns)
    except ValueError as exc:
        raise SourceReadError(f"[source.columns]: {exc}") from exc
    if header_row is not None and header_row < 1:
        raise SourceReadError(f"header_row must be 1 or more, not {header_row}")
    if not data:
        raise SourceReadError("empty file")
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceReadError(f"refused: {len(data):,} bytes, over the limit of {MAX_SOURCE_BYTES:,} bytes")

    if fmt == "zip":
        return _read_zip(
            data,
            source_id=source_id,
            encoding=encoding,
            header_row=header_row,
            columns=columns,
            max_cell_chars=max_cell_chars,
            max_line_bytes=max_line_bytes,
        )
    detected: str | None = None
    if fmt in ("xlsx", "xls"):
        tables = _read_workbook(data, fmt, sheet)
        explicit_sheet = sheet is not None
    elif fmt in DOCUMENT_FORMATS:
        tables, detected = _document_tables(data, fmt, encoding)
        tables = pick_sheet(tables, sheet, "table")
        explicit_sheet = sheet is not None
    else:
        if data.startswith(_OLE2):
            raise SourceReadError(_ole2_refusal(data))
        if fmt in ("csv", "jsonl"):  # a JSON document may legitimately be one long line
            _check_line_lengths(data, max_line_bytes)
        text, detected = _decode(data, encoding)
        if not text.strip(_STRIP):
            raise SourceReadError("empty file")
        if fmt == "csv":
            tables = [_csv_table(text, overrides)]
        elif fmt == "json":
            tables = [_json_table(text, data_selector, paged)]
        else:
            tables = [_jsonl_table(text)]
        explicit_sheet = True

    builder = _FrameBuilder(source_id, max_cell_chars)
    info: dict = {"encoding": detected, "sheets": [], "header_row": {}, "columns": {}, "unmapped": []}
    is_json = fmt in ("json", "jsonl")
    skipped: list[str] = []
    for table in tables:
        if table.hidden and not explicit_sheet:
            skipped.append(f"{table.sheet} (hidden)")
            continue
        header_idx = 0 if is_json else _header_index(table, header_row, overrides, must=explicit_sheet)
        if header_idx is None:
            skipped.append(table.sheet)
            continue
        _fill_merges(table.rows, table.merges, header_idx)
        if table.sparse:
            _pad_rows(table.rows, header_idx)
        headers = [cell.strip(_STRIP) for cell in table.rows[header_idx]]
        width = len(headers) if is_json else _header_width(headers)
        headers = headers[:width]
        data_rows = range(header_idx + 1, len(table.rows))
        hmap = map_headers(
            headers,
            overrides,
            numbering=lambda j, t=table, rs=data_rows: is_numbering([t.rows[i][j] for i in rs if j < len(t.rows[i])]),
        )
        where = _where(table, fmt)
        if "name" not in hmap.canonical and not explicit_sheet:  # header_row given for every sheet
            skipped.append(table.sheet)
            continue
        if "name" not in hmap.canonical:
            raise SourceReadError(
                f"no item-name column among the {'keys' if is_json else 'headers'} of {where} "
                f"({', '.join(headers)}); set [source.columns] name = …"
            )
        if hmap.missing_overrides:
            wanted = ", ".join(f"{c} = {overrides[c]!r}" for c in hmap.missing_overrides)
            raise SourceReadError(
                f"[source.columns] {wanted}: no such header in {where} (headers: {', '.join(headers)})"
            )
        if table.typed:
            _quarantine_typed_names(table, hmap.canonical["name"])
        keys = unique_keys(headers)
        builder.add(table, header_idx, keys, hmap)
        if fmt in ("xlsx", "xls", *DOCUMENT_FORMATS):
            info["sheets"].append(table.sheet)
        if not is_json:
            info["header_row"][table.sheet] = table.row_nos[header_idx]
        for canon, j in hmap.canonical.items():
            info["columns"].setdefault(canon, headers[j])
        for j in hmap.unmapped:
            if headers[j] and headers[j] not in info["unmapped"]:
                info["unmapped"].append(headers[j])

    warnings = [w for table in tables for w in table.warnings]
    if warnings:
        info["read_warnings"] = warnings
    if not builder.used and fmt in DOCUMENT_FORMATS:
        raise SourceReadError(
            f"no table of the {fmt} file has a header with an item-name column "
            f"{f'in row {header_row}' if header_row else f'in its first {HEADER_SCAN_ROWS} rows'} "
            f'(tables: {", ".join(skipped)}); set sheet = "table N" / header_row / [source.columns]'
        )
    if not builder.used:
        raise SourceReadError(
            "no usable sheet in workbook: no visible sheet has a header with an item-name column "
            f"{f'in row {header_row}' if header_row else f'in its first {HEADER_SCAN_ROWS} rows'} "
            f"(sheets: {', '.join(skipped)}); set sheet / header_row / [source.columns]"
        )
    if builder.n_rows == 0:
        raise SourceReadError("no data rows: the JSON holds no objects" if is_json else "header only: no data rows")
    return builder.frame(), info


_OLE2 = b"\xd0\xcf\x11\xe0"


def _ole2_refusal(data: bytes) -> str:
    """Why OLE2 bytes (Office 97–2003, WPS) given as text cannot be read: only an .xls workbook can."""
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return 'an OLE file, probably an xls workbook: set format = "xls"'
    return f'{OLD_BINARY_MESSAGE} (an OLE2 file; if it is an Excel .xls workbook, set format = "xls")'


def _read_zip(
    data: bytes,
    *,
    source_id: str,
    encoding: str,
    header_row: int | None,
    columns: dict[str, str] | None,
    max_cell_chars: int,
    max_line_bytes: int,
) -> tuple[pd.DataFrame, dict]:
    """Every list file of a ZIP bundle (``bundle``), one after the other, each member's name in ``sheet``
    (``member:sheet`` for a workbook's sheets) so items and quarantined rows say which file they came from.

    ``encoding``, ``header_row`` and ``columns`` apply to every member; a list file that fails fails the
    source, its name in the message, while a page or document without a list (a cover letter, a 说明.pdf)
    is skipped with a warning.
    """
    known = [f for f in FORMATS if f != "zip"]
    members, skipped = zip_members(data, format_from_name, known, old_binary_refusal)
    if not members:
        found = f" ({'; '.join(skipped)})" if skipped else ""
        raise SourceReadError(f"the zip bundle holds no list file ({', '.join(known)}){found}")
    frames = []
    info: dict = {"encoding": None, "sheets": [], "header_row": {}, "columns": {}, "unmapped": [], "members": {}}
    warnings = list(skipped)
    for member in members:
        try:
            if (page := html_page_title(member.data)) is not None:
                raise SourceReadError(f"this is an HTML page, not a {member.fmt} file (its title: {page!r})")
            frame, part = _read(
                member.data,
                source_id=source_id,
                fmt=member.fmt,
                encoding=encoding,
                sheet=None,
                header_row=header_row,
                columns=columns,
                max_cell_chars=max_cell_chars,
                max_line_bytes=max_line_bytes,
            )
        except SourceReadError as exc:
            if member.fmt in DOCUMENT_FORMATS:  # a cover letter or a 说明 beside the lists: no list of its own
                warnings.append(f"zip member {member.name!r} skipped: {exc}")
                continue
            raise SourceReadError(f"zip member {member.name!r}: {exc}") from exc
        label = {s: _member_sheet(member.name, s) for s in frame["sheet"].unique()}
        frame["sheet"] = frame["sheet"].map(label)
        frames.append(frame)
        info["members"][member.name] = {"format": member.fmt, "encoding": part["encoding"], "rows": len(frame)}
        info["sheets"].extend(_member_sheet(member.name, s) for s in part["sheets"])
        for sheet, row in part["header_row"].items():
            info["header_row"][_member_sheet(member.name, sheet)] = row
        for canon, header in part["columns"].items():
            info["columns"].setdefault(canon, header)
        info["unmapped"].extend(h for h in part["unmapped"] if h not in info["unmapped"])
        warnings.extend(f"zip member {member.name!r}: {w}" for w in part.get("read_warnings", []))
    if not frames:
        raise SourceReadError(f"the zip bundle holds no list file ({'; '.join(warnings)})")
    encodings = sorted({m["encoding"] for m in info["members"].values() if m["encoding"]})
    info["encoding"] = ", ".join(encodings) or None
    if warnings:
        info["read_warnings"] = warnings
    return pd.concat(frames, ignore_index=True), info


def _quarantine_typed_names(table: Table, name_column: int) -> None:
    """A JSON item name that is not text (an object, an array, a number, true, NaN) is not a name a list
    published: its row is quarantined, naming the column, rather than the JSON text becoming an item."""
    for i, kinds in table.typed.items():
        if (kind := kinds.get(name_column)) is not None:
            table.problems.setdefault(i, []).append((name_column, f"{kind} where the item name must be text"))


def _member_sheet(member: str, sheet: str) -> str:
    return f"{member}:{sheet}" if sheet else member


#: Formats whose file holds several tables (``table 1`` …), chosen by their header like a workbook's sheets.
DOCUMENT_FORMATS = ("html", "docx", "pdf")


def _document_tables(data: bytes, fmt: str, encoding: str) -> tuple[list[Table], str | None]:
    if fmt == "html":
        return html_tables(data, encoding)
    if data.startswith(_OLE2):
        raise SourceReadError(_ole2_refusal(data))
    if fmt == "docx":
        return docx_tables(data), None
    return pdf_tables(data), None


def _check_line_lengths(data: bytes, limit: int) -> None:
    """Refuse text with a line longer than ``limit`` bytes without decoding or splitting it.

    Looks for a newline in every block of ``limit // 2`` bytes (C-speed ``find``, a handful of calls for a
    normal file): a line of ``limit`` bytes or more must cover a whole block, and only then is its exact
    extent measured.
    """
    if len(data) <= limit:
        return
    block = max(1, limit // 2)
    for start in range(0, len(data), block):
        if data.find(b"\n", start, start + block) != -1:
            continue
        line_start = data.rfind(b"\n", 0, start) + 1
        end = data.find(b"\n", start)
        line_end = len(data) if end == -1 else end
        if line_end - line_start > limit:
            line_no = data.count(b"\n", 0, line_start) + 1
            raise SourceReadError(
                f"refused: line {line_no} is {line_end - line_start:,} bytes long (limit {limit:,}); "
                "not a list row — a broken export, a wrong delimiter/format, or binary data"
            )
