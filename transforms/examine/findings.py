"""Cross-level findings for the quality team (CONTRACT §5, ``findings``).

Each finding names one item (``item_id`` in ``jurisdiction_code``) and, where there is one, the other
item or jurisdiction it was compared with. The checks run in two steps so that a 10M-item run stays
cheap (a few seconds per million items; figures in bench/README.md):

1. *Which* rows are findings is decided on integers. Each item column a check tests is factorized once
   (``pd.factorize``: a code per item into the column's distinct values), the test runs once per
   distinct value and is broadcast back with a ``take``; links become pairs of item row positions
   (``pc.index_in`` on the ids). No string column of a million items is copied, merged or converted
   between object and Arrow strings; per-value Python runs only on distinct values.
2. The rows that are findings — usually a few per cent — are turned into the object frame the messages
   and details are written from (``_items_frame``), exactly as if the whole run had been.

Severity per kind — an ``error`` means the lists contradict each other and one of them must change; a
``warning`` is a probable defect a reviewer should confirm; ``info`` is a weak signal:

=========================  ========  ==============================================================
kind                       severity  raised when
=========================  ========  ==============================================================
devolved_not_received      error     an item marked 下放/委托 has no linked item in a direct child
                                     jurisdiction whose list is in the run (权力悬空); one finding per
                                     (upper item, child jurisdiction). A child without a list is not
                                     blamed. When lists are dated, a dated list's devolutions are the
                                     over-time check's (``judged_over_time``); the rule is ``unreceived``.
cancelled_still_listed     error     a lower item, not 取消 itself, is linked to an upper item marked
                                     取消; subject = the lower item that should go.
no_upper_basis             warning   a city/county/township 行政许可 (not 取消) links to no item of any
                                     ancestor whose list is in the run; none when no ancestor list is.
type_mismatch              warning   linked child and parent have different ``power_type``.
code_mismatch              warning   linked by ``exact``/``fuzzy`` while both carry a ``base_code`` and
                                     the codes differ (neither a sub-item code of the other) — 四级四同.
duplicate_in_list          warning   the same ``name_norm`` + ``sub_item`` appears again in one source
                                     list; one finding per extra occurrence, other = the first one.
basis_mismatch             warning   both legal bases cite instruments 《…》 and the cited sets are
                           / info    dissimilar (token_set_ratio < threshold); ``info`` when one side
                                     cites no 《…》 and the plain texts were compared instead.
=========================  ========  ==============================================================

Link-based kinds have the child (lower) item as subject and the parent as ``other_item_id``. Rows are built
and the table assembled by ``transforms.examine.kinds`` (the registry every check shares).
``finding_id = stable_id(kind, item_id, other_item_id)``; ``devolved_not_received`` has no other item,
so the missing child jurisdiction's code takes that place (one id per upper item and jurisdiction).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from transforms.examine.kinds import ITEM_COLUMNS, KINDS, finding_rows, findings_table, no_findings
from transforms.ingest.jurisdictions import Registry
from transforms.publish.schema import CANCELLED_STATUS, DEVOLVED_STATUSES, FINDINGS, LICENCE

#: ``basis_mismatch`` compared on plain text (one side cites no 《…》): a weaker signal.
BASIS_TEXT_SEVERITY = "info"
#: Default cut-off on token_set_ratio / 100 below which two legal bases count as dissimilar.
BASIS_THRESHOLD = 0.6

NO_UPPER_BASIS_LEVELS = ("city", "county", "township")

_ITEM_COLUMNS = (*ITEM_COLUMNS, "sheet", "row_no", "published")
_INSTRUMENT = re.compile(r"[《〈]([^《》〈〉]+)[》〉]")
_BRACKETED = re.compile(r"[(（][^()（）]*[)）]")
_SPACE = re.compile(r"\s+")


# --------------------------------------------------------------------------------------------- helpers


def _text(values: pd.Series) -> pd.Series:
    """Stripped strings with missing values as ``""``, so message concatenation never yields NaN."""
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def _present(values: pd.Series) -> pd.Series:
    """Non-null and not blank: a blank cell carries no code, type or basis to compare."""
    return values.notna() & (values.astype(object).where(values.notna(), "").astype(str).str.strip() != "")


def _items_frame(items: pd.DataFrame, registry: Registry | None) -> pd.DataFrame:
    """The columns findings need, one row per item, with a display ``name`` and jurisdiction name.

    Text columns are object columns (built as such: no detour through pandas' Arrow strings); a
    missing value stays what it was (None or NaN), which every use here treats alike.
    """
    n = len(items)
    frame = pd.DataFrame(
        {
            column: pd.Series(items[column].to_numpy(dtype=object) if column in items else [None] * n, dtype=object)
            for column in _ITEM_COLUMNS
            if column != "row_no"
        }
    )
    frame.insert(_ITEM_COLUMNS.index("row_no"), "row_no", items["row_no"].to_numpy() if "row_no" in items else None)
    frame["name"] = frame["name_norm"].where(_present(frame["name_norm"]), frame["name_raw"])
    frame["name"] = _text(frame["name"])
    missing_name = ~_present(frame["jurisdiction_name"])
    if missing_name.any():
        codes = frame.loc[missing_name, "jurisdiction_code"]
        names = {c: _jurisdiction_name(c, registry) for c in codes.dropna().unique()}
        frame.loc[missing_name, "jurisdiction_name"] = codes.map(names)
    frame["jurisdiction_name"] = _text(frame["jurisdiction_name"])
    return frame


def _jurisdiction_name(code: object, registry: Registry | None) -> str:
    if registry is not None and isinstance(code, str) and code in registry:
        return registry[code].name
    return "" if code is None or (isinstance(code, float) and np.isnan(code)) else str(code)


def _factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values): ``codes[i]`` indexes the row's value, -1 where it is missing."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _expand(starts: np.ndarray, counts: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, the ``counts[i]`` values ``flat[starts[i]:…]``: (i repeated, those values) — a CSR join."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, flat[np.repeat(np.asarray(starts, dtype=np.int64), counts) + offset]


def _distinct_pairs(a: np.ndarray, b: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) pairs of codes below ``size``: (a values, b values, index of each row's pair)."""
    keys, inverse = np.unique(a.astype(np.int64) * size + b, return_inverse=True)
    return keys // size, keys % size, inverse.reshape(-1)


class _Items:
    """The run's items, for tests over whole columns at the cost of their distinct values.

    ``where`` and ``texts`` factorize a column once (cached) and evaluate per distinct value; ``frame``
    turns chosen rows into the object frame the messages are written from. ``canon[i]`` is the first
    row with row i's id, so equal ids (which the merges this replaces joined on) compare as equal
    integers; ids are normally unique and ``canon[i] == i``.

    Ids are looked up by their 64-bit hash (DuckDB's, vectorised) in a pandas integer index, and each
    hit is checked against the id itself, so a hash collision cannot join the wrong items: hashing a
    million strings in Arrow's or pandas' hash tables costs seconds, integers a tenth of that. Ids
    that repeat (or are missing) take Arrow's exact ``index_in`` instead.
    """

    def __init__(self, items: pd.DataFrame, registry: Registry | None) -> None:
        self.source = items[[c for c in _ITEM_COLUMNS if c in items]].reset_index(drop=True)
        self.registry = registry
        self.n = len(self.source)
        self.ids = pc.cast(pa.array(self.column("item_id"), from_pandas=True), pa.large_string())
        (hashes,) = _hash64(self.ids)
        self._hashes = pd.Index(hashes)
        self._hashed = self.ids.null_count == 0 and self._hashes.is_unique
        self.canon = np.arange(self.n) if self._hashed else _filled(pc.index_in(self.ids, value_set=self.ids))
        self._unique_ids = self._hashed or bool((self.canon == np.arange(self.n)).all())
        self._factorized: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def column(self, name: str) -> pd.Series:
        if name in self.source:
            return self.source[name]
        return pd.Series(None, index=self.source.index, dtype=object)

    def codes(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._factorized:
            self._factorized[name] = _factorize(self.column(name))
        return self._factorized[name]

    def where(self, name: str, test: Callable[[object], bool]) -> np.ndarray:
        """Per item, ``test(value)`` (evaluated once per distinct value); False where the value is missing."""
        codes, uniques = self.codes(name)
        return np.array([bool(test(v)) for v in uniques] + [False], dtype=bool)[codes]

    def texts(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Per item an integer standing for ``_text(value)``, -1 where that is blank (not ``_present``),
        and the distinct texts the integers index: equal integers, equal texts."""
        codes, uniques = self.codes(name)
        if not all(isinstance(v, str) for v in uniques):  # numbers among the text: ``str`` each row as _text does
            codes, uniques = _factorize(_text(self.column(name)))
        stripped = np.array([v.strip() for v in uniques], dtype=object)
        canon, distinct = _factorize(stripped)
        canon[stripped == ""] = -1
        return np.append(canon, -1)[codes], distinct

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """``_items_frame`` of the given rows (positions), index 0..len(rows)-1."""
        return _items_frame(self.source.take(rows), self.registry)

    def lookup(self, *columns: pa.Array | pa.ChunkedArray) -> list[np.ndarray]:
        """Per id of each column, the first item row with that id (its ``canon``), -1 when no item has it."""
        columns = tuple(pc.cast(c, pa.large_string()) for c in columns)
        if not self._hashed:
            return [_filled(pc.index_in(ids, value_set=self.ids)) for ids in columns]
        found = []
        for ids, hashes in zip(columns, _hash64(*columns), strict=True):
            rows = self._hashes.get_indexer(hashes)
            same = pc.equal(ids, self.ids.take(pa.array(np.maximum(rows, 0))))
            rows[~pc.fill_null(same, False).to_numpy(zero_copy_only=False)] = -1
            found.append(rows)
        return found

    def rows_with(self, canon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(i, row) for every item row whose id is that of row ``canon[i]``: one each when ids are unique."""
        if self._unique_ids:
            found = np.flatnonzero(canon >= 0)
            return found, canon[found]
        order = np.argsort(self.canon, kind="stable")
        ordered = self.canon[order]
        starts = np.searchsorted(ordered, canon, "left")
        return _expand(starts, np.searchsorted(ordered, canon, "right") - starts, order)

    @cached_property
    def jurisdictions(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Per item the index of its jurisdiction (-1 without a code), and per jurisdiction the
        ``_items_frame`` row of its first item (``drop_duplicates("jurisdiction_code")``)."""
        codes, _ = self.codes("jurisdiction_code")
        first = np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())
        first = first[codes[first] >= 0]  # factorize numbers codes by first appearance: first[k] has code k
        return codes, self.frame(first)


def _hash64(*columns: pa.Array | pa.ChunkedArray) -> list[np.ndarray]:
    """DuckDB's 64-bit ``hash`` of every value of each column, in row order (a plain projection keeps it)."""
    con = duckdb.connect()
    try:
        hashed = []
        for values in columns:
            con.register("ids", pa.table({"id": values}))
            hashed.append(con.sql("select hash(id) from ids").to_arrow_table().column(0).to_numpy())
            con.unregister("ids")
        return hashed
    finally:
        con.close()


def _filled(positions: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(positions, -1).to_numpy().astype(np.int64)


@dataclass(frozen=True)
class _Pairs:
    """One per distinct (child, parent) link with both items in the run: item rows and the link's row."""

    child: np.ndarray
    parent: np.ndarray
    link: np.ndarray
    links: pa.Table

    def link_column(self, name: str, keep: np.ndarray) -> pd.Series:
        rows = self.link[keep]
        if name not in self.links.column_names:
            return pd.Series([None] * len(rows), dtype=object)
        return self.links.column(name).take(pa.array(rows, pa.int64())).to_pandas()

    def frame(self, items: _Items, keep: np.ndarray) -> pd.DataFrame:
        """The kept pairs as one wide frame: link columns, the child's ``c_*`` and the parent's ``p_*``."""
        link = pd.DataFrame({c: self.link_column(c, keep) for c in ("method", "score", "level_pair")})
        child = items.frame(self.child[keep]).add_prefix("c_")
        parent = items.frame(self.parent[keep]).add_prefix("p_")
        return pd.concat([link, child, parent], axis=1)


def _pairs(items: _Items, links: pa.Table) -> _Pairs:
    """Links whose child and parent are items of the run, one per (child, parent) id pair (first link)."""
    child, parent = items.lookup(links.column("child_item_id"), links.column("parent_item_id"))
    found = np.flatnonzero((child >= 0) & (parent >= 0))
    first = ~pd.Series(child[found] * max(items.n, 1) + parent[found]).duplicated().to_numpy()
    found = found[first]
    at, child_rows = items.rows_with(child[found])  # duplicate item ids: every row, as a merge would
    found = found[at]
    at, parent_rows = items.rows_with(parent[found])
    return _Pairs(child_rows[at], parent_rows, found[at], links)


def _pair_base(pairs: pd.DataFrame) -> pd.DataFrame:
    """Subject = child item, other = parent item: the base columns every link-based kind shares."""
    return pd.DataFrame(
        {
            "jurisdiction_code": pairs["c_jurisdiction_code"],
            "item_id": pairs["c_item_id"],
            "other_item_id": pairs["p_item_id"],
            "other_jurisdiction_code": pairs["p_jurisdiction_code"],
        }
    )


def _pair_details(pairs: pd.DataFrame, **extra: pd.Series) -> dict[str, pd.Series]:
    """The fields behind a link-based finding: both items' names, codes, types, statuses; the link."""
    details = {
        "name": pairs["c_name"],
        "other_name": pairs["p_name"],
        "base_code": pairs["c_base_code"],
        "other_base_code": pairs["p_base_code"],
        "power_type": pairs["c_power_type"],
        "other_power_type": pairs["p_power_type"],
        "status": pairs["c_status"],
        "other_status": pairs["p_status"],
        "source_id": pairs["c_source_id"],
        "other_source_id": pairs["p_source_id"],
        "method": pairs["method"],
        "score": pairs["score"].astype(float),
        "level_pair": pairs["level_pair"],
    }
    details.update(extra)
    return details


def _who(juris_name: pd.Series, name: pd.Series) -> pd.Series:
    """``广州市 的「食品经营许可」``: a jurisdiction and an item, the way every message names them."""
    return juris_name + " 的「" + name + "」"


# ----------------------------------------------------------------------------------------------- kinds


def unreceived(
    upper_key: np.ndarray,
    upper_code: Sequence[object],
    receipt_key: np.ndarray,
    receipt_code: Sequence[object],
    present: Sequence[object],
    registry: Registry,
) -> tuple[np.ndarray, np.ndarray]:
    """权力悬空, the rule itself: the (devolution, child jurisdiction) pairs not received, as (positions
    into ``upper_key``, child codes), by devolution and, per devolution, its children in ``present`` order.

    A devolution by jurisdiction J is expected in every direct child of J with a current list
    (``present``). A child C has received it when an item of C *or of any jurisdiction below C* is linked
    to the devolved item: a province devolving to counties (扩权强县) has its item linked from county
    lists, and the city in between is not where the power dangles. The cross-level check
    (``_devolved_not_received``) and the over-time one (``transforms.examine.changes``, dated devolutions,
    including items devolved and then removed or moved down) both decide by this function, each on the
    devolutions it judges, so they cannot disagree.

    ``upper_key[i]`` is an integer standing for devolution i's item (a receipt counts for every row with
    that key), ``upper_code[i]`` its jurisdiction; ``receipt_key``/``receipt_code`` are one row per
    linked lower item: the devolved item's key and the lower item's jurisdiction. Jurisdictions are
    numbered (their position in ``present``), so an (item, jurisdiction) pair is one integer and
    "expected but not received" is one ``isin`` over integers.
    """
    codes = list(present)
    index = {c: k for k, c in enumerate(codes)}
    children: dict[object, list[int]] = {}  # jurisdiction code → its direct children with a list
    within: list[list[int]] = []  # per jurisdiction with a list: itself and its ancestors with a list
    for k, code in enumerate(codes):
        if isinstance(code, str) and code in registry:
            if registry[code].parent_code is not None:
                children.setdefault(registry[code].parent_code, []).append(k)
            within.append([index[a] for a in (code, *registry.ancestors(code)) if a in index])
        else:
            within.append([])
    listless = len(codes)  # the empty list appended last: a jurisdiction without a current list
    kids = [children.get(c, []) for c in codes] + [[]]
    at, child = _expand(*_csr(kids, _positions(index, upper_code, listless)))
    found, area = _expand(*_csr([*within, []], _positions(index, receipt_code, listless)))
    size = listless + 1
    received = np.asarray(receipt_key, dtype=np.int64)[found] * size + area
    missing = ~np.isin(np.asarray(upper_key, dtype=np.int64)[at] * size + child, received)
    return at[missing], np.asarray(codes, dtype=object)[child[missing]]


def _positions(index: dict[object, int], codes: Sequence[object], missing: int) -> np.ndarray:
    return np.array([index.get(c, missing) for c in codes], dtype=np.int64)


def _devolved_not_received(items: _Items, pairs: _Pairs, registry: Registry, *, judged_over_time: bool) -> pd.DataFrame:
    """权力悬空 on the current lists (``unreceived``): a 下放/委托 item that a direct child jurisdiction
    with a list did not take up. With ``judged_over_time`` the items whose list is dated are left to
    the over-time check, which says since when."""
    jurisdiction, present = items.jurisdictions
    codes = present["jurisdiction_code"].tolist()
    devolved = items.where("status", lambda v: v in DEVOLVED_STATUSES)
    if judged_over_time:
        devolved &= items.column("published").isna().to_numpy()
    if not devolved.any():
        return no_findings()
    upper = np.flatnonzero(devolved)
    devolved_id = np.zeros(items.n, dtype=bool)
    devolved_id[items.canon[upper]] = True
    linked = np.flatnonzero(devolved_id[items.canon[pairs.parent]])
    at, lower = unreceived(
        items.canon[upper],
        _codes_at(codes, jurisdiction[upper]),
        items.canon[pairs.parent[linked]],
        _codes_at(codes, jurisdiction[pairs.child[linked]]),
        codes,
        registry,
    )
    if not len(at):
        return no_findings()
    by_code = present.set_index("jurisdiction_code")
    missing = items.frame(upper[at]).assign(
        lower_code=pd.Series(lower, dtype=object),
        lower_name=pd.Series(by_code["jurisdiction_name"].reindex(lower).to_numpy(dtype=object), dtype=object),
        lower_level=pd.Series(by_code["level"].reindex(lower).to_numpy(dtype=object), dtype=object),
    )
    found = pd.DataFrame(
        {
            "jurisdiction_code": missing["jurisdiction_code"],
            "item_id": missing["item_id"],
            "other_item_id": None,
            "other_jurisdiction_code": missing["lower_code"],
            "message": missing["jurisdiction_name"]
            + " "
            + _text(missing["status"])
            + "的「"
            + missing["name"]
            + "」在 "
            + _text(missing["lower_name"])
            + " 的清单中没有对应事项（权力悬空）",
        }
    )
    details = {
        "name": missing["name"],
        "base_code": missing["base_code"],
        "power_type": missing["power_type"],
        "status": missing["status"],
        "status_raw": missing["status_raw"],
        "source_id": missing["source_id"],
        "lower_jurisdiction_code": missing["lower_code"],
        "lower_jurisdiction_name": missing["lower_name"],
        "lower_level": missing["lower_level"],
    }
    return finding_rows("devolved_not_received", found, details, missing["lower_code"])


def _csr(lists: list[list[int]], keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_expand``'s arguments for looking ``keys`` up in ``lists`` (key -1 → the last list)."""
    sizes = np.array([len(v) for v in lists], dtype=np.int64)
    flat = np.array([x for v in lists for x in v], dtype=np.int64)
    return (np.cumsum(sizes) - sizes)[keys], sizes[keys], flat


def _codes_at(codes: list[object], positions: np.ndarray) -> list[object]:
    """The jurisdiction code at each position (-1, an item without a code: None)."""
    return [codes[k] if k >= 0 else None for k in positions.tolist()]


def _no_upper_basis(items: _Items, pairs: _Pairs, registry: Registry) -> pd.DataFrame:
    """Local 行政许可 with no counterpart in any ancestor list of the run (only judged where one exists)."""
    candidate = (
        items.where("level", lambda v: v in NO_UPPER_BASIS_LEVELS)
        & items.where("power_type", lambda v: v == LICENCE)
        & ~items.where("status", lambda v: v == CANCELLED_STATUS)
    )
    linked = np.zeros(items.n, dtype=bool)
    linked[items.canon[pairs.child]] = True
    candidate &= ~linked[items.canon]
    jurisdiction, present = items.jurisdictions
    codes = present["jurisdiction_code"].tolist()
    names = dict(zip(codes, present["jurisdiction_name"], strict=True))
    rows = []
    for k in np.unique(jurisdiction[candidate]):  # one per jurisdiction, not per item
        code = codes[k] if k >= 0 else None
        if code is None or code not in registry:
            continue
        above = tuple(a for a in registry.ancestors(code) if a in names)
        if above:
            rows.append((code, above[0], above, "、".join(str(names.get(a, a)) for a in above)))
    if not rows:
        return no_findings()
    ancestors = pd.DataFrame(rows, columns=["jurisdiction_code", "nearest", "above", "above_names"])
    judged_codes = set(ancestors["jurisdiction_code"])
    judged = np.isin(jurisdiction, [k for k, c in enumerate(codes) if c in judged_codes])
    hits = items.frame(np.flatnonzero(candidate & judged))
    hits = hits.merge(ancestors, on="jurisdiction_code", how="inner").reset_index(drop=True)
    if hits.empty:
        return no_findings()
    found = pd.DataFrame(
        {
            "jurisdiction_code": hits["jurisdiction_code"],
            "item_id": hits["item_id"],
            "other_item_id": None,
            "other_jurisdiction_code": hits["nearest"],
            "message": hits["jurisdiction_name"]
            + " 的行政许可「"
            + hits["name"]
            + "」在上级（"
            + hits["above_names"]
            + "）的清单中没有对应事项（无上位依据）",
        }
    )
    details = {
        "name": hits["name"],
        "base_code": hits["base_code"],
        "power_type": hits["power_type"],
        "status": hits["status"],
        "level": hits["level"],
        "source_id": hits["source_id"],
        "ancestors_in_run": hits["above"],
    }
    return finding_rows("no_upper_basis", found, details, pd.Series([None] * len(hits), dtype=object))


def _cancelled_still_listed(items: _Items, pairs: _Pairs) -> pd.DataFrame:
    """A lower item still listed (not 取消) while the upper item it is linked to is 取消."""
    cancelled = items.where("status", lambda v: v == CANCELLED_STATUS)
    keep = cancelled[pairs.parent] & ~cancelled[pairs.child]
    if not keep.any():
        return no_findings()
    hits = pairs.frame(items, keep)
    found = _pair_base(hits)
    found["message"] = (
        hits["p_jurisdiction_name"]
        + " 已取消的「"
        + hits["p_name"]
        + "」在 "
        + hits["c_jurisdiction_name"]
        + " 的清单中仍列为「"
        + hits["c_name"]
        + "」（状态："
        + _text(hits["c_status"])
        + "）"
    )
    return finding_rows("cancelled_still_listed", found, _pair_details(hits), hits["p_item_id"])


def _contrast(kind: str, hits: pd.DataFrame, column: str, said: str, against: str, end: str) -> pd.DataFrame:
    """A finding per linked pair whose ``column`` differs: "<child> <said> <value><against><parent> <said>…"."""
    found = _pair_base(hits)
    found["message"] = (
        _who(hits["c_jurisdiction_name"], hits["c_name"])
        + said
        + _text(hits[f"c_{column}"])
        + against
        + _who(hits["p_jurisdiction_name"], hits["p_name"])
        + said
        + _text(hits[f"p_{column}"])
        + end
    )
    return finding_rows(kind, found, _pair_details(hits), hits["p_item_id"])


def _type_mismatch(items: _Items, pairs: _Pairs) -> pd.DataFrame:
    """Linked items of different power types: one of the two lists classifies the power wrongly."""
    text, _ = items.texts("power_type")
    child, parent = text[pairs.child], text[pairs.parent]
    keep = (child >= 0) & (parent >= 0) & (child != parent)
    if not keep.any():
        return no_findings()
    hits = pairs.frame(items, keep)
    return _contrast("type_mismatch", hits, "power_type", "为", "，而对应的 ", "（权力类型不一致）")


def _normalise_instrument(name: str) -> str:
    """《中华人民共和国食品安全法（2021年修正）》 → 食品安全法: the same law cited two ways agrees."""
    name = _SPACE.sub("", unicodedata.normalize("NFKC", name))
    name = _BRACKETED.sub("", name)
    return name.removeprefix("中华人民共和国")


def _instruments(text: str) -> tuple[str, ...]:
    """The distinct instruments a legal basis cites, normalised and sorted."""
    found = {_normalise_instrument(m) for m in _INSTRUMENT.findall(unicodedata.normalize("NFKC", text))}
    return tuple(sorted(f for f in found if f))


def _basis_mismatch(items: _Items, pairs: _Pairs, threshold: float) -> pd.DataFrame:
    """Linked items citing dissimilar legal bases; rapidfuzz runs once per distinct pair of texts."""
    text, distinct = items.texts("legal_basis")
    child, parent = text[pairs.child], text[pairs.parent]
    cand = np.flatnonzero((child >= 0) & (parent >= 0))
    if not len(cand):
        return no_findings()
    c_code, p_code, pair_of = _distinct_pairs(child[cand], parent[cand], len(distinct))
    c_text, p_text = distinct[c_code], distinct[p_code]
    cited = {t: _instruments(t) for t in pd.unique(np.concatenate([c_text, p_text]))}
    c_cited, p_cited = [cited[t] for t in c_text], [cited[t] for t in p_text]
    by_instruments = np.array([bool(a) and bool(b) for a, b in zip(c_cited, p_cited, strict=True)], dtype=bool)
    plain = {t: _SPACE.sub("", unicodedata.normalize("NFKC", t)) for t in cited}
    left = [" ".join(c) if i else plain[t] for c, t, i in zip(c_cited, c_text, by_instruments, strict=True)]
    right = [" ".join(p) if i else plain[t] for p, t, i in zip(p_cited, p_text, by_instruments, strict=True)]
    scores = np.round(
        np.asarray(process.cpdist(left, right, scorer=fuzz.token_set_ratio, workers=-1), float) / 100.0, 4
    )
    keep = np.zeros(len(pairs.child), dtype=bool)
    hit = scores[pair_of] < threshold
    keep[cand[hit]] = True
    if not keep.any():
        return no_findings()
    which = pair_of[hit]  # the distinct text pair of each hit, in the order of ``keep``
    hits = pairs.frame(items, keep).assign(
        c=c_text[which],
        p=p_text[which],
        basis_score=scores[which],
        compared=np.where(by_instruments[which], "instruments", "text"),
    )
    found = _pair_base(hits)
    found["severity"] = np.where(
        hits["compared"] == "instruments", KINDS["basis_mismatch"].severity, BASIS_TEXT_SEVERITY
    )
    found["message"] = (
        _who(hits["c_jurisdiction_name"], hits["c_name"])
        + "与 "
        + _who(hits["p_jurisdiction_name"], hits["p_name"])
        + "设定依据不一致（相似度 "
        + hits["basis_score"].map("{:.2f}".format).astype(str)
        + "）"
    )
    details = _pair_details(
        hits,
        basis_compared=hits["compared"],
        basis_score=hits["basis_score"],
        instruments=hits["c"].map(cited).map("、".join),
        other_instruments=hits["p"].map(cited).map("、".join),
    )
    return finding_rows("basis_mismatch", found, details, hits["p_item_id"])


def _code_mismatch(items: _Items, pairs: _Pairs) -> pd.DataFrame:
    """四级四同: items linked by name whose basic codes disagree (a sub-item code of the other agrees)."""
    if "method" not in pairs.links.column_names:
        return no_findings()
    by_name = pc.is_in(pairs.links.column("method"), pa.array(["exact", "fuzzy"])).to_numpy(zero_copy_only=False)
    text, distinct = items.texts("base_code")
    child, parent = text[pairs.child], text[pairs.parent]
    cand = np.flatnonzero(by_name[pairs.link] & (child >= 0) & (parent >= 0) & (child != parent))
    if not len(cand):
        return no_findings()
    c_code, p_code, pair_of = _distinct_pairs(child[cand], parent[cand], len(distinct))
    related = np.array(
        [a.startswith(b) or b.startswith(a) for a, b in zip(distinct[c_code], distinct[p_code], strict=True)],
        dtype=bool,
    )
    keep = np.zeros(len(pairs.child), dtype=bool)
    keep[cand[~related[pair_of]]] = True
    if not keep.any():
        return no_findings()
    hits = pairs.frame(items, keep)
    return _contrast("code_mismatch", hits, "base_code", "编码 ", " 与 ", " 不一致（四级四同）")


def _where(frame: pd.DataFrame) -> pd.Series:
    """``第12行`` (with the sheet when there is one), or the item id when the row is unknown."""
    rows = pd.to_numeric(frame["row_no"], errors="coerce")
    sheet = _text(frame["sheet"])
    where = "第" + rows.astype("Int64").astype(str) + "行"
    where = np.where(sheet != "", sheet + " " + where, where)
    return pd.Series(np.where(rows.notna(), where, "事项 " + _text(frame["item_id"])), index=frame.index)


def _duplicate_in_list(items: _Items) -> pd.DataFrame:
    """Same name (and sub-item) twice in one source list; each extra occurrence points at the first.

    Groups are found on integer codes of (source, name, sub-item); only the rows of groups with more
    than one row are turned into a frame and ordered.
    """
    name, _ = items.texts("name_norm")
    named = name >= 0
    source, _ = items.codes("source_id")
    norm, norms = items.codes("name_norm")
    sub, subs = items.texts("sub_item")
    group = (source.astype(np.int64) + 1) * (len(norms) + 1) + norm + 1
    group = pd.factorize(group * (len(subs) + 1) + sub + 1)[0]
    counts = np.bincount(group[named], minlength=int(group.max()) + 1)
    rows = np.flatnonzero(named & (counts[group] > 1))
    if not len(rows):
        return no_findings()
    row_no = pd.to_numeric(items.column("row_no")[named], errors="coerce")  # dtype as for every named row
    dupes = items.frame(rows)
    dupes["_group"] = group[rows]
    dupes["_sheet"] = _text(dupes["sheet"])
    dupes["_row"] = row_no.loc[rows].to_numpy()
    dupes = dupes.sort_values(["_group", "_sheet", "_row", "item_id"], kind="stable", na_position="last")
    grouped = dupes.groupby("_group", sort=False)
    dupes["_occurrence"] = grouped.cumcount() + 1
    dupes["_first"] = grouped["item_id"].transform("first")
    extra = dupes[dupes["_occurrence"] > 1]
    wanted = pc.is_in(items.ids, value_set=pa.array(extra["_first"].to_numpy(dtype=object), from_pandas=True))
    first = items.frame(np.flatnonzero(wanted.to_numpy(zero_copy_only=False))).set_index("item_id").add_prefix("f_")
    hits = extra.merge(first, left_on="_first", right_index=True, how="left").reset_index(drop=True)
    if hits.empty:
        return no_findings()
    first_where = _where(
        pd.DataFrame({"row_no": hits["f_row_no"], "sheet": hits["f_sheet"], "item_id": hits["_first"]})
    )
    found = pd.DataFrame(
        {
            "jurisdiction_code": hits["jurisdiction_code"],
            "item_id": hits["item_id"],
            "other_item_id": hits["_first"],
            "other_jurisdiction_code": hits["jurisdiction_code"],
            "message": hits["jurisdiction_name"]
            + " 的清单（"
            + _text(hits["source_id"])
            + "）中「"
            + hits["name"]
            + "」（"
            + _where(hits)
            + "）与「"
            + hits["f_name"]
            + "」（"
            + first_where
            + "）重复",
        }
    )
    details = {
        "name": hits["name"],
        "name_norm": hits["name_norm"],
        "sub_item": hits["sub_item"],
        "source_id": hits["source_id"],
        "sheet": hits["sheet"],
        "row_no": hits["_row"],
        "first_sheet": hits["f_sheet"],
        "first_row_no": pd.to_numeric(hits["f_row_no"], errors="coerce"),
        "department": hits["department"],
        "first_department": hits["f_department"],
        "power_type": hits["power_type"],
        "first_power_type": hits["f_power_type"],
        "occurrence": hits["_occurrence"],
    }
    return finding_rows("duplicate_in_list", found, details, hits["_first"])


# ------------------------------------------------------------------------------------------------- API


def find_cross_level(
    items: pd.DataFrame,
    links: pa.Table,
    registry: Registry,
    *,
    basis_threshold: float = BASIS_THRESHOLD,
    judged_over_time: bool = False,
) -> pa.Table:
    """All findings of this module's kinds as a ``FINDINGS`` table, sorted by kind, jurisdiction, items.

    ``judged_over_time``: the over-time check runs too (``transforms.examine.changes.find_over_time``),
    so devolutions whose list is dated are its to judge, with their dates, and are skipped here.

    ``basis_threshold`` is the token_set_ratio (in [0, 1]) under which two legal bases are dissimilar.
    Links naming items that are not in ``items`` are ignored here (``consolidate`` rejects them).
    """
    if items.empty:
        return FINDINGS.empty_table()
    frame = _Items(items, registry)
    pairs = _pairs(frame, links)
    parts: Iterable[pd.DataFrame] = (
        _devolved_not_received(frame, pairs, registry, judged_over_time=judged_over_time),
        _no_upper_basis(frame, pairs, registry),
        _cancelled_still_listed(frame, pairs),
        _type_mismatch(frame, pairs),
        _basis_mismatch(frame, pairs, basis_threshold),
        _code_mismatch(frame, pairs),
        _duplicate_in_list(frame),
    )
    return findings_table(parts, items=items)
