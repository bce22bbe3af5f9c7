"""Parse a list row's legal basis (设定依据/实施依据) into the instruments it cites and their authority.

Why: the reform rules ask *by what kind of instrument* a power was created. A 行政许可 that only a local
government rule or a normative document (规范性文件) sets is one the 放管服 reforms require to be
cancelled (行政许可法 第十四至十七条: only laws, administrative regulations, State Council decisions and, within
limits, local regulations and provincial government rules may set licences). The lists write their bases
as free text, so this module reads that text the way a reviewer does.

What the texts look like (real Liaoning rows, ``data/realdata/liaoning``)::

    【法律】《中华人民共和国专利法》（根据…《关于修改〈中华人民共和国专利法〉的决定》第四次修正）
    第六十五条　未经专利权人许可，…可以依照《中华人民共和国行政诉讼法》向人民法院起诉；…
    【地方性法规】《辽宁省专利条例》(2013年…通过，自2014年3月1日起施行）
    【规章】港口危险货物安全管理规定（中华人民共和国交通运输部令2017年第27号）第五十八条　…
    【规范性文件】《残疾退役军人医疗保障办法》退役军人部发〔2022〕3号

So a *citation* is an instrument at the head of a clause (start of text or line, after a tag, a numbering
``1.``/``（一）``, a lead word ``依据``/``根据``, a sentence end ``。；``, or right after another citation and
its article numbers). Instruments inside quoted article text, inside an amendment note in brackets, or in
the middle of a sentence (``依照《中华人民共和国行政诉讼法》向人民法院起诉``) are *not* bases of the item and
are skipped. Article numbers (``第六十五条``) that follow a citation, or that open a later line before the
next citation, are attached to it.

Authority comes from three kinds of evidence, strongest first:

1. the name itself when it is unambiguous (``中华人民共和国…法`` → 法律; ``国务院关于…的决定`` → 国务院决定),
2. the document number next to the name (``国务院令第442号`` → 行政法规; ``…部令`` → 部门规章;
   ``辽宁省人民政府令`` → 地方政府规章; ``…发〔2022〕3号``/``公告…第24号`` → 规范性文件),
3. a place prefix (``辽宁省…条例`` → 地方性法规, ``…办法/规定`` → 地方政府规章, else 规范性文件).

The list's own tag (【法律】, 【规章】…) is trusted whenever it agrees with that evidence — 【规章】 is split
into 部门规章/地方政府规章 by the evidence — and overruled when it contradicts strong evidence: the real
data tags 《辽宁省矿产资源权益金制度改革实施方案》（辽政发【2017】33号） as 【行政法规】. Without tag or
strong evidence the suffix decides weakly (《…条例》 → 行政法规, 《…办法》 → 部门规章, 《…通知》 → 规范性文件).
Each citation also gets a ``scope`` (``national`` | ``local`` | ``unknown``): who issued it, which is what
"locally set" means in ``transforms.examine.reform``.

Parsing runs once per *distinct* text (lists repeat the same basis many times), see ``parse_many``.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.ingest.jurisdictions import BUNDLED_REGISTRY

AUTHORITIES: tuple[str, ...] = (
    "法律",
    "行政法规",
    "国务院决定",
    "部门规章",
    "地方性法规",
    "地方政府规章",
    "规范性文件",
    "未知",
)
UNKNOWN = "未知"
SCOPES: tuple[str, ...] = ("national", "local", "unknown")

#: One row per (item, cited instrument); written as ``OUT/citations.parquet``.
CITATIONS = pa.schema(
    [
        ("item_id", pa.string()),
        ("position", pa.int32()),  # 1-based order of the citation in the item's legal basis
        ("instrument", pa.string()),  # name as cited, without 《》, NFKC-folded, spaces removed
        ("authority", pa.string()),  # one of AUTHORITIES
        ("scope", pa.string()),  # national | local | unknown: who issued it
        ("articles", pa.string()),  # e.g. 第二十五条第一款、第二条; null when none given
        ("tag", pa.string()),  # the list's own tag without 【】 (法律, 规章 …); null when untagged
    ]
)

# ----------------------------------------------------------------------------------------------- tags

_NATIONAL_SET = frozenset({"法律", "行政法规", "国务院决定", "部门规章"})
_LOCAL_SET = frozenset({"地方性法规", "地方政府规章", "规范性文件"})

#: What each tag written in the lists allows. 【规章】 is either kind of rule; evidence decides which.
_TAG_AUTHORITIES: dict[str, frozenset[str]] = {
    "法律": frozenset({"法律"}),
    "国家法律": frozenset({"法律"}),
    "行政法规": frozenset({"行政法规"}),
    "国务院行政法规": frozenset({"行政法规"}),
    "国务院决定": frozenset({"国务院决定"}),
    "法规": frozenset({"行政法规", "地方性法规"}),
    "部门规章": frozenset({"部门规章"}),
    "国务院部门规章": frozenset({"部门规章"}),
    "规章": frozenset({"部门规章", "地方政府规章"}),
    "政府规章": frozenset({"地方政府规章"}),
    "地方政府规章": frozenset({"地方政府规章"}),
    "省政府规章": frozenset({"地方政府规章"}),
    "地方规章": frozenset({"地方政府规章"}),
    "地方性法规": frozenset({"地方性法规"}),
    "地方法规": frozenset({"地方性法规"}),
    "自治条例": frozenset({"地方性法规"}),
    "单行条例": frozenset({"地方性法规"}),
    "自治条例和单行条例": frozenset({"地方性法规"}),
    "规范性文件": frozenset({"规范性文件"}),
    "其他规范性文件": frozenset({"规范性文件"}),
    "部门规范性文件": frozenset({"规范性文件"}),
    "行政规范性文件": frozenset({"规范性文件"}),
    "国务院文件": frozenset({"国务院决定", "规范性文件"}),
    "其他": frozenset(),
    "其它": frozenset(),
    "司法解释": frozenset(),
    "党内法规": frozenset(),
}
_TAG_LIKE = re.compile(r"^[\u4e00-\u9fff]{0,8}(?:法律|法规|规章|文件|决定|条例)$")

# ------------------------------------------------------------------------------------------- patterns

_NUM = r"[0-9零〇一二三四五六七八九十百千两]+"
_ART_ONE = (
    rf"(?:附件\s*\d*\s*)?第\s*{_NUM}\s*条(?:\s*之\s*[一二三四五六七八九十]+)?"
    rf"(?:\s*第\s*\(?\s*{_NUM}\s*\)?\s*[款项目])*"
    rf"|(?:附件\s*\d*\s*)?第\s*{_NUM}\s*项"
)
_ARTICLES = re.compile(rf"(?:{_ART_ONE})(?:\s*(?:[、,和及与或至到]|以及)\s*(?:{_ART_ONE}))*")
_TAG = re.compile(r"【\s*([^【】\n]{1,14}?)\s*】")
_INSTRUMENT = re.compile(r"《((?:[^《》\n]|《[^《》\n]*》){1,200})》")
#: What may stand between a clause start and the instrument it cites.
_LEAD_IN = re.compile(
    r"[ \t]+"
    r"|[,、;:。.．·*#\-—_'‘’“”]+"
    r"|\d{1,3}\s*[.、):．](?!\d)"
    r"|\d{1,3}(?=\s*[《【])"
    r"|\(\s*[0-9一二三四五六七八九十]{1,3}\s*\)"
    r"|[一二三四五六七八九十]{1,3}\s*[、.．]"
    r"|[①-⑳]"
    r"|(?:[\u4e00-\u9fff]{0,6}依据(?:为|是|有)?|根据|按照|依照|参照|详见|见)\s*:?"
)
_CONNECTOR = re.compile(r"\s*(?:[、,和及与或]|以及)\s*")
_SUFFIXES = (
    "法",
    "条例",
    "规定",
    "办法",
    "细则",
    "规则",
    "决定",
    "决议",
    "意见",
    "通知",
    "公告",
    "通告",
    "方案",
    "规程",
    "目录",
    "名录",
    "清单",
    "标准",
    "规范",
    "批复",
    "解释",
    "措施",
    "纲要",
    "规划",
    "准则",
    "守则",
    "章程",
    "制度",
    "指南",
    "指引",
    "要点",
    "纪要",
    "函",
    "令",
)
_SUFFIX_ALT = "|".join(sorted(_SUFFIXES, key=len, reverse=True))
_QUALIFIER = r"(?:\((?:试行|暂行|修订|修正|草案)\))?"
#: An instrument named without 《》 right after a tag: 【规章】港口危险货物安全管理规定（…令…）第五十八条.
_BARE_AFTER_TAG = re.compile(
    rf"[\u4e00-\u9fff〈〉·]{{1,60}}?(?:{_SUFFIX_ALT}){_QUALIFIER}(?=\s*(?:\(|〔|第|\n|$|[,、;。:]))"
)
#: Untagged, without 《》, only when an article number follows: 中华人民共和国行政许可法第十二条.
_BARE_WITH_ARTICLE = re.compile(
    rf"[\u4e00-\u9fff〈〉·]{{2,60}}?(?:法|条例|规定|办法|细则|规则|决定){_QUALIFIER}"
    rf"(?=\s*(?:\([^()\n]{{0,120}}\)\s*)?第\s*{_NUM}\s*条)"
)
#: A document number (with whatever precedes it on the same clause: issuer, dates).
_ORDER_NO = re.compile(
    rf"令\s*(?:[〔\[【(]\s*\d{{4}}\s*[〕\]】)]\s*|\d{{4}}\s*年\s*)?(?:第\s*)?{_NUM}\s*号|第\s*{_NUM}\s*号\s*令"
)
_FILE_NO = re.compile(r"[〔\[【(]\s*(?:19|20)\d{2}\s*[〕\]】)]\s*第?\s*\d+\s*号")
_NOTICE_NO = re.compile(r"(?:公告|通告)\s*(?:(?:19|20)\d{2}\s*年\s*)?第\s*\d+\s*号")
_APPROVED = re.compile(r"国务院(?:常务会议)?批准")
_DOC_PREFIX = re.compile(
    rf"[\u4e00-\u9fff、]{{1,20}}?(?:令\s*(?:第\s*)?{_NUM}\s*号|第\s*{_NUM}\s*号\s*令)"
    r"|[\u4e00-\u9fff]{1,12}[〔\[【]\s*(?:19|20)\d{2}\s*[〕\]】]\s*第?\s*\d+\s*号"
)
_ISSUER_TAIL = re.compile(r"[\u4e00-\u9fff、]+$")
_LOCAL_FILE_ISSUER = re.compile(r"政发|政办|府发|府办|政规|府规|政函|府函")
_NATIONAL_ISSUER = re.compile(r"^国|部|总局|署|中央|人民银行|银保监|证监|银监|保监|国家")
#: Bare "names" that are really sentence fragments: 违反本法…, 依照本条例….
_NOT_A_NAME = re.compile(r"本(?:法|条例|规定|办法|细则|规则|决定)|^(?:违反|依照|依据|按照|根据|对|由|经|在)")
_QUOTED_TEXT = re.compile(r"“(?!\s*《)[^“”]{0,3000}”")
_INNER_DATE = re.compile(r"\([^()]*(?:\d{4}|修正|修订|号|施行|通过|公布|发布)[^()]*\)")
_SPACES = re.compile(r"\s+")
_BODY_STOP = re.compile(r"[\n【《。;]")

_NORMATIVE_SUFFIXES = (
    "通知",
    "意见",
    "公告",
    "通告",
    "批复",
    "函",
    "方案",
    "纪要",
    "目录",
    "名录",
    "清单",
    "指南",
    "指引",
    "要点",
    "措施",
    "纲要",
    "规划",
    "标准",
    "规范",
)
_RULE_SUFFIXES = ("办法", "规定", "细则", "规则", "规程", "准则", "守则", "制度")
_LOCAL_WORD_PREFIXES = (
    "省人民政府",
    "市人民政府",
    "县人民政府",
    "省政府",
    "市政府",
    "本省",
    "本市",
    "全省",
    "省委",
    "市委",
)
_GENERIC_PLACE = re.compile(r"^[\u4e00-\u9fff]{2,8}?(?:省|自治区|特别行政区|自治州)")


# ------------------------------------------------------------------------------------ authority logic


@dataclass(frozen=True)
class _Evidence:
    """What the name and its document number say: the authorities still possible, a best guess, scope."""

    allowed: frozenset[str] | None  # None: nothing strong, any authority possible
    guess: str
    scope: str


@lru_cache(maxsize=1)
def _place_names() -> frozenset[str]:
    """Province, city and county names (3+ characters) of the bundled registry: local-instrument prefixes."""
    names: set[str] = set()
    try:
        with BUNDLED_REGISTRY.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                name = (row.get("name") or "").strip()
                if len(name) >= 3 and (row.get("level") or "").strip() in ("province", "city", "county"):
                    names.add(name)
    except OSError:  # a missing registry must not break parsing; the generic pattern still applies
        pass
    return frozenset(names)


def _place_prefix(name: str) -> bool:
    """Whether the instrument's name starts with a place (辽宁省…, 沈阳市…): it was made locally."""
    if name.startswith(_LOCAL_WORD_PREFIXES) or _GENERIC_PLACE.match(name):
        return True
    places = _place_names()
    return any(name[:k] in places for k in range(3, min(len(name), 12)))


def _core(name: str) -> str:
    """The name without a trailing qualifier or date note, for suffix tests: …办法(试行) → …办法."""
    core = name
    while core.endswith(")") and "(" in core:
        core = core[: core.rfind("(")]
    return core or name


def _suffix_guess(core: str) -> str:
    """The weak, suffix-only guess for a nationally named instrument."""
    if core.endswith("法") and not core.endswith("办法"):
        return "法律"
    if core.endswith("条例") or re.search(r"法实施细则$", core):
        return "行政法规"
    if core.endswith(_RULE_SUFFIXES):
        return "部门规章"
    if core.endswith(_NORMATIVE_SUFFIXES):
        return "规范性文件"
    return UNKNOWN


def _local_guess(core: str) -> str:
    if "人民代表大会" in core or core.endswith(("条例", "自治条例", "单行条例")):
        return "地方性法规"
    if core.endswith(_RULE_SUFFIXES):
        return "地方政府规章"
    return "规范性文件"


def _name_evidence(core: str) -> _Evidence | None:
    """Strong evidence from the name alone, or None."""
    if core.startswith("中华人民共和国") and core.endswith("法") and not core.endswith("办法"):
        return _Evidence(frozenset({"法律"}), "法律", "national")
    if core.startswith("全国人民代表大会") and core.endswith(("决定", "决议", "解释")):
        return _Evidence(frozenset({"法律"}), "法律", "national")
    if re.match(r"^国务院(?:关于|对)", core) and core.endswith("决定"):
        return _Evidence(frozenset({"国务院决定"}), "国务院决定", "national")
    if re.match(r"^(?:国务院|中共中央|中央|国家)[\u4e00-\u9fff、]{0,30}?关于", core) and core.endswith(
        (*_NORMATIVE_SUFFIXES, "决定")
    ):
        return _Evidence(frozenset({"规范性文件"}), "规范性文件", "national")
    return None


def _issuer_before(text: str, end: int) -> str:
    match = _ISSUER_TAIL.search(text[:end])
    return match.group(0) if match else ""


def _document_evidence(trailer: str, core: str) -> _Evidence | None:
    """Evidence from the document number next to the name; the first number in the trailer wins."""
    if not trailer:
        return None
    found: list[tuple[int, _Evidence]] = []
    order = _ORDER_NO.search(trailer)
    if order:
        issuer = _issuer_before(trailer, order.start())
        if "主席" in issuer:
            evidence = _Evidence(frozenset({"法律"}), "法律", "national")
        elif "国务院" in issuer:
            guess = "国务院决定" if core.endswith("决定") else "行政法规"
            evidence = _Evidence(frozenset({"行政法规", "国务院决定"}), guess, "national")
        elif "政府" in issuer:
            evidence = _Evidence(frozenset({"地方政府规章"}), "地方政府规章", "local")
        else:
            evidence = _Evidence(frozenset({"部门规章"}), "部门规章", "national")
        found.append((order.start(), evidence))
    approved = _APPROVED.search(trailer)
    if approved:
        found.append((approved.start(), _Evidence(frozenset({"行政法规"}), "行政法规", "national")))
    for pattern in (_FILE_NO, _NOTICE_NO):
        number = pattern.search(trailer)
        if number is None:
            continue
        issuer = _issuer_before(trailer, number.start())
        if issuer.endswith("令"):
            continue
        if _LOCAL_FILE_ISSUER.search(issuer) and not issuer.startswith("国"):
            scope = "local"
        elif _NATIONAL_ISSUER.search(issuer):
            scope = "national"
        else:
            scope = "unknown"
        if issuer.startswith("国发") and core.endswith("决定"):
            evidence = _Evidence(frozenset({"国务院决定"}), "国务院决定", "national")
        else:
            evidence = _Evidence(frozenset({"规范性文件"}), "规范性文件", scope)
        found.append((number.start(), evidence))
    if not found:
        return None
    return min(found, key=lambda pair: pair[0])[1]


def classify(instrument: str, trailer: str = "", tag: str | None = None) -> tuple[str, str]:
    """``(authority, scope)`` of one cited instrument, from its name, document number and the list's tag.

    Public so that reviewers (and tests) can ask about a single name: ``classify("辽宁省专利条例")``.
    """
    core = _core(instrument)
    place = _place_prefix(core)
    evidence = _name_evidence(core) or _document_evidence(trailer, core)
    if evidence is None and place:
        evidence = _Evidence(_LOCAL_SET, _local_guess(core), "local")
    if evidence is not None and place and evidence.scope != "local":
        # A place-named instrument is local whatever its number says (辽宁省…办法（…令…）).
        allowed = evidence.allowed & _LOCAL_SET if evidence.allowed else _LOCAL_SET
        if not allowed:
            allowed = _LOCAL_SET
        guess = evidence.guess if evidence.guess in allowed else _local_guess(core)
        evidence = _Evidence(frozenset(allowed), guess, "local")
    weak_guess = _suffix_guess(core)
    tag_allowed = _TAG_AUTHORITIES.get(tag) if tag else None
    if tag and tag_allowed is None and tag.endswith("规章"):
        tag_allowed = _TAG_AUTHORITIES["规章"]
    if tag_allowed:
        candidates = tag_allowed if evidence is None or evidence.allowed is None else tag_allowed & evidence.allowed
        if candidates:
            guess = evidence.guess if evidence is not None else weak_guess
            if len(candidates) == 1:
                authority = next(iter(candidates))
            elif guess in candidates:
                authority = guess
            else:
                authority = next(a for a in AUTHORITIES if a in candidates)
            return authority, _scope(authority, evidence)
    if evidence is not None:
        return evidence.guess, _scope(evidence.guess, evidence)
    return weak_guess, _scope(weak_guess, None)


def _scope(authority: str, evidence: _Evidence | None) -> str:
    if authority in _NATIONAL_SET:
        return "national"
    if authority in ("地方性法规", "地方政府规章"):
        return "local"
    return evidence.scope if evidence is not None else "unknown"


# -------------------------------------------------------------------------------------------- scanner


@dataclass
class _Citation:
    instrument: str
    tag: str | None
    trailer: str
    tag_serial: int
    articles: list[str] = field(default_factory=list)


def _clean_text(text: str) -> str:
    """NFKC (full-width spaces, digits, brackets), unified line breaks, no stray or quoting marks."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace('"', " ").replace("\u200b", "").replace("\ufeff", "")
    return _QUOTED_TEXT.sub(" ", text)


def _clean_name(name: str) -> str:
    name = _SPACES.sub("", name).strip("\"'“”‘’")
    cleaned = _INNER_DATE.sub("", name)
    return cleaned or name


def _balanced_paren(text: str, pos: int, limit: int = 400) -> int:
    """End (exclusive) of the parenthesised group opening at ``pos``, or ``pos`` when unbalanced."""
    depth = 0
    for i in range(pos, min(len(text), pos + limit)):
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        elif char == "\n":
            return pos
    return pos


def _trailer(text: str, pos: int) -> tuple[str, int]:
    """The note after a name — ``(…国务院令第442号…)`` or ``退役军人部发〔2022〕3号`` — and where it ends."""
    start = pos
    while start < len(text) and text[start] in " \t":
        start += 1
    if start < len(text) and text[start] == "(":
        end = _balanced_paren(text, start)
        if end > start:
            return text[start + 1 : end - 1], end
    number = _DOC_PREFIX.match(text, start)
    if number and len(number.group(0)) <= 40:
        return number.group(0), number.end()
    return "", pos


def _tag_at(text: str, pos: int) -> tuple[str, int] | None:
    match = _TAG.match(text, pos)
    if match is None:
        return None
    tag = _SPACES.sub("", match.group(1)).rstrip(":")
    if tag in _TAG_AUTHORITIES or _TAG_LIKE.match(tag):
        return tag, match.end()
    return None


def _add_articles(citation: _Citation, raw: str) -> None:
    articles = _SPACES.sub("", raw)
    if articles and articles not in citation.articles:
        citation.articles.append(articles)


def _scan(text: str) -> list[_Citation]:
    """Walk the text once; see the module docstring for what counts as a citation."""
    head, after, body = 0, 1, 2
    state = head
    line_head = True  # the clause opens a line (not a sentence inside a line): bare names allowed
    tag: str | None = None
    tag_serial = 0
    tag_used = False
    tag_fresh = False  # a tag was read in this clause and no citation has used it yet
    pending_trailer = ""
    bracketed = False  # some citation so far was written 《…》
    citations: list[_Citation] = []
    pos, n = 0, len(text)
    while pos < n:
        char = text[pos]
        if char == "\n":
            state, line_head = head, True
            if tag_used:
                tag, tag_used, tag_fresh = None, False, False
            pending_trailer = ""
            pos += 1
            continue
        if char == "【":
            found = _tag_at(text, pos)
            if found is not None:
                tag, pos = found
                tag_serial += 1
                tag_used, tag_fresh, state, pending_trailer = False, True, head, ""
                continue
        if state == body:
            stop = _BODY_STOP.search(text, pos + 1 if char not in "\n【《。;" else pos)
            if stop is None:
                break
            pos = stop.start()
            char = text[pos]
            if char in "。;":
                state, line_head = head, False
                pos += 1
            elif char == "《":
                match = _INSTRUMENT.match(text, pos)
                pos = match.end() if match else pos + 1
            elif char == "【" and _tag_at(text, pos) is None:
                pos += 1
            continue
        if char == "《":
            match = _INSTRUMENT.match(text, pos)
            if match is None:
                state, pos = body, pos + 1
                continue
            name = _clean_name(match.group(1))
            core = _core(name)
            if name and (tag_fresh or core.endswith(_SUFFIXES)):
                trailer, pos = _trailer(text, match.end())
                citations.append(_Citation(name, tag, trailer or pending_trailer, tag_serial))
                tag_used, tag_fresh, pending_trailer, state, bracketed = True, False, "", after, True
            else:
                state, pos = body, match.end()
            continue
        if state == after:
            if char in " \t":
                pos += 1
                continue
            articles = _ARTICLES.match(text, pos)
            if articles:
                _add_articles(citations[-1], articles.group(0))
                pos = articles.end()
                continue
            connector = _CONNECTOR.match(text, pos)
            if connector and connector.end() > pos:
                pos = connector.end()
                continue
            if char == "(":
                end = _balanced_paren(text, pos)
                if end > pos:
                    pos = end
                    continue
            state = body
            continue
        # state == head
        if citations and citations[-1].tag_serial == tag_serial and not tag_fresh:
            articles = _ARTICLES.match(text, pos)
            if articles:  # a later line or sentence that opens with an article of the last citation
                _add_articles(citations[-1], articles.group(0))
                pos, state = articles.end(), body
                continue
        number = _DOC_PREFIX.match(text, pos)
        if number and text.startswith("《", number.end()):  # 国务院令第412号《…》: the number comes first
            pending_trailer, pos = number.group(0), number.end()
            continue
        lead = _LEAD_IN.match(text, pos)
        if lead and lead.end() > pos:
            pos = lead.end()
            continue
        bare = None
        if tag_fresh:
            bare = _BARE_AFTER_TAG.match(text, pos)
        elif line_head and not bracketed:  # a text that names its bases in 《》 does so throughout
            bare = _BARE_WITH_ARTICLE.match(text, pos)
        if bare and not _NOT_A_NAME.search(bare.group(0)):
            name = _clean_name(bare.group(0))
            trailer, pos = _trailer(text, bare.end())
            citations.append(_Citation(name, tag, trailer or pending_trailer, tag_serial))
            tag_used, tag_fresh, pending_trailer, state = True, False, "", after
            continue
        state, line_head = body, False
    return citations


def _merge(citations: list[_Citation]) -> list[dict[str, str | None]]:
    """One dict per distinct instrument, in order of first citation; articles of repeats are merged."""
    out: dict[str, dict[str, str | None]] = {}
    articles: dict[str, list[str]] = {}
    for citation in citations:
        authority, scope = classify(citation.instrument, citation.trailer, citation.tag)
        key = citation.instrument
        if key not in out:
            out[key] = {
                "instrument": citation.instrument,
                "authority": authority,
                "scope": scope,
                "articles": None,
                "tag": citation.tag,
            }
            articles[key] = []
        elif out[key]["authority"] == UNKNOWN and authority != UNKNOWN:
            out[key].update(authority=authority, scope=scope, tag=citation.tag or out[key]["tag"])
        for article in citation.articles:
            if article not in articles[key]:
                articles[key].append(article)
    for key, entry in out.items():
        entry["articles"] = "、".join(articles[key]) or None
    return list(out.values())


def parse_citations_strict(text: str) -> list[dict[str, str | None]]:
    """``parse_citations`` without its safety net (the property test runs this one, so bugs show)."""
    return _merge(_scan(_clean_text(text)))


def parse_citations(text: str | None) -> list[dict[str, str | None]]:
    """The instruments a legal-basis text cites, in order, one dict per distinct instrument.

    Each dict has ``instrument`` (name without 《》), ``authority`` (one of ``AUTHORITIES``), ``scope``
    (``national``/``local``/``unknown``), ``articles`` (``第六十五条``… or None) and ``tag`` (the list's
    own 【…】 label, or None). Never raises: anything unreadable yields fewer citations, not an error,
    because one odd cell must not stop a run of millions of rows.
    """
    if text is None or not isinstance(text, str) or not text.strip():
        return []
    try:
        return parse_citations_strict(text)
    except Exception:  # a parser bug on one odd cell must not fail a run: that cell yields no citations
        return []


# ------------------------------------------------------------------------------------------ vectorised


def parse_many(texts: pd.Series) -> pd.DataFrame:
    """Citations of many texts, parsed once per distinct text.

    Returns one row per (input position ``row``, citation) with columns ``row`` (0-based position in
    ``texts``), ``position`` (1-based within the text), ``instrument``, ``authority``, ``scope``,
    ``articles``, ``tag``; rows of ``texts`` without citations do not appear.
    """
    columns = ["row", "position", "instrument", "authority", "scope", "articles", "tag"]
    if len(texts) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    codes, uniques = pd.factorize(texts.astype(object), use_na_sentinel=True)
    parsed = [parse_citations(u if isinstance(u, str) else None) for u in uniques]
    counts = np.array([len(p) for p in parsed] + [0], dtype=np.int64)  # last slot: missing texts
    flat = [c for p in parsed for c in p]
    starts = np.concatenate([[0], np.cumsum(counts[:-1])])
    per_row = counts[codes]
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), per_row)
    if len(rows) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    offsets = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    flat_index = starts[codes[rows]] + offsets
    frame = pd.DataFrame(flat, columns=["instrument", "authority", "scope", "articles", "tag"])
    out = frame.iloc[flat_index].reset_index(drop=True)
    out.insert(0, "position", (offsets + 1).astype(np.int32))
    out.insert(0, "row", rows)
    return out[columns]


def citations_table(items: pd.DataFrame) -> pa.Table:
    """``CITATIONS``: one row per (item, cited instrument), sorted by ``item_id`` then ``position``."""
    if items.empty or "legal_basis" not in items:
        return CITATIONS.empty_table()
    parsed = parse_many(items["legal_basis"].reset_index(drop=True))
    if parsed.empty:
        return CITATIONS.empty_table()
    ids = items["item_id"].astype(object).to_numpy()
    parsed.insert(0, "item_id", ids[parsed["row"].to_numpy()])
    parsed = parsed.drop(columns="row")
    table = pa.Table.from_pandas(parsed[CITATIONS.names], schema=CITATIONS, preserve_index=False)
    return table.sort_by([("item_id", "ascending"), ("position", "ascending")])
