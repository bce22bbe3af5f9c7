"""Consolidation: linked items across levels become one power (CONTRACT §5, ``powers``).

Links (child item → its counterpart in one ancestor jurisdiction) are edges of an undirected graph over
items; each connected component is one power. A county item linked to its city item, which is linked to
the province item, gives one power of three items, and so does a county item linked to both directly.
Items without any link are powers of their own, so every item has exactly one ``power_id``.

Why the choices:

* ``power_id = stable_id("power", min item_id of the component)``: item ids are content hashes, so the
  same inputs give the same power ids run after run, whatever the row order; analysts key notes on them.
* The name and type come from the highest level (national > province > … > village) because the upper
  list is the one that sets the power; ties at the same level go to the smallest ``item_id`` so the
  choice does not depend on row order.
* Everything is array work (Arrow hashing and sorting, ``scipy.sparse.csgraph.connected_components``,
  lexsort, list offsets) and ids are hashed by DuckDB's vectorised ``sha256``; there is no Python loop
  per item or per power. Ids are sorted as numbers (``transforms.link.order``) and the link ends come
  as item positions (``LinkEnds``, found per province by the flow), because looking 28M ends up by id
  and sorting ids as strings was most of this stage at national scale (figures: bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from transforms.link.order import array_order
from transforms.publish.schema import LEVELS, POWERS

#: Rank of a level, top-down; an unknown or missing level sorts below village.
LEVEL_RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}
_UNKNOWN_RANK = len(LEVELS)


def stable_ids(*parts: str | Sequence[object] | np.ndarray | pd.Series | pa.Array) -> np.ndarray:
    """``transforms.clean.items.stable_id`` for many rows at once, byte-for-byte the same ids.

    Each part is either a constant string (e.g. the kind) or a column of equal length; ``None``/NaN
    becomes the empty string, as in ``stable_id``. Hashing runs in DuckDB (vectorised, multi-threaded
    sha256) because a Python ``hashlib`` call per row costs ~1.3 µs, i.e. 13 s for 10M powers.
    """
    columns: dict[str, pa.Array] = {}
    exprs: list[str] = []
    n: int | None = None
    for i, part in enumerate(parts):
        if isinstance(part, str):
            exprs.append("'" + part.replace("'", "''") + "'")
            continue
        values = _to_string_array(part)
        if n is not None and len(values) != n:
            raise ValueError(f"stable_ids: part {i} has {len(values)} values, expected {n}")
        n = len(values)
        name = f"p{i}"
        columns[name] = values
        exprs.append(f"coalesce({name}, '')")
    if n is None:
        raise ValueError("stable_ids: at least one part must be a column")
    if n == 0:
        return np.array([], dtype=object)
    joined = " || chr(31) || ".join(exprs)
    con = duckdb.connect()
    try:
        con.register("parts_table", pa.table(columns))
        # A plain projection keeps row order (DuckDB's preserve_insertion_order is on by default).
        result = con.sql(f"select substr(sha256({joined}), 1, 16) as h from parts_table").to_arrow_table()
    finally:
        con.close()
    return result.column("h").to_numpy(zero_copy_only=False).astype(object)


def _to_string_array(values: Sequence[object] | np.ndarray | pd.Series | pa.Array) -> pa.Array:
    """A pyarrow ``string`` array; pandas NaN/None become nulls, other values their ``str``."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
        try:
            values = pa.array(series, from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            values = pa.array([None if pd.isna(v) else str(v) for v in series], type=pa.string())
    if isinstance(values, pa.ChunkedArray):  # a pyarrow-backed pandas column made of several chunks
        values = values.combine_chunks()
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.string())
    if pa.types.is_floating(values.type):  # Arrow casts 1.0 to "1"; stable_id would hash str(1.0)
        return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())
    return values if values.type == pa.string() else values.cast(pa.string())


def _sorted_codes(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Like ``pd.factorize(sort=True)`` but in Arrow: codes ranked by value (-1 for null) and the uniques.

    Hash-encoding then sorting only the distinct values is what keeps 10M rows cheap.
    """
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))
    idx = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
    codes = np.where(idx >= 0, rank_of[np.maximum(idx, 0)], -1) if len(order) else np.full(len(idx), -1)
    return codes, dictionary.take(pa.array(order, pa.int64()))


class LinkEnds(NamedTuple):
    """Each link's child and parent as positions among the items (rows of the ``items`` frame)."""

    child: np.ndarray
    parent: np.ndarray


def link_ends(ids: pa.Array, links: pa.Table) -> LinkEnds:
    """Positions of each link's child and parent among ``ids`` (one hash lookup for both ends).

    A link to an item that is not in ``items`` breaches the contract and would silently drop an edge.
    """
    child = _to_string_array(links.column("child_item_id"))
    parent = _to_string_array(links.column("parent_item_id"))
    both = pa.concat_arrays([child, parent])
    positions = pc.index_in(both, value_set=ids)
    if positions.null_count:
        example = both.filter(pc.is_null(positions))[0].as_py()
        raise ValueError(f"links: {positions.null_count} link end(s) name an item not in items (e.g. {example!r})")
    flat = positions.to_numpy().astype(np.int64)
    return LinkEnds(flat[: len(child)], flat[len(child) :])


def _lists_per_group(label: np.ndarray, codes: np.ndarray, uniques: pa.Array, n_groups: int) -> pa.ListArray:
    """Per group, the distinct non-null values in code order, as a ``list<string>`` array."""
    keep = codes >= 0
    width = max(len(uniques), 1)
    pairs = np.sort(label[keep] * width + codes[keep])  # by group, then by code
    if len(pairs):  # np.unique would hash, several times slower than sort + neighbour compare
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    group, code = np.divmod(pairs, width)
    offsets = np.zeros(n_groups + 1, dtype=np.int32)
    np.cumsum(np.bincount(group, minlength=n_groups), out=offsets[1:])
    values = uniques.take(pa.array(code, pa.int64())) if len(uniques) else pa.array([], pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values.cast(pa.string()))


def _column(items: pd.DataFrame, name: str) -> pa.Array:
    return _to_string_array(items[name]) if name in items else pa.nulls(len(items), pa.string())


def consolidate(items: pd.DataFrame, links: pa.Table | LinkEnds) -> tuple[pd.Series, pa.Table]:
    """Connected components of ``links`` over ``items`` → (``power_id`` per item, ``powers`` table).

    ``links`` holds ``child_item_id``/``parent_item_id``, or their positions among the items already
    (``LinkEnds``): a national run's province scopes find them on their workers, so the country-wide
    step does not look 28M link ends up among 9M ids (~10 s on one core).

    The Series is aligned to ``items.index``; the table has the ``POWERS`` schema, sorted by
    ``power_id``. Raises ``ValueError`` when item ids are null or repeat, or a link names an item that
    is not in ``items``: either would silently merge or drop powers otherwise.
    """
    n = len(items)
    if n == 0:
        return pd.Series([], index=items.index, name="power_id", dtype="str"), POWERS.empty_table()
    ids = _column(items, "item_id")
    if ids.null_count:
        raise ValueError("items.item_id: null item id")
    by_id = array_order(ids)  # item positions in item_id order
    sorted_ids = ids.take(pa.array(by_id, pa.int64()))
    repeated = pc.equal(sorted_ids[1:], sorted_ids[:-1]) if n > 1 else pa.array([], pa.bool_())
    if pc.any(repeated).as_py():
        example = sorted_ids[int(np.flatnonzero(repeated.to_numpy(zero_copy_only=False))[0])].as_py()
        raise ValueError(f"items.item_id: ids are not unique (e.g. {example!r})")
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[by_id] = np.arange(n)

    child, parent = links if isinstance(links, LinkEnds) else link_ends(ids, links)
    if len(child) and (min(child.min(), parent.min()) < 0 or max(child.max(), parent.max()) >= n):
        raise ValueError(f"links: a link end position is outside the {n} items")
    graph = coo_matrix((np.ones(len(child), dtype=np.int8), (child, parent)), shape=(n, n)).tocsr()
    n_comp, comp = connected_components(graph, directed=False)

    # Visiting items by ascending item_id, the first of each component holds its smallest id.
    _, first = np.unique(comp[by_id], return_index=True)
    comp_power_id = stable_ids("power", sorted_ids.take(pa.array(first, pa.int64())))

    # Relabel components in power_id order, so every per-component array below comes out sorted.
    power_order = array_order(pa.array(comp_power_id, pa.string()))
    relabel = np.empty(n_comp, dtype=np.int64)
    relabel[power_order] = np.arange(n_comp)
    label = relabel[comp]
    power_ids = pa.array(comp_power_id[power_order], pa.string())

    # Levels rank top-down (national first); an unknown level sorts after village, then by name.
    level_codes, level_uniques = _sorted_codes(_column(items, "level"))
    unique_rank = np.array([LEVEL_RANK.get(v, _UNKNOWN_RANK) for v in level_uniques.to_pylist()], dtype=np.int64)
    level_order = np.lexsort((np.arange(len(unique_rank)), unique_rank))
    level_pos = np.empty(len(level_order), dtype=np.int64)
    level_pos[level_order] = np.arange(len(level_order))
    level_codes = np.where(level_codes >= 0, level_pos[np.maximum(level_codes, 0)], -1)
    level_uniques = level_uniques.take(pa.array(level_order, pa.int64()))

    # Representative item per power: highest level, then smallest item_id (independent of row order).
    level_key = np.where(level_codes >= 0, level_codes, len(level_order))
    rep_order = np.lexsort((id_rank, level_key, label))
    _, rep_first = np.unique(label[rep_order], return_index=True)
    rep = pa.array(rep_order[rep_first], pa.int64())

    name_norm = _column(items, "name_norm")
    juris_codes, juris_uniques = _sorted_codes(_column(items, "jurisdiction_code"))
    name_codes, name_uniques = _sorted_codes(name_norm)
    powers = pa.table(
        {
            "power_id": power_ids,
            "name": pc.coalesce(name_norm.take(rep), _column(items, "name_raw").take(rep)),
            "power_type": _column(items, "power_type").take(rep),
            "top_level": _column(items, "level").take(rep),
            "top_jurisdiction_code": _column(items, "jurisdiction_code").take(rep),
            "n_items": pa.array(np.bincount(label, minlength=n_comp).astype(np.int32), pa.int32()),
            "levels": _lists_per_group(label, level_codes, level_uniques, n_comp),
            "jurisdictions": _lists_per_group(label, juris_codes, juris_uniques, n_comp),
            "name_variants": _lists_per_group(label, name_codes, name_uniques, n_comp),
        },
        schema=POWERS,
    )
    per_item = power_ids.take(pa.array(label, pa.int64())).to_pandas()
    return pd.Series(per_item.array, index=items.index, name="power_id"), powers
