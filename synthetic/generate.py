"""Deterministic synthetic power-list trees with known cross-level truth.

Real lists give us only one labelled pair (the Sichuan city and district lists share 64 basic codes), far
too little to measure matching quality, throughput or the findings. This module writes whole trees of
lists — a province, all its cities and counties — whose items are real item names (and recombinations of
their stems) carried down the registry's parent chain with the noise real lists show, and it records which
row is the counterpart of which (``truth.csv``) so link precision/recall can be scored exactly.

Pure Python (no Prefect, no pandas per row): rows are built as lists and written with the ``csv``/``json``
modules and openpyxl's write-only mode, so the national tree (~3,200 lists, ~10M rows) takes minutes.
Every random choice comes from ``random.Random`` objects seeded from ``(seed, jurisdiction code)`` and all
iteration is over sorted or ordered sequences, so the same seed gives byte-identical files.

Truth semantics (one row per link, child → ancestor list):

* every data row carries a key ``(item, sub_item)``; rows of one item in different lists are counterparts;
* a child row links to the ancestor row with the same key; a child sub-item ``X（变更）`` whose ancestor only
  lists the main item ``X`` links to that main item (a *split* below);
* a child main item ``X`` whose ancestor lists only sub-items of ``X`` (a *merge* below) has **no** link to
  that ancestor: no single ancestor row is its counterpart, so the honest truth is "none";
* local-only items (set by the jurisdiction itself), and items a county takes directly from the province,
  have no link to the lists that do not hold them; bad rows are never in the truth.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import random
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transforms.publish.schema import POWER_TYPES

REPO_ROOT = Path(__file__).resolve().parent.parent
REGISTRY_PATH = REPO_ROOT / "data" / "registry" / "regions.csv"
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
# The real lists bundled with the sample seed the name pool (see data/sample/PROVENANCE.md).
SEED_ZIYANG = SAMPLE_DIR / "sichuan" / "512000_ziyang_city.csv"
SEED_GUANGAN = SAMPLE_DIR / "sichuan" / "511602_guangan_district.xlsx"
SEED_LIAONING = SAMPLE_DIR / "liaoning" / "210000_liaoning_province.json"

FORMATS = ("csv", "csv-gb18030", "xlsx", "json")
FIXED_TIMESTAMP = dt.datetime(2024, 1, 1, 0, 0, 0)
TRUTH_COLUMNS = (
    "child_source_id",
    "child_sheet",
    "child_row_no",
    "parent_source_id",
    "parent_sheet",
    "parent_row_no",
)
BAD_ROW_COLUMNS = ("source_id", "sheet", "row_no", "kind")

# The 11 canonical types (CONTRACT §4), in the order of transforms.publish.schema.POWER_TYPES.
TYPES: tuple[str, ...] = POWER_TYPES
T_LICENCE, T_PENALTY, T_FORCE, T_LEVY, T_GRANT, T_CHECK, T_CONFIRM, T_AWARD, T_RULING, T_OTHER, T_SERVICE = range(11)
# National 2-digit type codes as in the Liaoning catalogue (and Sichuan's taskType without the zero).
TYPE_NUM2 = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "20")
SICHUAN_TASK_TYPE = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "8": 7, "9": 8, "10": 9, "20": 10}
TYPE_SHORT = ("许可", "处罚", "强制", "征收", "给付", "检查", "确认", "奖励", "裁决", "其他", "公共服务")
TYPE_STYLES = ("full", "full", "short", "approval", "num2")
# Letters used in Sichuan-style basic codes (inferred from the real lists: A licence, F confirmation, Z other).
SICHUAN_LETTER = ("A", "B", "C", "D", "E", "H", "F", "G", "J", "Z", "B")

STATUS_KEEP, STATUS_DEVOLVE, STATUS_ENTRUST, STATUS_CANCEL, STATUS_RECEIVE = "保留", "下放", "委托", "取消", "承接"

# CONTRACT §3 aliases the generator draws headers from (ambiguous ones such as 编号/备注 are left out).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "seq": ("序号",),
    "name": ("事项名称", "权力名称", "职权名称", "权力事项名称", "行政职权名称", "项目名称"),
    "sub_item": ("子项名称", "子项", "办理项名称"),
    "code": ("事项编码", "权力编码", "职权编码", "实施编码", "基本编码", "目录编码", "编码"),
    "power_type": ("权力类型", "事项类型", "职权类型", "职权类别", "权力类别", "类别"),
    "department": ("实施主体", "实施机关", "实施部门", "责任部门", "职能部门", "主管部门"),
    "legal_basis": ("设定依据", "实施依据", "设定和实施依据", "法律依据", "依据"),
    "status": ("状态", "处理意见", "调整意见", "调整情况", "下放情况"),
    "responsibility": ("责任事项", "监管责任"),
    "time_limit": ("承诺时限",),  # maps to nothing: lands in ``extra``
}
SUB_ITEMS = ("新申请", "变更", "注销", "延续")
LEVEL_QUALIFIERS = {
    "province": ("（省级）", "（省级权限）"),
    "city": ("（市级）", "（市级权限）"),
    "county": ("（县级）", "（县级权限）", "（县级行使）"),
}
RESPONSIBILITY = {
    T_LICENCE: "1.受理责任：公示应当提交的材料，一次性告知补正材料。2.审查责任：对申请材料进行审查。"
    "3.决定责任：作出准予或者不予许可的决定。4.送达责任：制发并送达证件。5.事后监管责任：依法开展监督检查。",
    T_PENALTY: "1.立案责任。2.调查责任。3.审查责任。4.告知责任。5.决定责任。6.送达责任。7.执行责任。"
    "8.其他法律法规规章文件规定应履行的责任。",
    T_FORCE: "1.催告责任。2.决定责任。3.执行责任。4.事后监管责任。",
    T_CHECK: "1.检查责任：按照规定开展监督检查。2.处置责任：对检查中发现的问题依法处理。3.信息公开责任。",
}
RESPONSIBILITY_DEFAULT = "1.受理责任。2.审查责任。3.决定责任。4.送达责任。5.事后监管责任。"
CN_DIGITS = "零一二三四五六七八九"
BAD_KINDS = ("empty_name", "numbering_only", "unknown_type", "formula", "ragged")

_BRACKET_CONTENT = re.compile(r"[（(][^（）()]*[）)]")
_ALREADY_SUB = re.compile(r"[（(）)]|变更|注销|延续|新办|补办|补证|换证|撤销|终止|停业|歇业|迁移")
_PUNISH = re.compile(r"^对(.+?)(行为)?的(行政)?处罚$")
_CANON_DROP = str.maketrans("", "", " \u3000\t（）()【】[]《》〈〉<>「」“”\"'、，,.。·")


# --------------------------------------------------------------------------------------------------
# Small text helpers (public: data/sample/build_sample.py uses them for the derived sample lists)
# --------------------------------------------------------------------------------------------------


def cn_number(n: int) -> str:
    """Chinese numeral for 1..99 (一, 十二, 二十三), as list numbering uses it."""
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else CN_DIGITS[tens % 10]
    return head + "十" + (CN_DIGITS[ones] if ones else "")


def numbering_prefix(n: int, style: int) -> str:
    """One of the numbering prefixes real lists put inside name cells: ``1.`` ``（一）`` ``一、`` ``1、``."""
    if style == 0:
        return f"{n}."
    if style == 1:
        return f"（{cn_number((n - 1) % 99 + 1)}）"
    if style == 2:
        return f"{cn_number((n - 1) % 99 + 1)}、"
    return f"{n}、"


def half_width_brackets(text: str) -> str:
    """（）→ (), the most common width difference between lists."""
    return text.replace("（", "(").replace("）", ")")


def full_width_brackets(text: str) -> str:
    """() → （）."""
    return text.replace("(", "（").replace(")", "）")


def canonical_key(name: str) -> str:
    """A crude identity of a name used to keep the pool free of near-duplicates.

    Two pool names that differ only by width, brackets, spaces or the 对…(行为)的(行政)处罚 wording would be
    indistinguishable after the noise applied below, so the truth would be ambiguous; the pool keeps one.
    """
    text = unicodedata.normalize("NFKC", name).translate(_CANON_DROP)
    match = _PUNISH.match(text)
    if match:
        text = f"对{match.group(1)}的处罚"
    return text.replace("行为的处罚", "的处罚")


def punish_variant(name: str, rng: random.Random) -> str:
    """Rewrite 对X的处罚 as one of its wordings (对X行为的处罚, 对X的行政处罚, …); others unchanged."""
    match = _PUNISH.match(name)
    if not match:
        return name
    core = match.group(1)
    if core.endswith("行为"):
        core = core[:-2]
    forms = [f"对{core}的处罚", f"对{core}行为的处罚", f"对{core}的行政处罚", f"对{core}行为的行政处罚"]
    others = [f for f in forms if f != name]
    return rng.choice(others)


def sub_item_name(main: str, sub: str, style: str) -> str:
    """Render a sub-item (办理项) the way a list spells it: ``X（变更）``, ``X(变更)``, ``X变更`` or ``X-变更``."""
    if style == "half":
        return f"{main}({sub})"
    if style == "plain":
        return f"{main}{sub}"
    if style == "dash":
        return f"{main}-{sub}"
    return f"{main}（{sub}）"


@functools.lru_cache(maxsize=1)
def _s2t_converter():  # -> object with .convert(str, int)
    try:
        import opencc

        if hasattr(opencc, "OpenCC"):
            conv = opencc.OpenCC("s2t")
            return lambda text: conv.convert(text)
    except ImportError:  # pragma: no cover - opencc is a project dependency
        pass
    # The installed wheel may lack opencc/__init__.py; its compiled core and configs are still usable.
    import opencc.clib as clib
    from opencc.clib import opencc_clib

    config = Path(clib.__file__).parent / "share" / "opencc" / "s2t.json"
    core = opencc_clib._OpenCC(str(config))
    return lambda text: core.convert(text, len(text.encode("utf-8")))


def to_traditional(texts: Sequence[str]) -> list[str]:
    """Simplified → traditional (OpenCC s2t), batched in one call because per-string calls dominate."""
    if not texts:
        return []
    joined = "\n".join(t.replace("\n", " ") for t in texts)
    out = _s2t_converter()(joined).split("\n")
    if len(out) != len(texts):  # pragma: no cover - OpenCC keeps line breaks
        return [_s2t_converter()(t) for t in texts]
    return out


@dataclass(frozen=True)
class NameNoise:
    """Per-row probabilities of the name variations real lower-level lists show relative to the upper list."""

    punish_variant: float = 0.35  # applies only to 对…的处罚 names
    level_qualifier: float = 0.04  # （县级） / （市级权限）
    whitespace: float = 0.03
    bracket_flip: float = 0.04
    numbering: float = 0.01
    department_prefix: float = 0.015
    char_drop: float = 0.008


DEFAULT_NOISE = NameNoise()


def noisy_name(
    name: str, rng: random.Random, *, level: str, department: str = "", noise: NameNoise = DEFAULT_NOISE
) -> str:
    """Apply row-level noise to a derived item name; each variation is drawn independently."""
    r = rng.random
    if noise.punish_variant and name.startswith("对") and r() < noise.punish_variant:
        name = punish_variant(name, rng)
    if r() < noise.level_qualifier:
        name += rng.choice(LEVEL_QUALIFIERS.get(level, LEVEL_QUALIFIERS["county"]))
    if r() < noise.bracket_flip:
        name = half_width_brackets(name) if "（" in name else full_width_brackets(name)
    if r() < noise.char_drop and len(name) > 8:
        pos = rng.randrange(3, len(name) - 2)
        if name[pos] not in "（）()《》":
            name = name[:pos] + name[pos + 1 :]
    if department and r() < noise.department_prefix:
        name = department + name if r() < 0.7 else f"{department}：{name}"
    if r() < noise.whitespace:
        kind = rng.randrange(4)
        if kind == 0 and len(name) > 2:
            pos = rng.randrange(1, len(name) - 1)
            name = name[:pos] + " " + name[pos:]
        elif kind == 1:
            name = name + "  "
        elif kind == 2:
            name = "\u3000" + name
        elif len(name) > 2:
            pos = rng.randrange(1, len(name) - 1)
            name = name[:pos] + "\u3000" + name[pos:]
    if r() < noise.numbering:
        name = numbering_prefix(rng.randrange(1, 40), rng.randrange(4)) + name
    return name


# --------------------------------------------------------------------------------------------------
# Fixed-timestamp xlsx writing
# --------------------------------------------------------------------------------------------------


class _FixedTimeZip(zipfile.ZipFile):
    """A ZipFile that stamps every member with one fixed time, so the same workbook gives the same bytes."""

    _stamp = (2024, 1, 1, 0, 0, 0)

    def _info(self, arcname: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(arcname, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):  # type: ignore[override]
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):  # type: ignore[override]
        with open(filename, "rb") as handle:
            self.writestr(self._info(arcname or Path(filename).name), handle.read())


def save_workbook_deterministic(workbook, path: Path) -> None:
    """Save an openpyxl workbook with fixed document properties and zip timestamps (byte-identical reruns)."""
    from openpyxl.writer.excel import ExcelWriter

    workbook.properties.created = FIXED_TIMESTAMP
    workbook.properties.modified = FIXED_TIMESTAMP
    workbook.properties.creator = "powerlists"
    with _FixedTimeZip(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()


def _col_letter(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def write_xlsx(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    sheet: str,
    title_rows: Sequence[str] = (),
    merge_column: int | None = None,
) -> int:
    """Write one sheet: title rows (the first merged across the header), the header, then the rows.

    ``merge_column`` (0-based) vertically merges runs of equal values in that column, as departments are
    merged in published workbooks; only the first cell of a run keeps the value. Returns the Excel row
    number of the first data row.
    """
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    width = len(header)
    for i, text in enumerate(title_rows, start=1):
        ws.append([text] + [None] * (width - 1))
        if i == 1 and width > 1:
            ws.merged_cells.add(f"A1:{_col_letter(width)}1")
    ws.append(list(header))
    first = len(title_rows) + 2
    if merge_column is None:
        for row in rows:
            ws.append(list(row))
    else:
        letter = _col_letter(merge_column + 1)
        run_start = 0
        for i, row in enumerate(rows):
            out = list(row)
            if i > run_start and row[merge_column] == rows[run_start][merge_column]:
                out[merge_column] = None
            else:
                if i - 1 > run_start:
                    ws.merged_cells.add(f"{letter}{first + run_start}:{letter}{first + i - 1}")
                run_start = i
            ws.append(out)
        if len(rows) - 1 > run_start:
            ws.merged_cells.add(f"{letter}{first + run_start}:{letter}{first + len(rows) - 1}")
    save_workbook_deterministic(wb, path)
    return first


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    encoding: str = "utf-8",
    lineterminator: str = "\n",
) -> int:
    """Write a CSV with the csv module (quoting as needed); returns the line number of the first data row.

    Callers keep newlines out of cells so that one record is one physical line (row_no = line number).
    """
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator=lineterminator)
        writer.writerow(header)
        writer.writerows(rows)
    return 2


def write_json(path: Path, records: Sequence[dict[str, object]], *, indent: int | None = 1) -> int:
    """Write a JSON array of objects (UTF-8, non-ASCII kept); returns the row_no of the first element."""
    text = json.dumps(list(records), ensure_ascii=False, indent=indent)
    path.write_text(text + "\n", encoding="utf-8")
    return 1


# --------------------------------------------------------------------------------------------------
# Seeds from the real lists and the name pool
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolName:
    """One candidate item: a name with its power type, department stem and legal-basis citation."""

    name: str
    type_idx: int
    dept: str
    basis: str
    real: bool


@dataclass(frozen=True)
class Seed:
    """What the generator borrows from the real lists."""

    names: tuple[PoolName, ...]  # real item names with their real types
    departments: tuple[str, ...]  # department stems without the place prefix (市场监管局, 人社局 …)
    citations: tuple[str, ...]  # short legal-basis citations 【法律】《…》第…条
    full_bases: tuple[str, ...]  # the full Liaoning 依据 texts (multi-line)
    laws: tuple[str, ...]  # law titles usable in 对违反《X》行为的处罚


def _dept_stem(raw: str) -> str:
    stem = raw.strip()
    for prefix in ("广安区", "资阳市", "区", "市", "县"):
        if stem.startswith(prefix) and len(stem) > len(prefix) + 1:
            stem = stem[len(prefix) :]
            break
    replacements = {"市监局": "市场监管局", "公安分局": "公安局", "消防大队": "消防救援大队"}
    return replacements.get(stem, stem)


_LIAONING_DEPTS = {
    "09": "公安局",
    "11": "民政局",
    "15": "自然资源局",
    "16": "生态环境局",
    "17": "住建局",
    "18": "交通运输局",
    "20": "农业农村局",
    "21": "商务局",
    "22": "文化和旅游局",
    "23": "卫健局",
    "24": "退役军人事务局",
    "25": "应急管理局",
    "30": "税务局",
    "31": "市场监管局",
    "39": "新闻出版局",
    "64": "林业局",
    "72": "药品监管局",
    "73": "知识产权局",
    "75": "档案局",
    "76": "保密局",
    "99": "财政局",
}


def _read_seed_guangan(path: Path) -> list[tuple[str, str, str]]:
    """(name, task_type, department) rows of the real 广安区 list (xlsx with merged department cells)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header: list[str] | None = None
    out: list[tuple[str, str, str]] = []
    dept = ""
    for row in rows:
        cells = ["" if v is None else str(v) for v in row]
        if header is None:
            if "事项名称" in cells:
                header = cells
            continue
        rec = dict(zip(header, cells, strict=False))
        dept = rec.get("实施部门") or rec.get("部门") or dept
        if rec.get("事项名称"):
            out.append((rec["事项名称"], rec.get("事项类型", ""), dept))
    wb.close()
    return out


_CITATION = re.compile(r"【([^】]{1,8})】\s*《([^》]{2,40})》")
_ARTICLE = re.compile(r"第[一二三四五六七八九十百零]+条")


@functools.lru_cache(maxsize=1)
def load_seed() -> Seed:
    """Read the real lists bundled in data/sample (资阳市, 广安区, 辽宁省) once per process."""
    names: list[PoolName] = []
    depts: set[str] = set()
    with SEED_ZIYANG.open(encoding="utf-8-sig", newline="") as handle:
        for rec in csv.DictReader(handle):
            t = SICHUAN_TASK_TYPE.get(rec["事项类型"].strip(), T_OTHER)
            names.append(PoolName(rec["事项名称"].strip(), t, "市场监管局", "", True))
    for name, task, dept in _read_seed_guangan(SEED_GUANGAN):
        stem = _dept_stem(dept)
        depts.add(stem)
        names.append(PoolName(name.strip(), SICHUAN_TASK_TYPE.get(task.strip(), T_OTHER), stem, "", True))
    citations: list[str] = []
    full: list[str] = []
    laws: list[str] = []
    for rec in json.loads(SEED_LIAONING.read_text(encoding="utf-8")):
        code = rec["事项类型"]
        t = TYPE_NUM2.index(code) if code in TYPE_NUM2 else T_AWARD
        basis = rec["依据"]
        full.append(basis)
        for match in _CITATION.finditer(basis):
            tag, title = match.group(1), match.group(2)
            article = _ARTICLE.search(basis, match.end(), match.end() + 400)
            citations.append(f"【{tag}】《{title}》" + (article.group(0) if article else ""))
            if title.endswith(("法", "条例", "办法", "规定", "细则")) and "决定" not in title and "〈" not in title:
                laws.append(title)
        dept = _LIAONING_DEPTS.get(rec["授权部门"], "")
        if dept:
            depts.add(dept)
        first = citations[-1] if citations else ""
        names.append(PoolName(rec["事项名称"].strip(), t, dept or "政务服务管理局", first, True))
    return Seed(
        names=tuple(names),
        departments=tuple(sorted(depts)),
        citations=tuple(dict.fromkeys(citations)),
        full_bases=tuple(full),
        laws=tuple(dict.fromkeys(laws)),
    )


_ACTION_SUFFIXES = tuple(
    sorted(
        (
            "许可证核发",
            "许可证",
            "许可",
            "核发",
            "审批",
            "核准",
            "登记",
            "备案",
            "认定",
            "确认",
            "注册",
            "变更",
            "注销",
            "延续",
            "补办",
            "补证",
            "换证",
            "新办",
            "申请",
            "办理",
            "查询",
            "咨询",
            "发放",
            "申报",
            "审查",
            "审核",
            "初审",
            "年检",
            "证明",
            "服务",
            "给付",
            "鉴定",
            "验收",
            "裁决",
            "奖励",
            "征收",
            "检查",
            "首次",
            "设立",
            "证书",
            "证",
        ),
        key=len,
        reverse=True,
    )
)

# Templates per power type; {s} is a name stem taken from a real item name. Stems of licence-like items
# (licences, confirmations, filings, rulings) get the regulatory templates, stems of service-like items
# (public services, grants, levies, awards) the service ones, so recombined names stay plausible.
_REGULATORY_TYPES = frozenset((T_LICENCE, T_PENALTY, T_FORCE, T_CHECK, T_CONFIRM, T_OTHER, T_RULING))
_TEMPLATES: tuple[tuple[str, int], ...] = (
    ("{s}许可", T_LICENCE),
    ("{s}许可证核发", T_LICENCE),
    ("{s}审批", T_LICENCE),
    ("{s}核准", T_LICENCE),
    ("对{s}违法行为的处罚", T_PENALTY),
    ("对未经许可擅自从事{s}活动的处罚", T_PENALTY),
    ("对{s}中弄虚作假的处罚", T_PENALTY),
    ("对{s}相关场所、物品的查封、扣押", T_FORCE),
    ("对{s}的监督检查", T_CHECK),
    ("{s}登记", T_CONFIRM),
    ("{s}确认", T_CONFIRM),
    ("{s}备案", T_OTHER),
    ("{s}信息查询", T_SERVICE),
    ("{s}咨询服务", T_SERVICE),
    ("{s}补助发放", T_GRANT),
    ("{s}纠纷裁决", T_RULING),
    ("{s}相关费用征收", T_LEVY),
    ("对{s}工作中做出突出贡献的单位和个人的奖励", T_AWARD),
)


def _stem(name: str) -> str | None:
    text = _BRACKET_CONTENT.sub("", name).strip()
    text = _BRACKET_CONTENT.sub("", text)
    if text.startswith("对"):
        match = re.match(r"对(.+?)(?:违法行为|行为|进行|的)", text)
        if not match or "违反" in match.group(1):
            return None
        text = match.group(1)
    for word in ("许可", "审批", "登记", "备案", "认定", "注册", "核准"):
        pos = text.find(word)
        if pos >= 3:
            text = text[:pos]
    for _ in range(3):
        for suffix in _ACTION_SUFFIXES:
            if text.endswith(suffix) and len(text) - len(suffix) >= 2:
                text = text[: -len(suffix)]
                break
        else:
            break
    if not 3 <= len(text) <= 16 or any(ch in text for ch in "《》/、，,：:（）()"):
        return None
    return text


@dataclass(frozen=True)
class NamePool:
    """Distinct candidate names (real first, then template recombinations), plus lookup helpers."""

    entries: tuple[PoolName, ...]
    n_real: int
    keys: frozenset[str]
    seed: Seed


@functools.lru_cache(maxsize=1)
def build_name_pool() -> NamePool:
    """All real names plus template recombinations of their stems, deduplicated by ``canonical_key``.

    Fixed (independent of the run's seed), so a province's catalogue is a seeded draw from the same pool.
    """
    seed = load_seed()
    rng = random.Random(20240601)
    seen: set[str] = set()
    entries: list[PoolName] = []

    def add(entry: PoolName) -> None:
        key = canonical_key(entry.name)
        if entry.name and key not in seen:
            seen.add(key)
            entries.append(entry)

    for entry in seed.names:
        add(entry)
    n_real = len(entries)
    stems: dict[str, tuple[str, int]] = {}
    for entry in seed.names:
        stem = _stem(entry.name)
        if stem and stem not in stems:
            stems[stem] = (entry.dept, entry.type_idx)
    citations = seed.citations or ("",)
    for law in seed.laws:
        add(PoolName(f"对违反《{law}》行为的处罚", T_PENALTY, rng.choice(seed.departments), f"《{law}》", False))
    for stem in sorted(stems):
        regulatory = stems[stem][1] in _REGULATORY_TYPES
        for template, type_idx in _TEMPLATES:
            if (type_idx in _REGULATORY_TYPES) != regulatory and type_idx != T_CHECK:
                continue
            add(
                PoolName(
                    template.format(s=stem).replace("信息信息", "信息"),
                    type_idx,
                    stems[stem][0],
                    rng.choice(citations),
                    False,
                )
            )
    return NamePool(entries=tuple(entries), n_real=n_real, keys=frozenset(seen), seed=seed)


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str
    parent: str


@functools.lru_cache(maxsize=4)
def _read_registry(path: Path = REGISTRY_PATH) -> tuple[Region, ...]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return tuple(
            Region(r["code"].strip(), r["name"].strip(), r["level"].strip(), (r["parent_code"] or "").strip())
            for r in csv.DictReader(handle)
        )


# --------------------------------------------------------------------------------------------------
# Province state: catalogue items, their attributes and codes
# --------------------------------------------------------------------------------------------------

Key = tuple[int, str | None]


@dataclass
class _Province:
    """Per-province item table. Items are indices; lists hold rows that point at them."""

    code: str
    name: str
    code_scheme: str
    traditional: bool
    names: list[str] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    depts: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    subopts: list[tuple[str, ...]] = field(default_factory=list)
    free: list[int] = field(default_factory=list)  # pool indices not used by the catalogue (for local items)

    def add_item(self, entry: PoolName, pool_keys: frozenset[str], basis: str) -> int:
        self.names.append(entry.name)
        self.types.append(entry.type_idx)
        self.depts.append(entry.dept or "政务服务管理局")
        self.bases.append(basis)
        subs: tuple[str, ...] = ()
        name = entry.name
        if entry.type_idx in (T_LICENCE, T_CONFIRM, T_OTHER) and not _ALREADY_SUB.search(name):
            # X（变更） must not collide with another pool name such as X变更
            subs = tuple(s for s in SUB_ITEMS if canonical_key(name + s) not in pool_keys)
        self.subopts.append(subs)
        return len(self.names) - 1

    def basic_code(self, idx: int, sub: str | None) -> str:
        main = idx + 1
        sub_no = 0 if sub is None else SUB_ITEMS.index(sub) + 1
        t = self.types[idx]
        p2 = self.code[:2]
        scheme = self.code_scheme
        if scheme == "sc14":
            head = f"{p2}2B" if t == T_SERVICE else f"{p2}1{SICHUAN_LETTER[t]}"
            return f"{head}{10 + main // 100000:02d}{main % 100000:05d}{sub_no:03d}"
        if scheme == "sc12":
            head = f"{p2}2B" if t == T_SERVICE else f"{p2}1{SICHUAN_LETTER[t]}"
            return f"{head}{10 + main // 1000:02d}{main % 1000:03d}{sub_no:03d}"
        if scheme == "ln12":
            return f"{p2}{TYPE_NUM2[t]}{10 + main // 1000:02d}{main % 1000:03d}{sub_no:03d}"
        return f"{TYPE_SHORT[t]}-{main:05d}-{sub_no:03d}"


def _credit_code(jcode: str, dept: str) -> str:
    """A made-up, deterministic 18-character unified social credit code for a department."""
    digits = sum((i + 1) * ord(ch) for i, ch in enumerate(jcode + dept)) * 7919
    body = f"{digits:011d}"[-11:]
    return f"11{jcode[:4]}{body}{'ABCDEFGHJKLMNPQRTUWXY'[digits % 21]}"


# --------------------------------------------------------------------------------------------------
# Lists
# --------------------------------------------------------------------------------------------------


@dataclass
class _ListSpec:
    """How one list file looks: format, headers, value styles. Drawn once per list from its own rng."""

    source_id: str
    code: str
    name: str
    level: str
    fmt: str
    rel_path: str
    published: dt.date
    columns: list[str]
    headers: list[str]
    type_style: str
    status_explicit: bool
    code_form: str
    sub_style: str
    half_brackets: bool
    numbering_style: int | None
    traditional: bool
    order_style: str
    title_rows: list[str]
    sheet: str
    json_seq_int: bool
    merge_dept: bool
    utf8_bom: bool
    crlf: bool


@dataclass
class _Row:
    """A data row before rendering: the item key, its status, and a sort position."""

    idx: int
    sub: str | None
    status: str
    pos: float


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join([str(seed), *map(str, parts)]))


def _make_spec(
    rng: random.Random, region: Region, fmt: str, published: dt.date, province_code: str, traditional: bool
) -> _ListSpec:
    level = region.level
    cols = ["seq"] if rng.random() < 0.92 else []
    name_cols = ["name"]
    sub_style = rng.choices(("full", "plain", "dash", "column"), (0.55, 0.25, 0.05, 0.15))[0]
    if sub_style == "column":
        name_cols.append("sub_item")
    has_code = rng.random() < (0.85 if level == "province" else 0.68)
    if has_code and rng.random() < 0.5:
        cols += ["code", *name_cols]
    else:
        cols += name_cols + (["code"] if has_code else [])
    if rng.random() < 0.95:
        cols.append("power_type")
    if rng.random() < 0.9:
        cols.append("department")
    if rng.random() < 0.6:
        cols.append("legal_basis")
    if rng.random() < {"province": 1.0, "city": 0.7}.get(level, 0.6):
        cols.append("status")
    if rng.random() < 0.35:
        cols.append("responsibility")
    if rng.random() < 0.15:
        cols.append("time_limit")
    en_keys = fmt == "json" and rng.random() < 0.25
    headers = []
    for col in cols:
        if en_keys and col in ("name", "code"):
            headers.append("itemName" if col == "name" else "itemCode")
            continue
        header = rng.choice(HEADER_ALIASES[col])
        if len(header) >= 4 and rng.random() < 0.05:
            header = header[:2] + " " + header[2:]
        headers.append(header)
    place = region.name
    title_kind = rng.randrange(3)
    title = (
        f"{place}行政职权事项目录",
        f"{place}权责清单",
        f"{place}权力清单（{published.year}年版）",
    )[title_kind]
    title_rows = [title] + (["单位：项"] if rng.random() < 0.5 else [])
    scheme_impl = fmt != "json" and rng.random() < 0.5
    return _ListSpec(
        source_id=f"{region.code}-v1",
        code=region.code,
        name=region.name,
        level=level,
        fmt=fmt,
        rel_path=f"{province_code}/{region.code}.{'xlsx' if fmt == 'xlsx' else fmt.split('-')[0]}",
        published=published,
        columns=cols,
        headers=headers,
        type_style=rng.choice(TYPE_STYLES),
        status_explicit=rng.random() < 0.5,
        code_form="impl" if scheme_impl else "basic",
        sub_style=sub_style,
        half_brackets=rng.random() < 0.25,
        numbering_style=rng.randrange(4) if rng.random() < 0.08 else None,
        traditional=traditional and rng.random() < 0.5,
        order_style=rng.choice(("type", "dept", "none")),
        title_rows=title_rows,
        sheet=rng.choice(("Sheet1", "权力清单", "行政职权目录", "事项目录")),
        json_seq_int=rng.random() < 0.5,
        merge_dept=rng.random() < 0.5,
        utf8_bom=rng.random() < 0.3,
        crlf=rng.random() < 0.3,
    )


def _dept_label(level: str, region: Region, province_name: str, stem: str, full: bool) -> str:
    if level == "province":
        if full:
            return f"{province_name}{stem}"
        kind = "自治区" if province_name.endswith("自治区") else province_name[-1]
        return f"{kind}{stem}"
    if full:
        return f"{region.name}{stem}"
    last = region.name[-1]
    if level == "city":
        return f"市{stem}"
    return f"{last if last in '区县市旗' else '县'}{stem}"


def _type_label(type_idx: int, style: str) -> str:
    if style == "short":
        return TYPE_SHORT[type_idx]
    if style == "approval" and type_idx == T_LICENCE:
        return "行政审批"
    if style == "num2":
        return TYPE_NUM2[type_idx]
    return TYPES[type_idx]


@dataclass
class _Rendered:
    header: list[str]
    cells: list[list[object]]
    keys: list[Key | None]  # None for bad rows
    bad: list[str | None]  # bad-row kind or None


class _Generator:
    """Builds and writes one tree; split out of generate_tree to keep the per-province state together."""

    def __init__(
        self,
        out_dir: Path,
        seed: int,
        items_per_list: int,
        formats: Sequence[str],
        bad_row_share: float,
        noise: NameNoise,
    ) -> None:
        self.out_dir = out_dir
        self.seed = seed
        self.ipl = items_per_list
        self.formats = tuple(formats)
        self.bad_share = bad_row_share
        self.noise = noise
        self.pool = build_name_pool()
        self.n_rows = 0
        self.n_links = 0
        self.n_bad = 0

    # ---- catalogue -------------------------------------------------------------------------------

    def province_catalogue(self, prov: Region, traditional: bool) -> tuple[_Province, list[_Row]]:
        rng = _rng(self.seed, "catalogue", prov.code)
        pool = self.pool
        scheme = rng.choice(("sc14", "sc14", "sc12", "ln12", "zj"))
        state = _Province(prov.code, prov.name, scheme, traditional)
        n_target = max(1, round(self.ipl * 1.3))
        n_real = min(round(n_target * 0.5), round(pool.n_real * 0.8))
        real_idx = rng.sample(range(pool.n_real), n_real)
        synth_all = list(range(pool.n_real, len(pool.entries)))
        n_synth = min(n_target - n_real, len(synth_all))
        synth_idx = rng.sample(synth_all, n_synth)
        chosen = real_idx + synth_idx
        rng.shuffle(chosen)
        used = set(chosen)
        state.free = [i for i in range(len(pool.entries)) if i not in used]
        rng.shuffle(state.free)
        citations = pool.seed.citations or ("",)
        rows: list[_Row] = []
        for pos, pool_i in enumerate(chosen):
            entry = pool.entries[pool_i]
            idx = state.add_item(entry, pool.keys, self._basis(rng, entry, citations))
            status = rng.choices(
                (STATUS_KEEP, STATUS_DEVOLVE, STATUS_ENTRUST, STATUS_CANCEL), (0.89, 0.06, 0.02, 0.03)
            )[0]
            subs = state.subopts[idx]
            if len(subs) >= 2 and rng.random() < 0.03:
                for k, sub in enumerate(rng.sample(subs, rng.randint(2, min(3, len(subs))))):
                    rows.append(_Row(idx, sub, status, pos + k * 0.01))
            else:
                rows.append(_Row(idx, None, status, float(pos)))
        return state, rows

    def _basis(self, rng: random.Random, entry: PoolName, citations: Sequence[str]) -> str:
        roll = rng.random()
        if roll < 0.15:
            return ""
        if roll < 0.17 and self.pool.seed.full_bases:
            return rng.choice(self.pool.seed.full_bases)
        if entry.basis:
            if entry.basis.startswith("《"):
                return f"【法律】{entry.basis}第{cn_number(rng.randint(10, 80))}条"
            return entry.basis
        return rng.choice(citations)

    def local_items(
        self, state: _Province, rng: random.Random, k: int, exclude: set[int]
    ) -> tuple[list[int], list[int]]:
        """Fresh items for one list whose names no ancestor list uses (so 'no counterpart' is unambiguous).

        Returns the new item indices and the pool indices they took (a child list must avoid those).
        """
        if k <= 0 or not state.free:
            return [], []
        take = min(len(state.free), k + len(exclude))
        picks = [i for i in rng.sample(state.free, take) if i not in exclude][:k]
        citations = self.pool.seed.citations or ("",)
        items = []
        for pool_i in picks:
            entry = self.pool.entries[pool_i]
            items.append(state.add_item(entry, self.pool.keys, self._basis(rng, entry, citations)))
        return items, picks

    # ---- derivation ------------------------------------------------------------------------------

    def derive(
        self,
        state: _Province,
        rng: random.Random,
        parent_rows: Sequence[_Row],
        level: str,
        n_target: int,
        province_rows: Sequence[_Row] | None,
        exclude_pool: set[int],
    ) -> tuple[list[_Row], set[int]]:
        """Carry a parent's rows down: subset, splits/merges, devolution, plus local-only items."""
        groups: dict[int, list[_Row]] = {}
        for row in parent_rows:
            groups.setdefault(row.idx, []).append(row)
        n_local = round(n_target * 0.08)
        n_direct = round(n_target * 0.05) if province_rows is not None else 0
        n_inherit = max(0, n_target - n_local - n_direct)
        p_keep = min(1.0, n_inherit / max(1, len(groups)))
        out: list[_Row] = []
        r = rng.random
        for idx, group in groups.items():
            first = group[0]
            status = first.status
            if status == STATUS_DEVOLVE:
                if r() >= 0.88:  # devolved but not received below: 权力悬空
                    continue
                child_status = STATUS_RECEIVE
            elif status == STATUS_CANCEL:
                if r() >= 0.25:
                    continue
                child_status = STATUS_KEEP
            else:
                if r() >= p_keep:
                    continue
                child_status = STATUS_KEEP
            if child_status == STATUS_KEEP:
                roll = r()
                if level == "city" and roll < 0.04:
                    child_status = STATUS_DEVOLVE
                elif roll < 0.055:
                    child_status = STATUS_ENTRUST
                elif roll < 0.062:
                    child_status = STATUS_CANCEL
                elif level == "county" and roll < 0.065:
                    child_status = STATUS_RECEIVE  # received although nothing was devolved
            pos = first.pos + rng.uniform(-3, 3)
            if first.sub is None and len(group) == 1:
                subs = state.subopts[idx]
                if len(subs) >= 2 and r() < 0.04:
                    for k, sub in enumerate(rng.sample(subs, rng.randint(2, min(3, len(subs))))):
                        out.append(_Row(idx, sub, child_status, pos + k * 0.01))
                else:
                    out.append(_Row(idx, None, child_status, pos))
            elif r() < 0.3:  # merge: the child lists only the main item
                out.append(_Row(idx, None, child_status, pos))
            else:
                kept = [row for row in group if r() < 0.85] or [group[0]]
                out.extend(_Row(idx, row.sub, child_status, pos + k * 0.01) for k, row in enumerate(kept))
        span = max(1.0, float(len(parent_rows)))
        if n_direct and province_rows is not None:
            present = set(groups)
            candidates = [row for row in province_rows if row.idx not in present and row.status == STATUS_KEEP]
            seen: set[int] = set()
            for row in rng.sample(candidates, min(len(candidates), n_direct * 2)):
                if row.idx in seen or len(seen) >= n_direct:
                    continue
                seen.add(row.idx)
                out.append(_Row(row.idx, row.sub, STATUS_KEEP, rng.uniform(0, span)))
        locals_, picks = self.local_items(state, rng, n_local, exclude_pool)
        for idx in locals_:
            out.append(_Row(idx, None, STATUS_KEEP, rng.uniform(0, span)))
        return out, exclude_pool | set(picks)

    # ---- rendering -------------------------------------------------------------------------------

    def render(
        self, state: _Province, spec: _ListSpec, region: Region, rows: list[_Row], rng: random.Random
    ) -> _Rendered:
        """Order the rows, insert bad rows, and turn everything into cell values for the list's columns."""
        if spec.order_style == "type":
            rows.sort(key=lambda row: (state.types[row.idx], row.pos))
        elif spec.order_style == "dept":
            rows.sort(key=lambda row: (state.depts[row.idx], row.pos))
        else:
            rows.sort(key=lambda row: row.pos)
        n_bad = int(self.bad_share * len(rows) + rng.random())
        slots: list[_Row | str] = list(rows)
        kinds = ["empty_name", "numbering_only"]
        if "power_type" in spec.columns:
            kinds.append("unknown_type")
        if spec.fmt == "xlsx":
            kinds.append("formula")
        if spec.fmt.startswith("csv"):
            kinds.append("ragged")
        for _ in range(n_bad):
            slots.insert(rng.randrange(len(slots) + 1), rng.choice(kinds))

        cols = spec.columns
        derived = spec.level != "province"
        noise = self.noise
        full_dept = rng.random() < 0.3
        province_name = state.name
        county_approval = spec.level == "county" and rng.random() < 0.6
        flatten = spec.fmt != "json" and spec.fmt != "xlsx"
        cells: list[list[object]] = []
        keys: list[Key | None] = []
        bad: list[str | None] = []
        types, names, depts, bases = state.types, state.names, state.depts, state.bases
        r = rng.random
        for n, slot in enumerate(slots, start=1):
            if isinstance(slot, str):
                cells.append(self._bad_cells(state, spec, region, slot, n, rng, full_dept))
                keys.append(None)
                bad.append(slot)
                continue
            idx, sub = slot.idx, slot.sub
            t = types[idx]
            dept_stem = "行政审批局" if county_approval and t == T_LICENCE else depts[idx]
            dept = _dept_label(spec.level, region, province_name, dept_stem, full_dept)
            main = names[idx]
            name = main if spec.sub_style == "column" or sub is None else sub_item_name(main, sub, spec.sub_style)
            if derived:
                name = noisy_name(name, rng, level=spec.level, department=dept, noise=noise)
            if spec.half_brackets:
                name = half_width_brackets(name)
            if spec.numbering_style is not None:
                name = numbering_prefix(n, spec.numbering_style) + name
            row: list[object] = []
            for col in cols:
                if col == "name":
                    row.append(name)
                elif col == "seq":
                    row.append(n if spec.json_seq_int and spec.fmt == "json" else str(n))
                elif col == "sub_item":
                    row.append(sub or "")
                elif col == "code":
                    row.append(self._code(state, spec, idx, sub, dept_stem, rng))
                elif col == "power_type":
                    shown = t
                    if derived and r() < 0.005:
                        shown = rng.choice((T_OTHER, T_LICENCE, T_CONFIRM, T_SERVICE))
                    row.append(_type_label(shown, spec.type_style))
                elif col == "department":
                    row.append(dept)
                elif col == "legal_basis":
                    basis = bases[idx]
                    if derived and r() < 0.1:
                        basis = ""
                    if flatten and basis:
                        basis = " ".join(basis.split())
                    row.append(basis)
                elif col == "status":
                    status = slot.status
                    row.append(status if spec.status_explicit or status != STATUS_KEEP else "")
                elif col == "responsibility":
                    row.append("" if r() < 0.1 else RESPONSIBILITY.get(t, RESPONSIBILITY_DEFAULT))
                elif col == "time_limit":
                    row.append(f"{(idx * 7) % 20 + 1}个工作日")
            cells.append(row)
            keys.append((idx, sub))
            bad.append(None)
        if spec.traditional:
            self._traditionalise(spec, cells)
        return _Rendered(spec.headers, cells, keys, bad)

    def _traditionalise(self, spec: _ListSpec, cells: list[list[object]]) -> None:
        for col_name in ("name", "department", "sub_item"):
            if col_name not in spec.columns:
                continue
            c = spec.columns.index(col_name)
            values = [str(row[c]) if c < len(row) else "" for row in cells]
            for row, value in zip(cells, to_traditional(values), strict=True):
                if c < len(row) and not str(row[c]).startswith("="):
                    row[c] = value

    def _code(self, state: _Province, spec: _ListSpec, idx: int, sub: str | None, dept: str, rng: random.Random) -> str:
        roll = rng.random()
        if spec.level != "province" and roll < 0.03:
            return ""
        basic = state.basic_code(idx, sub)
        if spec.level != "province" and roll < 0.035:  # 四级四同 broken: a code no other list uses
            basic = basic[:-3] + f"{900 + rng.randrange(100):03d}"
        if spec.code_form == "impl" and state.code_scheme.startswith("sc"):
            return f"{basic}-{spec.code}000000-000-{_credit_code(spec.code, dept)}-1-00"
        return basic

    def _bad_cells(
        self,
        state: _Province,
        spec: _ListSpec,
        region: Region,
        kind: str,
        n: int,
        rng: random.Random,
        full_dept: bool,
    ) -> list[object]:
        entry = self.pool.entries[rng.choice(state.free)] if state.free else self.pool.entries[0]
        if kind == "empty_name":
            name = ""
        elif kind == "numbering_only":
            name = numbering_prefix(rng.randrange(1, 20), rng.randrange(4))
        elif kind == "formula":
            name = '=HYPERLINK("http://x","点击")'
        else:
            name = entry.name
        row: list[object] = []
        for col in spec.columns:
            if col == "name":
                row.append(name)
            elif col == "seq":
                row.append(str(n))
            elif col == "power_type":
                row.append(
                    f"其它类型{'ABCDEFGHXYZ'[n % 11]}"
                    if kind == "unknown_type"
                    else _type_label(entry.type_idx, spec.type_style)
                )
            elif col == "department":
                row.append(_dept_label(spec.level, region, state.name, entry.dept, full_dept))
            else:
                row.append("")
        if kind == "ragged":
            # an unquoted comma in a name shifts every later cell: one cell too many
            name_at = spec.columns.index("name")
            head, _, tail = entry.name.partition("（")
            row[name_at] = head or entry.name
            row.insert(name_at + 1, tail or "变更")
        return row

    # ---- writing ---------------------------------------------------------------------------------

    def write(self, spec: _ListSpec, rendered: _Rendered) -> list[int]:
        """Write the list file; returns the physical row_no of every rendered row."""
        path = self.out_dir / spec.rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        n = len(rendered.cells)
        if spec.fmt == "xlsx":
            merge = None
            if spec.merge_dept and spec.order_style == "dept" and "department" in spec.columns:
                merge = spec.columns.index("department")
            first = write_xlsx(
                path,
                rendered.header,
                rendered.cells,
                sheet=spec.sheet,
                title_rows=spec.title_rows,
                merge_column=merge,
            )
        elif spec.fmt == "json":
            header = rendered.header
            records = []
            for row in rendered.cells:
                records.append(dict(zip(header, row, strict=False)))
            first = write_json(path, records, indent=1 if spec.code[-1] in "02468" else None)
        else:
            encoding = "gb18030" if spec.fmt == "csv-gb18030" else ("utf-8-sig" if spec.utf8_bom else "utf-8")
            first = write_csv(
                path,
                rendered.header,
                rendered.cells,
                encoding=encoding,
                lineterminator="\r\n" if spec.crlf else "\n",
            )
        return list(range(first, first + n))


@dataclass(frozen=True)
class GeneratedTree:
    """What generate_tree wrote: the manifest and truth paths and the counts a test or benchmark needs."""

    manifest: Path
    truth: Path
    n_lists: int
    n_rows: int
    n_links: int
    bad_rows: Path
    n_bad_rows: int
    traditional_provinces: tuple[str, ...]
    seconds: float = 0.0


def _select_regions(
    regions: Sequence[Region], provinces: int, counties_per_city: int | None, province_codes: Sequence[str] | None
) -> list[tuple[Region, list[tuple[Region, list[Region]]], list[Region]]]:
    """[(province, [(city, [county…])…], [province-direct county…])…] in code order."""
    provs = [r for r in regions if r.level == "province" and r.code[:2] not in ("71", "81", "82")]
    if province_codes is not None:
        wanted = set(province_codes)
        provs = [p for p in provs if p.code in wanted]
    else:
        provs = provs[:provinces]
    children: dict[str, list[Region]] = {}
    for region in regions:
        if region.parent:
            children.setdefault(region.parent, []).append(region)
    out = []
    for prov in provs:
        cities = []
        direct = []
        for child in children.get(prov.code, []):
            if child.level == "city":
                counties = [c for c in children.get(child.code, []) if c.level == "county"]
                cities.append((child, counties[:counties_per_city] if counties_per_city is not None else counties))
            elif child.level == "county":
                direct.append(child)
        if counties_per_city is not None:
            direct = direct[:counties_per_city]
        out.append((prov, cities, direct))
    return out


def assign_formats(n_lists: int, formats: Sequence[str], seed: int) -> list[str]:
    """Cycle through formats; above 40 lists at most ~10% xlsx (openpyxl is the slow writer)."""
    if not formats:
        raise ValueError("formats: at least one format is needed")
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"formats: unknown format {fmt!r}; expected one of {FORMATS}")
    offset = seed % len(formats)
    if n_lists <= 40 or "xlsx" not in formats:
        return [formats[(i + offset) % len(formats)] for i in range(n_lists)]
    plain = [f for f in formats if f != "xlsx"] or ["xlsx"]
    return ["xlsx" if i % 10 == 3 else plain[(i + offset) % len(plain)] for i in range(n_lists)]


def _published(rng: random.Random) -> dt.date:
    return dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(3 * 365))


def generate_tree(
    out_dir: Path,
    *,
    provinces: int = 1,
    seed: int = 0,
    items_per_list: int = 300,
    counties_per_city: int | None = None,
    formats: Sequence[str] = FORMATS,
    bad_row_share: float = 0.005,
    province_codes: Sequence[str] | None = None,
    noise: NameNoise = DEFAULT_NOISE,
) -> GeneratedTree:
    """Write a synthetic tree of lists, ``sources.toml``, ``truth.csv`` and ``bad_rows.csv`` into out_dir.

    ``provinces`` takes the first N provinces of the registry by code (Taiwan, Hong Kong and Macau are
    skipped) with all their cities and counties; ``province_codes`` picks specific ones instead.
    ``counties_per_city`` caps the counties per city (and the province-administered counties) for small
    tests. One list per jurisdiction; province lists hold ~1.3×, city ~1.0× and county ~0.9×
    ``items_per_list`` rows. Same arguments → byte-identical files.
    """
    started = time.perf_counter()
    if items_per_list < 1:
        raise ValueError("items_per_list: must be at least 1")
    if not 0 <= bad_row_share < 1:
        raise ValueError("bad_row_share: must be in [0, 1)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tree = _select_regions(_read_registry(), provinces, counties_per_city, province_codes)
    n_lists = sum(1 + len(cities) + sum(len(c) for _, c in cities) + len(direct) for _, cities, direct in tree)
    fmts = assign_formats(n_lists, formats, seed)
    tree_rng = _rng(seed, "tree")
    prov_codes = [prov.code for prov, _, _ in tree]
    n_trad = max(1, round(0.2 * len(prov_codes))) if prov_codes else 0
    traditional = tuple(sorted(tree_rng.sample(prov_codes, n_trad)))
    gen = _Generator(out_dir, seed, items_per_list, formats, bad_row_share, noise)

    manifest_lines = [
        "# Synthetic power-list tree written by synthetic.generate.generate_tree",
        f"# seed={seed} provinces={len(tree)} items_per_list={items_per_list} truth=truth.csv",
        "[run]",
        f'name = "synthetic-p{len(tree)}-s{seed}-n{items_per_list}"',
        "",
    ]
    truth_handle = (out_dir / "truth.csv").open("w", encoding="utf-8", newline="")
    bad_handle = (out_dir / "bad_rows.csv").open("w", encoding="utf-8", newline="")
    truth_writer = csv.writer(truth_handle, lineterminator="\n")
    bad_writer = csv.writer(bad_handle, lineterminator="\n")
    truth_writer.writerow(TRUTH_COLUMNS)
    bad_writer.writerow(BAD_ROW_COLUMNS)
    list_i = 0

    def emit(
        state: _Province,
        region: Region,
        rows: list[_Row],
        ancestors: Sequence[tuple[_ListSpec, dict[Key, int]]],
    ) -> tuple[_ListSpec, dict[Key, int]]:
        nonlocal list_i
        rng = _rng(seed, "list", region.code)
        spec = _make_spec(rng, region, fmts[list_i], _published(rng), state.code, state.code in traditional)
        list_i += 1
        rendered = gen.render(state, spec, region, rows, rng)
        row_nos = gen.write(spec, rendered)
        sheet = spec.sheet if spec.fmt == "xlsx" else ""
        index: dict[Key, int] = {}
        for key, row_no, kind in zip(rendered.keys, row_nos, rendered.bad, strict=True):
            if key is None:
                bad_writer.writerow((spec.source_id, sheet, row_no, kind))
                gen.n_bad += 1
            else:
                index[key] = row_no
        gen.n_rows += len(row_nos)
        links = []
        for anc_spec, anc_index in ancestors:
            anc_sheet = anc_spec.sheet if anc_spec.fmt == "xlsx" else ""
            for key, row_no in zip(rendered.keys, row_nos, strict=True):
                if key is None:
                    continue
                target = anc_index.get(key)
                if target is None and key[1] is not None:
                    target = anc_index.get((key[0], None))
                if target is not None:
                    links.append((spec.source_id, sheet, row_no, anc_spec.source_id, anc_sheet, target))
        truth_writer.writerows(links)
        gen.n_links += len(links)
        manifest_lines.extend(
            [
                "[[source]]",
                f'id = "{spec.source_id}"',
                f'jurisdiction = "{spec.code}"',
                f'path = "{spec.rel_path}"',
                f"published = {spec.published.isoformat()}",
                f'title = "{spec.title_rows[0]}"',
                "",
            ]
        )
        return spec, index

    try:
        for prov, cities, direct in tree:
            state, prov_rows = gen.province_catalogue(prov, prov.code in traditional)
            prov_out = emit(state, prov, list(prov_rows), ())
            n_city = max(1, round(items_per_list * 1.0))
            n_county = max(1, round(items_per_list * 0.9))
            for county in direct:
                rng = _rng(seed, "derive", county.code)
                rows, _ = gen.derive(state, rng, prov_rows, "county", n_county, None, set())
                emit(state, county, rows, (prov_out,))
            for city, counties in cities:
                rng = _rng(seed, "derive", city.code)
                city_rows, used = gen.derive(state, rng, prov_rows, "city", n_city, None, set())
                city_out = emit(state, city, list(city_rows), (prov_out,))
                for county in counties:
                    crng = _rng(seed, "derive", county.code)
                    rows, _ = gen.derive(state, crng, city_rows, "county", n_county, prov_rows, used)
                    emit(state, county, rows, (city_out, prov_out))
    finally:
        truth_handle.close()
        bad_handle.close()
    manifest = out_dir / "sources.toml"
    manifest.write_text("\n".join(manifest_lines), encoding="utf-8")
    return GeneratedTree(
        manifest=manifest,
        truth=out_dir / "truth.csv",
        n_lists=list_i,
        n_rows=gen.n_rows,
        n_links=gen.n_links,
        bad_rows=out_dir / "bad_rows.csv",
        n_bad_rows=gen.n_bad,
        traditional_provinces=traditional,
        seconds=time.perf_counter() - started,
    )


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m synthetic.generate OUT --provinces 3 --items 2000``: write a tree and print its counts."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--provinces", type=int, default=1)
    parser.add_argument("--province-codes", nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--counties-per-city", type=int, default=None)
    parser.add_argument("--formats", nargs="*", default=list(FORMATS))
    parser.add_argument("--bad-row-share", type=float, default=0.005)
    args = parser.parse_args(argv)
    tree = generate_tree(
        args.out_dir,
        provinces=args.provinces,
        seed=args.seed,
        items_per_list=args.items,
        counties_per_city=args.counties_per_city,
        formats=args.formats,
        bad_row_share=args.bad_row_share,
        province_codes=args.province_codes,
    )
    print(
        json.dumps(
            {
                "manifest": str(tree.manifest),
                "lists": tree.n_lists,
                "rows": tree.n_rows,
                "links": tree.n_links,
                "bad_rows": tree.n_bad_rows,
                "traditional_provinces": list(tree.traditional_provinces),
                "seconds": round(tree.seconds, 2),
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
