"""Turn validated row frames into the contract's ``items`` and ``quarantine`` Arrow tables.

Ids are content hashes so that the same inputs give the same ids, run after run, on any machine:
analysts keep notes keyed by ``item_id`` and findings refer to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.ingest.jurisdictions import Registry
from transforms.publish.schema import ITEMS, QUARANTINE


def stable_id(*parts: object, length: int = 16) -> str:
    """A short deterministic id from its parts (unit-separator joined, sha256)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def item_ids(frame: pd.DataFrame, encoded: pa.Table | None = None) -> list[str]:
    """``item_id`` per row: a hash of source, sheet, row number and raw name.

    The sheet is included (the contract names source, row and name) because one workbook can hold
    two sheets with the same item at the same row; without it their ids would collide. Equal to
    ``stable_id(source, sheet, row, name)`` per row; the texts are joined by Arrow in one pass and
    only the hashing is per row (a million items per province run). ``encoded``: as in ``to_items_table``.
    """
    parts = [_text_column(frame, c, encoded) for c in ("source_id", "sheet", "name_raw")]
    rows = frame["row_no"]
    row_text = pc.cast(pa.array(rows), pa.string()) if pd.api.types.is_integer_dtype(rows) else _string_array(rows)
    joined = pc.binary_join_element_wise(
        parts[0], parts[1], row_text, parts[2], "\x1f", null_handling="replace", null_replacement=""
    )
    sha256 = hashlib.sha256
    return [sha256(text).hexdigest()[:16] for text in joined.cast(pa.binary()).to_pylist()]


def add_jurisdiction_columns(frame: pd.DataFrame, registry: Registry, published: object = None) -> pd.DataFrame:
    """Columns that come from the registry and the manifest rather than the file.

    The frame is copied shallowly: pandas copies on write, so the caller's frame cannot change, and a
    province's batch (a million rows × 25 columns) is not duplicated just to gain three columns.
    """
    out = frame.copy(deep=False)
    codes = out["jurisdiction_code"].unique() if len(out) else []
    names = {c: registry[c].name for c in codes}
    levels = {c: registry[c].level for c in codes}
    provinces = {c: registry.province(c) for c in codes}
    out["jurisdiction_name"] = out["jurisdiction_code"].map(names)
    out["level"] = out["jurisdiction_code"].map(levels)
    out["province"] = out["jurisdiction_code"].map(provinces)
    if published is not None or "published" not in out:
        out["published"] = published
    return out


def _pairs(cells: dict[str, str]) -> list[tuple[str, str]]:
    return [(str(k), "" if v is None else str(v)) for k, v in cells.items()]


def _dict_pairs(values: Iterable[dict[str, str] | None]) -> list[list[tuple[str, str]]]:
    """Map cells as Arrow takes them; most rows have no extra columns, so empty ones share a list."""
    empty: list[tuple[str, str]] = []
    return [_pairs(d) if d else empty for d in values]


def _string_array(values: pd.Series) -> pa.Array:
    """A text column as Arrow strings, missing (None/NaN) as null, anything else by ``str()``.

    Arrow converts a column of ``str``/None/NaN in C; only a column holding other types (a number
    in a code column) pays for the per-value Python path. That is ~20 columns × every item.
    """
    try:
        return pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in values], pa.string()
        )


def _text_column(frame: pd.DataFrame, name: str, encoded: pa.Table | None) -> pa.Array:
    """``_string_array`` of a column, taken from ``encoded`` when it holds the column as text already."""
    if encoded is not None and name in encoded.column_names:
        column = encoded.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            return column.cast(pa.string()).combine_chunks()
    return _string_array(frame[name])


def _date_array(values: pd.Series, date_type: pa.DataType) -> pa.Array:
    """Dates (``datetime.date``, missing as None/NaN/NaT) in C; anything else per value as before."""
    try:
        return pa.array(values.to_numpy(dtype=object), type=date_type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if pd.isna(v) else v for v in values], type=date_type)


def to_items_table(frame: pd.DataFrame, encoded: pa.Table | None = None) -> pa.Table:
    """The items table in contract column order; ``power_id`` may still be null (set by consolidation).

    ``encoded``: the frame's columns already in Arrow, row for row (the source cache's encoding of a
    scope's rows, ``flows.scope.ScopeRows``); its text columns are used as they are instead of
    converting ~20 columns × every item from Python objects again.
    """
    columns = {}
    for field in ITEMS:
        name = field.name
        if name == "extra":
            columns[name] = pa.array(_dict_pairs(frame["extra"]), type=field.type)
        elif name == "warnings":
            columns[name] = pa.array(frame["warnings"].to_numpy(dtype=object), type=field.type)
        elif name == "published":
            columns[name] = _date_array(frame["published"], field.type)
        elif name in frame and field.type == pa.string():
            columns[name] = _text_column(frame, name, encoded)
        elif name in frame:
            columns[name] = pa.array(frame[name].tolist(), type=field.type)
        else:
            columns[name] = pa.nulls(len(frame), type=field.type)
    return pa.table(columns, schema=ITEMS)


def to_quarantine_table(frame: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "source_id": pa.array(frame["source_id"].tolist(), pa.string()),
            "sheet": pa.array(frame["sheet"].tolist(), pa.string()),
            "row_no": pa.array(frame["row_no"].tolist(), pa.int32()),
            "jurisdiction_code": pa.array(frame["jurisdiction_code"].tolist(), pa.string()),
            "raw": pa.array(_dict_pairs(frame["raw"]), QUARANTINE.field("raw").type),
            "reasons": pa.array([list(r) for r in frame["reasons"]], QUARANTINE.field("reasons").type),
        },
        schema=QUARANTINE,
    )
