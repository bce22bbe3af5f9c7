"""What every format reduces a file to (``Table``), and the header, column and frame rules they share."""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not, itemgetter

import pandas as pd

from transforms.ingest.columns import (
    FRAME_COLUMN,
    ROW_FRAME_COLUMNS,
    HeaderMap,
    find_header_row,
)
from transforms.ingest.read.limits import HEADER_SCAN_ROWS

# Everything str.strip() removes, plus the zero-width characters that copy-paste from web pages leaves.
_STRIP = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u200b\u200c\u200d\u2060\ufeff"

_CONTROL = frozenset(chr(c) for c in range(32)) - frozenset("\t\n\r\f\v")

# The same characters as a regex class, to count them in C: a per-character generator over the 64k sample
# took 4 s of a 1M-row run (str.translate with a deletion table looks every CJK character up in a dict).
_CONTROL_CHARS = re.compile("[" + "".join(sorted(_CONTROL)) + "]")


# Legal-basis cells run to tens of thousands of characters; the cap is enforced per row, not by csv.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class SourceReadError(Exception):
    """The whole source cannot be read; the message says why in words an analyst can act on."""


@dataclass
class Table:
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
    # row index -> {column index: what the JSON value was} for values that were not a string or null (JSON)
    typed: dict[int, dict[int, str]] = field(default_factory=dict)
    # things worth telling that are no row's fault (a JSON object repeating a key): info["read_warnings"]
    warnings: list[str] = field(default_factory=list)


def _where(table: Table, fmt: str) -> str:
    return f"sheet {table.sheet!r}" if fmt in ("xlsx", "xls") else f"the {fmt} file"


def _pad_rows(rows: list[list[str]], header_idx: int) -> None:
    """Give the rows below the header at least the header's cells, as a dense sheet would have them."""
    span = len(rows[header_idx])
    for row in rows[header_idx + 1 :]:
        if len(row) < span:
            row.extend([""] * (span - len(row)))


def _header_width(headers: list[str]) -> int:
    """Trailing empty header cells are padding (Excel's used range, trailing commas), not columns."""
    width = len(headers)
    while width and not headers[width - 1]:
        width -= 1
    return width


def _header_index(table: Table, header_row: int | None, overrides: Mapping[str, str], *, must: bool) -> int | None:
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

    def add(self, table: Table, header_idx: int, keys: list[str], hmap: HeaderMap) -> None:
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
        for j, col in enumerate(cols):
            for k in _control_cells(col):
                code = ord(_CONTROL_CHARS.search(col[k]).group())
                errors.setdefault(k, []).append(
                    f"{_key(keys, j)}: control character U+{code:04X} in the cell (binary data or a terminal "
                    "paste inside the list); correct the cell"
                )
                keep[k] = True
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


def _control_cells(col: list[str | None]) -> list[int]:
    """Rows whose cell holds a control character (NUL, ESC …): such text is not what the list published,
    so the row is quarantined rather than cleaned silently. One regex search over the joined column
    answers "none" for nearly every column."""
    if _CONTROL_CHARS.search("".join(filter(None, col))) is None:
        return []
    return [k for k, v in enumerate(col) if v is not None and _CONTROL_CHARS.search(v)]


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
