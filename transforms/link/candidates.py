"""Candidate pairs: blocking units (a child list and one ancestor), joins on codes and names, the fuzzy
stage's name cut-off and character index, and code hierarchies."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from transforms.ingest.jurisdictions import Registry
from transforms.link.codes import _combine
from transforms.link.comparisons import COMPARISONS, NAME_ONE_EDIT, ONE_EDIT_MIN_LEN, WEIGHTS

if TYPE_CHECKING:
    from transforms.link.score import _Prepared


def _units(p: _Prepared, registry: Registry) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Child rows × their ancestor jurisdictions that have items.

    Returns (unit_child, unit_anc, rows_of_jurisdiction); ``unit_anc`` is a jurisdiction code id.
    """
    n_j = len(p.jur_values)
    order = np.argsort(p.jur_code, kind="stable")
    bounds = np.searchsorted(p.jur_code[order], np.arange(n_j + 1))
    rows_of = [order[bounds[i] : bounds[i + 1]] for i in range(n_j)]
    position = {c: i for i, c in enumerate(p.jur_values)}
    child_parts: list[np.ndarray] = []
    anc_parts: list[np.ndarray] = []
    for i, code in enumerate(p.jur_values):
        try:
            chain = registry.ancestors(code)
        except KeyError:
            chain = ()
        ancestors = [position[a] for a in chain if a in position]
        if not ancestors or not len(rows_of[i]):
            continue
        rows = rows_of[i]
        child_parts.append(np.repeat(rows, len(ancestors)))
        anc_parts.append(np.tile(np.array(ancestors, dtype=np.int64), len(rows)))
    if not child_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, rows_of
    return np.concatenate(child_parts), np.concatenate(anc_parts), rows_of


def _key(j: np.ndarray, key: np.ndarray, width: int) -> np.ndarray:
    return j.astype(np.int64) * (width + 1) + key.astype(np.int64)


def _join(
    p: _Prepared, units: np.ndarray, unit_anc: np.ndarray, child_key: np.ndarray, parent_key: np.ndarray
) -> pd.DataFrame:
    """(unit, prow) where the child's key equals the key of a parent row in the unit's ancestor."""
    width = int(max(child_key.max(initial=0), parent_key.max(initial=0))) + 1
    ok_c = child_key >= 0
    ok_p = np.flatnonzero(parent_key >= 0)
    left = pd.DataFrame({"unit": units[ok_c], "k": _key(unit_anc[units[ok_c]], child_key[ok_c], width)})
    right = pd.DataFrame({"prow": ok_p, "k": _key(p.jur_code[ok_p], parent_key[ok_p], width)})
    return left.merge(right, on="k")[["unit", "prow"]]


def _best(cands: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The first candidate per unit after sorting by ``by`` ascending (then parent order)."""
    cands = cands.sort_values(["unit", *by, "porder"], kind="stable")
    return cands.drop_duplicates("unit", keep="first")


def name_cutoff(threshold: float) -> float:
    """Lowest name similarity (0–100) that can still reach ``threshold`` with every other component maxed."""
    others = sum(c.max_weight() for c in COMPARISONS if c.label != "name" and c.bounds_name_cutoff)
    credit = (threshold - others) / WEIGHTS.name  # the name credit needed
    if credit >= NAME_ONE_EDIT:
        floor = credit**0.5  # only the squared similarity can reach it
    else:  # a one-edit pair may: its ratio is at least 1 - 1 / (2 * ONE_EDIT_MIN_LEN + 1)
        floor = min(max(credit, 0.0) ** 0.5, 1.0 - 1.0 / (2 * ONE_EDIT_MIN_LEN + 1))
    return max(0.0, min(100.0, 100.0 * floor - 0.5))


class CharIndex:
    """Characters of every distinct core, rarest first: the index behind ``similar_cores``.

    A core is the multiset of its characters; the k-th occurrence of a character is a token of its own
    (so 的 twice is two tokens). Tokens are ranked by how many distinct cores contain them.
    """

    def __init__(self, strings: list[str]) -> None:
        token_of: dict[tuple[str, int], int] = {}
        per_string: list[list[int]] = []
        for text in strings:
            seen: dict[str, int] = {}
            toks = []
            for ch in text:
                k = seen.get(ch, 0)
                seen[ch] = k + 1
                toks.append(token_of.setdefault((ch, k), len(token_of)))
            per_string.append(toks)
        lengths = np.array([len(t) for t in per_string], dtype=np.int64)
        flat = np.fromiter((t for toks in per_string for t in toks), dtype=np.int64, count=int(lengths.sum()))
        freq = np.bincount(flat, minlength=len(token_of))
        rank = np.empty(len(token_of), dtype=np.int64)
        rank[np.lexsort((np.arange(len(token_of)), freq))] = np.arange(len(token_of))
        owner = np.repeat(np.arange(len(strings)), lengths)
        order = np.lexsort((rank[flat], owner))  # per string, rarest token first
        self.tokens = rank[flat][order]
        self.indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.lengths = lengths
        self.n_tokens = len(token_of)

    def prefixes(self, ids: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``ids``, token) of each string's prefix for similarity ``c``.

        ``fuzz.ratio`` ≥ c needs a character overlap ≥ c·(la+lb)/2 ≥ la·c/(2-c) =: o(a); two strings
        whose overlap reaches o share a token among their first ``len - o + 1`` rarest ones (prefix
        filtering, as in set-similarity joins).
        """
        length = self.lengths[ids]
        need = np.ceil(length * c / (2.0 - c) - 1e-9).astype(np.int64)
        plen = np.clip(length - need + 1, 0, length)
        total = int(plen.sum())
        pos = np.repeat(np.arange(len(ids)), plen)
        offset = np.arange(total) - np.repeat(np.cumsum(plen) - plen, plen)
        return pos, self.tokens[np.repeat(self.indptr[ids], plen) + offset]


def similar_cores(p: _Prepared, q_j: np.ndarray, q_k: np.ndarray, cutoff: float) -> pd.DataFrame:
    """(j, k, pk): cores ``pk`` of jurisdiction ``j``'s items with ``fuzz.ratio`` ≥ cutoff to query ``k``.

    Identical cores come from a join. Near ones from a character index with prefix filtering
    (``CharIndex``): a candidate must share one of its few rarest characters with the query and pass
    a length filter; ``process.cpdist`` then verifies it, once per distinct pair of cores. Work grows
    with the candidates, not with all pairs of a block, so a province of a million items stays cheap.
    """
    queries = pd.DataFrame({"j": q_j, "k": q_k}).drop_duplicates()
    parent_rows = np.flatnonzero(np.isin(p.jur_code, np.unique(q_j)))
    choices = pd.DataFrame({"j": p.jur_code[parent_rows], "pk": p.k_id[parent_rows]}).drop_duplicates()
    exact = queries.merge(choices.rename(columns={"pk": "k"}), on=["j", "k"])
    exact = exact.assign(pk=exact["k"])
    if cutoff >= 100.0:
        return exact
    c = max(cutoff / 100.0, 0.01)
    index = p.char_index()
    qj, qk = queries["j"].to_numpy(np.int64), queries["k"].to_numpy(np.int64)
    cj, ck = choices["j"].to_numpy(np.int64), choices["pk"].to_numpy(np.int64)
    qpos, qtok = index.prefixes(qk, c)
    cpos, ctok = index.prefixes(ck, c)
    n_tok = index.n_tokens + 1
    left = pd.DataFrame({"key": qj[qpos] * n_tok + qtok, "k": qk[qpos]})
    right = pd.DataFrame({"key": cj[cpos] * n_tok + ctok, "pk": ck[cpos], "j": cj[cpos]})
    cand = left.merge(right, on="key")[["j", "k", "pk"]]
    cand = cand[cand["k"].to_numpy() != cand["pk"].to_numpy()].drop_duplicates()
    if cand.empty:
        return exact
    k, pk = cand["k"].to_numpy(), cand["pk"].to_numpy()
    lk, lp = p.k_len[k], p.k_len[pk]
    fits = np.minimum(lk, lp) >= np.maximum(lk, lp) * c / (2.0 - c) - 1e-9
    cand, k, pk = cand[fits], k[fits], pk[fits]
    if cand.empty:
        return exact
    pair_key, first = _combine(k, pk)
    strings = p.k_strings
    ratio = process.cpdist(
        [strings[x] for x in k[first]],
        [strings[y] for y in pk[first]],
        scorer=fuzz.ratio,
        dtype=np.float32,
        workers=-1,
    )
    near = cand[(ratio >= cutoff - 1e-4)[pair_key]]
    return pd.concat([exact, near], ignore_index=True)


def _fuzzy_candidates(
    p: _Prepared, units: np.ndarray, unit_child: np.ndarray, unit_anc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """(unit, parent row) candidates for the open ``units``, from similar cores per ancestor.

    Per ancestor jurisdiction (the block), the distinct cores of the open children are compared with
    the distinct cores of the ancestor's items (``similar_cores``). Children with a 办理项 that is not a
    handling word also try their main core, so X（个人申请） can find a parent X.
    """
    empty = np.zeros(0, dtype=np.int64)
    if not len(units):
        return empty, empty
    child = unit_child[units]
    alt = p.has_residual[child]
    q_units = np.concatenate([units, units[alt]])
    q_j = np.concatenate([unit_anc[units], unit_anc[units][alt]])
    q_k = np.concatenate([p.k_id[child], p.km_id[child][alt]])
    hits = similar_cores(p, q_j, q_k, cutoff)
    if hits.empty:
        return empty, empty
    width = len(p.k_strings) + 1
    hj = hits["j"].to_numpy(np.int64)
    left = pd.DataFrame({"unit": q_units, "key": q_j * width + q_k})
    pairs = pd.DataFrame({"key": hj * width + hits["k"].to_numpy(), "pkey": hj * width + hits["pk"].to_numpy()})
    parents = pd.DataFrame({"pkey": p.jur_code * width + p.k_id, "prow": np.arange(p.n)})
    both = left.merge(pairs, on="key").merge(parents, on="pkey")
    u = both["unit"].to_numpy(np.int64)
    pr = both["prow"].to_numpy(np.int64)
    _, first = np.unique(u * (p.n + 1) + pr, return_index=True)
    return u[first], pr[first]


_SUB_SEGMENT = re.compile(r"^(?P<stem>.+?)(?P<sep>-?)(?P<sub>\d{3})$")


def _code_parent_keys(code: str) -> list[str]:
    """Keys under which a parent code can be found by a child that is one of its 办理项."""
    keys = [code]
    match = _SUB_SEGMENT.match(code)
    if match and set(match.group("sub")) == {"0"} and len(match.group("stem")) >= 4:
        keys.append(match.group("stem"))
    return keys


def _code_child_keys(code: str) -> list[str]:
    """Parent codes a child code may extend: sub-item segment cut off or zeroed."""
    keys: list[str] = []
    match = _SUB_SEGMENT.match(code)
    if match and set(match.group("sub")) != {"0"} and len(match.group("stem")) >= 4:
        keys.append(match.group("stem"))
    if code.isalnum() and len(code) >= 8:
        keys.extend(code[:-cut] for cut in (2, 3) if code[-cut:].strip("0"))
    return list(dict.fromkeys(k for k in keys if k != code))


def _code_hierarchy_pairs(
    p: _Prepared, units: np.ndarray, unit_child: np.ndarray, unit_anc: np.ndarray
) -> pd.DataFrame:
    """(unit, prow) where the child's code extends a code of the ancestor (``_code_child_keys``)."""
    child_code = p.code_id[unit_child[units]]
    units = units[child_code >= 0]
    child_code = child_code[child_code >= 0]
    if not len(units):
        return pd.DataFrame({"unit": [], "prow": []}, dtype=np.int64)
    keys: dict[str, int] = {}
    child_pairs = [
        (c, keys.setdefault(k, len(keys))) for c in np.unique(child_code) for k in _code_child_keys(p.code_strings[c])
    ]
    if not child_pairs:
        return pd.DataFrame({"unit": [], "prow": []}, dtype=np.int64)
    parent_rows = np.flatnonzero(p.code_id >= 0)
    parent_pairs = [
        (c, keys[k])
        for c in np.unique(p.code_id[parent_rows])
        for k in _code_parent_keys(p.code_strings[c])
        if k in keys
    ]
    if not parent_pairs:
        return pd.DataFrame({"unit": [], "prow": []}, dtype=np.int64)
    cmap = pd.DataFrame(child_pairs, columns=["code", "key"])
    pmap = pd.DataFrame(parent_pairs, columns=["pcode", "key"])
    left = pd.DataFrame({"unit": units, "j": unit_anc[units], "code": child_code}).merge(cmap, on="code")
    right = pd.DataFrame({"prow": parent_rows, "j": p.jur_code[parent_rows], "pcode": p.code_id[parent_rows]})
    right = right.merge(pmap, on="pcode")
    return left.merge(right, on=["j", "key"])[["unit", "prow"]]
