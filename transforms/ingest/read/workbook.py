"""xlsx and xls workbooks into tables, one per sheet. The reference path for xlsx is openpyxl's own
``load_workbook``; ``xlsx_fast`` is the fast path, used when it can read the workbook (same tables:
``tests/test_read.py`` reads every case both ways)."""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import io
import re
import warnings
import zipfile
from collections.abc import Iterable
from typing import Any

from transforms.ingest.read import limits
from transforms.ingest.read.bundle import check_unpacked_size, open_zip
from transforms.ingest.read.table import SourceReadError, Table
from transforms.ingest.read.xlsx_fast import load_xlsx_fast


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


def _read_workbook(data: bytes, fmt: str, sheet: str | int | None) -> list[Table]:
    """Read by what the bytes are, not the name: portals serve xlsx files called .xls and the reverse."""
    if data.startswith(b"PK\x03\x04"):
        tables = xlsx_tables(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        tables = _xls_tables(data)
    elif data.lstrip()[:1] == b"<":
        raise SourceReadError(f"not a workbook: the .{fmt} file is HTML/XML text, not an Excel file")
    else:
        raise SourceReadError(f"not a workbook: the .{fmt} file is neither a zip (xlsx) nor an OLE (xls) file")
    return pick_sheet(tables, sheet, "sheet")


def pick_sheet(tables: list[Table], sheet: str | int | None, what: str) -> list[Table]:
    """The tables ``sheet`` names (by name or 0-based index), or all of them when it is None."""
    if sheet is None:
        return tables
    names = [t.sheet for t in tables]
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if not 0 <= sheet < len(tables):
            raise SourceReadError(f"{what} index {sheet} out of range: the file has {len(tables)} {what}s")
        return [tables[sheet]]
    wanted = str(sheet).strip()
    for table in tables:
        if table.sheet == wanted or table.sheet.strip() == wanted:
            return [table]
    raise SourceReadError(f"no {what} named {wanted!r}; {what}s: {', '.join(names)}")


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


def xlsx_tables(data: bytes, *, fast: bool = True) -> list[Table]:
    """One table per sheet. ``fast`` tries the fast path (``xlsx_fast.load_xlsx_fast``) first; without it,
    or when the fast path cannot read the workbook, openpyxl's ``load_workbook`` is the reference path.
    Both give the same tables (``tests/test_read.py`` reads every case both ways)."""
    _check_zip(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unsupported extensions (data validation, slicers) are irrelevant
        loaded = load_xlsx_fast(data) if fast else None
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
    budget = limits.MAX_WORKBOOK_CELLS
    for ws in wb.worksheets:
        table = _xlsx_sheet(ws, budget, sheet_cells.get(id(ws)))
        budget -= sum(map(len, table.rows))
        tables.append(table)
    wb.close()
    return tables


def _xlsx_sheet(ws: Any, budget: int, fast_cells: dict | None = None) -> Table:
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
            f"{limits.MAX_WORKBOOK_CELLS:,}); a stray value far to the right or below the list? delete it"
        )
    table = Table(sheet=ws.title, rows=[], row_nos=order, hidden=ws.sheet_state != "visible", sparse=True)
    for r in order:
        row = [""] * length[r]
        for c, text in values[r].items():
            row[c - 1] = text
        table.rows.append(row)
    index = {r: i for i, r in enumerate(order)}
    table.problems = {index[r]: sorted(found, key=lambda p: p[0] or 0) for r, found in problems.items()}
    table.merges = merges
    return table


def _xls_tables(data: bytes) -> list[Table]:
    """BIFF workbooks via xlrd. xlrd gives formula results only, so formula cells cannot be flagged here."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, logfile=io.StringIO())
    except Exception as exc:
        raise SourceReadError(f"not a readable xls workbook ({type(exc).__name__}: {exc})") from exc
    tables = []
    for ws in book.sheets():
        table = Table(sheet=ws.name, rows=[], row_nos=[], hidden=ws.visibility != 0)
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


def _check_zip(data: bytes) -> None:
    """Refuse a zip bomb before openpyxl inflates it: the sizes in the zip directory bound what it reads.

    (``bundle.check_unpacked_size``). The merged ranges the sheets declare are checked too (see
    :data:`limits.MAX_MERGED_CELLS`).
    """
    with open_zip(data, "an xlsx workbook") as archive:
        members = archive.infolist()
        check_unpacked_size(sum(member.file_size for member in members), len(data), "workbook")
        merged = 0
        for member in members:
            if member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml"):
                merged += _merged_cells(archive, member)
                if merged > limits.MAX_MERGED_CELLS:
                    raise SourceReadError(
                        f"refused: the workbook declares more than {limits.MAX_MERGED_CELLS:,} merged cells "
                        f"({member.filename}); unmerge them or save the list as CSV"
                    )
