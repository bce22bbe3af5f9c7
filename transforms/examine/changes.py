"""What changed between versions of a list, and were devolved powers really handed over.

Power lists are adjusted all the time (动态调整): items are devolved (下放), cancelled (取消), renamed,
merged and split, and reviews later check whether devolved powers were really received (回头看). This
module writes the contract's ``changes`` table and the three findings that need time:

* ``diff_versions`` compares consecutive dated versions of each jurisdiction's list inside one run
  (``transforms.examine.versions.version_chains``);
* ``diff_against_previous`` compares this run's current lists with a previous run's (``--previous``);
* ``find_over_time`` raises ``devolved_not_received`` with the devolution date and the days outstanding,
  ``received_without_devolution`` and ``cancelled_still_listed`` across versions.

Matching between versions reuses the cross-level engine (``transforms.link.match.link_items``) instead of a
second matcher, so a renamed item is recognised exactly as a renamed county item is: by code, exact name
or fuzzy score over the same threshold. To do that, the old version is relabelled to a synthetic
jurisdiction that is made the *parent* of the new one in a tiny ``Registry``; ``link_items`` then links
each new item to at most one old item. The reverse call (new version as the parent) gives each old item
its best new counterpart, which is what merges need.

Pairing, in rounds (each round only sees what the earlier ones left):

1. Forward links (new → old). A new item whose link is the only one to its old item continues it.
   Where several new items link to one old item and it is not a split (below), the one with the old
   name, else the best score, continues it; the others stay unpaired.
2. Reverse links (old → new) of old items that no new item took, grouped by that best new item: a
   merge (below), or, when that new item is still unpaired, a continuing pair (the engine linked only
   this way round, e.g. an old 办理项 to a new main item).
3. The engine again, on the leftovers of both sides only: a list that holds one name twice gives two
   new items that both link to the first old row in round 1, and the second old row's twin is found here.
4. Name containment among the leftovers, for what no score sees: ``A`` and ``B`` joined into ``A、B``.

Rules (DB37/T 2561 for the structural kinds). A *part* of an item has the same main name (``X（变更）``
and ``X``), or its main name (at least 4 characters) occurs in the other's full name, or, in rounds 1–2,
rapidfuzz ``partial_ratio`` of the main names reaches the threshold.

========================  ===========================================================================
change                    when
========================  ===========================================================================
renamed / *_changed       a continuing pair whose ``name_norm`` / ``power_type`` / ``legal_basis`` /
                          ``status`` / ``department`` differ; texts compare after NFKC and whitespace
                          removal, a blank cell equals a missing one. One row per differing field.
split                     two or more new items link to one old item (round 1), none carries the old
                          name, and at least two are parts of it; or (round 4) an unpaired old item
                          contains the main names of two or more unpaired new items. One row per part;
                          other new items linked to it are ``added``.
merged                    two or more old items with distinct names have one new item as their best
                          counterpart (round 2: its own forward partner plus reverse links of old items
                          no new item took), each a part of it; or (round 4) a new item — unpaired, or
                          renamed so that it contains its partner's name (``A`` → ``A、B``, keeping A's
                          code) — contains the main names of unpaired old items, two distinct names in
                          all. One row per old item. A list that drops one of two identical rows has a
                          ``removed`` row, not a merge.
level_changed             an old item that would be ``removed`` links to an item *added* in a version
                          of an ancestor's or a descendant's list that is later than the old version
                          (within one run: published after it; against ``--previous``: any). Requiring
                          "added there" keeps a shared catalogue item that every level lists from
                          looking like a move. One row per receiving item; no ``removed`` row.
added / removed           what is left unpaired on either side.
========================  ===========================================================================

Structural rows (split, merged) replace the field rows of their items.

``from_source_id`` / ``to_source_id`` name the item's own source where the row has an item on that side,
else the version's sources joined with ``+`` (a version may be several files of one date).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rapidfuzz import fuzz

from transforms.examine.findings import unreceived
from transforms.examine.kinds import ITEM_COLUMNS, finding_record, findings_table
from transforms.ingest.jurisdictions import Jurisdiction, Registry
from transforms.ingest.manifest import DEFAULT_MATCH_THRESHOLD, SourceSpec
from transforms.publish.schema import (
    CANCELLED_STATUS,
    CHANGES,
    DEVOLVED_STATUSES,
    FINDINGS,
    HELD_STATUSES,
    RECEIVED_STATUS,
)

#: Structural and field kinds that pair an old item with a new one of the same jurisdiction.
PAIR_KINDS = (
    "renamed",
    "type_changed",
    "basis_changed",
    "status_changed",
    "department_changed",
    "merged",
    "split",
)
#: (items column, change kind, label in ``detail``) for the field comparisons of a continuing pair.
FIELDS = (
    ("power_type", "type_changed", "权力类型"),
    ("legal_basis", "basis_changed", "设定依据"),
    ("status", "status_changed", "状态"),
    ("department", "department_changed", "实施主体"),
)
LEVEL_NAMES = {
    "national": "国家级",
    "province": "省级",
    "city": "市级",
    "county": "县级",
    "township": "乡级",
    "village": "村级",
}
#: A part's main name must be at least this long to count as contained in another name.
MIN_PART_CHARS = 4
DETAIL_TEXT_CHARS = 40
SORT_KEYS = ["jurisdiction_code", "to_source_id", "change", "old_item_id", "new_item_id"]

_ITEM_COLUMNS = (*ITEM_COLUMNS, "sheet", "row_no", "province", "published", "main_name", "code_raw", "responsibility")
_SPACE = re.compile(r"\s+")
_PARENT = "~version-parent"
_CHILD = "~version-child:"

Linker = Callable[..., pa.Table]


def _default_linker(items: pd.DataFrame, registry: Registry, *, threshold: float) -> pa.Table:
    """``transforms.link.match.link_items``, imported on first use so this module loads without it."""
    from transforms.link.match import link_items

    return link_items(items, registry, threshold=threshold)


#: The matching engine; a test may swap it, the flow never does.
link_items: Linker = _default_linker


# --------------------------------------------------------------------------------------------- helpers


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str:
    """Stripped text, ``""`` for a missing value: messages and comparisons never see NaN."""
    return "" if _missing(value) else str(value).strip()


def _fold(value: object) -> str:
    """Text compared across versions: NFKC, no whitespace (a re-typed cell is not a change)."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", _text(value)))


def _as_date(value: object) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def _short(text: str, limit: int = DETAIL_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _frame(items: pd.DataFrame) -> pd.DataFrame:
    """The columns this module reads, as object columns, with ``name`` (what people see) added.

    Crafted frames and older outputs may lack columns; a missing column is all-null rather than an error
    because every comparison treats null as "not stated".
    """
    frame = pd.DataFrame(index=pd.RangeIndex(len(items)))
    for column in _ITEM_COLUMNS:
        frame[column] = pd.Series(items[column].to_numpy(), dtype=object) if column in items else None
    frame = frame.astype(object)
    frame["published"] = _dates(frame["published"])
    frame["name"] = [_text(n) or _text(r) for n, r in zip(frame["name_norm"], frame["name_raw"], strict=True)]
    frame["_order"] = list(
        zip(
            frame["source_id"].map(_text),
            frame["sheet"].map(_text),
            pd.to_numeric(frame["row_no"], errors="coerce").fillna(0).astype(int),
            frame["item_id"].map(_text),
            strict=True,
        )
    )
    return frame


def _main(row: Mapping[str, object]) -> str:
    return _text(row.get("main_name")) or _text(row.get("name_norm")) or _text(row.get("name"))


def _is_part(part: Mapping[str, object], whole: Mapping[str, object], threshold: float) -> bool:
    """Whether ``part`` is a piece of ``whole`` (a sub-item, or one of several items joined into one).

    Same main name (``X（变更）`` and ``X``), one main name contained in the other's full name
    (``A`` in ``A、B``; ``X`` in ``X（新申请）``), or, for wording noise, rapidfuzz ``partial_ratio`` of the
    main names at or over the threshold. Very short main names are not trusted to be contained.
    """
    a, b = _main(part), _main(whole)
    if not a or not b:
        return False
    if a == b:
        return True
    full_a = _text(part.get("name_norm")) or a
    full_b = _text(whole.get("name_norm")) or b
    if (len(a) >= MIN_PART_CHARS and a in full_b) or (len(b) >= MIN_PART_CHARS and b in full_a):
        return True
    return fuzz.partial_ratio(a, b) >= threshold * 100 and min(len(a), len(b)) >= MIN_PART_CHARS


def _jurisdiction(code: str, registry: Registry | None, frame: pd.DataFrame | None = None) -> Jurisdiction:
    """The registry row of ``code``, or one made from the items' own columns when it is not there."""
    if registry is not None and code in registry:
        return registry[code]
    name, level = code, "county"
    if frame is not None and len(frame):
        rows = frame[frame["jurisdiction_code"] == code]
        if len(rows):
            name = _text(rows["jurisdiction_name"].iloc[0]) or code
            level = _text(rows["level"].iloc[0]) or level
    return Jurisdiction(code, name, level, None)


def _link_to(
    children: pd.DataFrame,
    parents: pd.DataFrame,
    registry: Registry | None,
    threshold: float,
) -> pd.DataFrame:
    """Best ``parents`` item for each ``children`` item, by the matching engine over a tiny registry.

    ``parents`` become one synthetic jurisdiction; every jurisdiction of ``children`` becomes a synthetic
    child of it (its own code prefixed, so that a jurisdiction compared with itself still has two codes).
    Item ids are prefixed too: a previous run's items carry the same ids as this run's. Returns
    ``child_item_id, parent_item_id, score, method`` with the original ids.
    """
    columns = ["child_item_id", "parent_item_id", "score", "method"]
    if children.empty or parents.empty:
        return pd.DataFrame(columns=columns)
    parent_code = str(parents["jurisdiction_code"].iloc[0])
    upper = _jurisdiction(parent_code, registry, parents)
    rows = {_PARENT: Jurisdiction(_PARENT, upper.name, upper.level, None)}
    child_codes = sorted({str(c) for c in children["jurisdiction_code"]})
    for code in child_codes:
        lower = _jurisdiction(code, registry, children)
        rows[_CHILD + code] = Jurisdiction(_CHILD + code, lower.name, lower.level, _PARENT)
    tiny = Registry(rows)
    child = children.drop(columns=[c for c in children.columns if c == "name" or c.startswith("_")]).copy()
    child["item_id"] = "c:" + child["item_id"].astype(str)
    child["jurisdiction_code"] = _CHILD + child["jurisdiction_code"].astype(str)
    child["level"] = [rows[c].level for c in child["jurisdiction_code"]]
    parent = parents.drop(columns=[c for c in parents.columns if c == "name" or c.startswith("_")]).copy()
    parent["item_id"] = "p:" + parent["item_id"].astype(str)
    parent["jurisdiction_code"] = _PARENT
    parent["level"] = upper.level
    both = pd.concat([parent, child], ignore_index=True)
    both["jurisdiction_name"] = [rows[c].name for c in both["jurisdiction_code"]]
    both["province"] = _PARENT  # one partition: the engine must compare these items with each other
    links = link_items(both, tiny, threshold=threshold)
    found = pd.DataFrame(
        {c: links.column(c).to_pylist() for c in ("child_item_id", "parent_item_id", "score", "method")}
    )
    if found.empty:
        return pd.DataFrame(columns=columns)
    found = found[found["child_item_id"].str.startswith("c:") & found["parent_item_id"].str.startswith("p:")]
    found["child_item_id"] = found["child_item_id"].str[2:]
    found["parent_item_id"] = found["parent_item_id"].str[2:]
    return found.reset_index(drop=True)[columns]


# --------------------------------------------------------------------------------------- one version pair


@dataclass(frozen=True)
class Version:
    """One dated list of one jurisdiction: its sources (one date may be several files) and its items."""

    code: str
    source_ids: tuple[str, ...]
    published: dt.date | None
    items: pd.DataFrame

    @property
    def label(self) -> str:
        return "+".join(self.source_ids)


@dataclass
class PairDiff:
    """The changes between two versions of one jurisdiction, before the cross-level ``level_changed`` pass."""

    old: Version
    new: Version
    rows: list[dict[str, object]] = field(default_factory=list)
    removed: pd.DataFrame = field(default_factory=pd.DataFrame)
    added: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: list[tuple[str, str]] = field(default_factory=list)


def _row(
    diff: PairDiff,
    change: str,
    old: Mapping[str, object] | None,
    new: Mapping[str, object] | None,
    detail: str,
    *,
    new_in_version: bool = True,
) -> dict[str, object]:
    """One CHANGES row; the item's own source names the side it is on (see module docstring)."""
    return {
        "jurisdiction_code": diff.new.code,
        "from_source_id": _text(old["source_id"]) if old is not None else diff.old.label,
        "to_source_id": _text(new["source_id"]) if new is not None and new_in_version else diff.new.label,
        "from_published": diff.old.published,
        "to_published": diff.new.published,
        "change": change,
        "old_item_id": None if old is None else _text(old["item_id"]),
        "new_item_id": None if new is None else _text(new["item_id"]),
        "old_name": None if old is None else old["name"],
        "new_name": None if new is None else new["name"],
        "detail": detail,
    }


def _field_detail(column: str, label: str, old: Mapping[str, object], new: Mapping[str, object]) -> str:
    before, after = _text(old[column]) or "（空）", _text(new[column]) or "（空）"
    if column == "legal_basis":
        before, after = _short(before), _short(after)
    detail = f"{label}: {before} → {after}"
    if column == "status":
        raw = _text(new.get("status_raw"))
        if raw and raw != _text(new[column]):
            detail += f"（{_short(raw)}）"
    return detail


def _pair_rows(diff: PairDiff, old: Mapping[str, object], new: Mapping[str, object]) -> None:
    if _text(old["name_norm"]) != _text(new["name_norm"]):
        diff.rows.append(_row(diff, "renamed", old, new, f"名称: {old['name']} → {new['name']}"))
    for column, change, label in FIELDS:
        if _fold(old[column]) != _fold(new[column]):
            diff.rows.append(_row(diff, change, old, new, _field_detail(column, label, old, new)))


def _added_detail(row: Mapping[str, object]) -> str:
    status = _text(row["status"])
    extra = f"，{status}" if status and status not in HELD_STATUSES else ""
    return f"新增（{_text(row['power_type']) or '类型未注明'}{extra}）"


def _removed_detail(row: Mapping[str, object]) -> str:
    return f"移出清单（{_text(row['power_type']) or '类型未注明'}，原状态 {_text(row['status']) or '未注明'}）"


def diff_pair(old: Version, new: Version, registry: Registry | None, threshold: float) -> PairDiff:
    """Pair the items of two versions of one list and classify what changed (see the module's rules)."""
    diff = PairDiff(old, new)
    old_items, new_items = old.items, new.items
    if old_items.empty or new_items.empty:
        diff.removed, diff.added = old_items, new_items
        return diff
    old_rows = {r["item_id"]: r for r in old_items.to_dict("records")}
    new_rows = {r["item_id"]: r for r in new_items.to_dict("records")}
    forward = _link_to(new_items, old_items, registry, threshold)  # new → old
    reverse = _link_to(old_items, new_items, registry, threshold)  # old → new
    score_fwd = {
        (c, p): float(s)
        for c, p, s in zip(forward["child_item_id"], forward["parent_item_id"], forward["score"], strict=True)
    }
    best_new = {
        c: (p, float(s))
        for c, p, s in zip(reverse["child_item_id"], reverse["parent_item_id"], reverse["score"], strict=True)
    }

    linked: dict[str, list[str]] = defaultdict(list)  # old id → new ids linking to it, in row order
    for child, parent in sorted(
        zip(forward["child_item_id"], forward["parent_item_id"], strict=True), key=lambda cp: new_rows[cp[0]]["_order"]
    ):
        linked[parent].append(child)

    pairs: dict[str, str] = {}  # new id → old id (continuing pairs)
    split_of: dict[str, list[str]] = {}
    for old_id in sorted(linked, key=lambda o: old_rows[o]["_order"]):
        news = linked[old_id]
        o = old_rows[old_id]
        if len(news) == 1:
            pairs[news[0]] = old_id
            continue
        same = [n for n in news if _text(new_rows[n]["name_norm"]) == _text(o["name_norm"])]
        parts = [n for n in news if _is_part(new_rows[n], o, threshold)]
        if not same and len(parts) >= 2:
            split_of[old_id] = parts  # the other new items linked to it stay unpaired (added)
            continue
        pairs[same[0] if same else min(news, key=lambda n: (-score_fwd[(n, old_id)], n))] = old_id

    # merges and reverse-only pairs: old items no new item took, grouped by their best new counterpart
    taken_old = set(linked)
    split_new = {n for parts in split_of.values() for n in parts}
    by_new: dict[str, list[str]] = defaultdict(list)
    for old_id in sorted(old_rows, key=lambda o: old_rows[o]["_order"]):
        if old_id not in taken_old and old_id in best_new:
            by_new[best_new[old_id][0]].append(old_id)
    merged_into: dict[str, list[str]] = {}
    for new_id, olds in sorted(by_new.items(), key=lambda kv: new_rows[kv[0]]["_order"]):
        if new_id in split_new:
            continue
        partner = pairs.get(new_id)
        members = ([partner] if partner else []) + olds
        n = new_rows[new_id]
        names = {_text(old_rows[m]["name_norm"]) for m in members}
        if len(members) >= 2 and len(names) >= 2 and all(_is_part(old_rows[m], n, threshold) for m in members):
            merged_into[new_id] = members
            pairs.pop(new_id, None)
        elif partner is None:  # the engine linked only this way round: still one continuing item
            pairs[new_id] = min(olds, key=lambda m: (-best_new[m][1], m))

    _leftover_round(old_rows, new_rows, pairs, split_of, merged_into, registry, threshold)
    _contained_fallback(old_rows, new_rows, pairs, split_of, merged_into)

    for new_id, old_id in sorted(pairs.items(), key=lambda kv: new_rows[kv[0]]["_order"]):
        _pair_rows(diff, old_rows[old_id], new_rows[new_id])
        diff.pairs.append((old_id, new_id))
    for old_id, parts in split_of.items():
        o = old_rows[old_id]
        for new_id in parts:
            diff.rows.append(_row(diff, "split", o, new_rows[new_id], f"拆分: 「{o['name']}」→ {len(parts)} 项"))
            diff.pairs.append((old_id, new_id))
    for new_id, members in merged_into.items():
        n = new_rows[new_id]
        for old_id in members:
            diff.rows.append(_row(diff, "merged", old_rows[old_id], n, f"合并: {len(members)} 项 → 「{n['name']}」"))
            diff.pairs.append((old_id, new_id))

    used_old, used_new = _used(pairs, split_of, merged_into)
    diff.removed = old_items[~old_items["item_id"].isin(used_old)]
    diff.added = new_items[~new_items["item_id"].isin(used_new)]
    return diff


def _contained(part: Mapping[str, object], whole: Mapping[str, object]) -> bool:
    """``part``'s main name, long enough to mean something, occurs in ``whole``'s full name."""
    main = _main(part)
    return len(main) >= MIN_PART_CHARS and main in (_text(whole.get("name_norm")) or _main(whole))


def _renamed_to_contain(old: Mapping[str, object], new: Mapping[str, object]) -> bool:
    """The new name differs from the old one and contains it (``A`` → ``A、B``): a merge host."""
    return _text(old.get("name_norm")) != _text(new.get("name_norm")) and _contained(old, new)


def _used(
    pairs: Mapping[str, str], split_of: Mapping[str, list[str]], merged_into: Mapping[str, list[str]]
) -> tuple[set[str], set[str]]:
    used_old = set(pairs.values()) | set(split_of) | {m for ms in merged_into.values() for m in ms}
    used_new = set(pairs) | {n for ns in split_of.values() for n in ns} | set(merged_into)
    return used_old, used_new


def _leftover_round(
    old_rows: Mapping[str, Mapping[str, object]],
    new_rows: Mapping[str, Mapping[str, object]],
    pairs: dict[str, str],
    split_of: Mapping[str, list[str]],
    merged_into: Mapping[str, list[str]],
    registry: Registry | None,
    threshold: float,
) -> None:
    """Ask the engine again with only the items still unpaired on both sides.

    A list that holds one name twice (two rows, two codes) gives two new items that both link to the
    first old row; the second old row then has no free counterpart in the first round although its twin
    is right there. Continuing pairs found here are 1:1, first by the new item's row order.
    """
    used_old, used_new = _used(pairs, split_of, merged_into)
    left_old = [o for o in old_rows if o not in used_old]
    left_new = [n for n in new_rows if n not in used_new]
    if not left_old or not left_new:
        return
    frame_old = pd.DataFrame([old_rows[o] for o in left_old])
    frame_new = pd.DataFrame([new_rows[n] for n in left_new])
    links = _link_to(frame_new, frame_old, registry, threshold)
    order = sorted(
        zip(links["child_item_id"], links["parent_item_id"], links["score"], strict=True),
        key=lambda cps: (-float(cps[2]), new_rows[cps[0]]["_order"]),
    )
    taken: set[str] = set()
    for child, parent, _score in order:
        if parent not in taken and child not in pairs:
            pairs[child] = parent
            taken.add(parent)


def _contained_fallback(
    old_rows: Mapping[str, Mapping[str, object]],
    new_rows: Mapping[str, Mapping[str, object]],
    pairs: dict[str, str],
    split_of: dict[str, list[str]],
    merged_into: dict[str, list[str]],
) -> None:
    """Merges and splits the engine could not see, found by name containment among the leftovers.

    ``A`` and ``B`` merged into ``A、B`` score low against the joined name, so the engine pairs at most
    one of them (by a kept code) and leaves the other: a new item — unpaired, or paired with an old item
    whose name it took over and extended — whose name contains the main names of further unpaired old items, two or more
    distinct names in all, is their merge. An unpaired old item whose name contains the main names of
    two or more unpaired new items was split into them.
    """
    used_old, used_new = _used(pairs, split_of, merged_into)
    left_old = sorted((o for o in old_rows if o not in used_old), key=lambda o: old_rows[o]["_order"])
    left_new = sorted((n for n in new_rows if n not in used_new), key=lambda n: new_rows[n]["_order"])
    claimed: set[str] = set()
    hosts = sorted(
        [*left_new, *(n for n, o in pairs.items() if _renamed_to_contain(old_rows[o], new_rows[n]))],
        key=lambda n: new_rows[n]["_order"],
    )
    for new_id in hosts:
        partner = [pairs[new_id]] if new_id in pairs else []
        parts = [o for o in left_old if o not in claimed and _contained(old_rows[o], new_rows[new_id])]
        members = partner + parts
        if parts and len(members) >= 2 and len({_text(old_rows[o]["name_norm"]) for o in members}) >= 2:
            merged_into[new_id] = members
            pairs.pop(new_id, None)
            claimed.update(parts)
    for old_id in left_old:
        if old_id in claimed:
            continue
        parts = [
            n
            for n in left_new
            if n not in merged_into and n not in claimed and _contained(new_rows[n], old_rows[old_id])
        ]
        if len(parts) >= 2:
            split_of[old_id] = parts
            claimed.update(parts)


def _finish_pair(diff: PairDiff, moved: Mapping[str, list[Mapping[str, object]]], registry: Registry | None) -> None:
    """Add the ``added``, ``removed`` and ``level_changed`` rows once the level pass has run."""
    for row in diff.added.to_dict("records"):
        diff.rows.append(_row(diff, "added", None, row, _added_detail(row)))
    here = _jurisdiction(diff.new.code, registry, diff.new.items)
    for row in diff.removed.to_dict("records"):
        targets = moved.get(row["item_id"], [])
        if not targets:
            diff.rows.append(_row(diff, "removed", row, None, _removed_detail(row)))
        for target in targets:
            there = _jurisdiction(_text(target["jurisdiction_code"]), registry)
            if there.code == _text(target["jurisdiction_code"]) and _text(target["jurisdiction_name"]):
                there = Jurisdiction(there.code, _text(target["jurisdiction_name"]), there.level, there.parent_code)
            detail = (
                f"层级调整: {here.name}（{LEVEL_NAMES.get(here.level, here.level)}）→ "
                f"{there.name}（{LEVEL_NAMES.get(there.level, there.level)}）"
            )
            diff.rows.append(_row(diff, "level_changed", row, target, detail, new_in_version=False))


def _related(a: str, b: str, registry: Registry | None) -> bool:
    """Whether one jurisdiction is an ancestor of the other (a move between them is a level change)."""
    if registry is None or a not in registry or b not in registry or a == b:
        return False
    return a in registry.ancestors(b) or b in registry.ancestors(a)


def _later(removed_in: PairDiff, added_in: PairDiff) -> bool:
    """Within one run: the receiving version is later than the version the item was last listed in."""
    before, after = removed_in.old.published, added_in.new.published
    return before is None or after is None or after > before


def level_pass(
    diffs: list[PairDiff],
    registry: Registry | None,
    threshold: float,
    eligible: Callable[[PairDiff, PairDiff], bool] = _later,
) -> dict[str, list[dict[str, object]]]:
    """Removed items that reappear as *added* items of an ancestor's or descendant's later version.

    Returns old item id → the items (records) it moved to. One ``link_items`` call per version pair with
    removals, over the added items of every related, eligible version pair.
    """
    moved: dict[str, list[dict[str, object]]] = {}
    for diff in diffs:
        if diff.removed.empty:
            continue
        others = [
            d
            for d in diffs
            if d is not diff
            and not d.added.empty
            and _related(diff.new.code, d.new.code, registry)
            and eligible(diff, d)
        ]
        if not others:
            continue
        added = pd.concat([d.added for d in others], ignore_index=True)
        links = _link_to(added, diff.removed, registry, threshold)
        if links.empty:
            continue
        records = {r["item_id"]: r for r in added.to_dict("records")}
        for child, parent in zip(links["child_item_id"], links["parent_item_id"], strict=True):
            moved.setdefault(parent, []).append(records[child])
    for targets in moved.values():
        targets.sort(key=lambda r: r["_order"])
    return moved


def _table(rows: Iterable[dict[str, object]]) -> pa.Table:
    frame = pd.DataFrame(list(rows), columns=CHANGES.names)
    if frame.empty:
        return CHANGES.empty_table()
    frame = frame.drop_duplicates(subset=[*SORT_KEYS, "from_source_id"])
    frame = frame.sort_values(SORT_KEYS, kind="stable", na_position="first").reset_index(drop=True)
    return pa.Table.from_pandas(frame, schema=CHANGES, preserve_index=False)


def _run_pairs(pairs: list[tuple[Version, Version]], registry: Registry | None, threshold: float, eligible) -> pa.Table:
    diffs = [diff_pair(old, new, registry, threshold) for old, new in pairs]
    moved = level_pass(diffs, registry, threshold, eligible)
    for diff in diffs:
        _finish_pair(diff, moved, registry)
    return _table(row for diff in diffs for row in diff.rows)


# ------------------------------------------------------------------------------------------------- API


def diff_versions(
    items: pd.DataFrame,
    chains: Mapping[str, list[list[SourceSpec]]],
    registry: Registry,
    *,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
) -> pa.Table:
    """CHANGES between consecutive versions of each jurisdiction in ``chains`` (``version_chains``).

    ``items`` holds the items of every version (the flow's full items frame); the chains say which
    sources form which version. Sorted by ``(jurisdiction_code, to_source_id, change, old_item_id,
    new_item_id)``.
    """
    versioned = {s.id for versions in chains.values() for group in versions for s in group}
    frame = _frame(items[items["source_id"].isin(versioned)]) if len(items) else _frame(items)
    pairs: list[tuple[Version, Version]] = []
    for code in sorted(chains):
        versions = []
        for group in chains[code]:
            ids = tuple(sorted(s.id for s in group))
            published = group[0].published if group else None
            versions.append(Version(code, ids, published, frame[frame["source_id"].isin(ids)].reset_index(drop=True)))
        pairs.extend(itertools.pairwise(versions))
    return _run_pairs(pairs, registry, threshold, _later)


def _dates(values: pd.Series) -> pd.Series:
    """``published`` as ``datetime.date`` objects (None when missing), converted once per distinct value."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    converted = [_as_date(u) for u in uniques]
    return pd.Series([None if c < 0 else converted[c] for c in codes], index=values.index, dtype=object)


def _current_mask(items: pd.DataFrame) -> pd.Series:
    """Rows of each jurisdiction's newest dated version, and undated rows (as ``current_source_ids``)."""
    published = _dates(items["published"])
    dated = published.notna()
    newest = published[dated].groupby(items["jurisdiction_code"][dated]).max()
    newest_per_row = items["jurisdiction_code"].map(newest)
    return (~dated | (published == newest_per_row)).astype(bool)


def current_items(items: pd.DataFrame) -> pd.DataFrame:
    """Per jurisdiction, the items of its newest dated version plus undated ones (as ``current_source_ids``)."""
    return items if items.empty else items[_current_mask(items)]


def _version_of(frame: pd.DataFrame, code: str) -> Version:
    rows = frame[frame["jurisdiction_code"] == code].reset_index(drop=True)
    dates = [d for d in rows["published"] if d is not None]
    return Version(code, tuple(sorted({_text(s) for s in rows["source_id"]})), max(dates) if dates else None, rows)


#: What makes a jurisdiction's list "the same" between two runs (every field a change row compares).
_SIGNATURE_COLUMNS = ["item_id", "name_norm", "power_type", "legal_basis", "status", "department"]


def _signatures(items: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Per jurisdiction, an order-free fingerprint of its rows: (row count, sum of row hashes mod 2^64).

    Vectorised (``pd.util.hash_pandas_object``) so that comparing two 10M-item runs costs seconds and only
    the jurisdictions that differ are turned into Python rows and matched.
    """
    if items.empty:
        return {}
    cells = pd.DataFrame(
        {c: (items[c].astype(object).where(items[c].notna(), "") if c in items else "") for c in _SIGNATURE_COLUMNS}
    ).astype(str)
    hashes = pd.Series(pd.util.hash_pandas_object(cells, index=False).to_numpy(), index=items.index)
    grouped = hashes.groupby(items["jurisdiction_code"])
    total = grouped.agg(lambda h: int(h.to_numpy().sum(dtype="uint64")))
    return {code: (int(n), int(total[code])) for code, n in grouped.size().items()}


def diff_against_previous(
    items: pd.DataFrame,
    previous_items: pd.DataFrame,
    registry: Registry | None,
    *,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
) -> pa.Table:
    """CHANGES from a previous run's current lists to this run's, per jurisdiction present in both.

    Both frames may hold every version (an output's items table does); only current items are compared.
    A jurisdiction whose rows are the same in both runs (same ids, names, types, bases, statuses,
    departments) is skipped without matching: the scheduled flow's usual case. A jurisdiction new to
    this run, or gone from it, is not itemised: run.json's inputs say that a whole list appeared or went.
    """
    new_current, old_current = current_items(items), current_items(previous_items)
    new_sig, old_sig = _signatures(new_current), _signatures(old_current)
    changed = sorted(code for code in set(new_sig) & set(old_sig) if new_sig[code] != old_sig[code])
    new_frame = _frame(new_current[new_current["jurisdiction_code"].isin(changed)])
    old_frame = _frame(old_current[old_current["jurisdiction_code"].isin(changed)])
    pairs = [(_version_of(old_frame, code), _version_of(new_frame, code)) for code in changed]
    return _run_pairs(pairs, registry, threshold, lambda _a, _b: True)


def combine_changes(*tables: pa.Table) -> pa.Table:
    """One CHANGES table from several (versions in the run, against ``--previous``), duplicates dropped.

    A previous run whose current list is an older version in this run gives the same rows twice.
    """
    frames = [t.to_pandas(date_as_object=True) for t in tables if t is not None and t.num_rows]
    if not frames:
        return CHANGES.empty_table()
    return _table(pd.concat(frames, ignore_index=True).to_dict("records"))


def default_as_of(sources: Iterable[SourceSpec]) -> dt.date | None:
    """The date findings count days to when the caller gives none: the newest ``published`` date.

    Not today: the same inputs must give byte-identical tables (CONTRACT §5), and ``days_outstanding``
    is in the findings. ``None`` when no source is dated (then no finding needs a date).
    """
    dates = [s.published for s in sources if s.published is not None]
    return max(dates) if dates else None


def load_previous_items(path: str | Path, provinces: Iterable[str] | None = None) -> pd.DataFrame:
    """The items of a previous output folder (``OUT_OLD/items/<province>.parquet``), all versions;
    with ``provinces``, only those files (an empty frame when none of them is there).

    Files are read one by one (``province`` is stored in them, so no partition inference is needed) and
    concatenated with permissive type promotion, so an output of an older powerlists still loads; its
    ``items/province=<code>/part-*.parquet`` folders are read too.
    """
    root = Path(path) / "items"
    if provinces is not None:
        files = sorted(
            f
            for p in provinces
            for f in [root / f"{p}.parquet", *(root / f"province={p}").glob("*.parquet")]
            if f.is_file()
        )
        if not files:
            return pd.DataFrame()
    else:
        files = sorted(root.glob("**/*.parquet"))
        if not files:
            raise FileNotFoundError(f"{root}: no items Parquet files; is {path} a powerlists output folder?")
    tables = [pq.ParquetFile(f).read() for f in files]
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.to_pandas(date_as_object=True)


# ------------------------------------------------------------------------------------- findings over time


@dataclass
class _History:
    """Item lineage across the run's versions, rebuilt from CHANGES plus identical-name pairing."""

    status_of: dict[str, str]
    published_of: dict[str, dt.date | None]
    pred: dict[str, list[str]]
    gone: set[str]
    moved_to: dict[str, list[str]]
    moved_on: dict[str, dt.date]
    _memo: dict[tuple[str, tuple[str, ...]], dt.date | None] = field(default_factory=dict)

    def status(self, item_id: str) -> str:
        return self.status_of.get(item_id, "")

    def published(self, item_id: str) -> dt.date | None:
        return self.published_of.get(item_id)

    def since(self, item_id: str, statuses: tuple[str, ...]) -> dt.date | None:
        """Date of the earliest version from which the item has held one of ``statuses`` without a break."""
        key = (item_id, statuses)
        if key not in self._memo:
            self._memo[key] = None  # cycle guard
            if self.status(item_id) in statuses:
                earlier = [self.since(p, statuses) for p in self.pred.get(item_id, []) if self.status(p) in statuses]
                dates = [d for d in earlier if d is not None]
                self._memo[key] = min(dates) if dates else self.published(item_id)
        return self._memo[key]

    def ever(self, item_id: str, statuses: tuple[str, ...], _seen: set[str] | None = None) -> bool:
        seen = _seen if _seen is not None else set()
        if item_id in seen:
            return False
        seen.add(item_id)
        return self.status(item_id) in statuses or any(self.ever(p, statuses, seen) for p in self.pred.get(item_id, []))


def _history(known: pd.DataFrame, lineage: pd.DataFrame, changes: pa.Table) -> _History:
    """Lineage of each item: predecessors in the previous version of its jurisdiction.

    ``known`` gives the id, stripped status and date of every row the checks may read; ``lineage`` the
    ``_frame`` rows of the jurisdictions with several dated versions, the only ones that pair.
    CHANGES holds a row for every pair that changed; a pair without a row is identical, so leftovers of
    consecutive versions are paired by (name_norm, sub_item) in row order. Only rows between two versions
    present in ``items`` are used: rows against ``--previous`` name items this run does not hold.
    """
    status_of = dict(zip(known["item_id"], known["status"], strict=True))
    published_of = dict(zip(known["item_id"], known["published"], strict=True))
    dates: dict[str, list[dt.date]] = {}
    for code, group in lineage.groupby("jurisdiction_code"):
        dates[code] = sorted({d for d in group["published"] if d is not None})
    consecutive = {(code, a, b) for code, ds in dates.items() for a, b in itertools.pairwise(ds)}
    known_ids = set(known["item_id"])
    rows = (
        changes.to_pandas(date_as_object=True)
        if changes is not None and changes.num_rows
        else pd.DataFrame(columns=CHANGES.names)
    )
    in_run = [
        (r.jurisdiction_code, _as_date(r.from_published), _as_date(r.to_published)) in consecutive
        for r in rows.itertuples(index=False)
    ]
    rows = rows[pd.Series(in_run, index=rows.index, dtype=bool)] if len(rows) else rows
    pred: dict[str, list[str]] = defaultdict(list)
    added, gone, moved_to, moved_on = set(), set(), defaultdict(list), {}
    for r in rows.itertuples(index=False):
        if r.change in PAIR_KINDS and r.old_item_id in known_ids and r.new_item_id in known_ids:
            if r.old_item_id not in pred[r.new_item_id]:
                pred[r.new_item_id].append(r.old_item_id)
        elif r.change == "added":
            added.add(r.new_item_id)
        elif r.change in ("removed", "level_changed"):
            gone.add(r.old_item_id)
            if r.change == "level_changed" and r.new_item_id in known_ids:
                moved_to[r.old_item_id].append(r.new_item_id)
                moved_on[r.old_item_id] = _as_date(r.to_published)
    has_successor = {o for olds in pred.values() for o in olds}
    for code, a, b in sorted(consecutive):
        group = lineage[lineage["jurisdiction_code"] == code]
        old = group[(group["published"] == a) & ~group["item_id"].isin(has_successor | gone)]
        new = group[(group["published"] == b) & ~group["item_id"].isin(set(pred) | added)]
        queues: dict[tuple[str, str], list[str]] = defaultdict(list)
        for r in sorted(old.to_dict("records"), key=lambda r: r["_order"]):
            queues[(_text(r["name_norm"]), _text(r["sub_item"]))].append(r["item_id"])
        for r in sorted(new.to_dict("records"), key=lambda r: r["_order"]):
            queue = queues.get((_text(r["name_norm"]), _text(r["sub_item"])))
            if queue:
                pred[r["item_id"]].append(queue.pop(0))
    return _History(status_of, published_of, dict(pred), gone, dict(moved_to), moved_on)


def _finding(
    kind: str,
    subject: Mapping[str, object],
    other: Mapping[str, object] | None,
    other_code: str | None,
    message: str,
    details: dict[str, object],
    *,
    severity: str | None = None,
) -> dict[str, object]:
    """One finding about ``subject`` (and ``other``, an upper item, where there is one)."""
    return finding_record(
        kind,
        jurisdiction_code=_text(subject["jurisdiction_code"]),
        item_id=_text(subject["item_id"]),
        other_item_id=None if other is None else _text(other["item_id"]),
        other_jurisdiction_code=other_code,
        message=message,
        details=details,
        severity=severity,
    )


def _jname(code: str, registry: Registry, frame: pd.DataFrame) -> str:
    return _jurisdiction(code, registry, frame).name


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class _Scene:
    """What the three over-time checks share, restricted to the rows they can need.

    ``known`` holds every item of a jurisdiction with several versions (lineage needs them all), every
    dated 下放/委托/取消 item, every 承接 item and both ends of the links among those — only their ids,
    jurisdictions, dates and stripped statuses (as object columns: fast to iterate). The checks decide
    on those; whole rows (``_frame``: every column and the display name) are made only for the items a
    finding is about, in one ``load`` per check. A 1M-item run has some 300k such items and 17k findings,
    so this is what keeps the checks from turning a third of the run into Python dicts. Where an id is
    on several rows, the row that stands for it is its last among the event, claim and link rows, else
    its first (what a dict of those rows, then a lookup, gave). Jurisdiction-level facts (which lists
    are current, their dates, who is below whom) come from vectorised passes over all items.
    """

    items: pd.DataFrame
    known: pd.DataFrame
    history: _History
    registry: Registry
    as_of: dt.date
    present: list[str]
    list_date: dict[str, dt.date | None]
    all_current: pd.Series
    rows: dict[str, dict[str, object]] = field(default_factory=dict)
    jur_of: dict[str, str] = field(default_factory=dict)
    current_ids: set[str] = field(default_factory=set)
    children_of: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    uppers_of: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _index: dict[str, int] = field(default_factory=dict)
    _subjects: dict[str, int] = field(default_factory=dict)
    _registered: list[str] = field(default_factory=list)
    _linked: set[tuple[str, str]] = field(default_factory=set)
    _below: dict[str, list[str]] = field(default_factory=dict)
    _children: dict[str, list[str]] = field(default_factory=dict)
    _areas: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = self.known["item_id"].to_numpy(dtype=object)
        at = np.arange(len(ids))
        subject = self.known["_subject"].to_numpy(dtype=bool)
        self.jur_of = dict(zip(ids, self.known["jurisdiction_code"], strict=True))
        self.current_ids = set(ids[self.known["_current"].to_numpy(dtype=bool)])
        self._subjects = dict(zip(ids[subject], at[subject], strict=True))
        self._index = dict(zip(ids[::-1], at[::-1], strict=True)) | self._subjects
        self._code = self.known["jurisdiction_code"].to_numpy(dtype=object)
        self._status = self.known["status"].to_numpy(dtype=object)
        self._published = self.known["published"].to_numpy(dtype=object)
        below: dict[str, list[str]] = defaultdict(list)
        children: dict[str, list[str]] = defaultdict(list)
        for code in self.present:
            if code in self.registry:
                for ancestor in self.registry.ancestors(code):
                    below[ancestor].append(code)
                if self.registry[code].parent_code is not None:
                    children[self.registry[code].parent_code].append(code)
        self._below, self._children = dict(below), dict(children)

    def _fact(self, item_id: str, column: str, facts: np.ndarray) -> object:
        row = self.rows.get(item_id)
        if row is not None:
            return _text(row[column]) if column == "status" else row[column]
        k = self._index.get(item_id)
        return ("" if column == "status" else None) if k is None else facts[k]

    def code(self, item_id: str) -> object:
        """The jurisdiction code of the item's row (without making the row)."""
        return self._fact(item_id, "jurisdiction_code", self._code)

    def status(self, item_id: str) -> str:
        """The stripped status of the item's row (without making the row; ``known`` holds it stripped)."""
        return self._fact(item_id, "status", self._status)

    def published(self, item_id: str) -> dt.date | None:
        """The list date of the item's row (without making the row)."""
        return self._fact(item_id, "published", self._published)

    def claims(self) -> list[str]:
        """Current items marked 承接, in the order they became known."""
        marked = self._status == RECEIVED_STATUS
        candidates = dict.fromkeys(i for i, k in self._subjects.items() if marked[k])
        candidates.update(dict.fromkeys(self._registered))
        return [i for i in candidates if i in self.current_ids and self.status(i) == RECEIVED_STATUS]

    def frame_of(self, item_ids: Iterable[str]) -> pd.DataFrame:
        """``_frame`` of every known row of these ids, in the order of ``items`` (for asking the engine)."""
        rows = self.known["_row"][self.known["item_id"].isin(set(item_ids))]
        return _frame(self.items.take(rows.to_numpy()))

    def load(self, item_ids: Iterable[str]) -> None:
        """Make the whole rows of these items (one ``_frame`` call for all of them)."""
        wanted = [i for i in dict.fromkeys(item_ids) if i not in self.rows]
        if wanted:
            rows = self.known["_row"].to_numpy()[[self._index[i] for i in wanted]]
            for item_id, row in zip(wanted, _frame(self.items.take(rows)).to_dict("records"), strict=True):
                self.rows[item_id] = row

    def register(self, current_rows: pd.DataFrame) -> None:
        """Make current rows fetched later (``current_lists``) known by id."""
        for row in current_rows.to_dict("records"):
            if row["item_id"] not in self._subjects and row["item_id"] not in self.rows:
                self.rows[row["item_id"]] = row
                self._registered.append(row["item_id"])
            self.jur_of.setdefault(row["item_id"], row["jurisdiction_code"])
            self.current_ids.add(row["item_id"])

    def add_links(self, pairs: Iterable[tuple[str, str]]) -> None:
        for pair in pairs:
            if pair not in self._linked:
                self._linked.add(pair)
                child, parent = pair
                self.children_of[parent].append(child)
                self.uppers_of[child].append(parent)

    def children(self, code: str) -> list[str]:
        """Direct child jurisdictions of ``code`` that have a current list."""
        return self._children.get(code, [])

    def below(self, code: str | None) -> list[str]:
        """Jurisdictions with a current list under ``code`` (any depth)."""
        return self._below.get(code, []) if code is not None else []

    def area(self, code: str) -> frozenset[str]:
        """``code`` and every jurisdiction with a current list below it (made once per code)."""
        if code not in self._areas:
            self._areas[code] = frozenset((code, *self.below(code)))
        return self._areas[code]

    def current_lists(self, codes: Iterable[str]) -> pd.DataFrame:
        """The current items of ``codes``, as module frames (for asking the engine directly)."""
        wanted = self.all_current & self.items["jurisdiction_code"].isin(list(codes))
        return _frame(self.items[wanted])


def _upper_events(scene: _Scene) -> tuple[dict[str, tuple[dt.date, str]], dict[str, dt.date]]:
    """Upper items devolved (date, how) and cancelled (date): marked now, marked then removed, moved down."""
    history, current_ids = scene.history, scene.current_ids
    devolved: dict[str, tuple[dt.date, str]] = {}
    cancelled: dict[str, dt.date] = {}
    subject = scene.known[scene.known["_subject"].to_numpy(dtype=bool)]
    for item_id, published, status in zip(subject["item_id"], subject["published"], subject["status"], strict=True):
        if published is None or not (item_id in current_ids or item_id in history.gone):
            continue
        if status in DEVOLVED_STATUSES:
            how = "marked" if item_id in current_ids else "marked_then_removed"
            devolved[item_id] = (history.since(item_id, DEVOLVED_STATUSES), how)
        elif status == CANCELLED_STATUS:
            cancelled[item_id] = history.since(item_id, (CANCELLED_STATUS,))
    for old_id, targets in history.moved_to.items():
        below = scene.below(scene.jur_of[old_id])
        if old_id not in devolved and old_id in history.moved_on and any(scene.jur_of[t] in below for t in targets):
            devolved[old_id] = (history.moved_on[old_id], "moved_down")
    return devolved, cancelled


def _link_gone_uppers(scene: _Scene, gone: Iterable[str], threshold: float) -> None:
    """Links from current lower items to upper items no longer in any current list, by the engine."""
    gone = sorted(set(gone))
    for code in sorted({scene.jur_of[i] for i in gone}):
        lower = scene.current_lists(scene.below(code))
        scene.register(lower)
        uppers = scene.frame_of(i for i in gone if scene.jur_of[i] == code)
        found = _link_to(lower, uppers, scene.registry, threshold)
        scene.add_links(zip(found["child_item_id"], found["parent_item_id"], strict=True))


def _devolved_not_received(scene: _Scene, devolved: Mapping[str, tuple[dt.date, str]]) -> list[dict[str, object]]:
    """权力悬空 with dates: the dated devolutions that a direct child has not received (``unreceived``,
    the cross-level check's rule), with the linked lower items and the items it moved to as receipts."""
    uppers = sorted(devolved)
    receipts = [
        (k, scene.jur_of[lower_id])
        for k, upper_id in enumerate(uppers)
        for lower_id in (*scene.children_of.get(upper_id, []), *scene.history.moved_to.get(upper_id, []))
    ]
    at, lower = unreceived(
        np.arange(len(uppers)),
        [_text(scene.code(upper_id)) for upper_id in uppers],
        np.array([k for k, _ in receipts], dtype=np.int64),
        [code for _, code in receipts],
        scene.present,
        scene.registry,
    )
    missing = [(uppers[k], *devolved[uppers[k]], child_code) for k, child_code in zip(at.tolist(), lower, strict=True)]
    scene.load(m[0] for m in missing)
    out = []
    registry = scene.registry
    for upper_id, since, how, child_code in missing:
        upper = scene.rows[upper_id]
        code = _text(upper["jurisdiction_code"])
        lower_date = scene.list_date.get(child_code)
        updated = lower_date is None or lower_date >= since
        days = max(0, (scene.as_of - since).days)
        child_name = _jname(child_code, registry, scene.known)
        status = _text(upper["status"])
        verb = {"marked": status, "marked_then_removed": status + "后移出清单"}.get(how, "下放（移出清单）")
        upper_name = _text(upper["jurisdiction_name"]) or _jname(code, registry, scene.known)
        message = (
            f"{upper_name} 于 {since.isoformat()} {verb}的「{upper['name']}」"
            f"在 {child_name} 的清单（{_iso(lower_date) or '未注明日期'}）中没有对应事项，"
            f"已 {days} 天未承接（权力悬空）"
        )
        details = {
            "name": upper["name"],
            "base_code": _text(upper["base_code"]) or None,
            "power_type": _text(upper["power_type"]) or None,
            "status": status or None,
            "source_id": _text(upper["source_id"]),
            "devolved_on": since.isoformat(),
            "devolved_how": how,
            "days_outstanding": days,
            "as_of": scene.as_of.isoformat(),
            "lower_jurisdiction_code": child_code,
            "lower_jurisdiction_name": child_name,
            "lower_list_published": _iso(lower_date),
            "lower_updated_since": updated,
        }
        severity = "error" if updated else "warning"
        out.append(_finding("devolved_not_received", upper, None, child_code, message, details, severity=severity))
    return out


def _cancelled_still_listed(scene: _Scene, cancelled: Mapping[str, dt.date | None]) -> list[dict[str, object]]:
    listed = []  # (upper item, cancelled on, lower item still listing it)
    for upper_id, since in sorted(cancelled.items()):
        if since is None:
            continue
        for child_id in sorted(set(scene.children_of.get(upper_id, []))):
            lower_date = scene.published(child_id)
            if scene.status(child_id) != CANCELLED_STATUS and lower_date is not None and lower_date >= since:
                listed.append((upper_id, since, child_id))
    scene.load(i for upper_id, _, child_id in listed for i in (upper_id, child_id))
    out = []
    for upper_id, since, child_id in listed:
        upper, lower = scene.rows[upper_id], scene.rows[child_id]
        lower_date = lower["published"]
        message = (
            f"{_text(upper['jurisdiction_name'])} 于 {since.isoformat()} 取消的「{upper['name']}」在 "
            f"{_text(lower['jurisdiction_name'])} {lower_date.isoformat()} 的清单中仍列为「{lower['name']}」"
            f"（状态：{_text(lower['status']) or '未注明'}）"
        )
        details = {
            "name": lower["name"],
            "other_name": upper["name"],
            "status": _text(lower["status"]) or None,
            "source_id": _text(lower["source_id"]),
            "other_source_id": _text(upper["source_id"]),
            "cancelled_on": since.isoformat(),
            "lower_list_published": lower_date.isoformat(),
            "days_since_cancelled": max(0, (scene.as_of - since).days),
            "as_of": scene.as_of.isoformat(),
            "upper_still_listed": upper_id in scene.current_ids,
        }
        code = _text(upper["jurisdiction_code"])
        out.append(_finding("cancelled_still_listed", lower, upper, code, message, details))
    return out


def _received_without_devolution(scene: _Scene, devolved: Mapping[str, object]) -> list[dict[str, object]]:
    claimed = []  # (lower item marked 承接, the nearest upper item that still holds it)
    current_ids = scene.current_ids
    moved_targets = {t for ts in scene.history.moved_to.values() for t in ts}
    for lower_id in scene.claims():
        if lower_id in moved_targets:
            continue
        ups = scene.uppers_of.get(lower_id, [])
        if not ups or any(u in devolved or scene.history.ever(u, DEVOLVED_STATUSES) for u in ups):
            continue
        held = [u for u in ups if u in current_ids and scene.status(u) in HELD_STATUSES]
        if not held:
            continue
        code = _text(scene.code(lower_id))
        chain = scene.registry.ancestors(code) if code in scene.registry else ()
        held.sort(key=lambda u: (chain.index(scene.jur_of[u]) if scene.jur_of[u] in chain else len(chain), u))
        claimed.append((lower_id, held[0]))
    scene.load(i for pair in claimed for i in pair)
    out = []
    for lower_id, upper_id in claimed:
        lower, upper = scene.rows[lower_id], scene.rows[upper_id]
        message = (
            f"{_text(lower['jurisdiction_name'])} 的「{lower['name']}」标为承接，"
            f"但 {_text(upper['jurisdiction_name'])} 仍保有「{upper['name']}」"
            f"（状态：{_text(upper['status'])}）且从未下放"
        )
        details = {
            "name": lower["name"],
            "other_name": upper["name"],
            "status_raw": _text(lower["status_raw"]) or None,
            "other_status": _text(upper["status"]),
            "source_id": _text(lower["source_id"]),
            "other_source_id": _text(upper["source_id"]),
            "list_published": _iso(lower["published"]),
            "other_list_published": _iso(upper["published"]),
        }
        code = _text(upper["jurisdiction_code"])
        out.append(_finding("received_without_devolution", lower, upper, code, message, details))
    return out


def _event_links(
    links: pa.Table, ids: pa.Array, current: np.ndarray, events: np.ndarray, claims: np.ndarray
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The (child, parent) links the checks follow — to a dated 下放/委托/取消 item or from a 承接 item,
    both ends current — and per item whether it is an end of one.

    Arrow set lookups instead of a Python pass over every link. Every lookup hashes the small side (ids
    of events, claims or of the links they pick) and probes the big one, never the other way round:
    hashing a million ids costs more than probing them.
    """
    child, parent = links.column("child_item_id"), links.column("parent_item_id")
    wanted = pc.or_(
        pc.is_in(parent, value_set=ids.filter(pa.array(events))),
        pc.is_in(child, value_set=ids.filter(pa.array(claims))),
    )
    child, parent = child.filter(wanted), parent.filter(wanted)
    touched = _among(ids, child, parent)
    now = ids.filter(pa.array(touched & current))
    both = pc.and_(pc.is_in(child, value_set=now), pc.is_in(parent, value_set=now))
    child, parent = child.filter(both), parent.filter(both)
    ends = touched.copy()
    ends[touched] = _among(ids.filter(pa.array(touched)), child, parent)
    return list(zip(child.to_pylist(), parent.to_pylist(), strict=True)), ends


def _among(ids: pa.Array, *values: pa.ChunkedArray) -> np.ndarray:
    """Per id, whether it is one of ``values``."""
    value_set = pa.chunked_array([c for v in values for c in v.chunks], pa.string()).combine_chunks()
    return pc.is_in(ids, value_set=value_set).to_numpy(zero_copy_only=False)


def find_over_time(
    items: pd.DataFrame,
    links: pa.Table,
    changes: pa.Table,
    registry: Registry,
    as_of: dt.date,
    *,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
) -> pa.Table:
    """FINDINGS that need the versions' dates: devolved_not_received, received_without_devolution and
    cancelled_still_listed across versions.

    ``items``: every version's items; ``links``: the run's links (current items only, as the flow makes
    them); ``changes``: ``diff_versions`` (may include ``--previous`` rows; they are ignored here).

    * ``devolved_not_received`` (error; warning when the child's newest list predates the devolution, so
      it may simply not have been updated yet). An upper item is devolved on date D when it is marked
      下放/委托 in a version published D (D = first version of the unbroken run of such marks), when it
      was marked so and then removed (D = when first marked), or when it was removed and moved to a lower
      list (``level_changed`` downwards; D = the removing version's date). Each direct child jurisdiction
      with a list in the run should then list it: an item of the child *or below it* linked to the upper
      item (``links`` for current items; the engine is asked directly for removed ones), or the item's
      ``level_changed`` target. Details give ``devolved_on`` and ``days_outstanding`` (to ``as_of``).
      Undated devolutions are ``find_cross_level``'s (``judged_over_time``); both decide by ``unreceived``.
    * ``received_without_devolution`` (warning): a current item marked 承接 whose linked upper items —
      current ones, and removed ones that were devolved or cancelled — include one still held
      (保留/未注明) and none that was devolved in any version (or moved down), and which is not a
      ``level_changed`` target. Other = the nearest held upper item. Items linked to nothing are
      ``no_upper_basis``'s case.
    * ``cancelled_still_listed`` (error): an upper item marked 取消 from date D (as for devolution, or
      marked and then removed) that a lower item, not 取消 itself, is linked to while the lower list is
      dated D or later (a list published on the day of the cancellation should already reflect it).
      Lower lists dated before D, or undated, are ``find_cross_level``'s case.

    Masks over all items are computed per distinct value (statuses, dates) and with Arrow set lookups
    (ids); Python loops run over the items the checks involve and the findings (see ``_Scene``).
    """
    if items.empty:
        return FINDINGS.empty_table()
    items = items.reset_index(drop=True)
    ids = items["item_id"].astype(str)
    id_array = pa.array(ids, from_pandas=True)
    codes = items["jurisdiction_code"]
    published = _dates(items["published"])
    status_codes, statuses = pd.factorize(items["status"], use_na_sentinel=True)
    status = np.array([*(_text(s) for s in statuses), ""], dtype=object)[status_codes]  # _text, per distinct value
    current = _current_mask(items).to_numpy(dtype=bool)
    dated = published.notna().to_numpy()
    versioned = set(published[dated].groupby(codes[dated]).nunique().loc[lambda n: n > 1].index)
    gone_any: set[str] = set()
    if changes is not None and changes.num_rows:
        kinds = changes.column("change").to_pylist()
        olds = changes.column("old_item_id").to_pylist()
        gone_any = {o for k, o in zip(kinds, olds, strict=True) if k in ("removed", "level_changed") and o}
    gone_mask = pc.is_in(id_array, value_set=pa.array(sorted(gone_any), pa.string())).to_numpy(zero_copy_only=False)
    events = dated & np.isin(status, [*DEVOLVED_STATUSES, CANCELLED_STATUS]) & (current | gone_mask)
    claims = current & (status == RECEIVED_STATUS)

    link_pairs: list[tuple[str, str]] = []
    ends = np.zeros(len(items), dtype=bool)
    if links.num_rows:
        link_pairs, ends = _event_links(links, id_array, current, events, claims)
    lineage = codes.isin(versioned).to_numpy()
    needed = np.flatnonzero(lineage | events | claims | ends)

    def column(values: pd.Series | np.ndarray) -> pd.Series:
        taken = values.take(needed) if isinstance(values, pd.Series) else values[needed]
        return pd.Series(np.asarray(taken, dtype=object), dtype=object)

    known = pd.DataFrame(
        {
            "item_id": column(items["item_id"]),
            "jurisdiction_code": column(codes),
            "jurisdiction_name": column(items["jurisdiction_name"]) if "jurisdiction_name" in items else None,
            "level": column(items["level"]) if "level" in items else None,
            "published": column(published),
            "status": column(status),
            "_current": current[needed],
            "_subject": (events | claims | ends)[needed],
            "_row": needed,
        }
    )
    newest = published[dated & current].groupby(codes[dated & current]).max().to_dict()
    present = sorted(set(codes[current].dropna().unique()))
    scene = _Scene(
        items=items,
        known=known,
        history=_history(known, _frame(items[lineage]), changes),
        registry=registry,
        as_of=as_of,
        present=present,
        list_date={code: newest.get(code) for code in present},
        all_current=pd.Series(current, index=items.index),
    )
    scene.add_links(link_pairs)
    devolved, cancelled = _upper_events(scene)
    _link_gone_uppers(scene, (i for i in [*devolved, *cancelled] if i not in scene.current_ids), threshold)
    return findings_table(
        (),
        records=_devolved_not_received(scene, devolved)
        + _cancelled_still_listed(scene, cancelled)
        + _received_without_devolution(scene, devolved),
        items=items,
    )
