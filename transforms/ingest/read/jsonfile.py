"""JSON and JSON Lines: the records of a portal dump into a table."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable

from transforms.ingest.read.table import _STRIP, SourceReadError, Table


def json_cell(value: object) -> str:
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


def _mark_surrogates(table: Table) -> None:
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


_TEXT_TYPES = frozenset({str, type(None)})

#: Repeated keys reported one by one up to this many; the rest are counted.
_MAX_DUPLICATE_WARNINGS = 20


class _Duplicates:
    """An ``object_pairs_hook`` that builds the dict as ``json.loads`` does (the last value of a repeated key
    wins) and remembers the objects that repeated a key, so the loss is told instead of silent."""

    def __init__(self) -> None:
        self.found: dict[int, tuple[dict, list[str]]] = {}

    def __call__(self, pairs: list[tuple[str, object]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            repeated = [key for key, n in Counter(key for key, _ in pairs).items() if n > 1]
            self.found[id(obj)] = (obj, repeated)  # the object is kept so that its id stays its own
        return obj

    def warnings(self, records: Iterable[tuple[int, object]]) -> list[str]:
        """One warning per record (by row number) that repeated a key, then one for nested objects."""
        if not self.found:
            return []
        out: list[str] = []
        for row_no, element in records:
            hit = self.found.pop(id(element), None)
            for key in hit[1] if hit else ():
                out.append(f"row {row_no}: key {key!r} appears more than once in the object; the last value was kept")
        if len(out) > _MAX_DUPLICATE_WARNINGS:
            out[_MAX_DUPLICATE_WARNINGS:] = [f"… and {len(out) - _MAX_DUPLICATE_WARNINGS} more rows repeating a key"]
        if self.found:
            keys = sorted({key for _, repeated in self.found.values() for key in repeated})
            out.append(
                f"{len(self.found)} nested object(s) repeat a key ({', '.join(map(repr, keys[:5]))}); "
                "the last value was kept"
            )
        return out


def value_kind(value: object) -> str:
    """What a JSON value that is not text is, in words (for a cell that must be text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{'NaN' if math.isnan(value) else 'Infinity'} (not even valid JSON)"
    if isinstance(value, bool | int | float):
        return f"{json_kind(value)} ({json_cell(value)})"
    return json_kind(value)


def records_table(records: Iterable[tuple[int, object, str | None]]) -> Table:
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
    table = Table(sheet="", rows=[header], row_nos=[0])
    rows = table.rows
    typed = table.typed
    for i, (_, element, error) in enumerate(parsed, start=1):
        if isinstance(element, dict):
            positions = shapes[tuple(element)]
            if not _TEXT_TYPES.issuperset(map(type, element.values())):
                columns = positions if positions is not None else range(width)
                typed[i] = {
                    j: value_kind(value)
                    for j, value in zip(columns, element.values(), strict=True)
                    if value is not None and value.__class__ is not str
                }
            if positions is None:
                cells = [value if value.__class__ is str else json_cell(value) for value in element.values()]
            else:
                cells = [""] * width
                for j, value in zip(positions, element.values(), strict=True):
                    cells[j] = value if value.__class__ is str else json_cell(value)
            rows.append(cells)
        else:
            rows.append([""] * width)
            if error is not None:
                table.raw_extra[i] = {"(line)": str(element)}
                table.problems[i] = [(None, f"invalid JSON ({error})")]
            else:
                table.raw_extra[i] = {"(value)": json_cell(element)}
                table.problems[i] = [(None, f"element is {json_kind(element)}, not an object")]
    table.row_nos.extend(row_no for row_no, _, _ in parsed)
    return table


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def select_path(doc: object, path: str) -> object:
    """The value at a dotted ``path`` (``data.list``; a number indexes an array), or ``LookupError`` naming
    the first step that is missing."""
    value = doc
    for step in path.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            raise LookupError(f"no {step!r} in {json_kind(value) if not isinstance(value, dict) else 'the object'}")
    return value


def page_records(doc: object, data_selector: str | None) -> list:
    """The records of one JSON document: at ``data_selector``, or the one array of objects found in it."""
    if data_selector is None:
        return _find_records(doc)
    try:
        records = select_path(doc, data_selector)
    except LookupError as exc:
        raise SourceReadError(f"data_selector {data_selector!r}: {exc}") from None
    if not isinstance(records, list):
        raise SourceReadError(f"data_selector {data_selector!r}: {json_kind(records)}, not an array of records")
    return records


def _json_table(text: str, data_selector: str | None = None, paged: bool = False) -> Table:
    """``paged``: the document is the array of pages a paginated download stored (``transforms.ingest.pages``),
    each page's records taken in page order, so a row's number is its place in the whole walk."""
    duplicates = _Duplicates()
    try:
        doc = json.loads(text, object_pairs_hook=duplicates)
    except json.JSONDecodeError as exc:
        raise SourceReadError(f"invalid JSON: {exc}") from exc
    if paged:
        if not isinstance(doc, list):
            raise SourceReadError("a paginated download must be the array of its pages")
        elements = [record for page in doc for record in page_records(page, data_selector)]
    else:
        elements = page_records(doc, data_selector)
    table = records_table((i, element, None) for i, element in enumerate(elements, start=1))
    table.warnings.extend(duplicates.warnings(enumerate(elements, start=1)))
    if _SURROGATE_ESCAPE.search(text):
        _mark_surrogates(table)
    return table


def _find_records(doc: object) -> list:
    """The array of row objects: the document itself, or the one array of objects inside a wrapper
    object such as ``{"code": 200, "data": {"records": […]}}`` (searched a few levels deep)."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise SourceReadError(f"JSON: expected an array of objects, found {json_kind(doc)}")
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


def _jsonl_table(text: str) -> Table:
    duplicates = _Duplicates()
    elements: list[tuple[int, object]] = []

    def records() -> Iterable[tuple[int, object, str | None]]:
        for line_no, line in enumerate(text.split("\n"), start=1):
            line = line.strip(_STRIP)
            if not line:
                continue
            try:
                element = json.loads(line, object_pairs_hook=duplicates)
            except json.JSONDecodeError as exc:
                yield line_no, line, str(exc)
            except RecursionError:
                yield line_no, line, "nested too deeply"
            else:
                if duplicates.found:
                    elements.append((line_no, element))
                yield line_no, element, None

    table = records_table(records())
    table.warnings.extend(duplicates.warnings(elements))
    if not table.rows[0] and table.problems:
        first = next(iter(table.problems.values()))[0][1]
        raise SourceReadError(f"JSONL: no line holds a JSON object; line {table.row_nos[1]}: {first}")
    if _SURROGATE_ESCAPE.search(text):
        _mark_surrogates(table)
    return table
