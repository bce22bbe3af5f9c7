"""The writer: contract schemas, reproducible bytes, atomic swap, one run at a time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.publish.schema import ITEMS, TABLES
from transforms.publish.write import (
    ROW_GROUP_SIZE,
    OutputLocked,
    new_staging,
    output_lock,
    recover,
    swap_in,
    write_parquet,
    write_table,
    write_tables,
)


def items_table() -> pa.Table:
    rows = []
    for i, province in enumerate(["510000", "000000", "510000"]):
        row = dict.fromkeys(ITEMS.names)
        row.update(
            item_id=f"id{i}",
            source_id="s",
            sheet="",
            row_no=i + 2,
            province=province,
            name_raw="食品经营许可",
            power_type_inferred=False,
            warnings=[],
            extra=[("所属事项", "食品")],
            published=dt.date(2024, 1, 1),
        )
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=ITEMS)


def test_every_table_written_with_contract_schema(tmp_path: Path) -> None:
    write_tables({"items": items_table()}, tmp_path)
    for name, schema in TABLES.items():
        if name == "items":
            continue
        assert pq.read_schema(tmp_path / f"{name}.parquet").equals(schema)
    parts = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "items").rglob("*.parquet"))
    assert parts == ["items/000000.parquet", "items/510000.parquet"]
    got = duckdb.sql(
        f"select province, count(*) from read_parquet('{tmp_path}/items/**/*.parquet', hive_partitioning=true) "
        "group by 1 order by 1"
    ).fetchall()
    assert got == [("000000", 1), ("510000", 2)]
    meta = pq.ParquetFile(tmp_path / "items/510000.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_same_tables_same_bytes(tmp_path: Path) -> None:
    write_tables({"items": items_table()}, tmp_path / "a")
    write_tables({"items": items_table()}, tmp_path / "b")
    for file in (tmp_path / "a").rglob("*.parquet"):
        assert file.read_bytes() == (tmp_path / "b" / file.relative_to(tmp_path / "a")).read_bytes()


def test_schema_drift_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="links: schema differs"):
        write_tables({"links": pa.table({"x": [1]})}, tmp_path)


def test_rows_written_in_an_order_are_the_bytes_of_the_table_taken_in_that_order(tmp_path: Path) -> None:
    # parts of unequal lengths laid end to end, as the assembly reads them: the order crosses every part
    rng = np.random.default_rng(7)
    n = 2 * ROW_GROUP_SIZE + 999
    kinds = np.array(["a", "b", None], dtype=object)[rng.integers(0, 3, n)]
    whole = pa.table({"kind": pa.array(kinds, pa.string()), "n": pa.array(rng.integers(0, 50, n))})
    table = pa.concat_tables(
        [whole.slice(0, 1000), whole.slice(1000, ROW_GROUP_SIZE), whole.slice(1000 + ROW_GROUP_SIZE)]
    )
    order = pa.array(rng.permutation(n))
    write_parquet(table, tmp_path / "ordered.parquet", order)
    write_parquet(table.take(order), tmp_path / "taken.parquet")
    assert (tmp_path / "ordered.parquet").read_bytes() == (tmp_path / "taken.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "ordered.parquet").num_row_groups == 3
    assert pq.read_table(tmp_path / "ordered.parquet").equals(table.take(order))


def test_items_are_not_written_in_a_given_order(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="items: written per province"):
        write_table("items", items_table(), tmp_path, pa.array([2, 1, 0]))


def test_swap_replaces_whole_folder_and_recover_restores_after_crash(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text("old")
    staging = new_staging(out)
    (staging / "run.json").write_text("new")
    swap_in(staging, out)
    assert (out / "run.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []

    # a crash after the first rename of a swap: OUT is gone, the previous output sits aside
    (out).rename(tmp_path / ".out.previous")
    new_staging(out)
    recover(out)
    assert (out / "run.json").read_text() == "new"
    assert not list(tmp_path.glob(".out.staging-*"))


def test_second_run_on_same_output_fails_fast(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_lock(out), pytest.raises(OutputLocked, match="another powerlists run"), output_lock(out):
        pass


def test_one_registry_holds_every_output_table() -> None:
    """The flow's sort orders, the scopes' owner columns and the writer's contract checks all come from
    ``TABLE_SPECS``; the contract tables there are CONTRACT §5's, with the contract's schemas."""
    from transforms.publish.tables import CONTRACT_TABLES, TABLE_SPECS

    assert list(CONTRACT_TABLES) == list(TABLES) == [n for n, s in TABLE_SPECS.items() if s.contract]
    assert all(TABLE_SPECS[name].schema is schema for name, schema in TABLES.items())
    for spec in TABLE_SPECS.values():
        assert set(spec.sort) <= set(spec.schema.names), spec.name
        assert set(spec.owners) <= set(spec.schema.names), spec.name
    assert {"citations", "reform/status_summary"} <= set(TABLE_SPECS)
