"""Word documents (.docx): the tables of a notice's attachment, merged cells as a spreadsheet has them.

The national licensing list and many provincial ones are Word attachments: title paragraphs, then one
table, often broken into several where the document was edited page by page, each repeating the
header. Paragraphs are not read (a title is no row); each body table becomes a ``Table`` (``table N``,
rows numbered as in the document) and finds its own header; a table with as many columns as the one
before it and no header of its own carries that list on and is appended to it. Word's merged cells
(``gridSpan`` across, ``vMerge`` down) become merges filled by the rules spreadsheets follow
(``table._fill_merges``).
"""

from __future__ import annotations

import io
import zipfile

from transforms.ingest.read.bundle import check_unpacked_size, open_zip
from transforms.ingest.read.limits import MAX_WORKBOOK_CELLS
from transforms.ingest.read.table import SourceReadError, Table

#: Rows at the top of a continuing table that may repeat the first table's title and header.
_REPEATED_HEAD = 5


def docx_tables(data: bytes) -> list[Table]:
    """The document's tables, continuations joined (see the module docstring)."""
    import docx

    with open_zip(data, "a .docx document") as archive:
        check_unpacked_size(sum(m.file_size for m in archive.infolist()), len(data), "document")
    try:
        document = docx.Document(io.BytesIO(data))
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise SourceReadError(f"not a .docx document ({type(exc).__name__}: {exc})") from exc
    tables: list[Table] = []
    cells = 0
    for index, table in enumerate(document.tables, start=1):
        rows, merges, width = _grid(table, index)
        cells += sum(len(r) for r in rows)
        if cells > MAX_WORKBOOK_CELLS:
            raise SourceReadError(f"refused: the document's tables hold more than {MAX_WORKBOOK_CELLS:,} cells")
        if tables and rows and width == len(tables[-1].rows[0]) and not _repeats_head(tables[-1], rows):
            _continue(tables[-1], rows, merges)
            continue
        tables.append(Table(f"table {index}", rows, list(range(1, len(rows) + 1)), merges=merges))
    if not tables:
        raise SourceReadError("docx: the document has no table; a list written as paragraphs cannot be read")
    return tables


def _grid(table: object, index: int) -> tuple[list[list[str]], list[tuple[int, int, int, int]], int]:
    """Cell text by grid position, text only at a merged range's top-left; the ranges; the width."""
    rows: list[list[str]] = []
    origin: dict[int, tuple[int, int, int, int]] = {}  # id of a cell's XML element -> its range
    alive: list[object] = []  # lxml proxies live while referenced: their ids stay unique meanwhile
    for r, row in enumerate(table.rows):  # type: ignore[attr-defined]
        texts: list[str] = []
        for c, cell in enumerate(row.cells):
            if cell.tables:
                raise SourceReadError(
                    f"table {index} row {r + 1}: a table nested in a cell; save the list as one flat table"
                )
            alive.append(cell._tc)
            key = id(cell._tc)
            if key in origin:
                r0, c0, _, _ = origin[key]
                origin[key] = (r0, c0, r, c)
                texts.append("")
                continue
            origin[key] = (r, c, r, c)
            lines = (" ".join(line.split()) for line in cell.text.splitlines())
            texts.append("\n".join(line for line in lines if line))
        rows.append(texts)
    merges = [span for span in origin.values() if span[:2] != span[2:]]
    width = max((len(r) for r in rows), default=0)
    return rows, merges, width


def _repeats_head(first: Table, rows: list[list[str]]) -> bool:
    """Whether a table starts with a row of the table before it: its own title or header, so it is read
    as a table of its own (its row numbers then are those a reader counts in the document)."""
    head = {tuple(r) for r in first.rows[:_REPEATED_HEAD]}
    return any(tuple(r) in head for r in rows[:_REPEATED_HEAD])


def _continue(first: Table, rows: list[list[str]], merges: list[tuple[int, int, int, int]]) -> None:
    """Append a table that carries on the one before without a header of its own (Word split it)."""
    offset = len(first.rows)
    start = first.row_nos[-1] if first.row_nos else 0
    first.rows.extend(rows)
    first.row_nos.extend(range(start + 1, start + 1 + len(rows)))
    first.merges.extend((r0 + offset, c0, r1 + offset, c1) for r0, c0, r1, c1 in merges)
