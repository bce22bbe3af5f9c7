"""Id-keyed sorting (``transforms.link.order``) gives exactly Arrow's string order, fast path or not."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from transforms.clean.items import stable_id
from transforms.link.order import array_order, id_keys, sort_indices


def ids(n: int, seed: int = 0) -> list[str]:
    return [stable_id("item", str(i), str(seed)) for i in range(n)]


def test_id_numbers_keep_the_string_order_and_other_text_is_refused() -> None:
    values = pa.array([*ids(500), "0" * 16, "f" * 16])
    keys = id_keys(values)
    assert keys is not None and keys.dtype == np.uint64
    assert np.argsort(keys, kind="stable").tolist() == pc.sort_indices(values).to_pylist()
    assert id_keys(values.slice(7, 20)).tolist() == id_keys(pa.array(values.slice(7, 20).to_pylist())).tolist()
    # upper case, other lengths, nulls, non-strings: no numbers, the caller sorts the strings
    for refused in (["ABCDEF0123456789"], ["abc"], [None, "a" * 16], ["g" * 16]):
        assert id_keys(pa.array(refused)) is None, refused
    assert id_keys(pa.array([1, 2])) is None


@pytest.mark.parametrize("nulls", ["at_start", "at_end"])
def test_table_order_equals_arrow_with_and_without_the_fast_path(nulls: str) -> None:
    rng = np.random.default_rng(3)
    child = [ids(300)[i] for i in rng.integers(0, 300, 1200)]
    parent = [None if i % 7 == 0 else f"51{i % 5:04d}" for i in range(1200)]
    keys = [("child", "ascending", nulls), ("parent", "ascending", nulls)]
    table = pa.table({"child": child, "parent": parent})
    assert sort_indices(table, keys).to_pylist() == pc.sort_indices(table, sort_keys=keys).to_pylist()
    texts = table.set_column(0, "child", pa.array([c.upper() for c in child]))  # not ids: plain Arrow sort
    assert sort_indices(texts, keys).to_pylist() == pc.sort_indices(texts, sort_keys=keys).to_pylist()
    assert array_order(pa.array(child)).tolist() == pc.sort_indices(pa.array(child)).to_pylist()
