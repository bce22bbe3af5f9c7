"""Cross-level matching: each stage, the tricky real names, the link rules as properties, quality floors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from synthetic.evaluate import score_links
from tests.conftest import bench_eval
from transforms.clean.normalise import normalise_name, split_sub_item
from transforms.ingest.jurisdictions import Jurisdiction, Registry
from transforms.link.candidates import CharIndex, similar_cores
from transforms.link.match import DEFAULT_THRESHOLD, link_items
from transforms.link.names import groups_compatible, name_features, power_group, strip_department_prefix
from transforms.publish.schema import LINKS, POWER_TYPES

REPO = Path(__file__).resolve().parent.parent

# 四川省 → 资阳市 → 雁江区, plus a second county of the same city
REGISTRY = Registry(
    {
        "000000": Jurisdiction("000000", "全国", "national", None),
        "510000": Jurisdiction("510000", "四川省", "province", "000000"),
        "512000": Jurisdiction("512000", "资阳市", "city", "510000"),
        "512002": Jurisdiction("512002", "雁江区", "county", "512000"),
        "512021": Jurisdiction("512021", "安岳县", "county", "512000"),
    }
)
CITY, COUNTY, PROVINCE = "512000", "512002", "510000"


def make_items(rows: list[dict]) -> pd.DataFrame:
    """Items as the pipeline gives them; ``name`` is normalised and split like ``normalise`` does."""
    out = []
    counters: dict[str, int] = {}
    for row in rows:
        jur = row["jur"]
        counters[jur] = counters.get(jur, 0) + 1
        name_norm = normalise_name(row["name"])
        if row.get("sub_item"):
            main, sub = name_norm, normalise_name(row["sub_item"])
        else:
            main, sub = split_sub_item(name_norm)
        out.append(
            {
                "item_id": row.get("item_id", f"{jur}-{counters[jur]:03d}"),
                "source_id": f"{jur}-v1",
                "jurisdiction_code": jur,
                "level": REGISTRY[jur].level,
                "name_norm": name_norm,
                "main_name": main,
                "sub_item": sub,
                "power_type": row.get("type", "行政许可"),
                "power_type_inferred": row.get("inferred", False),
                "base_code": row.get("code"),
                "department": row.get("dept"),
                "legal_basis": row.get("basis"),
                "status": "保留",
            }
        )
    return pd.DataFrame(out)


def links_of(rows: list[dict], **kwargs) -> pd.DataFrame:
    return link_items(make_items(rows), REGISTRY, **kwargs).to_pandas()


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["child_item_id"], frame["parent_item_id"], strict=True))


# --------------------------------------------------------------------------------------------------
# output shape


def test_empty_and_schema() -> None:
    assert link_items(pd.DataFrame(), REGISTRY).schema == LINKS
    only_city = make_items([{"jur": CITY, "name": "公司设立登记"}])
    assert link_items(only_city, REGISTRY).num_rows == 0
    table = link_items(
        make_items([{"jur": CITY, "name": "公司设立登记"}, {"jur": COUNTY, "name": "公司设立登记"}]), REGISTRY
    )
    assert table.schema == LINKS
    assert table.num_rows == 1


def test_every_ancestor_gets_its_own_link_and_level_pair() -> None:
    frame = links_of(
        [
            {"jur": PROVINCE, "name": "公司设立登记", "item_id": "p1"},
            {"jur": CITY, "name": "公司设立登记", "item_id": "c1"},
            {"jur": COUNTY, "name": "公司设立登记", "item_id": "k1"},
        ]
    )
    got = {(r.child_item_id, r.parent_item_id, r.level_pair, r.parent_jurisdiction) for r in frame.itertuples()}
    assert got == {
        ("c1", "p1", "city>province", PROVINCE),
        ("k1", "c1", "county>city", CITY),
        ("k1", "p1", "county>province", PROVINCE),
    }
    assert list(frame["child_item_id"]) == sorted(frame["child_item_id"])


def test_threshold_is_checked() -> None:
    with pytest.raises(ValueError, match="threshold"):
        link_items(make_items([{"jur": CITY, "name": "x"}]), REGISTRY, threshold=1.5)


# --------------------------------------------------------------------------------------------------
# stage 1/3: codes


def test_code_stage_links_same_basic_code_whatever_the_names() -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "食品经营许可新办审批", "code": "511A0005200004", "item_id": "c"},
            {"jur": CITY, "name": "食品经营许可延续审批", "code": "511A0005200005", "item_id": "c2"},
            {"jur": COUNTY, "name": "食品（含保健食品）经营许可核发", "code": "511A0005200004", "item_id": "k"},
        ]
    )
    row = frame.set_index("child_item_id").loc["k"]
    assert (row.parent_item_id, row.method, row.score) == ("c", "code", 1.0)
    assert "511A0005200004" in row.reason


def test_code_collision_in_parent_list_takes_the_closest_name() -> None:
    # the real 资阳 list gives 非公司企业法人注销登记 and 非公司企业法人分支机构注销登记 the same code
    frame = links_of(
        [
            {"jur": CITY, "name": "非公司企业法人分支机构注销登记", "code": "511A0064100063", "item_id": "c86"},
            {"jur": CITY, "name": "非公司企业法人注销登记", "code": "511A0064100063", "item_id": "c83"},
            {"jur": COUNTY, "name": "非公司企业法人注销登记", "code": "511A0064100063", "item_id": "k"},
        ]
    )
    assert pairs(frame) == {("k", "c83")}


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("51201200200201", "512012002002"),  # a 办理项 code extends its main item's code
        ("许可-00977-001", "许可-00977-000"),  # Zhejiang: sub-item 001 of main item 000
        ("许可-00977-001", "许可-00977"),  # ... or of the bare main code
        ("510109073001", "510109073000"),  # 12-digit national catalogue: 3-digit sub-item segment
    ],
)
def test_code_hierarchy(child: str, parent: str) -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "建设工程消防验收", "code": parent, "item_id": "c"},
            {"jur": COUNTY, "name": "建设工程消防验收（变更）", "code": child, "item_id": "k"},
        ]
    )
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row.parent_item_id, row.method) == ("c", "code")
    assert 0.95 <= row.score < 1.0


def test_code_hierarchy_is_not_used_against_the_names() -> None:
    # the codes say sub-item of main, but the parent is a sibling 办理项 by name: no code link
    frame = links_of(
        [
            {"jur": CITY, "name": "建设工程消防验收（注销）", "code": "许可-00977-000", "item_id": "c"},
            {"jur": COUNTY, "name": "建设工程消防验收（变更）", "code": "许可-00977-001", "item_id": "k"},
        ]
    )
    assert frame.empty


def test_exact_sub_item_beats_code_hierarchy() -> None:
    # a child whose own 办理项 is listed above by name belongs there, even with a broken code
    frame = links_of(
        [
            {"jur": CITY, "name": "建设工程消防验收", "code": "许可-00977-000", "item_id": "main"},
            {"jur": CITY, "name": "建设工程消防验收（变更）", "code": "许可-00977-002", "item_id": "sub"},
            {"jur": COUNTY, "name": "建设工程消防验收（变更）", "code": "许可-00977-901", "item_id": "k"},
        ]
    )
    assert pairs(frame) == {("k", "sub")}


# --------------------------------------------------------------------------------------------------
# stage 2: exact


def test_exact_stage_same_name_and_bracket_or_column_sub_item() -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "无线电频率使用许可（变更）", "item_id": "c"},
            {"jur": COUNTY, "name": "无线电频率使用许可", "sub_item": "变更", "item_id": "k"},
            {"jur": "512021", "name": "無線電頻率使用許可(變更)", "item_id": "k2"},
        ]
    )
    assert pairs(frame) == {("k", "c"), ("k2", "c")}
    assert set(frame["method"]) == {"exact"}
    assert set(frame["score"]) == {1.0}


def test_no_link_across_incompatible_types() -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "建筑工地扬尘治理", "type": "行政处罚", "item_id": "c"},
            {"jur": COUNTY, "name": "建筑工地扬尘治理", "type": "行政许可", "item_id": "k"},
        ]
    )
    assert frame.empty


def test_types_of_the_general_group_may_link() -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "第二类医疗器械经营备案", "type": "其他行政权力", "item_id": "c"},
            {"jur": COUNTY, "name": "第二类医疗器械经营备案", "type": "行政许可", "item_id": "k"},
        ]
    )
    assert pairs(frame) == {("k", "c")}
    assert "type 行政许可≈其他行政权力" in frame["reason"].iloc[0]


def test_power_groups() -> None:
    assert power_group("行政许可", "对违反《公路法》行为的处罚") == power_group("行政处罚", "x")
    assert power_group("行政许可", "建设工程消防验收") == power_group("其他行政权力", "x")
    assert power_group("行政征收", "对个人所得税的监督检查", inferred=True) == power_group("行政检查", "x")
    wildcard = power_group("其他行政权力", "建设工程消防验收", inferred=True)
    assert groups_compatible(np.array([wildcard]), np.array([power_group("行政处罚", "x")]))[0]


# --------------------------------------------------------------------------------------------------
# stage 4: fuzzy, and the names that make it hard


def test_canonical_core_folds_punishment_wordings_department_prefix_and_numbering() -> None:
    cores = {
        name_features(strip_department_prefix(normalise_name(n))).core
        for n in (
            "对违反《中华人民共和国公路法》的处罚",
            "对违反《中华人民共和国公路法》行为的处罚",
            "对违反《中华人民共和国公路法》的行政处罚",
            "3、对违反〈中华人民共和国公路法〉行为的行政处罚",
            "县交通运输局：对违反《中华人民共和国公路法》行为的处罚",
            "市交通运输局对违反《中华人民共和国公路法》的处罚",
        )
    }
    assert len(cores) == 1
    assert strip_department_prefix("区残联：残疾儿童康复训练咨询服务") == "残疾儿童康复训练咨询服务"
    assert strip_department_prefix("县公安局户口登记", "县公安局") == "户口登记"
    assert strip_department_prefix("市场主体迁移调档") == "市场主体迁移调档"  # 市场 is no place


def test_punishment_variants_and_department_prefix_link() -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "对违反《中华人民共和国公路法》的处罚", "type": "行政处罚", "item_id": "c"},
            {
                "jur": COUNTY,
                "name": "县交通运输局：对违反《中华人民共和国公路法》行为的行政处罚",
                "type": "行政处罚",
                "item_id": "k",
            },
        ]
    )
    assert pairs(frame) == {("k", "c")}
    row = frame.iloc[0]
    assert row.method == "fuzzy"
    assert row.reason.startswith("name 1.00 (+0.62), main name agrees")


def test_radio_licence_sub_items_real_names() -> None:
    """无线电频率使用许可（新申请） vs its (变更) and (非法人企业变更) 办理项: siblings never link."""
    siblings_only = links_of(
        [
            {"jur": CITY, "name": "无线电频率使用许可（变更）", "item_id": "c1"},
            {"jur": CITY, "name": "无线电频率使用许可（非法人企业变更）", "item_id": "c2"},
            {"jur": COUNTY, "name": "无线电频率使用许可（新申请）", "item_id": "k"},
        ]
    )
    assert siblings_only.empty
    # when the parent lists the main item, every 办理项 links to it (many-to-one) ...
    with_main = links_of(
        [
            {"jur": CITY, "name": "无线电频率使用许可", "item_id": "main"},
            {"jur": CITY, "name": "无线电频率使用许可（非法人企业变更）", "item_id": "c2"},
            {"jur": COUNTY, "name": "无线电频率使用许可（新申请）", "item_id": "k1"},
            {"jur": COUNTY, "name": "无线电频率使用许可（变更）", "item_id": "k2"},
            {"jur": COUNTY, "name": "无线电频率使用许可注销", "item_id": "k3"},
        ]
    )
    assert pairs(with_main) == {("k1", "main"), ("k2", "main"), ("k3", "main")}
    assert all("of the parent's main item" in r for r in with_main["reason"])
    # ... and to the same 办理项 when the parent lists it
    with_sub = links_of(
        [
            {"jur": CITY, "name": "无线电频率使用许可", "item_id": "main"},
            {"jur": CITY, "name": "无线电频率使用许可（新申请）", "item_id": "new"},
            {"jur": COUNTY, "name": "无线电频率使用许可新申请", "item_id": "k"},
        ]
    )
    assert pairs(with_sub) == {("k", "new")}


def test_child_main_item_does_not_link_to_parent_sub_items() -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "客运车辆道路运输证办理（注销）", "item_id": "c1"},
            {"jur": CITY, "name": "客运车辆道路运输证办理（变更）", "item_id": "c2"},
            {"jur": COUNTY, "name": "客运车辆道路运输证办理", "item_id": "k"},
        ]
    )
    assert frame.empty


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("执业药师延续注册", "执业药师变更注册"),  # handling words differ
        ("第一类医疗器械产品备案补证", "第一类医疗器械产品备案变更"),
        ("拖拉机/联合收割机驾驶证转入", "拖拉机/联合收割机驾驶证转出"),
        ("教练车备案证办理（过户）", "教练车备案证办理（转出）"),
        ("第三类医疗器械经营备案", "第二类医疗器械经营备案"),  # a grade differs
        ("重大事故隐患的排查和处理情况的许可证核发", "重大事故隐患的排查和处理情况的许可证核发（新申请）"),
        ("河道管理范围内有关活动审批", "河道管理范围内有关活动（不含河道采砂）审批"),  # parent more specific
        ("食品（含保健食品）经营许可变更住所", "食品经营许可变更审批"),  # one of several 变更 details
        ("拖拉机/联合收割机注销抵押登记", "拖拉机/联合收割机抵押登记"),  # 注销 inside the name: no 办理项
        ("巡游出租汽车道路运输证核发（换发）", "巡游出租汽车道路运输证核发（新增）"),  # sibling 办理项
        ("食品添加剂生产许可变更生产地址（同址变更）", "食品添加剂生产许可变更生产地址（减少）"),
    ],
)
def test_siblings_and_more_specific_parents_do_not_link(child: str, parent: str) -> None:
    assert links_of([{"jur": CITY, "name": parent}, {"jur": COUNTY, "name": child}]).empty


def test_real_sichuan_sub_item_synonyms_link() -> None:
    """District 食品（含保健食品）经营许可核发/延续 ↔ city 食品经营许可新办审批/延续审批 (same basic code)."""
    frame = links_of(
        [
            {"jur": CITY, "name": "食品经营许可新办审批", "item_id": "new"},
            {"jur": CITY, "name": "食品经营许可延续审批", "item_id": "renew"},
            {"jur": CITY, "name": "食品经营许可注销审批", "item_id": "cancel"},
            {"jur": COUNTY, "name": "食品（含保健食品）经营许可核发", "item_id": "k1"},
            {"jur": COUNTY, "name": "食品（含保健食品）经营许可延续", "item_id": "k2"},
            {"jur": COUNTY, "name": "食品（含保健食品）经营许可换发", "item_id": "k3"},
        ]
    )
    assert pairs(frame) == {("k1", "new"), ("k2", "renew")}


def test_level_words_and_duplicates_in_a_child_list() -> None:
    # a county's 县级X is the city's 市级X; two spellings of one item in one list both link (many-to-one)
    frame = links_of(
        [
            {"jur": CITY, "name": "市级文物保护单位修缮许可", "item_id": "c1"},
            {"jur": CITY, "name": "省内调运林草植物检疫证书新办核发", "item_id": "c2"},
            {"jur": COUNTY, "name": "县级文物保护单位修缮许可", "item_id": "k1"},
            {"jur": COUNTY, "name": "省内调运林草植物检疫证书新办核发", "item_id": "k2"},
            {"jur": COUNTY, "name": "省内调运林草植物检疫证书新办核发（县级权限）", "item_id": "k3"},
        ]
    )
    assert pairs(frame) == {("k1", "c1"), ("k2", "c2"), ("k3", "c2")}


def test_one_to_one_preference_among_equals() -> None:
    # the county lists both; the city only 公司设立登记: 分公司设立登记 must not take it as well
    frame = links_of(
        [
            {"jur": CITY, "name": "公司设立登记", "item_id": "c"},
            {"jur": COUNTY, "name": "公司设立登记", "item_id": "k1"},
            {"jur": COUNTY, "name": "分公司设立登记", "item_id": "k2"},
        ],
        threshold=0.5,
    )
    assert pairs(frame) == {("k1", "c")}


def test_typo_links_by_one_character_but_two_differences_do_not() -> None:
    frame = links_of(
        [
            {"jur": CITY, "name": "城乡居民基本养老保险参保信息查询", "type": "公共服务", "item_id": "c1"},
            {"jur": CITY, "name": "网络预约出租汽车经营许可", "item_id": "c2"},
            {"jur": COUNTY, "name": "城乡居民基本养老保险信息查询", "type": "公共服务", "item_id": "k1"},
            {"jur": COUNTY, "name": "网络预约出租汽车经许可", "item_id": "k2"},
        ]
    )
    assert pairs(frame) == {("k2", "c2")}
    assert "one character off" in frame["reason"].iloc[0]


def test_reason_lists_department_and_basis_contributions() -> None:
    frame = links_of(
        [
            {
                "jur": CITY,
                "name": "公章刻制业特种行业许可",
                "dept": "市公安局",
                "basis": "《印铸刻字业暂行管理规则》第三条",
            },
            {
                "jur": COUNTY,
                "name": "公章刻制业特种业许可",
                "dept": "县公安局",
                "basis": "《印铸刻字业暂行管理规则》第三条",
            },
        ]
    )
    reason = frame["reason"].iloc[0]
    assert "department agrees (+0.05)" in reason
    assert "legal basis 1.00 (+0.03)" in reason
    assert 0.0 <= frame["score"].iloc[0] <= 1.0


# --------------------------------------------------------------------------------------------------
# properties


class _Cores:
    """The attributes of ``_Prepared`` that ``similar_cores`` reads, for one block of strings."""

    def __init__(self, queries: list[str], choices: list[str]) -> None:
        self.k_strings = list(dict.fromkeys(queries + choices))
        position = {t: i for i, t in enumerate(self.k_strings)}
        self.k_len = np.array([len(t) for t in self.k_strings], dtype=np.int64)
        self.k_id = np.array([position[t] for t in choices], dtype=np.int64)
        self.jur_code = np.zeros(len(choices), dtype=np.int64)
        self.q_k = np.array([position[t] for t in queries], dtype=np.int64)

    def char_index(self) -> CharIndex:
        return CharIndex(self.k_strings)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.text(alphabet="许可证核发登记备案食品经营的对处罚审批变更", min_size=1, max_size=14), min_size=1, max_size=25
    ),
    st.lists(
        st.text(alphabet="许可证核发登记备案食品经营的对处罚审批变更", min_size=1, max_size=14), min_size=1, max_size=25
    ),
    st.sampled_from([70.0, 85.0, 90.4, 95.0]),
)
def test_character_index_finds_exactly_the_similar_pairs(queries: list[str], choices: list[str], cutoff: float) -> None:
    """Prefix filtering is a filter, not an approximation: it returns every pair ratio ≥ cutoff."""
    cores = _Cores(queries, choices)
    found = similar_cores(cores, np.zeros(len(queries), dtype=np.int64), cores.q_k, cutoff)
    got = {(cores.k_strings[k], cores.k_strings[pk]) for k, pk in zip(found["k"], found["pk"], strict=True)}
    want = {(q, c) for q in queries for c in choices if fuzz.ratio(q, c) >= cutoff - 1e-4}
    assert got == want


NAMES = (
    "公司设立登记",
    "分公司设立登记",
    "执业药师变更注册",
    "执业药师延续注册",
    "无线电频率使用许可",
    "无线电频率使用许可（变更）",
    "无线电频率使用许可（新申请）",
    "对违反《公路法》行为的处罚",
    "对违反《公路法》的行政处罚",
    "第一类医疗器械经营备案",
    "第二类医疗器械经营备案",
    "建设工程消防验收",
    "县住建局：建设工程消防验收",
)
TYPES = ("行政许可", "行政处罚", "行政确认", "其他行政权力", "行政检查")
JURS = (PROVINCE, CITY, COUNTY, "512021")

row_strategy = st.fixed_dictionaries(
    {
        "jur": st.sampled_from(JURS),
        "name": st.sampled_from(NAMES),
        "type": st.sampled_from(TYPES),
        "code": st.one_of(st.none(), st.sampled_from(("许可-00001-000", "许可-00001-001", "许可-00002-000"))),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_strategy, min_size=1, max_size=24), st.randoms(use_true_random=False))
def test_link_rules_hold(rows: list[dict], rnd) -> None:
    items = make_items(rows)
    table = link_items(items, REGISTRY)
    assert table.schema == LINKS
    frame = table.to_pandas()
    # at most one link per child and ancestor; only to ancestors; scores in [0, 1]
    assert not frame.duplicated(["child_item_id", "parent_jurisdiction"]).any()
    jur = dict(zip(items["item_id"], items["jurisdiction_code"], strict=True))
    for r in frame.itertuples():
        assert r.parent_jurisdiction in REGISTRY.ancestors(jur[r.child_item_id])
        assert jur[r.parent_item_id] == r.parent_jurisdiction
        assert 0.0 <= r.score <= 1.0
        assert r.method in ("code", "exact", "fuzzy")
    # never across incompatible types (names here carry no type words but 处罚, which the group honours)
    groups = {
        i: power_group(t, n) for i, t, n in zip(items["item_id"], items["power_type"], items["name_norm"], strict=True)
    }
    for r in frame[frame["method"] != "code"].itertuples():
        a, b = groups[r.child_item_id], groups[r.parent_item_id]
        assert groups_compatible(np.array([a]), np.array([b]))[0]
    # deterministic and independent of row order
    order = list(range(len(items)))
    rnd.shuffle(order)
    again = link_items(items.iloc[order].reset_index(drop=True), REGISTRY)
    assert again.equals(table)


# --------------------------------------------------------------------------------------------------
# quality floors (measured values minus a small margin; see bench/eval.py for the full table)


@pytest.mark.skipif(not (REPO / "data" / "realdata" / "sichuan").exists(), reason="real lists not bundled")
def test_quality_floor_real_sichuan_pair() -> None:
    """Codes stripped; truth = same basic code. Measured: strict P 0.984 R 0.969 F1 0.976 (1 FP is the
    source's own code collision); with colliding codes left out P 1.000 R 0.968 F1 0.984."""
    items, registry, truth, clean = bench_eval().real_sichuan()
    links = link_items(items, registry)
    strict = score_links(links, truth)["overall"]
    assert strict.precision >= 0.98 and strict.f1 >= 0.97, strict
    excluded = pa.array(items.attrs["excluded_items"], pa.string())
    import pyarrow.compute as pc

    kept = links.filter(
        pc.invert(pc.or_(pc.is_in(links["child_item_id"], excluded), pc.is_in(links["parent_item_id"], excluded)))
    )
    cleaned = score_links(kept, clean)["overall"]
    assert cleaned.precision >= 0.99 and cleaned.f1 >= 0.98, cleaned


@pytest.mark.slow
def test_quality_floor_small_synthetic_tree(tmp_path: Path) -> None:
    """generate_tree(seed=0), one province, 2 counties per city: measured F1 ≥ 0.999 with codes, and the
    code links exact; without codes F1 ≥ 0.998."""
    bench = bench_eval()
    from synthetic.generate import generate_tree
    from transforms.ingest.jurisdictions import load_registry

    generate_tree(tmp_path, provinces=1, province_codes=["130000"], counties_per_city=2, items_per_list=150, seed=0)
    registry = load_registry()
    for strip, floor in ((False, 0.995), (True, 0.995)):
        items = bench.manifest_items(tmp_path / "sources.toml", registry, strip_codes=strip)
        truth, missing = bench.truth_from_csv(tmp_path / "truth.csv", items)
        assert missing == 0
        scored = score_links(link_items(items, registry, threshold=DEFAULT_THRESHOLD), truth)
        overall = scored["overall"]
        assert overall.precision >= 0.99 and overall.f1 >= floor, (strip, overall)
        if not strip:
            assert scored["by_method"]["code"]["precision"] == 1.0


def test_power_types_constant_is_the_schema_one() -> None:
    assert len(POWER_TYPES) == 11


def test_the_score_reason_and_cut_off_are_derived_from_the_comparisons() -> None:
    """Splink-style: each comparison adds its part to the score and its words to the reason, and the name
    cut-off assumes every other comparison at its maximum; nothing else knows the list."""
    from transforms.link.candidates import name_cutoff
    from transforms.link.comparisons import COMPARISONS, WEIGHTS

    assert [c.label for c in COMPARISONS] == ["name", "main", "sub", "qualifier", "type", "department", "basis"]
    others = sum(c.max_weight() for c in COMPARISONS if c.label != "name" and c.bounds_name_cutoff)
    assert others == pytest.approx(WEIGHTS.sub + WEIGHTS.type + WEIGHTS.dept + WEIGHTS.basis)
    # a pair whose names are 0.9 similar reaches the threshold only if the name credit does: cut-off below it
    assert 0 < name_cutoff(DEFAULT_THRESHOLD) < 100
    assert name_cutoff(0.99) > name_cutoff(DEFAULT_THRESHOLD)

    rows = [
        {"jur": CITY, "name": "食品经营许可（含保健食品）", "dept": "市市场监管局", "basis": "《食品安全法》第35条"},
        {
            "jur": COUNTY,
            "name": "食品经营许可（保健食品）",
            "dept": "区市场监管局",
            "basis": "《食品安全法》第三十五条",
        },
    ]
    links = links_of(rows, threshold=0.5).to_dict("records")
    fuzzy = [link for link in links if link["method"] == "fuzzy"]
    assert fuzzy, links
    reason = fuzzy[0]["reason"]
    parts = reason.split(", ")
    assert parts[0].startswith("name ") and "main name" in parts[1] and parts[-1].startswith("legal basis")
    added = [float(x) for x in re.findall(r"\(([+-]\d\.\d+)\)", reason)]
    assert sum(added) == pytest.approx(fuzzy[0]["score"], abs=0.011)
