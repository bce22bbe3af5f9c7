"""Cross-level matching: link every item to its counterpart in each ancestor jurisdiction's list.

``link_items(items, registry)`` returns the contract's ``links`` table (CONTRACT §5, ``schema.LINKS``):
for each item and each ancestor jurisdiction (``Registry.ancestors``) that has items, at most one link,
to the best counterpart, and none when no counterpart is credible: precision matters as much as
recall. Several children may link to one parent (a county's 办理项 X（变更）, X（注销） all belong to the
city's X).

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
   (``_CharIndex``, as in set-similarity joins: two strings with ``fuzz.ratio`` ≥ c share one of their
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

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel

from transforms.clean.normalise import normalise_name, split_sub_item
from transforms.ingest.jurisdictions import Registry
from transforms.ingest.manifest import DEFAULT_MATCH_THRESHOLD
from transforms.publish.schema import LINK_METHODS, LINKS, POWER_TYPES

DEFAULT_THRESHOLD = DEFAULT_MATCH_THRESHOLD  # one definition: the manifest's default


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

SCORE_CODE = 1.0
SCORE_CODE_HIERARCHY = 0.98
SCORE_EXACT = 1.0

# Handling words of 办理项, by class. Words of one class are synonyms (核发 = 新办 = 新申请); a name's set
# of classes is compared as a whole. Longest words are matched first.
ACTION_CLASSES: dict[str, tuple[str, ...]] = {
    "new": ("新申请", "首次申请", "首次", "新办", "新设", "新增", "新建", "初领", "取证", "核发", "申领"),
    "change": ("变更",),
    "cancel": ("注销",),
    "revoke": ("撤销", "撤回"),
    "terminate": ("终止", "停业", "歇业"),
    "renew": ("延续", "延期"),
    "replace": ("换发", "换证", "换领"),
    "reissue": ("遗失补办", "补办", "补发", "补证", "补领"),
    "extend": ("增项", "扩项", "增加"),
    "reduce": ("减少",),
    "review": ("复审", "复查", "复核"),
    "setup": ("设立",),
    "transfer_in": ("转入", "迁入"),
    "transfer_out": ("转出", "迁出"),
    "owner_change": ("过户",),
    "move": ("迁移", "转移"),
}
_ACTION_BIT = {word: 1 << i for i, words in enumerate(ACTION_CLASSES.values()) for word in words}
_TAIL_RE = re.compile("(" + "|".join(sorted(_ACTION_BIT, key=len, reverse=True)) + ")(审批)?$")
_ACTION_RE = re.compile(
    "(" + "|".join(sorted(_ACTION_BIT, key=len, reverse=True)) + ")(审批)?"  # 新办审批: the 审批 is redundant
)

HARD_GROUPS = {"行政处罚": 1, "行政强制": 2, "行政检查": 3, "行政征收": 4}
GENERAL_GROUP = 0
_NAME_GROUP: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(?:处罚|罚款)(?:（[^（）]*）)*$"), 1),
    (re.compile(r"查封|扣押|冻结|强制执行|强制措施|代履行"), 2),
    (re.compile(r"检查(?:（[^（）]*）)*$"), 3),
    (re.compile(r"征收|征缴"), 4),
)

_LEVEL_QUALIFIER = re.compile(
    r"（(?:[省市县区乡镇州]级?(?:[/、和及或][省市县区乡镇州]级?)*(?:行使|权限|实施|审批|事项)?)）"
)
_BRACKET = re.compile(r"（([^（）]*)）")
_LEVEL_WORD = re.compile(r"[省市县区乡镇]级")
_PUNISH = re.compile(r"(?:行为)?的?(?:行政)?处罚")
_PUNCT = re.compile(r"[《》〈〉「」『』“”\"'‘’、，。；：！？—…·/\\.\-_|~～+＋=*#%\s]")
_DEPT_PREFIX = re.compile(
    r"^(?P<p>(?:[省市县区州旗盟]|[^（）：，]{1,10}?[省市县区州旗盟])[^（）：，]{0,12}?"
    r"(?:局|委员会|办公室|厅|部|大队|支队|管委会))：?"
)
_DEPT_COLON = re.compile(
    r"^(?P<p>[^（）：，]{1,16}?(?:局|委员会|委|部|办公室|办|厅|中心|残联|妇联|团委|工会|政府|院|所|站|队|处|科|馆))："
)
# list numbering the normaliser leaves because a digit follows it (``48、30.X``, ``183.80周岁…``)
_LEADING_NUMBERING = re.compile(r"^(?:\d{1,4}[、.．](?=\d)|\d{1,4}[、.．](?!\d))+")
# 第一类 / 三级 / 甲级: a different grade is a different power however similar the rest is
_GRADE = re.compile(r"(?:第?[一二三四五六七八九十0-9]+|[甲乙丙丁])(?:类|级|等|种|批)")
_PLACE_CHARS = "省市县区州旗盟"

_AGREE, _CHILD_SUB, _VETO = 0, 1, 2


# --------------------------------------------------------------------------------------------------
# canonical names


def strip_department_prefix(name: str, department: str | None = None) -> str:
    """Cut a department written in front of the item name (``县市场监管局：X``, ``市公安局X``).

    The item's own department (when given) is cut when the name starts with it; otherwise a generic
    pattern (a place character, then a bureau word) is cut when at least four characters remain.
    """
    if department and len(name) > len(department) + 1 and name.startswith(department):
        return name[len(department) :].lstrip("：")
    for pattern in (_DEPT_COLON, _DEPT_PREFIX):
        match = pattern.match(name)
        if match and len(name) - match.end() >= 4:
            return name[match.end() :]
    return name


def _strip_and_split(name: str, main: str, sub: str, department: str | None) -> tuple[str, str | None]:
    """(main, sub) of a name once a department prefix is cut (see ``_Prepared``)."""
    if sub and name == main:  # sub-item from its own column
        return strip_department_prefix(main, department), sub
    stripped = strip_department_prefix(name, department)
    if stripped == name:
        return main, sub or None
    return split_sub_item(stripped)


def _tail_actions(text: str) -> tuple[int, int]:
    """Classes and number of the handling words that end ``text`` (X新办核发 → 新办, 核发)."""
    mask = count = 0
    while match := _TAIL_RE.search(text):
        mask |= _ACTION_BIT[match.group(1)]
        count += 1
        text = text[: match.start()]
    return mask, count


def _actions(text: str) -> tuple[str, int, int]:
    mask = 0
    count = 0
    for match in _ACTION_RE.finditer(text):
        mask |= _ACTION_BIT[match.group(1)]
        count += 1
    return _ACTION_RE.sub("", text), mask, count


class NameFeatures(NamedTuple):
    """What matching compares of a name (see ``name_features``)."""

    core: str
    main_core: str
    actions: int
    n_actions: int
    residual: str
    qualifier: str
    main_actions: int
    n_main: int
    tail_actions: int
    n_tail: int
    sub_actions: int


def name_features(main: str, sub: str | None = None) -> NameFeatures:
    """Canonical form of a name (main name and sub-item) as :class:`NameFeatures`.

    ``core`` is what names are compared on: the main name without level qualifiers, bracketed
    qualifiers, punctuation, list numbering and handling words, with 对…的处罚 variants folded, plus the
    sub-item's own words (its ``residual`` once handling words are out). ``main_core`` is the same for
    the main name alone; ``actions`` the bit set of handling-word classes in main name and sub-item and
    ``n_actions`` how many handling words there are (X核发（新申请） is more specific than X核发);
    ``qualifier`` the bracketed qualifiers set aside; ``main_actions``/``n_main`` count the main name
    alone; ``tail_actions``/``n_tail`` the handling words of the sub-item and those ending the main name
    (only those make a 办理项: 拖拉机注销抵押登记 is not a 办理项 of 拖拉机抵押登记); ``sub_actions`` the
    sub-item's. Level words (省级, 市级, 县级) become 本级: a county's 县级X is the city's 市级X. Two
    spellings of one power give the same core.
    """
    text = _LEVEL_QUALIFIER.sub("", _LEADING_NUMBERING.sub("", main))
    quals: list[str] = []
    while "（" in text:
        new = _BRACKET.sub(lambda m: quals.append(m.group(1)) or "", text)
        if new == text:
            text = text.replace("（", "").replace("）", "")
            break
        text = new
    text = _LEVEL_WORD.sub("本级", _PUNCT.sub("", _PUNISH.sub("的处罚", text)))
    core, mask, count = _actions(text)
    main_mask, main_count = mask, count
    tail_mask, tail_count = _tail_actions(text)
    sub_mask = 0
    if not core:
        core = text
    residual = ""
    if sub:
        sub_text = _PUNCT.sub("", _LEVEL_QUALIFIER.sub("", sub).replace("（", "").replace("）", ""))
        residual, sub_mask, sub_count = _actions(sub_text)
        mask |= sub_mask
        count += sub_count
        tail_mask |= sub_mask
        tail_count += sub_count
    qualifier = _PUNCT.sub("", "".join(q for q in quals if not _ACTION_RE.fullmatch(q)))
    return NameFeatures(
        core=core + residual,
        main_core=core,
        actions=mask,
        n_actions=count,
        residual=residual,
        qualifier=qualifier,
        main_actions=main_mask,
        n_main=main_count,
        tail_actions=tail_mask,
        n_tail=tail_count,
        sub_actions=sub_mask,
    )


WILDCARD_GROUP = -1


def power_group(power_type: str | None, name: str | None, inferred: bool = False) -> int:
    """Compatibility group of an item's power type (module docstring).

    A stated label gives its group, unless it is of the general group and the name says otherwise. A
    type that the list did not state (``power_type_inferred``) is only as good as the name: it gives
    the name's group when the name implies one, else ``WILDCARD_GROUP``, compatible with every group.
    """
    group = HARD_GROUPS.get(power_type or "", GENERAL_GROUP)
    if (group == GENERAL_GROUP or inferred) and name:
        for pattern, implied in _NAME_GROUP:
            if pattern.search(name):
                return implied
    return WILDCARD_GROUP if inferred else group


def groups_compatible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise: may items of these groups link? Equal groups, or either is the wildcard."""
    return (a == b) | (a == WILDCARD_GROUP) | (b == WILDCARD_GROUP)


def _department_key(department: str) -> str:
    text = _PUNCT.sub("", department)
    if len(text) > 3 and text[0] in _PLACE_CHARS:
        text = text[1:]
    return text


def departments_agree(a: str, b: str) -> bool:
    """Same department across levels: 县市场监管局 ~ 市市场监管局 ~ 资阳市市场监管局 (suffix rule)."""
    ka, kb = _department_key(a), _department_key(b)
    if len(ka) < 2 or len(kb) < 2:
        return ka == kb
    return ka.endswith(kb) or kb.endswith(ka)


# --------------------------------------------------------------------------------------------------
# prepared frame


def _encode(items: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    """A text column dictionary-encoded: (codes with -1 for missing or blank, trimmed distinct values).

    Done in Arrow, so that a million-row column costs no Python string per row.
    """
    n = len(items)
    if name not in items:
        return np.full(n, -1, dtype=np.int64), []
    column = items[name]
    try:
        arr = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array([None if pd.isna(v) else str(v) for v in column], pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    encoded = arr.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _combine(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct combinations of integer code columns: (combination id per row, first row of each).

    Hash-based (``pd.factorize``), so ids follow first appearance; callers never depend on id order.
    """
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c in codes:
        key, _ = pd.factorize(key * (int(c.max(initial=0)) + 2) + (c + 1))
        key = key.astype(np.int64)
    first = np.empty(int(key.max(initial=-1)) + 1, dtype=np.int64)
    first[key[::-1]] = np.arange(len(key) - 1, -1, -1)
    return key, first


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
        self._char_index: _CharIndex | None = None

    def char_index(self) -> _CharIndex:
        """The character index of all cores, built on first use (only the fuzzy stage needs it)."""
        if self._char_index is None:
            self._char_index = _CharIndex(self.k_strings)
        return self._char_index


# --------------------------------------------------------------------------------------------------
# units: (child row, ancestor jurisdiction)


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


# --------------------------------------------------------------------------------------------------
# pair scoring


def _pair_map(a: np.ndarray, b: np.ndarray, fn, valid: np.ndarray) -> np.ndarray:
    """Apply ``fn(a_id, b_id)`` once per distinct valid id pair; NaN where not valid."""
    out = np.full(len(a), np.nan)
    if not valid.any():
        return out
    key, first = _combine(a[valid], b[valid])
    av, bv = a[valid][first], b[valid][first]
    values = np.array([fn(x, y) for x, y in zip(av, bv, strict=True)], dtype=float)
    out[valid] = values[key]
    return out


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


_CLASS_NAMES = tuple(words[0] for words in ACTION_CLASSES.values())


def _action_names(mask: int) -> str:
    return "/".join(name for i, name in enumerate(_CLASS_NAMES) if mask >> i & 1)


# --------------------------------------------------------------------------------------------------
# candidate generation for the fuzzy stage


def _name_cutoff(threshold: float) -> float:
    """Lowest name similarity (0–100) that can still reach ``threshold`` with every other component maxed."""
    others = sum(c.max_weight() for c in COMPARISONS if c.label != "name" and c.bounds_name_cutoff)
    credit = (threshold - others) / WEIGHTS.name  # the name credit needed
    if credit >= NAME_ONE_EDIT:
        floor = credit**0.5  # only the squared similarity can reach it
    else:  # a one-edit pair may: its ratio is at least 1 - 1 / (2 * ONE_EDIT_MIN_LEN + 1)
        floor = min(max(credit, 0.0) ** 0.5, 1.0 - 1.0 / (2 * ONE_EDIT_MIN_LEN + 1))
    return max(0.0, min(100.0, 100.0 * floor - 0.5))


class _CharIndex:
    """Characters of every distinct core, rarest first: the index behind ``_similar_cores``.

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


def _similar_cores(p: _Prepared, q_j: np.ndarray, q_k: np.ndarray, cutoff: float) -> pd.DataFrame:
    """(j, k, pk): cores ``pk`` of jurisdiction ``j``'s items with ``fuzz.ratio`` ≥ cutoff to query ``k``.

    Identical cores come from a join. Near ones from a character index with prefix filtering
    (``_CharIndex``): a candidate must share one of its few rarest characters with the query and pass
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
    the distinct cores of the ancestor's items (``_similar_cores``). Children with a 办理项 that is not a
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
    hits = _similar_cores(p, q_j, q_k, cutoff)
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


# --------------------------------------------------------------------------------------------------
# code hierarchy keys


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


# --------------------------------------------------------------------------------------------------
# public entry point


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
    cu, cp = _fuzzy_candidates(p, open_u, unit_child, unit_anc, _name_cutoff(threshold))
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
