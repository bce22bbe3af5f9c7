"""Reform checks: each finding kind on crafted rows (positive and negative), the rules file, the extra
tables, and realistic runs on the real Sichuan and Liaoning lists."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from transforms.clean.items import stable_id
from transforms.examine.reform import (
    CONCENTRATION,
    LICENCE_COVERAGE,
    REFORM_TABLES,
    STATUS_SUMMARY,
    ReformRules,
    RulesError,
    department_keys,
    find_reform,
    load_rules,
    reform_tables,
)
from transforms.ingest.jurisdictions import Registry, load_registry
from transforms.publish.schema import CHANGES, FINDING_KINDS, FINDINGS, LINKS

REPO = Path(__file__).resolve().parent.parent
REALDATA = REPO / "data" / "realdata"
RULES_FILE = REPO / "data" / "vocab" / "reform_rules.toml"

CITY, DISTRICT, QIANFENG = "511600", "511602", "511603"  # 广安市, 广安区, 前锋区
NO_LINKS = LINKS.empty_table()


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def rules() -> ReformRules:
    return load_rules()


def item(registry: Registry, item_id: str, code: str, name: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "item_id": item_id,
        "source_id": f"src-{code}",
        "jurisdiction_code": code,
        "jurisdiction_name": registry[code].name,
        "level": registry[code].level,
        "province": "510000",
        "published": None,
        "name_raw": name,
        "name_norm": name,
        "main_name": name,
        "sub_item": None,
        "power_type": "行政许可",
        "base_code": None,
        "department": "市场监管局",
        "legal_basis": None,
        "responsibility": None,
        "status": "保留",
        "status_raw": None,
    }
    row.update(extra)
    return row


def write_rules(folder: Path, text: str) -> Path:
    """``text`` as ``folder/rules.toml`` beside copies of the files it names (edited by the tests)."""
    for name in ("disguised_approval_words.csv", "department_aliases.csv"):
        (folder / name).write_bytes((RULES_FILE.parent / name).read_bytes())
    (folder / "rules.toml").write_text(text, encoding="utf-8")
    return folder / "rules.toml"


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def links(*pairs: tuple[str, str, str, str]) -> pa.Table:
    """(child_item_id, parent_item_id, child_jurisdiction, parent_jurisdiction) → a LINKS table."""
    return pa.table(
        {
            "child_item_id": [p[0] for p in pairs],
            "parent_item_id": [p[1] for p in pairs],
            "child_jurisdiction": [p[2] for p in pairs],
            "parent_jurisdiction": [p[3] for p in pairs],
            "level_pair": ["county>city"] * len(pairs),
            "method": ["exact"] * len(pairs),
            "score": [1.0] * len(pairs),
            "reason": ["name"] * len(pairs),
        },
        schema=LINKS,
    )


def of_kind(table: pa.Table, kind: str) -> list[dict[str, object]]:
    return [r for r in table.to_pylist() if r["kind"] == kind]


# ---------------------------------------------------------------------------------- locally_set_licence


def test_locally_set_licence_positive_and_negative(registry, rules):
    rows = [
        item(
            registry,
            "local-rule",
            CITY,
            "户外广告设置审批",
            legal_basis="《广安市户外广告管理办法》（广安市人民政府令第3号）第五条",
        ),
        item(registry, "notice", CITY, "临时占道审批", legal_basis="【规范性文件】《关于加强城市道路管理的通知》"),
        item(
            registry,
            "with-law",
            CITY,
            "食品经营许可",
            legal_basis="《中华人民共和国食品安全法》第三十五条；《广安市食品小作坊管理办法》",
        ),
        item(
            registry, "ministry-rule", CITY, "某某登记证核发", legal_basis="【规章】《某某管理办法》（农业部令第38号）"
        ),
        item(
            registry,
            "not-licence",
            CITY,
            "对违反户外广告办法的处罚",
            power_type="行政处罚",
            legal_basis="《广安市户外广告管理办法》",
        ),
        item(registry, "cancelled", CITY, "已取消审批", status="取消", legal_basis="《广安市户外广告管理办法》"),
        item(registry, "no-basis", CITY, "无依据审批", legal_basis="根据工作需要"),
        item(registry, "empty", CITY, "空依据审批", legal_basis=None),
    ]
    found = of_kind(find_reform(frame(rows), NO_LINKS, registry, rules), "locally_set_licence")
    assert [f["item_id"] for f in found] == sorted(["local-rule", "notice"])
    by_id = {f["item_id"]: f for f in found}
    local = by_id["local-rule"]
    assert local["severity"] == "warning"
    assert local["jurisdiction_code"] == CITY and local["other_item_id"] is None
    assert "广安市" in local["message"] and "户外广告设置审批" in local["message"]
    assert "《广安市户外广告管理办法》" in local["message"]
    details = json.loads(local["details"])
    assert details["instruments"] == ["广安市户外广告管理办法"]
    assert details["authorities"] == ["地方政府规章"]
    assert details["scopes"] == ["local"]
    assert local["finding_id"] == stable_id("locally_set_licence", "local-rule", None)


def test_locally_set_licence_authorities_come_from_the_rules(registry, rules):
    rows = [
        item(
            registry, "ministry-rule", CITY, "某某登记证核发", legal_basis="【规章】《某某管理办法》（农业部令第38号）"
        )
    ]
    assert not of_kind(find_reform(frame(rows), NO_LINKS, registry, rules), "locally_set_licence")
    stricter = dataclasses.replace(
        rules,
        local_authorities=(*rules.local_authorities, "部门规章"),
        local_scopes=("local", "unknown", "national"),
    )
    assert of_kind(find_reform(frame(rows), NO_LINKS, registry, stricter), "locally_set_licence")


# -------------------------------------------------------------------------- county_missing_city_licence


def _city_and_counties(registry: Registry) -> list[dict[str, object]]:
    return [
        item(registry, "c-food", CITY, "食品经营许可"),
        item(registry, "c-ad", CITY, "户外广告设置审批"),
        item(registry, "c-named", CITY, "药品零售企业许可"),
        item(registry, "c-devolved", CITY, "建筑垃圾处置核准", status="下放"),
        item(registry, "c-cancelled", CITY, "已取消的许可", status="取消"),
        item(registry, "c-penalty", CITY, "对某行为的处罚", power_type="行政处罚"),
        item(registry, "d-food", DISTRICT, "食品经营许可（县级）"),  # linked to c-food
        item(registry, "d-named", DISTRICT, "药品零售企业许可"),  # same name, no link
        item(registry, "q-other", QIANFENG, "别的事项", power_type="行政处罚"),
    ]


def test_county_missing_city_licence(registry, rules):
    # 前锋区's penalty is the city's: its list covers the city's 市场监管局, so its licences are expected
    linked = links(("d-food", "c-food", DISTRICT, CITY), ("q-other", "c-penalty", QIANFENG, CITY))
    found = of_kind(
        find_reform(frame(_city_and_counties(registry)), linked, registry, rules), "county_missing_city_licence"
    )
    got = {(f["item_id"], f["other_jurisdiction_code"]) for f in found}
    # 广安区 holds food (link) and drugs (name) but not ads; 前锋区 holds none of the three.
    assert got == {("c-ad", DISTRICT), ("c-food", QIANFENG), ("c-ad", QIANFENG), ("c-named", QIANFENG)}
    # 岳池县 etc. have no list in the run: never blamed. 下放/取消/处罚 items are not expected of counties.
    assert all(f["other_jurisdiction_code"] in (DISTRICT, QIANFENG) for f in found)
    ad = next(f for f in found if f["item_id"] == "c-ad" and f["other_jurisdiction_code"] == DISTRICT)
    assert ad["severity"] == "warning" and ad["jurisdiction_code"] == CITY and ad["other_item_id"] is None
    assert ad["message"] == "广安市 的行政许可「户外广告设置审批」在 广安区 的清单中没有对应事项（市县同权）"
    assert ad["finding_id"] == stable_id("county_missing_city_licence", "c-ad", DISTRICT)
    details = json.loads(ad["details"])
    assert details["coverage_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert details["lower_level"] == "county" and details["n_upper_licences"] == 3


def test_a_department_list_is_not_blamed_for_the_other_departments(registry, rules):
    """A county list that is one department's page: only that department's city licences are expected."""
    rows = [
        item(registry, "c-food", CITY, "食品经营许可", department="广安市市场监督管理局"),
        item(registry, "c-drug", CITY, "药品零售企业许可", department="广安市市场监督管理局"),
        item(registry, "c-build", CITY, "建筑工程施工许可", department="广安市住房和城乡建设局"),
        item(registry, "c-plan", CITY, "建设工程规划许可", department="广安市住房和城乡建设局"),
        item(registry, "c-road", CITY, "公路超限运输许可", department=None),
        item(registry, "d-food", DISTRICT, "食品经营许可（县级）", department="区市场监管局"),
        item(registry, "d-check", DISTRICT, "对食品生产的检查", power_type="行政检查", department="区市场监管局"),
    ]
    linked = links(("d-food", "c-food", DISTRICT, CITY))
    found = of_kind(find_reform(frame(rows), linked, registry, rules), "county_missing_city_licence")
    # 住建局's licences are not expected of a market-regulation list; one without a department is
    assert [(f["item_id"], json.loads(f["details"])["department"]) for f in found] == [
        ("c-drug", "广安市市场监督管理局"),
        ("c-road", None),
    ]
    every = dataclasses.replace(rules, coverage_by_department=False)
    found = of_kind(find_reform(frame(rows), linked, registry, every), "county_missing_city_licence")
    assert {f["item_id"] for f in found} == {"c-drug", "c-build", "c-plan", "c-road"}
    # the coverage table still counts every licence the district lacks
    coverage = reform_tables(frame(rows), linked, registry, rules)["city_county_licence_coverage"].to_pylist()
    assert next(r for r in coverage if r["lower_code"] == DISTRICT)["n_missing"] == 4


def test_county_missing_city_licence_thresholds_and_exemptions(registry, rules):
    rows = _city_and_counties(registry)
    linked = links(("d-food", "c-food", DISTRICT, CITY))
    # 前锋区 covers 0% of the city's licences: below a 10% threshold it looks like a partial list.
    partial = dataclasses.replace(rules, coverage_min_share=0.1)
    found = of_kind(find_reform(frame(rows), linked, registry, partial), "county_missing_city_licence")
    assert {f["other_jurisdiction_code"] for f in found} == {DISTRICT}
    exempt = dataclasses.replace(rules, coverage_exempt_pattern="户外广告")
    found = of_kind(find_reform(frame(rows), linked, registry, exempt), "county_missing_city_licence")
    assert "c-ad" not in {f["item_id"] for f in found}
    by_link_only = dataclasses.replace(rules, coverage_match_by_name=False)
    found = of_kind(find_reform(frame(rows), linked, registry, by_link_only), "county_missing_city_licence")
    assert ("c-named", DISTRICT) in {(f["item_id"], f["other_jurisdiction_code"]) for f in found}


def test_no_city_list_no_county_finding(registry, rules):
    rows = [item(registry, "d-food", DISTRICT, "食品经营许可")]
    assert not of_kind(find_reform(frame(rows), NO_LINKS, registry, rules), "county_missing_city_licence")


def test_townships_use_registry_levels(tmp_path, rules):
    """县乡同权 with 9-digit township codes from a manifest's jurisdictions file: no 3-level assumption."""
    extra = tmp_path / "jurisdictions.csv"
    extra.write_text(
        "code,name,level,parent_code\n"
        "511602001,浦西街道,township,511602\n"
        "511602100,花桥镇,township,511602\n"
        "511602100201,花桥村,village,511602100\n",
        encoding="utf-8",
    )
    registry = load_registry(extra)
    rows = [
        item(registry, "d-a", DISTRICT, "农村宅基地审批"),
        item(registry, "d-b", DISTRICT, "临时占用林地审批"),
        item(registry, "t-a", "511602100", "农村宅基地审批"),
        item(registry, "v-a", "511602100201", "村民建房审批", power_type="其他行政权力"),
    ]
    township_rules = dataclasses.replace(
        rules, coverage_pairs=(("county", "township"), ("township", "village")), coverage_by_department=False
    )
    result = find_reform(frame(rows), NO_LINKS, registry, township_rules)
    missing = of_kind(result, "county_missing_city_licence")
    # 花桥镇 lacks one of 广安区's two licences; 花桥村 lacks 花桥镇's; 浦西街道 has no list: not blamed.
    assert [(f["item_id"], f["other_jurisdiction_code"]) for f in missing] == [
        ("d-b", "511602100"),
        ("t-a", "511602100201"),
    ]
    assert missing[0]["message"].endswith("（县乡同权）")
    assert missing[1]["message"].endswith("（乡村同权）")
    # The village list gets the same per-item checks as any other level.
    assert [f["item_id"] for f in of_kind(result, "disguised_approval")] == ["v-a"]
    coverage = reform_tables(frame(rows), NO_LINKS, registry, township_rules)["city_county_licence_coverage"]
    pairs = {(r["upper_code"], r["lower_code"]): r for r in coverage.to_pylist()}
    assert pairs[(DISTRICT, "511602100")]["share"] == pytest.approx(0.5)
    assert pairs[(DISTRICT, "511602001")]["lower_has_list"] is False
    assert pairs[("511602100", "511602100201")]["n_upper_licences"] == 1


# ------------------------------------------------------------------------------------ disguised_approval


def test_disguised_approval_needs_evidence(registry, rules):
    rows = [
        item(registry, "filing", DISTRICT, "企业投资项目备案（技术改造）", power_type="其他行政权力"),
        item(registry, "approval", DISTRICT, "临时便民服务摊点设置审批", power_type="公共服务"),
        # the city lists it as a licence, the district as another power: linked, so the same item
        item(registry, "city-fire", CITY, "建设工程消防验收", power_type="行政许可"),
        item(registry, "relabelled", DISTRICT, "建设工程消防验收备案", power_type="其他行政权力"),
        # the city cancelled the licence; the district keeps it as a filing (明放暗不放), unlinked
        item(registry, "city-gone", CITY, "食品小作坊登记许可", status="取消"),
        item(registry, "kept", DISTRICT, "食品小作坊备案", power_type="其他行政权力"),
        # a cancellation in another city is no evidence about this district
        item(registry, "elsewhere", "512000", "旧货业登记许可", status="取消"),
        item(registry, "unrelated", DISTRICT, "旧货业备案", power_type="其他行政权力"),
        item(registry, "notice-only", DISTRICT, "应急预案及其修订情况备案（告知性）", power_type="其他行政权力"),
        item(registry, "licence", DISTRICT, "公司设立登记", power_type="行政许可"),
        item(registry, "gone", DISTRICT, "旧货业审批", power_type="其他行政权力", status="取消"),
    ]
    linked = links(("relabelled", "city-fire", DISTRICT, CITY))
    found = {f["item_id"]: f for f in of_kind(find_reform(frame(rows), linked, registry, rules), "disguised_approval")}
    assert set(found) == {"approval", "relabelled", "kept"}
    evidence = {i: json.loads(f["details"])["evidence"] for i, f in found.items()}
    assert evidence == {"approval": "approval_word", "relabelled": "upper_licence", "kept": "upper_cancelled"}
    assert {f["severity"] for f in found.values()} == {"warning"}
    assert (found["relabelled"]["other_item_id"], found["relabelled"]["other_jurisdiction_code"]) == ("city-fire", CITY)
    assert (found["kept"]["other_item_id"], found["approval"]["other_item_id"]) == ("city-gone", None)
    assert found["kept"]["message"] == (
        "广安区 的「食品小作坊备案」列为其他行政权力，而广安市已取消行政许可「食品小作坊登记许可」，"
        "可能以备案形式保留（明放暗不放），请核实是否应列为行政许可或予以取消"
    )
    assert found["relabelled"]["message"] == (
        "广安区 的「建设工程消防验收备案」列为其他行政权力，而广安市将「建设工程消防验收」列为行政许可，"
        "可能以验收之名行审批之实，请核实是否应列为行政许可或予以取消"
    )

    # the bare word match is opt-in, as info; exclusions and cancelled items stay out
    bare = dataclasses.replace(rules, disguised_bare_words=True)
    found = {f["item_id"]: f for f in of_kind(find_reform(frame(rows), linked, registry, bare), "disguised_approval")}
    assert set(found) == {"approval", "relabelled", "kept", "filing", "unrelated"}
    assert found["filing"]["severity"] == "info" and json.loads(found["filing"]["details"])["evidence"] == "word"
    assert found["filing"]["message"] == (
        "广安区 的「企业投资项目备案（技术改造）」列为其他行政权力，名称含「备案」，"
        "可能是变相审批，请核实是否应列为行政许可或予以取消"
    )


def test_bare_words_is_read_from_the_rules_file(tmp_path):
    toml = RULES_FILE.read_text(encoding="utf-8").replace("bare_words = false", "bare_words = true")
    assert load_rules(write_rules(tmp_path, toml)).disguised_bare_words
    assert not load_rules().disguised_bare_words
    (tmp_path / "rules.toml").write_text(toml.replace("bare_words = true", 'bare_words = "yes"'), encoding="utf-8")
    with pytest.raises(RulesError, match="bare_words"):
        load_rules(tmp_path / "rules.toml")


def test_disguised_approval_word_list_is_data(tmp_path, registry):
    (tmp_path / "words.csv").write_text("word,severity,note\n年检,warning,测试\n", encoding="utf-8")
    toml = RULES_FILE.read_text(encoding="utf-8").replace(
        'words_file = "disguised_approval_words.csv"', 'words_file = "words.csv"'
    )
    custom = load_rules(write_rules(tmp_path, toml))
    rows = [
        item(registry, "a", DISTRICT, "客货运输车辆年检", power_type="其他行政权力"),
        item(registry, "b", DISTRICT, "旧货业备案", power_type="其他行政权力"),
    ]
    found = of_kind(find_reform(frame(rows), NO_LINKS, registry, custom), "disguised_approval")
    assert [(f["item_id"], f["severity"]) for f in found] == [("a", "warning")]


# -------------------------------------------------------------------------- devolved_without_supervision


def test_devolved_without_supervision(registry, rules):
    rows = [
        item(registry, "devolved", CITY, "建筑垃圾处置核准", status="下放"),
        item(registry, "entrusted", CITY, "某某检查", power_type="行政检查", status="委托", responsibility=" 无 "),
        item(registry, "supervised", CITY, "某某核准", status="下放", responsibility="1.监督检查责任：…"),
        item(registry, "kept", CITY, "某某许可", status="保留"),
    ]
    found = {
        f["item_id"]: f
        for f in of_kind(find_reform(frame(rows), NO_LINKS, registry, rules), "devolved_without_supervision")
    }
    assert set(found) == {"devolved", "entrusted"}
    assert found["devolved"]["severity"] == "warning"
    assert found["devolved"]["message"] == "广安市 下放的「建筑垃圾处置核准」没有列明下放后的监管责任（责任事项为空）"
    assert found["entrusted"]["message"].startswith("广安市 委托的「某某检查」")


def test_devolved_without_supervision_skips_lists_without_responsibilities(registry, rules):
    rows = [item(registry, "devolved", CITY, "建筑垃圾处置核准", status="下放")]  # no item has responsibilities
    assert not of_kind(find_reform(frame(rows), NO_LINKS, registry, rules), "devolved_without_supervision")
    every_list = dataclasses.replace(rules, devolved_only_sources_with_responsibilities=False)
    assert of_kind(find_reform(frame(rows), NO_LINKS, registry, every_list), "devolved_without_supervision")


# ------------------------------------------------------------------------------------- table properties


def test_findings_table_is_deterministic_and_in_contract(registry, rules):
    rows = [
        *_city_and_counties(registry),
        item(registry, "filing", DISTRICT, "企业投资项目核准", power_type="其他行政权力"),
        item(registry, "local", CITY, "户外广告审批", legal_basis="《广安市户外广告管理办法》", responsibility="有"),
        item(registry, "dev", CITY, "某某核准", status="下放"),
    ]
    linked = links(("d-food", "c-food", DISTRICT, CITY))
    first = find_reform(frame(rows), linked, registry, rules)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    second = find_reform(frame(shuffled), linked, registry, rules)
    assert first.schema == FINDINGS
    assert first.equals(second)
    kinds = set(first.column("kind").to_pylist())
    assert kinds == {
        "locally_set_licence",
        "county_missing_city_licence",
        "disguised_approval",
        "devolved_without_supervision",
    }
    assert kinds <= set(FINDING_KINDS)
    ids = first.column("finding_id").to_pylist()
    assert len(ids) == len(set(ids))
    keys = [
        (r["kind"], r["jurisdiction_code"], r["item_id"], r["other_item_id"] or "", r["other_jurisdiction_code"] or "")
        for r in first.to_pylist()
    ]
    assert keys == sorted(keys)
    for r in first.to_pylist():
        json.loads(r["details"])


def test_empty_inputs(registry, rules):
    empty = frame([item(registry, "x", CITY, "x")]).iloc[0:0]
    assert find_reform(empty, NO_LINKS, registry, rules).schema == FINDINGS
    tables = reform_tables(empty, NO_LINKS, registry, rules)
    assert {k: v.schema for k, v in tables.items()} == REFORM_TABLES


# -------------------------------------------------------------------------------------------- rules file


def test_default_rules_file_loads():
    rules = load_rules()
    assert rules.coverage_pairs == (("city", "county"),)
    assert rules.local_authorities == ("地方政府规章", "规范性文件")
    words = {w.word: w.severity for w in rules.disguised_words}
    assert {"备案", "登记", "注册", "目录", "年检", "监制", "认定", "认证", "专项计划"} <= set(words)
    assert words["审批"] == "warning" and words["备案"] == "info"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('authorities = ["地方政府规章", "规范性文件"]', 'authorities = ["规章"]', "authorities"),
        ('pairs = [["city", "county"]]', 'pairs = [["county", "city"]]', "pairs"),
        ("min_share_for_findings = 0.0", "min_share_for_findings = 2", "min_share_for_findings"),
        ('severity = "warning"', 'severity = "fatal"', "severity"),
        ("match_by_name = true", "match_by_name = true\ncolour = 1", "colour"),
        ('exempt_pattern = ""', 'exempt_pattern = "("', "exempt_pattern"),
    ],
)
def test_bad_rules_name_the_key(tmp_path, old, new, message):
    text = RULES_FILE.read_text(encoding="utf-8")
    assert old in text
    path = write_rules(tmp_path, text.replace(old, new, 1))
    (tmp_path / "disguised_approval_words.csv").write_text("word\n备案\n", encoding="utf-8")
    with pytest.raises(RulesError, match=message):
        load_rules(path)


# ---------------------------------------------------------------------------------------- extra tables


def test_status_summary(registry, rules):
    rows = [
        item(registry, "a", CITY, "甲许可"),
        item(registry, "b", CITY, "乙许可", status="承接", responsibility="有"),
        item(registry, "c", CITY, "乙许可", sub_item="变更", status="承接"),
        item(registry, "d", CITY, "丙许可", status="下放"),
        item(registry, "e", CITY, "丁处罚", power_type="行政处罚", status="取消"),
    ]
    table = reform_tables(frame(rows), NO_LINKS, registry, rules)["status_summary"]
    assert table.schema == STATUS_SUMMARY
    got = {r["power_type"]: r for r in table.to_pylist()}
    licence = got["行政许可"]
    assert (licence["jurisdiction_name"], licence["level"]) == ("广安市", "city")
    assert (licence["n_items"], licence["n_main_items"], licence["n_sub_items"]) == (4, 3, 1)
    assert (licence["n_retained"], licence["n_received"], licence["n_devolved"]) == (1, 2, 1)
    assert licence["n_with_responsibility"] == 1
    assert got["行政处罚"]["n_cancelled"] == 1


def test_coverage_table(registry, rules):
    linked = links(("d-food", "c-food", DISTRICT, CITY))
    table = reform_tables(frame(_city_and_counties(registry)), linked, registry, rules)["city_county_licence_coverage"]
    assert table.schema == LICENCE_COVERAGE
    rows = {r["lower_code"]: r for r in table.to_pylist()}
    assert set(rows) == {c for c in registry.codes() if registry[c].level == "county" and c.startswith("5116")}
    district = rows[DISTRICT]
    assert (district["n_upper_licences"], district["n_held"], district["n_missing"]) == (3, 2, 1)
    assert district["share"] == pytest.approx(2 / 3)
    assert district["findings_raised"] is True
    assert (district["n_lower_items"], district["n_lower_licences"]) == (2, 2)
    assert rows[QIANFENG]["share"] == 0.0
    no_list = rows["511621"]  # 岳池县
    assert no_list["lower_has_list"] is False
    assert no_list["n_held"] is None and no_list["share"] is None and no_list["findings_raised"] is False


def test_concentration_without_and_with_changes(registry, rules):
    old = [
        item(registry, "old-1", CITY, "甲许可", department="市住建局", source_id="v1"),
        item(registry, "old-2", CITY, "乙许可", department="市交通局", source_id="v1"),
        item(registry, "old-3", CITY, "丙许可", department="市交通局", source_id="v1"),
    ]
    new = [
        item(registry, "new-1", CITY, "甲许可", department="广安市行政审批局", source_id="v2"),
        item(registry, "new-2", CITY, "乙许可", department="广安市行政审批局", source_id="v2"),
        item(registry, "new-3", CITY, "丙许可", department="广安市行政审批局", source_id="v2"),
        item(registry, "new-4", CITY, "丁处罚", department="市交通局", power_type="行政处罚", source_id="v2"),
    ]
    plain = reform_tables(frame(new), NO_LINKS, registry, rules)["concentration"]
    assert plain.schema == CONCENTRATION
    bureau = next(r for r in plain.to_pylist() if r["department"] == "广安市行政审批局")
    assert bureau["is_approval_bureau"] is True
    assert (bureau["n_licences"], bureau["share_of_licences"]) == (3, 1.0)
    assert bureau["n_moved_in"] is None and bureau["moved_from"] is None

    changes = pa.table(
        {
            "jurisdiction_code": [CITY] * 3,
            "from_source_id": ["v1"] * 3,
            "to_source_id": ["v2"] * 3,
            "from_published": [None] * 3,
            "to_published": [None] * 3,
            "change": ["department_changed"] * 3,
            "old_item_id": ["old-1", "old-2", "old-3"],
            "new_item_id": ["new-1", "new-2", "new-3"],
            "old_name": ["甲许可", "乙许可", "丙许可"],
            "new_name": ["甲许可", "乙许可", "丙许可"],
            "detail": [None, None, None],
        },
        schema=CHANGES,
    )
    tables = reform_tables(frame(new), NO_LINKS, registry, rules, changes=changes, all_items=frame(old + new))
    rows = {r["department"]: r for r in tables["concentration"].to_pylist()}
    assert rows["广安市行政审批局"]["n_moved_in"] == 3
    assert rows["广安市行政审批局"]["moved_from"] == [
        {"department": "市交通局", "n_items": 2},
        {"department": "市住建局", "n_items": 1},
    ]
    assert rows["市交通局"]["n_moved_in"] == 0 and rows["市交通局"]["moved_from"] == []
    # Without the old items, the change's detail JSON can name the old department.
    detailed = changes.set_column(
        changes.schema.get_field_index("detail"),
        "detail",
        pa.array([json.dumps({"old_department": "市住建局"}, ensure_ascii=False)] * 3),
    )
    tables = reform_tables(frame(new), NO_LINKS, registry, rules, changes=detailed)
    rows = {r["department"]: r for r in tables["concentration"].to_pylist()}
    assert rows["广安市行政审批局"]["moved_from"] == [{"department": "市住建局", "n_items": 3}]


# ------------------------------------------------------------------------------------- realistic data


SICHUAN_TYPES = {
    1: "行政许可",
    5: "行政给付",
    7: "行政确认",
    8: "行政奖励",
    9: "行政裁决",
    10: "其他行政权力",
    20: "公共服务",
}


def test_real_guangan_district_list(registry, rules):
    """The real 广安区 list (1,135 rows, task types as documented in SOURCE.md)."""
    raw = pd.read_csv(REALDATA / "sichuan" / "sichuan_guangan_district_511602_items.csv", dtype=str)
    rows = [
        item(
            registry,
            f"ga-{i}",
            DISTRICT,
            r["item_name"],
            power_type=SICHUAN_TYPES[int(r["task_type"])],
            department=r["department"],
            base_code=r["basic_code"],
            source_id="sc-511602-guangan-real",
        )
        for i, r in raw.iterrows()
    ]
    result = find_reform(frame(rows), NO_LINKS, registry, rules)
    # a district list alone: no upper list to give evidence, so only names that say 审批/许可/核准 …
    said = of_kind(result, "disguised_approval")
    assert said and {json.loads(r["details"])["evidence"] for r in said} == {"approval_word"}
    assert "城市地下空间的规划和开发利用审批" in {json.loads(r["details"])["name"] for r in said}
    bare = find_reform(frame(rows), NO_LINKS, registry, dataclasses.replace(rules, disguised_bare_words=True))
    disguised = {r["item_id"]: r for r in of_kind(bare, "disguised_approval")}
    assert len(said) < len(disguised) / 3  # most approval-sounding names are genuine filings
    names = {json.loads(r["details"])["name"] for r in disguised.values()}
    assert "生产性废旧金属收购业备案" in names  # taskType 10
    assert "建设工程设计方案审定" in names
    assert not any("咨询" in n and "备案" not in n and "登记" not in n for n in names)
    licence_ids = {f"ga-{i}" for i, r in raw.iterrows() if int(r["task_type"]) == 1}
    assert not licence_ids & set(disguised)
    # No legal bases, no statuses, no city list in this run: the other kinds have nothing to say.
    assert set(result.column("kind").to_pylist()) == {"disguised_approval"}


def test_real_liaoning_catalogue(registry, rules):
    """Liaoning's real catalogue: licences cite laws and State Council acts, so none is locally set."""
    data = json.loads((REALDATA / "liaoning" / "liaoning_province_catalog_sample_government_data.json").read_text())
    types = {"01": "行政许可", "02": "行政处罚", "03": "行政强制", "04": "行政征收", "05": "行政给付", "06": "行政检查"}
    types |= {"09": "行政裁决", "10": "其他行政权力", "20": "公共服务", "99": "行政奖励"}
    rows = [
        item(
            registry,
            r["职权编码"],
            "210000",
            r["事项名称"],
            power_type=types[r["事项类型"]],
            legal_basis=r["依据"],
            province="210000",
        )
        for r in data
    ]
    result = find_reform(frame(rows), NO_LINKS, registry, dataclasses.replace(rules, disguised_bare_words=True))
    assert not of_kind(result, "locally_set_licence")
    disguised = {json.loads(r["details"])["name"]: r for r in of_kind(result, "disguised_approval")}
    # 10 其他行政权力: 建设工程施工合同登记, 注销扣缴税款登记, 远洋渔业企业年审 — but not the 告知性 filing.
    assert {"建设工程施工合同登记", "注销扣缴税款登记", "远洋渔业企业年审"} <= set(disguised)
    assert "应急预案及其修订情况备案（告知性）" not in disguised
    # A licence resting only on a provincial rule is flagged once the basis says so.
    rows[0] = {
        **rows[0],
        "power_type": "行政许可",
        "legal_basis": "【规章】《辽宁省建设工程造价管理办法》（辽宁省人民政府令第260号）第十八条",
    }
    assert len(of_kind(find_reform(frame(rows), NO_LINKS, registry, rules), "locally_set_licence")) == 1


def test_department_keys_drop_the_place_and_resolve_aliases(rules):
    departments = pd.Series(
        ["广安市市场监督管理局", "市市监局", "区市场监管局", "市场监督管理局", "广安区住建局", "市政管理局", None, "  "]
    )
    places = pd.Series(["广安市", "广安市", "广安区", "广安市", "广安区", "广安市", "广安市", "广安市"])
    assert department_keys(departments, places, rules.department_aliases).tolist() == [
        "市场监督管理局",
        "市场监督管理局",
        "市场监督管理局",
        "市场监督管理局",
        "住房和城乡建设局",
        "市政管理局",  # 市 is part of the name here
        None,
        None,
    ]


def test_links_elsewhere_leave_department_coverage_to_the_names(registry, rules):
    """Links that touch none of the city's counties (here: the city to the province) are no coverage."""
    rows = [
        item(registry, "p-food", "510000", "食品经营许可", department="四川省市场监督管理局"),
        item(registry, "c-food", CITY, "食品经营许可", department="广安市市场监督管理局"),
        item(registry, "c-drug", CITY, "药品零售企业许可", department="广安市市场监督管理局"),
        item(registry, "d-check", DISTRICT, "对食品生产的检查", power_type="行政检查", department="区市场监管局"),
    ]
    linked = links(("c-food", "p-food", CITY, "510000"))
    found = of_kind(find_reform(frame(rows), linked, registry, rules), "county_missing_city_licence")
    assert {f["item_id"] for f in found} == {"c-food", "c-drug"}  # 区市场监管局 covers the market bureau
