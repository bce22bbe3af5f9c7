"""GX validation splits rows into items and quarantine with readable reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from transforms.clean.validate import load_suite, validate


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {
        "source_id": "s1",
        "sheet": "",
        "jurisdiction_code": "511602",
        "raw": {},
        "code_raw": None,
        "legal_basis": "《中华人民共和国行政许可法》",
        "power_type": "行政许可",
        "power_type_inferred": False,
        "row_errors": [],
        "norm_warnings": [],
    }
    return pd.DataFrame([{**base, "row_no": i + 2, **row} for i, row in enumerate(rows)])


def test_bad_rows_are_quarantined_with_column_reasons(tmp_path: Path) -> None:
    rows = frame(
        [
            {"name_norm": "食品经营许可"},
            {"name_norm": None},
            {"name_norm": "合计"},
            {"name_norm": "对违法行为的处罚", "power_type": None},
            {"name_norm": "食品生产许可", "code_raw": "见附件说明：本事项编码暂缺，请联系"},
            {"name_norm": "药品零售许可", "row_errors": ["row: 3 cells but the header has 5"]},
            {"name_norm": "建筑施工许可", "legal_basis": None, "power_type_inferred": True},
        ]
    )
    outcome = validate(rows, out_dir=tmp_path / "validation")
    assert len(outcome.items) + len(outcome.quarantine) == len(rows)
    reasons = dict(zip(outcome.quarantine["row_no"], outcome.quarantine["reasons"], strict=True))
    assert reasons[3] == ["name: empty, or only numbering/punctuation"]
    assert reasons[4] == ["name: a placeholder or a total line, not an item name"]
    assert reasons[5][0].startswith("power_type: unknown power type label")
    assert reasons[6][0].startswith("code: not a code")
    assert reasons[7] == ["row: 3 cells but the header has 5"]
    assert list(outcome.items["row_no"]) == [2, 8]
    kept = dict(zip(outcome.items["row_no"], outcome.items["warnings"], strict=True))
    assert kept[2] == []
    assert kept[8] == ["legal_basis: no legal basis given", "power_type: no type given; inferred from the name"]
    assert outcome.errors == 5 and outcome.warnings == 1 and not outcome.success
    assert (tmp_path / "validation" / "data_docs" / "index.html").is_file()
    result = json.loads((tmp_path / "validation" / "validation_result.json").read_text(encoding="utf-8"))
    assert result["success"] is False


def test_suite_is_documented_data() -> None:
    suite = load_suite()
    for expectation in suite["expectations"]:
        assert expectation["severity"] in ("critical", "warning")
        assert {"column", "message", "why"} <= set(expectation["meta"])


def test_verdicts_per_distinct_value_reach_exactly_the_rows_holding_it(tmp_path: Path) -> None:
    """GX sees each column's distinct values once, shorter columns padded with their first value.

    Here the first code and the first legal basis are the failing ones, so the padding repeats a
    failing value: rows holding other values must still pass, and the per-row counts stay per row.
    """
    bad_code = "见附件说明：本事项编码暂缺，请联系"
    rows = frame(
        [
            {"name_norm": "食品经营许可", "code_raw": bad_code, "legal_basis": None},
            {"name_norm": "药品零售许可", "code_raw": "110000001"},
            {"name_norm": "建筑施工许可", "code_raw": "110000001", "legal_basis": None},
            {"name_norm": "对违法行为的处罚", "code_raw": bad_code},
            {"name_norm": "合计", "code_raw": "110000001"},
            {"name_norm": "排污许可", "code_raw": "110000001"},
        ]
    )
    outcome = validate(rows, out_dir=tmp_path)
    assert len(outcome.items) + len(outcome.quarantine) == len(rows)
    reasons = dict(zip(outcome.quarantine["row_no"], outcome.quarantine["reasons"], strict=True))
    code_reason = "code: not a code: contains characters or a length no code format uses"
    assert reasons == {
        2: [code_reason],
        5: [code_reason],
        6: ["name: a placeholder or a total line, not an item name"],
    }
    kept = dict(zip(outcome.items["row_no"], outcome.items["warnings"], strict=True))
    assert kept == {3: [], 4: ["legal_basis: no legal basis given"], 7: []}
    failed = {e["message"]: e["failed_rows"] for e in outcome.by_expectation}
    assert failed["not a code: contains characters or a length no code format uses"] == 2
    assert failed["no legal basis given"] == 2  # rows 2 and 4, the quarantined one included
    assert failed["a placeholder or a total line, not an item name"] == 1
    assert "raw" not in outcome.items.columns and "raw" in outcome.quarantine.columns
    # GX itself never sees the padding: its counts are over each column's distinct values (2 legal
    # bases, one missing; 2 codes, one bad), not over the 6 projection rows the longest column needs
    gx_counts = {
        (r["expectation_config"]["type"], r["expectation_config"]["kwargs"]["column"]): (
            r["result"]["element_count"],
            r["result"]["unexpected_count"],
        )
        for r in json.loads((tmp_path / "validation_result.json").read_text(encoding="utf-8"))["results"]
    }
    assert gx_counts[("expect_column_values_to_not_be_null", "legal_basis")] == (2, 1)
    assert gx_counts[("expect_column_values_to_match_regex", "code_raw")] == (2, 1)
    assert gx_counts[("expect_column_values_to_be_in_set", "power_type_inferred")] == (1, 0)
    assert gx_counts[("expect_column_values_to_not_be_null", "name_norm")] == (6, 0)


def test_expectations_beyond_one_column_are_refused(tmp_path: Path) -> None:
    """Verdicts per distinct value are only right for expectations about one column's values alone."""
    suite = load_suite()
    suite["expectations"][0]["kwargs"]["row_condition"] = 'col("power_type") == "行政许可"'
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="single-column"):
        validate(frame([{"name_norm": "食品经营许可"}]), suite_path=path)


def test_scopes_share_one_data_docs_site_and_lock_only_to_write_their_page(tmp_path: Path) -> None:
    """Two scopes validated into one folder: each page lands in the shared site, and the site is written
    under the caller's lock (held once per validation, released before the result is read)."""
    from contextlib import contextmanager

    held: list[str] = []

    @contextmanager
    def lock():
        held.append("enter")
        yield
        held.append("exit")

    folder = tmp_path / "validation"
    for scope in ("510000", "520000"):
        outcome = validate(
            frame([{"name_norm": "食品经营许可"}, {"name_norm": None}]), out_dir=folder, name=scope, docs_lock=lock
        )
        assert outcome.errors == 1 and outcome.data_docs == str(folder / "data_docs" / "index.html")
    assert held == ["enter", "exit", "enter", "exit"]
    pages = sorted(p.name for p in (folder / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 2, pages
    index = (folder / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert "powerlists-510000" in index and "powerlists-520000" in index
    assert sorted(p.name for p in (folder / "results").iterdir()) == ["510000.json", "520000.json"]


def test_a_type_inferred_while_normalising_is_warned_once(tmp_path: Path) -> None:
    """Normalising says how the type was filled; the suite's warning on the same column is not repeated."""
    rows = frame(
        [
            {
                "name_norm": "对违法行为的处罚",
                "power_type": "行政处罚",
                "power_type_inferred": True,
                "norm_warnings": ["power_type: inferred from name"],
            },
            {"name_norm": "建筑施工许可", "power_type_inferred": True},
        ]
    )
    outcome = validate(rows, out_dir=tmp_path / "validation")
    warnings = dict(zip(outcome.items["row_no"], outcome.items["warnings"], strict=True))
    assert warnings[2] == ["power_type: inferred from name"]
    assert warnings[3] == ["power_type: no type given; inferred from the name"]
    counted = {e["column"]: e["failed_rows"] for e in outcome.by_expectation if e["severity"] == "warning"}
    assert counted["power_type"] == 2  # Data Docs and run.json still count both rows
