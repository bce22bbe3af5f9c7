"""Cross-level matching: link every item to its counterpart in each ancestor jurisdiction's list.

``link_items(items, registry)`` returns the contract's ``links`` table (CONTRACT §5, ``schema.LINKS``):
for each item and each ancestor jurisdiction (``Registry.ancestors``) that has items, at most one link,
to the best counterpart, and none when no counterpart is credible: precision matters as much as
recall. Several children may link to one parent (a county's 办理项 X（变更）, X（注销） all belong to the
city's X).

This module runs the stages; the pieces live beside it: ``names`` (what is read from a name),
``codes`` (integer codes for text), ``comparisons`` (the fuzzy score's composed comparisons and weights),
``score`` (prepared items, scored pairs), ``candidates`` (blocking units, joins, the fuzzy index).

Stages, cheapest first; a (child, ancestor) pair linked at one stage is not looked at again:

1. ``code`` — the same ``base_code`` (基本编码) in child and ancestor: score 1.0. Codes are province-wide
   catalogue ids, so equality is the strongest evidence there is (四级四同). When a list repeats a code
   on several rows (a source error seen in the real 资阳 list) the row whose name is closest wins.
2. ``exact`` — the same main item and the same sub-item (``main_name``/``sub_item``; that is the same
   ``name_norm`` whether the 办理项 is written in brackets or in a column of its own), and compatible
   power types: score 1.0.
3. ``code`` (hierarchy) — a child code that extends an ancestor code as a 办理项 of it: the parent code is
   the child's with its sub-item segment cut (``…01200201`` → ``…012002``) or zeroed (Zhejiang
   ``许可-00977-001`` → ``许可-00977-000`` / ``许可-00977``; 12-digit national ``…001`` → ``…000``). It
   runs after ``exact`` because a child whose own 办理项 exists in the parent by name belongs there,
   not to the main item, and it is accepted only when the names do not contradict it (the sub-item
   rules below): score 0.98.
4. ``fuzzy`` — everything left, scored like a Splink model with a few small comparisons (weights below).
   Candidates: per ancestor jurisdiction (the block) the *distinct* canonical cores of the open
   children against the distinct cores of the ancestor's items, so cost grows with distinct names, not
   rows. Identical cores come from a join; near ones from a character index with prefix filtering
   (``CharIndex``, as in set-similarity joins: two strings with ``fuzz.ratio`` ≥ c share one of their
   few rarest characters), verified with ``process.cpdist``. No pair is scored that cannot reach the
   threshold, and no block is compared all-pairs. Incompatible power types never link.

The canonical core (``name_features``) folds the ways one power is written differently across levels:
a department prefix (``县市场监管局：``, ``市公安局``; the item's own department first) is cut; the
对…的处罚 / 对…行为的处罚 / 对…的行政处罚 wordings become one; level qualifiers (``（县级）``) are dropped and
level words (县级X, 市级X) become 本级X; other bracketed qualifiers (``（含保健食品）``) are set aside and
compared on their own; list numbering and punctuation go. Most importantly the *handling words* of 办理项
(变更, 注销, 延续, 新办 = 核发 = 新申请, 补办, 转入, …; classes in ``ACTION_CLASSES``) are taken out of the
core into a set:

* equal cores, different action classes → siblings (执业药师延续注册 vs 执业药师变更注册, 无线电频率使用许可
  （新申请） vs its （变更） 办理项): never linked;
* the child adds handling words at its end or in its sub-item (X（变更）, X变更, X核发（新申请）) → it is a
  办理项 of the parent's main item X: linked, many-to-one, but only when the parent does not list that
  办理项 itself (that one scores higher). A handling word inside the name does not make a 办理项
  (拖拉机注销抵押登记 is not one of 拖拉机抵押登记);
* the parent is the more specific (only its 办理项 are listed above, or only it has a qualifier): the
  child main item has no single counterpart and is not linked;
* two explicit 办理项 that differ (X（换发） vs X（新增）) are siblings; different grades (第一类 vs 第二类,
  三级 vs 二级) are different powers.

Score of a fuzzy candidate: the sum of ``COMPARISONS`` (one small object per field, each with its
contribution, its maximum and its words in ``reason``; weights in ``Weights``), at most 1; a candidate is
linked when it reaches ``threshold``:

=====================  ==========================================================================
name                   ``Weights.name`` × credit: 1 for identical cores, ``NAME_ONE_EDIT`` when they differ by
                       one inserted/deleted character (a typo; shorter core ≥ ``ONE_EDIT_MIN_LEN``), else
                       ``fuzz.ratio`` squared (two differing characters in a short name — 参保信息查询 vs
                       信息查询, 产品备案 vs 生产备案 — are a different power far more often than a typo)
main name agrees       ``Weights.main`` when the cores are identical
sub-item               ``Weights.sub`` when the 办理项 agree; ``Weights.sub_child`` when the child is a 办理项 of the
                       parent's main item; a contradiction (above) vetoes
qualifier              ``Weights.qual_child`` when only the child has a bracketed qualifier (it is the more
                       specific), ``Weights.qual_parent`` when only the parent has one, ``Weights.qual_diff`` when
                       both have different ones
power type             ``Weights.type`` same type, ``Weights.type_near`` same compatibility group; other groups veto
department             ``Weights.dept`` same department stem, ``Weights.dept_unknown`` when a side has none, 0 else
legal basis            ``Weights.basis`` × similarity when both have one, ``Weights.basis_unknown`` when not
=====================  ==========================================================================

The weights were set by hand from the evidence they carry (the name carries almost all of it; type and
department agree for most true and most false candidates alike); the threshold 0.86 is the F1 optimum
on the synthetic tree (``bench/eval.py``, seed 0; 0.85 and 0.87 are both worse), not tuned on the real
Sichuan pair that the evaluation reports.

Power-type compatibility: 行政处罚, 行政强制, 行政检查 and 行政征收 each form a group of their own; the other
types (许可, 确认, 给付, 奖励, 裁决, 其他行政权力, 公共服务) form one group, because lists file the same
item under different ones of these (a 备案 is 其他行政权力 in one list and 行政许可 in the next). When a
label of the general group contradicts the name (``对…的处罚`` labelled 行政许可), the name's group is used;
a type the list did not state (``power_type_inferred``) counts only through the name.

One-to-one preference: a fuzzy candidate that agrees on everything but a differently written core (a
near-duplicate, 分公司设立登记 for 公司设立登记) contests its parent. Within one child list it gets the
parent only if no other item of that list holds it as an equal (by code, exact or a better fuzzy link);
otherwise it tries its next candidate. Duplicates (identical cores) and 办理项 never contest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.ingest.jurisdictions import Registry
from transforms.ingest.manifest import DEFAULT_MATCH_THRESHOLD
from transforms.link.candidates import _best, _code_hierarchy_pairs, _fuzzy_candidates, _join, _units, name_cutoff
from transforms.link.comparisons import _AGREE, _VETO
from transforms.link.names import groups_compatible
from transforms.link.score import _Prepared, _Scored
from transforms.publish.schema import LINK_METHODS, LINKS, POWER_TYPES

DEFAULT_THRESHOLD = DEFAULT_MATCH_THRESHOLD  # one definition: the manifest's default

SCORE_CODE = 1.0

SCORE_CODE_HIERARCHY = 0.98

SCORE_EXACT = 1.0


class _Result:
    """Per-unit outcome while the stages run."""

    def __init__(self, n_units: int) -> None:
        self.parent = np.full(n_units, -1, dtype=np.int64)
        self.method = np.zeros(n_units, dtype=np.int8)  # index into LINK_METHODS
        self.score = np.zeros(n_units)
        self.reason = np.full(n_units, None, dtype=object)
        self.equal = np.zeros(n_units, dtype=bool)  # linked as an equal, not as a 办理项 of a main item

    def open(self) -> np.ndarray:
        return np.flatnonzero(self.parent < 0)

    def record(self, unit: np.ndarray, prow: np.ndarray, method: int, score, reason, equal) -> None:
        self.parent[unit] = prow
        self.method[unit] = method
        self.score[unit] = score
        self.reason[unit] = reason
        self.equal[unit] = equal


_CODE, _EXACT, _FUZZY = 0, 1, 2


def link_items(items: pd.DataFrame, registry: Registry, *, threshold: float = DEFAULT_THRESHOLD) -> pa.Table:
    """Link each item to its best counterpart in every ancestor jurisdiction (module docstring).

    ``items`` needs ``item_id``, ``jurisdiction_code``, ``level``, ``name_norm``, ``main_name``,
    ``sub_item``, ``power_type``, ``base_code``, ``department`` and ``legal_basis`` (missing optional
    columns count as empty; ``power_type_inferred`` is used when present). Returns a table with exactly
    ``schema.LINKS``, sorted by (``child_item_id``, ``parent_jurisdiction``); the same items give the
    same table whatever their row order.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold: must be in [0, 1], got {threshold}")
    if items is None or len(items) == 0:
        return LINKS.empty_table()
    items = items.reset_index(drop=True)
    p = _Prepared(items)
    unit_child, unit_anc, _ = _units(p, registry)
    if not len(unit_child):
        return LINKS.empty_table()
    res = _Result(len(unit_child))

    # 1. code: same basic code; a list that repeats a code gives the row with the closest name
    open_u = res.open()
    cands = _join(p, open_u, unit_anc, p.code_id[unit_child[open_u]], p.code_id)
    if len(cands):
        c, pr = unit_child[cands["unit"].to_numpy()], cands["prow"].to_numpy()
        cands = cands.assign(
            nd=(p.name_id[c] != p.name_id[pr]).astype(np.int8),
            kd=(p.k_id[c] != p.k_id[pr]).astype(np.int8),
            porder=p.order[pr],
        )
        chosen = _best(cands, ["nd", "kd"])
        u, pr = chosen["unit"].to_numpy(), chosen["prow"].to_numpy()
        why = np.array([f"same basic code {code}" for code in p.code_strings], dtype=object)[p.code_id[pr]]
        res.record(u, pr, _CODE, SCORE_CODE, why, True)

    # 2. exact: same main item and sub-item, compatible power types
    open_u = res.open()
    cands = _join(p, open_u, unit_anc, p.main_id[unit_child[open_u]], p.main_id)
    if len(cands):
        c, pr = unit_child[cands["unit"].to_numpy()], cands["prow"].to_numpy()
        ok = (p.sub_id[c] == p.sub_id[pr]) & groups_compatible(p.group[c], p.group[pr])
        cands, c, pr = cands[ok], c[ok], pr[ok]
        cands = cands.assign(
            td=(p.type_id[c] != p.type_id[pr]).astype(np.int8),
            nd=(p.name_id[c] != p.name_id[pr]).astype(np.int8),
            porder=p.order[pr],
        )
        chosen = _best(cands, ["td", "nd"])
        if len(chosen):
            u, pr = chosen["unit"].to_numpy(), chosen["prow"].to_numpy()
            c = unit_child[u]
            types = np.array([*POWER_TYPES, "?"], dtype=object)
            same_type = p.type_id[c] == p.type_id[pr]
            head = np.where(p.sub_id[c] >= 0, "same name and 办理项", "same name").astype(object)
            tail = np.where(
                same_type, "; type agrees", "; type " + types[p.type_id[c]] + "≈" + types[p.type_id[pr]]
            ).astype(object)
            res.record(u, pr, _EXACT, SCORE_EXACT, head + tail, True)

    # 3. code hierarchy: the child's code extends the parent's as a 办理项, names permitting
    open_u = res.open()
    cands = _code_hierarchy_pairs(p, open_u, unit_child, unit_anc)
    if len(cands):
        c, pr = unit_child[cands["unit"].to_numpy()], cands["prow"].to_numpy()
        s = _Scored(p, c, pr)
        keep = (s.rel != _VETO) & (s.sim >= 0.5)
        cands = cands.assign(neg=-s.score, porder=p.order[pr])[keep]
        chosen = _best(cands, ["neg"])
        if len(chosen):
            u, pr = chosen["unit"].to_numpy(), chosen["prow"].to_numpy()
            codes = p.code_strings
            why = [
                f"basic code {codes[a]} is a 办理项 of {codes[b]}"
                for a, b in zip(p.code_id[unit_child[u]], p.code_id[pr], strict=True)
            ]
            res.record(u, pr, _CODE, SCORE_CODE_HIERARCHY, np.array(why, dtype=object), False)

    # 4. fuzzy
    open_u = res.open()
    cu, cp = _fuzzy_candidates(p, open_u, unit_child, unit_anc, name_cutoff(threshold))
    if len(cu):
        s = _Scored(p, unit_child[cu], cp)
        ok = (s.rel != _VETO) & (s.score >= threshold)
        _assign_fuzzy(p, s, cu, ok, unit_child, res)

    return _assemble(p, res, unit_child, unit_anc)


def _assemble(p: _Prepared, res: _Result, unit_child: np.ndarray, unit_anc: np.ndarray) -> pa.Table:
    done = np.flatnonzero(res.parent >= 0)
    if not len(done):
        return LINKS.empty_table()
    child_rows = unit_child[done]
    parent_rows = res.parent[done]
    levels = [*p.level_values, ""]  # code -1 (no level) reads the trailing ""
    n_levels = len(levels)
    pair_codes = (p.level_code[child_rows] % n_levels) * n_levels + (p.level_code[parent_rows] % n_levels)
    pair_names = np.array([f"{a}>{b}" for a in levels for b in levels], dtype=object)
    jur = pa.array(p.jur_values, pa.string())
    jur_rank = np.argsort(np.argsort(np.array(p.jur_values, dtype=object)))
    order = np.lexsort((jur_rank[unit_anc[done]], p.order[child_rows]))
    done, child_rows, parent_rows, pair_codes = done[order], child_rows[order], parent_rows[order], pair_codes[order]
    table = pa.table(
        {
            "child_item_id": p.item_arr.take(pa.array(child_rows)),
            "parent_item_id": p.item_arr.take(pa.array(parent_rows)),
            "child_jurisdiction": jur.take(pa.array(p.jur_code[child_rows])),
            "parent_jurisdiction": jur.take(pa.array(unit_anc[done])),
            "level_pair": pa.array(pair_names[pair_codes], pa.string()),
            "method": pa.array(np.array(LINK_METHODS, dtype=object)[res.method[done]], pa.string()),
            "score": pa.array(res.score[done].astype(float), pa.float64()),
            "reason": pa.array(res.reason[done], pa.string()),
        },
        schema=LINKS,
    )
    return table


def _assign_fuzzy(
    p: _Prepared, s: _Scored, cu: np.ndarray, ok: np.ndarray, unit_child: np.ndarray, res: _Result
) -> None:
    """Best candidate per unit, with the one-to-one preference among equals (module docstring).

    Claims are keyed by (child jurisdiction, parent row). A candidate that agrees on everything but a
    differently written core (a near-duplicate, e.g. 分公司设立登记 for 公司设立登记) contests the parent:
    within one child list it gets the parent only when no other item of that list holds it as an equal
    (by code, exact or fuzzy link) with a higher score; otherwise it tries its next candidate. Identical
    cores (duplicates in a list) and 办理项 of a main item never contest: many-to-one is allowed.
    """
    idx = np.flatnonzero(ok)
    if not len(idx):
        return
    unit = cu[idx]
    prow = s.parent[idx]
    claim = p.jur_code[unit_child[unit]].astype(np.int64) * (p.n + 1) + prow
    cand = pd.DataFrame(
        {
            "unit": unit,
            "prow": prow,
            "idx": idx,
            "score": s.score[idx],
            "equal": s.rel[idx] == _AGREE,
            "contest": (s.rel[idx] == _AGREE) & ~s.main_agree[idx],
            "claim": claim,
            "porder": p.order[prow],
        }
    ).sort_values(["unit", "score", "porder"], ascending=[True, False, True], kind="stable")
    held_units = np.flatnonzero((res.parent >= 0) & res.equal)
    held = p.jur_code[unit_child[held_units]].astype(np.int64) * (p.n + 1) + res.parent[held_units]
    cand = cand[~(cand["contest"].to_numpy() & cand["claim"].isin(pd.Index(held)).to_numpy())]
    chosen_parts = []
    for _ in range(4):
        if cand.empty:
            break
        best = cand.drop_duplicates("unit", keep="first")
        eq = best[best["equal"].to_numpy()]
        top = eq.groupby("claim")["score"].transform("max")
        losers = eq[eq["contest"].to_numpy() & (eq["score"].to_numpy() < top.to_numpy() - 1e-9)]
        winners = best.drop(losers.index)
        chosen_parts.append(winners)
        if losers.empty:
            break
        taken = np.concatenate([losers["claim"].to_numpy(), winners.loc[winners["equal"], "claim"].to_numpy()])
        rest = cand[cand["unit"].isin(losers["unit"])]
        cand = rest[~(rest["contest"].to_numpy() & rest["claim"].isin(pd.Index(taken)).to_numpy())]
    if not chosen_parts:
        return
    chosen = pd.concat(chosen_parts).drop_duplicates("unit", keep="first")
    pick = chosen["idx"].to_numpy()
    res.record(cu[pick], s.parent[pick], _FUZZY, s.score[pick], s.reasons(p, pick), False)
