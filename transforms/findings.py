"""Cross-level findings for the quality team (CONTRACT §5, ``findings``).

Each finding names one item (``item_id`` in ``jurisdiction_code``) and, where there is one, the other
item or jurisdiction it was compared with. Everything is computed with merges over the links and items
frames (one row per link or per item, never a Python loop per item), so a 10M-item run stays cheap; the
only per-row Python work is on distinct legal-basis texts and on the rows that already are findings.

Severity per kind — an ``error`` means the lists contradict each other and one of them must change; a
``warning`` is a probable defect a reviewer should confirm; ``info`` is a weak signal:

=========================  ========  ==============================================================
kind                       severity  raised when
=========================  ========  ==============================================================
devolved_not_received      error     an item marked 下放/委托 has no linked item in a direct child
                                     jurisdiction whose list is in the run (权力悬空); one finding per
                                     (upper item, child jurisdiction). A child without a list is not
                                     blamed.
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

Link-based kinds have the child (lower) item as subject and the parent as ``other_item_id``.
``finding_id = stable_id(kind, item_id, other_item_id)``; ``devolved_not_received`` has no other item,
so the missing child jurisdiction's code takes that place (one id per upper item and jurisdiction).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from transforms.consolidate import stable_ids
from transforms.jurisdictions import Registry
from transforms.schema import FINDINGS

SEVERITY: dict[str, str] = {
    "devolved_not_received": "error",
    "cancelled_still_listed": "error",
    "no_upper_basis": "warning",
    "type_mismatch": "warning",
    "code_mismatch": "warning",
    "duplicate_in_list": "warning",
    "basis_mismatch": "warning",
}
#: ``basis_mismatch`` compared on plain text (one side cites no 《…》): a weaker signal.
BASIS_TEXT_SEVERITY = "info"
#: Default cut-off on token_set_ratio / 100 below which two legal bases count as dissimilar.
BASIS_THRESHOLD = 0.6

DEVOLVED_STATUSES = ("下放", "委托")
CANCELLED = "取消"
LICENCE = "行政许可"
NO_UPPER_BASIS_LEVELS = ("city", "county", "township")

_ITEM_COLUMNS = (
    "item_id",
    "source_id",
    "sheet",
    "row_no",
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
    """The columns findings need, one row per item, with a display ``name`` and jurisdiction name."""
    frame = pd.DataFrame(index=pd.RangeIndex(len(items)))
    for column in _ITEM_COLUMNS:
        frame[column] = items[column].to_numpy() if column in items else None
    frame = frame.astype({c: object for c in _ITEM_COLUMNS if c != "row_no"})
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


def _pairs(frame: pd.DataFrame, links: pa.Table) -> pd.DataFrame:
    """One row per link with the child's columns as ``c_*`` and the parent's as ``p_*``."""
    wanted = ["child_item_id", "parent_item_id", "method", "score", "level_pair"]
    link_frame = pd.DataFrame({c: links.column(c).to_pandas() if c in links.column_names else None for c in wanted})
    link_frame["child_item_id"] = link_frame["child_item_id"].astype(object)
    link_frame["parent_item_id"] = link_frame["parent_item_id"].astype(object)
    link_frame = link_frame.drop_duplicates(["child_item_id", "parent_item_id"])  # one finding per pair
    child = frame.add_prefix("c_")
    parent = frame.add_prefix("p_")
    pairs = link_frame.merge(child, left_on="child_item_id", right_on="c_item_id", how="inner")
    return pairs.merge(parent, left_on="parent_item_id", right_on="p_item_id", how="inner")


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


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


def _json_fragments(values: pd.Series) -> pa.Array:
    """JSON text of each value, encoded once per distinct value (names and codes repeat a lot)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    encoded = pa.array([*(_dump(u) for u in uniques), "null"], pa.string())
    return encoded.take(pa.array(np.where(codes < 0, len(encoded) - 1, codes), pa.int64()))


def _plain(value: object) -> object:
    """A JSON-ready Python value (numpy scalars → Python, tuples → lists, NaN → None)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _json_objects(details: pd.DataFrame) -> pd.Series:
    """Per row, ``json.dumps(row, ensure_ascii=False, sort_keys=True)``, joined column-wise in Arrow."""
    parts: list[pa.Array | pa.Scalar] = []
    for i, key in enumerate(sorted(details.columns)):
        parts.append(pa.scalar(("{" if i == 0 else ", ") + json.dumps(key) + ": "))
        parts.append(_json_fragments(details[key]))
    parts.append(pa.scalar("}"))
    joined = pc.binary_join_element_wise(*parts, "")
    return pd.Series(joined.to_pandas().array, index=details.index)


def _finish(kind: str, found: pd.DataFrame, details: dict[str, pd.Series], id_other: pd.Series) -> pd.DataFrame:
    """Add ``kind``, ``finding_id`` and ``details`` to a kind's rows; the frame then has every column."""
    out = found.reset_index(drop=True).copy()
    out["kind"] = kind
    if "severity" not in out:
        out["severity"] = SEVERITY[kind]
    out["finding_id"] = stable_ids(kind, out["item_id"], id_other.reset_index(drop=True))
    out["details"] = _json_objects(pd.DataFrame({k: v.reset_index(drop=True) for k, v in details.items()}))
    return out[FINDINGS.names]


def _none() -> pd.DataFrame:
    """No findings of a kind (returned early: string arithmetic on empty frames trips over dtypes)."""
    return pd.DataFrame(columns=FINDINGS.names)


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


def _devolved_not_received(frame: pd.DataFrame, pairs: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """权力悬空: a 下放/委托 item that a direct child jurisdiction with a list did not take up.

    A child counts as having received the item when an item of the child *or of any jurisdiction below
    it* is linked to it: a province devolving to counties (扩权强县) has its item linked from county
    lists, and the city in between is not where the power dangles.
    """
    present = frame.drop_duplicates("jurisdiction_code")[["jurisdiction_code", "jurisdiction_name", "level"]]
    present = present[present["jurisdiction_code"].notna()]
    known = [c for c in present["jurisdiction_code"] if isinstance(c, str) and c in registry]
    parents = [
        registry[c].parent_code if isinstance(c, str) and c in registry else None for c in present["jurisdiction_code"]
    ]
    within = pd.DataFrame(
        [(c, area) for c in known for area in (c, *registry.ancestors(c))], columns=["c_jurisdiction_code", "area"]
    )
    children = pd.DataFrame(
        {
            "parent_code": parents,
            "lower_code": present["jurisdiction_code"].to_numpy(),
            "lower_name": present["jurisdiction_name"].to_numpy(),
            "lower_level": present["level"].to_numpy(),
        }
    ).dropna(subset=["parent_code"])
    upper = frame[frame["status"].isin(DEVOLVED_STATUSES)]
    if upper.empty or children.empty:
        return _none()
    children = children.astype(object)
    expected = upper.merge(children, left_on="jurisdiction_code", right_on="parent_code", how="inner")
    received = pairs[["p_item_id", "c_jurisdiction_code"]].drop_duplicates().astype(object)
    received = received.merge(within.astype(object), on="c_jurisdiction_code", how="inner")
    received = received[["p_item_id", "area"]].drop_duplicates()
    received.columns = ["item_id", "lower_code"]
    merged = expected.merge(received, on=["item_id", "lower_code"], how="left", indicator=True)
    missing = merged[merged["_merge"] == "left_only"].reset_index(drop=True)
    if missing.empty:
        return _none()
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
    return _finish("devolved_not_received", found, details, missing["lower_code"])


def _no_upper_basis(frame: pd.DataFrame, pairs: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """Local 行政许可 with no counterpart in any ancestor list of the run (only judged where one exists)."""
    candidates = frame[
        frame["level"].isin(NO_UPPER_BASIS_LEVELS) & (frame["power_type"] == LICENCE) & (frame["status"] != CANCELLED)
    ]
    candidates = candidates[~candidates["item_id"].isin(pairs["c_item_id"])]
    present = set(frame["jurisdiction_code"].dropna())
    names = frame.drop_duplicates("jurisdiction_code").set_index("jurisdiction_code")["jurisdiction_name"]
    rows = []
    for code in candidates["jurisdiction_code"].dropna().unique():  # one per jurisdiction, not per item
        if code not in registry:
            continue
        above = tuple(a for a in registry.ancestors(code) if a in present)
        if above:
            rows.append((code, above[0], above, "、".join(str(names.get(a, a)) for a in above)))
    if not rows:
        return _none()
    ancestors = pd.DataFrame(rows, columns=["jurisdiction_code", "nearest", "above", "above_names"])
    hits = candidates.merge(ancestors, on="jurisdiction_code", how="inner").reset_index(drop=True)
    if hits.empty:
        return _none()
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
    return _finish("no_upper_basis", found, details, pd.Series([None] * len(hits), dtype=object))


def _cancelled_still_listed(pairs: pd.DataFrame) -> pd.DataFrame:
    """A lower item still listed (not 取消) while the upper item it is linked to is 取消."""
    hits = pairs[(pairs["p_status"] == CANCELLED) & (pairs["c_status"] != CANCELLED)].reset_index(drop=True)
    if hits.empty:
        return _none()
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
    return _finish("cancelled_still_listed", found, _pair_details(hits), hits["p_item_id"])


def _type_mismatch(pairs: pd.DataFrame) -> pd.DataFrame:
    """Linked items of different power types: one of the two lists classifies the power wrongly."""
    both = _present(pairs["c_power_type"]) & _present(pairs["p_power_type"])
    hits = pairs[both & (_text(pairs["c_power_type"]) != _text(pairs["p_power_type"]))].reset_index(drop=True)
    if hits.empty:
        return _none()
    found = _pair_base(hits)
    found["message"] = (
        _who(hits["c_jurisdiction_name"], hits["c_name"])
        + "为"
        + _text(hits["c_power_type"])
        + "，而对应的 "
        + _who(hits["p_jurisdiction_name"], hits["p_name"])
        + "为"
        + _text(hits["p_power_type"])
        + "（权力类型不一致）"
    )
    return _finish("type_mismatch", found, _pair_details(hits), hits["p_item_id"])


def _normalise_instrument(name: str) -> str:
    """《中华人民共和国食品安全法（2021年修正）》 → 食品安全法: the same law cited two ways agrees."""
    name = _SPACE.sub("", unicodedata.normalize("NFKC", name))
    name = _BRACKETED.sub("", name)
    return name.removeprefix("中华人民共和国")


def _instruments(text: str) -> tuple[str, ...]:
    """The distinct instruments a legal basis cites, normalised and sorted."""
    found = {_normalise_instrument(m) for m in _INSTRUMENT.findall(unicodedata.normalize("NFKC", text))}
    return tuple(sorted(f for f in found if f))


def _basis_mismatch(pairs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Linked items citing dissimilar legal bases; rapidfuzz runs once per distinct pair of texts."""
    both = _present(pairs["c_legal_basis"]) & _present(pairs["p_legal_basis"])
    cand = pairs[both].reset_index(drop=True)
    if cand.empty:
        return _none()
    c_text, p_text = _text(cand["c_legal_basis"]), _text(cand["p_legal_basis"])
    distinct = pd.unique(pd.concat([c_text, p_text], ignore_index=True))
    cited = {t: _instruments(t) for t in distinct}
    plain = {t: _SPACE.sub("", unicodedata.normalize("NFKC", t)) for t in distinct}
    texts = pd.DataFrame({"c": c_text, "p": p_text}).drop_duplicates().reset_index(drop=True)
    c_cited, p_cited = texts["c"].map(cited), texts["p"].map(cited)
    by_instruments = (c_cited.map(len) > 0) & (p_cited.map(len) > 0)
    left = np.where(by_instruments, c_cited.map(" ".join), texts["c"].map(plain)).tolist()
    right = np.where(by_instruments, p_cited.map(" ".join), texts["p"].map(plain)).tolist()
    scores = process.cpdist(left, right, scorer=fuzz.token_set_ratio, workers=-1) if len(texts) else np.array([])
    texts["basis_score"] = np.round(np.asarray(scores, dtype=float) / 100.0, 4)
    texts["compared"] = np.where(by_instruments, "instruments", "text")
    scored = cand.assign(c=c_text, p=p_text).merge(texts, on=["c", "p"], how="left")
    hits = scored[scored["basis_score"] < threshold].reset_index(drop=True)
    if hits.empty:
        return _none()
    found = _pair_base(hits)
    found["severity"] = np.where(hits["compared"] == "instruments", SEVERITY["basis_mismatch"], BASIS_TEXT_SEVERITY)
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
    return _finish("basis_mismatch", found, details, hits["p_item_id"])


def _code_mismatch(pairs: pd.DataFrame) -> pd.DataFrame:
    """四级四同: items linked by name whose basic codes disagree (a sub-item code of the other agrees)."""
    by_name = pairs["method"].isin(("exact", "fuzzy"))
    both = _present(pairs["c_base_code"]) & _present(pairs["p_base_code"])
    cand = pairs[by_name & both].reset_index(drop=True)
    if cand.empty:
        return _none()
    c_code, p_code = _text(cand["c_base_code"]), _text(cand["p_base_code"])
    differ = c_code != p_code
    related = [a.startswith(b) or b.startswith(a) for a, b in zip(c_code[differ], p_code[differ], strict=True)]
    keep = differ.copy()
    keep[differ] = ~np.array(related, dtype=bool)
    hits = cand[keep].reset_index(drop=True)
    if hits.empty:
        return _none()
    found = _pair_base(hits)
    found["message"] = (
        _who(hits["c_jurisdiction_name"], hits["c_name"])
        + "编码 "
        + _text(hits["c_base_code"])
        + " 与 "
        + _who(hits["p_jurisdiction_name"], hits["p_name"])
        + "编码 "
        + _text(hits["p_base_code"])
        + " 不一致（四级四同）"
    )
    return _finish("code_mismatch", found, _pair_details(hits), hits["p_item_id"])


def _where(frame: pd.DataFrame) -> pd.Series:
    """``第12行`` (with the sheet when there is one), or the item id when the row is unknown."""
    rows = pd.to_numeric(frame["row_no"], errors="coerce")
    sheet = _text(frame["sheet"])
    where = "第" + rows.astype("Int64").astype(str) + "行"
    where = np.where(sheet != "", sheet + " " + where, where)
    return pd.Series(np.where(rows.notna(), where, "事项 " + _text(frame["item_id"])), index=frame.index)


def _duplicate_in_list(frame: pd.DataFrame) -> pd.DataFrame:
    """Same name (and sub-item) twice in one source list; each extra occurrence points at the first."""
    named = frame[_present(frame["name_norm"])].copy()
    named["_sub"] = _text(named["sub_item"])
    named["_sheet"] = _text(named["sheet"])
    named["_row"] = pd.to_numeric(named["row_no"], errors="coerce")
    named = named.sort_values(["source_id", "_sheet", "_row", "item_id"], kind="stable", na_position="last")
    keys = ["source_id", "name_norm", "_sub"]
    grouped = named.groupby(keys, sort=False, dropna=False)
    named["_occurrence"] = grouped.cumcount() + 1
    named["_first"] = grouped["item_id"].transform("first")
    extra = named[named["_occurrence"] > 1]
    first = frame.set_index("item_id").add_prefix("f_")
    hits = extra.merge(first, left_on="_first", right_index=True, how="left").reset_index(drop=True)
    if hits.empty:
        return _none()
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
    return _finish("duplicate_in_list", found, details, hits["_first"])


# ------------------------------------------------------------------------------------------------- API


def find_cross_level(
    items: pd.DataFrame, links: pa.Table, registry: Registry, *, basis_threshold: float = BASIS_THRESHOLD
) -> pa.Table:
    """All findings of this module's kinds as a ``FINDINGS`` table, sorted by kind, jurisdiction, items.

    ``basis_threshold`` is the token_set_ratio (in [0, 1]) under which two legal bases are dissimilar.
    Links naming items that are not in ``items`` are ignored here (``consolidate`` rejects them).
    """
    if items.empty:
        return FINDINGS.empty_table()
    frame = _items_frame(items, registry)
    pairs = _pairs(frame, links)
    parts: Iterable[pd.DataFrame] = (
        _devolved_not_received(frame, pairs, registry),
        _no_upper_basis(frame, pairs, registry),
        _cancelled_still_listed(pairs),
        _type_mismatch(pairs),
        _basis_mismatch(pairs, basis_threshold),
        _code_mismatch(pairs),
        _duplicate_in_list(frame),
    )
    non_empty = [p for p in parts if len(p)]
    if not non_empty:
        return FINDINGS.empty_table()
    found = pd.concat(non_empty, ignore_index=True)
    found = found.sort_values(
        ["kind", "jurisdiction_code", "item_id", "other_item_id", "other_jurisdiction_code", "finding_id"],
        kind="stable",
        na_position="first",
    )
    return pa.Table.from_pandas(found[FINDINGS.names], schema=FINDINGS, preserve_index=False)
