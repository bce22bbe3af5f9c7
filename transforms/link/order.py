"""Sorting by an id column as numbers: the same order as comparing the strings, in less time.

Item, power and finding ids are 16 lowercase hex digits (``transforms.clean.items.stable_id``). For such
strings lexicographic order *is* the numeric order of the 64-bit number they spell, so a sort can
compare integers instead of strings. A national run sorts 9M item ids (consolidation) and 14M links by
child id in its serial tail, where comparing numbers is markedly faster (figures in bench/README.md).
Any other column, or an id column holding anything else, is sorted as it always
was, so the result never depends on the fast path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ID_LENGTH = 16
# byte → its hex digit's value, 255 for anything that is not a lowercase hex digit
_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def id_keys(values: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """``uint64`` numbers in the order of ``values`` when every value is a 16-digit lowercase hex id,
    else None (nulls, other lengths or characters): callers then sort the strings themselves."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string() or values.null_count or not len(values):
        return None
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    if not (np.diff(offsets) == _ID_LENGTH).all():
        return None
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    digits = _NIBBLE[data].reshape(-1, _ID_LENGTH)
    if (digits == 255).any():
        return None
    keys = np.zeros(len(values), dtype=np.uint64)
    for position in range(_ID_LENGTH):
        keys <<= np.uint64(4)
        keys |= digits[:, position]
    return keys


def sort_indices(table: pa.Table, sort_keys: Sequence[tuple[str, ...]]) -> pa.Array:
    """``pyarrow.compute.sort_indices`` (stable; keys as Arrow takes them: ``(name, order[, nulls])``),
    with the first key compared as numbers when it holds ids."""
    keys = id_keys(table.column(sort_keys[0][0])) if sort_keys and table.num_rows else None
    if keys is None:
        return pc.sort_indices(table, sort_keys=list(sort_keys))
    numbers = pa.array(keys, pa.uint64())
    columns = {"_key": numbers} | {key[0]: table.column(key[0]) for key in sort_keys[1:]}
    return pc.sort_indices(pa.table(columns), sort_keys=[("_key", *sort_keys[0][1:]), *sort_keys[1:]])


def array_order(values: pa.Array) -> np.ndarray:
    """Positions of ``values`` in ascending (stable) order, as ``int64``; ids compared as numbers."""
    keys = id_keys(values)
    if keys is None:
        return pc.sort_indices(values).to_numpy().astype(np.int64)
    return np.argsort(keys, kind="stable").astype(np.int64)
