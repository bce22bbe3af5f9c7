"""Readers: every format into the row frame, and every unreadable source into SourceReadError.

Binary fixtures (xlsx, xls, zip bombs) are built inside the tests so that what each one contains is visible
here; the real Sichuan/Liaoning lists are read from /work/shared/realdata when it is there.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import struct
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from transforms.ingest.columns import ROW_FRAME_COLUMNS
from transforms.ingest.read import SourceReadError, read_rows

REPO = Path(__file__).resolve().parent.parent
REALDATA = Path("/work/shared/realdata")
SAMPLE = REPO / "data" / "sample"

HEADER = ["序号", "事项名称", "权力类型", "实施主体", "设定依据"]
ROWS = [
    ["1", "食品经营许可", "行政许可", "市场监管局", "《食品安全法》第三十五条"],
    ["2", "对违法排污的处罚", "行政处罚", "生态环境局", ""],
]


def read(data: bytes, fmt: str = "csv", **kw) -> tuple[pd.DataFrame, dict]:
    return read_rows(data, source_id="t", fmt=fmt, **kw)


def csv_bytes(rows: Sequence[Sequence[str]], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(build) -> bytes:
    """Run build(workbook) on a fresh workbook (its default sheet removed) and return the saved bytes."""
    wb = Workbook()
    wb.remove(wb.active)
    build(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def check_frame(frame: pd.DataFrame) -> None:
    """The row-frame contract of docs/architecture.md."""
    assert tuple(frame.columns) == ROW_FRAME_COLUMNS
    assert frame["row_no"].dtype == "int64"
    for column in ROW_FRAME_COLUMNS:
        if column != "row_no":
            assert frame[column].dtype == object, column
    for column in ("source_id", "sheet", *ROW_FRAME_COLUMNS[4:13]):
        assert all(v is None or isinstance(v, str) for v in frame[column]), column
    assert all(isinstance(v, dict) for v in frame["raw"])
    assert all(isinstance(v, dict) for v in frame["extra"])
    assert all(isinstance(v, list) for v in frame["row_errors"])


# ---- CSV: encodings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "detected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")]
)
def test_csv_encodings_are_detected(encoding: str, detected: str) -> None:
    frame, info = read(csv_bytes([HEADER, *ROWS], encoding))
    check_frame(frame)
    assert info["encoding"] == detected
    assert list(frame["name_raw"]) == ["食品经营许可", "对违法排污的处罚"]
    assert list(frame["row_no"]) == [2, 3]
    assert frame["raw"][0]["事项名称"] == "食品经营许可"  # no BOM glued to the first header


def test_csv_declared_big5() -> None:
    data = csv_bytes([["事項名稱", "權力類型"], ["食品經營許可", "行政許可"]], "big5")
    frame, info = read(data, encoding="big5")
    assert info["encoding"] == "big5"
    assert frame["name_raw"][0] == "食品經營許可"


def test_declared_encoding_that_fails_names_it_and_suggests_the_working_one() -> None:
    with pytest.raises(SourceReadError, match=r"declared encoding utf-8.*gb18030"):
        read(csv_bytes([HEADER, *ROWS], "gb18030"), encoding="utf-8")


def test_declared_legacy_encoding_on_utf8_text_is_refused_not_mojibake() -> None:
    data = ("食品" * 10 + ",许可\n").encode() * 3
    assert data.decode("gbk")  # it would "work", as mojibake
    with pytest.raises(SourceReadError, match=r"declared encoding gbk but the file is UTF-8"):
        read(data, encoding="gbk")


def test_unknown_encoding() -> None:
    with pytest.raises(SourceReadError, match="unknown encoding 'klingon'"):
        read(csv_bytes([HEADER, *ROWS]), encoding="klingon")


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (bytes(range(256)) * 8, "binary data, not text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\xff" * 40, "binary data, not text"),
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 30, 'set format = "xlsx"'),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 30, 'set format = "xls"'),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08" * 20, "binary data, not text: control characters"),
    ],
)
def test_binary_garbage_named_csv(data: bytes, hint: str) -> None:
    with pytest.raises(SourceReadError, match=hint):
        read(data)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        *[
            (data, fmt)
            for data in (b"", b"   \r\n\n\t", b"\xef\xbb\xbf", "\u3000\n".encode())
            for fmt in ("csv", "json", "jsonl")
        ],
        (b"", "xlsx"),
        (b"", "xls"),
    ],
)
def test_empty_file(data: bytes, fmt: str) -> None:
    with pytest.raises(SourceReadError, match="empty file"):
        read(data, fmt)


def test_header_only() -> None:
    with pytest.raises(SourceReadError, match="header only: no data rows"):
        read(csv_bytes([["目录"], HEADER, ["", "", "", "", ""], []]))


def test_no_item_name_header() -> None:
    with pytest.raises(SourceReadError, match=r"no header with an item-name column found in the first 20 rows"):
        read(csv_bytes([["序号", "实施主体"], ["1", "某局"]]))


# ---- CSV: structure -------------------------------------------------------------------------------------------


def test_title_rows_blank_rows_and_row_numbers() -> None:
    data = "广东省省级行政职权事项目录,,,,\n\n单位：项,,,,\n" + csv_bytes([HEADER, *ROWS]).decode()
    frame, info = read(data.encode())
    assert info["header_row"] == {"": 4}
    assert list(frame["row_no"]) == [5, 6]
    assert frame["sheet"].tolist() == ["", ""]


def test_multi_line_quoted_cell_keeps_newlines_and_counts_lines() -> None:
    data = (
        "事项名称,设定依据,实施主体\r\n"
        '专利侵权纠纷处理,"【法律】《专利法》\r\n第六十五条 ……\n【地方性法规】""辽宁省专利条例""",知识产权局\r\n'
        "\r\n"
        "下一项,,某局\r\n"
    ).encode()
    frame, _ = read(data)
    assert list(frame["row_no"]) == [2, 6]
    assert frame["legal_basis"][0] == '【法律】《专利法》\r\n第六十五条 ……\n【地方性法规】"辽宁省专利条例"'
    assert frame["legal_basis"][1] is None


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    rows = [["标题"], HEADER, *[[*r[:4], "第一条，第二条；第三条|其他"] for r in ROWS]]
    frame, _ = read(csv_bytes(rows, delimiter=delimiter))
    assert frame["department"].tolist() == ["市场监管局", "生态环境局"]
    assert frame["legal_basis"][0] == "第一条，第二条；第三条|其他"


def test_ragged_rows_are_errors_but_trailing_padding_is_not() -> None:
    data = (
        "序号,事项名称,实施主体\n"
        "1,食品经营许可,市场监管局\n"  # fine
        "2,食品经营许可,变更,市场监管局\n"  # an unquoted comma: one cell too many
        "3,食品经营许可,市场监管局,\n"  # a trailing empty cell beyond the header line: shifted record too
        "4,食品经营许可\n"  # one cell short
    ).encode()
    frame, _ = read(data)
    errors = dict(zip(frame["row_no"], frame["row_errors"], strict=True))
    assert errors == {
        2: [],
        3: ["row: 4 cells but the header has 3"],
        4: ["row: 4 cells but the header has 3"],
        5: ["row: 2 cells but the header has 3"],
    }
    assert frame["raw"][1]["column 4"] == "市场监管局"  # nothing is lost for the quarantine
    assert frame["department"][3] is None


def test_trailing_empty_header_cells_are_padding() -> None:
    data = "序号,事项名称,实施主体,,\n1,许可,某局,,\n2,处罚,某局\n3,确认,某局,,多余\n".encode()
    frame, _ = read(data)
    assert [e for e in frame["row_errors"]] == [[], [], ["row: 5 cells but the header has 3"]]
    assert list(frame["raw"][0]) == ["序号", "事项名称", "实施主体"]


def test_a_trailing_delimiter_on_every_data_row_is_padding() -> None:
    lines = ["序号,事项名称,实施主体"] + [f"{i},事项{i},某局," for i in range(1, 20)] + ["20,事项20,某局,多余"]
    frame, _ = read("\n".join(lines).encode())
    assert len(frame) == 20
    assert frame["row_errors"].map(len).tolist() == [0] * 19 + [1]


def test_cells_are_stripped_and_blank_rows_skipped() -> None:
    data = "事项名称,实施主体,备注\n\u3000 食品经营许可\u200b ,\t某局 ,\n , \u3000 ,\n,,\n".encode()
    frame, _ = read(data)
    assert len(frame) == 1
    assert frame["name_raw"][0] == "食品经营许可"
    assert frame["department"][0] == "某局"
    assert frame["status_raw"][0] is None
    assert frame["raw"][0]["事项名称"] == "\u3000 食品经营许可\u200b "  # raw keeps the cell as read


def test_unmapped_columns_go_to_extra_and_info_reports_mapping() -> None:
    data = "事项名称,设定依据,实施依据,办理时限,空列\n许可,法A,法B,20日,\n".encode()
    frame, info = read(data)
    assert frame["legal_basis"][0] == "法A"
    assert frame["extra"][0] == {"实施依据": "法B", "办理时限": "20日"}
    assert info["columns"] == {"name": "事项名称", "legal_basis": "设定依据"}
    assert info["unmapped"] == ["实施依据", "办理时限", "空列"]


def test_numbering_column_is_seq_else_code() -> None:
    seq, _ = read("编号,事项名称\n1,许可\n2,处罚\n".encode())
    assert seq["seq"].tolist() == ["1", "2"] and seq["code_raw"].tolist() == [None, None]
    code, _ = read("编号,事项名称\nXK-001,许可\n2,处罚\n".encode())
    assert code["code_raw"].tolist() == ["XK-001", "2"] and code["seq"].tolist() == [None, None]


def test_header_row_override() -> None:
    data = "事项名称,类型\n说明行,x\n名称,类型\n许可,行政许可\n".encode()
    frame, info = read(data, header_row=3)
    assert info["header_row"] == {"": 3}
    assert frame["name_raw"].tolist() == ["许可"]
    with pytest.raises(SourceReadError, match="header_row = 9"):
        read(data, header_row=9)
    with pytest.raises(SourceReadError, match="header_row must be 1 or more"):
        read(data, header_row=0)


def test_columns_override() -> None:
    data = "item,kind,who\n许可,行政许可,某局\n".encode()
    frame, info = read(data, columns={"name": "item", "power_type": "kind"})
    assert frame["name_raw"][0] == "许可" and frame["power_type_raw"][0] == "行政许可"
    assert frame["extra"][0] == {"who": "某局"}
    assert info["columns"] == {"name": "item", "power_type": "kind"}
    with pytest.raises(SourceReadError, match=r"\[source.columns\] department = '实施主体': no such header"):
        read(data, columns={"name": "item", "department": "实施主体"})
    with pytest.raises(SourceReadError, match=r"\[source.columns\]: unknown column"):
        read(data, columns={"title": "item"})


def test_cell_longer_than_cap_is_a_row_error() -> None:
    data = f"事项名称,设定依据\n许可,{'法' * 50}\n处罚,短\n".encode()
    frame, _ = read(data, max_cell_chars=40)
    assert frame["row_errors"].tolist() == [["设定依据: cell longer than 40 characters"], []]
    assert len(frame["legal_basis"][0]) == 40
    assert len(frame["raw"][0]["设定依据"]) == 40


@pytest.mark.parametrize("fmt", ["csv", "CSV", ".csv"])
def test_format_names(fmt: str) -> None:
    assert len(read(csv_bytes([HEADER, *ROWS]), fmt)[0]) == 2


def test_unknown_format() -> None:
    with pytest.raises(SourceReadError, match="unknown format 'pdf'"):
        read(b"x", "pdf")


# ---- xlsx ------------------------------------------------------------------------------------------------------


def _list_sheet(wb, title: str = "权力清单", *, merge_dept: bool = True):
    ws = wb.create_sheet(title)
    ws.append(["广东省省级行政职权事项目录"])
    ws.merge_cells("A1:E1")
    ws.append(["单位：项"])
    ws.append(HEADER)
    ws.append([1, "食品经营许可", "行政许可", "市场监管局", None])
    ws.append([2, "食品生产许可", "行政许可", None, None])
    ws.append([3, "药品经营许可", "行政许可", None, None])
    ws.append([None, None, None, None, None])
    ws.append([4.0, "对违法排污的处罚", "行政处罚", "生态环境局", dt.datetime(2023, 6, 30)])
    if merge_dept:
        ws.merge_cells("D4:D6")
    return ws


def test_xlsx_title_rows_merged_department_and_cell_types() -> None:
    frame, info = read(xlsx_bytes(_list_sheet), "xlsx")
    check_frame(frame)
    assert info == {
        "encoding": None,
        "sheets": ["权力清单"],
        "header_row": {"权力清单": 3},
        "columns": {
            "seq": "序号",
            "name": "事项名称",
            "power_type": "权力类型",
            "department": "实施主体",
            "legal_basis": "设定依据",
        },
        "unmapped": [],
    }
    assert frame["row_no"].tolist() == [4, 5, 6, 8]
    assert frame["department"].tolist() == ["市场监管局"] * 3 + ["生态环境局"]
    assert frame["seq"].tolist() == ["1", "2", "3", "4"]
    assert frame["legal_basis"].tolist() == [None, None, None, "2023-06-30"]
    assert frame["sheet"].tolist() == ["权力清单"] * 4


def test_xlsx_merged_header_and_section_heading() -> None:
    def build(wb):
        ws = wb.create_sheet("S")
        ws.append(["事项名称", "依据", None, "实施主体"])
        ws.merge_cells("B1:C1")  # one header over two columns: both get it, the second as 依据.1
        ws.append(["一、行政许可", None, None, None])
        ws.merge_cells("A2:D2")  # a section heading must not fill the whole row
        ws.append(["许可甲", "法律", "法规", "某局"])

    frame, _ = read(xlsx_bytes(build), "xlsx")
    assert frame["name_raw"].tolist() == ["一、行政许可", "许可甲"]
    assert frame["department"].tolist() == [None, "某局"]
    assert frame["extra"][1] == {"依据.1": "法规"}


def test_xlsx_several_sheets_hidden_sheet_and_selection() -> None:
    def build(wb):
        _list_sheet(wb, "许可")
        wb.create_sheet("说明").append(["本清单由……编制"])
        _list_sheet(wb, "处罚")
        _list_sheet(wb, "旧版").sheet_state = "hidden"

    data = xlsx_bytes(build)
    frame, info = read(data, "xlsx")
    assert info["sheets"] == ["许可", "处罚"]
    assert frame["sheet"].value_counts().to_dict() == {"许可": 4, "处罚": 4}
    assert read(data, "xlsx", sheet="旧版")[1]["sheets"] == ["旧版"]  # picked explicitly: hidden is fine
    assert read(data, "xlsx", sheet=2)[1]["sheets"] == ["处罚"]
    assert read(data, "xlsx", header_row=3)[1]["sheets"] == ["许可", "处罚"]  # 说明 has no header there
    with pytest.raises(SourceReadError, match=r"no usable sheet in workbook: .* in row 2 \(sheets: 许可, 说明"):
        read(data, "xlsx", header_row=2)
    with pytest.raises(SourceReadError, match="no sheet named '目录'; sheets: 许可, 说明, 处罚, 旧版"):
        read(data, "xlsx", sheet="目录")
    with pytest.raises(SourceReadError, match="sheet index 7 out of range"):
        read(data, "xlsx", sheet=7)
    with pytest.raises(SourceReadError, match=r"no header with an item-name column .* of sheet '说明'"):
        read(data, "xlsx", sheet="说明")


def test_xlsx_formula_and_error_cells_are_row_errors() -> None:
    def build(wb):
        ws = wb.create_sheet("S")
        ws.append(['="清单"&YEAR(TODAY())'])  # a formula title above the header is not a data row
        ws.append(["事项名称", "实施主体"])
        ws.append(['=HYPERLINK("http://x","点击")', "某局"])
        ws.append(["许可", "=A2"])
        ws.append(["=A1", "=" + "B" * 100])
        ws.append(["处罚", "某局"])
        ws["B7"] = "#N/A"
        ws["B7"].data_type = "e"
        ws["A7"] = "确认"

    frame, _ = read(xlsx_bytes(build), "xlsx")
    assert frame["row_errors"].tolist() == [
        ['事项名称: formula cell =HYPERLINK("http://x","点击") is not accepted'],
        ["实施主体: formula cell =A2 is not accepted"],
        ["事项名称: formula cell =A1 is not accepted", f"实施主体: formula cell ={'B' * 56}… is not accepted"],
        [],
        ["实施主体: error cell #N/A"],
    ]


def test_xlsx_without_a_usable_sheet() -> None:
    def build(wb):
        wb.create_sheet("封面").append(["权力清单"])
        _list_sheet(wb, "隐藏").sheet_state = "hidden"

    with pytest.raises(SourceReadError, match=r"no usable sheet in workbook.*封面, 隐藏 \(hidden\)"):
        read(xlsx_bytes(build), "xlsx")


def test_xlsx_cells_past_the_header_are_row_errors() -> None:
    def build(wb):
        ws = wb.create_sheet("S")
        ws.append(["事项名称", "实施主体"])
        ws.append(["许可", "某局", None, "多余"])
        ws.append(["处罚", "某局"])

    frame, _ = read(xlsx_bytes(build), "xlsx")
    assert frame["row_errors"].tolist() == [["row: 4 cells but the header has 2"], []]
    assert frame["raw"][0]["column 4"] == "多余"


def _zip(members: dict[str, bytes | int]) -> bytes:
    """A zip whose int members are that many zero bytes, streamed so the test never holds them."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            if isinstance(content, bytes):
                archive.writestr(name, content)
                continue
            with archive.open(name, "w", force_zip64=True) as fh:
                chunk = b"\0" * (1 << 20)
                for _ in range(content >> 20):
                    fh.write(chunk)
    return out.getvalue()


def test_zip_bomb_by_ratio_is_refused() -> None:
    bomb = _zip({"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": 50 << 20})
    assert len(bomb) < 200_000
    with pytest.raises(SourceReadError, match=r"refused: .* times its size .*zip bomb"):
        read(bomb, "xlsx")


def test_zip_bomb_by_size_is_refused() -> None:
    bomb = _zip({"xl/worksheets/sheet1.xml": 201 << 20})
    with pytest.raises(SourceReadError, match=r"refused: the workbook unpacks to 210,763,776 bytes"):
        read(bomb, "xlsx")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04garbage", "broken zip archive"),
        (_zip({"hello.txt": b"hi"}), "not a readable xlsx workbook"),
        (b"<html><table><tr><td>x</td></tr></table></html>", "this is an HTML page, not a xlsx file"),
        ("事项名称\n许可\n".encode(), "neither a zip"),
    ],
)
def test_not_an_xlsx(data: bytes, message: str) -> None:
    with pytest.raises(SourceReadError, match=message):
        read(data, "xlsx")


def test_spreadsheet_format_follows_the_bytes_not_the_name() -> None:
    frame, _ = read(xlsx_bytes(_list_sheet), "xls")  # an xlsx served as .xls
    assert len(frame) == 4


# ---- xls (BIFF8) ------------------------------------------------------------------------------------------


def xls_bytes(sheets: Sequence[tuple[str, list[list], list[tuple[int, int, int, int]], bool]]) -> bytes:
    """A minimal BIFF8 workbook in an OLE2 compound file, enough for xlrd (LibreOffice/xlwt are not here).

    ``sheets``: (name, rows of str/number/None, merged ranges (first row, last row, first col, last col)
    0-based inclusive, hidden).
    """

    def rec(rid: int, data: bytes = b"") -> bytes:
        return struct.pack("<HH", rid, len(data)) + data

    def ustr(text: str, lenlen: int) -> bytes:
        return struct.pack("<B" if lenlen == 1 else "<H", len(text)) + b"\x01" + text.encode("utf-16-le")

    def bof(kind: int) -> bytes:
        return rec(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))

    font = rec(0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + ustr("Arial", 1))
    xf = rec(0x00E0, struct.pack("<HHHBBBBIiH", 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0))
    head = bof(0x0005) + rec(0x0042, struct.pack("<H", 1200)) + font * 5 + xf
    bodies = []
    for _, rows, merges, _ in sheets:
        body = bof(0x0010) + rec(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, max(map(len, rows)), 0))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    body += rec(0x0204, struct.pack("<HHH", r, c, 0) + ustr(value, 2))
                elif value is not None:
                    body += rec(0x0203, struct.pack("<HHHd", r, c, 0, float(value)))
        if merges:
            body += rec(0x00E5, struct.pack("<H", len(merges)) + b"".join(struct.pack("<HHHH", *m) for m in merges))
        bodies.append(body + rec(0x000A))
    pos = len(head) + sum(len(rec(0x0085, b"\0" * 6 + ustr(s[0], 1))) for s in sheets) + 4
    bounds = b""
    for (name, _, _, hidden), body in zip(sheets, bodies, strict=True):
        bounds += rec(0x0085, struct.pack("<iBB", pos, int(hidden), 0) + ustr(name, 1))
        pos += len(body)
    stream = head + bounds + rec(0x000A) + b"".join(bodies)
    stream = stream.ljust(max(4096, -(-len(stream) // 512) * 512), b"\0")  # >= 4096: no mini stream
    n = len(stream) // 512
    fat = [0xFFFFFFFD, 0xFFFFFFFE, *range(3, n + 2), 0xFFFFFFFE]  # FAT, directory, then the stream chain
    fat += [0xFFFFFFFF] * (128 - len(fat))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", 0xFFFFFFFF) * 108
    )

    def entry(name: str, kind: int, child: int, start: int, length: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0" if name else b""
        return (
            raw.ljust(64, b"\0")
            + struct.pack("<HBBIII", len(raw), kind, 1, 0xFFFFFFFF, 0xFFFFFFFF, child)
            + b"\0" * 36
            + struct.pack("<III", start, length, 0)
        )

    directory = (
        entry("Root Entry", 5, 1, 0xFFFFFFFE, 0)
        + entry("Workbook", 2, 0xFFFFFFFF, 2, len(stream))
        + entry("", 0, 0xFFFFFFFF, 0, 0) * 2
    )
    return header + struct.pack("<128I", *fat) + directory + stream


def test_xls_title_rows_merges_numbers_and_hidden_sheet() -> None:
    listing = [
        ["四川省行政职权目录", None, None, None],
        ["序号", "事项名称", "实施主体", "编码"],
        [1, "食品经营许可", "市场监管局", 210973001000],
        [2, "食品生产许可", None, 0.5],
        [None, None, None, None],
        [3, "对违法排污的处罚", "生态环境局", "E-000021-001"],
    ]
    data = xls_bytes(
        [
            ("权力清单", listing, [(0, 0, 0, 3), (2, 3, 2, 2), (5, 30, 3, 3), (40, 41, 0, 5)], False),
            ("旧版", [["事项名称"], ["旧事项"]], [], True),
        ]
    )
    frame, info = read(data, "xls")
    check_frame(frame)
    assert info["sheets"] == ["权力清单"] and info["header_row"] == {"权力清单": 2}
    assert frame["row_no"].tolist() == [3, 4, 6]
    assert frame["department"].tolist() == ["市场监管局", "市场监管局", "生态环境局"]
    assert frame["code_raw"].tolist() == ["210973001000", "0.5", "E-000021-001"]
    assert frame["seq"].tolist() == ["1", "2", "3"]
    assert read(data, "xls", sheet="旧版")[0]["name_raw"].tolist() == ["旧事项"]
    assert len(read(data, "xlsx")[0]) == 3  # an xls served as .xlsx


def test_broken_xls() -> None:
    with pytest.raises(SourceReadError, match="not a readable xls workbook"):
        read(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "xls")


# ---- JSON / JSONL -------------------------------------------------------------------------------------------


def test_json_array() -> None:
    doc = [
        {"序号": 1, "权力名称": "食品经营许可", "权力类型": "许可", "依据": {"法律": ["食品安全法"]}, "有效": True},
        {"序号": 2, "权力名称": "对违法排污的处罚", "权力类型": None, "实施主体": "  某局 "},
        {},
        {"权力名称": "", "权力类型": " "},
    ]
    frame, info = read(json.dumps(doc, ensure_ascii=False).encode(), "json")
    check_frame(frame)
    assert frame["row_no"].tolist() == [1, 2]
    assert frame["seq"].tolist() == ["1", "2"]
    assert frame["legal_basis"][0] == '{"法律": ["食品安全法"]}'
    assert frame["extra"][0] == {"有效": "true"}
    assert frame["department"].tolist() == [None, "某局"]
    assert info["header_row"] == {} and info["sheets"] == []
    assert info["columns"]["name"] == "权力名称"


@pytest.mark.parametrize(
    "doc",
    [
        {"data": [{"itemName": "许可"}]},
        {"code": 200, "msg": "ok", "data": {"total": 1, "records": [{"itemName": "许可"}]}},
    ],
)
def test_json_wrapper_objects(doc: dict) -> None:
    frame, _ = read(json.dumps(doc).encode(), "json")
    assert frame["name_raw"].tolist() == ["许可"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"a": [{"x": 1}], "b": [{"y": 2}]}, "several arrays of objects"),
        ({"a": 1}, "no array of objects"),
        ("text", "expected an array of objects, found a string"),
        ([], "no data rows: the JSON holds no objects"),
        ([{"序号": 1}], "no item-name column among the keys"),
        ([1, 2], "no item-name column"),
    ],
)
def test_json_whole_source_errors(doc: object, message: str) -> None:
    with pytest.raises(SourceReadError, match=message):
        read(json.dumps(doc).encode(), "json")


def test_json_non_object_elements_are_row_errors() -> None:
    doc = [{"事项名称": "许可"}, [1, 2], None, "x", 3]
    frame, _ = read(json.dumps(doc).encode(), "json")
    assert frame["row_no"].tolist() == [1, 2, 3, 4, 5]
    assert frame["row_errors"].tolist() == [
        [],
        ["row: element is an array, not an object"],
        ["row: element is null, not an object"],
        ["row: element is a string, not an object"],
        ["row: element is a number, not an object"],
    ]
    assert frame["raw"][1] == {"事项名称": "", "(value)": "[1, 2]"}


def test_invalid_json() -> None:
    with pytest.raises(SourceReadError, match="invalid JSON: Expecting"):
        read(b'[{"a": 1},', "json")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_deeply_nested_json_does_not_crash(fmt: str) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    with pytest.raises(SourceReadError):
        read(deep.encode(), fmt)
    wrapped = '{"事项名称": "许可", "x": ' + deep + "}"
    if fmt == "jsonl":  # one bad line among good ones is that row's problem, not the file's
        frame, _ = read(('{"事项名称": "处罚"}\n' + wrapped).encode(), fmt)
        assert frame["row_errors"].tolist() == [[], ["row: invalid JSON (nested too deeply)"]]
    else:
        with pytest.raises(SourceReadError, match=r"json: nested too deeply to read"):
            read(("[" + wrapped + "]").encode(), fmt)


def test_jsonl_bad_line_is_kept_as_a_row() -> None:
    data = (
        '{"事项名称": "许可", "类型": "行政许可"}\n\n{"事项名称": "处罚",\n  \n{"事项名称": "确认"}\r\n[1]\n'.encode()
    )
    frame, info = read(data, "jsonl")
    assert frame["row_no"].tolist() == [1, 3, 5, 6]
    assert frame["name_raw"].tolist() == ["许可", None, "确认", None]
    errors = frame["row_errors"].tolist()
    assert errors[0] == [] and errors[2] == []
    assert errors[1][0].startswith("row: invalid JSON (Expecting")
    assert errors[3] == ["row: element is an array, not an object"]
    assert frame["raw"][1]["(line)"] == '{"事项名称": "处罚",'
    assert info["encoding"] == "utf-8"


def test_jsonl_without_any_object() -> None:
    with pytest.raises(SourceReadError, match="JSONL: no line holds a JSON object; line 1"):
        read(b"not json\nnor this\n", "jsonl")


# ---- real lists ----------------------------------------------------------------------------------------------

needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason="/work/shared/realdata is not here")


@needs_realdata
@pytest.mark.parametrize(
    ("name", "columns", "n"),
    [
        (
            "sichuan_guangan_district_511602_items.csv",
            {"name": "item_name", "code": "item_code", "power_type": "task_type", "department": "department"},
            1135,
        ),
        (
            "sichuan_ziyang_city_512000_market_regulation_items.csv",
            {"name": "item_name", "code": "item_code", "power_type": "task_type"},  # it has no department
            135,
        ),
    ],
)
def test_real_sichuan_lists(name: str, columns: dict[str, str], n: int) -> None:
    frame, info = read((REALDATA / "sichuan" / name).read_bytes(), columns=columns)
    check_frame(frame)
    assert len(frame) == n
    assert frame["row_no"].tolist() == list(range(2, n + 2))
    assert frame["name_raw"].notna().all() and frame["code_raw"].notna().all()
    assert set(frame["power_type_raw"]) <= {"1", "5", "7", "8", "9", "10", "20"}
    assert not any(frame["row_errors"].map(len))
    assert info["columns"] == columns
    assert "basic_code" in frame["extra"][0]


@needs_realdata
def test_real_liaoning_json_and_csv_agree() -> None:
    folder = REALDATA / "liaoning"
    as_json, info = read((folder / "liaoning_province_catalog_sample_government_data.json").read_bytes(), "json")
    as_csv, _ = read((folder / "liaoning_province_catalog_sample.csv").read_bytes())
    check_frame(as_json)
    assert len(as_json) == len(as_csv) == 30
    assert info["columns"] == {"code": "职权编码", "name": "事项名称", "power_type": "事项类型", "legal_basis": "依据"}
    assert as_json["name_raw"].tolist() == as_csv["name_raw"].tolist()
    assert as_json["legal_basis"].tolist() == as_csv["legal_basis"].tolist()  # multi-line cells intact
    assert as_csv["row_no"].tolist()[:4] == [2, 8, 11, 13]  # the line each record starts on
    assert as_json["code_raw"][0] == "210973001000"


def test_bundled_sample_sources_and_their_bad_rows() -> None:
    manifest = tomllib.loads((SAMPLE / "sources.toml").read_text(encoding="utf-8"))
    flagged = {}
    for source in manifest["source"]:
        path = SAMPLE / source["path"]
        frame, _ = read_rows(path.read_bytes(), source_id=source["id"], fmt=path.suffix[1:])
        check_frame(frame)
        assert frame["name_raw"].notna().sum() >= len(frame) - 3, source["id"]
        for _, row in frame[frame["row_errors"].map(len) > 0].iterrows():
            flagged[(row["source_id"], row["sheet"], row["row_no"])] = row["row_errors"]
    bad = pd.read_csv(SAMPLE / "bad_rows.csv", dtype=str, keep_default_na=False)
    structural = bad[bad["kind"].isin(["formula", "ragged"])]
    assert set(flagged) == {(r.source_id, r.sheet, int(r.row_no)) for r in structural.itertuples()}


# ---- properties ----------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2000), fmt=st.sampled_from(["csv", "xlsx", "xls", "json", "jsonl"]))
def test_random_bytes_only_ever_raise_source_read_error(data: bytes, fmt: str) -> None:
    _check_any_input(data, fmt)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from('事项名称类型,;"\n\r\t |{}[]:1a 　'), max_size=300),
    fmt=st.sampled_from(["csv", "json", "jsonl"]),
)
def test_random_text_only_ever_raises_source_read_error(text: str, fmt: str) -> None:
    _check_any_input(("事项名称,类型\n" if fmt == "csv" else "") + text, fmt)


def _check_any_input(data: bytes | str, fmt: str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    try:
        frame, _ = read(raw, fmt)
    except SourceReadError as exc:
        assert str(exc)
        return
    check_frame(frame)
    assert len(frame) > 0
    assert (frame["row_no"] >= 1).all()


CELL = st.text(alphabet=st.sampled_from('许可处罚 　,;"\n\t|甲乙12x'), max_size=8)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=12),
    fmt=st.sampled_from(["csv", "csv-gb18030", "json", "jsonl", "xlsx"]),
)
def test_every_non_blank_row_comes_back_once(rows: list[list[str]], fmt: str) -> None:
    header = ["事项名称", "实施主体", "备注"]
    if fmt.startswith("csv"):
        data = csv_bytes([header, *rows], "gb18030" if fmt.endswith("gb18030") else "utf-8")
    elif fmt == "json":
        data = json.dumps([dict(zip(header, r, strict=True)) for r in rows], ensure_ascii=False).encode()
    elif fmt == "jsonl":
        data = "\n".join(json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False) for r in rows).encode()
    else:

        def build(wb):
            ws = wb.create_sheet("S")
            for r in [header, *rows]:
                ws.append(r)

        data = xlsx_bytes(build)
    expected = [r for r in rows if any(c.strip() for c in r)]
    try:
        frame, _ = read(data, fmt.split("-")[0])
    except SourceReadError as exc:
        assert not expected and "no data rows" in str(exc)
        return
    check_frame(frame)
    assert len(frame) == len(expected)
    assert frame["row_errors"].map(len).sum() == 0
    assert frame["name_raw"].tolist() == [r[0].strip() or None for r in expected]
    assert frame["row_no"].is_monotonic_increasing and (frame["row_no"] >= 1).all()


# ---- the fast xlsx reader gives what openpyxl gives ----------------------------------------------------------------

XLSX_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XLSX_HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>序号</t></is></c><c r="B1" t="s"><v>0</v></c>'
    '<c r="C1" t="str"><v>事项类型</v></c><c r="D1" t="inlineStr"><is><t>实施主体</t></is></c></row>'
)
# sheetData bodies (after the header row) and what follows </sheetData>
XLSX_SHEETS = {
    "plain": '<row r="2"><c r="A2"><v>1</v></c><c r="B2" t="inlineStr"><is><t>许可甲</t></is></c></row>',
    "no_refs": (
        '<row><c><v>1</v></c><c t="inlineStr"><is><t>许可乙</t></is></c></row><row><c/><c t="s"><v>1</v></c></row>'
    ),
    "types": (
        '<row r="2"><c r="A2" t="b"><v>1</v></c><c r="B2" t="str"><v>名称</v></c><c r="C2" t="e"><v>#N/A</v></c>'
        '<c r="D2" t="d"><v>2024-02-03T04:05:06</v></c></row><row r="3"><c r="A3" t="b"><v>0</v></c>'
        '<c r="B3" t="s"><v>2</v></c><c r="C3" t="e"/><c r="D3" t="x"><v>奇</v></c></row>'
        '<row r="4"><c r="A4"><v></v></c><c r="B4" t="s"><v>-1</v></c><c r="C4" t="inlineStr"><v>忽略</v></c>'
        '<c r="D4" t="inlineStr"><is><t/></is></c></row>'
    ),
    "numbers_and_dates": (
        '<row r="2"><c r="A2"><v>1E5</v></c><c r="B2" t="str"><v>名称</v></c><c r="C2"><v>007</v></c>'
        '<c r="D2" s="1"><v>45000.25</v></c></row><row r="3"><c r="A3"><v>-0</v></c><c r="B3" t="str"><v>名称2</v></c>'
        '<c r="C3" s="1"><v>0.5</v></c><c r="D3" s="1"><v>1e10</v></c></row>'
        '<row r="4"><c r="A4" s="2"><v>1.25</v></c><c r="B4" t="str"><v>名称3</v></c>'
        '<c r="C4" s="1"><v>59</v></c></row>'
    ),
    "escapes_and_line_ends": (
        '<row r="2"><c r="A2"><v>1</v></c><c r="B2" t="inlineStr"><is><t>A&amp;B &lt;c&gt; &#x4E2D;&#12345;&quot;</t>'
        '</is></c><c r="C2" t="str"><v>x&#13;y\r\nz\rw</v></c><c r="D2" t="inlineStr"><is><t xml:space="preserve">'
        "  前后空格  </t></is></c></row>"
    ),
    "attribute_orders": (
        '<row r="2"><c t="n" r="A2"><v>1</v></c><c r="B2" t="str" s="0"><v>名称</v></c><c r="C2" cm="1" t="str">'
        "<v>多属性</v></c></row><row r='3'><c r='A3'><v>2</v></c><c r='B3' t='inlineStr'><is><t>单引号</t></is></c>"
        '<c r = "C3"  t = "s" ><v>1</v></c><c r="&#68;3" t="&#115;"><v>1</v></c>'
        "</row>"
    ),
    "rows": (
        '<row r="2" ht="25" customHeight="1"><c r="A2"><v>1</v></c><c r="B2" t="str"><v>名称</v></c></row>'
        '<row r="3" spans="1:2"/><row r="4" hidden="1"><c r="A4"><v>2</v></c><c r="B4" t="str"><v>隐藏行</v></c></row>'
        '<row><c><v>3</v></c><c t="str"><v>无行号</v></c></row><row r="7.0"><c><v>4</v></c></row>\n  '
        '<row r="8"><c r="A8"><v>5</v></c><c r="B8" t="str"><v>重复</v></c><c r="B8" t="str"><v>覆盖</v></c></row>'
    ),
    "formulas_and_rich_text": (
        '<row r="2"><c r="A2"><f>1+1</f><v>2</v></c><c r="B2" t="str"><v>名称</v></c>'
        '<c r="C2"><f t="shared" ref="C2:C4" si="0">A2*2</f><v>4</v></c></row>'
        '<row r="3"><c r="A3"><v>3</v></c><c r="B3" t="inlineStr"><is><r><t>富</t></r><r><rPr><b/></rPr>'
        '<t xml:space="preserve"> 文本</t></r></is></c><c r="C3"><f t="shared" si="0"/><v>6</v></c>'
        '<c r="D3"><f t="array" ref="D3">SUM(A1:A2)</f></c></row>'
        '<row r="4"><c r="A4"><v>4</v></c><c r="B4" t="str"><v>名称3</v></c><c r="C4"><f t="shared" si="0"/></c></row>'
    ),
    "merges_and_hyperlinks": (
        '<row r="2"><c r="A2"><v>1</v></c><c r="B2" t="str"><v>名称</v></c><c r="D2" t="str"><v>局</v></c></row>'
        '<row r="3"><c r="A3"><v>2</v></c><c r="B3" t="str"><v>名称2</v></c><c r="D3" t="str"><v>被合并</v></c></row>',
        '<mergeCells count="2"><mergeCell ref="D2:D3"/><mergeCell ref="F7:G9"/></mergeCells>'
        '<hyperlinks><hyperlink ref="C3" location="Sheet1!A1" display="链接"/></hyperlinks>',
    ),
    "comment_in_sheet_data": '<!-- x --><row r="2"><c r="A2"><v>1</v></c><c r="B2" t="str"><v>名称</v></c></row>',
    # unreadable: openpyxl's error either way
    "bad_style": '<row r="2"><c r="A2" s="99"><v>1</v></c><c r="B2" t="str"><v>名称</v></c></row>',
    "bad_number": '<row r="2"><c r="A2"><v>abc</v></c><c r="B2" t="str"><v>名称</v></c></row>',
    "bad_shared_string": '<row r="2"><c r="A2" t="s"><v>9</v></c><c r="B2" t="str"><v>名称</v></c></row>',
    "malformed": '<row r="2"><c r="A2"><v>1</v></c><c r="B2" t="str"><v>名称</v></row>',
}


def _xlsx_with_sheet_xml(rows: str, tail: str = "", *, excel_like: bool = False) -> bytes:
    """A workbook whose sheet1.xml is replaced (shared strings: 事项名称, 共享乙, 共享丙; style 1 a date)."""
    wb = Workbook()
    ws = wb.active
    ws["A1"] = dt.datetime(2020, 1, 1)
    ws["B1"] = 1.5
    ws["B1"].number_format = "[h]:mm:ss"
    out = io.BytesIO()
    wb.save(out)
    nl = "\r\n" if excel_like else ""
    root = f'<worksheet xmlns="{XLSX_MAIN}"'
    if excel_like:
        root += (
            ' xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac"'
            ' xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"'
        )
        rows = rows.replace('<row r="2"', '<row r="2" spans="1:4" x14ac:dyDescent="0.2"')
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{nl}{root}><dimension ref="A1:D9"/>{nl}'
        f"<sheetData>{nl}{XLSX_HEADER_ROW}{nl}{rows}{nl}</sheetData>{tail}{nl}</worksheet>"
    )
    strings = (
        f'<sst xmlns="{XLSX_MAIN}"><si><t>事项名称</t></si><si><t>共享乙</t></si>'
        "<si><r><t>共享</t></r><r><t>丙</t></r></si></sst>"
    )
    src = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = sheet.encode()
            elif item.filename == "[Content_Types].xml":
                body = body.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                    b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            dst.writestr(item, body)
        dst.writestr("xl/sharedStrings.xml", strings)
    return result.getvalue()


def _openpyxl_built_workbook() -> bytes:
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont
    from openpyxl.comments import Comment
    from openpyxl.utils.datetime import CALENDAR_MAC_1904
    from openpyxl.worksheet.formula import ArrayFormula

    def build(wb):
        wb.epoch = CALENDAR_MAC_1904
        ws = _list_sheet(wb, "许可")
        ws.append([5, CellRichText([TextBlock(InlineFont(b=True), "富文"), "本许可"]), True, 0.1 + 0.2, -0.0])
        ws.append([6, "日期", dt.date(1904, 1, 2), dt.time(8, 15), dt.timedelta(hours=30)])
        ws.append([7, "  空格 名称 ", "=A1+1", ArrayFormula("D11", "=SUM(A1:A2)"), 12345678901234567])
        ws.append([8, "含_x000D_转义\n第二行", "#REF!", 1e20, "x005F_x000D_"])
        ws["C12"].data_type = "e"
        ws["B9"].comment = Comment("注释", "me")
        ws.merge_cells("C13:E14")
        _list_sheet(wb, "旧版").sheet_state = "hidden"
        linked = _list_sheet(wb, "链接")
        linked["B5"].hyperlink = "http://example.com/a"
        linked["E4"].hyperlink = "http://example.com/empty"

    return xlsx_bytes(build)


XLSX_CASES = {
    "openpyxl_built": _openpyxl_built_workbook,
    **{
        name: (lambda body=body: _xlsx_with_sheet_xml(*body) if isinstance(body, tuple) else _xlsx_with_sheet_xml(body))
        for name, body in XLSX_SHEETS.items()
    },
    "excel_like": lambda: _xlsx_with_sheet_xml(XLSX_SHEETS["types"], excel_like=True),
}


@pytest.mark.parametrize("case", sorted(XLSX_CASES))
def test_fast_xlsx_reader_gives_what_openpyxl_gives(case: str) -> None:
    """The fast path and the reference path (openpyxl alone), called side by side as rapidfuzz tests its two."""
    from transforms.ingest.read.workbook import xlsx_tables
    from transforms.ingest.read.xlsx_fast import load_xlsx_fast

    data = XLSX_CASES[case]()

    def tables(fast: bool) -> str:
        try:
            return repr(xlsx_tables(data, fast=fast))
        except SourceReadError as exc:
            return f"SourceReadError: {exc}"

    fast = tables(fast=True)
    unreadable = case.startswith("bad_") or case == "malformed"
    assert (load_xlsx_fast(data) is None) == unreadable  # else openpyxl did the work
    assert fast == tables(fast=False)
    if unreadable:
        assert fast.startswith("SourceReadError: not a readable xlsx workbook")
    else:
        assert "事项名称" in fast


def test_fast_xlsx_reader_reads_plain_sheets_directly() -> None:
    """The regex path (not only ElementTree) is taken for the sheets Excel, WPS and openpyxl write."""
    from transforms.ingest.read.xlsx_fast import SheetXml

    def sheet_xml(data: bytes) -> bytes:
        return zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")

    for case in ("openpyxl_built", "excel_like", "types", "formulas_and_rich_text", "escapes_and_line_ends"):
        assert SheetXml.split(sheet_xml(XLSX_CASES[case]())) is not None, case
    assert SheetXml.split(sheet_xml(XLSX_CASES["comment_in_sheet_data"]())) is None


def _reference_records_table(records: list[tuple[int, object, str | None]]):
    """records_table written record by record and key by key (the union of keys in first-seen order)."""
    from transforms.ingest.read.jsonfile import json_cell, json_kind, value_kind
    from transforms.ingest.read.table import Table

    keys: dict[str, int] = {}
    for _, element, _ in records:
        if isinstance(element, dict):
            for key in element:
                keys.setdefault(str(key), len(keys))
    table = Table(sheet="", rows=[list(keys)], row_nos=[0])
    for i, (row_no, element, error) in enumerate(records, start=1):
        cells = [""] * len(keys)
        if isinstance(element, dict):
            for key, value in element.items():
                cells[keys[str(key)]] = json_cell(value)
                if value is not None and not isinstance(value, str):
                    table.typed.setdefault(i, {})[keys[str(key)]] = value_kind(value)
        elif error is not None:
            table.raw_extra[i] = {"(line)": str(element)}
            table.problems[i] = [(None, f"invalid JSON ({error})")]
        else:
            table.raw_extra[i] = {"(value)": json_cell(element)}
            table.problems[i] = [(None, f"element is {json_kind(element)}, not an object")]
        table.rows.append(cells)
        table.row_nos.append(row_no)
    return table


JSON_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(["事项名称", "编码", "类型", "a", "b"]), JSON_VALUE, max_size=5),
            JSON_VALUE,
            st.lists(JSON_VALUE, max_size=2),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_records_table_equals_the_record_by_record_reference(elements: list) -> None:
    from transforms.ingest.read.jsonfile import records_table

    records = [(i, element, None) for i, element in enumerate(elements, start=1)]
    try:
        table = records_table(iter(records))
    except SourceReadError:
        assert all(not isinstance(e, dict) for e in elements) and all(e is None for e in elements)
        return
    assert repr(table) == repr(_reference_records_table(records))


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_an_html_page_is_named_as_such(fmt: str) -> None:
    """A portal's error or login page served with status 200 as the list: said so, with its title."""
    page = "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>页面不存在 - 四川政务服务网</title></head>"
    with pytest.raises(
        SourceReadError, match=r"this is an HTML page, not a .* its title: '页面不存在 - 四川政务服务网'"
    ):
        read_rows((page + "<body>404</body></html>").encode(), source_id="s", fmt=fmt)


def test_a_csv_mentioning_html_is_still_a_csv() -> None:
    frame, _ = read_rows("事项名称,备注\n<html>标签说明,无\n".encode(), source_id="s", fmt="csv")
    assert len(frame) == 1
