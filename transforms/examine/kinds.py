"""The finding kinds and the one way a finding row is built (CONTRACT §5, ``findings``).

Every check — cross-level (``findings``), over time (``changes``), reform (``reform``) and the flow's
``source_failed`` — describes its kind here once (severity, what ``item_id`` and the *other* columns
name) and builds its rows with the same three functions, so that a new kind is one entry in ``KINDS``
and one function returning ``finding_rows``:

* ``finding_rows`` — a kind's vectorised rows: base columns (jurisdiction, item, other item / other
  jurisdiction, message, optionally severity) + ``details`` columns, JSON-encoded once per distinct
  value (names and codes repeat a lot) and joined column-wise in Arrow;
* ``finding_record`` — one row as a dict, for the checks that walk version histories item by item;
* ``findings_table`` — frames of rows → the ``FINDINGS`` table: ids hashed in one vectorised call,
  sorted by ``FINDING_ORDER`` so that the same inputs always give the same bytes.

``finding_id = stable_id(kind, item_id, other)``: *other* is ``other_item_id`` where the finding has one,
else ``other_jurisdiction_code`` (one id per upper item and lower jurisdiction), else the kind's own key
(the source id of ``source_failed``). The same formula in every check is what lets the over-time
check's ``cancelled_still_listed`` refine the cross-level one of the same pair (``combine_findings``).

``finding_key`` names the same finding in *another* run, which ``finding_id`` cannot: item ids hash the
source id and row number, so a re-published list (new version date, new source id, rows reordered)
gives every item a new id. A reviewer's decision (``transforms.ingest.reviews``) must survive that, so
the key is ``<kind>:<16 hex>``, the hex a sha256 of the kind, ``jurisdiction_code``,
``other_jurisdiction_code`` and, for the item and the other item, their identity across versions
(``item_identities``): jurisdiction, ``name_norm`` and ``sub_item``. Names, not codes: many lists carry
no basic code, a list that adds codes in its next version would otherwise change every key, and codes
are re-issued when a catalogue is re-coded, while the normalised name is what the matcher's exact stage
and ``duplicate_in_list`` already treat as the item; the base code stands in only for an item without a
name. Findings that differ only in row position (a list repeating an item) share a key, and a decision
about one is a decision about all of them: a reviewer cannot tell them apart either. Kinds about no item
hash their own key (the source id of ``source_failed``, the reviewed key of ``stale_review``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.clean.items import stable_id
from transforms.link.consolidate import stable_ids
from transforms.publish.schema import FINDING_KINDS, FINDINGS, REVIEW_COLUMNS, SEVERITIES


@dataclass(frozen=True)
class FindingKind:
    """What one kind of finding says: its default severity and what its columns name."""

    name: str
    severity: str
    subject: str  # what ``item_id`` / ``jurisdiction_code`` name
    other: str  # what ``other_item_id`` / ``other_jurisdiction_code`` name ("" when nothing)
    check: str  # the module that raises it

    def __post_init__(self) -> None:
        if self.name not in FINDING_KINDS or self.severity not in SEVERITIES:
            raise ValueError(f"finding kind {self.name!r} / severity {self.severity!r} is not in the contract")


_UPPER = "the upper item that was devolved"
_LOWER_JURISDICTION = "the direct child jurisdiction that lists no counterpart"
_CHILD = "the lower (child) item of the link"
_PARENT = "the upper (parent) item it is linked to"

KINDS: dict[str, FindingKind] = {
    k.name: k
    for k in (
        FindingKind("devolved_not_received", "error", _UPPER, _LOWER_JURISDICTION, "findings, changes"),
        FindingKind("received_without_devolution", "warning", "the item marked 承接", _PARENT, "changes"),
        FindingKind("no_upper_basis", "warning", "the lower 行政许可", "", "findings"),
        FindingKind("cancelled_still_listed", "error", "the lower item that should go", _PARENT, "findings, changes"),
        FindingKind("type_mismatch", "warning", _CHILD, _PARENT, "findings"),
        FindingKind("basis_mismatch", "warning", _CHILD, _PARENT, "findings"),
        FindingKind("code_mismatch", "warning", _CHILD, _PARENT, "findings"),
        FindingKind("duplicate_in_list", "warning", "the repeated item", "its first occurrence", "findings"),
        FindingKind("locally_set_licence", "warning", "the licence", "", "reform"),
        FindingKind("county_missing_city_licence", "warning", "the city licence", "the county", "reform"),
        FindingKind(
            "disguised_approval", "warning", "the item", "the upper item that is the evidence, if any", "reform"
        ),
        FindingKind("devolved_without_supervision", "warning", "the devolved item", "", "reform"),
        FindingKind("source_failed", "error", "the source's jurisdiction", "", "the flow"),
        FindingKind("stale_review", "info", "the link's child jurisdiction, if a link key", "", "reviews"),
    )
}
assert tuple(KINDS) == FINDING_KINDS, "KINDS lists the contract's kinds in the contract's order"

#: The item columns every check reads (each adds its own: sheet and row, dates, responsibilities …).
ITEM_COLUMNS = (
    "item_id",
    "source_id",
    "jurisdiction_code",
    "jurisdiction_name",
    "level",
    "name_raw",
    "name_norm",
    "sub_item",
    "power_type",
    "base_code",
    "department",
    "legal_basis",
    "status",
    "status_raw",
)

#: Row order of every findings table: by kind, then where, then which items (ids last, as a tie-break).
FINDING_ORDER = ["kind", "jurisdiction_code", "item_id", "other_item_id", "other_jurisdiction_code", "finding_id"]

#: The columns a kind's rows carry before ``findings_table`` adds the id and the key (reviews come last).
_ROW_COLUMNS = [c for c in FINDINGS.names if c not in ("finding_id", "finding_key", *REVIEW_COLUMNS)] + ["_id_other"]
#: What identifies an item across list versions, in ``item_identities``' order.
IDENTITY_COLUMNS = ("jurisdiction_code", "name_norm", "sub_item", "base_code")


class JsonFragments:
    """A details column that is JSON text already (lists built in Arrow), inserted as it is."""

    def __init__(self, values: pd.Series) -> None:
        self.values = values


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def _plain(value: object) -> object:
    """A JSON-ready Python value (numpy scalars → Python, tuples → lists, NaN → None)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _dump(value: object) -> str:
    """``json.dumps(value, ensure_ascii=False)`` with fast paths for the scalar types details hold."""
    value = _plain(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.encoder.encode_basestring(value)  # the C encoder json.dumps uses without ensure_ascii
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and np.isfinite(value):
        return float.__repr__(value)
    return _ENCODE(value)


def _fragments(values: pd.Series) -> pa.Array:
    """JSON text of each value, encoded once per distinct value."""
    codes, uniques = pd.factorize(values.reset_index(drop=True).astype(object), use_na_sentinel=True)
    encoded = pa.array([*(_dump(u) for u in uniques), "null"], pa.string())
    return encoded.take(pa.array(np.where(codes < 0, len(encoded) - 1, codes), pa.int64()))


def details_json(details: Mapping[str, pd.Series | JsonFragments], n: int) -> pd.Series:
    """Per row, ``json.dumps(row, ensure_ascii=False, sort_keys=True)`` of the ``details`` columns."""
    if n == 0:
        return pd.Series([], dtype=object)
    parts: list[pa.Array | pa.Scalar] = []
    for i, key in enumerate(sorted(details)):
        column = details[key]
        parts.append(pa.scalar(("{" if i == 0 else ", ") + json.dumps(key, ensure_ascii=False) + ": "))
        if isinstance(column, JsonFragments):
            parts.append(pa.array(column.values.to_numpy(dtype=object), pa.string()))
        else:
            parts.append(_fragments(column))
    parts.append(pa.scalar("}"))
    joined = pc.binary_join_element_wise(*parts, "")
    return pd.Series(joined.to_numpy(zero_copy_only=False), dtype=object)


def finding_rows(
    kind: str,
    base: pd.DataFrame,
    details: Mapping[str, pd.Series | JsonFragments],
    id_other: pd.Series,
) -> pd.DataFrame:
    """A kind's rows: ``base`` (jurisdiction_code, item_id, other_item_id, other_jurisdiction_code,
    message and, where it varies by row, severity) with ``kind``, ``details`` and ``_id_other`` (what
    ``finding_id`` hashes after the item id; hashed for all kinds at once by ``findings_table``)."""
    out = base.reset_index(drop=True).copy()
    out["kind"] = kind
    if "severity" not in out:
        out["severity"] = KINDS[kind].severity
    out["details"] = details_json(details, len(out))
    others = id_other.reset_index(drop=True).astype(object)
    out["_id_other"] = others.where(others.notna(), None)
    return out[_ROW_COLUMNS]


def no_findings() -> pd.DataFrame:
    """No rows of a kind (returned early: string arithmetic on empty frames trips over dtypes)."""
    return pd.DataFrame(columns=_ROW_COLUMNS)


def finding_record(
    kind: str,
    *,
    jurisdiction_code: object,
    item_id: object,
    other_item_id: str | None,
    other_jurisdiction_code: str | None,
    message: str,
    details: Mapping[str, object],
    severity: str | None = None,
    key: str | None = None,
) -> dict[str, object]:
    """One finding as a dict, the id as ``findings_table`` would make it (``key`` replaces the item
    and other for kinds about no item, e.g. the source id of ``source_failed``, and then also makes the
    ``finding_key``; an item's finding gets its key from ``findings_table``, which knows the items)."""
    other = other_item_id if other_item_id is not None else other_jurisdiction_code
    return {
        "finding_id": stable_id(kind, key) if key is not None else stable_id(kind, item_id, other),
        "finding_key": f"{kind}:{stable_id(kind, key)}" if key is not None else None,  # else: findings_table's
        "kind": kind,
        "severity": severity or KINDS[kind].severity,
        "jurisdiction_code": jurisdiction_code,
        "item_id": item_id,
        "other_item_id": other_item_id,
        "other_jurisdiction_code": other_jurisdiction_code,
        "message": message,
        "details": json.dumps(details, ensure_ascii=False, sort_keys=True, default=str),
    }


def item_identities(items: pd.DataFrame | None, *ids: pd.Series) -> list[pd.Series]:
    """Per item id of each ``ids`` column, the item's identity across list versions: ``jurisdiction
    \x1f name \x1f sub_item``, the name being ``name_norm`` (``base_code`` when it has none); ``""`` for
    a missing id.

    An id that is not among ``items`` keeps the id itself (``id:<item_id>``): a key that will not carry
    over to the next run, but no two findings of different items can share it. Only the items named by
    ``ids`` are looked at (Arrow set lookups, one for all the columns), so a million-item frame costs one
    hash pass, not a merge.
    """
    wanted = [_id_array(c.reset_index(drop=True).astype(object)) for c in ids]
    joined = position_of = None
    if items is not None and len(items) and "item_id" in items:
        known = pa.array(items["item_id"].to_numpy(dtype=object), pa.string(), from_pandas=True)
        named_ids = pc.unique(pa.chunked_array([w.drop_null() for w in wanted], pa.string()).combine_chunks())
        named = pc.is_in(known, value_set=named_ids).to_numpy(zero_copy_only=False)
        rows = items.loc[named].drop_duplicates("item_id")

        def text(column: str) -> pa.Array:
            values = rows[column].to_numpy(dtype=object) if column in rows else [None] * len(rows)
            array = pa.array(values, pa.string(), from_pandas=True)
            return pc.if_else(pc.equal(pc.utf8_trim_whitespace(array), ""), None, array)

        name = pc.coalesce(text("name_norm"), text("base_code"), "")
        joined = pc.binary_join_element_wise(
            pc.fill_null(text("jurisdiction_code"), ""), name, pc.fill_null(text("sub_item"), ""), "\x1f"
        )
        position_of = pa.array(rows["item_id"].to_numpy(dtype=object), pa.string())
    out = []
    for values in wanted:
        identity = (
            joined.take(pc.index_in(values, value_set=position_of))
            if joined is not None
            else pa.nulls(len(values), pa.string())
        )
        fallback = pc.binary_join_element_wise("id:", values, "")
        found = pc.fill_null(pc.coalesce(identity, fallback), "")
        out.append(pd.Series(found.to_numpy(zero_copy_only=False), dtype=object))
    return out


def _id_array(ids: pd.Series) -> pa.Array:
    return pa.array(ids.where(ids.notna(), None).to_numpy(dtype=object), pa.string(), from_pandas=True)


def finding_keys(found: pd.DataFrame, items: pd.DataFrame | None) -> np.ndarray:
    """``finding_key`` per row of a findings frame (see the module docstring), vectorised."""
    subject, other = item_identities(items, found["item_id"], found["other_item_id"])
    hashed = stable_ids(
        found["kind"],
        found["jurisdiction_code"],
        subject,
        found["other_jurisdiction_code"],
        other,
    )
    return (found["kind"].astype(str).to_numpy(dtype=object) + ":") + hashed.astype(object)


def findings_table(
    parts: Iterable[pd.DataFrame], *, records: Iterable[dict[str, object]] = (), items: pd.DataFrame | None
) -> pa.Table:
    """The ``FINDINGS`` table of ``finding_rows`` frames and ``finding_record`` dicts, sorted by
    ``FINDING_ORDER``; a record whose id is already taken (the same finding raised twice) is dropped.

    ``items`` are the items the findings name (at least their ``item_id`` and ``IDENTITY_COLUMNS``):
    what the ``finding_key`` is made of. The review columns stay empty (``transforms.examine.reviews``
    fills them once the run's findings are assembled).
    """
    frames = [p for p in parts if len(p)]
    rows = list(records)
    if frames:
        found = pd.concat(frames, ignore_index=True).astype(object)
        found = found.where(found.notna(), None)
        found["finding_id"] = stable_ids(found["kind"], found["item_id"], found["_id_other"])
        found["finding_key"] = None
        frames = [found.astype({"finding_id": object})[[c for c in FINDINGS.names if c not in REVIEW_COLUMNS]]]
    if rows:
        listed = pd.DataFrame(rows, columns=[c for c in FINDINGS.names if c not in REVIEW_COLUMNS])
        frames.append(listed.drop_duplicates("finding_id").astype(object))
    if not frames:
        return FINDINGS.empty_table()
    found = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    found = found.where(found.notna(), None)
    unkeyed = found["finding_key"].isna().to_numpy()
    if unkeyed.any():
        found.loc[unkeyed, "finding_key"] = finding_keys(found.loc[unkeyed], items)
    for column in REVIEW_COLUMNS:
        found[column] = None
    found = found.sort_values(FINDING_ORDER, kind="stable", na_position="first")
    return pa.Table.from_pandas(found[FINDINGS.names], schema=FINDINGS, preserve_index=False)


#: Kinds that the cross-level check raises on every linked pair and the over-time check then raises
#: again, with dates, for the pairs whose dates it can judge: its row replaces the undated one.
REFINED_OVER_TIME = ("cancelled_still_listed",)


def combine_findings(undated: pa.Table, dated: pa.Table) -> pa.Table:
    """The cross-level and the over-time findings in one table. A ``REFINED_OVER_TIME`` finding raised by
    both (same id) keeps the dated row; any other id raised by both is a check judging what is not its
    own (each devolution, for one, is judged by exactly one of them), refused rather than hidden."""
    refined = pc.is_in(undated.column("kind"), value_set=pa.array(REFINED_OVER_TIME, pa.string()))
    twin = pc.is_in(undated.column("finding_id"), value_set=dated.column("finding_id"))
    judged_twice = pc.and_(twin, pc.invert(refined))
    if pc.any(judged_twice).as_py():
        twice = undated.filter(judged_twice).column("kind").unique().to_pylist()
        raise ValueError(f"findings raised by both the cross-level and the over-time check: {', '.join(twice)}")
    merged = pa.concat_tables([dated, undated.filter(pc.invert(twin))]).to_pandas()
    merged = merged.drop_duplicates("finding_id").sort_values(FINDING_ORDER, kind="stable", na_position="first")
    return pa.Table.from_pandas(merged[FINDINGS.names], schema=FINDINGS, preserve_index=False)
