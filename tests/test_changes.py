"""Changes between list versions and the findings over time (transforms/changes.py), on crafted frames.

The crafted tests run against a small stand-in matcher (code, exact name, sub-item of a main item,
rapidfuzz ratio) so that they pin down this module's rules, not the engine's scoring; the end-to-end test
on the bundled sample uses the real ``transforms.link.match.link_items``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from rapidfuzz import fuzz

from transforms.clean.items import stable_id, to_items_table
from transforms.examine import changes as ch
from transforms.ingest.jurisdictions import NATIONAL, Jurisdiction, Registry
from transforms.ingest.manifest import SourceSpec
from transforms.publish.schema import CHANGES, FINDINGS, LINKS

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
D1, D2, D3 = dt.date(2023, 6, 30), dt.date(2024, 9, 30), dt.date(2025, 1, 15)
AS_OF = dt.date(2025, 6, 30)

REGISTRY = Registry(
    {
        NATIONAL: Jurisdiction(NATIONAL, "全国", "national", None),
        "510000": Jurisdiction("510000", "四川省", "province", NATIONAL),
        "511600": Jurisdiction("511600", "广安市", "city", "510000"),
        "511603": Jurisdiction("511603", "前锋区", "county", "511600"),
        "512000": Jurisdiction("512000", "资阳市", "city", "510000"),
    }
)


# ------------------------------------------------------------------------------------ crafted frames


def fake_link_items(items: pd.DataFrame, registry: Registry, *, threshold: float) -> pa.Table:
    """Stand-in engine: best parent per ancestor by code, exact name, sub-item of a main item, or ratio."""
    rows = []
    groups = {code: g.to_dict("records") for code, g in items.groupby("jurisdiction_code")}
    for child in items.to_dict("records"):
        for ancestor in registry.ancestors(child["jurisdiction_code"]):
            best = None
            for parent in groups.get(ancestor, []):
                if child.get("base_code") and child.get("base_code") == parent.get("base_code"):
                    score, method = 1.0, "code"
                elif child["name_norm"] == parent["name_norm"]:
                    score, method = 1.0, "exact"
                elif child["main_name"] in (parent["name_norm"], parent["main_name"]):
                    score, method = 0.95, "fuzzy"
                else:
                    score, method = fuzz.ratio(child["name_norm"], parent["name_norm"]) / 100, "fuzzy"
                if score >= threshold and (best is None or (score, parent["item_id"]) > (best[0], best[2])):
                    best = (score, method, parent["item_id"])
            if best:
                rows.append(
                    {
                        "child_item_id": child["item_id"],
                        "parent_item_id": best[2],
                        "child_jurisdiction": child["jurisdiction_code"],
                        "parent_jurisdiction": ancestor,
                        "level_pair": "x>y",
                        "method": best[1],
                        "score": best[0],
                        "reason": "fake",
                    }
                )
    return pa.Table.from_pylist(rows, schema=LINKS)


@pytest.fixture(autouse=True, params=["stand-in", "engine"])
def engine(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    """Each crafted test runs twice: on the stand-in (this module's rules alone) and on the real engine.

    The end-to-end test on the sample always uses the real engine (it asks for ``real_engine``).
    """
    if "real_engine" in request.fixturenames:
        if request.param != "engine":
            pytest.skip("the sample is compared with the real engine only")
    elif request.param == "stand-in":
        monkeypatch.setattr(ch, "link_items", fake_link_items)
    else:
        pytest.importorskip("transforms.link.match")
    yield request.param


@pytest.fixture
def real_engine() -> None:
    pytest.importorskip("transforms.link.match")


def item(
    iid: str,
    code: str,
    source: str,
    published: dt.date | None,
    name: str,
    *,
    sub: str | None = None,
    power_type: str = "行政许可",
    status: str = "未注明",
    department: str = "部门",
    basis: str | None = None,
    base_code: str | None = None,
    row: int = 1,
    status_raw: str | None = None,
) -> dict[str, object]:
    return {
        "item_id": iid,
        "source_id": source,
        "sheet": "",
        "row_no": row,
        "jurisdiction_code": code,
        "jurisdiction_name": REGISTRY[code].name,
        "level": REGISTRY[code].level,
        "province": "510000",
        "published": published,
        "name_raw": name if sub is None else f"{name}（{sub}）",
        "name_norm": name if sub is None else f"{name}（{sub}）",
        "main_name": name,
        "sub_item": sub,
        "power_type": power_type,
        "base_code": base_code,
        "department": department,
        "legal_basis": basis,
        "status": status,
        "status_raw": status_raw if status_raw is not None else (None if status == "未注明" else status),
    }


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def spec(sid: str, code: str, published: dt.date | None) -> SourceSpec:
    return SourceSpec(id=sid, jurisdiction=code, path=Path(f"{sid}.csv"), published=published)


def chains_of(items: pd.DataFrame) -> dict[str, list[list[SourceSpec]]]:
    from transforms.examine.versions import version_chains

    sources = items.drop_duplicates("source_id")
    return version_chains(
        spec(s, c, p)
        for s, c, p in zip(sources["source_id"], sources["jurisdiction_code"], sources["published"], strict=True)
    )


def rows_of(table: pa.Table) -> list[tuple[object, ...]]:
    return [(r["change"], r["old_item_id"], r["new_item_id"]) for r in table.to_pylist()]


def diff(*rows: dict[str, object]) -> pa.Table:
    items = frame(*rows)
    return ch.diff_versions(items, chains_of(items), REGISTRY)


# ------------------------------------------------------------------------------------------- changes


def test_identical_versions_give_no_changes() -> None:
    a = [item(f"a{i}", "510000", "p1", D1, name, row=i) for i, name in enumerate(["食品经营许可", "药品零售许可"])]
    b = [item(f"b{i}", "510000", "p2", D2, name, row=i) for i, name in enumerate(["食品经营许可", "药品零售许可"])]
    out = diff(*a, *b)
    assert out.schema == CHANGES
    assert out.num_rows == 0


def test_field_changes_added_removed_and_renamed() -> None:
    out = diff(
        item("o1", "510000", "p1", D1, "建设工程消防设计审查", row=1),
        item("o2", "510000", "p1", D1, "户外广告设施设置审批", base_code="511A01", row=2),
        item("o3", "510000", "p1", D1, "燃气经营许可证核发", row=3),
        item("o4", "510000", "p1", D1, "药品零售企业许可", department="四川省市场监督管理局", row=4),
        item("o5", "510000", "p1", D1, "义务兵家庭优待金给付", basis="《军人抚恤优待条例》", row=5),
        item("o6", "510000", "p1", D1, "歌舞娱乐场所设立审批", row=6),
        item("n1", "510000", "p2", D2, "建设工程消防设计审查", power_type="行政确认", row=1),
        item("n2", "510000", "p2", D2, "户外广告设施设置许可", base_code="511A01", row=2),
        item("n3", "510000", "p2", D2, "燃气经营许可证核发", status="下放", status_raw="下放至市级", row=3),
        item("n4", "510000", "p2", D2, "药品零售企业许可", department="四川省药品监督管理局", row=4),
        item("n5", "510000", "p2", D2, "义务兵家庭优待金给付", basis="《军人抚恤优待条例》（2024年修订）", row=5),
        item("n7", "510000", "p2", D2, "小型水库安全鉴定", row=7),
    )
    got = {(r["change"], r["old_item_id"], r["new_item_id"]): r["detail"] for r in out.to_pylist()}
    assert got == {
        ("type_changed", "o1", "n1"): "权力类型: 行政许可 → 行政确认",
        ("renamed", "o2", "n2"): "名称: 户外广告设施设置审批 → 户外广告设施设置许可",
        ("status_changed", "o3", "n3"): "状态: 未注明 → 下放（下放至市级）",
        ("department_changed", "o4", "n4"): "实施主体: 四川省市场监督管理局 → 四川省药品监督管理局",
        ("basis_changed", "o5", "n5"): "设定依据: 《军人抚恤优待条例》 → 《军人抚恤优待条例》（2024年修订）",
        ("removed", "o6", None): "移出清单（行政许可，原状态 未注明）",
        ("added", None, "n7"): "新增（行政许可）",
    }
    first = out.to_pylist()[0]
    assert first["jurisdiction_code"] == "510000"
    assert (first["from_published"], first["to_published"]) == (D1, D2)
    removed = next(r for r in out.to_pylist() if r["change"] == "removed")
    assert (removed["from_source_id"], removed["to_source_id"]) == ("p1", "p2")
    assert removed["old_name"] == "歌舞娱乐场所设立审批" and removed["new_name"] is None


def test_whitespace_and_width_in_texts_are_not_changes() -> None:
    out = diff(
        item("o1", "510000", "p1", D1, "燃气经营许可", department="四川省 住建厅", basis="《燃气管理条例》第15条"),
        item("n1", "510000", "p2", D2, "燃气经营许可", department="四川省住建厅", basis="《燃气管理条例》第１５条"),
    )
    assert out.num_rows == 0


def test_split_into_sub_items() -> None:
    out = diff(
        item("o1", "510000", "p1", D1, "执业药师注册", row=1),
        item("o2", "510000", "p1", D1, "药品零售许可", row=2),
        *[
            item(f"n{i}", "510000", "p2", D2, "执业药师注册", sub=s, row=i)
            for i, s in enumerate(["新申请", "变更", "注销"])
        ],
        item("n9", "510000", "p2", D2, "药品零售许可", row=9),
    )
    assert sorted(rows_of(out)) == [("split", "o1", "n0"), ("split", "o1", "n1"), ("split", "o1", "n2")]
    assert {r["detail"] for r in out.to_pylist()} == {"拆分: 「执业药师注册」→ 3 项"}


def test_new_sub_items_next_to_the_kept_item_are_added() -> None:
    out = diff(
        item("o1", "510000", "p1", D1, "执业药师注册"),
        item("n1", "510000", "p2", D2, "执业药师注册", row=1),
        item("n2", "510000", "p2", D2, "执业药师注册", sub="变更", row=2),
    )
    assert rows_of(out) == [("added", None, "n2")]


def test_sub_items_merged_into_their_main_item() -> None:
    out = diff(
        item("o1", "510000", "p1", D1, "医疗机构执业审批", sub="新办", row=1),
        item("o2", "510000", "p1", D1, "医疗机构执业审批", sub="变更", row=2),
        item("o3", "510000", "p1", D1, "医疗机构执业审批", sub="注销", row=3),
        item("n1", "510000", "p2", D2, "医疗机构执业审批", row=1),
    )
    assert sorted(rows_of(out)) == [("merged", "o1", "n1"), ("merged", "o2", "n1"), ("merged", "o3", "n1")]
    assert out.column("detail")[0].as_py() == "合并: 3 项 → 「医疗机构执业审批」"


def test_items_joined_into_one_name_are_merged() -> None:
    """The engine does not link 甲 or 乙 to 「甲、乙」; the containment fallback does."""
    out = diff(
        item("o1", "510000", "p1", D1, "烟花爆竹批发许可", row=1),
        item("o2", "510000", "p1", D1, "烟花爆竹零售许可", row=2),
        item("n1", "510000", "p2", D2, "烟花爆竹批发许可、烟花爆竹零售许可", row=1),
    )
    assert sorted(rows_of(out)) == [("merged", "o1", "n1"), ("merged", "o2", "n1")]


def test_a_duplicate_dropped_is_removed_not_merged() -> None:
    out = diff(
        item("o1", "510000", "p1", D1, "食品经营许可", row=1),
        item("o2", "510000", "p1", D1, "食品经营许可", row=2),
        item("n1", "510000", "p2", D2, "食品经营许可", row=1),
    )
    assert [change for change, _old, _new in rows_of(out)] == ["removed"], "one of the two, never a merge"


def test_level_changed_needs_the_item_to_be_new_in_the_other_list() -> None:
    out = diff(
        item("po1", "510000", "p1", D1, "优抚对象医疗保障", row=1),
        item("po2", "510000", "p1", D1, "饮用水供水单位卫生许可", row=2),
        item("pn1", "510000", "p2", D2, "其他事项", row=1),
        item("co1", "511600", "c1", D1 + dt.timedelta(days=40), "饮用水供水单位卫生许可", row=1),
        item("cn1", "511600", "c2", D2 + dt.timedelta(days=40), "饮用水供水单位卫生许可", row=1),
        item("cn2", "511600", "c2", D2 + dt.timedelta(days=40), "优抚对象医疗保障", status="承接", row=2),
    )
    rows = {(r["jurisdiction_code"], r["change"], r["old_item_id"], r["new_item_id"]): r for r in out.to_pylist()}
    moved = rows[("510000", "level_changed", "po1", "cn2")]
    assert moved["detail"] == "层级调整: 四川省（省级）→ 广安市（市级）"
    assert moved["to_source_id"] == "p2" and moved["new_name"] == "优抚对象医疗保障"
    assert ("510000", "removed", "po2", None) in rows, "already listed by the city: not a move"
    assert ("511600", "added", None, "cn2") in rows
    assert ("510000", "removed", "po1", None) not in rows


def test_output_is_sorted_and_deterministic() -> None:
    rows = [
        item("o1", "510000", "p1", D1, "甲类事项审批"),
        item("n1", "510000", "p2", D2, "乙类事项登记", power_type="行政确认"),
        item("x1", "511600", "c1", D1, "丙类事项审批"),
        item("x2", "511600", "c2", D2, "丁类事项备案"),
    ]
    a = diff(*rows)
    b = diff(*reversed(rows))
    assert a.equals(b)
    keys = [tuple("" if r[k] is None else r[k] for k in ch.SORT_KEYS) for r in a.to_pylist()]
    assert keys == sorted(keys)


def test_diff_against_previous_skips_unchanged_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    inner = ch.link_items

    def counting(items: pd.DataFrame, registry: Registry, *, threshold: float) -> pa.Table:
        calls.append(len(items))
        return inner(items, registry, threshold=threshold)

    monkeypatch.setattr(ch, "link_items", counting)
    previous = frame(
        item("same", "510000", "p1", D1, "食品经营许可"),
        item("keep", "511600", "c1", D1, "燃气经营许可"),
        item("gone", "512000", "z1", D1, "其他许可"),
    )
    now = frame(
        item("same", "510000", "p1", D1, "食品经营许可", power_type="行政确认"),
        item("keep", "511600", "c1", D1, "燃气经营许可"),
        item("new", "511603", "q1", D1, "新县级事项"),
    )
    out = ch.diff_against_previous(now, previous, REGISTRY, threshold=0.86)
    assert rows_of(out) == [("type_changed", "same", "same")]
    assert len(calls) == 2, "one jurisdiction differed: forward + reverse; the identical one was skipped"


def test_diff_against_previous_uses_current_versions_only() -> None:
    previous = frame(item("a", "510000", "p1", D1, "甲事项审批"), item("b", "510000", "p2", D2, "乙事项审批"))
    now = frame(item("b", "510000", "p2", D2, "乙事项审批"), item("c", "510000", "p3", D3, "乙事项审批", row=2))
    out = ch.diff_against_previous(now, previous, REGISTRY, threshold=0.86)
    assert out.num_rows == 0, "p3 carries p2's item unchanged"


def test_combine_changes_drops_duplicates() -> None:
    rows = [
        item("o1", "510000", "p1", D1, "甲事项审批"),
        item("n1", "510000", "p2", D2, "甲事项审批", power_type="行政确认"),
    ]
    once = diff(*rows)
    assert ch.combine_changes(once, once, CHANGES.empty_table()).equals(once)


def test_load_previous_items_reads_the_older_hive_layout(tmp_path: Path) -> None:
    """Outputs of older powerlists kept items in items/province=<code>/ folders; --previous still reads them."""
    rows = frame(item("a", "510000", "p1", D1, "甲事项审批"), item("b", "511600", "c1", None, "乙事项审批")).assign(
        warnings=[[], []],
        extra=[{}, {}],
        power_id=[None, None],
        power_type_raw=None,
        power_type_inferred=False,
        code_raw=None,
        responsibility=None,
    )
    table = to_items_table(rows)
    folder = tmp_path / "out" / "items" / "province=510000"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    loaded = ch.load_previous_items(tmp_path / "out")
    assert sorted(loaded["item_id"]) == ["a", "b"]
    assert loaded.set_index("item_id").at["a", "published"] == D1
    with pytest.raises(FileNotFoundError, match="output folder"):
        ch.load_previous_items(tmp_path / "nothing")


# ------------------------------------------------------------------------------------ findings over time


def run_over_time(*rows: dict[str, object], as_of: dt.date = AS_OF) -> tuple[pa.Table, pd.DataFrame]:
    items = frame(*rows)
    changes = ch.diff_versions(items, chains_of(items), REGISTRY)
    current = ch.current_items(items)
    links = ch.link_items(current, REGISTRY, threshold=0.86)
    found = ch.find_over_time(items, links, changes, REGISTRY, as_of)
    assert found.schema == FINDINGS
    return found, items


def by_kind(found: pa.Table, kind: str) -> list[dict[str, object]]:
    return [dict(r, details=json.loads(r["details"])) for r in found.to_pylist() if r["kind"] == kind]


def test_devolved_not_received_with_date_and_days() -> None:
    city_date = D2 + dt.timedelta(days=50)
    found, _ = run_over_time(
        item("p1a", "510000", "p1", D1, "建设工程施工合同登记", row=1),
        item("p1b", "510000", "p1", D1, "燃气经营许可证核发", row=2),
        item("p1c", "510000", "p1", D1, "饮用水供水单位卫生许可", status="下放", row=3),
        item("p2a", "510000", "p2", D2, "建设工程施工合同登记", status="下放", row=1),
        item("p2b", "510000", "p2", D2, "燃气经营许可证核发", status="下放", row=2),
        item("p2c", "510000", "p2", D2, "饮用水供水单位卫生许可", status="下放", row=3),
        item("c1", "511600", "c1", city_date, "燃气经营许可证核发", status="承接"),
    )
    hits = {(f["item_id"], f["other_jurisdiction_code"]): f for f in by_kind(found, "devolved_not_received")}
    assert set(hits) == {("p2a", "511600"), ("p2c", "511600")}
    newly = hits[("p2a", "511600")]
    assert newly["details"]["devolved_on"] == "2024-09-30"
    assert newly["details"]["days_outstanding"] == (AS_OF - D2).days
    assert newly["severity"] == "error" and newly["details"]["lower_updated_since"] is True
    assert newly["finding_id"] == stable_id("devolved_not_received", "p2a", "511600")
    assert "2024-09-30" in newly["message"] and "权力悬空" in newly["message"]
    carried = hits[("p2c", "511600")]
    assert carried["details"]["devolved_on"] == "2023-06-30", "marked since the first version"


def test_devolution_newer_than_the_lower_list_is_a_warning() -> None:
    found, _ = run_over_time(
        item("p1", "510000", "p1", D1, "建设工程施工合同登记"),
        item("p2", "510000", "p2", D2, "建设工程施工合同登记", status="下放"),
        item("c1", "511600", "c1", D1, "其他市级事项"),
    )
    (hit,) = by_kind(found, "devolved_not_received")
    assert hit["severity"] == "warning"
    assert hit["details"]["lower_updated_since"] is False
    assert hit["details"]["lower_list_published"] == "2023-06-30"


def test_devolved_then_removed_and_moved_down() -> None:
    city_date = D2 + dt.timedelta(days=50)
    found, _ = run_over_time(
        item("p1a", "510000", "p1", D1, "燃气经营许可证核发", status="下放", row=1),
        item("p1b", "510000", "p1", D1, "建设工程施工合同登记", status="下放", row=2),
        item("p1c", "510000", "p1", D1, "优抚对象医疗保障", row=3),
        item("p2x", "510000", "p2", D2, "其他省级事项", row=1),
        item("c1", "511600", "c1", D1 + dt.timedelta(days=10), "其他市级事项", row=1),
        item("c2a", "511600", "c2", city_date, "燃气经营许可证核发", row=1),
        item("c2b", "511600", "c2", city_date, "优抚对象医疗保障", status="承接", row=2),
        item("z1", "512000", "z1", city_date, "燃气经营许可证核发", row=1),
    )
    hits = {(f["item_id"], f["other_jurisdiction_code"]): f["details"] for f in by_kind(found, "devolved_not_received")}
    assert set(hits) == {("p1b", "511600"), ("p1b", "512000"), ("p1c", "512000")}
    assert hits[("p1b", "511600")]["devolved_how"] == "marked_then_removed"
    assert hits[("p1b", "511600")]["devolved_on"] == "2023-06-30"
    assert hits[("p1c", "512000")]["devolved_how"] == "moved_down"
    assert hits[("p1c", "512000")]["devolved_on"] == "2024-09-30"
    assert not by_kind(found, "received_without_devolution"), "a level_changed target was devolved to"


def test_each_devolution_is_judged_once_dated_over_time_undated_across_levels() -> None:
    """A dated province list and an undated city list in one run: the province's devolution is judged
    with its date, the city's without, neither twice (``find_all`` refuses a kind raised by both)."""
    from transforms.examine.checks import find_all
    from transforms.examine.findings import find_cross_level
    from transforms.examine.reform import ReformCheck

    items = frame(
        item("p1", "510000", "p1", D2, "燃气经营许可证核发", status="下放", row=1),
        item("p2", "510000", "p1", D2, "建设工程施工合同登记", status="下放", row=2),
        item("c1", "511600", "c1", None, "燃气经营许可证核发", status="下放", row=1),
        item("c2", "511600", "c1", None, "其他市级事项", status="下放", row=2),
        item("z1", "512000", "z1", D2, "燃气经营许可证核发", row=1),
        item("q1", "511603", "q1", None, "燃气经营许可证核发", row=1),
    )
    changes = ch.diff_versions(items, chains_of(items), REGISTRY)
    current = ch.current_items(items)
    links = ch.link_items(current, REGISTRY, threshold=0.86)
    reform = ReformCheck.prepare(current, links, REGISTRY, None)
    found = find_all(REGISTRY, items, current, links, changes, AS_OF, reform)
    hits = {(f["item_id"], f["other_jurisdiction_code"]): f["details"] for f in by_kind(found, "devolved_not_received")}
    assert set(hits) == {("p2", "511600"), ("p2", "512000"), ("c2", "511603")}
    assert hits[("p2", "512000")]["devolved_on"] == D2.isoformat(), "the dated list is judged over time"
    assert "devolved_on" not in hits[("c2", "511603")], "the undated list is judged across levels"
    assert len(found.column("finding_id").unique()) == found.num_rows

    alone = find_cross_level(current, links, REGISTRY, judged_over_time=True)
    assert {r["item_id"] for r in by_kind(alone, "devolved_not_received")} == {"c2"}
    every = find_cross_level(current, links, REGISTRY)
    assert {r["item_id"] for r in by_kind(every, "devolved_not_received")} == {"p2", "c2"}


def test_received_without_devolution() -> None:
    found, _ = run_over_time(
        item("p1", "510000", "p1", D1, "燃气经营许可证核发", status="下放", row=1),
        item("p2", "510000", "p1", D1, "歌舞娱乐场所设立审批", row=2),
        item("p3", "510000", "p1", D1, "药品零售许可", status="保留", row=3),
        item("c1", "511600", "c1", D2, "燃气经营许可证核发", row=1),
        item("c2", "511600", "c1", D2, "歌舞娱乐场所设立审批", row=2),
        item("q1", "511603", "q1", D3, "燃气经营许可证核发", status="承接", row=1),
        item("q2", "511603", "q1", D3, "歌舞娱乐场所设立审批", status="承接", row=2),
        item("q3", "511603", "q1", D3, "药品零售许可", status="承接", row=3),
        item("q4", "511603", "q1", D3, "县级自设事项", status="承接", row=4),
    )
    hits = by_kind(found, "received_without_devolution")
    assert [(h["item_id"], h["other_item_id"], h["other_jurisdiction_code"]) for h in hits] == [
        ("q2", "c2", "511600"),
        ("q3", "p3", "510000"),
    ]
    assert hits[0]["severity"] == "warning"
    assert "承接" in hits[0]["message"] and "从未下放" in hits[0]["message"]


def test_received_counts_a_devolution_in_an_older_version() -> None:
    found, _ = run_over_time(
        item("p1", "510000", "p1", D1, "燃气经营许可证核发", status="下放"),
        item("p2", "510000", "p2", D2, "燃气经营许可证核发", status="保留"),
        item("q1", "511603", "q1", D3, "燃气经营许可证核发", status="承接"),
    )
    assert not by_kind(found, "received_without_devolution")


def test_cancelled_still_listed_across_versions() -> None:
    found, _ = run_over_time(
        item("p1a", "510000", "p1", D1, "歌舞娱乐场所设立审批", row=1),
        item("p1b", "510000", "p1", D1, "临时占用草原审批", status="取消", row=2),
        item("p2a", "510000", "p2", D2, "歌舞娱乐场所设立审批", status="取消", row=1),
        item("q1", "511603", "q1", D3, "歌舞娱乐场所设立审批", row=1),
        item("q2", "511603", "q1", D3, "临时占用草原审批", row=2),
        item("z1", "512000", "z1", D1 + dt.timedelta(days=5), "歌舞娱乐场所设立审批", row=1),
        item("c1", "511600", "c1", D3, "歌舞娱乐场所设立审批", status="取消", row=1),
    )
    hits = {(h["item_id"], h["other_item_id"]): h for h in by_kind(found, "cancelled_still_listed")}
    # z1's list predates the province's cancellation; the city cancelled it in a list of the county's date
    assert set(hits) == {("q1", "p2a"), ("q2", "p1b"), ("q1", "c1")}
    assert hits[("q1", "p2a")]["details"]["cancelled_on"] == "2024-09-30"
    assert hits[("q1", "p2a")]["details"]["upper_still_listed"] is True
    assert hits[("q2", "p1b")]["details"]["cancelled_on"] == "2023-06-30"
    assert hits[("q2", "p1b")]["details"]["upper_still_listed"] is False
    assert hits[("q1", "p2a")]["finding_id"] == stable_id("cancelled_still_listed", "q1", "p2a")


def test_undated_lists_are_left_to_find_cross_level() -> None:
    found, _ = run_over_time(
        item("p1", "510000", "p1", None, "建设工程施工合同登记", status="下放"),
        item("c1", "511600", "c1", None, "其他市级事项"),
    )
    assert not by_kind(found, "devolved_not_received")


# ------------------------------------------------------------------------------ the bundled sample


def test_versions_manifest_makes_three_chains() -> None:
    from transforms.examine.versions import current_source_ids, version_chains
    from transforms.ingest.manifest import load_manifest

    manifest = load_manifest(SAMPLE / "versions.toml")
    assert not manifest.source_errors
    chains = version_chains(manifest.sources)
    assert {code: [[s.id for s in v] for v in versions] for code, versions in chains.items()} == {
        "510000": [["sc-510000-province-derived"], ["sc-510000-province-v2"]],
        "511600": [["sc-511600-guangan-derived"], ["sc-511600-guangan-v2"]],
        "511603": [["sc-511603-qianfeng-derived"], ["sc-511603-qianfeng-v2"]],
    }
    current = current_source_ids(manifest.sources)
    assert len(current) == 7 and not {"sc-510000-province-derived", "sc-511600-guangan-derived"} & current
    assert ch.default_as_of(manifest.sources) == D3
    assert ch.default_as_of([spec("x", "510000", None)]) is None


def read_versions_sample() -> tuple[pd.DataFrame, object]:
    """Items of every source of data/sample/versions.toml, read and normalised as the flow does (no Prefect).

    Rows the flow would quarantine are dropped with the same simple tests (no name, unknown type, a
    row error); the versioned lists carry no bad rows, so the comparison does not depend on validation.
    """
    from transforms.clean.items import add_jurisdiction_columns, item_ids
    from transforms.clean.normalise import normalise
    from transforms.ingest.jurisdictions import load_registry
    from transforms.ingest.manifest import load_manifest
    from transforms.ingest.read import read_spec_rows

    registry = load_registry()
    manifest = load_manifest(SAMPLE / "versions.toml", known_jurisdictions=registry.codes())
    assert not manifest.source_errors
    frames = []
    for source in manifest.sources:
        rows, _info = read_spec_rows(source.path.read_bytes(), source)
        rows["jurisdiction_code"] = source.jurisdiction
        rows["published"] = source.published
        frames.append(normalise(rows))
    items = pd.concat(frames, ignore_index=True)
    ok = items["name_norm"].notna() & items["power_type"].notna() & (items["row_errors"].map(len) == 0)
    items = add_jurisdiction_columns(items[ok].reset_index(drop=True), registry)
    items["item_id"] = item_ids(items)
    return items, (manifest, registry)


def expected_changes() -> list[dict[str, str]]:
    with (SAMPLE / "expected_changes.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def sample_versions() -> dict[str, object]:
    """The versioned sample read once per module, with its changes (module fixtures run before the
    engine fixture patches anything, so this is the real engine)."""
    pytest.importorskip("transforms.link.match")
    from transforms.examine.versions import version_chains

    items, (manifest, registry) = read_versions_sample()
    changes = ch.diff_versions(items, version_chains(manifest.sources), registry)
    return {"items": items, "manifest": manifest, "registry": registry, "changes": changes}


@pytest.mark.slow
def test_sample_versions_match_expected_changes(real_engine: None, sample_versions: dict[str, object]) -> None:
    items, out = sample_versions["items"], sample_versions["changes"]
    assert out.schema == CHANGES
    ids = {
        (s, "" if pd.isna(sh) else sh, int(r)): i
        for s, sh, r, i in zip(items["source_id"], items["sheet"], items["row_no"], items["item_id"], strict=True)
    }

    def ref(row: dict[str, str], side: str) -> str | None:
        if not row[f"{side}_row_no"]:
            return None
        return ids[(row[f"{side}_source_id"], row[f"{side}_sheet"], int(row[f"{side}_row_no"]))]

    expected = {
        (r["jurisdiction_code"], r["to_source_id"], r["change"], ref(r, "old"), ref(r, "new")): r
        for r in expected_changes()
    }
    got = {
        (r["jurisdiction_code"], r["to_source_id"], r["change"], r["old_item_id"], r["new_item_id"]): r
        for r in out.to_pylist()
    }
    missing = sorted(set(expected) - set(got), key=str)
    extra = sorted(set(got) - set(expected), key=str)

    def describe(keys: list[tuple], source: dict) -> list[tuple]:
        return [(k[0], k[2], source[k]["old_name"], source[k]["new_name"]) for k in keys]

    assert not missing and not extra, {"missing": describe(missing, expected), "extra": describe(extra, got)}
    for key, row in expected.items():
        if row["detail"]:
            assert got[key]["detail"] == row["detail"], key


@pytest.mark.slow
def test_sample_versions_raise_the_designed_findings(real_engine: None, sample_versions: dict[str, object]) -> None:
    """expected_findings.csv: findings the versions were built to raise (present=yes) and their controls."""
    from transforms.examine.versions import current_source_ids
    from transforms.link.match import link_items

    items, manifest, registry = sample_versions["items"], sample_versions["manifest"], sample_versions["registry"]
    changes = sample_versions["changes"]
    current = items[items["source_id"].isin(current_source_ids(manifest.sources))]
    links = link_items(current, registry, threshold=0.86)
    found = ch.find_over_time(items, links, changes, registry, AS_OF)
    ids = {
        (s, "" if pd.isna(sh) else sh, int(r)): i
        for s, sh, r, i in zip(items["source_id"], items["sheet"], items["row_no"], items["item_id"], strict=True)
    }
    rows = [dict(r, details=json.loads(r["details"])) for r in found.to_pylist()]
    with (SAMPLE / "expected_findings.csv").open(encoding="utf-8", newline="") as handle:
        designed = list(csv.DictReader(handle))
    assert {d["kind"] for d in designed if d["present"] == "yes"} == {
        "devolved_not_received",
        "received_without_devolution",
        "cancelled_still_listed",
    }
    for d in designed:
        subject = ids[(d["source_id"], d["sheet"], int(d["row_no"]))]
        other = ids[(d["other_source_id"], d["other_sheet"], int(d["other_row_no"]))] if d["other_row_no"] else None
        hits = [
            r
            for r in rows
            if r["kind"] == d["kind"]
            and r["item_id"] == subject
            and r["other_jurisdiction_code"] == d["other_jurisdiction_code"]
            and (other is None or r["other_item_id"] == other)
        ]
        assert len(hits) == (1 if d["present"] == "yes" else 0), d
        if hits and d["since"]:
            since = hits[0]["details"].get("devolved_on") or hits[0]["details"].get("cancelled_on")
            assert since == d["since"], d
            if d["kind"] == "devolved_not_received":
                assert hits[0]["details"]["days_outstanding"] == (AS_OF - dt.date.fromisoformat(d["since"])).days


@pytest.mark.slow
def test_previous_output_gives_the_same_changes(
    real_engine: None, sample_versions: dict[str, object], tmp_path: Path
) -> None:
    """A previous run of sources.toml (first versions, undated) written as an output folder, against this
    run's current lists: ``--previous`` finds the same changes as the versions inside one run."""
    items = sample_versions["items"]
    v1 = {"sc-510000-province-derived", "sc-511600-guangan-derived", "sc-511603-qianfeng-derived"}
    v2 = {"sc-510000-province-v2", "sc-511600-guangan-v2", "sc-511603-qianfeng-v2"}
    before = items[~items["source_id"].isin(v2)].assign(
        published=None, warnings=[[]] * int((~items["source_id"].isin(v2)).sum())
    )
    table = to_items_table(before)
    for province in sorted(set(table.column("province").to_pylist())):
        folder = tmp_path / "old" / "items"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pc.equal(table.column("province"), province)), folder / f"{province}.parquet")
    previous = ch.load_previous_items(tmp_path / "old")
    assert len(previous) == len(before)
    out = ch.diff_against_previous(items, previous, sample_versions["registry"], threshold=0.86)

    def key(table: pa.Table) -> list[tuple[str, ...]]:
        rows = table.to_pylist()
        return sorted(
            (r["jurisdiction_code"], r["change"], r["old_item_id"] or "", r["new_item_id"] or "") for r in rows
        )

    assert key(out) == key(sample_versions["changes"])
    assert set(out.column("from_source_id").to_pylist()) == v1
    assert all(d is None for d in out.column("from_published").to_pylist())
