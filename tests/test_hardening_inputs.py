"""Hardening: hostile inputs through read → normalise → validate, without Prefect.

tests/test_read.py already feeds each reader random bytes and random CSV text one file at a time; here
whole *batches* of hostile sources go through every stage up to the Parquet tables, and the properties
checked are the run's promises:

* nothing but :class:`SourceReadError` (a per-source error with a message) escapes reading, and nothing at
  all escapes normalising, validating and building the Arrow tables;
* ``items + quarantine = rows read`` for every source, each quarantined row has ``column: message``
  reasons, and each (source, sheet, row) appears once;
* where the test knows the intended rows (it wrote the file), the rows read equal the non-blank rows
  written — nothing dropped, nothing invented.

The workbook cases (no sheets, merged headers, hidden sheets, formulas, dates as numbers, a stray cell at
XFD1048576, a merge over the whole sheet, a zip member lying about its size) are built inside the tests
so what each one contains is visible here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import re
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from transforms.clean.items import add_jurisdiction_columns, item_ids, to_items_table, to_quarantine_table
from transforms.clean.normalise import normalise
from transforms.clean.validate import validate
from transforms.ingest.jurisdictions import RegistryError, load_registry
from transforms.ingest.manifest import ManifestError, load_manifest
from transforms.ingest.read import MAX_MERGED_CELLS, MAX_WORKBOOK_CELLS, SourceReadError, read_rows
from transforms.ingest.read.jsonfile import json_cell  # the reader's cell text; the oracle counts rows
from transforms.publish.write import UnsafeOutput, check_output_folder, write_tables

REPO = Path(__file__).resolve().parent.parent
REGISTRY = load_registry()
# What the reader treats as blank: str.strip() plus the zero-width characters web copy-paste leaves.
BLANK = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
HEADER = ["事项名称", "权力类型"]  # two mapped columns: the first row is the header, whatever follows
OTHER_HEADERS = ["实施主体", "设定依据", "事项编码", "备注", "序号", "子项", "x", "<b>列</b>"]
REAL = [
    "食品经营许可",
    "行政许可",
    "行政处罚",
    "对违法排污的处罚",
    "市场监管局",
    "《食品安全法》第三十五条",
    "510100-A-001",
]
HOSTILE = [
    "<script>alert(1)</script>",
    "餐饮 &amp; 食品经营许可",
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "\u202e许可",
    "合计",
    "无",
    "",
    "  ",
    "\u3000",
    "\u200b",
    "食品\n经营,许可",
    '"引号"',
]
# More examples for a bug hunt: POWERLISTS_FUZZ_EXAMPLES=2000 pytest tests/test_hardening_inputs.py
FUZZ_EXAMPLES = int(os.environ.get("POWERLISTS_FUZZ_EXAMPLES", "60"))
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
CELL = st.one_of(st.sampled_from(REAL + HOSTILE), TEXT)


def blank(cells: list[str]) -> bool:
    return not "".join(cells).strip(BLANK)


class Source:
    """One generated source: its bytes, how to read it, and (when the test can know it) the rows meant.

    A plain class with a short repr: Hypothesis prints dataclasses field by field, bytes included.
    """

    def __init__(
        self,
        sid: str,
        data: bytes,
        fmt: str,
        options: dict[str, Any] | None = None,
        expected_rows: int | None = None,
        written_encoding: str | None = None,
        note: str = "",
    ) -> None:
        self.sid, self.data, self.fmt, self.options = sid, data, fmt, options or {}
        self.expected_rows, self.written_encoding, self.note = expected_rows, written_encoding, note

    def __repr__(self) -> str:
        size = f"{len(self.data):,} bytes"
        return f"Source({self.sid}, {self.fmt}, {size}, {self.options}, rows={self.expected_rows}, {self.note[:3000]})"


@dataclass
class BatchResult:
    errors: dict[str, str]
    rows_read: dict[str, int]
    items: pd.DataFrame
    quarantine: pd.DataFrame


def run_batch(sources: list[Source]) -> BatchResult:
    """read → normalise → validate → Arrow tables, checking the run's invariants on the way."""
    frames, errors, rows_read = [], {}, {}
    for source in sources:
        try:
            frame, info = read_rows(source.data, source_id=source.sid, fmt=source.fmt, **source.options)
        except SourceReadError as exc:
            message = str(exc)
            assert len(message) >= 8 and "Traceback" not in message, message
            errors[source.sid] = message
            continue
        assert len(frame) > 0, "a source that reads has rows (else it is a SourceReadError)"
        assert _decoded_as_written(source, info), f"mojibake: written as {source.written_encoding}, read as {info}"
        if source.expected_rows is not None:
            assert len(frame) == source.expected_rows, (source.sid, source.fmt, info)
        rows_read[source.sid] = len(frame)
        frame["jurisdiction_code"] = "510100"
        frame["published"] = None
        frames.append(normalise(frame))
    if not frames:
        return BatchResult(errors, rows_read, pd.DataFrame(), pd.DataFrame())
    batch = add_jurisdiction_columns(pd.concat(frames, ignore_index=True), REGISTRY)
    outcome = validate(batch)
    items, quarantine = outcome.items.reset_index(drop=True), outcome.quarantine
    for sid, n in rows_read.items():
        got = int((items["source_id"] == sid).sum()) + int((quarantine["source_id"] == sid).sum())
        assert got == n, f"{sid}: items + quarantine = {got}, rows read = {n}"
    keys = list(zip(batch["source_id"], batch["sheet"], batch["row_no"], strict=True))
    assert len(set(keys)) == len(keys), "a row was read twice"
    for reasons in quarantine["reasons"]:
        assert reasons and all(re.match(r"^[^:]+: .", r, re.S) for r in reasons), reasons
    if len(items):
        items["item_id"] = item_ids(items)
        items["power_id"] = None
        to_items_table(items)  # hostile text must survive the way into Arrow/Parquet
    if len(quarantine):
        to_quarantine_table(quarantine)
    return BatchResult(errors, rows_read, items, quarantine)


def _decoded_as_written(source: Source, info: dict) -> bool:
    """The text was decoded as it was written: a source that reads is never mojibake (Big5 read as GB18030)."""
    written = source.written_encoding
    if written is None:
        return True
    used = info.get("encoding")
    if used is None:
        return False
    codec = "utf-8-sig" if used in ("utf-8", "utf-8-sig") else used
    try:
        return source.data.decode(codec) == source.data.decode(written)
    except (UnicodeDecodeError, LookupError):
        return False


# ---- generated sources ----------------------------------------------------------------------------------


@st.composite
def csv_sources(draw: st.DrawFn, sid: str) -> Source:
    """CSV in a random encoding and delimiter, ragged rows, hostile cells, maybe a 1 MB cell or 3,000 columns."""
    width = draw(st.sampled_from([2, 3, 6, 40, 3000]))
    header = HEADER + draw(st.lists(st.sampled_from(OTHER_HEADERS), min_size=width - 2, max_size=width - 2))
    n_rows = draw(st.integers(0, 6))
    rows = []
    for _ in range(n_rows):
        length = draw(st.sampled_from([width, width, width, 0, 1, width - 1, width + 1, width + 3]))
        if length > 12:  # wide rows: a few drawn cells, the rest filled cheaply
            drawn = draw(st.lists(CELL, min_size=3, max_size=3))
            rows.append((drawn * (length // 3 + 1))[:length])
        else:
            rows.append(draw(st.lists(CELL, min_size=max(0, length), max_size=max(0, length))))
    huge = draw(st.sampled_from([0, 0, 0, 40_000, 1_000_000]))
    if huge and rows and rows[0]:
        rows[0][0] = "许" * huge
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "big5"]))
    declared = draw(st.sampled_from(["auto", encoding])) if encoding != "utf-16" else "auto"
    delimiter = draw(st.sampled_from([",", ",", "\t", ";", "|"]))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(
        [header, *rows]
    )
    data = out.getvalue().encode(encoding, errors="replace")
    # The intended rows, by a reference parse of what was written: csv.writer leaves a lone "\r" in a cell
    # unquoted when the line terminator is "\n", and every CSV reader then sees a line break there.
    text = data.decode("utf-16" if encoding == "utf-16" else encoding)
    records = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter))
    expected = sum(1 for r in records[1:] if not blank(r))
    shapes = [(len(r), sorted({c[:20] for c in r})) for r in rows]
    note = f"{encoding=} {declared=} {delimiter=} {width=} header={sorted(set(header))} rows={shapes!r}"
    return Source(sid, data, "csv", {"encoding": declared}, expected or None, encoding, note[:3000])


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    CELL,
    st.text(alphabet=st.characters(), max_size=4),  # lone surrogates too: JSON can escape them
)
JSON_VALUE = st.recursive(
    JSON_SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
RECORD = st.dictionaries(st.sampled_from(HEADER + OTHER_HEADERS) | TEXT, JSON_VALUE, max_size=6)


def _element_is_row(element: object) -> bool:
    if not isinstance(element, dict):
        return True  # kept as a row with an error, never dropped
    cells = [json_cell(v) for v in element.values()]
    return any(re.search("[\ud800-\udfff]", c + str(k)) for c, k in zip(cells, element, strict=True)) or not blank(
        cells
    )


@st.composite
def json_sources(draw: st.DrawFn, sid: str) -> Source:
    """Arrays of records (some not objects), wrapper objects, deep nesting, JSONL with broken lines."""
    kind = draw(st.sampled_from(["array", "wrapped", "deep", "jsonl", "scalar"]))
    records = draw(st.lists(st.one_of(RECORD, RECORD, JSON_VALUE), max_size=6))
    expected = None
    if kind == "array":
        text = json.dumps(records, ensure_ascii=draw(st.booleans()))
        expected = sum(map(_element_is_row, records)) or None
    elif kind == "wrapped":
        text = json.dumps({"code": 200, "data": {"records": records}}, ensure_ascii=True)
    elif kind == "deep":
        depth = draw(st.sampled_from([50, 5_000, 200_000]))
        text = "[" * depth + "]" * depth if draw(st.booleans()) else '{"a":' * depth + "1" + "}" * depth
    elif kind == "scalar":
        text = json.dumps(draw(JSON_SCALAR), ensure_ascii=True)
    else:
        lines = [
            draw(st.one_of(st.just(json.dumps(r, ensure_ascii=True)), TEXT.map(lambda t: t.replace("\n", " "))))
            for r in records
        ]
        text = "\n".join(lines)
    return Source(
        sid, text.encode("utf-8", errors="surrogatepass"), "jsonl" if kind == "jsonl" else "json", {}, expected
    )


def xlsx_bytes(build: Callable[[Workbook], None]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    build(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _xl(value: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", value)


@st.composite
def xlsx_sources(draw: st.DrawFn, sid: str) -> Source:
    """Workbooks with title rows, merged headers, hidden sheets, formulas, dates, stray far cells."""
    plans = []
    for s in range(draw(st.integers(1, 3))):
        plans.append(
            {
                "title": f"表{s}",
                "state": draw(st.sampled_from(["visible", "visible", "hidden", "veryHidden"])),
                "titles": draw(st.integers(0, 2)),
                "merge_header": draw(st.booleans()),
                "rows": draw(st.lists(st.lists(CELL.map(_xl), min_size=0, max_size=5), max_size=6)),
                "formula": draw(st.booleans()),
                "dates": draw(st.booleans()),
                "stray": draw(st.sampled_from([None, None, "XFD1048576", "XFD3", "A60000"])),
                "dept_merge": draw(st.booleans()),
            }
        )
    if all(p["state"] != "visible" for p in plans):
        plans[0]["state"] = "visible"
    expected = 0

    def build(wb: Workbook) -> None:
        nonlocal expected
        for plan in plans:
            ws = wb.create_sheet(plan["title"])
            ws.sheet_state = plan["state"]
            for t in range(plan["titles"]):
                ws.append(["广安市行政职权事项目录" if t == 0 else "单位：项"])
                ws.merge_cells(start_row=t + 1, start_column=1, end_row=t + 1, end_column=5)
            header_row = plan["titles"] + 1
            ws.append([*HEADER, "实施主体", "设定依据", ""])
            if plan["merge_header"]:  # 设定依据 spans two columns
                ws.merge_cells(start_row=header_row, start_column=4, end_row=header_row, end_column=5)
            content_rows = set()
            for i, row in enumerate(plan["rows"]):
                r = header_row + 1 + i
                for j, value in enumerate(row):
                    ws.cell(row=r, column=j + 1, value=value or None)
                if plan["formula"] and i == 0:
                    ws.cell(row=r, column=1, value='=HYPERLINK("http://x","y")')
                if plan["dates"] and i == len(plan["rows"]) - 1:
                    ws.cell(row=r, column=5, value=dt.datetime(2024, 6, 30))
                    ws.cell(row=r, column=4, value=45473).number_format = "yyyy-mm-dd"  # a date kept as a number
                if any(str(c.value or "").strip(BLANK) for c in ws[r]):
                    content_rows.add(r)
            if plan["dept_merge"] and len(plan["rows"]) >= 2:
                ws.cell(row=header_row + 1, column=3, value="市场监管局")
                ws.merge_cells(start_row=header_row + 1, start_column=3, end_row=header_row + 2, end_column=3)
                content_rows.add(header_row + 1)
            if plan["stray"]:
                ws[plan["stray"]] = "x"
                stray_row = int(plan["stray"].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                if stray_row > header_row:  # in a title or the header row it is no data row
                    content_rows.add(stray_row)
            if plan["state"] == "visible":
                expected += len(content_rows)

    data = xlsx_bytes(build)
    return Source(sid, data, "xlsx", {}, expected or None, note=repr(plans))


@st.composite
def batches(draw: st.DrawFn) -> list[Source]:
    n = draw(st.integers(1, 4))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(["csv", "json", "xlsx", "bytes"]))
        sid = f"fuzz-{i}"
        if kind == "csv":
            out.append(draw(csv_sources(sid)))
        elif kind == "json":
            out.append(draw(json_sources(sid)))
        elif kind == "xlsx":
            out.append(draw(xlsx_sources(sid)))
        else:
            out.append(
                Source(sid, draw(st.binary(max_size=300)), draw(st.sampled_from(["csv", "xlsx", "json", "xls"])))
            )
    return out


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(sources=batches())
def test_fuzzed_batches_end_as_items_quarantine_or_source_errors(sources: list[Source]) -> None:
    run_batch(sources)


# ---- workbooks with odd structures -----------------------------------------------------------------------


def _rezip(data: bytes, edit: Callable[[str, bytes], bytes | None]) -> bytes:
    """Rewrite the members of an xlsx; ``edit`` returns new bytes, the same bytes, or None to drop a member."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = edit(info.filename, src.read(info))
            if body is not None:
                dst.writestr(info.filename, body)
    return out.getvalue()


def _list_sheet(wb: Workbook, title: str = "清单") -> Any:
    ws = wb.create_sheet(title)
    ws.append([*HEADER, "实施主体"])
    ws.append(["食品经营许可", "行政许可", "市场监管局"])
    return ws


def test_workbook_without_any_sheet_is_a_source_error() -> None:
    def drop_sheets(name: str, body: bytes) -> bytes | None:
        if name.startswith("xl/worksheets/"):
            return None
        if name == "xl/workbook.xml":
            return re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", body, flags=re.S)
        if name == "xl/_rels/workbook.xml.rels":
            return re.sub(rb"<Relationship [^>]*worksheet[^>]*/>", b"", body)
        return body

    data = _rezip(xlsx_bytes(_list_sheet), drop_sheets)
    with pytest.raises(SourceReadError) as caught:
        read_rows(data, source_id="t", fmt="xlsx")
    assert "sheet" in str(caught.value) or "workbook" in str(caught.value)


def test_odd_workbook_reads_every_row_once() -> None:
    """Merged header cells, a hidden sheet, formulas, dates stored as numbers, a chart-less empty sheet."""

    def build(wb: Workbook) -> None:
        wb.create_sheet("空表")  # no cells at all: skipped, not an error
        ws = wb.create_sheet("清单")
        ws.append(["四川省行政职权目录"])
        ws.merge_cells("A1:E1")
        ws.append([*HEADER, "实施主体", "设定依据", None])
        ws.merge_cells("D2:E2")  # 设定依据 spans two columns
        ws.append(["食品经营许可", "行政许可", "市场监管局", "《食品安全法》", "第三十五条"])
        ws.append(['=HYPERLINK("http://x","y")', "行政许可", "市场监管局", None, None])
        ws.append(["对违法排污的处罚", "行政处罚", "生态环境局", 45473, dt.datetime(2024, 6, 30, 12, 0)])
        ws["D5"].number_format = "yyyy-mm-dd"
        hidden = _list_sheet(wb, "隐藏")
        hidden.sheet_state = "hidden"

    frame, info = read_rows(xlsx_bytes(build), source_id="t", fmt="xlsx")
    assert info["sheets"] == ["清单"]
    assert frame["row_no"].tolist() == [3, 4, 5]
    assert frame["row_errors"][1] and "formula" in frame["row_errors"][1][0]
    assert frame["legal_basis"][2] == "2024-06-30"  # a date kept as a number in a date format reads as a date
    result = run_batch([Source("odd", xlsx_bytes(build), "xlsx", expected_rows=3)])
    assert len(result.quarantine) == 1


@pytest.mark.parametrize("where", ["XFD1048576", "XFD1", "A1048576"])
def test_a_stray_far_cell_is_cheap(where: str) -> None:
    """One value at the edge of the sheet once made a 5 KB file take minutes and 8 GB (every empty cell of
    the used range was created); now it is one more (quarantined) row, or nothing when it is above the data."""

    def build(wb: Workbook) -> None:
        ws = _list_sheet(wb)
        ws[where] = "x"

    start = time.perf_counter()
    result = run_batch([Source("far", xlsx_bytes(build), "xlsx")])
    assert time.perf_counter() - start < 20
    assert result.rows_read["far"] == (1 if where == "XFD1" else 2)
    assert len(result.quarantine) == (0 if where == "XFD1" else 1)


def test_a_merge_over_the_whole_sheet_is_refused_before_openpyxl_expands_it() -> None:
    def merge_all(name: str, body: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            return body.replace(
                b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="A3:XFD1048576"/></mergeCells>'
            )
        return body

    data = _rezip(xlsx_bytes(_list_sheet), merge_all)
    with pytest.raises(SourceReadError, match=f"more than {MAX_MERGED_CELLS:,} merged cells"):
        read_rows(data, source_id="t", fmt="xlsx")


def test_a_zip_member_lying_about_its_size_cannot_expand_past_it() -> None:
    """The bomb check trusts the zip directory's sizes; zipfile stops at the declared size and fails the CRC."""
    big = b"<row>" + b" " * (50 * 1024 * 1024) + b"</row>"

    def inflate(name: str, body: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            return body.replace(b"</sheetData>", big + b"</sheetData>")
        return body

    data = bytearray(_rezip(xlsx_bytes(_list_sheet), inflate))
    # shrink the sheet's uncompressed size in the central directory (and local header) to 1 KB
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        pos = 0
        while (pos := data.find(signature, pos)) != -1:
            name_at = pos + (46 if signature == b"PK\x01\x02" else 30)
            if data[name_at : name_at + len(name)] == name:
                data[pos + size_at : pos + size_at + 4] = (1024).to_bytes(4, "little")
            pos += 4
    with pytest.raises(SourceReadError):
        read_rows(bytes(data), source_id="t", fmt="xlsx")


def test_workbook_cell_budget_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    from transforms.ingest.read import limits

    monkeypatch.setattr(limits, "MAX_WORKBOOK_CELLS", 10)

    def build(wb: Workbook) -> None:
        ws = _list_sheet(wb)
        for i in range(5):
            ws.append([f"许可{i}", "行政许可", "局"])

    with pytest.raises(SourceReadError, match="spans 21 cells"):
        read_rows(xlsx_bytes(build), source_id="t", fmt="xlsx")
    assert MAX_WORKBOOK_CELLS >= 1_000_000


# ---- text oddities ------------------------------------------------------------------------------------------


def test_lone_surrogate_escapes_in_json_are_quarantined_not_a_crash() -> None:
    """JSON may escape a lone surrogate (\\ud800); it used to reach the item-id hash and Parquet and fail the run."""
    doc = '[{"事项名称": "食品\\ud800许可", "权力类型": "行政许可"}, {"事项名称": "排污处罚", "权力类型": "行政处罚"}]'
    lines = (
        '{"事项名称": "食品许可", "权力类型": "行政许可", "x\\udfff": "1"}\n{"事项名称": "许可乙", "权力类型": "许可"}'
    )
    result = run_batch(
        [
            Source("surrogate-json", doc.encode(), "json", expected_rows=2),
            Source("surrogate-jsonl", lines.encode(), "jsonl", expected_rows=2),
        ]
    )
    assert len(result.items) == 2 and len(result.quarantine) == 2
    reasons = [r for rs in result.quarantine["reasons"] for r in rs]
    assert any("surrogate" in r for r in reasons)
    for raw in result.quarantine["raw"]:
        assert "\ufffd" in "".join(f"{k}{v}" for k, v in raw.items())


def test_a_long_line_is_refused_before_decoding() -> None:
    line = "事项名称,权力类型\n" + "许" * 100 + "," + "x" * 3000 + "\n"
    with pytest.raises(SourceReadError, match=r"line 2 is 3,\d+ bytes long \(limit 1,000\)"):
        read_rows(line.encode(), source_id="t", fmt="csv", max_line_bytes=1000)
    frame, _ = read_rows(line.encode(), source_id="t", fmt="csv", max_line_bytes=10_000)
    assert len(frame) == 1


def test_one_megabyte_cells_and_thousands_of_columns() -> None:
    header = [*HEADER, *(f"列{i}" for i in range(4000))]
    rows = [["食品经营许可", "行政许可", *(["值"] * 4000)], ["许" * 1_000_000, "行政许可", *([""] * 4000)]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    result = run_batch([Source("wide", out.getvalue().encode(), "csv", expected_rows=2)])
    assert len(result.items) == 1
    (reasons,) = result.quarantine["reasons"]
    assert any("longer than 32768 characters" in r for r in reasons)
    assert len(result.quarantine["raw"].iloc[0]["事项名称"]) == 32768  # kept, cut to the cap


# ---- manifests with wrong types ---------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A tiny TOML writer for the value kinds the manifest fuzz draws (tomllib only reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


TOML_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=10)
TOML_SCALAR = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    TOML_TEXT,
    st.sampled_from(["510100", "lists/a.csv", "../../etc/passwd", "/etc/passwd", "csv", "gbk", "Sheet1", "a-b.c"]),
    st.dates(),
    st.datetimes(),
    st.times(),
)
TOML_VALUE = st.one_of(
    TOML_SCALAR,
    st.lists(TOML_SCALAR, max_size=3),
    st.dictionaries(st.sampled_from(["name", "code", "x"]) | TOML_TEXT, TOML_SCALAR, max_size=3),
)
RUN_KEYS = ["name", "match_threshold", "max_error_share", "jurisdictions", "x"]
SOURCE_KEYS = ["id", "jurisdiction", "path", "url", "published", "format", "encoding", "sheet", "header_row",
               "columns", "title", "colour"]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run=st.dictionaries(
        st.sampled_from(["name", "match_threshold", "max_error_share", "jurisdictions", "x"]), TOML_VALUE
    ),
    sources=st.lists(st.dictionaries(st.sampled_from(SOURCE_KEYS), TOML_VALUE, max_size=6), max_size=4),
)
def test_manifests_with_wrong_types_name_the_source_and_key(
    tmp_path_factory: pytest.TempPathFactory, run: dict, sources: list[dict]
) -> None:
    folder = tmp_path_factory.mktemp("manifest")
    (folder / "lists").mkdir()
    (folder / "lists" / "a.csv").write_text("事项名称,权力类型\n食品经营许可,行政许可\n", encoding="utf-8")
    lines = ["[run]", *(f"{k} = {toml_value(v)}" for k, v in run.items())]
    for entry in sources:
        lines += ["[[source]]", *(f"{k} = {toml_value(v)}" for k, v in entry.items())]
    path = folder / "sources.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        manifest = load_manifest(path, known_jurisdictions=REGISTRY.codes())
    except ManifestError as exc:
        assert str(exc) and ("[run]" in str(exc) or "sources.toml" in str(exc) or "manifest" in str(exc)), exc
        return
    assert len(manifest.sources) + len(manifest.source_errors) == len(sources)
    for message in manifest.source_errors.values():
        assert re.match(r"^source '.+?': [A-Za-z_./#]+", message), message  # an id may hold a quote
    for spec in manifest.sources:
        assert isinstance(spec.id, str) and re.fullmatch(r"[a-z0-9._-]+", spec.id)
        assert spec.path is None or spec.path.is_file()  # paths outside the folder may be read; they exist
        assert 0 <= manifest.match_threshold <= 1 and 0 <= manifest.max_error_share <= 1


# ---- nothing is written outside OUT -----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["../../evil", "..", "a/b", "/tmp/x", "5101 00"])
def test_a_jurisdiction_code_cannot_be_a_path(tmp_path: Path, code: str) -> None:
    """A province's code names its items/<code>.parquet file; a manifest's own registry file must not
    be able to point that file outside the output."""
    extra = tmp_path / "jurisdictions.csv"
    with extra.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["code", "name", "level", "parent_code"], [code, "恶意", "province", ""]])
    with pytest.raises(RegistryError):
        load_registry(extra)


def test_registry_file_that_is_not_utf8_is_a_registry_error(tmp_path: Path) -> None:
    extra = tmp_path / "jurisdictions.csv"
    extra.write_bytes("code,name,level,parent_code\n511602001,浓洲街道,township,511602\n".encode("gbk"))
    with pytest.raises(RegistryError, match="not UTF-8"):
        load_registry(extra)


def test_hostile_sheet_and_source_names_stay_data(tmp_path: Path) -> None:
    """Sheet names, names and cells are column values, never paths: every file lands inside the folder."""
    frame = run_batch([Source("ok", "事项名称,权力类型\n食品经营许可,行政许可\n".encode(), "csv")]).items
    frame = frame.assign(sheet="../../../x", name_raw="../../etc/passwd")
    frame["item_id"] = item_ids(frame)
    staging = tmp_path / "deep" / "staging"
    staging.mkdir(parents=True)
    write_tables({"items": to_items_table(frame)}, staging)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(staging in p.parents for p in written)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: Path("/"), "file system root"),
        (lambda tmp: REPO, "not a powerlists output"),
        (lambda tmp: tmp / "manifest_dir", "not a powerlists output"),
        (lambda tmp: tmp / "file.txt", "is a file"),
    ],
)
def test_unsafe_output_folders_are_refused(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    (tmp_path / "manifest_dir").mkdir()
    (tmp_path / "manifest_dir" / "sources.toml").write_text("[run]\n")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UnsafeOutput, match=message):
        check_output_folder(make(tmp_path))


def test_output_folder_may_be_new_empty_or_an_earlier_output_but_never_hold_inputs(tmp_path: Path) -> None:
    check_output_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "run.json").write_text(json.dumps({"powerlists_version": "0.1.0"}))
    check_output_folder(earlier)
    (earlier / "lists").mkdir()
    (earlier / "lists" / "a.csv").write_text("x")
    with pytest.raises(UnsafeOutput, match="holds an input"):
        check_output_folder(earlier, protected=[earlier / "lists" / "a.csv"])


def test_an_input_reached_through_a_symlink_inside_the_output_is_protected(tmp_path: Path) -> None:
    """The link lives in OUT and goes with it, although the file it points to is elsewhere."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "run.json").write_text(json.dumps({"powerlists_version": "0.1.0"}))
    (tmp_path / "sources.toml").write_text("[run]\n")
    (earlier / "sources.toml").symlink_to(tmp_path / "sources.toml")
    with pytest.raises(UnsafeOutput, match="holds an input"):
        check_output_folder(earlier, protected=[earlier / "sources.toml"])


# ---- the swap -------------------------------------------------------------------------------------------------


def _output(folder: Path, label: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"powerlists_version": label}))
    return folder


@pytest.mark.parametrize("exchange", [True, False])
def test_swap_replaces_the_output_and_leaves_nothing_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    import transforms.publish.write as write_module

    if not exchange:  # file systems or kernels without renameat2(RENAME_EXCHANGE): two renames
        monkeypatch.setattr(write_module, "exchange_paths", lambda a, b: False)
    out = _output(tmp_path / "out", "old")
    staging = write_module.new_staging(out)
    (staging / "run.json").write_text(json.dumps({"powerlists_version": "new"}))
    write_module.swap_in(staging, out)
    assert json.loads((out / "run.json").read_text())["powerlists_version"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_with_the_atomic_exchange_the_output_never_disappears(tmp_path: Path) -> None:
    """A reader polling OUT during 300 swaps always finds a complete folder (with two renames it missed it
    about 2,000 times), so a SIGKILL at any instant leaves a complete OUT too."""
    import transforms.publish.write as write_module

    out = _output(tmp_path / "out", "0")
    probe = tmp_path / "probe"
    probe.mkdir()
    assert write_module.exchange_paths(out, probe) and write_module.exchange_paths(out, probe), "renameat2 unavailable"
    missing = 0
    stop = False

    def reader() -> None:
        nonlocal missing
        while not stop:
            if not (out / "run.json").is_file():
                missing += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            staging = write_module.new_staging(out)
            (staging / "run.json").write_text(json.dumps({"powerlists_version": str(i)}))
            write_module.swap_in(staging, out)
    finally:
        stop = True
        thread.join()
    assert missing == 0
