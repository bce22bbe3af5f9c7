"""Consolidation: links → connected components → powers, with ids that survive reordering."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.clean.items import stable_id
from transforms.link.consolidate import LinkEnds, consolidate, link_ends, stable_ids
from transforms.publish.schema import LEVELS, LINKS, POWERS

JURISDICTIONS = {
    "000000": "national",
    "510000": "province",
    "511600": "city",
    "511602": "county",
    "511603": "county",
    "511602001": "township",
}


def item(item_id: str, code: str, name: str, power_type: str = "行政许可", **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "item_id": item_id,
        "source_id": f"s-{code}",
        "jurisdiction_code": code,
        "jurisdiction_name": code,
        "level": JURISDICTIONS[code],
        "name_raw": name,
        "name_norm": name,
        "power_type": power_type,
    }
    row.update(extra)
    return row


def links_table(pairs: list[tuple[str, str]], items: pd.DataFrame | None = None) -> pa.Table:
    juris = {} if items is None else dict(zip(items["item_id"], items["jurisdiction_code"], strict=True))
    rows = [
        {
            "child_item_id": c,
            "parent_item_id": p,
            "child_jurisdiction": juris.get(c),
            "parent_jurisdiction": juris.get(p),
            "level_pair": None,
            "method": "exact",
            "score": 1.0,
            "reason": "test",
        }
        for c, p in pairs
    ]
    return pa.Table.from_pylist(rows, schema=LINKS)


def chain_items() -> pd.DataFrame:
    return pd.DataFrame(
        [
            item("p1", "510000", "食品经营许可"),
            item("c1", "511600", "食品经营许可（新办）", power_type="行政确认"),
            item("k1", "511602", "食品经营许可"),
            item("k2", "511603", "食品经营许可证核发"),
            item("t1", "511602001", "食品经营许可"),
            item("solo", "511602", "对违法排污的处罚", power_type="行政处罚"),
        ]
    )


def test_chain_and_county_linked_to_both_form_one_power() -> None:
    items = chain_items()
    # k1 → city → province is a chain; k2 links to city and province directly; t1 only to k1.
    links = links_table([("c1", "p1"), ("k1", "c1"), ("k2", "c1"), ("k2", "p1"), ("t1", "k1")], items)
    power_id, powers = consolidate(items, links)

    assert powers.schema.equals(POWERS)
    assert power_id.name == "power_id"
    assert power_id.index.equals(items.index)
    assert power_id.nunique() == 2
    assert power_id.iloc[:5].nunique() == 1
    assert power_id.iloc[5] != power_id.iloc[0]

    table = powers.to_pandas().set_index("power_id")
    big = table.loc[power_id.iloc[0]]
    assert big["name"] == "食品经营许可"  # from the province item
    assert big["power_type"] == "行政许可"  # the province's type, not the city's 行政确认
    assert big["top_level"] == "province"
    assert big["top_jurisdiction_code"] == "510000"
    assert big["n_items"] == 5
    assert list(big["levels"]) == ["province", "city", "county", "township"]
    assert list(big["jurisdictions"]) == ["510000", "511600", "511602", "511602001", "511603"]
    assert list(big["name_variants"]) == sorted({"食品经营许可", "食品经营许可（新办）", "食品经营许可证核发"})

    solo = table.loc[power_id.iloc[5]]
    assert solo["n_items"] == 1
    assert solo["name"] == "对违法排污的处罚"
    assert list(solo["levels"]) == ["county"]


def test_power_id_is_stable_id_of_smallest_item_id() -> None:
    items = chain_items()
    power_id, _ = consolidate(items, links_table([("k1", "p1")], items))
    assert power_id.iloc[0] == stable_id("power", "k1")  # min("k1", "p1")
    assert power_id.iloc[5] == stable_id("power", "solo")


def test_unlinked_items_are_their_own_powers_and_output_sorted() -> None:
    items = chain_items()
    power_id, powers = consolidate(items, links_table([]))
    assert power_id.nunique() == len(items)
    ids = powers.column("power_id").to_pylist()
    assert ids == sorted(ids)
    assert powers.column("n_items").to_pylist() == [1] * len(items)


def test_ids_and_table_stable_under_row_reordering() -> None:
    items = chain_items()
    links = links_table([("c1", "p1"), ("k1", "c1"), ("k2", "p1")], items)
    power_id, powers = consolidate(items, links)

    shuffled = items.sample(frac=1.0, random_state=7)
    shuffled.index = pd.Index([f"r{i}" for i in range(len(shuffled))])
    link_rows = links.take(pa.array([2, 0, 1]))
    power_id2, powers2 = consolidate(shuffled, link_rows)

    assert powers2.equals(powers)
    by_item = dict(zip(items["item_id"], power_id, strict=True))
    assert dict(zip(shuffled["item_id"], power_id2, strict=True)) == by_item
    assert list(power_id2.index) == list(shuffled.index)


def test_top_level_tie_goes_to_smallest_item_id() -> None:
    items = pd.DataFrame([item("b", "510000", "乙名称"), item("a", "510000", "甲名称"), item("k", "511602", "x")])
    _, powers = consolidate(items, links_table([("k", "a"), ("k", "b")], items))
    assert powers.column("name").to_pylist() == ["甲名称"]


def test_name_falls_back_to_raw_and_null_variants_are_dropped() -> None:
    items = pd.DataFrame([item("a", "510000", "x", name_norm=None, name_raw="原始名称")])
    _, powers = consolidate(items, links_table([]))
    assert powers.column("name").to_pylist() == ["原始名称"]
    assert powers.column("name_variants").to_pylist() == [[]]


def test_empty_items() -> None:
    items = pd.DataFrame(columns=["item_id", "jurisdiction_code", "level", "name_norm", "name_raw", "power_type"])
    power_id, powers = consolidate(items, links_table([]))
    assert len(power_id) == 0
    assert powers.schema.equals(POWERS)
    assert powers.num_rows == 0


def test_link_to_unknown_item_and_duplicate_ids_are_rejected() -> None:
    items = chain_items()
    with pytest.raises(ValueError, match="not in items"):
        consolidate(items, links_table([("k1", "nope")]))
    doubled = pd.concat([items, items.iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="not unique"):
        consolidate(doubled, links_table([]))


def test_link_positions_give_the_same_powers_as_link_ids() -> None:
    """The flow hands over link ends as item positions found on the workers (``LinkEnds``)."""
    items = chain_items()
    links = links_table([("c1", "p1"), ("k1", "c1"), ("k2", "c1"), ("k2", "p1"), ("t1", "k1")], items)
    ends = link_ends(pa.array(items["item_id"]), links)
    assert ends.child.tolist() == [1, 2, 3, 3, 4] and ends.parent.tolist() == [0, 1, 1, 0, 2]
    by_id, powers_by_id = consolidate(items, links)
    by_position, powers_by_position = consolidate(items, ends)
    assert by_position.tolist() == by_id.tolist()
    assert powers_by_position.equals(powers_by_id)
    with pytest.raises(ValueError, match="outside the 6 items"):
        consolidate(items, LinkEnds(ends.child, ends.parent + 6))


def test_stable_ids_match_stable_id() -> None:
    got = stable_ids("k", ["a", None, "c"], pd.Series([1, 2, None], dtype="Int64"), "x'y")
    want = [stable_id("k", "a", 1, "x'y"), stable_id("k", None, 2, "x'y"), stable_id("k", "c", None, "x'y")]
    assert list(got) == want
    assert list(stable_ids("k", [])) == []
    assert list(stable_ids("k", [1.5, 2.0])) == [stable_id("k", 1.5), stable_id("k", 2.0)]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[pd.DataFrame, pa.Table]:
    n = draw(st.integers(min_value=1, max_value=40))
    codes = list(JURISDICTIONS)
    items = pd.DataFrame(
        [
            item(
                f"i{k:03d}",
                draw(st.sampled_from(codes)),
                draw(st.sampled_from(["甲", "乙", "丙"])),
                power_type=draw(st.sampled_from(["行政许可", "行政处罚"])),
            )
            for k in range(n)
        ]
    )
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    ids = items["item_id"].tolist()
    return items, links_table([(ids[a], ids[b]) for a, b in edges], items)


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_every_item_gets_exactly_one_power(case: tuple[pd.DataFrame, pa.Table]) -> None:
    items, links = case
    power_id, powers = consolidate(items, links)
    assert power_id.notna().all()
    assert len(power_id) == len(items)
    table = powers.to_pandas()
    assert table["n_items"].sum() == len(items)
    assert set(power_id) == set(table["power_id"])
    assert power_id.value_counts().sort_index().tolist() == table.set_index("power_id")["n_items"].sort_index().tolist()
    # Linked items share a power.
    by_item = dict(zip(items["item_id"], power_id, strict=True))
    for c, p in zip(links.column("child_item_id").to_pylist(), links.column("parent_item_id").to_pylist(), strict=True):
        assert by_item[c] == by_item[p]
    # Levels are top-down ordered and the top level is the first of them.
    for levels, top in zip(table["levels"], table["top_level"], strict=True):
        ranks = [LEVELS.index(v) for v in levels]
        assert ranks == sorted(ranks)
        assert levels[0] == top
    # As many powers as a plain union-find finds components.
    parent = {i: i for i in items["item_id"]}

    def root(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for c, p in zip(links.column("child_item_id").to_pylist(), links.column("parent_item_id").to_pylist(), strict=True):
        parent[root(c)] = root(p)
    assert len(table) == len({root(i) for i in parent})
