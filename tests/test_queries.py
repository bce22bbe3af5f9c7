"""docs/queries.md and OUT/views.sql: every documented query runs against a real output folder.

The folder is crafted (a small Zhejiang run, written with the real writer) so that each question has a
known answer; the test extracts every ```sql block with the ``### question`` above it and runs it
through the views exactly as an analyst would after ``duckdb -init OUT/views.sql``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from transforms.publish.schema import CHANGES, FINDINGS, ITEMS, LINKS, POWERS, QUARANTINE, TABLES
from transforms.publish.views import VIEWS_FILE, view_sql, write_views
from transforms.publish.write import write_tables

QUERIES = Path(__file__).resolve().parent.parent / "docs" / "queries.md"
NOW, BEFORE = dt.date(2024, 1, 1), dt.date(2023, 1, 1)
PLACES = {
    "000000": ("全国", "national", "000000"),
    "330000": ("浙江省", "province", "330000"),
    "330100": ("杭州市", "city", "330000"),
    "330102": ("上城区", "county", "330000"),
    "330105": ("拱墅区", "county", "330000"),
}


def _item(item_id: str, code: str, name: str, ptype: str, dept: str, **kw: Any) -> dict[str, Any]:
    jname, level, province = PLACES[code]
    published = kw.pop("published", NOW)
    row = dict.fromkeys(ITEMS.names)
    row.update(
        item_id=item_id,
        source_id=f"zj-{code}-{published.year}",
        sheet="",
        row_no=int(re.sub(r"\D", "", item_id) or 0) + 1,
        jurisdiction_code=code,
        jurisdiction_name=jname,
        level=level,
        province=province,
        published=published,
        name_raw=name,
        name_norm=name,
        main_name=name,
        power_type=ptype,
        power_type_raw=ptype,
        power_type_inferred=False,
        department=f"{jname}{dept}" if dept != "国家市场监督管理总局" else dept,
        status=kw.pop("status", "保留"),
        warnings=[],
        extra=[],
        power_id=kw.pop("power_id", None),
    )
    row.update(kw)
    return row


def _link(child: str, parent: str, cj: str, pj: str, method: str, score: float) -> dict[str, Any]:
    return {
        "child_item_id": child,
        "parent_item_id": parent,
        "child_jurisdiction": cj,
        "parent_jurisdiction": pj,
        "level_pair": f"{PLACES[cj][1]}>{PLACES[pj][1]}",
        "method": method,
        "score": score,
        "reason": method,
    }


def _change(change: str, old: str | None, new: str | None, since: dt.date, until: dt.date) -> dict[str, Any]:
    return {
        "jurisdiction_code": "330102",
        "from_source_id": f"zj-330102-{since.year}",
        "to_source_id": f"zj-330102-{until.year}",
        "from_published": since,
        "to_published": until,
        "change": change,
        "old_item_id": old and f"old-{old}",
        "new_item_id": new and f"new-{new}",
        "old_name": old,
        "new_name": new,
        "detail": change,
    }


def crafted_tables() -> dict[str, pa.Table]:
    licence, penalty = "行政许可", "行政处罚"
    food = "pw-food"
    items = [
        _item("n1", "000000", "食品经营许可", licence, "国家市场监督管理总局", power_id=food),
        _item("p1", "330000", "食品经营许可", licence, "市场监督管理局", status="下放", power_id=food),
        _item("p2", "330000", "建设工程规划许可", licence, "自然资源厅", status="下放", power_id="pw-plan"),
        _item("p3", "330000", "对违法排污的处罚", penalty, "生态环境厅", power_id="pw-pollution"),
        _item("c1", "330100", "食品经营许可", licence, "市场监督管理局", power_id=food),
        _item("k1", "330102", "食品经营许可（延续）", licence, "市场监督管理局", power_id=food),
        _item("k2", "330102", "烟花爆竹零售许可", licence, "商务局", power_id="pw-fireworks"),
        _item("k3", "330102", "建设工程规划许可", licence, "规划和自然资源局", power_id="pw-plan"),
        _item("k4", "330105", "食品经营许可", licence, "市场监督管理局", power_id=food),
        _item("k5", "330105", "犬只登记许可", licence, "农业农村局", power_id="pw-dogs"),
        _item("k6", "330105", "已取消的许可", licence, "农业农村局", status="取消", power_id="pw-gone"),
        _item("o1", "330102", "食品经营许可", licence, "市场监督管理局", published=BEFORE),
        _item("o2", "330102", "旧的许可", licence, "商务局", published=BEFORE),
    ]
    links = [
        _link("k1", "c1", "330102", "330100", "fuzzy", 0.9),
        _link("k1", "p1", "330102", "330000", "fuzzy", 0.9),
        _link("k3", "p2", "330102", "330000", "exact", 1.0),
        _link("k4", "p1", "330105", "330000", "exact", 1.0),
        _link("c1", "p1", "330100", "330000", "code", 1.0),
        _link("c1", "n1", "330100", "000000", "code", 1.0),
        _link("p1", "n1", "330000", "000000", "exact", 0.95),
    ]
    findings = [
        {"kind": "no_upper_basis", "severity": "warning", "jurisdiction_code": "330102", "item_id": "k2"},
        {"kind": "no_upper_basis", "severity": "warning", "jurisdiction_code": "330105", "item_id": "k5"},
        {
            "kind": "devolved_not_received",
            "severity": "error",
            "jurisdiction_code": "330000",
            "item_id": "p2",
            "other_jurisdiction_code": "330105",
        },
    ]
    for i, f in enumerate(findings):
        f.update(finding_id=f"f{i}", message=f["kind"], details="{}")
    powers = [
        {
            "power_id": food,
            "name": "食品经营许可",
            "power_type": licence,
            "top_level": "national",
            "top_jurisdiction_code": "000000",
            "n_items": 5,
            "levels": ["national", "province", "city", "county"],
            "jurisdictions": ["000000", "330000", "330100", "330102", "330105"],
            "name_variants": ["食品经营许可", "食品经营许可（延续）"],
        },
        {
            "power_id": "pw-plan",
            "name": "建设工程规划许可",
            "power_type": licence,
            "top_level": "province",
            "top_jurisdiction_code": "330000",
            "n_items": 2,
            "levels": ["province", "county"],
            "jurisdictions": ["330000", "330102"],
            "name_variants": ["建设工程规划许可"],
        },
    ]
    quarantine = [
        {"source_id": "zj-330100-2024", "row_no": 7, "raw": [("事项名称", "")], "reasons": ["name: missing"]},
        {
            "source_id": "zj-330100-2024",
            "row_no": 8,
            "raw": [("事项名称", ""), ("类型", "？")],
            "reasons": ["name: missing", "power_type: unknown label '？'"],
        },
    ]
    for q in quarantine:
        q.update(sheet="", jurisdiction_code="330100")
    changes = [
        _change("added", None, "旧的许可", dt.date(2022, 1, 1), BEFORE),
        _change("removed", "旧的许可", None, BEFORE, NOW),
        _change("added", None, "烟花爆竹零售许可", BEFORE, NOW),
    ]
    summary_rows: dict[tuple[str, str, str], int] = {}
    for i in items:
        if i["published"] == NOW:
            key = (i["jurisdiction_code"], i["power_type"], i["status"])
            summary_rows[key] = summary_rows.get(key, 0) + 1
    summary = pa.Table.from_pylist(
        [
            {
                "jurisdiction_code": j,
                "power_type": t,
                "status": s,
                "n_items": n,
                "n_main_items": n,
                "n_sub_items": 0,
                "n_with_responsibility": 0,
            }
            for (j, t, s), n in sorted(summary_rows.items())
        ],
        schema=TABLES["summary"],
    )
    return {
        "items": pa.Table.from_pylist(items, schema=ITEMS),
        "links": pa.Table.from_pylist(links, schema=LINKS),
        "findings": pa.Table.from_pylist(findings, schema=FINDINGS),
        "powers": pa.Table.from_pylist(powers, schema=POWERS),
        "quarantine": pa.Table.from_pylist(quarantine, schema=QUARANTINE),
        "changes": pa.Table.from_pylist(changes, schema=CHANGES),
        "summary": summary,
    }


def documented_queries() -> list[tuple[str, str]]:
    """(question, sql) for every ```sql block, the question being the ### heading above it."""
    text = QUERIES.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```sql\n(.*?)^```", text, re.S | re.M):
        headings = re.findall(r"^### (.+)$", text[: match.start()], re.M)
        assert headings, f"sql block without a ### question above it: {match.group(1)[:60]}"
        found.append((headings[-1].strip(), match.group(1)))
    return found


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A quote and CJK in the folder name: the views must still quote the path correctly.
    folder = tmp_path_factory.mktemp("queries") / "it's 输出"
    write_tables(crafted_tables(), folder)
    write_views(folder)
    return folder


@pytest.fixture(scope="module")
def answers(out: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every documented query's (columns, rows), run from another working directory."""
    con = duckdb.connect()
    cwd = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("elsewhere"))  # absolute paths: the views work from anywhere
    try:
        con.execute((out / VIEWS_FILE).read_text(encoding="utf-8"))
        result = {}
        for question, sql in documented_queries():
            relation = con.execute(sql)
            columns = [d[0] for d in relation.description]
            result[question] = (columns, relation.fetchall())
        return result
    finally:
        os.chdir(cwd)
        con.close()


def _one(answers: dict[str, tuple[list[str], list[tuple]]], words: str) -> tuple[list[str], list[dict[str, Any]]]:
    matches = [q for q in answers if words.lower() in q.lower()]
    assert len(matches) == 1, (words, list(answers))
    columns, rows = answers[matches[0]]
    return columns, [dict(zip(columns, r, strict=True)) for r in rows]


def test_ten_questions_documented() -> None:
    queries = documented_queries()
    assert len(queries) == 10
    assert len({q for q, _ in queries}) == 10


EXPECTED_COLUMNS = {
    "no county receive": ["jurisdiction_code", "jurisdiction_name", "name_raw", "power_type", "status", "department"],
    "no basis above": ["jurisdiction_code", "jurisdiction_name", "name_raw", "department", "legal_basis"],
    "each power type": ["power_type", "national", "province", "city", "county", "township", "village"],
    "name vary": ["power_id", "top_name", "level", "names_at_level", "n_items"],
    "changed since": [
        "jurisdiction_code",
        "from_published",
        "to_published",
        "change",
        "old_name",
        "new_name",
        "detail",
    ],
    "quarantined": ["source_id", "reason", "n_rows"],
    "findings of each kind": ["jurisdiction_code", "jurisdiction_name", "kind", "severity", "n_findings"],
    "each county receive": [
        "county_code",
        "county_name",
        "province",
        "n_province_items",
        "n_received",
        "share_received",
    ],
    "method and level pair": ["level_pair", "method", "n_links", "mean_score", "min_score"],
    "departments": ["department_kind", "n_items", "n_jurisdictions"],
}


@pytest.mark.parametrize("words", sorted(EXPECTED_COLUMNS))
def test_query_runs_with_expected_columns(answers: dict, words: str) -> None:
    columns, rows = _one(answers, words)
    assert columns == EXPECTED_COLUMNS[words]
    assert rows, f"{words}: no rows on the crafted run"


def test_province_items_no_county_received(answers: dict) -> None:
    _, rows = _one(answers, "no county receive")
    assert [r["name_raw"] for r in rows] == ["对违法排污的处罚"]


def test_county_licences_without_basis(answers: dict) -> None:
    _, rows = _one(answers, "no basis above")
    # k6 is cancelled, k1/k3/k4 link upwards.
    assert [(r["jurisdiction_code"], r["name_raw"]) for r in rows] == [
        ("330102", "烟花爆竹零售许可"),
        ("330105", "犬只登记许可"),
    ]


def test_items_per_type_per_level(answers: dict) -> None:
    _, rows = _one(answers, "each power type")
    by_type = {r["power_type"]: r for r in rows}
    assert {k: by_type["行政许可"][k] for k in ("national", "province", "city", "county", "township")} == {
        "national": 1,
        "province": 2,
        "city": 1,
        "county": 6,  # the older 330102 version is not counted
        "township": 0,
    }
    assert by_type["行政处罚"]["province"] == 1


def test_name_variants_across_levels(answers: dict) -> None:
    _, rows = _one(answers, "name vary")
    assert [(r["level"], r["names_at_level"]) for r in rows] == [
        ("national", ["食品经营许可"]),
        ("province", ["食品经营许可"]),
        ("city", ["食品经营许可"]),
        ("county", ["食品经营许可", "食品经营许可（延续）"]),
    ]


def test_changes_since_last_version(answers: dict) -> None:
    _, rows = _one(answers, "changed since")
    assert [(r["change"], r["old_name"] or r["new_name"]) for r in rows] == [
        ("added", "烟花爆竹零售许可"),
        ("removed", "旧的许可"),
    ]
    assert {r["to_published"] for r in rows} == {NOW}


def test_quarantine_reasons(answers: dict) -> None:
    _, rows = _one(answers, "quarantined")
    assert [(r["reason"], r["n_rows"]) for r in rows] == [("name: missing", 2), ("power_type: unknown label '？'", 1)]


def test_county_coverage_of_province(answers: dict) -> None:
    _, rows = _one(answers, "each county receive")
    assert [(r["county_code"], r["n_received"], r["n_province_items"]) for r in rows] == [
        ("330105", 1, 3),
        ("330102", 2, 3),
    ]
    assert rows[0]["share_received"] == pytest.approx(0.333)


def test_findings_and_links_and_departments(answers: dict) -> None:
    _, findings = _one(answers, "findings of each kind")
    assert sum(r["n_findings"] for r in findings) == 3
    assert {r["jurisdiction_name"] for r in findings} == {"浙江省", "上城区", "拱墅区"}
    _, links = _one(answers, "method and level pair")
    assert sum(r["n_links"] for r in links) == 7
    assert {(r["level_pair"], r["method"]): r["n_links"] for r in links}[("county>province", "exact")] == 2
    _, departments = _one(answers, "departments")
    assert departments[0] == {"department_kind": "市场监督管理局", "n_items": 4, "n_jurisdictions": 4}


def test_views_cover_every_table(out: Path) -> None:
    con = duckdb.connect()
    con.execute((out / VIEWS_FILE).read_text(encoding="utf-8"))
    for table, schema in TABLES.items():
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        assert columns == schema.names, table
    assert con.execute("SELECT count(*) FROM items").fetchone() == (13,)
    assert con.execute("SELECT count(*) FROM current_items").fetchone() == (11,)
    province_type = con.execute("SELECT DISTINCT typeof(province) FROM items").fetchall()
    assert province_type == [("VARCHAR",)]
    assert con.execute("SELECT count(*) FROM items WHERE province = '000000'").fetchone() == (1,)
    comments = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    assert comments["current_items"].startswith("items of each jurisdiction's newest")


def test_views_for_a_folder_written_elsewhere(tmp_path: Path) -> None:
    """The flow writes views while staging; they must name the folder the run is renamed to."""
    staging, final = tmp_path / ".out.staging-1", tmp_path / "out"
    write_tables(crafted_tables(), staging)
    write_views(staging, root=final)
    staging.rename(final)
    con = duckdb.connect()
    con.execute((final / VIEWS_FILE).read_text(encoding="utf-8"))
    assert con.execute("SELECT count(*) FROM links").fetchone() == (7,)
    assert str(staging) not in view_sql(final)


def test_empty_run_views(tmp_path: Path) -> None:
    write_tables({}, tmp_path)
    write_views(tmp_path)
    con = duckdb.connect()
    con.execute((tmp_path / VIEWS_FILE).read_text(encoding="utf-8"))
    for _, sql in documented_queries():
        con.execute(sql).fetchall()  # no rows, but every query still binds


# ------------------------------------------------------------------- the readers analysts reach for first


def _codes_by_reader(out: Path) -> dict[str, list[str]]:
    """``province`` of every item as each reader returns it from ``OUT/items`` with no extra arguments."""
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    items = out / "items"
    glob = items.as_posix().replace("'", "''")
    return {
        "pandas": pd.read_parquet(items)["province"].tolist(),
        "pyarrow.parquet": pq.read_table(items).column("province").to_pylist(),
        "pyarrow.dataset hive": ds.dataset(items, partitioning="hive").to_table().column("province").to_pylist(),
        "duckdb hive": [
            r[0]
            for r in duckdb.sql(
                f"select province from read_parquet('{glob}/**/*.parquet', hive_partitioning = true)"
            ).fetchall()
        ],
        "duckdb glob": [r[0] for r in duckdb.sql(f"select province from '{glob}/*.parquet'").fetchall()],
        "polars": pl.read_parquet(items).get_column("province").to_list(),
        "polars scan": pl.scan_parquet(items).collect().get_column("province").to_list(),
    }


def test_every_default_reader_reads_items_with_codes_as_strings(out: Path) -> None:
    """pandas, pyarrow (hive), DuckDB and polars read OUT/items as they are called first, and 000000 stays
    000000: hive folders made pandas refuse (string vs dictionary) and DuckDB/polars read codes as integers."""
    expected = sorted(crafted_tables()["items"].column("province").to_pylist())
    assert "000000" in expected
    for reader, codes in _codes_by_reader(out).items():
        assert sorted(codes) == expected, reader
        assert all(isinstance(c, str) and len(c) == 6 for c in codes), reader


@pytest.mark.slow
def test_documented_duckdb_command_opens_the_views(out: Path, tmp_path: Path) -> None:
    """`.venv/bin/duckdb -init OUT/views.sql` (README) is installed with the project and sees every view."""
    import shutil
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "duckdb"
    assert cli.is_file() or shutil.which("duckdb"), "the duckdb CLI is not installed beside the project's Python"
    command = [str(cli) if cli.is_file() else "duckdb", "-init", str(out / VIEWS_FILE), "-csv", "-noheader"]
    done = subprocess.run(
        command,
        input="select count(*) from items where province = '000000';\nselect count(*) from current_items;\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    national = sum(1 for p in crafted_tables()["items"].column("province").to_pylist() if p == "000000")
    lines = [line for line in done.stdout.splitlines() if line.strip().isdigit()]
    assert lines[0] == str(national) and int(lines[1]) > 0, done.stdout
