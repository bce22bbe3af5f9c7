"""The floor: the least any tool must do to turn a tree of lists into per-province Parquet.

It opens every file of a manifest (pyarrow's CSV reader, python-calamine for xlsx, the json module),
finds the header row and the item-name column, normalises each *distinct* name once (NFKC and
OpenCC Traditional→Simplified, as ``name_norm`` does at its core) and writes one zstd Parquet file of
names per province. No validation, no matching, no findings, no Prefect: what is left of a run once
everything that makes it a product is taken away. ``make bench`` runs it beside the flow on the same
tree, in a fresh process like the flow, and reports the flow's time as a multiple of it — a ratio
holds on a noisy machine where absolute seconds drift.

Usage: ``python bench/floor.py MANIFEST OUT`` prints one JSON line (seconds, rows, provinces).
"""

from __future__ import annotations

import io
import json
import sys
import time
import tomllib
import unicodedata
from collections import defaultdict
from pathlib import Path

import opencc
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
from python_calamine import CalamineWorkbook

HEADER_SCAN = 10


def _name_index(header: list[object]) -> int | None:
    for i, cell in enumerate(header):
        text = str(cell or "")
        if "名称" in text and "部门" not in text and "单位" not in text:
            return i
    return None


def _header_row(rows: list[list[object]]) -> tuple[int, int]:
    for k, row in enumerate(rows[:HEADER_SCAN]):
        at = _name_index(row)
        if at is not None:
            return k, at
    raise ValueError("no header with a name column")


def _csv_names(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    head = [line.split(",") for line in text.splitlines()[:HEADER_SCAN]]
    skip, at = _header_row(head)
    table = pv.read_csv(
        io.BytesIO(text.encode("utf-8")),
        read_options=pv.ReadOptions(skip_rows=skip),
        parse_options=pv.ParseOptions(invalid_row_handler=lambda row: "skip"),  # ragged rows: the flow quarantines them
        convert_options=pv.ConvertOptions(column_types={head[skip][at]: pa.string()}),
    )
    return table.column(at).to_pylist()


def _xlsx_names(path: Path) -> list[str]:
    names: list[str] = []
    book = CalamineWorkbook.from_path(str(path))
    for sheet in book.sheet_names:
        rows = book.get_sheet_by_name(sheet).to_python()
        try:
            skip, at = _header_row(rows)
        except ValueError:
            continue
        names += [str(r[at]) if at < len(r) else "" for r in rows[skip + 1 :]]
    return names


def _json_names(data: bytes) -> list[str]:
    doc = json.loads(data)
    records = doc if isinstance(doc, list) else next(v for v in doc.values() if isinstance(v, list))
    at = _name_index(list(records[0])) if records else None
    key = list(records[0])[at] if at is not None else None
    return [str(r.get(key, "")) for r in records] if key else []


def names_of(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _xlsx_names(path)
    data = path.read_bytes()
    if suffix in (".json", ".jsonl"):
        return _json_names(data)
    return _csv_names(data)


def floor(manifest: Path, out: Path) -> dict[str, object]:
    """Read every list of ``manifest`` into ``out/<province>.parquet``; return what it did."""
    start = time.perf_counter()
    doc = tomllib.loads(manifest.read_text(encoding="utf-8"))
    by_province: dict[str, list[str]] = defaultdict(list)
    for source in doc.get("source", []):
        province = str(source["jurisdiction"])[:2] + "0000"
        by_province[province] += names_of(manifest.parent / source["path"])
    t2s = opencc.OpenCC("t2s")
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    for province, names in sorted(by_province.items()):
        column = pa.array(names, pa.string())
        distinct = column.unique()
        normalised = pa.array([t2s.convert(unicodedata.normalize("NFKC", n or "")) for n in distinct.to_pylist()])
        positions = pa.compute.index_in(column, value_set=distinct)
        table = pa.table({"name_raw": column, "name_norm": normalised.take(positions)})
        pq.write_table(table, out / f"{province}.parquet", compression="zstd")
        rows += len(names)
    return {"seconds": round(time.perf_counter() - start, 3), "rows": rows, "provinces": len(by_province)}


if __name__ == "__main__":
    print(json.dumps(floor(Path(sys.argv[1]), Path(sys.argv[2]))))
