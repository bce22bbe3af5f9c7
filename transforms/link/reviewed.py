"""Links a reviewer decided: ``link`` / ``no_link`` decisions of the reviews file override the matcher.

The matcher is right most of the time, and where it is not, the same two lists will mislead it again
next month; a reviewer's ``link:`` decision (syntax in ``transforms.ingest.reviews``) is applied after
matching, in every run, until the file drops it:

* ``no_link`` removes every link from a child item of that name to a parent item of that name;
* ``link`` links each child item of that name to the parent item of that name (the first by item id
  if the parent list repeats the name), replacing the matcher's link of that child into the parent's
  jurisdiction (at most one link per child and ancestor jurisdiction). Its ``method`` is ``review``,
  its ``score`` 1.0 and its ``reason`` says who set it and when, so nobody mistakes it for evidence.

Findings are computed on the links after this, so a reviewed link changes them as a matched one would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.clean.normalise import normalise_name
from transforms.ingest.jurisdictions import Registry
from transforms.ingest.reviews import Decision, LinkKey
from transforms.publish.schema import LINKS


def item_names(items: pd.DataFrame, jurisdictions: set[str]) -> pd.DataFrame:
    """(item_id, jurisdiction_code, name) of the items of ``jurisdictions``: each item under its
    ``name_norm`` and, when its 办理项 came from a column of its own, also as ``name_norm（sub_item）``
    normalised, which is how a reviewer copying the list's row would write it."""
    if not len(items) or not jurisdictions:
        return pd.DataFrame(columns=["item_id", "jurisdiction_code", "name"])
    rows = items.loc[items["jurisdiction_code"].isin(jurisdictions)]
    sub = rows["sub_item"] if "sub_item" in rows else pd.Series(None, index=rows.index, dtype=object)
    apart = [s not in n for s, n in zip(sub.fillna(""), rows["name_norm"].fillna(""), strict=True)]
    own = (sub.notna() & rows["name_norm"].notna()).to_numpy(dtype=bool) & np.array(apart, dtype=bool)
    plain = rows[["item_id", "jurisdiction_code"]].assign(name=rows["name_norm"])
    with_sub = rows.loc[own, ["item_id", "jurisdiction_code"]].assign(
        name=[normalise_name(f"{n}（{s}）") for n, s in zip(rows.loc[own, "name_norm"], sub[own], strict=True)]
    )
    return pd.concat([plain, with_sub], ignore_index=True).dropna(subset=["name"]).astype(object)


def _ids(names: pd.DataFrame, code: str, name: str) -> list[str]:
    wanted = normalise_name(name)
    hit = names[(names["jurisdiction_code"] == code) & (names["name"] == wanted)]
    return sorted(set(hit["item_id"]))


def resolve(link: LinkKey, children: pd.DataFrame, parents: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The child items and the parent items a link key names (``item_names`` frames), ids sorted."""
    return (
        _ids(children, link.child_jurisdiction, link.child_name),
        _ids(parents, link.parent_jurisdiction, link.parent_name),
    )


def apply_link_reviews(
    links: pa.Table, own: pd.DataFrame, upper: pd.DataFrame, decisions: Sequence[Decision], registry: Registry
) -> tuple[pa.Table, frozenset[str]]:
    """``links`` with the decisions about children among ``own`` applied, and the keys that named items here.

    ``own`` are the scope's current items (the children, and parents within the province), ``upper`` the
    current items of the lists above it (national). A decision whose child jurisdiction has no items
    here is another scope's; one whose items are not found is left for the run to report as stale.
    """
    decisions = [d for d in decisions if d.link is not None]
    if not decisions or not len(own):
        return links, frozenset()
    codes = {c for d in decisions for c in (d.link.child_jurisdiction, d.link.parent_jurisdiction)}
    children = item_names(own, codes)
    parents = pd.concat([children, item_names(upper, codes)], ignore_index=True)
    found: set[str] = set()
    for decision in decisions:
        link = decision.link
        child_ids, parent_ids = resolve(link, children, parents)
        if not child_ids or not parent_ids:
            continue
        found.add(decision.key)
        child = pc.is_in(links.column("child_item_id"), value_set=pa.array(child_ids, pa.string()))
        if decision.decision == "no_link":
            target = pc.is_in(links.column("parent_item_id"), value_set=pa.array(parent_ids, pa.string()))
        else:
            target = pc.equal(links.column("parent_jurisdiction"), link.parent_jurisdiction)
        links = links.filter(pc.invert(pc.fill_null(pc.and_(child, target), False)))
        if decision.decision == "link":
            links = pa.concat_tables([links, _reviewed_links(decision, child_ids, parent_ids[0], registry)])
    return links, frozenset(found)


def _reviewed_links(decision: Decision, child_ids: list[str], parent_id: str, registry: Registry) -> pa.Table:
    link = decision.link
    pair = f"{registry[link.child_jurisdiction].level}>{registry[link.parent_jurisdiction].level}"
    reason = f"set by review: {decision.reviewer}, {decision.decided_on.isoformat()}"
    if decision.note:
        reason += f": {decision.note}"
    n = len(child_ids)
    return pa.table(
        {
            "child_item_id": child_ids,
            "parent_item_id": [parent_id] * n,
            "child_jurisdiction": [link.child_jurisdiction] * n,
            "parent_jurisdiction": [link.parent_jurisdiction] * n,
            "level_pair": [pair] * n,
            "method": ["review"] * n,
            "score": [1.0] * n,
            "reason": [reason] * n,
        },
        schema=LINKS,
    )
