"""Header normalisation and alias mapping (CONTRACT §3)."""

from __future__ import annotations

import pytest

from transforms.ingest.columns import (
    CANONICAL,
    FRAME_COLUMN,
    ROW_FRAME_COLUMNS,
    check_overrides,
    find_header_row,
    is_numbering,
    load_aliases,
    map_headers,
    normalise_header,
    unique_keys,
)

# Every alias CONTRACT.md §3 lists, plus the ones the brief asks for by name.
CONTRACT_ALIASES = {
    "name": [
        "事项名称",
        "权力名称",
        "职权名称",
        "权力事项名称",
        "行政职权名称",
        "项目名称",
        "名称",
        "事项",
        "itemName",
    ],
    "sub_item": ["子项名称", "子项", "办理项", "办理项名称"],
    "code": ["事项编码", "权力编码", "职权编码", "实施编码", "基本编码", "目录编码", "编码", "itemCode"],
    "power_type": ["权力类型", "事项类型", "职权类型", "职权类别", "权力类别", "类别", "类型"],
    "department": ["实施主体", "实施机关", "实施部门", "责任部门", "职能部门", "主管部门", "部门"],
    "legal_basis": ["设定依据", "实施依据", "设定和实施依据", "法律依据", "依据"],
    "status": ["状态", "处理意见", "调整意见", "调整情况", "下放情况", "行使层级", "备注"],
    "responsibility": ["责任事项", "监管责任", "追责情形", "责任事项依据"],
    "seq": ["序号"],
}
ENGLISH = {
    "name": "name",
    "item_name": "name",
    "code": "code",
    "item_code": "code",
    "type": "power_type",
    "department": "department",
    "legal_basis": "legal_basis",
    "status": "status",
    "responsibility": "responsibility",
}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("事项名称", "事项名称"),
        (" 事项 名称 ", "事项名称"),
        ("事项名称：", "事项名称"),
        ("事项名称:", "事项名称"),
        ("（事项名称）", "事项名称"),
        ("【事项名称】", "事项名称"),
        ("《事项名称》", "事项名称"),
        ("事项\n名称", "事项名称"),
        ("事项\u3000名称", "事项名称"),
        ("*事项名称", "事项名称"),
        ("ＩｔｅｍＮａｍｅ", "itemname"),
        ("Item Name", "itemname"),
        ("设定依据(法律法规)", "设定依据法律法规"),
        ("事項名稱", "事项名称"),
        ("權力類別", "权力类别"),
    ],
)
def test_normalise_header(header: str, expected: str) -> None:
    assert normalise_header(header) == expected


@pytest.mark.parametrize(("canonical", "alias"), [(c, a) for c, aliases in CONTRACT_ALIASES.items() for a in aliases])
def test_every_contract_alias_maps(canonical: str, alias: str) -> None:
    assert map_headers([alias]).canonical == {canonical: 0}


@pytest.mark.parametrize(("header", "canonical"), ENGLISH.items())
def test_english_snake_names_map(header: str, canonical: str) -> None:
    assert map_headers([header]).canonical == {canonical: 0}


def test_alias_table_is_data_and_covers_every_canonical() -> None:
    aliases = load_aliases()
    covered = {c for targets in aliases.values() for c in targets}
    assert covered == set(CANONICAL)
    assert aliases["编号"] == ("code", "seq")


def test_row_frame_columns_follow_architecture() -> None:
    assert ROW_FRAME_COLUMNS == (
        "source_id",
        "sheet",
        "row_no",
        "raw",
        "name_raw",
        "sub_item_raw",
        "code_raw",
        "power_type_raw",
        "department",
        "legal_basis",
        "status_raw",
        "responsibility",
        "seq",
        "extra",
        "row_errors",
    )
    assert set(FRAME_COLUMN) == set(CANONICAL)


def test_headers_with_decoration_still_map() -> None:
    hmap = map_headers(["序 号", "事项名称（子项）", "权力类型：", "实施主体\n（责任部门）", "ＩｔｅｍＣｏｄｅ"])
    assert hmap.canonical == {"seq": 0, "power_type": 2, "code": 4}
    assert hmap.unmapped == (1, 3)


def test_leftmost_header_wins_and_later_ones_stay_unmapped() -> None:
    hmap = map_headers(["事项名称", "设定依据", "实施依据", "权力名称"])
    assert hmap.canonical == {"name": 0, "legal_basis": 1}
    assert hmap.unmapped == (2, 3)


def test_override_claims_its_header_before_aliases() -> None:
    hmap = map_headers(["事项名称", "办理项", "task_type"], {"name": "办理项", "power_type": "task_type"})
    assert hmap.canonical == {"name": 1, "power_type": 2}
    assert hmap.unmapped == (0,)  # 事项名称 would be name, but the override took name
    assert hmap.missing_overrides == ()


def test_override_matches_normalised_text_and_reports_missing_headers() -> None:
    hmap = map_headers(["事项 名称：", "编码"], {"name": "事项名称", "department": "实施主体"})
    assert hmap.canonical == {"name": 0, "code": 1}
    assert hmap.missing_overrides == ("department",)


def test_check_overrides_refuses_unknown_columns() -> None:
    assert check_overrides(None) == {}
    assert check_overrides({"name": "事项"}) == {"name": "事项"}
    with pytest.raises(ValueError, match="unknown column"):
        check_overrides({"title": "事项"})


def test_numbering_header_is_seq_only_when_it_counts() -> None:
    assert map_headers(["编号", "事项名称"], numbering=lambda j: True).canonical == {"seq": 0, "name": 1}
    assert map_headers(["编号", "事项名称"], numbering=lambda j: False).canonical == {"code": 0, "name": 1}
    # a real code column already took `code`: 编号 that is not numbering stays in extra
    hmap = map_headers(["事项编码", "编号", "事项名称"], numbering=lambda j: False)
    assert hmap.canonical == {"code": 0, "name": 2}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2", " 3 ", ""], True),
        (["1", "2", "A3"], False),
        (["210973001000"], False),  # a 12-digit 职权编码 is a code, not a count
        (["1.5"], False),
        (["", " "], False),
    ],
)
def test_is_numbering(values: list[str], expected: bool) -> None:
    assert is_numbering(values) is expected


def test_unique_keys() -> None:
    assert unique_keys(["依据", "", "依据", "依据.1", "依据"]) == ["依据", "column 2", "依据.1", "依据.1.1", "依据.2"]


def test_find_header_row_skips_title_note_and_blank_rows() -> None:
    rows = [
        ["广东省省级行政职权事项目录", "", ""],
        ["", "", ""],
        ["单位：项", "", ""],
        ["序号", "事项名称", "实施主体"],
        ["1", "事项", "部门"],
    ]
    assert find_header_row(rows) == 3


def test_find_header_row_falls_back_to_a_name_only_header() -> None:
    assert find_header_row([["清单"], ["事项名称"], ["食品经营许可"]]) == 1


def test_find_header_row_needs_a_name_column() -> None:
    assert find_header_row([["序号", "实施主体", "类型"], ["1", "2", "3"]]) is None


def test_find_header_row_only_scans_the_limit() -> None:
    rows = [[f"标题{i}", ""] for i in range(25)] + [["事项名称", "类型"]]
    assert find_header_row(rows) is None
    assert find_header_row(rows, limit=30) == 25


def test_find_header_row_with_override_for_an_unknown_header() -> None:
    rows = [["item", "kind"], ["a", "b"]]
    assert find_header_row(rows) is None
    assert find_header_row(rows, {"name": "item"}) == 0


PORTAL_RECORD_FIELDS = {  # 政务服务网 catalogue APIs (Liaoning's findCatalog: realdata/liaoning/SOURCE.md)
    "qlName": "name",
    "itemName": "name",
    "catalogCode": "code",
    "itemType": "power_type",
    "taskType": "power_type",
    "qlKind": "power_type",
    "deptName": "department",
    "lawbasis": "legal_basis",
}


@pytest.mark.parametrize(("field", "canonical"), PORTAL_RECORD_FIELDS.items())
def test_portal_api_field_names_map_without_configuration(field: str, canonical: str) -> None:
    hmap = map_headers(["序号", field])
    assert hmap.canonical[canonical] == 1


def test_a_published_chinese_header_keeps_its_column_beside_a_portal_field() -> None:
    # A record carrying both the API field and the published column means the published one, wherever
    # the API field stands; the other stays in extra.
    hmap = map_headers(["taskType", "事项名称", "事项类型"])
    assert hmap.canonical == {"name": 1, "power_type": 2}
    assert hmap.unmapped == (0,)


def test_portal_records_give_their_type_instead_of_one_inferred_from_the_name() -> None:
    import json

    from transforms.clean.normalise import normalise
    from transforms.ingest.read import read_rows

    records = [  # real Liaoning catalogue rows under the portal's own field names
        {"qlName": "专利权侵权纠纷处理", "catalogCode": "210973001000", "qlKind": "09", "deptName": "省知识产权局"},
        {"qlName": "对企业年度报告公示情况的抽查", "catalogCode": "210631001000", "itemType": "行政检查"},
    ]
    frame, _ = read_rows(json.dumps(records, ensure_ascii=False).encode(), source_id="portal", fmt="json")
    rows = normalise(frame)
    assert rows["name_raw"].tolist() == [r["qlName"] for r in records]
    assert rows["power_type"].tolist() == ["行政裁决", "行政检查"]
    assert rows["department"].tolist()[0] == "省知识产权局"
    assert rows["code_raw"].tolist() == ["210973001000", "210631001000"]
