"""The main flow end to end on the bundled sample and on the real lists, read back with DuckDB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REALDATA, SAMPLE_MANIFEST

pytestmark = pytest.mark.slow


def run_flow(manifest: Path, out: Path, **kwargs) -> dict:
    from flows.pipeline import powerlists_run

    return powerlists_run(manifest=str(manifest), out=str(out), **kwargs)


def parquet_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def sample_out(prefect_api, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    run_flow(SAMPLE_MANIFEST, out)
    return out


def test_sample_run_accounts_for_every_row(sample_out: Path) -> None:
    run = json.loads((sample_out / "run.json").read_text(encoding="utf-8"))
    assert run["outcome"]["status"] == "completed"
    items = dict(
        duckdb.sql(
            f"select source_id, count(*) from read_parquet('{sample_out}/items/**/*.parquet', hive_partitioning=true) "
            "group by 1"
        ).fetchall()
    )
    quarantined = dict(
        duckdb.sql(
            f"select source_id, count(*) from read_parquet('{sample_out}/quarantine.parquet') group by 1"
        ).fetchall()
    )
    assert sum(quarantined.values()) >= 4, "the sample carries genuinely bad rows"
    for source in run["inputs"]:
        assert source["error"] is None, source
        assert source["rows_read"] > 0
        assert items.get(source["id"], 0) == source["items"]
        assert quarantined.get(source["id"], 0) == source["quarantined"]
        assert source["items"] + source["quarantined"] == source["rows_read"]
    reasons = duckdb.sql(f"select unnest(reasons) from read_parquet('{sample_out}/quarantine.parquet')").fetchall()
    assert all(": " in r for (r,) in reasons), "every reason names its column"
    assert run["validation"]["data_docs"] and (sample_out / run["validation"]["data_docs"]).is_file()
    # one page per province scope, all listed in the shared site's index (not only the last province's)
    provinces = sorted({s["jurisdiction"][:2] + "0000" for s in run["inputs"]})
    index = (sample_out / run["validation"]["data_docs"]).read_text(encoding="utf-8")
    assert len(provinces) > 1 and all(f"powerlists-{p}" in index for p in provinces), provinces
    docs = sample_out / "validation" / "data_docs" / "validations"
    assert len(list(docs.rglob("*.html"))) == len(provinces)


def test_sample_outputs_follow_the_contract(sample_out: Path) -> None:
    from transforms.publish.schema import TABLES

    for name in TABLES:
        path = f"{sample_out}/items/**/*.parquet" if name == "items" else f"{sample_out}/{name}.parquet"
        columns = [
            r[0]
            for r in duckdb.sql(f"describe select * from read_parquet('{path}', hive_partitioning=true)").fetchall()
        ]
        assert columns == TABLES[name].names, name
    provinces = sorted(p.name for p in (sample_out / "items").iterdir())
    assert provinces == ["210000.parquet", "510000.parquet"]
    linked = duckdb.sql(f"select count(*) from read_parquet('{sample_out}/links.parquet')").fetchall()[0][0]
    assert linked > 100
    no_power = duckdb.sql(
        f"select count(*) from read_parquet('{sample_out}/items/**/*.parquet', hive_partitioning=true) "
        "where power_id is null"
    ).fetchall()[0][0]
    assert no_power == 0


def test_same_inputs_give_identical_bytes(prefect_api, sample_out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    run_flow(SAMPLE_MANIFEST, again)
    assert parquet_files(again) == parquet_files(sample_out)


def test_failed_source_is_reported_and_fails_the_run(prefect_api, sample_out: Path, tmp_path: Path) -> None:
    """A run that completes with a failed source swaps in its output (so the failure can be reviewed)."""
    out = tmp_path / "out"
    shutil.copytree(sample_out, out)
    before = parquet_files(out)
    broken = tmp_path / "broken.toml"
    broken.write_text('[[source]]\nid = "x"\njurisdiction = "511602"\npath = "nope.csv"\n', encoding="utf-8")
    from prefect.exceptions import FailedRun

    with pytest.raises(FailedRun, match="source"):
        run_flow(broken, out)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["outcome"]["status"] == "failed"
    assert "x" in run["outcome"]["reasons"][0]
    assert parquet_files(out) != before


REAL_MANIFEST = """
[run]
name = "real lists"
[[source]]
id = "sc-512000"
jurisdiction = "512000"
path = "{real}/sichuan/sichuan_ziyang_city_512000_market_regulation_items.csv"
[source.columns]
name = "item_name"
code = "item_code"
power_type = "task_type"
[[source]]
id = "sc-511602"
jurisdiction = "511602"
path = "{real}/sichuan/sichuan_guangan_district_511602_items.csv"
[source.columns]
name = "item_name"
code = "item_code"
power_type = "task_type"
department = "department"
[[source]]
id = "ln-210000-json"
jurisdiction = "210000"
path = "{real}/liaoning/liaoning_province_catalog_sample_government_data.json"
[[source]]
id = "ln-210000-csv"
jurisdiction = "210000"
path = "{real}/liaoning/liaoning_province_catalog_sample.csv"
[source.columns]
name = "item_name"
code = "zhiquan_code"
power_type = "type_code"
legal_basis = "legal_basis"
"""


def test_real_lists_load_completely(prefect_api, tmp_path: Path) -> None:
    manifest = tmp_path / "real.toml"
    manifest.write_text(REAL_MANIFEST.format(real=REALDATA), encoding="utf-8")
    run = run_flow(manifest, tmp_path / "out")
    counts = {s["id"]: (s["rows_read"], s["items"], s["quarantined"]) for s in run["inputs"]}
    assert counts["sc-512000"][0] == 135
    assert counts["sc-511602"][0] == 1135
    assert counts["ln-210000-json"][0] == 30
    assert counts["ln-210000-csv"][0] == 30
    for rows, items, quarantined in counts.values():
        assert items + quarantined == rows
        assert quarantined == 0, "the real lists are clean"
    codes = duckdb.sql(
        f"select count(*) from read_parquet('{tmp_path}/out/items/**/*.parquet', hive_partitioning=true) "
        "where source_id = 'sc-511602' and base_code is not null"
    ).fetchall()[0][0]
    assert codes == 1135


def test_versions_sample_records_changes_and_findings_over_time(prefect_api, tmp_path: Path) -> None:
    """The versioned sample through the whole flow: changes.parquet equals the checked-in expectation."""
    import csv

    out = tmp_path / "out"
    run_flow(SAMPLE_MANIFEST.parent / "versions.toml", out)
    got = duckdb.sql(f"select change, count(*) from read_parquet('{out}/changes.parquet') group by 1").fetchall()
    with (SAMPLE_MANIFEST.parent / "expected_changes.csv").open(encoding="utf-8") as handle:
        expected: dict[str, int] = {}
        for row in csv.DictReader(handle):
            expected[row["change"]] = expected.get(row["change"], 0) + 1
    assert dict(got) == expected
    dated = duckdb.sql(
        f"select count(*) from read_parquet('{out}/findings.parquet') "
        "where kind = 'devolved_not_received' and details like '%days_outstanding%'"
    ).fetchall()[0][0]
    assert dated > 0
    superseded = duckdb.sql(
        f"select count(*) from read_parquet('{out}/items/**/*.parquet', hive_partitioning=true) where power_id is null"
    ).fetchall()[0][0]
    assert superseded > 0, "items of older versions are kept, unmatched"


def test_the_samples_together_show_every_finding_kind(prefect_api, sample_out: Path, tmp_path: Path) -> None:
    """A user trying the bundled samples sees every kind the checks raise, each with a planted or real cause
    (the flow's own kinds, source_failed and stale_review, need a failing source or a reviews file)."""
    from transforms.publish.schema import FINDING_KINDS

    versions = tmp_path / "versions"
    run_flow(SAMPLE_MANIFEST.parent / "versions.toml", versions)
    seen = {
        kind
        for out in (sample_out, versions)
        for (kind,) in duckdb.sql(f"select distinct kind from '{out}/findings.parquet'").fetchall()
    }
    assert set(FINDING_KINDS) - {"source_failed", "stale_review"} <= seen


def test_the_planted_sample_rows_raise_their_findings(sample_out: Path) -> None:
    """The three made-up province rows (data/sample/PROVENANCE.md) raise what they were written for."""
    rows = duckdb.sql(
        f"select f.kind, i.jurisdiction_code, i.name_raw from '{sample_out}/findings.parquet' f "
        f"join read_parquet('{sample_out}/items/**/*.parquet', hive_partitioning=true) i using (item_id) "
        "where i.name_raw in ('大型户外广告设施设置审批', '公路超限运输车辆通行许可（省内）', "
        "'小餐饮店许可证核发（新办）')"
    ).fetchall()
    assert sorted(rows) == [
        ("basis_mismatch", "512002", "小餐饮店许可证核发（新办）"),
        ("devolved_not_received", "510000", "公路超限运输车辆通行许可（省内）"),
        ("devolved_not_received", "510000", "公路超限运输车辆通行许可（省内）"),
        ("devolved_without_supervision", "510000", "公路超限运输车辆通行许可（省内）"),
        ("locally_set_licence", "510000", "大型户外广告设施设置审批"),
    ]
