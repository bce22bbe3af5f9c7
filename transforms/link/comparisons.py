"""The fuzzy score as composed comparisons (Splink's model): each field's contribution, maximum and words
in ``reason``; ``COMPARISONS`` decides score, reason and the name cut-off; ``Weights`` holds every weight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from transforms.link.codes import _pair_map
from transforms.link.names import _action_names, departments_agree
from transforms.publish.schema import POWER_TYPES

if TYPE_CHECKING:
    from transforms.link.score import _Prepared, _Scored


@dataclass(frozen=True)
class Weights:
    """Every weight of the fuzzy score in one place (documented in the module docstring)."""

    name: float = 0.62
    main: float = 0.05
    sub: float = 0.15
    sub_child: float = 0.13
    type: float = 0.10
    type_near: float = 0.05
    dept: float = 0.05
    dept_unknown: float = 0.02
    basis: float = 0.03
    basis_unknown: float = 0.015
    qual_child: float = -0.03
    qual_parent: float = -0.15
    qual_diff: float = -0.15


WEIGHTS = Weights()

QUAL_SAME = 0.95  # qualifier similarity from which two qualifiers count as the same

NAME_ONE_EDIT = 0.96  # name credit when the cores differ by one inserted/deleted character

ONE_EDIT_MIN_LEN = 5  # ... and the shorter core has at least this many characters

_AGREE, _CHILD_SUB, _VETO = 0, 1, 2


class Comparison:
    """One field's part of a candidate pair's score, like a Splink comparison: what it adds per pair,
    the most it can add, which values make two explanations differ, and its words in ``reason``.

    The score is the sum of ``COMPARISONS``' contributions (a veto of the name relations sets it to 0),
    the reason lists their explanations in that order, and the fuzzy stage's name cut-off assumes every
    comparison but the name at its ``max_weight``. Adding a comparison is adding one object there.
    """

    label: str
    #: counted in the name cut-off: False for a comparison that can only add when the names are identical
    bounds_name_cutoff: bool = True

    def max_weight(self) -> float:
        raise NotImplementedError

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        raise NotImplementedError

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """Integer columns that, taken together over all comparisons, decide the reason's text."""
        raise NotImplementedError

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str | None:
        raise NotImplementedError


class NameComparison(Comparison):
    """The core names: identical, one character off (a typo), or their similarity squared."""

    label = "name"

    def max_weight(self) -> float:
        return WEIGHTS.name

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        return WEIGHTS.name * s.credit

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        return (
            np.round(s.sim[idx] * 100).astype(np.int64),
            np.round(s.contributions[self.label][idx] * 100).astype(np.int64),
            s.one_edit[idx].astype(np.int64),
        )

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str:
        name = f"name {s.sim[i]:.2f}" + (" (one character off)" if s.one_edit[i] else "")
        return f"{name} (+{s.contributions[self.label][i]:.2f})"


class MainNameComparison(Comparison):
    """The main item (the name without its 办理项) is the same."""

    label = "main"
    bounds_name_cutoff = False  # needs identical cores, i.e. a name similarity of 100

    def max_weight(self) -> float:
        return WEIGHTS.main

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        return np.where(s.main_agree, WEIGHTS.main, 0.0)

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        return (s.main_agree[idx].astype(np.int64),)

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str:
        return f"main name agrees (+{WEIGHTS.main:.2f})" if s.main_agree[i] else "main name differs (+0.00)"


class SubItemComparison(Comparison):
    """The 办理项 (handling words) agree, or the child is a 办理项 of the parent's main item."""

    label = "sub"

    def max_weight(self) -> float:
        return max(WEIGHTS.sub, WEIGHTS.sub_child)

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        return np.where(s.rel == _AGREE, WEIGHTS.sub, np.where(s.rel == _CHILD_SUB, WEIGHTS.sub_child, 0.0))

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        c, pr = s.child[idx], s.parent[idx]
        return (s.rel[idx].astype(np.int64), p.act[c], p.act[c] & ~p.act[pr])

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str:
        child, parent = s.child[i], s.parent[i]
        if s.rel[i] == _AGREE:
            return f"办理项 agree ({_action_names(int(p.act[child])) or 'none'}) (+{WEIGHTS.sub:.2f})"
        words = _action_names(int(p.act[child] & ~p.act[parent])) or "its own"
        return f"child is a 办理项 ({words}) of the parent's main item (+{WEIGHTS.sub_child:.2f})"


class QualifierComparison(Comparison):
    """Bracketed qualifiers (（含保健食品）): a penalty when only one side has one or they differ."""

    label = "qualifier"

    def max_weight(self) -> float:
        return 0.0

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        qc, qp = p.q_id[s.child], p.q_id[s.parent]
        qs = p.q_strings
        both = (qc >= 0) & (qp >= 0) & (qc != qp)
        qsim = _pair_map(qc, qp, lambda x, y: _qualifier_similarity(qs[x], qs[y]), both)
        qual = np.zeros(len(s.child))
        qual[(qc >= 0) & (qp < 0)] = WEIGHTS.qual_child
        qual[(qc < 0) & (qp >= 0)] = WEIGHTS.qual_parent
        qual[both & (qsim < QUAL_SAME)] = WEIGHTS.qual_diff
        return qual

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.round(s.contributions[self.label][idx] * 100).astype(np.int64),)

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str | None:
        return {
            WEIGHTS.qual_child: f"qualifier on the child only ({WEIGHTS.qual_child:+.2f})",
            WEIGHTS.qual_parent: f"qualifier on the parent only ({WEIGHTS.qual_parent:+.2f})",
            WEIGHTS.qual_diff: f"qualifiers differ ({WEIGHTS.qual_diff:+.2f})",
        }.get(s.contributions[self.label][i])


class TypeComparison(Comparison):
    """The power type: the same, or of the same compatibility group (other groups veto, in ``rel``)."""

    label = "type"

    def max_weight(self) -> float:
        return WEIGHTS.type

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        s.type_same = p.type_id[s.child] == p.type_id[s.parent]
        return np.where(s.type_same, WEIGHTS.type, WEIGHTS.type_near)

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        return (p.type_id[s.child[idx]] + 1, p.type_id[s.parent[idx]] + 1)

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str:
        if s.type_same[i]:
            return f"type agrees (+{WEIGHTS.type:.2f})"
        types = (*POWER_TYPES, "?")
        child, parent = types[p.type_id[s.child[i]]], types[p.type_id[s.parent[i]]]
        return f"type {child}≈{parent} (+{WEIGHTS.type_near:.2f})"


def _where_both_known(
    s: _Scored, ids: np.ndarray, values: list[str], similarity: Callable[[str, str], float]
) -> tuple[np.ndarray, np.ndarray]:
    """Which pairs have the field on both sides, and their similarity there (NaN elsewhere)."""
    child, parent = ids[s.child], ids[s.parent]
    known = (child >= 0) & (parent >= 0)
    return known, _pair_map(child, parent, lambda x, y: similarity(values[x], values[y]), known)


class DepartmentComparison(Comparison):
    """The department's stem agrees, differs, or is unknown on a side."""

    label = "department"

    def max_weight(self) -> float:
        return WEIGHTS.dept

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        known, agree = _where_both_known(s, p.dept_id, p.dept_norm, lambda x, y: float(departments_agree(x, y)))
        s.dept = np.where(known, np.where(agree == 1.0, 1, 0), -1)  # 1 agree, 0 differ, -1 unknown
        return np.select([s.dept == 1, s.dept == -1], [WEIGHTS.dept, WEIGHTS.dept_unknown], 0.0)

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        return (s.dept[idx] + 1,)

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str:
        return {
            1: f"department agrees (+{WEIGHTS.dept:.2f})",
            -1: f"department unknown (+{WEIGHTS.dept_unknown:.2f})",
        }.get(int(s.dept[i]), "department differs (+0.00)")


class BasisComparison(Comparison):
    """The legal basis: its similarity when both sides give one."""

    label = "basis"

    def max_weight(self) -> float:
        return WEIGHTS.basis

    def contribution(self, s: _Scored, p: _Prepared) -> np.ndarray:
        known, s.basis_sim = _where_both_known(s, p.basis_id, p.basis_strings, lambda x, y: fuzz.ratio(x, y) / 100.0)
        return np.where(known, WEIGHTS.basis * np.nan_to_num(s.basis_sim), WEIGHTS.basis_unknown)

    def key(self, s: _Scored, p: _Prepared, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        sim = s.basis_sim[idx]
        basis = np.where(np.isnan(sim), -1, np.round(sim * 100)).astype(np.int64)
        return (basis + 1, np.round(s.contributions[self.label][idx] * 1000).astype(np.int64))

    def explain(self, s: _Scored, p: _Prepared, i: int) -> str:
        if np.isnan(s.basis_sim[i]):
            return f"legal basis unknown (+{WEIGHTS.basis_unknown:.3f})"
        return f"legal basis {s.basis_sim[i]:.2f} (+{s.contributions[self.label][i]:.2f})"


#: The fuzzy score's comparisons, in the order of the reason text (and of the sum).
COMPARISONS: tuple[Comparison, ...] = (
    NameComparison(),
    MainNameComparison(),
    SubItemComparison(),
    QualifierComparison(),
    TypeComparison(),
    DepartmentComparison(),
    BasisComparison(),
)


def _qualifier_similarity(a: str, b: str) -> float:
    """Similarity of two bracketed qualifiers; one inserted/deleted character counts as the same."""
    return 1.0 if Indel.distance(a, b) <= 1 else fuzz.ratio(a, b) / 100.0
