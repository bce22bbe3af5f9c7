"""Lists as governments publish them: an HTML page in GBK, a Word attachment, a PDF printed from the page.

Each fixture is made here from the real 资阳市 list (``data/realdata/sichuan``), and each must give the
names of the CSV, row for row, every row an item or a quarantined row. The PDF is printed by the same
headless Chromium the report tests use, so its fonts produce what real PDFs do (⾷ for 食).
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import docx
import duckdb
import pandas as pd
import pytest

from tests.conftest import REALDATA
from transforms.clean.normalise import normalise_name
from transforms.ingest.read import SourceReadError, read_rows
from transforms.ingest.read.htmlfile import MAX_SPAN
from transforms.publish.report import chromium_command, find_chromium

SOURCE = REALDATA / "sichuan" / "sichuan_ziyang_city_512000_market_regulation_items.csv"
DEPT = "资阳市市场监督管理局"
TITLE = "资阳市市场监督管理局行政审批事项目录"


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    return pd.read_csv(SOURCE, dtype=str)


def _page(source: pd.DataFrame, *, charset: str = "gbk", style: str = "", rowspan: bool = True) -> str:
    """The list as a portal page; ``rowspan``: the department in one cell spanning every row (a print,
    as an attachment is made, has the department per row and no navigation)."""
    rows = "".join(
        f"<tr><td>{r.number}</td><td>{r.item_name}</td><td>{r.item_code}</td>"
        + (f"<td>{DEPT}</td>" if not rowspan else f'<td rowspan="{len(source)}">{DEPT}</td>' if i == 0 else "")
        + "</tr>"
        for i, r in enumerate(source.itertuples())
    )
    return (
        f'<html><head><meta charset="{charset}"><title>资阳市政务服务网</title>{style}</head><body>'
        + ("<table><tr><td>首页</td><td>办事指南</td><td>政务公开</td></tr></table>" if rowspan else "")
        + f'<table><thead><tr><th colspan="4">{TITLE}</th></tr>'
        + "<tr><th>序号</th><th>事项名称</th><th>实施编码</th><th>实施主体</th></tr></thead>"
        + f"<tbody>{rows}</tbody></table><p>主办：资阳市人民政府</p></body></html>"
    )


def _accounted(frame: pd.DataFrame, source: pd.DataFrame) -> None:
    """Every row read is an item or quarantined with its reasons: here all are items."""
    assert len(frame) == len(source)
    assert not frame["row_errors"].map(len).any()


def test_an_html_page_in_gbk(source: pd.DataFrame) -> None:
    data = _page(source).encode("gbk")
    frame, info = read_rows(data, source_id="zy-html", fmt="html")
    assert frame["name_raw"].tolist() == source["item_name"].tolist()
    assert info["encoding"] == "gb18030" and info["sheets"] == ["table 2"]  # the navigation table is skipped
    assert info["header_row"] == {"table 2": 2}  # below the title row spanning the table
    assert set(frame["department"]) == {DEPT}  # the rowspan fills down
    assert frame["row_no"].tolist() == list(range(3, 3 + len(source)))
    _accounted(frame, source)
    # a page that names no charset is detected as any text file is
    plain, info = read_rows(
        _page(source, charset="").replace('<meta charset="">', "").encode(), source_id="z", fmt="html"
    )
    assert plain["name_raw"].tolist() == source["item_name"].tolist() and info["encoding"] == "utf-8"


def test_html_is_still_refused_as_another_format(source: pd.DataFrame) -> None:
    with pytest.raises(SourceReadError, match="this is an HTML page, not a csv file"):
        read_rows(_page(source).encode("gbk"), source_id="z", fmt="csv")


def test_an_html_page_without_the_list_says_so() -> None:
    with pytest.raises(SourceReadError, match="the page has no <table>"):
        read_rows("<html><body><p>页面已迁移</p></body></html>".encode(), source_id="z", fmt="html")
    nav = "<html><body><table><tr><td>首页</td><td>办事指南</td></tr></table></body></html>".encode()
    with pytest.raises(SourceReadError, match="no table of the html file has a header with an item-name column"):
        read_rows(nav, source_id="z", fmt="html")


def test_a_hostile_span_is_bounded() -> None:
    page = (
        "<table><tr><th>序号</th><th>事项名称</th></tr>"
        '<tr><td rowspan="999999999">1</td><td colspan="999999999">甲许可</td></tr></table>'
    )
    frame, _ = read_rows(page.encode(), source_id="z", fmt="html")
    assert frame["name_raw"].tolist() == ["甲许可"] and MAX_SPAN <= 1000


def _document(source: pd.DataFrame, parts: list[slice], *, repeat_header: bool = True) -> bytes:
    document = docx.Document()
    document.add_paragraph(TITLE)  # a title paragraph: not a row
    records = list(source.itertuples())
    for k, part in enumerate(parts):
        chunk = records[part]
        head = 2 if (k == 0 or repeat_header) else 0
        table = document.add_table(rows=head + len(chunk), cols=4)
        if head:
            table.cell(0, 0).merge(table.cell(0, 3)).text = TITLE
            for c, h in enumerate(("序号", "事项名称", "实施编码", "实施主体")):
                table.cell(1, c).text = h
        for i, r in enumerate(chunk, start=head):
            table.cell(i, 0).text, table.cell(i, 1).text, table.cell(i, 2).text = r.number, r.item_name, r.item_code
        table.cell(head, 3).merge(table.cell(head + len(chunk) - 1, 3)).text = DEPT
        document.add_paragraph("（续表）")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_word_attachment_split_over_two_tables(source: pd.DataFrame) -> None:
    frame, info = read_rows(_document(source, [slice(0, 70), slice(70, None)]), source_id="zy-docx", fmt="docx")
    assert frame["name_raw"].tolist() == source["item_name"].tolist()
    assert info["sheets"] == ["table 1", "table 2"] and info["header_row"] == {"table 1": 2, "table 2": 2}
    assert set(frame["department"]) == {DEPT}  # the vertically merged cell fills down
    # rows are numbered as in the document: the second table starts again below its own header
    assert frame["row_no"].tolist()[68:72] == [71, 72, 3, 4]
    _accounted(frame, source)


def test_a_table_word_split_without_its_header_carries_on(source: pd.DataFrame) -> None:
    data = _document(source, [slice(0, 70), slice(70, None)], repeat_header=False)
    frame, info = read_rows(data, source_id="zy-docx", fmt="docx")
    assert frame["name_raw"].tolist() == source["item_name"].tolist() and info["sheets"] == ["table 1"]
    _accounted(frame, source)


def test_a_nested_table_is_refused_by_position() -> None:
    document = docx.Document()
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "事项名称"
    table.cell(1, 0).add_table(rows=1, cols=1)
    out = io.BytesIO()
    document.save(out)
    with pytest.raises(SourceReadError, match="table 1 row 2: a table nested in a cell"):
        read_rows(out.getvalue(), source_id="z", fmt="docx")


def test_not_a_document_is_refused() -> None:
    with pytest.raises(SourceReadError, match=r"not a \.docx document"):
        read_rows(b"PK\x03\x04 broken", source_id="z", fmt="docx")
    with pytest.raises(SourceReadError, match="old binary Word/WPS"):
        read_rows(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, source_id="z", fmt="docx")


def test_kangxi_radicals_from_pdf_fonts_normalise_away() -> None:
    assert normalise_name("⾷品⽣产许可（婴幼⼉配⽅⾷品）") == normalise_name("食品生产许可（婴幼儿配方食品）")


# ---- PDF (printed by headless Chromium) --------------------------------------------------------------


def _print_pdf(tmp_path: Path, html: str) -> bytes:
    browser = find_chromium()
    if browser is None:
        pytest.fail("chromium not found: run `make browser`")
    tmp_path.mkdir(parents=True, exist_ok=True)
    page = tmp_path / "list.html"
    page.write_text(html, encoding="utf-8")
    pdf = tmp_path / "list.pdf"
    command = chromium_command(browser, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    subprocess.run([*command, page.as_uri()], capture_output=True, timeout=120, check=True)
    return pdf.read_bytes()


_PRINT = (
    "<style>table{border-collapse:collapse}td,th{border:1px solid #000;font-size:11px}tr{break-inside:avoid}</style>"
)


@pytest.mark.slow
def test_a_pdf_printed_over_several_pages(source: pd.DataFrame, tmp_path: Path) -> None:
    data = _print_pdf(tmp_path, _page(source, charset="utf-8", style=_PRINT, rowspan=False))
    frame, info = read_rows(data, source_id="zy-pdf", fmt="pdf")
    assert info["sheets"] == ["table 1"]
    # the fonts write some characters as Kangxi radicals (⾷ for 食): the names agree once normalised
    assert [normalise_name(n) for n in frame["name_raw"]] == [normalise_name(n) for n in source["item_name"]]
    assert frame["name_raw"].str.contains("⾷").any()
    _accounted(frame, source)


@pytest.mark.slow
def test_a_scanned_pdf_is_refused_with_what_to_do(tmp_path: Path) -> None:
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    data = _print_pdf(tmp_path, f'<html><body><img src="data:image/png;base64,{pixel}" width="600"></body></html>')
    with pytest.raises(SourceReadError, match="no text layer: a scanned PDF; OCR it or get the Word/Excel original"):
        read_rows(data, source_id="z", fmt="pdf")


@pytest.mark.slow
def test_a_run_reads_the_page_the_attachment_and_the_print(prefect_api, source: pd.DataFrame, tmp_path: Path) -> None:
    from flows.pipeline import powerlists_run

    (tmp_path / "list.html").write_bytes(_page(source).encode("gbk"))
    (tmp_path / "list.docx").write_bytes(_document(source, [slice(0, 70), slice(70, None)]))
    (tmp_path / "print.pdf").write_bytes(
        _print_pdf(tmp_path / "print", _page(source, charset="utf-8", style=_PRINT, rowspan=False))
    )
    entries = [("zy-html", "list.html", "2024-01-01"), ("zy-docx", "list.docx", "2024-02-01")]
    entries.append(("zy-pdf", "print.pdf", "2024-03-01"))
    manifest = tmp_path / "sources.toml"
    manifest.write_text(
        "".join(
            f'[[source]]\nid = "{sid}"\njurisdiction = "512000"\npath = "{path}"\npublished = {day}\n\n'
            for sid, path, day in entries
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    powerlists_run(manifest=str(manifest), out=str(out))
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert {i["id"]: (i["rows_read"], i["items"], i["quarantined"]) for i in run["inputs"]} == {
        sid: (len(source), len(source), 0) for sid, _, _ in entries
    }
    names = duckdb.sql(
        f"select source_id, list(name_norm order by sheet, row_no) from read_parquet('{out}/items/**/*.parquet', "
        "hive_partitioning=true) group by 1"
    ).fetchall()
    assert len({tuple(n) for _, n in names}) == 1  # three publications, one list
