"""The fast path for xlsx cells: openpyxl's reader with its per-cell work replaced (``load_xlsx_fast``)."""

from __future__ import annotations

import contextlib
import functools
import html
import io
import re
import xml.etree.ElementTree as xml_etree
import xml.parsers.expat as xml_expat
from typing import Any

_XML_WS = "[ \t\r\n]"

_XML_ATTRS = rf"(?:{_XML_WS}+[^\s=>/]+{_XML_WS}*={_XML_WS}*(?:\"[^\"]*\"|'[^']*'))*"

# what a cell may hold on the direct path: a value, or an inline string of one <t>
_XML_CELL_BODY = (
    rf"(?:/>|>{_XML_WS}*(?:<v>([^<]*)</v>|<v{_XML_WS}*/>"
    rf"|<is>{_XML_WS}*<t{_XML_ATTRS}{_XML_WS}*>([^<]*)</t>{_XML_WS}*</is>"
    rf"|<is>{_XML_WS}*<t{_XML_ATTRS}{_XML_WS}*(/)>{_XML_WS}*</is>)?{_XML_WS}*</c>)"
)

_XML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


class SheetXml:
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


def load_xlsx_fast(data: bytes) -> tuple[Any, dict[int, dict]] | None:
    """The workbook loaded by openpyxl with its per-cell work replaced, or None: then openpyxl must load it.

    openpyxl spent ~30 µs per cell (ElementTree elements, a ``Text`` object per inline string, a ``Cell``
    object and a dict per cell): a 2,000-row list took a third of a second, xlsx a third of the read time
    of a 1M-row run for a tenth of its files. Everything but the cells is still done by openpyxl's own code
    (manifest, workbook, styles, merged ranges, hyperlinks, comments, tables, sheet state), so a workbook it
    refuses is refused the same way. The cells are read from the ``<sheetData>`` text by regexes
    (``SheetXml``, about 1 µs per cell) with the conversions of openpyxl's ``parse_row``/``parse_cell``;
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
    """openpyxl's ExcelReader with fast shared strings and cells (see ``load_xlsx_fast``); built once, when
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
            direct = SheetXml.split(xml)
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
        {(row, col): (value, type, style id)}, or None for any shape but rows of cells (``SheetXml``).

        Cells holding a ``<v>`` or a plain inline string are read here; any other cell (a formula, rich text)
        is parsed alone and read by ``SheetParser.parse_cell``.
        """
        cells: dict[tuple[int, int], tuple] = {}
        used: dict[Any, Any] = {}
        shared = parser.shared_strings
        date_formats = parser.date_formats
        simple_row_match = SheetXml.SIMPLE_ROW.match
        row_match = SheetXml.ROW.match
        cell_match = SheetXml.CELL.match
        any_cell_match = SheetXml.ANY_CELL.match
        other_cell_match = SheetXml.OTHER_CELL.match
        blank_match = SheetXml.BLANK.match
        text = SheetXml.text
        row_counter = 0
        while pos < end:
            if (m := simple_row_match(content, pos, end)) is not None:  # <row r="7"> or <row r="7" spans="1:5">
                pos = m.end()
                row_counter = int(m[1])
            elif (m := row_match(content, pos, end)) is not None:
                pos = m.end()
                attrs = SheetXml.attributes(m[1], ns)
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
                        row, column, value, data_type, style_id = parser.parse_cell(SheetXml.element(m[0], ns))
                        col_counter = parser.col_counter
                        cells[row, column] = (value, data_type, style_id)
                        if style_id not in used:
                            used[style_id] = styles[style_id]
                        continue
                    found = SheetXml.attributes(m[1], ns)
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
