"""Integer codes for text, so that expensive work runs once per distinct value or pair, not per row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _encode(items: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    """A text column dictionary-encoded: (codes with -1 for missing or blank, trimmed distinct values).

    Done in Arrow, so that a million-row column costs no Python string per row.
    """
    n = len(items)
    if name not in items:
        return np.full(n, -1, dtype=np.int64), []
    column = items[name]
    try:
        arr = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array([None if pd.isna(v) else str(v) for v in column], pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    encoded = arr.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _combine(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct combinations of integer code columns: (combination id per row, first row of each).

    Hash-based (``pd.factorize``), so ids follow first appearance; callers never depend on id order.
    """
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c in codes:
        key, _ = pd.factorize(key * (int(c.max(initial=0)) + 2) + (c + 1))
        key = key.astype(np.int64)
    first = np.empty(int(key.max(initial=-1)) + 1, dtype=np.int64)
    first[key[::-1]] = np.arange(len(key) - 1, -1, -1)
    return key, first


def _pair_map(a: np.ndarray, b: np.ndarray, fn, valid: np.ndarray) -> np.ndarray:
    """Apply ``fn(a_id, b_id)`` once per distinct valid id pair; NaN where not valid."""
    out = np.full(len(a), np.nan)
    if not valid.any():
        return out
    key, first = _combine(a[valid], b[valid])
    av, bv = a[valid][first], b[valid][first]
    values = np.array([fn(x, y) for x, y in zip(av, bv, strict=True)], dtype=float)
    out[valid] = values[key]
    return out
