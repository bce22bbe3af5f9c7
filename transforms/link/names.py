"""What matching reads from a name: its canonical core, handling words (办理项), qualifiers and grade
(``name_features``), the power-type group and the department stem."""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from transforms.clean.normalise import split_sub_item

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


_CLASS_NAMES = tuple(words[0] for words in ACTION_CLASSES.values())


def _action_names(mask: int) -> str:
    return "/".join(name for i, name in enumerate(_CLASS_NAMES) if mask >> i & 1)
