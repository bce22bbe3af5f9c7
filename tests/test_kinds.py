"""The findings framework: one registry of kinds, one way to build a row, one table."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from transforms.examine.kinds import (
    KINDS,
    FindingKind,
    JsonFragments,
    combine_findings,
    details_json,
    finding_record,
    finding_rows,
    findings_table,
)
from transforms.publish.schema import FINDING_KINDS, FINDINGS, REVIEW_COLUMNS, SEVERITIES


def test_every_contract_kind_is_registered_with_a_contract_severity() -> None:
    assert tuple(KINDS) == FINDING_KINDS
    assert all(k.severity in SEVERITIES and k.subject for k in KINDS.values())
    with pytest.raises(ValueError, match="not in the contract"):
        FindingKind("made_up", "error", "x", "", "nowhere")


def test_details_json_is_json_dumps_with_sorted_keys() -> None:
    values = {
        "name": pd.Series(["食品经营许可", None, 'quote " and \\ back', "食品经营许可"], dtype=object),
        "score": pd.Series([0.91, np.float64(1.0), float("nan"), 2.5]),
        "n": pd.Series([np.int64(3), 0, -1, 10**12], dtype=object),
        "flag": pd.Series([True, False, np.bool_(True), None], dtype=object),
        "cited": JsonFragments(pd.Series(['["a"]', "[]", '["《条例》"]', "null"])),
    }
    got = details_json(values, 4).tolist()
    for i, text in enumerate(got):
        expected = {
            "name": values["name"][i],
            "score": None if math.isnan(values["score"][i]) else float(values["score"][i]),
            "n": int(values["n"][i]),
            "flag": None if values["flag"][i] is None else bool(values["flag"][i]),
            "cited": json.loads(values["cited"].values[i]),
        }
        assert text == json.dumps(expected, ensure_ascii=False, sort_keys=True)


def test_a_vectorised_row_and_a_record_are_the_same_finding() -> None:
    base = pd.DataFrame(
        {
            "jurisdiction_code": ["510000"],
            "item_id": ["p1"],
            "other_item_id": [None],
            "other_jurisdiction_code": ["510100"],
            "message": ["m"],
        }
    )
    items = pd.DataFrame({"item_id": ["p1"], "jurisdiction_code": ["510000"], "name_norm": ["甲"], "sub_item": [None]})
    vectorised = findings_table(
        [finding_rows("devolved_not_received", base, {"name": pd.Series(["甲"])}, base["other_jurisdiction_code"])],
        items=items,
    )
    record = finding_record(
        "devolved_not_received",
        jurisdiction_code="510000",
        item_id="p1",
        other_item_id=None,
        other_jurisdiction_code="510100",
        message="m",
        details={"name": "甲"},
    )
    assert vectorised.schema.equals(FINDINGS)
    (row,) = vectorised.to_pylist()
    assert row == {**record, "finding_key": row["finding_key"], **dict.fromkeys(REVIEW_COLUMNS)}
    assert record["severity"] == "error"
    # the record's key is the builder's, as its id is
    assert findings_table((), records=[record], items=items).to_pylist() == [row]
    assert row["finding_key"].startswith("devolved_not_received:")


def test_dated_findings_refine_their_undated_twins_and_a_kind_judged_twice_is_refused() -> None:
    def record(kind: str, item: str, other: str, message: str) -> dict:
        return finding_record(
            kind,
            jurisdiction_code="510000",
            item_id=item,
            other_item_id=other,
            other_jurisdiction_code="510000",
            message=message,
            details={},
        )

    undated = findings_table(
        (),
        records=[
            record("cancelled_still_listed", "c1", "p1", "plain"),
            record("cancelled_still_listed", "c2", "p1", "plain"),
        ],
        items=None,
    )
    dated = findings_table((), records=[record("cancelled_still_listed", "c2", "p1", "dated")], items=None)
    out = combine_findings(undated, dated).to_pylist()
    assert [(r["item_id"], r["message"]) for r in out] == [("c1", "plain"), ("c2", "dated")]

    devolved = findings_table((), records=[record("devolved_not_received", "p9", "x", "plain")], items=None)
    devolved_again = findings_table((), records=[record("devolved_not_received", "p9", "x", "dated")], items=None)
    with pytest.raises(ValueError, match="devolved_not_received"):
        combine_findings(devolved, devolved_again)
