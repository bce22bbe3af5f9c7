"""Normalise the row frame: item names, main item / sub-item, power type, status and basic code.

``normalise`` takes the row frame of ``transforms.ingest.read.read_rows`` and adds the columns listed under
"Normalised columns" in docs/architecture.md. It changes no input column: ``name_raw``, ``code_raw`` and
the other raw cells stay as read, because the quarantine and the report must show what the list said.

Why each rule exists:

* Names (``normalise_name``). The same power is written differently across lists and levels:
  traditional characters (行政許可), full-width digits and letters, four kinds of brackets, stray spaces,
  list numbering typed into the name cell (``1.``, ``（一）``, ``①``, ``第一项``) and trailing ``。；``.
  Matching across levels compares names, so all of these are folded away: opencc t2s, NFKC, every
  bracket kind (``() [] 【】 〔〕 〖〗``) becomes full-width ``（）``, ASCII ``, ; : ! ?`` become their
  full-width Chinese forms (the form the lists mostly use), dash variants become ``—``, all whitespace
  and invisible characters are removed, numbering prefixes and leading/trailing punctuation are stripped,
  doubled brackets (``注销（（…）``) and empty brackets are collapsed. The steps repeat until nothing
  changes, so the function is idempotent by construction. A name with no letter left (only digits,
  punctuation or numbering) becomes ``None``; validation quarantines such rows.
* Main item / sub-item (``split_sub_item``). Lists publish 办理项 as their own rows, e.g.
  ``客运车辆道路运输证办理（注销）``. In the real Sichuan lists (shared/realdata/sichuan, 1,270 names) a
  trailing bracket is one of three things, and only the first is split off:

  1. a handling variant: an action word (变更, 注销, 新办, 延续, 换发, 补办, 新增 …, see
     ``data/vocab/sub_item_markers.csv``) → main item without it, sub-item = the bracket's text;
  2. a level qualifier (``（县级）``, ``（市级/县级）``, ``（县级行使）``, ``（省级权限）``) or a note
     (``（据省政府令第349号…）``) → kept in the main name, but skipped over when looking for (1), so
     ``医疗机构执业审批（注销）（县级）`` gives ``医疗机构执业审批（县级）`` + ``注销``;
  3. a scope qualifier that is part of the item's identity (``（保健食品、特殊医学用途配方食品…除外）``,
     ``（含中外合资）``, ``（其他农药）``, ``（零售）``) → kept; the name is not split.

  Without a marker bracket, a top-level ``—`` or ``：`` splits ``公司设立登记—有限责任公司`` into main and
  sub when both sides have at least two characters. When the row has its own ``sub_item_raw`` cell, that
  cell (normalised) is the sub-item and the whole ``name_norm`` is the main name. Action words written
  without brackets (``食品生产许可延续``) are not split: too many real main names end in such words.
* Power type (``map_power_type``). A raw label is folded (NFKC, t2s, whitespace and a trailing
  类/类别/事项 removed, numbers without leading zeros) and looked up in ``data/vocab/power_types.csv``;
  an unknown label gives ``None`` and validation quarantines the row (CONTRACT §4). Without a label the
  type is inferred, first from the basic code (``data/vocab/code_types.csv`` and the numeric type segment,
  see ``power_type_from_code``), then from the name (``data/vocab/type_inference.csv``), else it defaults
  to 其他行政权力; each inference leaves a warning so the quality team can see it was not stated.
* Status (``map_status``). The first keyword of ``data/vocab/statuses.csv`` found in the text wins,
  so the file's order encodes priority (承接 before 委托 before 下放). Text without a keyword, e.g. a
  行使层级 value "省级、市级、县级", is 未注明: a level list says where a power is exercised, not that it
  was kept.
* Basic code (``parse_base_code``). Implementation codes embed the basic (catalogue) code that is shared
  across places and levels; that part is what links a county item to its city item. Each known format is
  one named regex in ``CODE_FORMS``; the first full match wins.

Every vocabulary is a plain CSV under ``data/vocab/`` so the quality team can edit it without touching
code; the files are checked when this module is imported, and a bad row fails loudly with file and line.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transforms import ROOT, gc_paused
from transforms.publish.schema import POWER_TYPES, STATUSES

VOCAB_DIR = ROOT / "data" / "vocab"

DEFAULT_POWER_TYPE = "其他行政权力"
DEFAULT_STATUS = "未注明"

WARN_TYPE_FROM_CODE = "power_type: inferred from code"
WARN_TYPE_FROM_NAME = "power_type: inferred from name"
WARN_TYPE_DEFAULTED = f"power_type: missing and not inferable, defaulted to {DEFAULT_POWER_TYPE}"
WARN_CODE_UNRECOGNISED = "code: unrecognised format"

# Cell values that mean "nothing here" in type and code columns; treated like an empty cell.
PLACEHOLDERS = frozenset({"", "无", "暂无", "空", "-", "/", "—", "NULL", "NONE", "N/A", "NA", "NAN"})


# --------------------------------------------------------------------------------------------------
# opencc


def _load_t2s() -> Callable[[str], str]:
    """opencc's traditional→simplified converter, built once per process (construction is slow)."""
    import opencc

    return opencc.OpenCC("t2s").convert


to_simplified = _load_t2s()


# --------------------------------------------------------------------------------------------------
# vocabularies


@dataclass(frozen=True)
class Vocab:
    """The editable vocabularies, loaded from ``data/vocab/*.csv``."""

    labels: dict[str, str]  # folded raw power-type label → canonical type
    code_types: dict[tuple[str, str], str]  # (code_form, key) → canonical type
    inference: tuple[tuple[re.Pattern[str], str], ...]  # name pattern → type, first match wins
    statuses: tuple[tuple[str, str], ...]  # keyword → status, first match wins
    sub_markers: tuple[tuple[str, str], ...]  # (marker, exact|prefix|suffix)
    digest: str = ""  # sha256 of the files it was read from: what a cached result was normalised with


def _read_vocab(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Read one vocabulary CSV; return (line number, row) pairs. A wrong header is an error."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            raise ValueError(f"{path}: header must be {','.join(columns)}, got {reader.fieldnames}")
        rows = []
        for row in reader:
            values = {key: (value or "").strip() for key, value in row.items() if key is not None}
            if any(not values[column] for column in columns):
                raise ValueError(f"{path}:{reader.line_num}: every column needs a value")
            rows.append((reader.line_num, values))
    return rows


def _check_value(path: Path, line: int, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{path}:{line}: {value!r} is not one of {', '.join(allowed)}")
    return value


def load_vocab(folder: Path = VOCAB_DIR) -> Vocab:
    """Load and check every vocabulary in ``folder``; raise ``ValueError`` naming file and line."""
    labels: dict[str, str] = {}
    path = folder / "power_types.csv"
    for line, row in _read_vocab(path, ("label", "power_type")):
        labels[_fold_label(row["label"])] = _check_value(path, line, row["power_type"], POWER_TYPES)

    code_types: dict[tuple[str, str], str] = {}
    path = folder / "code_types.csv"
    for line, row in _read_vocab(path, ("code_form", "key", "power_type")):
        form = _check_value(path, line, row["code_form"], ("sichuan", "national_letter"))
        code_types[(form, row["key"].upper())] = _check_value(path, line, row["power_type"], POWER_TYPES)

    inference = []
    path = folder / "type_inference.csv"
    for line, row in _read_vocab(path, ("pattern", "power_type")):
        try:
            pattern = re.compile(row["pattern"])
        except re.error as exc:
            raise ValueError(f"{path}:{line}: bad pattern {row['pattern']!r}: {exc}") from exc
        inference.append((pattern, _check_value(path, line, row["power_type"], POWER_TYPES)))

    path = folder / "statuses.csv"
    statuses = tuple(
        (_fold_text(row["keyword"]), _check_value(path, line, row["status"], STATUSES))
        for line, row in _read_vocab(path, ("keyword", "status"))
    )

    path = folder / "sub_item_markers.csv"
    sub_markers = tuple(
        (_fold_text(row["marker"]), _check_value(path, line, row["match"], ("exact", "prefix", "suffix")))
        for line, row in _read_vocab(path, ("marker", "match"))
    )
    digest = hashlib.sha256()
    for name in VOCAB_FILES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return Vocab(labels, code_types, tuple(inference), statuses, sub_markers, digest.hexdigest())


#: The files of a vocabulary folder (``[run] vocab``); the others in data/vocab belong to the reform checks.
VOCAB_FILES = ("power_types.csv", "code_types.csv", "type_inference.csv", "statuses.csv", "sub_item_markers.csv")

_vocab: Vocab | None = None
_vocab_lock = threading.Lock()


def current_vocab() -> Vocab:
    """The vocabulary normalising uses: data/vocab until a run names its own (``use_vocab``).

    Loaded on first use rather than at import, so that importing the package reads no files and a bad
    bundled file fails the normalising with its name and line, not every import.
    """
    global _vocab
    if _vocab is None:
        with _vocab_lock:
            if _vocab is None:
                _vocab = load_vocab()
    return _vocab


def use_vocab(vocab: Vocab) -> None:
    """Normalise with ``vocab`` from now on in this process (a manifest's ``[run] vocab``).

    The per-value caches hold results of the previous vocabulary, so they are emptied when it changes;
    a run sets it once before reading, and each Dask worker when its first source arrives.
    """
    global _vocab
    with _vocab_lock:
        if _vocab is not None and _vocab.digest == vocab.digest:
            return
        _vocab = vocab
        for cached in (_normalise_name_cached, name_facts, code_facts, _type_from_code, _label_facts, _status):
            cached.cache_clear()
        _NAME_FACTS.clear()


# --------------------------------------------------------------------------------------------------
# names

_CN_DIGITS = "一二三四五六七八九十百零〇"


def _circled_numbers() -> dict[int, str]:
    """Map circled number characters to ``（n）`` so that numbering stripping sees them.

    NFKC would turn ① into a bare ``1`` that can no longer be told apart from a name starting with 1.
    """
    table: dict[int, str] = {}
    # (first code point, number it stands for, how many): ①–⑳, ㉑–㉟, ㊱–㊿, ❶–❿, ➀–➉, ➊–➓
    for first, number, count in (
        (0x2460, 1, 20),
        (0x3251, 21, 15),
        (0x32B1, 36, 15),
        (0x2776, 1, 10),
        (0x2780, 1, 10),
        (0x278A, 1, 10),
    ):
        table.update({first + i: f"（{number + i}）" for i in range(count)})
    return table


_PRE_NFKC = str.maketrans(_circled_numbers())
INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufe00-\ufe0f\ufeff\ud800-\udfff]"
)
_POST_NFKC = str.maketrans(
    {
        **dict.fromkeys("([【〔〖", "（"),
        **dict.fromkeys(")]】〕〗", "）"),
        ",": "，",
        ";": "；",
        ":": "：",
        "!": "！",
        "?": "？",
        **dict.fromkeys("‐‑‒–—―─━⁃", "—"),
    }
)
# Whether a text holds a character of the table: str.translate looks every character of a CJK text up in
# the dict, a regex character class tests them in C; most names hold none (checked for speed only).
_HAS_PRE_NFKC = re.compile("[" + "".join(map(chr, sorted(_PRE_NFKC))) + "]")
_HAS_POST_NFKC = re.compile("[" + re.escape("".join(map(chr, sorted(_POST_NFKC)))) + "]")
_ASCII_HYPHEN_IN_CJK = re.compile(r"(?<=[^\x00-\x7f])-+(?=[^\x00-\x7f])")
_DASH_RUN = re.compile(r"—{2,}")
_WHITESPACE = re.compile(r"\s+")
_NUMBERING = re.compile(
    r"^\s*(?:"
    rf"（\s*[\d{_CN_DIGITS}]{{1,4}}\s*）"  # （一） （1）
    r"|\d{1,3}(?:\.\d{1,3})*\s*[.、，：）](?!\d)"  # 1. 1、 1.2. 1）  (not 1.5吨)
    r"|\d{1,3}(?:\.\d{1,3})+(?=\s)"  # 1.2 followed by a space
    r"|\d{1,3}\s+(?=\S)"  # 1  对违反…
    rf"|[{_CN_DIGITS}]{{1,4}}\s*[、.，：]"  # 一、
    rf"|第[\d{_CN_DIGITS}]{{1,4}}[项条]"  # 第一项
    r")\s*"
)
_ONLY_NUMBERING = re.compile(rf"第?[{_CN_DIGITS}]+[项条]?")
_LEADING_JUNK = re.compile(r"^[。.；，、：！？—\-·•●○■□◆◇▪►▶*★☆※）]+")
_TRAILING_JUNK = re.compile(r"[。.；，、：！？—\-·•●○■□◆◇▪►▶*★☆※（]+$")
_OPEN_RUN = re.compile(r"（{2,}")


def _collapse_brackets(text: str) -> str:
    """Collapse ``（（`` and surplus ``））`` (typing slips) and drop empty ``（）``."""
    if "（（" in text:
        text = _OPEN_RUN.sub("（", text)
    while text.count("）") > text.count("（") and "））" in text:
        cut = text.rfind("））")
        text = text[:cut] + text[cut + 1 :]
    while "（）" in text:
        text = text.replace("（）", "")
    return text


def _strip_numbering(text: str) -> str:
    while match := _NUMBERING.match(text):
        text = text[match.end() :]
    return text


def _normalise_once(text: str) -> str:
    return _after_t2s(to_simplified(_before_t2s(text)))


def _before_t2s(text: str) -> str:
    """The steps of one folding pass before t2s (circled numbers, invisible characters, NFKC)."""
    if _HAS_PRE_NFKC.search(text):
        text = text.translate(_PRE_NFKC)
    return unicodedata.normalize("NFKC", INVISIBLE.sub("", text))


def _after_t2s(text: str) -> str:
    """The steps of one folding pass after t2s (brackets and punctuation, dashes, numbering, junk)."""
    if _HAS_POST_NFKC.search(text):
        text = text.translate(_POST_NFKC)
    if "-" in text:  # the two dash rules need an ASCII hyphen, a run of dashes: most names hold neither
        text = _ASCII_HYPHEN_IN_CJK.sub("—", text)
    if "——" in text:
        text = _DASH_RUN.sub("—", text)
    text = _WHITESPACE.sub("", _strip_numbering(text))
    text = _collapse_brackets(_strip_numbering(text))
    return _TRAILING_JUNK.sub("", _LEADING_JUNK.sub("", text))


def to_simplified_many(texts: list[str]) -> list[str]:
    """``to_simplified`` of each text, in one opencc call: the per-call overhead was two thirds of opencc's time.

    OpenCC converts by matching dictionary phrases, and no phrase holds a newline, so texts joined by
    newlines convert exactly as they do one by one. Texts that hold a newline themselves (none do after
    ``_before_t2s``, which removes control characters) are converted one by one.
    """
    if len(texts) < 2 or any("\n" in text for text in texts):
        return [to_simplified(text) for text in texts]
    converted = to_simplified("\n".join(texts)).split("\n")
    return converted if len(converted) == len(texts) else [to_simplified(text) for text in texts]


# One folding pass (_normalise_once) of the texts seen so far. The second pass of a name only confirms that
# nothing changes any more, and its input is mostly a name already seen: a raw name already in that form,
# or the same item's name from another list.
_FOLDED: dict[str, str] = {}


def _bounded_update(cache: dict, new: dict) -> None:
    """Add ``new`` to a cache of pure results, first dropping its older half when it would outgrow the bound."""
    if len(cache) + len(new) > _CACHE_SIZE:
        for key in list(itertools.islice(cache, len(cache) // 2)):
            cache.pop(key, None)
    cache.update(new)


def normalise_names(values: list[Any]) -> list[str | None]:
    """``normalise_name`` of each value, each folding pass done for all values still changing at once.

    Same passes and stopping rule as ``normalise_name`` (at most 8, until a pass changes nothing), but a
    pass runs once per distinct text (``_FOLDED``) and t2s once per pass over all texts (``to_simplified_many``)
    instead of once per name and pass.
    """
    texts: list[str] = [value for value in values if isinstance(value, str)]
    pending = list(range(len(texts)))
    for _ in range(8):
        if not pending:
            break
        current = [texts[i] for i in pending]
        known = {text: _FOLDED.get(text) for text in current}
        todo = [text for text, found in known.items() if found is None]
        if todo:
            done = dict(
                zip(todo, [_after_t2s(t) for t in to_simplified_many([_before_t2s(t) for t in todo])], strict=True)
            )
            _bounded_update(_FOLDED, done)
            known.update(done)
        folded = [known[text] for text in current]
        still = []
        for i, old, new in zip(pending, current, folded, strict=True):
            if new != old:
                texts[i] = new
                still.append(i)
        pending = still
    done = iter(texts)
    out: list[str | None] = []
    for value in values:
        if not isinstance(value, str):
            out.append(None)
            continue
        text = next(done)
        out.append(None if not _has_letter(text) or _ONLY_NUMBERING.fullmatch(text) else text)
    return out


def _has_letter(text: str) -> bool:
    return any(unicodedata.category(char)[0] == "L" for char in text)


def normalise_name(name: str | None) -> str | None:
    """Fold a raw item name to the form used for matching (rules in the module docstring).

    Returns ``None`` when nothing but digits, punctuation or list numbering remains, so that validation
    can quarantine the row as "name: empty or only numbering/punctuation". Idempotent.
    """
    if not isinstance(name, str):
        return None
    text = name
    for _ in range(8):  # each pass can expose a prefix or a t2s/NFKC form for the next; 2 suffice in practice
        folded = _normalise_once(text)
        if folded == text:
            break
        text = folded
    if not _has_letter(text) or _ONLY_NUMBERING.fullmatch(text):
        return None
    return text


def _fold_text(text: str) -> str:
    """Fold free text (status words, markers) for keyword lookup: NFKC, t2s, no whitespace."""
    return _WHITESPACE.sub("", to_simplified(unicodedata.normalize("NFKC", INVISIBLE.sub("", text))))


# --------------------------------------------------------------------------------------------------
# main item / sub-item

_LEVEL_QUALIFIER = re.compile(r"[省市县区乡镇州]级?(?:[/、和及][省市县区乡镇州]级?)*(?:行使|权限|实施|审批)?")
_NOTE_QUALIFIER = re.compile(r"(?:据|根据|依据|按照)")
_SEPARATORS = ("—", "：")
# "县市场监管局：X" names the department, not a main item: never split there.
_DEPARTMENT_PREFIX = re.compile(
    r"(局|委员会|委|办公室|办|厅|中心|政府|部|所|站|大队|支队|队|处|科|院"
    r"|残联|妇联|工商联|科协|团委)$"
)


_CLOSE_DEPTH = {"）": 1, "（": -1}
_OPEN_DEPTH = {"（": 1, "）": -1}


def _trailing_groups(name: str) -> list[tuple[int, int, str]]:
    """Top-level bracket groups at the end of ``name``, right to left, as (start, end, content)."""
    groups = []
    end = len(name)
    while end > 0 and name[end - 1] == "）":
        depth = 0
        for start in range(end - 1, -1, -1):
            depth += _CLOSE_DEPTH.get(name[start], 0)
            if depth == 0:
                break
        else:
            break
        groups.append((start, end, name[start + 1 : end - 1]))
        end = start
    return groups


def _is_sub_marker(content: str) -> bool:
    for marker, how in current_vocab().sub_markers:
        if content == marker:
            return True
        if how == "prefix" and content.startswith(marker):
            return True
        if how == "suffix" and content.endswith(marker):
            return True
    return False


def split_sub_item(name_norm: str) -> tuple[str, str | None]:
    """Split a normalised name into (main item, sub-item or ``None``); rules in the module docstring.

    Conservative on purpose: a wrong split merges different powers at consolidation, a missed split only
    leaves a sub-item inside its main name, which fuzzy matching still handles.
    """
    for start, end, content in _trailing_groups(name_norm):
        if _LEVEL_QUALIFIER.fullmatch(content) or _NOTE_QUALIFIER.match(content):
            continue
        if _is_sub_marker(content):
            main = name_norm[:start] + name_norm[end:]
            if _has_letter(main):
                return main, content
        break
    if not any(separator in name_norm for separator in _SEPARATORS):
        return name_norm, None  # the scan below splits only at a separator
    depth = 0
    for index, char in enumerate(name_norm):
        depth += _OPEN_DEPTH.get(char, 0)
        if depth == 0 and char in _SEPARATORS:
            main, sub = name_norm[:index], name_norm[index + 1 :]
            if len(main) >= 2 and len(sub) >= 2 and main not in current_vocab().labels and _has_letter(sub):
                if _DEPARTMENT_PREFIX.search(main):
                    break
                return main, sub
            break
    return name_norm, None


# --------------------------------------------------------------------------------------------------
# basic codes

CODE_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Guangdong 实施编码: 18-char department credit code, 1 digit, 12-digit catalogue code, [2-digit 办理项]
    ("guangdong_impl", re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}\d(?P<base>\d{12})(?:\d{2})?")),
    # Sichuan itemCode: basic code - 12-digit area - 3-digit level - implementing body - suffixes
    ("sichuan_item", re.compile(r"(?P<base>[0-9A-Z]+(?:-[0-9A-Z]+)*?)-\d{12}-\d{3}(?:-.*)?")),
    # Sichuan itemCode without area segment: national-style basic code - implementing body
    ("national_with_body", re.compile(r"(?P<base>[A-Z]-\d{6}-\d{3,4})-[0-9A-Z]{8,18}")),
    # bare basic codes
    ("sichuan_basic", re.compile(r"\d{3}[A-Z](?:\d{8}|\d{10})")),  # 511A0138000000, 511A72033001
    ("national_letter", re.compile(r"[A-Z]-\d{6}-\d{3,4}")),  # G-000007-001
    ("catalogue_numeric", re.compile(r"\d{12}|\d{14}")),  # Liaoning/national 210973001000, 51201200200013
    ("zhejiang", re.compile(r"[\u4e00-\u9fff]{2,4}-\d{5}-\d{3}(?:-\d{2})?")),  # 许可-00977-001[-01]
)

CODE_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―─━⁃", "-"))
EXCEL_FLOAT = re.compile(r"(\d+)\.0+")
# ASCII letters, digits and '-': nothing for the steps of _clean_code to remove or fold but the case
_PLAIN_CODE = re.compile(r"[0-9A-Za-z-]+")


def _clean_code(code: str | None) -> str:
    if not isinstance(code, str):
        return ""
    if _PLAIN_CODE.fullmatch(code):
        return code.upper()
    text = _WHITESPACE.sub("", unicodedata.normalize("NFKC", INVISIBLE.sub("", code)))
    text = text.translate(CODE_DASHES).lstrip("'").upper()
    if not text.isascii():
        text = to_simplified(text)
    if match := EXCEL_FLOAT.fullmatch(text):
        text = match.group(1)
    return text


# CODE_FORMS as one regex, form i as group f<i> (its base part as b<i>): a full match of an alternation
# takes the first alternative that matches the whole text, i.e. the first form of the table that does.
_ANY_CODE_FORM = re.compile(
    "|".join(
        f"(?P<f{i}>{pattern.pattern.replace('(?P<base>', f'(?P<b{i}>')})" for i, (_, pattern) in enumerate(CODE_FORMS)
    )
)
_CODE_FORM_BASE = {
    f"f{i}": f"b{i}" if "base" in pattern.groupindex else None for i, (_, pattern) in enumerate(CODE_FORMS)
}


def parse_code(code: str | None) -> tuple[str | None, str | None]:
    """(basic code, warning): the warning is set when a non-empty code has no known format."""
    text = _clean_code(code)
    if text in PLACEHOLDERS:
        return None, None
    if match := _ANY_CODE_FORM.fullmatch(text):
        base = _CODE_FORM_BASE[match.lastgroup]  # type: ignore[index]
        return (match.group(base) if base else text), None
    return None, WARN_CODE_UNRECOGNISED


def parse_base_code(code: str | None) -> str | None:
    """Extract the basic (catalogue) code from a raw code; ``None`` when empty or of unknown format.

    Sichuan ``511A0080600053-512000000000-000-11511800015427357G-1-00`` → ``511A0080600053``;
    ``E-000021-001-1111111111111111`` → ``E-000021-001``; Liaoning ``210973001000`` and Zhejiang
    ``许可-00977-001`` are basic codes already; Guangdong ``11440300MB2C94128A3440217281000`` →
    ``440217281000`` (the 12-digit catalogue tail, gd-policy-kg/README.md; the 33-char variant carries a
    2-digit 办理项 after it, which is dropped). The formats are the table ``CODE_FORMS``.
    """
    return parse_code(code)[0]


# How a basic code tells its power type. "sichuan"/"national_letter" keys are looked up in
# code_types.csv; "label" keys (the national 2-digit type segment, the Zhejiang prefix) in power_types.csv.
_CODE_TYPE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{2}(\d[A-Z])\d{8}(?:\d{2})?"), "sichuan"),  # 51|1A|0138000000
    (re.compile(r"([A-Z])-\d{6}-\d{3,4}"), "national_letter"),  # G|-000007-001
    (re.compile(r"\d{2}(\d{2})\d{8}(?:\d{2})?"), "label"),  # 21|09|73001000 (region, type, dept, item)
    (re.compile(r"([\u4e00-\u9fff]{2,4})-\d{5}-\d{3}(?:-\d{2})?"), "label"),  # 许可|-00977-001
)


def power_type_from_code(base_code: str | None) -> str | None:
    """The power type a basic code states, or ``None`` when its format carries no (known) type.

    Evidence (shared/realdata): in the Sichuan lists the letter after ``51`` + digit agrees with the
    portal's taskType on 1,215 of 1,216 rows (one 511Z item is listed as 裁决): 1A 许可, 1E 裁决,
    1F 确认, 1G 给付, 1Z 其他, 2B/2C 公共服务; ``513A``
    mixes taskTypes and so states nothing. National-style ``E/F/G/H/Z-000000-000`` agree the same way
    (H 奖励, one row). Sichuan's numeric codes ``5120…`` carry type 20 (公共服务) in the position where
    Liaoning's 12-digit codes carry their 2-digit type (checked on all 30 rows) and Guangdong's catalogue
    code ``440217281000`` carries 02 (listed as 行政处罚). Letters not seen in real data (1B, 1C, 1D, 1H …)
    are left out rather than guessed; the quality team can add them to code_types.csv.
    """
    if not base_code:
        return None
    for pattern, scheme in _CODE_TYPE_RULES:
        if match := pattern.fullmatch(base_code):
            key = match.group(1)
            if scheme == "label":
                return current_vocab().labels.get(_fold_label(key))
            return current_vocab().code_types.get((scheme, key))
    return None


# --------------------------------------------------------------------------------------------------
# power types

_LABEL_SUFFIXES = re.compile(r"(?:事项|类别|类型|类)+$")
_BRACKETED = re.compile(r"（[^（）]*）")


def _fold_label(raw: str) -> str:
    """Fold a power-type label for lookup: ``行政許可類`` → ``行政许可``, ``01`` → ``1``, ``5.0`` → ``5``."""
    text = _fold_text(raw).translate(_POST_NFKC).strip("。.；，、：")
    if match := EXCEL_FLOAT.fullmatch(text):
        text = match.group(1)
    if text.isdigit():
        return text.lstrip("0") or "0"
    stripped = _LABEL_SUFFIXES.sub("", text)
    return (stripped or text).upper()


def _label_type(raw: str | None) -> tuple[str | None, bool, str | None]:
    """(type, label given?, warning) for a raw label alone."""
    if not isinstance(raw, str) or _fold_text(raw).upper() in PLACEHOLDERS:
        return None, False, None
    label = _fold_label(raw)
    found = current_vocab().labels.get(label) or current_vocab().labels.get(_fold_label(_BRACKETED.sub("", label)))
    if found:
        return found, True, None
    return None, True, f"power_type: unknown label '{raw.strip()}'"


def _infer_from_name(name_norm: str | None) -> str | None:
    """The first ``type_inference.csv`` pattern found in the name without its trailing brackets."""
    if not name_norm:
        return None
    groups = _trailing_groups(name_norm)
    core = name_norm[: groups[-1][0]] if groups else name_norm
    core = core or name_norm
    for pattern, power_type in current_vocab().inference:
        if pattern.search(core):
            return power_type
    return None


def map_power_type(
    raw: str | None, name_norm: str | None, base_code: str | None = None
) -> tuple[str | None, bool, str | None]:
    """Canonical power type for a row: (type or ``None`` if the label is unknown, inferred?, warning).

    A given label decides alone (unknown → ``None`` plus a ``power_type: unknown label`` warning, which
    validation turns into a quarantine). Without one, the type comes from ``base_code`` (optional; see
    ``power_type_from_code``), else from the name, else 其他行政权力, with a warning saying which.
    """
    power_type, given, warning = _label_type(raw)
    if given:
        return power_type, False, warning
    if from_code := power_type_from_code(base_code):
        return from_code, True, WARN_TYPE_FROM_CODE
    if from_name := _infer_from_name(name_norm):
        return from_name, True, WARN_TYPE_FROM_NAME
    return DEFAULT_POWER_TYPE, True, WARN_TYPE_DEFAULTED


# --------------------------------------------------------------------------------------------------
# status


def map_status(raw: str | None) -> str:
    """One of the six statuses: the first keyword of ``statuses.csv`` found in the text, else 未注明."""
    if not isinstance(raw, str):
        return DEFAULT_STATUS
    text = _fold_text(raw)
    for keyword, status in current_vocab().statuses:
        if keyword in text:
            return status
    return DEFAULT_STATUS


# --------------------------------------------------------------------------------------------------
# the vectorised frame transform


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A row-frame column, or all ``None`` when a caller's frame lacks it."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


_STR_OR_NONE = frozenset({str, type(None)})


class _Distinct:
    """The distinct values of one column, and for each row which of them it holds.

    Lists repeat the same names, codes and labels across thousands of places, so every scalar rule runs
    once per distinct value and the results are spread back to the rows by index: that is what makes a
    million rows take seconds. Missing cells (``None``/NaN) count as one more value, ``None``.
    """

    def __init__(self, values: pd.Series) -> None:
        if values.dtype == object:
            cells = values.tolist()
            if set(map(type, cells)) <= _STR_OR_NONE:
                # what pd.factorize gives for str/None cells (first-seen order, None as -1), with dicts in C
                uniques = dict.fromkeys(cells)
                uniques.pop(None, None)
                index = {value: i for i, value in enumerate(uniques)}
                self.codes = np.fromiter(map(index.get, cells, repeat(-1)), dtype=np.intp, count=len(cells))
                self.values: list[Any] = [*uniques, None]
                return
        self.codes, uniques = pd.factorize(values, use_na_sentinel=True)
        self.values = [*uniques, None]  # the sentinel -1 of missing cells selects the last

    def rows(self, per_value: Sequence[Any]) -> np.ndarray:
        """Spread one result per distinct value (in ``self.values`` order) back to the rows."""
        return np.fromiter(per_value, dtype=object, count=len(per_value))[self.codes]


# One run normalises every list of the country, and lists repeat each other's names (a national run has
# ~5 rows per distinct raw name): results are kept across calls, not only within one frame. The rules are
# pure functions of the text and the current vocabulary (``use_vocab`` empties them when it changes);
# the bound keeps a national run's cache to a few hundred MB. lru_cache is thread-safe.
_CACHE_SIZE = 1 << 19


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalise_name_cached(value: str | None) -> str | None:
    return normalise_name(value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def name_facts(value: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(name_norm, main name, sub-item, type inferred from the name) of one raw name."""
    norm = normalise_name(value)
    main, sub = (None, None) if norm is None else split_sub_item(norm)
    return norm, main, sub, _infer_from_name(norm)


# name_facts of the names seen so far, filled by name_facts_many. A dict rather than lru_cache because the
# names not yet seen are normalised together (``normalise_names``); when full, the older half is dropped.
_NAME_FACTS: dict[Any, tuple[str | None, str | None, str | None, str | None]] = {}


def name_facts_many(values: list[Any]) -> list[tuple[str | None, str | None, str | None, str | None]]:
    """``name_facts`` of each value; the values not in the cache are normalised in one batch.

    Safe with threads: a lookup that misses (another thread dropped the entry) is only computed again.
    """
    cache = _NAME_FACTS
    facts = list(map(cache.get, values))
    if None not in facts:
        return facts  # type: ignore[return-value]
    missing = [value for value, found in zip(values, facts, strict=True) if found is None]
    computed = {}
    for value, norm in zip(missing, normalise_names(missing), strict=True):
        main, sub = (None, None) if norm is None else split_sub_item(norm)
        computed[value] = (norm, main, sub, _infer_from_name(norm))
    _bounded_update(cache, computed)
    return [computed[value] if found is None else found for value, found in zip(values, facts, strict=True)]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def code_facts(value: str | None) -> tuple[str | None, str | None, str | None]:
    """(basic code, warning, type stated by the basic code) of one raw code.

    Implementation codes are distinct per place, but a run reads each place's list in several frames
    (sheets, versions) and the same catalogue codes recur: a third of the calls of a 1M-row run.
    """
    base, warning = parse_code(value)
    return base, warning, _type_from_code(base)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _type_from_code(base_code: str | None) -> str | None:
    """``power_type_from_code``, cached: basic codes are shared by every place that lists the power."""
    return power_type_from_code(base_code)


@functools.lru_cache(maxsize=4096)
def _label_facts(raw: str | None) -> tuple[str | None, bool, str | None]:
    """``_label_type``, cached: a run has a few dozen distinct labels."""
    return _label_type(raw)


@functools.lru_cache(maxsize=4096)
def _status(raw: str | None) -> str:
    """``map_status``, cached: a run has a few hundred distinct status texts."""
    return map_status(raw)


def normalise(frame: pd.DataFrame, vocab: Vocab | None = None) -> pd.DataFrame:
    """Return a new frame with the normalised columns added (docs/architecture.md); rows keep their order.

    ``vocab``: the vocabulary to use (``use_vocab``); None keeps the current one (data/vocab by default).

    Added: ``name_norm``, ``main_name``, ``sub_item``, ``power_type``, ``power_type_inferred`` (bool),
    ``base_code``, ``status`` and ``norm_warnings`` (a list of ``column: message`` strings per row).
    The result of every row equals that of the scalar functions (``map_power_type`` with the row's
    ``base_code``); only the order of evaluation differs.
    """
    if vocab is not None:
        use_vocab(vocab)
    with gc_paused():
        return _normalise(frame)


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    names = _Distinct(_column(frame, "name_raw"))
    norms, mains, subs_of_name, name_types = zip(*name_facts_many(names.values), strict=True)
    name_norm = names.rows(norms)
    main_name = names.rows(mains)
    sub_item = names.rows(subs_of_name)
    name_type = names.rows(name_types)

    subs = _Distinct(_column(frame, "sub_item_raw"))
    sub_values = list(map(_normalise_name_cached, subs.values))
    if sub_values.count(None) < len(sub_values):  # else no row has a sub-item cell of its own
        sub_norm = subs.rows(sub_values)
        own_sub = ~pd.isna(sub_norm) & ~pd.isna(name_norm) & (sub_norm != name_norm)
        main_name[own_sub] = name_norm[own_sub]
        sub_item[own_sub] = sub_norm[own_sub]

    codes = _Distinct(_column(frame, "code_raw"))
    bases, warnings_of_code, types_of_code = zip(*map(code_facts, codes.values), strict=True)
    base_code = codes.rows(bases)
    code_warning = codes.rows(warnings_of_code)
    code_type = codes.rows(types_of_code)

    labels = _Distinct(_column(frame, "power_type_raw"))
    label_results = [_label_facts(value) for value in labels.values]
    label_type = labels.rows([power_type for power_type, _given, _warning in label_results])
    label_given = labels.rows([given for _type, given, _warning in label_results]).astype(bool)
    label_warning = labels.rows([warning for _type, _given, warning in label_results])

    # Lowest precedence first, each later source overrides: default < name < code < stated label.
    power_type = np.full(len(frame), DEFAULT_POWER_TYPE, dtype=object)
    type_warning = np.full(len(frame), WARN_TYPE_DEFAULTED, dtype=object)
    for mask, types, warnings in (
        (~pd.isna(name_type), name_type, WARN_TYPE_FROM_NAME),
        (~pd.isna(code_type), code_type, WARN_TYPE_FROM_CODE),
        (label_given, label_type, label_warning),
    ):
        power_type[mask] = types[mask]
        type_warning[mask] = warnings[mask] if isinstance(warnings, np.ndarray) else warnings

    statuses = _Distinct(_column(frame, "status_raw"))
    status = statuses.rows([_status(value) for value in statuses.values])
    norm_warnings = [
        [first, second] if first and second else [first] if first else [second] if second else []
        for first, second in zip(type_warning.tolist(), code_warning.tolist(), strict=True)
    ]

    def objects(values: Any) -> pd.Series:
        return pd.Series(values, index=frame.index, dtype=object)

    return frame.assign(
        name_norm=objects(name_norm),
        main_name=objects(main_name),
        sub_item=objects(sub_item),
        power_type=objects(power_type),
        power_type_inferred=pd.Series(~label_given, index=frame.index, dtype=bool),
        base_code=objects(base_code),
        status=objects(status),
        norm_warnings=objects(norm_warnings),
    )
