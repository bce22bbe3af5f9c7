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
import itertools
import json
import os
import random
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from synthetic.generate import (  # noqa: E402
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
from transforms.clean.normalise import normalise_name  # noqa: E402

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
PROVINCE_V2 = SC / "510000_sichuan_province_2024.csv"
GUANGAN_CITY_V2 = SC / "511600_guangan_city_2024.xlsx"
QIANFENG_V2 = SC / "511603_qianfeng_district_2025.csv"

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
PLANTED_LOCAL_LICENCE = "大型户外广告设施设置审批"
PLANTED_UNSUPERVISED = "公路超限运输车辆通行许可（省内）"
# Listed by the province and by 雁江区, which cites another instrument for it (basis_mismatch); the
# bracket keeps it out of the pools the versions stage draws from.
PLANTED_BASIS = ("小餐饮店许可证核发（新办）", "511A0080699901")
LIAONING_ITEMS = ("饮用水供水单位卫生许可", "义务兵家庭优待金给付", "优抚对象医疗保障", "建设工程施工合同登记")
LIAONING_TYPE_CODES = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "20")
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


def build_derived() -> dict[str, SampleList]:
    """Write the derived lists, truth.csv and bad_rows.csv; return every list by role (for the versions)."""
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
    # Two items planted for the reform checks (no codes, appended last: nothing derived from the province
    # list changes): a licence set by a provincial government rule alone (locally_set_licence), and an
    # item devolved with no supervision named (devolved_without_supervision; no list takes it up either).
    prov.entries += [
        Entry(
            {
                "事项名称": PLANTED_LOCAL_LICENCE,
                "事项类型": "行政许可",
                "实施主体": "四川省住房和城乡建设厅",
                "设定依据": "《四川省户外广告设置管理办法》（四川省人民政府令第二百号）第八条",
                "状态": "",
                "责任事项": "1.受理责任：公示申请条件。2.审查责任：审查申请材料。3.决定责任：作出许可决定。",
            }
        ),
        Entry(
            {
                "事项名称": PLANTED_UNSUPERVISED,
                "事项类型": "行政许可",
                "实施主体": "四川省交通运输厅",
                "设定依据": "【行政法规】《公路安全保护条例》第二十七条",
                "状态": "下放",
                "责任事项": "无",
            }
        ),
        Entry(
            {
                "事项名称": PLANTED_BASIS[0],
                "基本编码": PLANTED_BASIS[1],
                "事项类型": "行政许可",
                "实施主体": "四川省市场监督管理局",
                "设定依据": "【地方性法规】《四川省食品小作坊、小餐饮店和食品摊贩管理条例》第十九条",
                "状态": "",
            },
            code=PLANTED_BASIS[1],
        ),
    ]
    by_code[PLANTED_BASIS[1]] = prov.entries[-1]

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
    yj.entries.append(  # after the random insertions: the rows before it keep their places
        Entry(
            {
                "事项名称": PLANTED_BASIS[0],
                "基本编码": PLANTED_BASIS[1],
                "事项类型": "行政许可",
                "实施主体": "雁江区市场监督管理局",
                "调整情况": "",
                "设定依据": "【部门规章】《食品经营许可管理办法》第十条",
            },
            code=PLANTED_BASIS[1],
        )
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
                cells.get("责任事项", ""),
            ]
        )
    write_csv(
        PROVINCE,
        ["序号", "事项名称", "基本编码", "事项类型", "实施主体", "设定依据", "状态", "责任事项"],
        prov_rows,
        encoding="utf-8-sig",
    )

    gc_header = ["序号", "事项名称", "事项编码", "职权类别", "实施部门"]
    gc_rows = []
    for i, entry in enumerate(gc.entries):
        entry.row_no = i + 3  # one title row, then the header
        gc_rows.append([str(i + 1)] + [entry.cells.get(h, "") for h in gc_header[1:]])
    write_xlsx(GUANGAN_CITY, gc_header, gc_rows, sheet=gc.sheet, title_rows=["广安市行政职权事项目录"])

    yj_header = ["序号", "事项名称", "基本编码", "事项类型", "实施主体", "调整情况", "设定依据"]
    yj_rows = []
    for i, entry in enumerate(yj.entries):
        entry.row_no = i + 2
        values = [str(i + 1)] + [entry.cells.get(h, "") for h in yj_header[1:]]
        if entry.bad == "ragged":  # an unquoted comma split the name: one cell too many
            values = [str(i + 1), "食品经营许可", "变更", "", "行政许可", "雁江区市场监督管理局", "", ""]
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
    return {"ziyang": zy, "guangan_district": ga, "province": prov, "guangan_city": gc, "yanjiang": yj, "qianfeng": qf}


def _relabel(dept: str, *prefixes: tuple[str, str]) -> str:
    """Move a department name one level (区X局 → 市X局, 广安区X局 → 广安市X局): first matching prefix only."""
    for old, new in prefixes:
        if dept.startswith(old):
            return new + dept[len(old) :]
    return dept


# ------------------------------------------------------------------------------------------------------
# Stage 3: later versions of three derived lists, and the changes they make (data/sample/versions.toml)
# ------------------------------------------------------------------------------------------------------

#: Version dates. The first versions' dates are made up like the lists themselves (they are derived).
V1_DATES = {"510000": "2023-06-30", "511600": "2023-08-15", "511603": "2023-09-01"}
V2_DATES = {"510000": "2024-09-30", "511600": "2024-11-20", "511603": "2025-01-15"}  # as in V2_SOURCES
EXPECTED_COLUMNS = (
    "jurisdiction_code",
    "from_source_id",
    "to_source_id",
    "change",
    "old_source_id",
    "old_sheet",
    "old_row_no",
    "new_source_id",
    "new_sheet",
    "new_row_no",
    "old_name",
    "new_name",
    "detail",
)
FINDING_COLUMNS = (
    "kind",
    "present",
    "jurisdiction_code",
    "source_id",
    "sheet",
    "row_no",
    "other_jurisdiction_code",
    "other_source_id",
    "other_sheet",
    "other_row_no",
    "since",
    "name",
)
GC_HEADER = ["序号", "事项名称", "事项编码", "职权类别", "实施部门"]


@dataclass
class Change:
    """One expected row of changes.parquet, by list entries (row numbers are known once written)."""

    change: str
    old: Entry | None
    new: Entry | None
    detail: str = ""
    new_list: SampleList | None = None  # level_changed: the other jurisdiction's list holding ``new``


@dataclass
class VersionPair:
    old: SampleList
    new: SampleList
    changes: list[Change] = field(default_factory=list)
    successor: dict[int, Entry] = field(default_factory=dict)

    def carry(self, entry: Entry, **cells: object) -> Entry:
        """Copy an old entry into the new version (same cells unless overridden); returns the copy."""
        copy = Entry({**entry.cells, **cells}, code=str(cells.get("基本编码", entry.code)))
        self.new.entries.append(copy)
        self.successor[id(entry)] = copy
        return copy

    def now(self, entry: Entry) -> Entry:
        """The new version's copy of an old entry."""
        return self.successor[id(entry)]


@dataclass
class Designed:
    """A finding the versions were built to raise (``present``) or, as its control, not to raise."""

    kind: str
    present: bool
    subject: tuple[SampleList, Entry]
    other_jurisdiction: str
    other: tuple[SampleList, Entry] | None = None
    since: str = ""


def _pick(rng: random.Random, pool: list[Entry], n: int, used: set[int]) -> list[Entry]:
    """``n`` entries of ``pool`` not used yet, in list order (so the script's output reads naturally)."""
    free = [e for e in pool if id(e) not in used]
    chosen = sorted(rng.sample(free, n), key=free.index)
    used.update(id(e) for e in chosen)
    return chosen


def build_versions(lists: dict[str, SampleList]) -> tuple[list[VersionPair], list[Designed]]:
    """Newer versions of 四川省, 广安市 and 前锋区 and the changes each makes (see PROVENANCE.md).

    The province devolves, cancels, renames, retypes, moves, merges, splits, adds and removes items; the
    city takes up two of its devolutions (承接), adds the item the province moved down, drops the
    cancelled items, devolves two items of its own, merges a group of 办理项 and splits an item; the
    district takes up one of the city's devolutions and drops the other (权力悬空), keeps one cancelled
    item (cancelled_still_listed) and claims 承接 of an item nobody devolved. Picks are seeded, and every
    membership test is by identity: two entries may hold equal cells.
    """
    rng = random.Random(2026)
    zy, ga, prov, gc, qf = (lists[k] for k in ("ziyang", "guangan_district", "province", "guangan_city", "qianfeng"))
    liaoning = json.loads(LIAONING.read_text(encoding="utf-8"))
    used: set[int] = set()

    def name(entry: Entry) -> str:
        return str(entry.cells.get("事项名称") or entry.cells.get("权力名称") or "")

    def unique_by_code(entries: list[Entry]) -> dict[str, Entry]:
        counts = Counter(e.code for e in entries if e.code)
        return {e.code: e for e in entries if e.code and counts[e.code] == 1}

    def no_action(text: str) -> bool:
        return not any(w in text for w in ("核发", "变更", "注销", "新办", "延续", "新申请"))

    gc_live = [e for e in gc.entries if not e.bad]
    qf_live = [e for e in qf.entries if not e.bad]
    prov_of = unique_by_code([e for e in prov.entries if not e.bad])
    gc_of, qf_of = unique_by_code(gc_live), unique_by_code(qf_live)
    zy_codes, ga_codes, gc_codes = {e.code for e in zy.entries}, {e.code for e in ga.entries}, {e.code for e in gc_live}
    by_name = {name(e): e for e in prov.entries if not e.bad}
    plain = [
        e
        for e in prov.entries
        if e.code and not e.bad and not e.cells["状态"] and "（" not in name(e) and e.code not in zy_codes
    ]

    # ---- what the province does (picked first: the lower lists follow it) ----------------------------
    devolve = _pick(  # 广安市 v2 takes both up
        rng,
        [e for e in plain if e.code in gc_of and e.code not in qf_of and e.cells["事项类型"] == "行政许可"],
        2,
        used,
    )
    cancel = _pick(rng, [e for e in plain if e.code in gc_of and e.code in qf_of], 2, used)  # see 前锋区 below
    rename = _pick(rng, [e for e in plain if "核发" in name(e)], 2, used)
    retype = _pick(rng, [e for e in plain if "登记" in name(e) and e.cells["事项类型"] == "行政许可"], 2, used)
    redept = _pick(  # drug items move from the market regulator to the drug regulator
        rng,
        [
            e
            for e in prov.entries
            if ("药品" in name(e) or "医疗器械" in name(e))
            and "非药品" not in name(e)
            and e.cells["实施主体"] == "四川省市场监督管理局"
            and not e.bad
            and not e.cells["状态"]
            and e.code
        ],
        2,
        used,
    )
    rebasis = _pick(rng, [e for e in plain if name(e).startswith("食品")] or plain, 1, used)[0]
    drop = _pick(rng, [e for e in plain if e.code not in gc_codes and e.code in ga_codes], 1, used)[0]
    split = _pick(rng, [e for e in plain if name(e).endswith(("许可", "审批")) and no_action(name(e))], 1, used)[0]
    neighbours = [
        (a, b)
        for a, b in itertools.pairwise(plain)
        if a.cells["实施主体"] == b.cells["实施主体"]
        and a.cells["事项类型"] == b.cells["事项类型"]
        and all(6 <= len(name(x)) <= 16 and id(x) not in used and x.code not in gc_codes for x in (a, b))
    ]
    merge_a, merge_b = neighbours[rng.randrange(len(neighbours))]
    used.update((id(merge_a), id(merge_b)))
    moved = by_name["优抚对象医疗保障"]  # removed here, added by 广安市: level_changed
    newly_devolved = by_name["建设工程施工合同登记"]  # taken up by no lower list
    basis_revised = by_name["义务兵家庭优待金给付"]
    additions = [r for r in liaoning if r["事项名称"] in ("特种设备检验、检测机构核准", "远洋渔业企业年审")]

    p = VersionPair(prov, SampleList("sc-510000-province-v2", "510000", PROVINCE_V2))
    status_of = {id(e): "下放" for e in [*devolve, newly_devolved]} | {id(e): "取消" for e in cancel}
    rename_ids, retype_ids, redept_ids = ({id(e) for e in group} for group in (rename, retype, redept))
    for entry in prov.entries:
        key = id(entry)
        if entry.bad or entry is merge_b:
            continue
        if entry is moved:
            p.changes.append(Change("level_changed", entry, None, "层级调整: 四川省（省级）→ 广安市（市级）"))
        elif entry is drop:
            p.changes.append(Change("removed", entry, None))
        elif key in status_of:
            new = p.carry(entry, 状态=status_of[key])
            p.changes.append(Change("status_changed", entry, new, f"状态: 未注明 → {status_of[key]}"))
        elif key in rename_ids:
            new = p.carry(entry, 事项名称=name(entry).replace("核发", "审批"))
            p.changes.append(Change("renamed", entry, new, _renamed(entry, new)))
        elif key in retype_ids:
            new = p.carry(entry, 事项类型="行政确认")
            p.changes.append(Change("type_changed", entry, new, "权力类型: 行政许可 → 行政确认"))
        elif key in redept_ids:
            new = p.carry(entry, 实施主体="四川省药品监督管理局")
            detail = f"实施主体: {entry.cells['实施主体']} → 四川省药品监督管理局"
            p.changes.append(Change("department_changed", entry, new, detail))
        elif entry is rebasis:
            basis = "《中华人民共和国食品安全法》第三十五条"
            new = p.carry(entry, 设定依据=basis)
            p.changes.append(Change("basis_changed", entry, new, f"设定依据: （空） → {basis}"))
        elif entry is basis_revised:
            basis = str(entry.cells["设定依据"]).replace(
                "《军人抚恤优待条例》", "《军人抚恤优待条例》（2024年修订）", 1
            )
            new = p.carry(entry, 设定依据=basis)
            p.changes.append(Change("basis_changed", entry, new))  # detail: shortened by the transform
        elif entry is split:
            for i, sub in enumerate(("新申请", "变更", "注销"), start=1):
                # the sub-items' codes extend the main code with a 办理项 segment
                new = p.carry(entry, 事项名称=sub_item_name(name(entry), sub, "full"), 基本编码=f"{entry.code}{i:02d}")
                p.changes.append(Change("split", entry, new, f"拆分: 「{name(entry)}」→ 3 项"))
        elif entry is merge_a:
            joined = f"{name(merge_a)}、{name(merge_b)}"
            new = p.carry(entry, 事项名称=joined)  # keeps the first item's code
            p.changes.extend(Change("merged", old, new, f"合并: 2 项 → 「{joined}」") for old in (merge_a, merge_b))
        else:
            p.carry(entry)
    for rec in additions:
        new = Entry(
            {
                "事项名称": rec["事项名称"],
                "基本编码": "",
                "事项类型": TYPES[LIAONING_TYPE_CODES.index(rec["事项类型"])],
                "实施主体": "四川省市场监督管理局" if "特种设备" in rec["事项名称"] else "四川省农业农村厅",
                "设定依据": " ".join(rec["依据"].split()),
                "状态": "",
            }
        )
        p.new.entries.append(new)
        p.changes.append(Change("added", None, new))

    # ---- 广安市 v2: takes up two devolutions, adds the moved item, drops the cancelled ones, and more ----
    c = VersionPair(gc, SampleList("sc-511600-guangan-v2", "511600", GUANGAN_CITY_V2, sheet="权责清单"))
    take_up = {id(gc_of[e.code]) for e in devolve}
    drop_city = {id(gc_of[e.code]) for e in cancel}
    city_used = take_up | drop_city
    hand_down = _pick(  # devolved by the city to its districts; 前锋区 takes up the first only
        rng,
        [
            gc_of[k]
            for k in sorted(qf_of)
            if k in gc_of and k in prov_of and not prov_of[k].cells["状态"] and id(prov_of[k]) not in used
        ],
        2,
        city_used,
    )
    pool = [e for e in gc_live if e.cells["事项编码"] and e.code not in qf_of]
    city_rename = _pick(rng, [e for e in pool if name(e).endswith("审批") and no_action(name(e))], 2, city_used)
    city_retype = _pick(rng, [e for e in pool if e.cells["职权类别"] == "公共服务"], 1, city_used)[0]
    city_redept = _pick(rng, [e for e in pool if e.cells["实施部门"] == "市行政审批局"], 2, city_used)
    city_split = _pick(
        rng,
        [
            e
            for e in pool
            if e.cells["职权类别"] == "行政许可"
            and name(e).endswith("许可")
            and "（" not in name(e)
            and "(" not in name(e)
            and no_action(name(e))
        ],
        1,
        city_used,
    )[0]
    group = [e for e in gc_live if name(e).startswith("道路客运班线经营许可证明")]
    city_used.update(id(e) for e in group)
    city_add = rng.choice([e for e in zy.entries if e.code not in ga_codes and e.code not in gc_codes])
    hand_down_ids = {id(e) for e in hand_down}
    city_rename_ids, city_redept_ids = {id(e) for e in city_rename}, {id(e) for e in city_redept}
    for entry in gc_live:
        key = id(entry)
        if key in drop_city:
            c.changes.append(Change("removed", entry, None))
        elif key in take_up or key in hand_down_ids:
            status = "承接" if key in take_up else "下放"
            new = c.carry(entry, 调整情况=status)
            c.changes.append(Change("status_changed", entry, new, f"状态: 未注明 → {status}"))
        elif key in city_rename_ids:
            new = c.carry(entry, 事项名称=name(entry).removesuffix("审批") + "许可")
            c.changes.append(Change("renamed", entry, new, _renamed(entry, new)))
        elif entry is city_retype:
            new = c.carry(entry, 职权类别="行政给付")
            c.changes.append(Change("type_changed", entry, new, "权力类型: 公共服务 → 行政给付"))
        elif key in city_redept_ids:
            new = c.carry(entry, 实施部门="市政务服务管理局")
            c.changes.append(Change("department_changed", entry, new, "实施主体: 市行政审批局 → 市政务服务管理局"))
        elif entry is city_split:
            for sub in ("新申请", "变更", "注销"):
                new = c.carry(entry, 事项名称=sub_item_name(name(entry), sub, "full"), 事项编码="")
                c.changes.append(Change("split", entry, new, f"拆分: 「{name(entry)}」→ 3 项"))
        elif entry is group[0]:  # the 办理项 rows become their main item, which has no code of its own yet
            new = c.carry(entry, 事项名称="道路客运班线经营许可证明", 事项编码="")
            detail = f"合并: {len(group)} 项 → 「道路客运班线经营许可证明」"
            c.changes.extend(Change("merged", old, new, detail) for old in group)
        elif any(entry is g for g in group):
            continue
        else:
            c.carry(entry)
    received = Entry(
        {
            "事项名称": "优抚对象医疗保障",
            "职权类别": moved.cells["事项类型"],
            "实施部门": "市退役军人事务局",
            "调整情况": "承接",
        }
    )
    from_ziyang = Entry(
        {
            "事项名称": half_width_brackets(name(city_add)),
            "事项编码": city_add.code,
            "职权类别": TYPES[SICHUAN_TASK_TYPE[str(city_add.cells["事项类型"])]],
            "实施部门": "广安市市场监督管理局",
        },
        code=city_add.code,
    )
    for new in (received, from_ziyang):
        c.new.entries.append(new)
        c.changes.append(Change("added", None, new))
    level = next(ch for ch in p.changes if ch.change == "level_changed")
    level.new, level.new_list = received, c.new

    # ---- 前锋区 v2: takes up one of the city's devolutions, drops the other, keeps a cancelled item -------
    q = VersionPair(qf, SampleList("sc-511603-qianfeng-v2", "511603", QIANFENG_V2))
    keep_cancelled, drop_cancelled = qf_of[cancel[0].code], qf_of[cancel[1].code]
    take, leave = qf_of[hand_down[0].code], qf_of[hand_down[1].code]
    district_used = {id(e) for e in (keep_cancelled, drop_cancelled, take, leave)}
    claimed = _pick(  # 承接 of an item that 广安市 and 四川省 still hold and never devolved
        rng,
        [
            qf_of[k]
            for k in sorted(qf_of)
            if k in gc_of
            and k in prov_of
            and id(gc_of[k]) not in city_used
            and id(prov_of[k]) not in used
            and not prov_of[k].cells["状态"]
            and not qf_of[k].cells["下放情况"]
        ],
        1,
        district_used,
    )[0]
    reworded = _pick(
        rng, [e for e in qf_live if name(e).startswith("对") and name(e).endswith("的处罚")], 1, district_used
    )[0]
    local = rng.choice([e for e in ga.entries if e.code and e.code not in gc_codes and e.code != drop.code])
    for entry in qf_live:
        if entry is drop_cancelled or entry is leave:
            q.changes.append(Change("removed", entry, None))
        elif entry is take or entry is claimed:
            new = q.carry(entry, 下放情况="承接")
            q.changes.append(Change("status_changed", entry, new, "状态: 未注明 → 承接"))
        elif entry is reworded:
            new = q.carry(entry, 权力名称=name(entry).removesuffix("的处罚").removesuffix("行为") + "行为的行政处罚")
            q.changes.append(Change("renamed", entry, new, _renamed(entry, new)))
        else:
            q.carry(entry)
    added = Entry(
        {
            "权力名称": name(local),
            "权力类型": TYPES[SICHUAN_TASK_TYPE[str(local.cells["事项类型"])]].replace("行政许可", "许可"),
            "责任部门": _relabel(str(local.cells["实施部门"]), ("广安区", "前锋区"), ("区", "区")),
            "下放情况": "",
        }
    )
    q.new.entries.append(added)
    q.changes.append(Change("added", None, added))

    pv, cv, qv = p.new, c.new, q.new
    d1, d2c, d2p = V1_DATES["510000"], V2_DATES["511600"], V2_DATES["510000"]
    designed = [
        Designed("devolved_not_received", True, (pv, p.now(newly_devolved)), "511600", since=d2p),
        Designed("devolved_not_received", True, (pv, p.now(newly_devolved)), "512000", since=d2p),
        Designed("devolved_not_received", True, (pv, p.now(by_name[LIAONING_ITEMS[0]])), "511600", since=d1),
        Designed("devolved_not_received", True, (prov, moved), "512000", since=d2p),
        Designed("devolved_not_received", True, (cv, c.now(gc_of[hand_down[1].code])), "511603", since=d2c),
        *(Designed("devolved_not_received", False, (pv, p.now(e)), "511600") for e in devolve),
        Designed("devolved_not_received", False, (prov, moved), "511600"),
        Designed("devolved_not_received", False, (cv, c.now(gc_of[hand_down[0].code])), "511603"),
        Designed("cancelled_still_listed", True, (qv, q.now(keep_cancelled)), "510000", (pv, p.now(cancel[0])), d2p),
        Designed("received_without_devolution", True, (qv, q.now(claimed)), "511600", (cv, c.now(gc_of[claimed.code]))),
        *(Designed("received_without_devolution", False, (cv, c.now(gc_of[e.code])), "510000") for e in devolve),
        Designed("received_without_devolution", False, (cv, received), "510000"),
        Designed("received_without_devolution", False, (qv, q.now(take)), "511600"),
    ]
    return [p, c, q], designed


def _renamed(old: Entry, new: Entry) -> str:
    """The transform's ``renamed`` detail: both names as normalised (what ``name_norm`` holds)."""
    before = old.cells.get("事项名称") or old.cells.get("权力名称")
    after = new.cells.get("事项名称") or new.cells.get("权力名称")
    return f"名称: {normalise_name(str(before))} → {normalise_name(str(after))}"


def write_versions(pairs: list[VersionPair], designed: list[Designed]) -> None:
    """Write the three newer lists, expected_changes.csv and expected_findings.csv (by row numbers)."""
    p, c, q = pairs
    rows = []
    for i, entry in enumerate(p.new.entries):
        entry.row_no = i + 2
        cells = entry.cells
        rows.append(
            [str(i + 1)]
            + [
                cells.get(h, "")
                for h in ("事项名称", "基本编码", "事项类型", "实施主体", "设定依据", "状态", "责任事项")
            ]
        )
    write_csv(
        PROVINCE_V2,
        ["序号", "事项名称", "基本编码", "事项类型", "实施主体", "设定依据", "状态", "责任事项"],
        rows,
        encoding="utf-8-sig",
    )

    header = [*GC_HEADER, "调整情况"]
    rows = []
    for i, entry in enumerate(c.new.entries):
        entry.row_no = i + 3
        rows.append([str(i + 1)] + [entry.cells.get(h, "") for h in header[1:]])
    write_xlsx(
        GUANGAN_CITY_V2, header, rows, sheet=c.new.sheet, title_rows=["广安市行政职权事项目录（2024年动态调整）"]
    )

    header = ["序号", "权力名称", "权力类型", "责任部门", "下放情况"]
    rows = []
    for i, entry in enumerate(q.new.entries):
        entry.row_no = i + 2
        rows.append([str(i + 1)] + [entry.cells.get(h, "") for h in header[1:]])
    write_csv(QIANFENG_V2, header, rows, encoding="gb18030")

    expected = []
    for pair in pairs:
        for change in pair.changes:
            new_list = change.new_list or pair.new
            old, new = change.old, change.new
            expected.append(
                (
                    pair.new.jurisdiction,
                    pair.old.source_id,
                    pair.new.source_id,
                    change.change,
                    pair.old.source_id if old else "",
                    pair.old.sheet if old else "",
                    str(old.row_no) if old else "",
                    new_list.source_id if new else "",
                    new_list.sheet if new else "",
                    str(new.row_no) if new else "",
                    _shown(old) if old else "",
                    _shown(new) if new else "",
                    change.detail,
                )
            )
    expected.sort()
    with (HERE / "expected_changes.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EXPECTED_COLUMNS)
        writer.writerows(expected)
    findings = []
    for d in designed:
        (s_list, s_entry), other = d.subject, d.other
        findings.append(
            (
                d.kind,
                "yes" if d.present else "no",
                s_list.jurisdiction,
                s_list.source_id,
                s_list.sheet,
                str(s_entry.row_no),
                d.other_jurisdiction,
                other[0].source_id if other else "",
                other[0].sheet if other else "",
                str(other[1].row_no) if other else "",
                d.since,
                _shown(s_entry),
            )
        )
    with (HERE / "expected_findings.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FINDING_COLUMNS)
        writer.writerows(findings)
    print(
        json.dumps(
            {pair.new.source_id: len(pair.new.entries) for pair in pairs} | {"expected_changes": len(expected)},
            ensure_ascii=False,
        )
    )


def _shown(entry: Entry) -> str:
    return str(entry.cells.get("事项名称") or entry.cells.get("权力名称") or "")


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


V2_SOURCES = """
[[source]]
id = "sc-510000-province-v2"
jurisdiction = "510000"
path = "sichuan/510000_sichuan_province_2024.csv"
published = 2024-09-30
title = "四川省行政职权事项目录（2024年动态调整，派生示例）"

[[source]]
id = "sc-511600-guangan-v2"
jurisdiction = "511600"
path = "sichuan/511600_guangan_city_2024.xlsx"
published = 2024-11-20
title = "广安市行政职权事项目录（2024年动态调整，派生示例）"

[[source]]
id = "sc-511603-qianfeng-v2"
jurisdiction = "511603"
path = "sichuan/511603_qianfeng_district_2025.csv"
published = 2025-01-15
title = "前锋区权力清单（2025年，派生示例）"
"""


def versions_manifest() -> str:
    """sources.toml's seven lists, three of them dated as first versions, plus their newer versions.

    A manifest of its own because sources.toml is what the cross-level truth (truth.csv) scores: with
    the newer lists in it, matching (current versions only) would no longer see the lists the truth
    names, and the older versions' items would carry no power_id.
    """
    text = MANIFEST.replace(
        "# The bundled sample: real Sichuan/Liaoning lists plus lists derived from them (see PROVENANCE.md).\n"
        "# Written by data/sample/build_sample.py. truth.csv holds the true cross-level links, bad_rows.csv the\n"
        "# rows that must be quarantined. No published dates: the real lists' collection dates are not known.\n",
        "# The bundled sample with versions: sources.toml plus newer versions of 四川省, 广安市 and 前锋区 (see\n"
        '# PROVENANCE.md, "Versions"). Written by data/sample/build_sample.py; expected_changes.csv holds the\n'
        "# changes between the versions. The first versions' dates are made up, as the derived lists are.\n",
    ).replace('name = "sichuan-sample"', 'name = "sichuan-sample-versions"')
    for source_id, code in (
        ("sc-510000-province-derived", "510000"),
        ("sc-511600-guangan-derived", "511600"),
        ("sc-511603-qianfeng-derived", "511603"),
    ):
        block = f'id = "{source_id}"\njurisdiction = "{code}"\n'
        assert block in text, source_id
        path_line = text[text.index(block) + len(block) :].split("\n", 1)[0]
        text = text.replace(block + path_line + "\n", block + path_line + f"\npublished = {V1_DATES[code]}\n")
    for code, date in V2_DATES.items():
        assert f'jurisdiction = "{code}"\npath = ' in V2_SOURCES and f"published = {date}" in V2_SOURCES, code
    return text + V2_SOURCES


def main() -> int:
    stage_real()
    lists = build_derived()
    (HERE / "sources.toml").write_text(MANIFEST, encoding="utf-8")
    write_versions(*build_versions(lists))
    (HERE / "versions.toml").write_text(versions_manifest(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
