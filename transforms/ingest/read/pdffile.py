"""PDF with a text layer: one list printed across pages, read back into one table.

A printed list repeats its header on every page, breaks long cells into lines and sometimes a row
across a page break. The tables pdfplumber finds on each page are joined into one ``Table``
(``table 1``): the header rows a page repeats are dropped, lines inside a cell are joined (without a
space: a break in a name or a code is only the column's width), and a page's
first row whose 序号 and name cells are empty is the rest of the row before it. A scanned PDF has no text to
read; it is refused with what to do instead (no OCR here: a misread character is a wrong item).
Kangxi radicals and compatibility ideographs that PDF fonts produce (⽹ for 网) are folded by NFKC in
``name_norm`` like every other compatibility form.
"""

from __future__ import annotations

import io
import logging
import re

from transforms.ingest.read.limits import MAX_WORKBOOK_CELLS
from transforms.ingest.read.table import SourceReadError, Table

#: Pages one PDF may have: a provincial list is a few hundred; more is not a list.
MAX_PDF_PAGES = 5_000
_HEAD_ROWS = 6
# A line break between two letters of a Latin word was a space; any other was only the column's width.
_WORD_BREAK = re.compile(r"(?<=[A-Za-z])\s*\n\s*(?=[A-Za-z])")
_BREAK = re.compile(r"\s*\n\s*")


def _cell(text: str | None) -> str:
    """A cell's text with the line breaks of its wrapping removed: inside a name (配方食\n品) or a code
    (…-000-\n1151…) a break is no character at all."""
    if not text:
        return ""
    text = _BREAK.sub("", _WORD_BREAK.sub(" ", text.strip()))
    return " ".join(text.split())


def pdf_tables(data: bytes) -> list[Table]:
    """The list's rows over every page (see the module docstring)."""
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfplumber.utils.exceptions import PdfminerException

    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # font-metric warnings per glyph, not errors

    rows: list[list[str]] = []
    any_text = False
    cells = 0
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            if len(pdf.pages) > MAX_PDF_PAGES:
                raise SourceReadError(f"refused: {len(pdf.pages):,} pages (limit {MAX_PDF_PAGES:,})")
            for page in pdf.pages:
                any_text = any_text or bool(page.chars)
                for found in page.extract_tables():
                    page_rows = _drop_empty_columns([[_cell(c) for c in row] for row in found if any(c for c in row)])
                    cells += sum(len(r) for r in page_rows)
                    if cells > MAX_WORKBOOK_CELLS:
                        raise SourceReadError(f"refused: more than {MAX_WORKBOOK_CELLS:,} table cells")
                    if rows:
                        head = {_key(r) for r in rows[:_HEAD_ROWS]}  # title, header (and page chrome)
                        while page_rows and _key(page_rows[0]) in head:
                            page_rows.pop(0)  # what the page repeats of the first one's top
                        if page_rows and _continues(page_rows[0], rows[-1]):
                            rows[-1] = [f"{a}{b}" for a, b in zip(rows[-1], page_rows.pop(0), strict=False)]
                    rows.extend(page_rows)
    except SourceReadError:
        raise
    except (PdfminerException, PDFSyntaxError, ValueError, KeyError) as exc:
        raise SourceReadError(f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if not any_text:
        raise SourceReadError("no text layer: a scanned PDF; OCR it or get the Word/Excel original from the publisher")
    if not rows:
        raise SourceReadError("pdf: no table found on any page; a list printed as paragraphs cannot be read")
    return [Table("table 1", rows, list(range(1, len(rows) + 1)))]


def _key(row: list[str]) -> tuple[str, ...]:
    """A row's text cells: pages split one table's columns differently where a cell is empty."""
    return tuple(c for c in row if c)


def _drop_empty_columns(rows: list[list[str]]) -> list[list[str]]:
    """Without the columns no row of this page's table uses: ruling lines the page alone draws."""
    width = max((len(r) for r in rows), default=0)
    used = [j for j in range(width) if any(j < len(r) and r[j] for r in rows)]
    return [[r[j] if j < len(r) else "" for j in used] for r in rows]


def _continues(row: list[str], previous: list[str]) -> bool:
    """A row cut by the page break: its first two cells (序号, name) are empty, the others carry on.

    Only then: a sub-item row often has no 序号 of its own, and joining it to the row before would
    lose an item; a cut row left alone is quarantined for its empty name, so nothing is lost either way.
    """
    return len(row) == len(previous) and len(row) >= 3 and not row[0] and not row[1] and any(row[2:])
