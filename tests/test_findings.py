"""Cross-level findings: each kind on crafted frames, positive and negative, plus ids, order and schema."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from transforms.clean.items import stable_id
from transforms.examine.findings import BASIS_TEXT_SEVERITY, find_cross_level
from transforms.examine.kinds import KINDS
from transforms.ingest.jurisdictions import Jurisdiction, Registry
from transforms.publish.schema import FINDING_KINDS, FINDINGS, LINKS

# 四川省 > 广安市 (> 广安区 > 浓洲街道, 前锋区, 岳池县) and 南充市; 广东省 > 广州市.
REGISTRY = Registry(
    {
        "000000": Jurisdiction("000000", "全国", "national", None),
        "510000": Jurisdiction("510000", "四川省", "province", "000000"),
        "511600": Jurisdiction("511600", "广安市", "city", "510000"),
        "511602": Jurisdiction("511602", "广安区", "county", "511600"),
        "511603": Jurisdiction("511603", "前锋区", "county", "511600"),
        "511621": Jurisdiction("511621", "岳池县", "county", "511600"),
        "511602001": Jurisdiction("511602001", "浓洲街道", "township", "511602"),
        "511300": Jurisdiction("511300", "南充市", "city", "510000"),
        "440000": Jurisdiction("440000", "广东省", "province", "000000"),
        "440100": Jurisdiction("440100", "广州市", "city", "440000"),
    }
)


def item(item_id: str, code: str, name: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "item_id": item_id,
        "source_id": f"s-{code}",
        "sheet": "",
        "row_no": 2,
        "jurisdiction_code": code,
        "jurisdiction_name": REGISTRY[code].name,
        "level": REGISTRY[code].level,
        "province": REGISTRY.province(code),
        "name_raw": name,
        "name_norm": name,
        "main_name": name,
        "sub_item": None,
        "power_type": "行政许可",
        "code_raw": None,
        "base_code": None,
        "department": "市场监管局",
        "legal_basis": None,
        "responsibility": None,
        "status": "保留",
        "status_raw": None,
        "published": None,
    }
    row.update(extra)
    return row


def link(child: str, parent: str, items: pd.DataFrame, method: str = "exact", score: float = 1.0) -> dict:
    juris = dict(zip(items["item_id"], items["jurisdiction_code"], strict=True))
    levels = dict(zip(items["item_id"], items["level"], strict=True))
    return {
        "child_item_id": child,
        "parent_item_id": parent,
        "child_jurisdiction": juris[child],
        "parent_jurisdiction": juris[parent],
        "level_pair": f"{levels[child]}>{levels[parent]}",
        "method": method,
        "score": score,
        "reason": "test",
    }


def run(rows: list[dict], pairs: list[tuple] = (), **kwargs: object) -> pa.Table:
    """Findings for ``rows``; each pair is (child, parent) or (child, parent, method, score)."""
    items = pd.DataFrame(rows)
    links = pa.Table.from_pylist([link(p[0], p[1], items, *p[2:]) for p in pairs], schema=LINKS)
    return find_cross_level(items, links, REGISTRY, **kwargs)


def of_kind(table: pa.Table, kind: str) -> list[dict]:
    return [r for r in table.to_pylist() if r["kind"] == kind]


# ------------------------------------------------------------------------------ devolved_not_received


def test_devolved_item_missing_in_a_child_list_is_reported_once_per_child() -> None:
    rows = [
        item("m1", "511600", "食品经营许可", status="下放", status_raw="下放至区县"),
        item("k1", "511602", "食品经营许可"),
        item("q0", "511603", "其他事项", power_type="行政处罚"),
    ]
    got = of_kind(run(rows, [("k1", "m1")]), "devolved_not_received")
    # 广安区 received it; 前锋区 has a list without it; 岳池县 has no list and is not blamed.
    assert len(got) == 1
    (f,) = got
    assert (f["item_id"], f["jurisdiction_code"], f["other_item_id"], f["other_jurisdiction_code"]) == (
        "m1",
        "511600",
        None,
        "511603",
    )
    assert f["severity"] == "error"
    assert f["message"] == "广安市 下放的「食品经营许可」在 前锋区 的清单中没有对应事项（权力悬空）"
    assert f["finding_id"] == stable_id("devolved_not_received", "m1", "511603")
    details = json.loads(f["details"])
    assert details["status"] == "下放"
    assert details["status_raw"] == "下放至区县"
    assert details["lower_jurisdiction_name"] == "前锋区"


def test_entrusted_counts_and_kept_items_or_received_ones_do_not() -> None:
    rows = [
        item("m1", "511600", "食品经营许可", status="委托"),
        item("m2", "511600", "药品零售许可", status="保留"),
        item("m3", "511600", "酒类经营许可", status="下放"),
        item("k1", "511602", "酒类经营许可"),
        item("q1", "511603", "酒类经营许可"),
    ]
    got = of_kind(run(rows, [("k1", "m3"), ("q1", "m3")]), "devolved_not_received")
    assert sorted((f["item_id"], f["other_jurisdiction_code"]) for f in got) == [
        ("m1", "511602"),
        ("m1", "511603"),
    ]
    assert got[0]["message"].startswith("广安市 委托的「食品经营许可」")


def test_devolved_to_a_grandchild_is_not_expected_of_it() -> None:
    # Only direct children are blamed: a township list does not answer for its county's city.
    rows = [item("m1", "511600", "食品经营许可", status="下放"), item("t1", "511602001", "别的事项")]
    assert of_kind(run(rows), "devolved_not_received") == []


def test_received_below_the_child_counts_for_the_child() -> None:
    # 四川省 devolves to counties: 广安区 links to the province item, so 广安市 is not blamed; 南充市 is.
    rows = [
        item("p1", "510000", "食品经营许可", status="下放"),
        item("m0", "511600", "别的事项", power_type="行政处罚"),
        item("n0", "511300", "别的事项", power_type="行政处罚"),
        item("k1", "511602", "食品经营许可"),
    ]
    got = of_kind(run(rows, [("k1", "p1")]), "devolved_not_received")
    assert [(f["item_id"], f["other_jurisdiction_code"]) for f in got] == [("p1", "511300")]
    assert got[0]["message"] == "四川省 下放的「食品经营许可」在 南充市 的清单中没有对应事项（权力悬空）"


# ------------------------------------------------------------------------------------- no_upper_basis


def test_local_licence_without_upper_counterpart() -> None:
    rows = [
        item("p1", "510000", "食品经营许可"),
        item("m1", "511600", "食品经营许可"),
        item("k1", "511602", "食品经营许可"),
        item("k2", "511602", "自设的许可"),
        item("k3", "511602", "对某行为的处罚", power_type="行政处罚"),
        item("k4", "511602", "已取消的许可", status="取消"),
    ]
    got = of_kind(run(rows, [("k1", "m1"), ("m1", "p1")]), "no_upper_basis")
    assert [f["item_id"] for f in got] == ["k2"]
    (f,) = got
    assert f["severity"] == "warning"
    assert f["other_item_id"] is None
    assert f["other_jurisdiction_code"] == "511600"
    assert f["message"] == "广安区 的行政许可「自设的许可」在上级（广安市、四川省）的清单中没有对应事项（无上位依据）"
    assert f["finding_id"] == stable_id("no_upper_basis", "k2", None)
    assert json.loads(f["details"])["ancestors_in_run"] == ["511600", "510000"]


def test_no_upper_basis_needs_an_ancestor_list_in_the_run() -> None:
    # 广州市's ancestors have no list here; 四川省 items themselves are never judged.
    rows = [item("g1", "440100", "自设的许可"), item("p1", "510000", "省级许可")]
    assert of_kind(run(rows), "no_upper_basis") == []


def test_link_to_a_farther_ancestor_is_enough() -> None:
    rows = [
        item("p1", "510000", "食品经营许可"),
        item("m0", "511600", "别的", power_type="行政处罚"),
        item("k1", "511602", "食品经营许可"),
    ]
    assert of_kind(run(rows, [("k1", "p1")]), "no_upper_basis") == []


# ------------------------------------------------------------------------------ cancelled_still_listed


def test_cancelled_upper_item_still_listed_below() -> None:
    rows = [
        item("p1", "510000", "某项许可", status="取消"),
        item("m1", "511600", "某项许可", status="保留"),
        item("k1", "511602", "某项许可", status="取消"),
        item("p2", "510000", "另一许可", status="保留"),
        item("q2", "511603", "另一许可", status="取消"),
    ]
    got = of_kind(run(rows, [("m1", "p1"), ("k1", "p1"), ("q2", "p2")]), "cancelled_still_listed")
    assert len(got) == 1
    (f,) = got
    assert (f["item_id"], f["other_item_id"], f["jurisdiction_code"], f["other_jurisdiction_code"]) == (
        "m1",
        "p1",
        "511600",
        "510000",
    )
    assert f["severity"] == "error"
    assert f["message"] == "四川省 已取消的「某项许可」在 广安市 的清单中仍列为「某项许可」（状态：保留）"
    assert f["finding_id"] == stable_id("cancelled_still_listed", "m1", "p1")


# ------------------------------------------------------------------------------------- type_mismatch


def test_type_mismatch_between_linked_items() -> None:
    rows = [
        item("p1", "510000", "某项确认", power_type="行政确认"),
        item("m1", "511600", "某项确认", power_type="其他行政权力"),
        item("k1", "511602", "某项确认", power_type="行政确认"),
        item("q1", "511603", "某项确认", power_type=None),
    ]
    got = of_kind(run(rows, [("m1", "p1"), ("k1", "p1"), ("q1", "p1")]), "type_mismatch")
    assert [(f["item_id"], f["other_item_id"]) for f in got] == [("m1", "p1")]
    assert got[0]["severity"] == "warning"
    assert got[0]["message"] == (
        "广安市 的「某项确认」为其他行政权力，而对应的 四川省 的「某项确认」为行政确认（权力类型不一致）"
    )
    details = json.loads(got[0]["details"])
    assert details["power_type"] == "其他行政权力"
    assert details["other_power_type"] == "行政确认"
    assert details["method"] == "exact"
    assert details["score"] == 1.0


# ------------------------------------------------------------------------------------ basis_mismatch


def test_basis_mismatch_on_cited_instruments() -> None:
    food = "《中华人民共和国食品安全法》第三十五条"
    rows = [
        item("p1", "510000", "食品经营许可", legal_basis=food + "；《食品经营许可管理办法》"),
        # Same law cited differently: no finding (subset, prefix and edition note ignored).
        item("m1", "511600", "食品经营许可", legal_basis="《食品安全法（2021年修正）》第35条"),
        # A different law: warning.
        item("k1", "511602", "食品经营许可", legal_basis="《中华人民共和国药品管理法》第五十一条"),
        # Missing basis on one side: nothing to compare.
        item("q1", "511603", "食品经营许可", legal_basis=None),
    ]
    got = of_kind(run(rows, [("m1", "p1"), ("k1", "p1"), ("q1", "p1")]), "basis_mismatch")
    assert [(f["item_id"], f["other_item_id"]) for f in got] == [("k1", "p1")]
    (f,) = got
    assert f["severity"] == KINDS["basis_mismatch"].severity == "warning"
    assert f["message"].startswith("广安区 的「食品经营许可」与 四川省 的「食品经营许可」设定依据不一致（相似度 ")
    details = json.loads(f["details"])
    assert details["basis_compared"] == "instruments"
    assert details["instruments"] == "药品管理法"
    assert details["other_instruments"] == "食品安全法、食品经营许可管理办法"
    assert 0 <= details["basis_score"] < 0.6


def test_basis_mismatch_on_plain_text_is_info_and_threshold_applies() -> None:
    rows = [
        item("p1", "510000", "某项许可", legal_basis="国务院关于第六批取消和调整行政审批项目的决定"),
        item("m1", "511600", "某项许可", legal_basis="省人民政府令第100号"),
    ]
    got = of_kind(run(rows, [("m1", "p1")]), "basis_mismatch")
    assert [f["severity"] for f in got] == [BASIS_TEXT_SEVERITY] == ["info"]
    assert json.loads(got[0]["details"])["basis_compared"] == "text"
    assert of_kind(run(rows, [("m1", "p1")], basis_threshold=0.0), "basis_mismatch") == []


# ------------------------------------------------------------------------------------- code_mismatch


def test_code_mismatch_only_for_name_links_with_unrelated_codes() -> None:
    rows = [
        item("p1", "510000", "甲许可", base_code="000123001000"),
        item("m1", "511600", "甲许可", base_code="000999001000"),  # exact link, other code: finding
        item("k1", "511602", "甲许可", base_code="00012300100001"),  # sub-item code of the parent: fine
        item("q1", "511603", "甲许可", base_code=None),  # no code: nothing to compare
        item("p2", "510000", "乙许可", base_code="000555"),
        item("m2", "511600", "乙许可", base_code="000556"),  # linked by code: the matcher's call
        item("k2", "511602", "乙许可", base_code="000557"),  # fuzzy: finding
    ]
    pairs = [
        ("m1", "p1"),
        ("k1", "p1", "fuzzy", 0.93),
        ("q1", "p1"),
        ("m2", "p2", "code", 1.0),
        ("k2", "p2", "fuzzy", 0.9),
    ]
    got = of_kind(run(rows, pairs), "code_mismatch")
    assert [(f["item_id"], f["other_item_id"]) for f in got] == [("m1", "p1"), ("k2", "p2")]
    assert {f["severity"] for f in got} == {"warning"}
    assert got[0]["message"] == (
        "广安市 的「甲许可」编码 000999001000 与 四川省 的「甲许可」编码 000123001000 不一致（四级四同）"
    )
    assert json.loads(got[1]["details"])["score"] == 0.9


# --------------------------------------------------------------------------------- duplicate_in_list


def test_duplicates_within_one_list_point_at_the_first() -> None:
    rows = [
        item("a", "511602", "食品经营许可", row_no=9),
        item("b", "511602", "食品经营许可", row_no=3),
        item("c", "511602", "食品经营许可", row_no=12),
        item("d", "511602", "食品经营许可", sub_item="变更", row_no=13),  # other sub-item: distinct
        item("e", "511602", "食品经营许可", source_id="other-version", row_no=3),  # other list
        item("f", "511603", "食品经营许可", row_no=3),  # other jurisdiction
    ]
    got = of_kind(run(rows), "duplicate_in_list")
    assert [(f["item_id"], f["other_item_id"]) for f in got] == [("a", "b"), ("c", "b")]
    assert got[0]["message"] == "广安区 的清单（s-511602）中「食品经营许可」（第9行）与「食品经营许可」（第3行）重复"
    assert got[0]["finding_id"] == stable_id("duplicate_in_list", "a", "b")
    assert [json.loads(f["details"])["occurrence"] for f in got] == [2, 3]
    assert json.loads(got[1]["details"])["first_row_no"] == 3


def test_duplicates_same_sub_item_are_found_and_blank_names_are_not() -> None:
    rows = [
        item("a", "511602", "食品经营许可（变更）", sub_item="变更", row_no=2),
        item("b", "511602", "食品经营许可（变更）", sub_item="变更", row_no=5, sheet="表2"),
        item("x", "511602", None, name_raw="", row_no=6),
        item("y", "511602", None, name_raw="", row_no=7),
    ]
    got = of_kind(run(rows), "duplicate_in_list")
    # The first occurrence is by (sheet name, row): "" sorts before 表2.
    assert [(f["item_id"], f["other_item_id"]) for f in got] == [("b", "a")]
    assert (
        got[0]["message"]
        == "广安区 的清单（s-511602）中「食品经营许可（变更）」（表2 第5行）与「食品经营许可（变更）」（第2行）重复"
    )


# --------------------------------------------------------------------------------- the table as a whole


def scenario() -> tuple[list[dict], list[tuple]]:
    rows = [
        item("p1", "510000", "食品经营许可", status="下放", base_code="000111"),
        item("p2", "510000", "某项许可", status="取消"),
        item("m1", "511600", "食品经营许可", power_type="行政确认", base_code="000222"),
        item("m2", "511600", "某项许可"),
        item("m3", "511600", "某项许可", row_no=7),
        item("k1", "511602", "本地许可"),
    ]
    return rows, [("m1", "p1"), ("m2", "p2")]


def test_schema_order_ids_and_kinds() -> None:
    rows, pairs = scenario()
    table = run(rows, pairs)
    assert table.schema.equals(FINDINGS)
    assert set(table.column("kind").to_pylist()) <= set(FINDING_KINDS)
    assert set(table.column("severity").to_pylist()) <= {"error", "warning", "info"}
    for row in table.to_pylist():  # the kind's severity, but for basis_mismatch compared on plain text
        assert row["severity"] == KINDS[row["kind"]].severity or row["kind"] == "basis_mismatch", row
    keys = [
        (r["kind"], r["jurisdiction_code"], r["item_id"], r["other_item_id"] or "", r["other_jurisdiction_code"] or "")
        for r in table.to_pylist()
    ]
    assert keys == sorted(keys)
    ids = table.column("finding_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert {r["kind"] for r in table.to_pylist()} == {
        "cancelled_still_listed",
        "code_mismatch",
        "duplicate_in_list",
        "no_upper_basis",
        "type_mismatch",
    }
    for r in table.to_pylist():
        details = json.loads(r["details"])
        assert r["details"] == json.dumps(details, ensure_ascii=False, sort_keys=True)


def test_deterministic_under_row_reordering() -> None:
    rows, pairs = scenario()
    first = run(rows, pairs)
    second = run(list(reversed(rows)), list(reversed(pairs)))
    assert first.equals(second)


def test_nothing_to_find_gives_an_empty_table_with_the_schema() -> None:
    table = run([item("p1", "510000", "食品经营许可")])
    assert table.num_rows == 0
    assert table.schema.equals(FINDINGS)
    empty = find_cross_level(pd.DataFrame([item("x", "510000", "x")]).iloc[:0], LINKS.empty_table(), REGISTRY)
    assert empty.schema.equals(FINDINGS)
    assert empty.num_rows == 0


@pytest.mark.parametrize("dtype", ["str", object])
def test_string_dtypes_do_not_matter(dtype: object) -> None:
    rows, pairs = scenario()
    items = pd.DataFrame(rows)
    text_columns = [c for c in items.columns if c not in ("row_no", "published")]
    items[text_columns] = items[text_columns].astype(dtype)
    links = pa.Table.from_pylist([link(*p, items) for p in pairs], schema=LINKS)
    assert find_cross_level(items, links, REGISTRY).equals(run(rows, pairs))
