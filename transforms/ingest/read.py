"""Read a list file (CSV, xlsx, xls, JSON, JSONL) into the row frame (docs/architecture.md).

Published 权力清单 arrive in every shape: GB18030 CSVs, workbooks with title rows and merged department
cells, JSON dumps of portal APIs. Everything is reduced to one table per file or sheet — a list of rows of
cell text plus the physical row numbers — and then one function finds the header, maps columns and builds
the frame, so the rules (blank rows, ragged rows, cell size cap) are the same for every format.

Problems with one row are recorded on that row (``row_errors``) so that it is quarantined, never dropped;
only a source that cannot be read at all raises :class:`SourceReadError`.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import csv
import datetime as dt
import functools
import gc
import html
import io
import json
import re
import sys
import warnings
import xml.etree.ElementTree as xml_etree
import xml.parsers.expat as xml_expat
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not, itemgetter
from pathlib import Path
from typing import Any

import pandas as pd

from transforms.ingest.columns import (
    FRAME_COLUMN,
    ROW_FRAME_COLUMNS,
    HeaderMap,
    check_overrides,
    find_header_row,
    is_numbering,
    map_headers,
    unique_keys,
)

FORMATS: tuple[str, ...] = ("csv", "xlsx", "xls", "json", "jsonl")
HEADER_SCAN_ROWS = 20
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
# A list file larger than this is an export gone wrong or an attack; refused before it is read into memory.
MAX_SOURCE_BYTES = 200 * 1024 * 1024
# One CSV/JSONL line (record) longer than this is refused before the text is decoded: no list row is that
# long (32k-character cells in forty columns are ~4 MB), and decoding and splitting it would cost several times
# its size in memory. Multi-line quoted cells are bounded by MAX_SOURCE_BYTES and max_cell_chars instead.
MAX_LINE_BYTES = 16 * 1024 * 1024
# Cells a workbook may make us hold (per row: up to its last used column), and merged cells it may declare.
# openpyxl creates an object per merged cell on load and ``iter_rows`` one per empty cell of the used range,
# so a 5 KB file with one cell at XFD1048576 or one merge A1:XFD1048576 would need gigabytes.
MAX_WORKBOOK_CELLS = 10_000_000
MAX_MERGED_CELLS = 1_000_000
# below this many unpacked bytes a high ratio cannot hurt, and tiny XML parts compress very well
_RATIO_FLOOR_BYTES = 10 * 1024 * 1024

# Everything str.strip() removes, plus the zero-width characters that copy-paste from web pages leaves.
_STRIP = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_CHARS = 65536
_CONTROL = frozenset(chr(c) for c in range(32)) - frozenset("\t\n\r\f\v")
# The same characters as a regex class, to count them in C: a per-character generator over the 64k sample
# took 4 s of a 1M-row run (str.translate with a deletion table looks every CJK character up in a dict).
_CONTROL_CHARS = re.compile("[" + "".join(sorted(_CONTROL)) + "]")

# Legal-basis cells run to tens of thousands of characters; the cap is enforced per row, not by csv.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class SourceReadError(Exception):
    """The whole source cannot be read; the message says why in words an analyst can act on."""


@dataclass
class _Table:
    """One sheet (or the whole CSV/JSON file) as cell text, before the header is known."""

    sheet: str
    rows: list[list[str]]
    row_nos: list[int]
    # row index -> [(column index, or None for the whole row, message)] found while reading (formula cells)
    problems: dict[int, list[tuple[int | None, str]]] = field(default_factory=dict)
    # row index -> cells that have no column (a JSONL line that is not JSON), kept for the quarantine
    raw_extra: dict[int, dict[str, str]] = field(default_factory=dict)
    # (first row, first col, last row, last col), 0-based inclusive: merged ranges of a spreadsheet
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    hidden: bool = False
    # rows end at their last used cell and blank rows are left out (xlsx): padded once the header is known
    sparse: bool = False


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
) -> tuple[pd.DataFrame, dict]:
    """Read one source into the row frame.

    Returns ``(frame, info)``; ``info`` records what was detected (encoding, sheets used, header row per
    sheet, the header text behind each canonical column, unmapped headers) so the run report can show it.
    Any failure to read the source as a whole is a :class:`SourceReadError`, whatever its cause, so that
    one bad file never stops the other sources.
    """
    if (page := html_page_title(data)) is not None:
        raise SourceReadError(
            f"this is an HTML page, not a {fmt} file (as a portal returns for an error, a login or a moved "
            f"file; its title: {page!r}); download the list itself or point url/path at it"
        )
    try:
        with _gc_paused():
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


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of small row lists and dicts make the cyclic collector run over and over (half the read
    time) although none of them can form a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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

    detected: str | None = None
    if fmt in ("xlsx", "xls"):
        tables = _read_workbook(data, fmt, sheet)
        explicit_sheet = sheet is not None
    else:
        if fmt in ("csv", "jsonl"):  # a JSON document may legitimately be one long line
            _check_line_lengths(data, max_line_bytes)
        text, detected = _decode(data, encoding)
        if not text.strip(_STRIP):
            raise SourceReadError("empty file")
        if fmt == "csv":
            tables = [_csv_table(text, overrides)]
        elif fmt == "json":
            tables = [_json_table(text)]
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
        keys = unique_keys(headers)
        builder.add(table, header_idx, keys, hmap)
        if fmt in ("xlsx", "xls"):
            info["sheets"].append(table.sheet)
        if not is_json:
            info["header_row"][table.sheet] = table.row_nos[header_idx]
        for canon, j in hmap.canonical.items():
            info["columns"].setdefault(canon, headers[j])
        for j in hmap.unmapped:
            if headers[j] and headers[j] not in info["unmapped"]:
                info["unmapped"].append(headers[j])

    if not builder.used:
        raise SourceReadError(
            "no usable sheet in workbook: no visible sheet has a header with an item-name column "
            f"{f'in row {header_row}' if header_row else f'in its first {HEADER_SCAN_ROWS} rows'} "
            f"(sheets: {', '.join(skipped)}); set sheet / header_row / [source.columns]"
        )
    if builder.n_rows == 0:
        raise SourceReadError("no data rows: the JSON holds no objects" if is_json else "header only: no data rows")
    return builder.frame(), info


def _where(table: _Table, fmt: str) -> str:
    return f"sheet {table.sheet!r}" if fmt in ("xlsx", "xls") else f"the {fmt} file"


def _pad_rows(rows: list[list[str]], header_idx: int) -> None:
    """Give the rows below the header at least the header's cells, as a dense sheet would have them."""
    span = len(rows[header_idx])
    for row in rows[header_idx + 1 :]:
        if len(row) < span:
            row.extend([""] * (span - len(row)))


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


def _header_width(headers: list[str]) -> int:
    """Trailing empty header cells are padding (Excel's used range, trailing commas), not columns."""
    width = len(headers)
    while width and not headers[width - 1]:
        width -= 1
    return width


def _header_index(table: _Table, header_row: int | None, overrides: Mapping[str, str], *, must: bool) -> int | None:
    """Row index of the header; None when a sheet has none and may be skipped (``must`` is False)."""
    if header_row is not None:
        try:
            return table.row_nos.index(header_row)
        except ValueError:
            if not must:
                return None
            raise SourceReadError(
                f"header_row = {header_row}: no row starts there in {table.sheet or 'the file'} "
                f"({len(table.rows)} rows)"
            ) from None
    scan = [list(r) for r in table.rows[: HEADER_SCAN_ROWS * 3]]
    _fill_merges(scan, table.merges, header_idx=len(scan))  # a merged header cell counts in every column
    idx = find_header_row(scan, overrides, HEADER_SCAN_ROWS)
    if idx is None and must:
        raise SourceReadError(
            f"no header with an item-name column found in the first {HEADER_SCAN_ROWS} rows"
            f"{f' of sheet {table.sheet!r}' if table.sheet else ''}; set header_row / [source.columns]"
        )
    return idx


def _fill_merges(rows: list[list[str]], merges: list[tuple[int, int, int, int]], header_idx: int) -> None:
    """Give merged cells the value of their top-left cell where that is what the reader means.

    At and above the header a merged range fills completely (a header spanning two columns names both).
    Below it only vertical runs fill down (实施主体 merged over its items applies to each), and only into
    rows with content of their own: a horizontal merge there is a section heading ('一、行政许可') that must
    not become every cell of its row, and a merge running past the last item must not invent rows.
    """
    below = {r for r1, _, r2, _ in merges if r2 > header_idx for r in range(max(r1, header_idx + 1), r2 + 1)}
    has_content = {r for r in below if r < len(rows) and "".join(rows[r]).strip(_STRIP)}
    for r1, c1, r2, c2 in merges:
        if r1 >= len(rows) or c1 >= len(rows[r1]):
            continue
        value = rows[r1][c1]
        last_col = c2 if r1 <= header_idx else c1
        for r in range(r1, min(r2, len(rows) - 1) + 1):
            if r > header_idx and r not in has_content:
                continue
            for c in range(c1, min(last_col, len(rows[r]) - 1) + 1):
                rows[r][c] = value


class _FrameBuilder:
    """Accumulates row-frame columns as plain lists; one DataFrame is made at the end (fast, no concat)."""

    def __init__(self, source_id: str, max_cell_chars: int) -> None:
        self.source_id = source_id
        self.max_cell_chars = max_cell_chars
        self.cols: dict[str, list] = {c: [] for c in ROW_FRAME_COLUMNS}
        self.used = False

    @property
    def n_rows(self) -> int:
        return len(self.cols["row_no"])

    def add(self, table: _Table, header_idx: int, keys: list[str], hmap: HeaderMap) -> None:
        """Append a table's data rows.

        The work is done column by column with C-level map/zip and a Python loop only over the few odd
        rows (ragged, oversized, flagged while reading): a million-row CSV stays at a few seconds.
        """
        self.used = True
        width = len(keys)
        cap = self.max_cell_chars
        first = header_idx + 1
        rows = table.rows[first:]
        # Cells per row: the header line's own count (>= width: padding after the named columns), or more
        # when nearly every data row carries the same extra empty cells (a trailing delimiter).
        span = len(table.rows[header_idx])
        if rows:
            common, count = Counter(map(len, rows)).most_common(1)[0]
            if common > span and count >= 0.9 * len(rows):
                span = common
        ragged = list(compress(range(len(rows)), map(span.__ne__, map(len, rows))))
        shortest = min((len(rows[k]) for k in ragged), default=span)
        cols = [_column(rows, j, guarded=j >= shortest) for j in range(span)]
        keep = list(map(any, zip(*cols, strict=True)))

        problems = {i - first: found for i, found in table.problems.items() if i >= first}
        raw_extra = {i - first: cells for i, cells in table.raw_extra.items() if i >= first}
        odd = set(ragged)
        for j in range(width, span):
            odd.update(compress(range(len(rows)), map(is_not, cols[j], repeat(None))))
        for k in (*problems, *raw_extra):
            keep[k] = True
        errors: dict[int, list[str]] = {}
        for k in odd:
            if not keep[k] and not any(c.strip(_STRIP) for c in rows[k][span:]):
                continue  # a blank line is skipped, whatever its length
            found = _width_errors(rows[k], width, span)
            if found:
                errors.setdefault(k, []).extend(found)
                keep[k] = True
        truncated: list[tuple[int, int]] = []
        for j, col in enumerate(cols):
            if max(map(len, filter(None, col)), default=0) > cap:
                for k, v in enumerate(col):
                    if v is not None and len(v) > cap:
                        errors.setdefault(k, []).append(f"{_key(keys, j)}: cell longer than {cap} characters")
                        col[k] = v[:cap]
                        truncated.append((k, j))
        for k, found_cells in problems.items():
            errors.setdefault(k, []).extend(f"{_key(keys, j)}: {m}" for j, m in found_cells)

        raw = list(map(dict, map(zip, repeat(keys), rows)))
        for k in odd:
            for j in range(width, len(rows[k])):
                if rows[k][j].strip(_STRIP):
                    raw[k][_key(keys, j)] = rows[k][j][:cap]
        for k, j in truncated:
            if j < width:
                raw[k][keys[j]] = raw[k][keys[j]][:cap]
        for k, cells in raw_extra.items():
            raw[k].update(cells)

        if hmap.unmapped:
            names = [keys[j] for j in hmap.unmapped]
            extra = [
                {key: v for key, v in zip(names, vals, strict=True) if v is not None}
                for vals in zip(*(cols[j] for j in hmap.unmapped), strict=True)
            ]
        else:
            extra = [{} for _ in rows]
        out = {
            "sheet": [table.sheet] * len(rows),
            "row_no": table.row_nos[first:],
            "raw": raw,
            "extra": extra,
            "row_errors": [errors.get(k, []) for k in range(len(rows))] if errors else [[] for _ in rows],
        }
        for canon, column in FRAME_COLUMN.items():
            j = hmap.canonical.get(canon)
            out[column] = cols[j] if j is not None else [None] * len(rows)
        everything = all(keep)
        for column, values in out.items():
            self.cols[column].extend(values if everything else compress(values, keep))

    def frame(self) -> pd.DataFrame:
        n = self.n_rows
        index = pd.RangeIndex(n)  # one index object for every column: pandas need not align (union) them
        data = {}
        for name in ROW_FRAME_COLUMNS:
            if name == "source_id":
                data[name] = pd.Series([self.source_id] * n, index=index, dtype=object)
            elif name == "row_no":
                data[name] = pd.Series(self.cols[name], index=index, dtype="int64")
            else:
                data[name] = pd.Series(self.cols[name], index=index, dtype=object)
        # copy=False keeps one block per column: no 2-D consolidation
        return pd.DataFrame(data, index=index, copy=False)


def _column(rows: list[list[str]], j: int, *, guarded: bool) -> list[str | None]:
    """Cell j of every row, stripped; None for an empty or missing cell (``guarded``: some rows are short).

    ``{"": None}.get(v, v)`` is ``v or None`` for a str, mapped in C rather than by a per-cell Python loop.
    """
    cells = [c[j] if j < len(c) else "" for c in rows] if guarded else map(itemgetter(j), rows)
    stripped = list(map(str.strip, cells, repeat(_STRIP)))
    return list(map(_EMPTY_TO_NONE.get, stripped, stripped))


_EMPTY_TO_NONE: dict[str, None] = {"": None}


def _width_errors(cells: list[str], width: int, span: int) -> list[str]:
    """A row longer than the others is a shifted record (an unquoted delimiter), even when its extra cell
    is empty; a row padded with empty cells up to the usual count is fine; a row short of the named columns
    is not."""
    n = len(cells)
    if n > span:
        return [f"row: {n} cells but the header has {span}"]
    if n < width:
        return [f"row: {n} cells but the header has {width}"]
    used = n
    while used > width and not cells[used - 1].strip(_STRIP):
        used -= 1
    return [f"row: {used} cells but the header has {width}"] if used > width else []


def _key(keys: list[str], j: int | None) -> str:
    if j is None:
        return "row"
    return keys[j] if j < len(keys) else f"column {j + 1}"


# ---- text decoding ---------------------------------------------------------------------------------


def _decode(data: bytes, encoding: str) -> tuple[str, str]:
    """Decode text strictly: a wrong guess must fail loudly, never become mojibake in the output."""
    enc = (encoding or "auto").strip().lower()
    if enc == "auto":
        text, used = _detect(data)
        if text is None:
            raise SourceReadError(f"binary data, not text: {_binary_hint(data)}")
    else:
        try:
            name = codecs.lookup(enc).name
        except LookupError:
            raise SourceReadError(f"unknown encoding {encoding!r}") from None
        if name == "utf-8":  # a BOM is not part of the text, whatever was declared
            name = "utf-8-sig"
        try:
            text, used = data.decode(name), enc
        except UnicodeDecodeError as exc:
            _, other = _detect(data)
            hint = f'; it decodes as {other}: set encoding = "{other}" or "auto"' if other else ""
            bad = data[exc.start : exc.start + 1].hex()
            raise SourceReadError(
                f"cannot decode as declared encoding {encoding}: byte 0x{bad} at offset {exc.start}{hint}"
            ) from None
        if not name.startswith(("utf-8", "utf-16", "utf-32", "ascii")) and _is_utf8_text(data):
            raise SourceReadError(
                f"declared encoding {encoding} but the file is UTF-8 text; it would read as mojibake: "
                'set encoding = "utf-8" or "auto"'
            )
    if "\x00" in text:
        raise SourceReadError(f"binary data, not text: NUL bytes ({_binary_hint(data)})")
    sample = text[:_SNIFF_CHARS]
    if len(_CONTROL_CHARS.findall(sample)) > max(8, len(sample) // 100):
        raise SourceReadError(f"binary data, not text: control characters ({_binary_hint(data)})")
    return text, used


def _detect(data: bytes) -> tuple[str | None, str | None]:
    candidates = ["utf-8-sig", "gb18030"]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.insert(0, "utf-16")
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
            enc = "utf-8"
        return text, enc
    return None, None


def _is_utf8_text(data: bytes) -> bool:
    """Valid UTF-8 with a fair number of multi-byte characters: real GBK text is practically never that."""
    if sum(b >= 0x80 for b in data[:_SNIFF_CHARS]) < 8:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _binary_hint(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        return 'a zip archive, probably an xlsx workbook: set format = "xlsx"'
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return 'an OLE file, probably an xls workbook: set format = "xls"'
    return f"{len(data)} bytes that decode as neither UTF-8 nor GB18030"


# ---- CSV ---------------------------------------------------------------------------------------------


def _csv_table(text: str, overrides: Mapping[str, str]) -> _Table:
    """Parse with the C csv module; row_no is the physical line where each record starts.

    When no record spans lines (the usual case) record k starts on line k + 1 and the numbers come for
    free; only a file with multi-line cells is parsed a second time with per-record line tracking.
    """
    delimiter = _sniff_delimiter(text, overrides)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        rows = list(reader)
        if reader.line_num == len(rows):
            return _Table(sheet="", rows=rows, row_nos=list(range(1, len(rows) + 1)))
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        row_nos: list[int] = []
        last = 0
        for _ in reader:
            row_nos.append(last + 1)
            last = reader.line_num
    except csv.Error as exc:
        raise SourceReadError(f"csv: line {reader.line_num}: {exc}") from exc
    return _Table(sheet="", rows=rows, row_nos=row_nos)


def _sniff_delimiter(text: str, overrides: Mapping[str, str]) -> str:
    """The delimiter under which the sample has a recognisable header, else the most consistent one.

    A header that maps to known columns is hard to produce by splitting on the wrong character, while a
    plain consistency count can be fooled by cells full of ';' or '|'. Consistency (the most records with
    the same number, >1, of fields) breaks ties and decides when no delimiter shows a header; title rows
    have one field and legal-basis cells hold commas of their own, so raw character counts would not do.
    """
    sample = text[:_SNIFF_CHARS]
    if len(text) > len(sample):
        sample = sample[: sample.rfind("\n") + 1] or sample
    best, best_key = ",", (False, 0, 0)
    for delim in _DELIMITERS:
        if delim not in sample:
            continue
        try:
            records = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delim) if r][:200]
        except csv.Error:
            continue
        counts: dict[int, int] = {}
        for record in records:
            if len(record) > 1:
                counts[len(record)] = counts.get(len(record), 0) + 1
        header = find_header_row(records, overrides, HEADER_SCAN_ROWS)
        mapped = 0 if header is None else map_headers(records[header], overrides).n_mapped
        key = (header is not None, mapped, max(counts.values(), default=0))
        if key > best_key:
            best, best_key = delim, key
    return best


# ---- JSON ----------------------------------------------------------------------------------------------


def _json_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


# A \uD800-\uDFFF escape: JSON allows it, Python decodes a lone one into a str that UTF-8 (Arrow, hashing)
# cannot encode; a valid pair decodes to one proper character and never matches below.
_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_MESSAGE = "invalid character (a lone UTF-16 surrogate escape in the JSON) replaced by U+FFFD"


def _mark_surrogates(table: _Table) -> None:
    """Replace lone surrogates in headers and cells by U+FFFD and quarantine the rows that held them.

    Left in, one such character made the whole run fail when the item id was hashed or Parquet written.
    """
    header = table.rows[0]
    bad_columns = {j for j, key in enumerate(header) if _SURROGATE.search(key)}
    for j in bad_columns:
        header[j] = _SURROGATE.sub("\ufffd", header[j])
    for i in range(1, len(table.rows)):
        row = table.rows[i]
        for j, cell in enumerate(row):
            if j in bad_columns and cell:
                table.problems.setdefault(i, []).append((j, "header: " + _SURROGATE_MESSAGE))
            if _SURROGATE.search(cell):
                row[j] = _SURROGATE.sub("\ufffd", cell)
                table.problems.setdefault(i, []).append((j, _SURROGATE_MESSAGE))
        extra = table.raw_extra.get(i)
        for key, value in (extra or {}).items():
            if _SURROGATE.search(value):
                extra[key] = _SURROGATE.sub("\ufffd", value)
                table.problems.setdefault(i, []).append((None, _SURROGATE_MESSAGE))


def _records_table(records: Iterable[tuple[int, object, str | None]]) -> _Table:
    """(row_no, element, parse error) -> table whose first row is the union of keys in first-seen order.

    Records of a list nearly always share one set of keys in one order: the keys of each distinct order
    (``tuple(element)``) are looked up once, and a record is placed by that order's column positions.
    """
    keys: dict[str, int] = {}
    parsed: list[tuple[int, object, str | None]] = list(records)
    shapes: dict[tuple, list[int] | None] = {}
    for _, element, _ in parsed:
        if isinstance(element, dict):
            shape = tuple(element)
            if shape not in shapes:
                shapes[shape] = None
                for key in shape:
                    keys.setdefault(str(key), len(keys))
    header = list(keys)
    if not header and not any(error is not None or element is not None for _, element, error in parsed):
        raise SourceReadError("no data rows: the JSON holds no objects")
    width = len(header)
    for shape in shapes:
        positions = [keys[str(key)] for key in shape]
        # None: the record's values are the row as they come (every key, in header order)
        shapes[shape] = None if positions == list(range(width)) else positions
    table = _Table(sheet="", rows=[header], row_nos=[0])
    rows = table.rows
    for i, (_, element, error) in enumerate(parsed, start=1):
        if isinstance(element, dict):
            positions = shapes[tuple(element)]
            if positions is None:
                cells = [value if value.__class__ is str else _json_cell(value) for value in element.values()]
            else:
                cells = [""] * width
                for j, value in zip(positions, element.values(), strict=True):
                    cells[j] = value if value.__class__ is str else _json_cell(value)
            rows.append(cells)
        else:
            rows.append([""] * width)
            if error is not None:
                table.raw_extra[i] = {"(line)": str(element)}
                table.problems[i] = [(None, f"invalid JSON ({error})")]
            else:
                table.raw_extra[i] = {"(value)": _json_cell(element)}
                table.problems[i] = [(None, f"element is {_json_kind(element)}, not an object")]
    table.row_nos.extend(row_no for row_no, _, _ in parsed)
    return table


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _json_table(text: str) -> _Table:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceReadError(f"invalid JSON: {exc}") from exc
    elements = _find_records(doc)
    table = _records_table((i, element, None) for i, element in enumerate(elements, start=1))
    if _SURROGATE_ESCAPE.search(text):
        _mark_surrogates(table)
    return table


def _find_records(doc: object) -> list:
    """The array of row objects: the document itself, or the one array of objects inside a wrapper
    object such as ``{"code": 200, "data": {"records": […]}}`` (searched a few levels deep)."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise SourceReadError(f"JSON: expected an array of objects, found {_json_kind(doc)}")
    level: list[tuple[str, object]] = [("", doc)]
    for _ in range(4):
        found: list[tuple[str, list]] = []
        for path, value in level:
            if isinstance(value, list) and any(isinstance(v, dict) for v in value):
                found.append((path, value))
        if len(found) == 1:
            return found[0][1]
        if len(found) > 1:
            names = ", ".join(path for path, _ in found)
            raise SourceReadError(f"JSON: several arrays of objects ({names}); cannot tell which holds the rows")
        level = [
            (f"{path}.{key}" if path else str(key), value)
            for path, obj in level
            if isinstance(obj, dict)
            for key, value in obj.items()
        ]
        if not level:
            break
    raise SourceReadError("JSON: no array of objects found")


def _jsonl_table(text: str) -> _Table:
    def records() -> Iterable[tuple[int, object, str | None]]:
        for line_no, line in enumerate(text.split("\n"), start=1):
            line = line.strip(_STRIP)
            if not line:
                continue
            try:
                yield line_no, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield line_no, line, str(exc)
            except RecursionError:
                yield line_no, line, "nested too deeply"

    table = _records_table(records())
    if not table.rows[0] and table.problems:
        first = next(iter(table.problems.values()))[0][1]
        raise SourceReadError(f"JSONL: no line holds a JSON object; line {table.row_nos[1]}: {first}")
    if _SURROGATE_ESCAPE.search(text):
        _mark_surrogates(table)
    return table


# ---- spreadsheets -----------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    """Excel cell value -> the text a reader sees: 12 not 12.0, dates without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _read_workbook(data: bytes, fmt: str, sheet: str | int | None) -> list[_Table]:
    """Read by what the bytes are, not the name: portals serve xlsx files called .xls and the reverse."""
    if data.startswith(b"PK\x03\x04"):
        tables = _xlsx_tables(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        tables = _xls_tables(data)
    elif data.lstrip()[:1] == b"<":
        raise SourceReadError(f"not a workbook: the .{fmt} file is HTML/XML text, not an Excel file")
    else:
        raise SourceReadError(f"not a workbook: the .{fmt} file is neither a zip (xlsx) nor an OLE (xls) file")
    if sheet is None:
        return tables
    names = [t.sheet for t in tables]
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if not 0 <= sheet < len(tables):
            raise SourceReadError(f"sheet index {sheet} out of range: the workbook has {len(tables)} sheets")
        return [tables[sheet]]
    wanted = str(sheet).strip()
    for table in tables:
        if table.sheet == wanted or table.sheet.strip() == wanted:
            return [table]
    raise SourceReadError(f"no sheet named {wanted!r}; sheets: {', '.join(names)}")


def _check_zip(data: bytes) -> None:
    """Refuse a zip bomb before openpyxl inflates it: the sizes in the zip directory bound what it reads.

    The directory's sizes can be trusted as a bound: ``zipfile`` stops inflating a member at its declared
    size and then fails the CRC check, so a member that lies about its size cannot expand past it. The
    merged ranges the sheets declare are checked too (see :data:`MAX_MERGED_CELLS`).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SourceReadError(f"not an xlsx workbook: broken zip archive ({exc})") from exc
    with archive:
        members = archive.infolist()
        total = sum(member.file_size for member in members)
        if total > MAX_UNZIPPED_BYTES:
            raise SourceReadError(
                f"refused: the workbook unpacks to {total:,} bytes (limit {MAX_UNZIPPED_BYTES:,}); possible zip bomb"
            )
        if total > _RATIO_FLOOR_BYTES and total > MAX_ZIP_RATIO * len(data):
            raise SourceReadError(
                f"refused: the workbook unpacks to {total / len(data):.0f} times its size (limit {MAX_ZIP_RATIO}); "
                "possible zip bomb"
            )
        merged = 0
        for member in members:
            if member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml"):
                merged += _merged_cells(archive, member)
                if merged > MAX_MERGED_CELLS:
                    raise SourceReadError(
                        f"refused: the workbook declares more than {MAX_MERGED_CELLS:,} merged cells "
                        f"({member.filename}); unmerge them or save the list as CSV"
                    )


_MERGE_REF = re.compile(
    rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=[\"']([A-Za-z]{1,3})(\d{1,7}):([A-Za-z]{1,3})(\d{1,7})[\"']"
)
_CHUNK = 1024 * 1024


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + char - 64
    return number


def _merged_cells(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """Cells covered by the ``<mergeCell ref="A1:C9"/>`` ranges of one sheet, streamed in 1 MB chunks."""
    total = 0
    tail = b""
    with archive.open(member) as handle:
        while chunk := handle.read(_CHUNK):
            text = tail + chunk
            last = 0
            for match in _MERGE_REF.finditer(text):
                c1, r1, c2, r2 = match.groups()
                rows = abs(int(r2) - int(r1)) + 1
                cols = abs(_column_number(c2) - _column_number(c1)) + 1
                total += rows * cols
                last = match.end()
            tail = text[max(last, len(text) - 256) :]  # a tag cut at the chunk's end is matched next time
    return total


def _xlsx_tables(data: bytes) -> list[_Table]:
    _check_zip(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unsupported extensions (data validation, slicers) are irrelevant
        loaded = _load_xlsx_fast(data)
        if loaded is None:
            from openpyxl import load_workbook

            try:
                wb = load_workbook(io.BytesIO(data), read_only=False, data_only=False)
            except Exception as exc:
                raise SourceReadError(f"not a readable xlsx workbook ({type(exc).__name__}: {exc})") from exc
            sheet_cells: dict[int, dict] = {}
        else:
            wb, sheet_cells = loaded
    tables = []
    budget = MAX_WORKBOOK_CELLS
    for ws in wb.worksheets:
        table = _xlsx_sheet(ws, budget, sheet_cells.get(id(ws)))
        budget -= sum(map(len, table.rows))
        tables.append(table)
    wb.close()
    return tables


_XML_WS = "[ \t\r\n]"
_XML_ATTRS = rf"(?:{_XML_WS}+[^\s=>/]+{_XML_WS}*={_XML_WS}*(?:\"[^\"]*\"|'[^']*'))*"
# what a cell may hold on the direct path: a value, or an inline string of one <t>
_XML_CELL_BODY = (
    rf"(?:/>|>{_XML_WS}*(?:<v>([^<]*)</v>|<v{_XML_WS}*/>"
    rf"|<is>{_XML_WS}*<t{_XML_ATTRS}{_XML_WS}*>([^<]*)</t>{_XML_WS}*</is>"
    rf"|<is>{_XML_WS}*<t{_XML_ATTRS}{_XML_WS}*(/)>{_XML_WS}*</is>)?{_XML_WS}*</c>)"
)


_XML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


class _SheetXml:
    """A worksheet's XML split for the fast reader: the text inside ``<sheetData>``, read with the regexes
    below, and the rest of the sheet, read by openpyxl.

    Only a plain, well-formed UTF-8 sheet is split: expat (the parser under openpyxl's) has accepted the
    whole document with namespaces, there is no DTD, comment, CDATA or processing instruction in it, the
    root is ``<worksheet>`` in the spreadsheetml namespace declaring every namespace the rows use, and
    ``<sheetData>`` appears once, unprefixed, holding nothing but rows of cells. Anything else is read by
    openpyxl alone. Texts are unescaped as an XML parser does (line ends, the five entities, character
    references).
    """

    ROOT = re.compile(rf"\A\ufeff?(?:<\?xml{_XML_ATTRS}{_XML_WS}*\?>)?{_XML_WS}*<worksheet({_XML_ATTRS}){_XML_WS}*>")
    ATTRIBUTE = re.compile(rf"([^\s=>/]+){_XML_WS}*={_XML_WS}*(\"[^\"]*\"|'[^']*')")
    ROW = re.compile(rf"<row({_XML_ATTRS}){_XML_WS}*(/?)>")
    SIMPLE_ROW = re.compile(r'<row r="([0-9]+)"(?: spans="[0-9:]*")?>')
    ANY_ROW = re.compile(r"<(?:[^\s<>/:]+:)?row[ \t\r\n/>]")
    # the attributes in the order Excel, WPS and openpyxl write them, values free of escapes
    CELL = re.compile(
        r'<c(?: r="([A-Z]{1,3})([0-9]+)")?(?: s="([0-9]*)")?(?: t="([A-Za-z]*)")?' + _XML_WS + "*" + _XML_CELL_BODY
    )
    ANY_CELL = re.compile(rf"<c({_XML_ATTRS}){_XML_WS}*" + _XML_CELL_BODY)
    OTHER_CELL = re.compile(rf"<c{_XML_ATTRS}{_XML_WS}*(?:/>|>.*?</c>)", re.DOTALL)
    BLANK = re.compile(rf"{_XML_WS}+")
    ESCAPE = re.compile(r"&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(lt|gt|amp|quot|apos));")
    MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    XML_NS = "http://www.w3.org/XML/1998/namespace"

    @classmethod
    def split(cls, xml: bytes) -> tuple[str, int, int, dict[str, str], bytes] | None:
        """(the sheet's text, start and end of what <sheetData> holds, namespace prefixes, the sheet without
        what <sheetData> holds), or None."""
        if b"<!" in xml or xml.count(b"<?") > 1 or b"<sheetData" not in xml:
            return None  # DTD, comment, CDATA, processing instruction; or no rows to gain on
        try:
            text = xml.decode("utf-8")
            expat = xml_expat.ParserCreate(namespace_separator="}")
            expat.Parse(xml, True)
        except (UnicodeDecodeError, xml_expat.ExpatError):
            return None
        root = cls.ROOT.match(text)
        if root is None:
            return None
        declaration = text[: root.start(1)]
        if "encoding" in declaration and not re.search(r"encoding=[\"']utf-?8[\"']", declaration, re.IGNORECASE):
            return None
        ns = {}
        for name, quoted in cls.ATTRIBUTE.findall(root[1]):
            if name == "xmlns" or name.startswith("xmlns:"):
                ns[name] = cls.value(quoted[1:-1])
        if ns.get("xmlns") != cls.MAIN_NS:
            return None
        start = text.find("<sheetData>")
        stop = text.find("</sheetData>")
        if start < 0 or stop < start or text.count("<sheetData") != 1 or text.count("</sheetData") != 1:
            return None
        if "xmlns" in text[root.end() : stop] or cls.ANY_ROW.search(text, 0, start) or cls.ANY_ROW.search(text, stop):
            return None  # a namespace declared below the root, or rows elsewhere
        prefixes = {name[len("xmlns:") :]: uri for name, uri in ns.items() if name != "xmlns"}
        prefixes["xml"] = cls.XML_NS
        start += len("<sheetData>")
        return text, start, stop, prefixes, (text[:start] + text[stop:]).encode("utf-8")

    @classmethod
    def element(cls, source: str, prefixes: dict[str, str]) -> Any:
        """One element of the sheet, parsed alone with the namespaces of the sheet's root."""
        declared = "".join(
            f' xmlns{":" + prefix if prefix else ""}="{html.escape(uri)}"'
            for prefix, uri in {"": cls.MAIN_NS, **prefixes}.items()
            if prefix != "xml"
        )
        return xml_etree.fromstring(f"<root{declared}>{source}</root>")[0]

    @classmethod
    def attributes(cls, source: str, prefixes: dict[str, str]) -> dict[str, str] | None:
        """An element's attributes as ElementTree gives them ({namespace}name keys), or None."""
        attrs = {}
        for name, quoted in cls.ATTRIBUTE.findall(source):
            prefix, colon, local = name.partition(":")
            if colon:
                if prefix == "xmlns" or prefix not in prefixes:
                    return None
                name = f"{{{prefixes[prefix]}}}{local}"
            elif name == "xmlns":
                return None
            attrs[name] = cls.value(quoted[1:-1])
        return attrs

    @classmethod
    def value(cls, raw: str) -> str:
        """An attribute value: line ends and other whitespace become spaces before unescaping."""
        if "\r" in raw or "\n" in raw or "\t" in raw:
            raw = raw.replace("\r\n", " ").translate({13: " ", 10: " ", 9: " "})
        return cls.text(raw) if "&" in raw else raw

    @classmethod
    def text(cls, raw: str) -> str:
        """Element text: line ends normalised to \\n, entities and character references resolved."""
        if "\r" in raw:
            raw = raw.replace("\r\n", "\n").replace("\r", "\n")
        if "&" in raw:
            raw = cls.ESCAPE.sub(cls._unescape, raw)
        return raw

    @classmethod
    def _unescape(cls, match: re.Match) -> str:
        hexadecimal, decimal, name = match.groups()
        if name:
            return _XML_ENTITIES[name]
        return chr(int(hexadecimal, 16) if hexadecimal else int(decimal))


# The openpyxl release whose ExcelReader.read_worksheets / read_string_table / WorkSheetParser.parse_cell the
# fast reader below mirrors; with any other version it is not used and openpyxl reads the workbook itself.
_OPENPYXL_MIRRORED = "3.1.5"
_CELL_REF = re.compile(r"([A-Z]{1,3})([0-9]+)")


def _load_xlsx_fast(data: bytes) -> tuple[Any, dict[int, dict]] | None:
    """The workbook loaded by openpyxl with its per-cell work replaced, or None: then openpyxl must load it.

    openpyxl spent ~30 µs per cell (ElementTree elements, a ``Text`` object per inline string, a ``Cell``
    object and a dict per cell): a 2,000-row list took a third of a second, xlsx a third of the read time
    of a 1M-row run for a tenth of its files. Everything but the cells is still done by openpyxl's own code
    (manifest, workbook, styles, merged ranges, hyperlinks, comments, tables, sheet state), so a workbook it
    refuses is refused the same way. The cells are read from the ``<sheetData>`` text by regexes
    (``_SheetXml``, about 1 µs per cell) with the conversions of openpyxl's ``parse_row``/``parse_cell``;
    a cell of another shape (a formula, rich text) is parsed alone and read by ``parse_cell``, and a sheet
    that is not plain XML is read by ElementTree as openpyxl does, with a shortcut for the common cells.
    Values go into a dict instead of ``Cell`` objects. Any exception (a broken part, an unknown shape)
    returns None and the caller loads the workbook with openpyxl alone, which gives the result or the
    error it always gave; tests/test_read.py checks that both paths give the same tables.
    """
    reader_class = _fast_xlsx_reader()
    if reader_class is None:
        return None
    try:
        reader = reader_class(io.BytesIO(data))
        reader.read()
    except Exception:
        return None
    return reader.wb, reader.sheet_cells


@functools.cache
def _fast_xlsx_reader() -> type | None:
    """openpyxl's ExcelReader with fast shared strings and cells (see ``_load_xlsx_fast``); built once, when
    the first workbook is read (openpyxl is imported only then)."""
    import openpyxl

    if openpyxl.__version__ != _OPENPYXL_MIRRORED:
        return None
    from openpyxl.cell import Cell
    from openpyxl.cell.text import Text
    from openpyxl.comments.comment_sheet import CommentSheet
    from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
    from openpyxl.packaging.relationship import RelationshipList, get_dependents, get_rels_path
    from openpyxl.pivot.table import TableDefinition
    from openpyxl.reader.drawings import find_images
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.utils.cell import column_index_from_string, coordinate_to_tuple
    from openpyxl.utils.datetime import from_excel, from_ISO8601
    from openpyxl.worksheet._reader import WorkSheetParser, WorksheetReader, _cast_number
    from openpyxl.worksheet.table import Table
    from openpyxl.xml.constants import COMMENTS_NS, SHARED_STRINGS, SHEET_MAIN_NS
    from openpyxl.xml.functions import fromstring, iterparse

    value_tag = f"{{{SHEET_MAIN_NS}}}v"
    inline_tag = f"{{{SHEET_MAIN_NS}}}is"
    text_tag = f"{{{SHEET_MAIN_NS}}}t"
    string_tag = f"{{{SHEET_MAIN_NS}}}si"
    cell_ref = _CELL_REF.fullmatch

    def plain_text(node: Any) -> str | None:
        """``Text.from_tree(node).content`` of ``<si|is><t>…</t></si|is>``; None for any other shape."""
        if len(node) == 1 and not node.attrib:
            t = node[0]
            if t.tag == text_tag and not len(t):
                return t.text or ""
        return None

    def read_string_table(source: Any) -> list[str]:
        """openpyxl.reader.strings.read_string_table with a shortcut for plain strings."""
        strings = []
        for _, node in iterparse(source):
            if node.tag == string_tag:
                text = plain_text(node)
                if text is None:
                    text = Text.from_tree(node).content
                text = text.replace("x005F_", "")
                node.clear()
                strings.append(text)
        return strings

    class SheetParser(WorkSheetParser):
        def parse_cell(self, element: Any) -> tuple:  # type: ignore[override]
            """``WorkSheetParser.parse_cell`` for the common cells, as (row, column, value, type, style)."""
            attrib = element.attrib
            data_type = attrib.get("t", "n")
            style_id = attrib.get("s", 0)
            if style_id:
                style_id = int(style_id)
            value = None
            n = len(element)
            if n == 1:
                child = element[0]
                if child.tag == value_tag:
                    if data_type != "inlineStr":
                        value = child.text or None
                elif child.tag == inline_tag and data_type == "inlineStr":
                    value = plain_text(child)
                    if value is None:
                        return self._openpyxl_cell(element)
                    data_type = "s"
                    return self._place(attrib, value, data_type, style_id)
                else:
                    return self._openpyxl_cell(element)
            elif n:
                return self._openpyxl_cell(element)
            if value is not None:
                if data_type == "n":
                    value = _cast_number(value)
                    if style_id in self.date_formats:
                        return self._openpyxl_cell(element)
                elif data_type == "s":
                    value = self.shared_strings[int(value)]
                elif data_type == "b":
                    value = bool(int(value))
                elif data_type == "str":
                    data_type = "s"
                elif data_type == "d":
                    return self._openpyxl_cell(element)
            return self._place(attrib, value, data_type, style_id)

        def _place(self, attrib: Any, value: Any, data_type: str, style_id: Any) -> tuple:
            """The cell's (row, column), from its reference or counted on from the previous cell."""
            coordinate = attrib.get("r")
            if coordinate:
                match = cell_ref(coordinate)  # what coordinate_to_tuple splits, A1 to ZZZ9…, any other goes there
                if match:
                    row, column = int(match[2]), column_index_from_string(match[1])
                else:
                    row, column = coordinate_to_tuple(coordinate)
                self.col_counter = column
            else:
                self.col_counter += 1
                row, column = self.row_counter, self.col_counter
            return row, column, value, data_type, style_id

        def _openpyxl_cell(self, element: Any) -> tuple:
            cell = super().parse_cell(element)
            return cell["row"], cell["column"], cell["value"], cell["data_type"], cell["style_id"]

    class SheetReader(WorksheetReader):
        def __init__(self, ws: Any, xml: bytes, shared_strings: list, data_only: bool, rich_text: bool):
            parent = ws.parent
            direct = _SheetXml.split(xml)
            self.direct_cells: dict | None = None
            options = (shared_strings, data_only, parent.epoch, parent._date_formats, parent._timedelta_formats)
            if direct is not None:  # the cells are read here, the rest of the sheet by openpyxl
                text, start, stop, ns, rest = direct
                parser = SheetParser(io.BytesIO(rest), *options, rich_text)
                self.direct_cells = read_sheet_data(text, start, stop, ns, parser, parent._cell_styles)
            if self.direct_cells is None:
                parser = SheetParser(io.BytesIO(xml), *options, rich_text)
            self.ws = ws
            self.parser = parser
            self.tables = []
            self.cells: dict | None = None

        def bind_cells(self) -> None:
            """Cell values into a dict {(row, col): (value, type, style id)}, not ``Cell`` objects.

            A hyperlink gives an empty cell the link's text as value: with hyperlinks openpyxl binds them
            on real cells, as it always does.
            """
            styles = self.ws.parent._cell_styles
            if self.direct_cells is None:
                cells = {}
                used = {}
                for _, row in self.parser.parse():
                    for r, c, value, data_type, style_id in row:
                        cells[r, c] = (value, data_type, style_id)
                        if style_id not in used:
                            used[style_id] = styles[style_id]  # an unknown style fails, as in openpyxl
            else:
                cells = self.direct_cells
                for _ in self.parser.parse():  # the sheet without its rows: merged cells, hyperlinks, …
                    pass
            if not self.parser.hyperlinks.hyperlink:
                self.cells = cells
                return
            for (r, c), (value, data_type, style_id) in cells.items():
                cell = Cell(self.ws, row=r, column=c, style_array=styles[style_id])
                cell._value = value
                cell.data_type = data_type
                self.ws._cells[(r, c)] = cell
            if self.ws._cells:
                self.ws._current_row = self.ws.max_row

    def read_sheet_data(content: str, pos: int, end: int, ns: dict[str, str], parser: Any, styles: list) -> dict | None:
        """The cells of ``<sheetData>`` (``content[pos:end]``) as openpyxl's ``parse_row``/``parse_cell`` read
        them, in a dict
        {(row, col): (value, type, style id)}, or None for any shape but rows of cells (``_SheetXml``).

        Cells holding a ``<v>`` or a plain inline string are read here; any other cell (a formula, rich text)
        is parsed alone and read by ``SheetParser.parse_cell``.
        """
        cells: dict[tuple[int, int], tuple] = {}
        used: dict[Any, Any] = {}
        shared = parser.shared_strings
        date_formats = parser.date_formats
        simple_row_match = _SheetXml.SIMPLE_ROW.match
        row_match = _SheetXml.ROW.match
        cell_match = _SheetXml.CELL.match
        any_cell_match = _SheetXml.ANY_CELL.match
        other_cell_match = _SheetXml.OTHER_CELL.match
        blank_match = _SheetXml.BLANK.match
        text = _SheetXml.text
        row_counter = 0
        while pos < end:
            if (m := simple_row_match(content, pos, end)) is not None:  # <row r="7"> or <row r="7" spans="1:5">
                pos = m.end()
                row_counter = int(m[1])
            elif (m := row_match(content, pos, end)) is not None:
                pos = m.end()
                attrs = _SheetXml.attributes(m[1], ns)
                if attrs is None:
                    return None
                # WorkSheetParser.parse_row
                if "r" in attrs:
                    try:
                        row_counter = int(attrs["r"])
                    except ValueError:
                        val = float(attrs["r"])
                        if val.is_integer():
                            row_counter = int(val)
                        else:
                            raise ValueError(f"{attrs['r']} is not a valid row number") from None
                else:
                    row_counter += 1
                keys = {k for k in attrs if not k.startswith("{")}
                if keys - {"r", "spans"}:
                    parser.row_dimensions[str(row_counter)] = attrs
                if m[2]:
                    continue  # <row …/>
            elif (m := blank_match(content, pos, end)) is not None:
                pos = m.end()
                continue
            else:
                return None
            col_counter = 0
            while True:
                m = cell_match(content, pos, end)
                if m is not None:
                    letters, digits, style_id, data_type, v, inline, inline_empty = m.groups()
                    if letters is not None:
                        row, column = int(digits), column_index_from_string(letters)
                        col_counter = column
                    else:
                        col_counter += 1
                        row, column = row_counter, col_counter
                else:
                    m = any_cell_match(content, pos, end)
                    if m is None:
                        if content.startswith("</row>", pos, end):
                            pos += 6
                            break
                        if (m := blank_match(content, pos, end)) is not None:
                            pos = m.end()
                            continue
                        if (m := other_cell_match(content, pos, end)) is None:
                            return None
                        pos = m.end()
                        parser.row_counter, parser.col_counter = row_counter, col_counter
                        row, column, value, data_type, style_id = parser.parse_cell(_SheetXml.element(m[0], ns))
                        col_counter = parser.col_counter
                        cells[row, column] = (value, data_type, style_id)
                        if style_id not in used:
                            used[style_id] = styles[style_id]
                        continue
                    found = _SheetXml.attributes(m[1], ns)
                    if found is None:
                        return None
                    coordinate, style_id, data_type = found.get("r"), found.get("s"), found.get("t")
                    v, inline, inline_empty = m.groups()[1:]
                    if coordinate:
                        ref = cell_ref(coordinate)
                        if ref:
                            row, column = int(ref[2]), column_index_from_string(ref[1])
                        else:
                            row, column = coordinate_to_tuple(coordinate)
                        col_counter = column
                    else:
                        col_counter += 1
                        row, column = row_counter, col_counter
                pos = m.end()
                # WorkSheetParser.parse_cell
                if data_type is None:
                    data_type = "n"
                if style_id is None:
                    style_id = 0
                elif style_id:
                    style_id = int(style_id)
                value = None
                if inline is not None or inline_empty is not None:
                    if data_type == "inlineStr":
                        value = text(inline) if inline else ""
                        data_type = "s"
                elif v and data_type != "inlineStr":
                    value = text(v)
                    if data_type == "n":
                        value = _cast_number(value)
                        if style_id in date_formats:
                            data_type = "d"
                            try:
                                value = from_excel(value, parser.epoch, timedelta=style_id in parser.timedelta_formats)
                            except (OverflowError, ValueError):
                                data_type = "e"
                                value = "#VALUE!"
                    elif data_type == "s":
                        value = shared[int(value)]
                    elif data_type == "b":
                        value = bool(int(value))
                    elif data_type == "str":
                        data_type = "s"
                    elif data_type == "d":
                        value = from_ISO8601(value)
                cells[row, column] = (value, data_type, style_id)
                if style_id not in used:
                    used[style_id] = styles[style_id]  # an unknown style fails, as in openpyxl
        return cells

    class FastExcelReader(ExcelReader):
        sheet_cells: dict[int, dict]

        def read_strings(self) -> None:
            ct = self.package.find(SHARED_STRINGS)
            if ct is not None:
                with self.archive.open(ct.PartName[1:]) as src:
                    self.shared_strings = read_string_table(src)

        def read_worksheets(self) -> None:
            """``ExcelReader.read_worksheets`` (openpyxl 3.1.5, not read-only) with ``SheetReader``."""
            self.sheet_cells = {}
            for sheet, rel in self.parser.find_sheets():
                if rel.target not in self.valid_files:
                    continue
                if "chartsheet" in rel.Type:
                    self.read_chartsheet(sheet, rel)
                    continue
                rels_path = get_rels_path(rel.target)
                rels = RelationshipList()
                if rels_path in self.valid_files:
                    rels = get_dependents(self.archive, rels_path)
                xml = self.archive.read(rel.target)
                ws = self.wb.create_sheet(sheet.name)
                ws._rels = rels
                ws_parser = SheetReader(ws, xml, self.shared_strings, self.data_only, self.rich_text)
                ws_parser.bind_all()
                if ws_parser.cells is not None:
                    self.sheet_cells[id(ws)] = ws_parser.cells
                for r in rels.find(COMMENTS_NS):
                    src = self.archive.read(r.target)
                    comment_sheet = CommentSheet.from_tree(fromstring(src))
                    for ref, comment in comment_sheet.comments:
                        with contextlib.suppress(AttributeError):  # a merged cell: openpyxl warns and goes on
                            ws[ref].comment = comment
                if self.wb.vba_archive and ws.legacy_drawing:
                    ws.legacy_drawing = rels.get(ws.legacy_drawing).target
                else:
                    ws.legacy_drawing = None
                for t in ws_parser.tables:
                    src = self.archive.read(t)
                    ws.add_table(Table.from_tree(fromstring(src)))
                for drawing in rels.find(SpreadsheetDrawing._rel_type):
                    charts, images = find_images(self.archive, drawing.target)
                    for chart in charts:
                        ws.add_chart(chart, chart.anchor)
                    for im in images:
                        ws.add_image(im, im.anchor)
                pivot_caches = self.parser.pivot_caches
                for r in rels.find(TableDefinition.rel_type):
                    src = self.archive.read(r.Target)
                    pivot = TableDefinition.from_tree(fromstring(src))
                    pivot.cache = pivot_caches[pivot.cacheId]
                    ws.add_pivot(pivot)
                ws.sheet_state = sheet.state

    return FastExcelReader


def _xlsx_sheet(ws: Any, budget: int, fast_cells: dict | None = None) -> _Table:
    """One worksheet as sparse rows: only rows holding a value, each up to its last used (or merged) cell.

    Reads openpyxl's own cell map (or the fast reader's dict of the same cells, ``fast_cells``) instead of
    ``iter_rows``, which would create a cell object for every empty coordinate of the used range: one stray
    value at XFD1048576 made a 5 KB file take minutes and gigabytes. Blank rows are left out (the reader
    skips them anyway) and row numbers are kept.
    """
    from openpyxl.cell import MergedCell
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    if fast_cells is None:
        cells: Iterable[tuple[tuple[int, int], Any, str]] = (
            (key, cell.value, cell.data_type) for key, cell in ws._cells.items()
        )
    else:
        # openpyxl keeps only the top-left cell of a merged range: the others became MergedCell objects
        merged = {key for key, cell in ws._cells.items() if isinstance(cell, MergedCell)}
        cells = ((key, value, data_type) for key, (value, data_type, _) in fast_cells.items() if key not in merged)
    values: dict[int, dict[int, str]] = {}
    problems: dict[int, list[tuple[int | None, str]]] = {}
    for (r, c), value, data_type in cells:
        if value is None:
            continue
        if value.__class__ is str and data_type == "s":
            text = value
        else:
            if isinstance(value, ArrayFormula | DataTableFormula):
                value = getattr(value, "text", None) or "=" + type(value).__name__
            if data_type == "f":
                shown = str(value)
                if len(shown) > 60:
                    shown = shown[:57] + "…"
                problems.setdefault(r, []).append((c - 1, f"formula cell {shown} is not accepted"))
            elif data_type == "e":
                problems.setdefault(r, []).append((c - 1, f"error cell {value}"))
            text = _cell_text(value)
        if text or r in problems:
            row_values = values.get(r)
            if row_values is None:
                row_values = values[r] = {}
            row_values[c] = text
    order = sorted(values)
    length = {r: max(cells) for r, cells in values.items()}
    merges = []
    for rng in ws.merged_cells.ranges:
        first = bisect.bisect_left(order, rng.min_row)
        last = bisect.bisect_right(order, rng.max_row) - 1
        if first > last or order[first] != rng.min_row:
            continue  # no row of the range holds a value, or its top-left is empty: nothing to fill
        for i in range(first, last + 1):
            length[order[i]] = max(length[order[i]], rng.max_col)
        merges.append((first, rng.min_col - 1, last, rng.max_col - 1))
    cells = sum(length.values())
    if cells > budget:
        raise SourceReadError(
            f"refused: sheet {ws.title!r} spans {cells:,} cells (rows × their last used column; workbook limit "
            f"{MAX_WORKBOOK_CELLS:,}); a stray value far to the right or below the list? delete it"
        )
    table = _Table(sheet=ws.title, rows=[], row_nos=order, hidden=ws.sheet_state != "visible", sparse=True)
    for r in order:
        row = [""] * length[r]
        for c, text in values[r].items():
            row[c - 1] = text
        table.rows.append(row)
    index = {r: i for i, r in enumerate(order)}
    table.problems = {index[r]: sorted(found, key=lambda p: p[0] or 0) for r, found in problems.items()}
    table.merges = merges
    return table


def _xls_tables(data: bytes) -> list[_Table]:
    """BIFF workbooks via xlrd. xlrd gives formula results only, so formula cells cannot be flagged here."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, logfile=io.StringIO())
    except Exception as exc:
        raise SourceReadError(f"not a readable xls workbook ({type(exc).__name__}: {exc})") from exc
    tables = []
    for ws in book.sheets():
        table = _Table(sheet=ws.name, rows=[], row_nos=[], hidden=ws.visibility != 0)
        for i in range(ws.nrows):
            cells = []
            for j, cell in enumerate(ws.row(i)):
                value = cell.value
                if cell.ctype == xlrd.XL_CELL_DATE:
                    with contextlib.suppress(xlrd.xldate.XLDateError, ValueError, OverflowError):
                        value = xlrd.xldate.xldate_as_datetime(value, book.datemode)
                elif cell.ctype == xlrd.XL_CELL_ERROR:
                    value = xlrd.error_text_from_code.get(value, f"#ERR{value}")
                    table.problems.setdefault(i, []).append((j, f"error cell {value}"))
                elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                    value = bool(value)
                cells.append(_cell_text(value))
            table.rows.append(cells)
            table.row_nos.append(i + 1)
        table.merges = [(r1, c1, r2 - 1, c2 - 1) for r1, r2, c1, c2 in ws.merged_cells]
        tables.append(table)
    return tables
