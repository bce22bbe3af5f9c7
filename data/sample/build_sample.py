"""Build the bundled sample (data/sample/): real Sichuan and Liaoning lists plus lists derived from them.

Why a build script: the sample must be reproducible and its truth must follow from how each derived list
was made, not from hand edits. Rerun with ``.venv/bin/python data/sample/build_sample.py``.

Stage 1 copies the real lists from the project's copy of the staged real data (``data/realdata``, or
``POWERLISTS_REALDATA``) into the sample, changing only column names and file format; when that folder is
absent the bundled copies are kept. Stage 2 derives the other lists from the bundled real files, so it
runs anywhere. Everything is seeded: a rerun writes byte-identical files. See PROVENANCE.md.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from transforms.generate import (  # noqa: E402
    SICHUAN_TASK_TYPE,
    TYPES,
    NameNoise,
    full_width_brackets,
    half_width_brackets,
    noisy_name,
    numbering_prefix,
    sub_item_name,
    write_csv,
    write_json,
    write_xlsx,
)

REALDATA = Path(os.environ.get("POWERLISTS_REALDATA", REPO / "data" / "realdata"))
SC = HERE / "sichuan"
LN = HERE / "liaoning"
ZIYANG = SC / "512000_ziyang_city.csv"
GUANGAN_DISTRICT = SC / "511602_guangan_district.xlsx"
LIAONING = LN / "210000_liaoning_province.json"
PROVINCE = SC / "510000_sichuan_province.csv"
GUANGAN_CITY = SC / "511600_guangan_city.xlsx"
YANJIANG = SC / "512002_yanjiang_district.csv"
QIANFENG = SC / "511603_qianfeng_district.json"

ZIYANG_HEADER = ["序号", "所属事项", "事项名称", "事项编码", "事项类型", "实施主体", "办事指南链接", "deptCode"]
GUANGAN_HEADER = ["实施部门", "所属事项", "事项名称", "事项编码", "事项类型", "办事指南链接", "deptCode"]
GUANGAN_TITLES = ["广安市广安区政务服务事项目录", "数据来源：四川政务服务网（sczwfw.gov.cn）"]
GUANGAN_SHEET = "政务服务事项"
ZIYANG_DEPT = "资阳市市场监督管理局"
_CODE = re.compile(r"^(.*?)-(\d{12})-")
_COUNTY_QUALIFIER = re.compile(r"[（(](?:市级/)?县级(?:权限|行使)?[）)]")
PROVINCE_DEPTS = {
    "人社局": "人力资源和社会保障厅",
    "交通运输局": "交通运输厅",
    "住建局": "住房和城乡建设厅",
    "公安分局": "公安厅",
    "市监局": "市场监督管理局",
    "教科体局": "教育厅",
    "民政局": "民政厅",
    "自然资源和规划局": "自然资源厅",
    "卫健局": "卫生健康委员会",
    "司法局": "司法厅",
    "水务局": "水利厅",
    "林业局": "林业和草原局",
    "农业农村局": "农业农村厅",
    "生态环境局": "生态环境厅",
    "文广旅局": "文化和旅游厅",
    "行政审批局": "政务服务管理局",
    "财政局": "财政厅",
    "商务局": "商务厅",
    "应急管理局": "应急管理厅",
    "退役军人事务局": "退役军人事务厅",
    "发改局": "发展和改革委员会",
    "经信局": "经济和信息化厅",
    "统计局": "统计局",
}
# Liaoning catalogue items added to the Sichuan province list as province-only items with their legal
# basis (their codes are Liaoning's, so the code cell is left empty). The first one is devolved (下放)
# but no lower list takes it up: the sample's 权力悬空 case.
LIAONING_ITEMS = ("饮用水供水单位卫生许可", "义务兵家庭优待金给付", "优抚对象医疗保障", "建设工程施工合同登记")
TRUTH_COLUMNS = (
    "child_source_id",
    "child_sheet",
    "child_row_no",
    "parent_source_id",
    "parent_sheet",
    "parent_row_no",
)


def basic_code(item_code: str) -> str:
    """The Sichuan basic code: the part of itemCode before the 12-digit area segment (as in SOURCE.md)."""
    match = _CODE.match(item_code)
    return match.group(1) if match else ""


# ------------------------------------------------------------------------------------------------------
# Stage 1: the real lists, renamed and reformatted only
# ------------------------------------------------------------------------------------------------------


def stage_real() -> None:
    """Copy the real lists into the sample; skipped (bundled copies kept) when the staged data are absent."""
    sichuan = REALDATA / "sichuan"
    if not sichuan.is_dir():
        print(f"{REALDATA} not found: keeping the bundled real lists", file=sys.stderr)
        return
    SC.mkdir(exist_ok=True)
    LN.mkdir(exist_ok=True)
    with (sichuan / "sichuan_ziyang_city_512000_market_regulation_items.csv").open(encoding="utf-8") as handle:
        ziyang = list(csv.DictReader(handle))
    rows = []
    for rec in ziyang:
        assert basic_code(rec["item_code"]) == rec["basic_code"], rec["item_code"]
        rows.append(
            [
                rec["number"],
                rec["main_item"],
                rec["item_name"],
                rec["item_code"],
                rec["task_type"],
                ZIYANG_DEPT,
                rec["source_url"],
                rec["dept_code"],
            ]
        )
    write_csv(ZIYANG, ZIYANG_HEADER, rows)

    with (sichuan / "sichuan_guangan_district_511602_items.csv").open(encoding="utf-8") as handle:
        guangan = list(csv.DictReader(handle))
    rows = []
    for rec in guangan:
        assert basic_code(rec["item_code"]) == rec["basic_code"], rec["item_code"]
        rows.append(
            [
                rec["department"],
                rec["main_item"],
                rec["item_name"],
                rec["item_code"],
                rec["task_type"],
                rec["source_url"],
                rec["dept_code"],
            ]
        )
    write_xlsx(
        GUANGAN_DISTRICT,
        GUANGAN_HEADER,
        rows,
        sheet=GUANGAN_SHEET,
        title_rows=GUANGAN_TITLES,
        merge_column=0,
    )
    shutil.copyfile(REALDATA / "liaoning" / "liaoning_province_catalog_sample_government_data.json", LIAONING)


# ------------------------------------------------------------------------------------------------------
# Stage 2: derived lists and the truth
# ------------------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One data row of a sample list: its cells, its origin and its links (filled in as lists are built)."""

    cells: dict[str, object]
    row_no: int = 0
    code: str = ""  # Sichuan basic code shared with the province list ("" = none)
    origin: tuple[str, int] | None = None  # (source id, entry index) of the parent-list row it came from
    links_to_parent: bool = True  # False for a merged main item (parent lists only its sub-items)
    bad: str = ""


@dataclass
class SampleList:
    source_id: str
    jurisdiction: str
    path: Path
    sheet: str = ""
    entries: list[Entry] = field(default_factory=list)


def read_ziyang() -> list[dict[str, str]]:
    with ZIYANG.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_guangan() -> list[dict[str, str]]:
    """Rows of the bundled 广安区 workbook, department cells filled down from their merged ranges."""
    from openpyxl import load_workbook

    wb = load_workbook(GUANGAN_DISTRICT, read_only=True)
    out = []
    header: list[str] | None = None
    dept = ""
    for row in wb[GUANGAN_SHEET].iter_rows(values_only=True):
        cells = ["" if v is None else str(v) for v in row]
        if header is None:
            if cells[: len(GUANGAN_HEADER)] == GUANGAN_HEADER:
                header = cells
            continue
        rec = dict(zip(header, cells, strict=False))
        dept = rec["实施部门"] or dept
        rec["实施部门"] = dept
        out.append(rec)
    wb.close()
    return out


def province_dept(county_dept: str) -> str:
    stem = county_dept.removeprefix("广安区").removeprefix("区")
    return "四川省" + PROVINCE_DEPTS.get(stem, stem)


def build_derived() -> None:
    rng = random.Random(2025)
    ziyang = read_ziyang()
    guangan = read_guangan()
    liaoning = json.loads(LIAONING.read_text(encoding="utf-8"))
    light = NameNoise(punish_variant=0.3, level_qualifier=0.0, whitespace=0.04, bracket_flip=0.06)

    # ---- the real lists as SampleLists (row numbers follow their layout) -------------------------------
    zy = SampleList("sc-512000-ziyang-real", "512000", ZIYANG)
    for i, rec in enumerate(ziyang):
        zy.entries.append(Entry(dict(rec), row_no=i + 2, code=basic_code(rec["事项编码"])))
    ga = SampleList("sc-511602-guangan-real", "511602", GUANGAN_DISTRICT, sheet=GUANGAN_SHEET)
    for i, rec in enumerate(guangan):
        ga.entries.append(Entry(dict(rec), row_no=i + len(GUANGAN_TITLES) + 2, code=basic_code(rec["事项编码"])))

    # ---- 四川省 510000: union of both real lists by basic code, plus four Liaoning items -------------------
    prov = SampleList("sc-510000-province-derived", "510000", PROVINCE)
    by_code: dict[str, Entry] = {}
    for source in (zy, ga):
        for entry in source.entries:
            if not entry.code or entry.code in by_code:
                continue
            cells = entry.cells
            task = str(cells["事项类型"])
            dept = ZIYANG_DEPT if source is zy else cells["实施部门"]
            prov.entries.append(
                Entry(
                    {
                        "事项名称": _COUNTY_QUALIFIER.sub("", str(cells["事项名称"])),
                        "基本编码": entry.code,
                        "事项类型": TYPES[SICHUAN_TASK_TYPE[task]],
                        "实施主体": "四川省市场监督管理局" if source is zy else province_dept(str(dept)),
                        "设定依据": "",
                        "状态": "",
                    },
                    code=entry.code,
                )
            )
            by_code[entry.code] = prov.entries[-1]
    for rec in liaoning:
        if rec["事项名称"] in LIAONING_ITEMS:
            prov.entries.append(
                Entry(
                    {
                        "事项名称": rec["事项名称"],
                        "基本编码": "",
                        "事项类型": TYPES[
                            ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "20"].index(rec["事项类型"])
                        ],
                        "实施主体": "四川省" + ("卫生健康委员会" if "卫生" in rec["事项名称"] else "退役军人事务厅"),
                        "设定依据": " ".join(rec["依据"].split()),
                        "状态": "下放" if rec["事项名称"] == LIAONING_ITEMS[0] else "",
                    }
                )
            )
    prov.entries.insert(
        rng.randrange(len(prov.entries)),
        Entry(
            {"事项名称": "福彩销售网点解约", "事项类型": "其它类型X", "实施主体": "四川省民政厅"}, bad="unknown_type"
        ),
    )

    # ---- 广安市 511600 (xlsx): ~85% of the district items at city level, 25 资阳 market items, 2 local -------
    gc = SampleList("sc-511600-guangan-derived", "511600", GUANGAN_CITY, sheet="权责清单")
    for i, entry in enumerate(ga.entries):
        if not entry.code or rng.random() >= 0.85:
            continue
        cells = entry.cells
        name = str(cells["事项名称"]).replace("市级/县级", "市级").replace("县级", "市级")
        dept = _relabel(str(cells["实施部门"]), ("广安区", "广安市"), ("区", "市"))
        gc.entries.append(
            Entry(
                {
                    "事项名称": noisy_name(name, rng, level="city", department=dept, noise=light),
                    "事项编码": entry.code if rng.random() < 0.9 else "",
                    "职权类别": TYPES[SICHUAN_TASK_TYPE[str(cells["事项类型"])]],
                    "实施部门": dept,
                },
                code=entry.code,
                origin=(ga.source_id, i),
            )
        )
    district_codes = {e.code for e in ga.entries}
    extra = [e for e in zy.entries if e.code not in district_codes]
    for entry in sorted(rng.sample(extra, 25), key=lambda e: e.row_no):
        gc.entries.append(
            Entry(
                {
                    "事项名称": half_width_brackets(str(entry.cells["事项名称"])),
                    "事项编码": entry.code,
                    "职权类别": TYPES[SICHUAN_TASK_TYPE[str(entry.cells["事项类型"])]],
                    "实施部门": "广安市市场监督管理局",
                },
                code=entry.code,
            )
        )
    for name, kind in (("城市道路夜间施工许可", "行政许可"), ("对违反城市夜景灯光管理规定行为的处罚", "行政处罚")):
        gc.entries.append(Entry({"事项名称": name, "事项编码": "", "职权类别": kind, "实施部门": "广安市城市管理局"}))
    gc.entries.insert(
        rng.randrange(len(gc.entries)),
        Entry(
            {"事项名称": '=HYPERLINK("http://x","点击")', "职权类别": "行政许可", "实施部门": "广安市行政审批局"},
            bad="formula",
        ),
    )

    # ---- 雁江区 512002 (GB18030 CSV): from 资阳's rows with noise, splits, a merge, direct and local items ---
    yj = SampleList("sc-512002-yanjiang-derived", "512002", YANJIANG)
    merged_group = "第二类医疗器械经营备案"
    merged_done = False
    split_names = {"执业药师首次注册", "特种设备使用登记", "科研和教学用毒性药品购买审批"}
    for i, entry in enumerate(zy.entries):
        cells = entry.cells
        group = str(cells["所属事项"])
        task = TYPES[SICHUAN_TASK_TYPE[str(cells["事项类型"])]]
        if group == merged_group:  # the county lists only the group's main item: no single counterpart
            if not merged_done:
                yj.entries.append(Entry({"事项名称": group, "基本编码": "", "事项类型": task}, links_to_parent=False))
                merged_done = True
            continue
        if rng.random() >= 0.9:
            continue
        name = str(cells["事项名称"])
        subs = ["新申请", "变更", "注销"] if name in split_names else [None]
        for sub in subs:
            shown = name if sub is None else sub_item_name(name, sub, "full")
            yj.entries.append(
                Entry(
                    {
                        "事项名称": noisy_name(shown, rng, level="county", department="区市场监管局", noise=light),
                        "基本编码": entry.code if rng.random() < 0.93 else "",
                        "事项类型": task,
                    },
                    code=entry.code,
                    origin=(zy.source_id, i),
                )
            )
    zy_codes = {e.code for e in zy.entries}
    direct = [e for e in ga.entries if e.code and e.code not in zy_codes and "市监局" in str(e.cells["实施部门"])]
    for entry in sorted(rng.sample(direct, 6), key=lambda e: e.row_no):
        yj.entries.append(
            Entry(
                {"事项名称": str(entry.cells["事项名称"]), "基本编码": entry.code, "事项类型": "行政许可"},
                code=entry.code,
            )
        )
    yj.entries.append(Entry({"事项名称": "小餐饮经营许可证核发（雁江区）", "基本编码": "", "事项类型": "行政许可"}))
    for entry in yj.entries:
        entry.cells["实施主体"] = "雁江区市场监督管理局"
        entry.cells["调整情况"] = ""
    yj.entries.insert(
        rng.randrange(len(yj.entries)),
        Entry(
            {"事项名称": "", "基本编码": "", "事项类型": "行政许可", "实施主体": "雁江区市场监督管理局"},
            bad="empty_name",
        ),
    )
    yj.entries.insert(
        rng.randrange(len(yj.entries)),
        Entry({"事项名称": "食品经营许可", "基本编码": "变更", "事项类型": "", "实施主体": "行政许可"}, bad="ragged"),
    )

    # ---- 前锋区 511603 (JSON, no code column): from 广安市 with noise and one split ----------------------
    qf = SampleList("sc-511603-qianfeng-derived", "511603", QIANFENG)
    split_done = False
    for i, entry in enumerate(gc.entries):
        if entry.bad or rng.random() >= 0.85:
            continue
        cells = entry.cells
        name = str(cells["事项名称"]).replace("市级", "县级")
        dept = _relabel(str(cells["实施部门"]), ("广安市", "前锋区"), ("市", "区"))
        subs: list[str | None] = [None]
        if not split_done and str(cells["职权类别"]) == "行政许可" and name.endswith("许可"):
            subs, split_done = ["新申请", "变更", "注销"], True
        for sub in subs:
            shown = name if sub is None else sub_item_name(name, sub, "half")
            qf.entries.append(
                Entry(
                    {
                        "权力名称": noisy_name(shown, rng, level="county", department=dept, noise=light),
                        "权力类型": str(cells["职权类别"]).replace("行政许可", "许可"),
                        "责任部门": dept,
                        "下放情况": "",
                    },
                    code=entry.code,
                    origin=(gc.source_id, i),
                )
            )
    qf.entries.append(
        Entry(
            {
                "权力名称": "前锋区农村集体经济组织成员身份确认",
                "权力类型": "确认",
                "责任部门": "前锋区农业农村局",
                "下放情况": "",
            }
        )
    )
    qf.entries.insert(
        rng.randrange(len(qf.entries)),
        Entry(
            {"权力名称": "（一）", "权力类型": "许可", "责任部门": "前锋区行政审批局", "下放情况": ""},
            bad="numbering_only",
        ),
    )
    qf.entries.insert(
        rng.randrange(len(qf.entries)),
        Entry(
            {"权力名称": "餐厨垃圾收运备案", "权力类型": "其它类型X", "责任部门": "前锋区综合执法局", "下放情况": ""},
            bad="unknown_type",
        ),
    )

    # ---- devolution: province items 下放, taken up (承接) by the counties ----------------------------------
    for county, column, count in ((qf, "下放情况", 3), (yj, "调整情况", 2)):
        candidates = [e for e in county.entries if e.code and e.origin and e.code in by_code and not e.bad]
        for entry in rng.sample(candidates, count):
            by_code[entry.code].cells["状态"] = "下放"
            for other in county.entries:
                if other.code == entry.code and other.origin == entry.origin:
                    other.cells[column] = "承接"

    # ---- write the derived lists --------------------------------------------------------------------
    numbered = 0
    prov_rows = []
    for i, entry in enumerate(prov.entries):
        entry.row_no = i + 2
        if not entry.bad:
            numbered += 1
        cells = entry.cells
        prov_rows.append(
            [
                str(i + 1),
                cells.get("事项名称", ""),
                cells.get("基本编码", ""),
                cells.get("事项类型", ""),
                cells.get("实施主体", ""),
                cells.get("设定依据", ""),
                cells.get("状态", ""),
            ]
        )
    write_csv(
        PROVINCE,
        ["序号", "事项名称", "基本编码", "事项类型", "实施主体", "设定依据", "状态"],
        prov_rows,
        encoding="utf-8-sig",
    )

    gc_header = ["序号", "事项名称", "事项编码", "职权类别", "实施部门"]
    gc_rows = []
    for i, entry in enumerate(gc.entries):
        entry.row_no = i + 3  # one title row, then the header
        gc_rows.append([str(i + 1)] + [entry.cells.get(h, "") for h in gc_header[1:]])
    write_xlsx(GUANGAN_CITY, gc_header, gc_rows, sheet=gc.sheet, title_rows=["广安市行政职权事项目录"])

    yj_header = ["序号", "事项名称", "基本编码", "事项类型", "实施主体", "调整情况"]
    yj_rows = []
    for i, entry in enumerate(yj.entries):
        entry.row_no = i + 2
        values = [str(i + 1)] + [entry.cells.get(h, "") for h in yj_header[1:]]
        if entry.bad == "ragged":  # an unquoted comma split the name: one cell too many
            values = [str(i + 1), "食品经营许可", "变更", "", "行政许可", "雁江区市场监督管理局", ""]
        yj_rows.append(values)
    write_csv(YANJIANG, yj_header, yj_rows, encoding="gb18030")

    records = []
    for i, entry in enumerate(qf.entries):
        entry.row_no = i + 1
        name = str(entry.cells["权力名称"])
        if not entry.bad and i % 40 == 7:
            name = numbering_prefix(i + 1, 2) + name
        records.append(
            {
                "序号": i + 1,
                "权力名称": full_width_brackets(name) if i % 9 == 0 else name,
                "权力类型": entry.cells["权力类型"],
                "责任部门": entry.cells["责任部门"],
                "下放情况": entry.cells["下放情况"],
            }
        )
    write_json(QIANFENG, records, indent=2)

    # ---- truth and bad rows -----------------------------------------------------------------------------
    lists = {lst.source_id: lst for lst in (zy, ga, prov, gc, yj, qf)}
    parents = {
        zy.source_id: [prov],
        ga.source_id: [gc, prov],
        gc.source_id: [prov],
        yj.source_id: [zy, prov],
        qf.source_id: [gc, prov],
    }
    city_row_of = {e.origin[1]: e for e in gc.entries if e.origin and e.origin[0] == ga.source_id}
    truth = []
    bad_rows = []
    for lst in lists.values():
        for entry in lst.entries:
            if entry.bad:
                bad_rows.append((lst.source_id, lst.sheet, entry.row_no, entry.bad))
    for child_id, ancestors in parents.items():
        child = lists[child_id]
        for idx, entry in enumerate(child.entries):
            if entry.bad:
                continue
            for anc in ancestors:
                target = None
                if anc is prov:
                    target = by_code.get(entry.code) if entry.code else None
                elif entry.origin and entry.origin[0] == anc.source_id and entry.links_to_parent:
                    target = anc.entries[entry.origin[1]]
                elif anc is gc and child is ga:
                    target = city_row_of.get(idx)
                if target is not None and not target.bad:
                    truth.append((child.source_id, child.sheet, entry.row_no, anc.source_id, anc.sheet, target.row_no))
    with (HERE / "truth.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        writer.writerows(truth)
    with (HERE / "bad_rows.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("source_id", "sheet", "row_no", "kind"))
        writer.writerows(bad_rows)
    print(
        json.dumps(
            {lst.source_id: len(lst.entries) for lst in lists.values()}
            | {"truth_links": len(truth), "bad_rows": len(bad_rows)},
            ensure_ascii=False,
        )
    )


def _relabel(dept: str, *prefixes: tuple[str, str]) -> str:
    """Move a department name one level (区X局 → 市X局, 广安区X局 → 广安市X局): first matching prefix only."""
    for old, new in prefixes:
        if dept.startswith(old):
            return new + dept[len(old) :]
    return dept


MANIFEST = """\
# The bundled sample: real Sichuan/Liaoning lists plus lists derived from them (see PROVENANCE.md).
# Written by data/sample/build_sample.py. truth.csv holds the true cross-level links, bad_rows.csv the
# rows that must be quarantined. No published dates: the real lists' collection dates are not known.
[run]
name = "sichuan-sample"

[[source]]
id = "sc-510000-province-derived"
jurisdiction = "510000"
path = "sichuan/510000_sichuan_province.csv"
title = "四川省行政职权事项目录（派生示例）"

[[source]]
id = "sc-512000-ziyang-real"
jurisdiction = "512000"
path = "sichuan/512000_ziyang_city.csv"
title = "资阳市市场监督管理局行政审批事项"
source_url = "http://www.sczwfw.gov.cn/"
licence = "unknown: public government information; the GitHub repository it was read from is not identified"

[[source]]
id = "sc-511600-guangan-derived"
jurisdiction = "511600"
path = "sichuan/511600_guangan_city.xlsx"
title = "广安市行政职权事项目录（派生示例）"

[[source]]
id = "sc-511602-guangan-real"
jurisdiction = "511602"
path = "sichuan/511602_guangan_district.xlsx"
title = "广安市广安区政务服务事项目录"
source_url = "https://github.com/v-luobo/zwfw/blob/11bd626315e3d6f8b70ea948ccc476d17a21cd9c/bszl-data.js"
licence = "Apache-2.0 (repository v-luobo/zwfw); item data: public government information from sczwfw.gov.cn"

[[source]]
id = "sc-512002-yanjiang-derived"
jurisdiction = "512002"
path = "sichuan/512002_yanjiang_district.csv"
title = "雁江区市场监管事项目录（派生示例）"

[[source]]
id = "sc-511603-qianfeng-derived"
jurisdiction = "511603"
path = "sichuan/511603_qianfeng_district.json"
title = "前锋区权力清单（派生示例）"

[[source]]
id = "ln-210000-catalogue-real"
jurisdiction = "210000"
path = "liaoning/210000_liaoning_province.json"
title = "辽宁政务服务网事项目录（样本，30项）"
source_url = "https://github.com/seesee111/-Government-Knowledge-Graph-Visualization/blob/50d23d02f41baade2c6d639832e024fd29d833c3/government_data.json"
licence = "none stated in the repository; item data: public government information from lnzwfw.gov.cn"
"""


def main() -> int:
    stage_real()
    build_derived()
    (HERE / "sources.toml").write_text(MANIFEST, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
