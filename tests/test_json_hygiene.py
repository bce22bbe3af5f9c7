"""JSON values that are not text in the name column quarantine their row; repeated keys are warned about."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REALDATA
from transforms.ingest.read import read_rows

LIAONING = REALDATA / "liaoning" / "liaoning_province_catalog_sample_government_data.json"
RECORDS: list[dict] = json.loads(LIAONING.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('{"zh": "专利权侵权纠纷处理"}', "an object"),
        ('["专利权侵权纠纷处理"]', "an array"),
        ("12", r"a number \(12\)"),
        ("1.5", r"a number \(1.5\)"),
        ("true", r"a boolean \(true\)"),
        ("NaN", r"NaN \(not even valid JSON\)"),
        ("-Infinity", r"Infinity \(not even valid JSON\)"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_name_that_is_not_text_quarantines_its_row_naming_the_column(value: str, reason: str, fmt: str) -> None:
    good = [json.dumps(r, ensure_ascii=False) for r in RECORDS[:3]]
    bad = '{"事项名称": ' + value + ', "事项类型": "09", "依据": 5}'
    lines = [good[0], bad, good[1], good[2]]
    data = ("[" + ",".join(lines) + "]" if fmt == "json" else "\n".join(lines)).encode()
    frame, _ = read_rows(data, source_id="ln", fmt=fmt)
    assert len(frame) == 4
    errors = list(frame["row_errors"])
    assert errors[0] == errors[2] == errors[3] == []
    (message,) = errors[1]
    assert message.startswith("事项名称: ")
    assert re.search(reason + " where the item name must be text", message), message
    assert frame["raw"][1]["依据"] == "5", "a number elsewhere is still its text"


def test_null_name_is_just_empty_and_numbers_in_other_columns_are_fine() -> None:
    data = json.dumps([{"事项名称": None, "职权编码": 210973001000}, {"事项名称": "专利权侵权纠纷处理", "职权编码": 7}])
    frame, _ = read_rows(data.encode(), source_id="ln", fmt="json")
    assert list(frame["name_raw"]) == [None, "专利权侵权纠纷处理"]
    assert list(frame["code_raw"]) == ["210973001000", "7"]
    assert list(frame["row_errors"]) == [[], []]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_repeated_key_is_a_warning_naming_row_and_key(fmt: str) -> None:
    first = json.dumps(RECORDS[0], ensure_ascii=False)
    repeated = '{"事项名称": "甲", "事项类型": "01", "事项名称": "乙"}'
    lines = [first, repeated]
    data = ("[" + ",".join(lines) + "]" if fmt == "json" else "\n".join(lines)).encode()
    frame, info = read_rows(data, source_id="ln", fmt=fmt)
    assert list(frame["name_raw"]) == [RECORDS[0]["事项名称"], "乙"]
    warning = "row 2: key '事项名称' appears more than once in the object; the last value was kept"
    assert info["read_warnings"] == [warning]


def test_repeated_keys_in_wrappers_are_counted_and_long_lists_cut() -> None:
    records = ",".join(f'{{"事项名称": "甲{i}", "事项名称": "乙"}}' for i in range(30))
    data = ('{"code": 200, "code": 201, "data": {"list": [' + records + "]}}").encode()
    _, info = read_rows(data, source_id="ln", fmt="json", data_selector="data.list")
    warnings = info["read_warnings"]
    assert len(warnings) == 22
    assert warnings[19].startswith("row 20: key '事项名称'")
    assert warnings[20] == "… and 10 more rows repeating a key"
    assert warnings[21] == "1 nested object(s) repeat a key ('code'); the last value was kept"


def test_clean_json_has_no_read_warnings() -> None:
    _, info = read_rows(LIAONING.read_bytes(), source_id="ln", fmt="json")
    assert "read_warnings" not in info
