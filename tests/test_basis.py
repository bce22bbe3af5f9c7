"""Legal-basis citation parser: real Liaoning texts, crafted formats, authority rules, robustness."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.examine.basis import (
    AUTHORITIES,
    CITATIONS,
    SCOPES,
    citations_table,
    classify,
    parse_citations,
    parse_citations_strict,
    parse_many,
)

REPO = Path(__file__).resolve().parent.parent
LIAONING = REPO / "data" / "realdata" / "liaoning" / "liaoning_province_catalog_sample_government_data.json"


@pytest.fixture(scope="module")
def liaoning() -> dict[str, str]:
    """事项名称 → 依据 of the 30 real Liaoning catalogue rows (multi-line, tagged, full-width spaces)."""
    rows = json.loads(LIAONING.read_text(encoding="utf-8"))
    return {row["事项名称"]: row["依据"] for row in rows}


def _triples(text: str | None) -> list[tuple[str, str, str | None]]:
    return [(c["instrument"], c["authority"], c["articles"]) for c in parse_citations(text)]


# ------------------------------------------------------------------------------------ real Liaoning rows


def test_patent_dispute_cites_law_and_local_regulation_not_the_laws_quoted_in_the_article(liaoning):
    # 【法律】《专利法》（…《关于修改〈专利法〉的决定》…）\n第六十五条 …依照《行政诉讼法》…
    # 【地方性法规】《辽宁省专利条例》…
    assert _triples(liaoning["专利权侵权纠纷处理"]) == [
        ("中华人民共和国专利法", "法律", "第六十五条"),
        ("辽宁省专利条例", "地方性法规", "第二十二条"),
    ]
    tags = [c["tag"] for c in parse_citations(liaoning["专利权侵权纠纷处理"])]
    assert tags == ["法律", "地方性法规"]


def test_tag_gui_zhang_is_split_by_issuer(liaoning):
    # One cell, two 【规章】: a provincial government order and a ministry order.
    assert _triples(liaoning["建设工程施工合同登记"]) == [
        ("辽宁省建设工程造价管理办法", "地方政府规章", "第十八条"),
        ("房屋建筑和市政基础设施工程施工分包管理办法", "部门规章", "第十条第二款"),
    ]
    scopes = [c["scope"] for c in parse_citations(liaoning["建设工程施工合同登记"])]
    assert scopes == ["local", "national"]


def test_wrong_tags_are_overruled_by_strong_evidence(liaoning):
    # The list tags a provincial 实施方案 (辽政发【2017】33号) and a 财综 document as 【行政法规】.
    cited = {c["instrument"]: c for c in parse_citations(liaoning["采矿权价款的征收(以折股方式缴纳除外)"])}
    assert cited["矿产资源开采登记管理办法"]["authority"] == "行政法规"  # 国务院令第241号
    assert cited["辽宁省矿产资源权益金制度改革实施方案"]["authority"] == "规范性文件"
    assert cited["辽宁省矿产资源权益金制度改革实施方案"]["scope"] == "local"
    assert cited["矿业权出让收益征收管理暂行办法"]["authority"] == "规范性文件"
    assert cited["矿业权出让收益征收管理暂行办法"]["tag"] == "行政法规"  # the raw tag is kept


def test_state_council_decisions_tagged_as_normative_documents(liaoning):
    assert _triples(liaoning["经营性互联网文化单位设立审批"]) == [
        ("国务院对确需保留的行政审批项目设定行政许可的决定", "国务院决定", "附件第193项"),
        ("国务院关于第五批取消和下放管理层级行政审批项目的决定", "国务院决定", None),
    ]


def test_document_number_after_the_closing_bracket(liaoning):
    # 【规范性文件】《残疾退役军人医疗保障办法》退役军人部发〔2022〕3号
    cited = parse_citations(liaoning["优抚对象医疗保障"])
    assert [(c["instrument"], c["authority"], c["scope"]) for c in cited] == [
        ("军人抚恤优待条例", "行政法规", "national"),
        ("残疾退役军人医疗保障办法", "规范性文件", "national"),
        ("优抚对象医疗保障办法", "规范性文件", "national"),
    ]


def test_bare_name_after_tag_and_supplementary_basis(liaoning):
    # 【规章】港口危险货物安全管理规定（中华人民共和国交通运输部令2017年第27号）第五十八条 … 增补依据：【规章】…
    assert _triples(liaoning["应急预案及其修订情况备案（告知性）"]) == [
        ("港口危险货物安全管理规定", "部门规章", "第五十八条"),
        ("港口经营管理规定", "部门规章", "第二十九条"),
    ]


def test_quoted_article_text_is_not_a_citation(liaoning):
    # 第十九条：“各级国家档案馆…按照《中华人民共和国档案法》的有关规定…”
    assert _triples(liaoning["延期向社会开放档案审批"]) == [("中华人民共和国档案法实施办法", "行政法规", "第十九条")]


def test_articles_on_later_lines_attach_to_their_instrument(liaoning):
    triples = _triples(liaoning["经营所得个人所得税月（季）度申报"])
    assert triples == [
        ("中华人民共和国税收征收管理法", "法律", "第二十五条第一款"),
        ("中华人民共和国个人所得税法", "法律", "第二条、第六条"),
        ("中华人民共和国个人所得税法实施条例", "行政法规", "第十五条"),
    ]
    # An article body that mentions 税收征管法第五十一条 on its own line is not a further citation.
    refund = _triples(liaoning["车辆购置税退税"])
    assert [t[0] for t in refund] == [
        "中华人民共和国税收征收管理法",
        "中华人民共和国车辆购置税法",
        "中华人民共和国税收征收管理法实施细则",
    ]
    assert refund[2][2] == "第七十八条、第七十九条"


def test_untagged_short_law_names_and_stray_quotes(liaoning):
    assert _triples(liaoning["对排放污染物的企业事业单位和其他生产经营者进行现场检查"]) == [
        ("环境保护法", "法律", "第二十四条")
    ]
    # The cell is wrapped in stray ASCII quotes.
    penalty = next(k for k in liaoning if k.startswith("对未建立医疗技术临床应用管理专门组织"))
    assert _triples(liaoning[penalty]) == [("医疗技术临床应用管理办法", "部门规章", "第四十一条")]
    # ";1、《军人抚恤优待条例》第三十三条“…”"
    assert _triples(liaoning["义务兵家庭优待金给付"]) == [("军人抚恤优待条例", "行政法规", "第三十三条")]


def test_every_real_row_parses_to_known_authorities(liaoning):
    for name, text in liaoning.items():
        cited = parse_citations(text)
        if "《" in text or "【" in text:
            assert cited, name
        for citation in cited:
            assert citation["authority"] in AUTHORITIES
            assert citation["authority"] != "未知", (name, citation)
            assert citation["scope"] in SCOPES
            assert "《" not in citation["instrument"] and "\n" not in citation["instrument"]


# ------------------------------------------------------------------------------------------ crafted texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "依据《中华人民共和国食品安全法》第三十五条、《食品经营许可管理办法》（国家市场监督管理总局令第17号）第二条",
            [("中华人民共和国食品安全法", "法律", "第三十五条"), ("食品经营许可管理办法", "部门规章", "第二条")],
        ),
        (
            "1.《中华人民共和国药品管理法》第五十一条；2.《沈阳市城市供水用水管理条例》第十条",
            [
                ("中华人民共和国药品管理法", "法律", "第五十一条"),
                ("沈阳市城市供水用水管理条例", "地方性法规", "第十条"),
            ],
        ),
        (
            "中华人民共和国行政许可法第十二条\n中华人民共和国食品安全法第三十五条",
            [("中华人民共和国行政许可法", "法律", "第十二条"), ("中华人民共和国食品安全法", "法律", "第三十五条")],
        ),
        (
            "国务院令第412号《国务院对确需保留的行政审批项目设定行政许可的决定》第101项",
            [("国务院对确需保留的行政审批项目设定行政许可的决定", "国务院决定", "第101项")],
        ),
        (
            "《成都市城市管理综合执法暂行办法》（成都市人民政府令第12号）",
            [("成都市城市管理综合执法暂行办法", "地方政府规章", None)],
        ),
        (
            "《国务院办公厅关于全面实行行政许可事项清单管理的通知》（国办发〔2022〕2号）",
            [("国务院办公厅关于全面实行行政许可事项清单管理的通知", "规范性文件", None)],
        ),
        ("【规章】《四川省行政许可监督检查办法》", [("四川省行政许可监督检查办法", "地方政府规章", None)]),
        ("《关于加强建筑垃圾管理的通知》", [("关于加强建筑垃圾管理的通知", "规范性文件", None)]),
        (
            "《中华人民共和国食品安全法（2021年修正）》第三十五条 第 三十六 条",
            [("中华人民共和国食品安全法", "法律", "第三十五条、第三十六条")],
        ),
        # Same law cited twice: one citation, articles merged.
        ("《城乡规划法》第四十条；《城乡规划法》第四十一条", [("城乡规划法", "法律", "第四十条、第四十一条")]),
        ("违反本法第三条的规定", []),
        ("按照有关规定执行", []),
        # A form named in the article body after a numbering is not an instrument.
        ("第十六条 应当报送下列材料：(一)上年度报告；(二)《远洋渔业企业资格和项目年审登记表》(见附表四)", []),
    ],
)
def test_crafted_formats(text, expected):
    assert _triples(text) == expected


@pytest.mark.parametrize(
    ("name", "trailer", "tag", "authority", "scope"),
    [
        ("中华人民共和国专利法", "", None, "法律", "national"),
        ("全国人民代表大会常务委员会关于修改部分法律的决定", "", None, "法律", "national"),
        ("娱乐场所管理条例", "2006年1月29日国务院令第458号", None, "行政法规", "national"),
        ("娱乐场所管理条例", "", None, "行政法规", "national"),
        ("国务院关于取消一批行政许可事项的决定", "国发〔2017〕46号", None, "国务院决定", "national"),
        ("税务登记管理办法", "国家税务总局令第7号", "规章", "部门规章", "national"),
        ("辽宁省消防条例", "", None, "地方性法规", "local"),
        ("辽宁省建设工程造价管理办法", "辽宁省人民政府令第260号", "规章", "地方政府规章", "local"),
        ("北京市生活垃圾管理条例", "", "地方性法规", "地方性法规", "local"),
        ("广安市户外广告管理办法", "", None, "地方政府规章", "local"),
        ("四川省人民政府关于取消和调整行政审批项目的决定", "川府发〔2015〕3号", None, "规范性文件", "local"),
        ("关于加强管理的意见", "", None, "规范性文件", "unknown"),
        ("涉密信息系统集成资质管理办法", "国保发〔2013〕7号", None, "规范性文件", "national"),
        ("某某表", "", None, "未知", "unknown"),
    ],
)
def test_classify(name, trailer, tag, authority, scope):
    assert classify(name, trailer, tag) == (authority, scope)


def test_tag_is_trusted_when_evidence_is_weak():
    # A suffix alone (…办法 → 部门规章) is weak: the list's 【地方政府规章】 stands.
    assert classify("城市绿化管理办法", "", "地方政府规章") == ("地方政府规章", "local")
    assert classify("城市绿化管理办法", "", None) == ("部门规章", "national")


def test_missing_and_blank_texts():
    for text in (None, "", "   ", "\n\u3000", "无", "【】", "《》", "【2017】"):
        assert parse_citations(text) == []


# ------------------------------------------------------------------------------------------- vectorised


def test_parse_many_expands_rows_and_parses_each_distinct_text_once(monkeypatch):
    import transforms.examine.basis as basis

    calls: list[str] = []
    real = basis.parse_citations

    def counting(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(basis, "parse_citations", counting)
    cell = "《中华人民共和国专利法》第一条；《专利代理条例》第二条"
    out = parse_many(pd.Series([cell, None, "无", cell], dtype=object))
    assert sorted(calls) == sorted([cell, "无"])  # missing cells are not parsed at all
    assert out["row"].tolist() == [0, 0, 3, 3]
    assert out["position"].tolist() == [1, 2, 1, 2]
    assert out["instrument"].tolist() == ["中华人民共和国专利法", "专利代理条例"] * 2


def test_citations_table_schema_and_order():
    items = pd.DataFrame(
        {
            "item_id": ["b", "a", "c"],
            "legal_basis": [
                "【法律】《中华人民共和国专利法》第六十五条",
                "《专利代理条例》第二条；《中华人民共和国专利法》第三条",
                None,
            ],
        }
    )
    table = citations_table(items)
    assert table.schema == CITATIONS
    assert table.to_pydict() == {
        "item_id": ["a", "a", "b"],
        "position": [1, 2, 1],
        "instrument": ["专利代理条例", "中华人民共和国专利法", "中华人民共和国专利法"],
        "authority": ["行政法规", "法律", "法律"],
        "scope": ["national", "national", "national"],
        "articles": ["第二条", "第三条", "第六十五条"],
        "tag": [None, None, "法律"],
    }
    assert citations_table(items.iloc[0:0]).schema == CITATIONS


# --------------------------------------------------------------------------------------------- property

_PIECES = st.sampled_from(
    [
        "【法律】",
        "【规章】",
        "【2017】",
        "《",
        "》",
        "〈",
        "〉",
        "《中华人民共和国行政许可法》",
        "《辽宁省专利条例》",
        "（",
        "）",
        "(",
        ")",
        "第十二条",
        "第",
        "条",
        "款",
        "项",
        "\n",
        "\r\n",
        "\u3000",
        '"',
        "“",
        "”",
        "；",
        "。",
        "、",
        "1.",
        "国务院令第412号",
        "辽政发【2017】33号",
        "依据",
        "办法",
        "条例",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parser_never_raises_on_arbitrary_text(text):
    cited = parse_citations_strict(text)  # without parse_citations' safety net, so a bug would show here
    assert isinstance(cited, list)
    assert parse_citations(text) == cited


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=40).map("".join))
def test_parser_never_raises_on_legal_looking_text(text):
    for citation in parse_citations_strict(text):
        assert set(citation) == {"instrument", "authority", "scope", "articles", "tag"}
        assert citation["authority"] in AUTHORITIES
        assert citation["scope"] in SCOPES
        assert citation["instrument"]
