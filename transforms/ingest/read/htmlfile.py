"""HTML pages: the tables of a portal page, with its declared charset and its merged cells.

Many 权责清单 are published as a table on the portal page itself. The page also carries navigation,
layout and footer tables; which table is the list is decided by the same header rule as a workbook's
sheets (a row naming an item-name column), so each innermost ``<table>`` becomes one ``Table`` called
``table N``. ``rowspan``/``colspan`` become merges, filled by the rules spreadsheets follow
(``table._fill_merges``): a department cell spanning its items fills down, a section heading across the
row does not become every cell.
"""

from __future__ import annotations

import codecs
import re

from transforms.ingest.read.limits import MAX_WORKBOOK_CELLS
from transforms.ingest.read.table import SourceReadError, Table
from transforms.ingest.read.text import _decode

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Pages declare the GB2312/GBK subsets of what they really are: GB18030 decodes all three the same.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn"}
#: Rows and columns one span may cover (a hostile rowspan="100000000" would otherwise allocate it).
MAX_SPAN = 1000


def html_text(data: bytes, encoding: str) -> tuple[str, str]:
    """The page as text and the encoding used: the declared ``encoding``, else the page's own
    ``<meta charset>`` (GBK pages are common), else UTF-8 / GB18030 detection."""
    declared = (encoding or "auto").strip().lower()
    if declared == "auto" and (found := _META_CHARSET.search(data[:8192])):
        name = found.group(1).decode("ascii").lower()
        name = "gb18030" if name in _GB_FAMILY else name
        try:
            codecs.lookup(name)
        except LookupError:
            name = "auto"
        if name != "auto":
            try:
                return data.decode(name), name
            except UnicodeDecodeError:
                pass  # a page that lies about its charset: detect instead
    return _decode(data, declared)


def html_tables(data: bytes, encoding: str) -> tuple[list[Table], str]:
    """Every innermost table of the page (``table 1`` …, in document order) and the encoding used."""
    import lxml.html

    text, used = html_text(data, encoding)
    try:
        document = lxml.html.document_fromstring(text)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise SourceReadError(f"html: not a readable page ({exc})") from exc
    tables = [_table(node, k) for k, node in enumerate(document.xpath("//table[not(.//table)]"), start=1)]
    if not tables:
        raise SourceReadError("html: the page has no <table>; is the list on another page or in an attachment?")
    return tables, used


def _cell_text(cell: object) -> str:
    """The cell's text, ``<br>`` and block breaks as line breaks, runs of spaces as one."""
    for br in cell.iter("br"):  # type: ignore[attr-defined]
        br.tail = "\n" + (br.tail or "")
    lines = (" ".join(line.split()) for line in cell.text_content().splitlines())  # type: ignore[attr-defined]
    return "\n".join(line for line in lines if line)


def _span(cell: object, name: str) -> int:
    try:
        value = int(str(cell.get(name, "1")).strip() or 1)  # type: ignore[attr-defined]
    except ValueError:
        return 1
    return max(1, min(value, MAX_SPAN))


def _table(node: object, index: int) -> Table:
    """One ``<table>`` as a grid: spans recorded as merges, the covered cells left empty."""
    rows: list[list[str]] = []
    merges: list[tuple[int, int, int, int]] = []
    taken: dict[tuple[int, int], bool] = {}  # cells covered by a span from above
    cells_seen = 0
    for r, tr in enumerate(node.xpath("./tr|./thead/tr|./tbody/tr|./tfoot/tr")):  # type: ignore[attr-defined]
        row: list[str] = []
        c = 0
        for cell in tr.xpath("./td|./th"):
            while taken.pop((r, c), False):
                row.append("")
                c += 1
            rowspan, colspan = _span(cell, "rowspan"), _span(cell, "colspan")
            cells_seen += rowspan * colspan
            if cells_seen > MAX_WORKBOOK_CELLS:
                raise SourceReadError(f"refused: table {index} spans more than {MAX_WORKBOOK_CELLS:,} cells")
            row.append(_cell_text(cell))
            row.extend([""] * (colspan - 1))
            if rowspan > 1 or colspan > 1:
                merges.append((r, c, r + rowspan - 1, c + colspan - 1))
                for rr in range(r + 1, r + rowspan):
                    for cc in range(c, c + colspan):
                        taken[(rr, cc)] = True
            c += colspan
        while taken.pop((r, c), False):
            row.append("")
            c += 1
        rows.append(row)
    return Table(f"table {index}", rows, list(range(1, len(rows) + 1)), merges=merges)
