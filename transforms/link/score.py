"""Items prepared for comparison (``_Prepared``: every feature as integer codes) and candidate pairs scored
(``_Scored``: name relations, the comparisons' contributions, score and reasons)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from transforms.clean.normalise import normalise_name
from transforms.link.candidates import CharIndex
from transforms.link.codes import _combine, _encode
from transforms.link.comparisons import _AGREE, _CHILD_SUB, _VETO, COMPARISONS, NAME_ONE_EDIT, ONE_EDIT_MIN_LEN
from transforms.link.names import _GRADE, _PUNCT, _strip_and_split, groups_compatible, name_features, power_group
from transforms.publish.schema import POWER_TYPES


class _Prepared:
    """Per-row integer arrays the stages work on; strings live once, in small lookup tables."""

    def __init__(self, items: pd.DataFrame) -> None:
        n = len(items)
        self.n = n
        item_arr = pa.array(items["item_id"].astype(str), from_pandas=True)
        if isinstance(item_arr, pa.ChunkedArray):
            item_arr = item_arr.combine_chunks()
        self.item_arr = item_arr.cast(pa.string())
        # order: rank of item_id, the deterministic tie-break independent of input order
        self.order = pc.rank(item_arr, sort_keys="ascending", tiebreaker="first").to_numpy().astype(np.int64)
        jcodes, self.jur_values = _encode(items, "jurisdiction_code")
        self.jur_code = jcodes
        self.level_code, self.level_values = _encode(items, "level")
        nn, nn_values = _encode(items, "name_norm")
        mn, mn_values = _encode(items, "main_name")
        sb, sb_values = _encode(items, "sub_item")
        dp, dp_values = _encode(items, "department")
        tp, tp_values = _encode(items, "power_type")
        self.code_id, self.code_strings = _encode(items, "base_code")
        self.basis_id, basis_values = _encode(items, "legal_basis")
        self.basis_strings = [_PUNCT.sub("", b)[:160] for b in basis_values]
        self.name_id, self.main_id, self.sub_id = nn, mn, sb
        self.dept_id = dp
        self.dept_norm = [normalise_name(d) or "" for d in dp_values]

        # the name as compared: department prefix cut (the item's own department first, then the
        # generic rule). The normaliser may have split "区残联：X" into main 区残联 and sub X; cutting the
        # whole name and splitting again undoes that. A sub-item from its own column stays as it is.
        # Everything is computed per distinct name (``fid``), never per row.
        name_key, name_first = _combine(nn, mn, sb)

        def texts(r: int) -> tuple[str, str, str]:
            whole = nn_values[nn[r]] if nn[r] >= 0 else (mn_values[mn[r]] if mn[r] >= 0 else "")
            main = mn_values[mn[r]] if mn[r] >= 0 else whole
            return whole, main, sb_values[sb[r]] if sb[r] >= 0 else ""

        eff = [_strip_and_split(*texts(r), None) for r in name_first]
        fid = name_key.copy()
        with_dept = np.flatnonzero((dp >= 0) & (nn >= 0))
        if len(with_dept):
            dn = self.dept_norm
            # only names that begin with their department's first character can begin with it
            name_head = np.array([ord(v[0]) if v else -1 for v in nn_values], dtype=np.int64)
            dept_head = np.array([ord(d[0]) if d else -2 for d in dn], dtype=np.int64)
            maybe = with_dept[name_head[nn[with_dept]] == dept_head[dp[with_dept]]]
            if len(maybe):
                pair_key, pair_first = _combine(name_key[maybe], dp[maybe])
                rows = maybe[pair_first]
                starts = np.array([nn_values[nn[r]].startswith(dn[dp[r]]) for r in rows], dtype=bool)
                new_id = np.full(len(rows), -1, dtype=np.int64)
                for i in np.flatnonzero(starts):
                    new_id[i] = len(eff)
                    eff.append(_strip_and_split(*texts(rows[i]), dn[dp[rows[i]]]))
                hit = new_id[pair_key] >= 0
                fid[maybe[hit]] = new_id[pair_key[hit]]
        self.has_sub = np.array([e[1] is not None for e in eff], dtype=bool)[fid]

        # name features per distinct (main, sub) as compared
        feats = [name_features(m, su) for m, su in eff]
        grades = ["|".join(sorted(_GRADE.findall(m + (su or "")))) for m, su in eff]
        k_lookup: dict[str, int] = {}
        k_strings: list[str] = []

        def kid(text: str) -> int:
            j = k_lookup.get(text)
            if j is None:
                j = k_lookup[text] = len(k_strings)
                k_strings.append(text)
            return j

        k_of = np.array([kid(f.core) for f in feats], dtype=np.int64)
        km_of = np.array([kid(f.main_core) for f in feats], dtype=np.int64)
        self.k_strings = k_strings
        self.k_len = np.array([len(k) for k in k_strings], dtype=np.int64)
        self.k_id = k_of[fid]
        self.km_id = km_of[fid]
        self.act = np.array([f.actions for f in feats], dtype=np.int64)[fid]
        self.n_act = np.array([f.n_actions for f in feats], dtype=np.int64)[fid]
        self.has_residual = np.array([bool(f.residual) for f in feats], dtype=bool)[fid]
        q_codes, q_values = pd.factorize(pd.Series([f.qualifier or None for f in feats], dtype=object))
        self.q_id = q_codes.astype(np.int64)[fid]
        self.q_strings = list(q_values)
        self.act_main = np.array([f.main_actions for f in feats], dtype=np.int64)[fid]
        self.n_act_main = np.array([f.n_main for f in feats], dtype=np.int64)[fid]
        self.tail = np.array([f.tail_actions for f in feats], dtype=np.int64)[fid]
        self.n_tail = np.array([f.n_tail for f in feats], dtype=np.int64)[fid]
        self.sub_act = np.array([f.sub_actions for f in feats], dtype=np.int64)[fid]
        r_codes, _ = pd.factorize(pd.Series([f.residual for f in feats], dtype=object))
        self.residual_id = r_codes.astype(np.int64)[fid]
        g_codes, _ = pd.factorize(pd.Series(grades, dtype=object))
        self.grade_id = g_codes.astype(np.int64)[fid]

        # power types and their compatibility groups
        type_index = {t: i for i, t in enumerate(POWER_TYPES)}
        tp_map = np.array([type_index.get(t, -1) for t in tp_values] + [-1], dtype=np.int64)
        self.type_id = tp_map[tp]  # -1 (missing) indexes the trailing -1
        if "power_type_inferred" in items:
            inferred = items["power_type_inferred"].astype(object).fillna(False).astype(bool).to_numpy()
        else:
            inferred = np.zeros(n, dtype=bool)
        inferred = inferred | (tp < 0)
        g_key, g_first = _combine(tp, nn, inferred.astype(np.int64))
        group_of = np.array(
            [
                power_group(
                    tp_values[tp[r]] if tp[r] >= 0 else None,
                    nn_values[nn[r]] if nn[r] >= 0 else None,
                    bool(inferred[r]),
                )
                for r in g_first
            ],
            dtype=np.int64,
        )
        self.group = group_of[g_key]
        self._char_index: CharIndex | None = None

    def char_index(self) -> CharIndex:
        """The character index of all cores, built on first use (only the fuzzy stage needs it)."""
        if self._char_index is None:
            self._char_index = CharIndex(self.k_strings)
        return self._char_index


def _name_pair(a: str, b: str) -> tuple[float, float]:
    one_edit = Indel.distance(a, b) == 1 and min(len(a), len(b)) >= ONE_EDIT_MIN_LEN
    return fuzz.ratio(a, b) / 100.0, float(one_edit)


class _Scored:
    """Scores, relations and components of candidate (child row, parent row) pairs."""

    def __init__(self, p: _Prepared, child: np.ndarray, parent: np.ndarray) -> None:
        self.child, self.parent = child, parent
        ks = p.k_strings
        kc, kp, kmc = p.k_id[child], p.k_id[parent], p.km_id[child]
        keq = kc == kp
        kmeq = (kmc == kp) & p.has_residual[child] & ~p.has_residual[parent]

        # name: identical cores, one inserted/deleted character, or plain similarity
        ratio = np.ones(len(child))
        one_edit = np.zeros(len(child), dtype=bool)
        differ = ~keq
        if differ.any():
            key, first = _combine(kc[differ], kp[differ])
            a, b = kc[differ][first], kp[differ][first]
            values = np.array([_name_pair(ks[x], ks[y]) for x, y in zip(a, b, strict=True)], dtype=float)
            values = values.reshape(-1, 2)
            ratio[differ] = values[key, 0]
            one_edit[differ] = values[key, 1] == 1.0
        near = keq | one_edit

        # sub-item relation from the handling words (module docstring)
        ac, ap = p.act[child], p.act[parent]
        nc, np_ = p.n_act[child], p.n_act[parent]
        same_act = ac == ap
        # the child is a 办理项 of the parent's main item when it adds handling words at its end or in its
        # sub-item: more classes, or more words of the same classes (X核发（新申请） vs X核发)
        extra = ac & ~ap
        trailing = (extra & ~p.tail[child]) == 0
        child_more = (((ac & ap) == ap) & ~same_act & trailing) | (
            same_act & (nc > np_) & (p.n_tail[child] > p.n_tail[parent])
        )
        parent_more = same_act & (np_ > nc)
        rel = np.full(len(child), _VETO, dtype=np.int8)
        rel[same_act & ~parent_more & ~child_more] = _AGREE
        rel[same_act & ~keq & kmeq & ~parent_more] = _CHILD_SUB
        rel[child_more & (keq | kmeq)] = _CHILD_SUB
        # a typo in the main name does not stop an explicit 办理项 from belonging to its main item
        via_sub = p.has_sub[child] & (p.act_main[child] == ap) & (p.n_act_main[child] == np_) & one_edit
        rel[child_more & via_sub] = _CHILD_SUB
        rel[~groups_compatible(p.group[child], p.group[parent])] = _VETO
        rel[p.grade_id[child] != p.grade_id[parent]] = _VETO
        # two explicit 办理项 that differ are siblings (X（换发） vs X（新增）, X（同址变更） vs X（变更）)
        both_sub = p.has_sub[child] & p.has_sub[parent]
        differ_sub = (p.sub_act[child] != p.sub_act[parent]) | (p.residual_id[child] != p.residual_id[parent])
        rel[both_sub & differ_sub] = _VETO
        self.rel = rel

        exact_main = keq | ((rel == _CHILD_SUB) & ~one_edit)
        self.sim = np.where(exact_main, 1.0, ratio)
        # beyond one edit the similarity is squared: two differing characters in a short name (参保信息查询
        # vs 信息查询, 产品备案 vs 生产备案) are a different power far more often than a typo
        credit = np.where(exact_main, 1.0, np.where(near, NAME_ONE_EDIT, ratio**2))
        self.one_edit = one_edit & ~exact_main
        self.main_agree = exact_main

        self.credit = credit
        self.contributions = {c.label: c.contribution(self, p) for c in COMPARISONS}
        total = sum(self.contributions.values())
        total = np.where(rel == _VETO, 0.0, total)
        self.score = np.clip(np.round(total, 6), 0.0, 1.0)

    def reasons(self, p: _Prepared, idx: np.ndarray) -> np.ndarray:
        """Readable explanation per selected pair (the waterfall of contributions).

        Formatted once per distinct combination of the (rounded) components, so cost follows the few
        hundred distinct explanations rather than the number of links.
        """
        columns = [column for c in COMPARISONS for column in c.key(self, p, idx)]
        key, first = _combine(*columns)
        texts = np.array([self._reason(p, int(idx[f])) for f in first], dtype=object)
        return texts[key]

    def _reason(self, p: _Prepared, i: int) -> str:
        parts = (c.explain(self, p, i) for c in COMPARISONS)
        return ", ".join(part for part in parts if part)
