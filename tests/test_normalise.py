"""Tests of transforms.clean.normalise on real list values (shared/realdata) and on the awkward cases.

Examples are copied from the real Sichuan, Liaoning, Zhejiang and Guangdong material so that the rules are
checked against what lists actually contain, not against what we imagine they contain.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.clean.normalise import (
    DEFAULT_POWER_TYPE,
    VOCAB_DIR,
    WARN_CODE_UNRECOGNISED,
    WARN_TYPE_DEFAULTED,
    WARN_TYPE_FROM_CODE,
    WARN_TYPE_FROM_NAME,
    load_vocab,
    map_power_type,
    map_status,
    normalise,
    normalise_name,
    parse_base_code,
    power_type_from_code,
    split_sub_item,
)
from transforms.ingest.columns import ROW_FRAME_COLUMNS
from transforms.publish.schema import POWER_TYPES, STATUSES

# The real lists: staged in the repository (data/realdata) or the shared folder of the workplace.
_REALDATA_CANDIDATES = (Path(__file__).resolve().parent.parent / "data" / "realdata", Path("/work/shared/realdata"))
SICHUAN = next((path / "sichuan" for path in _REALDATA_CANDIDATES if (path / "sichuan").is_dir()), None)

_FIXED = ("source_id", "sheet", "row_no", "raw", "extra", "row_errors")
ROW_COLUMNS = tuple(c for c in ROW_FRAME_COLUMNS if c not in _FIXED)  # the cells a reader fills


def row_frame(rows: list[dict[str, str | None]]) -> pd.DataFrame:
    """A minimal row frame as read_rows produces it: every canonical column present, object dtype."""
    records = [("t", "", i + 2, {}, {}, [], *(row.get(column) for column in ROW_COLUMNS)) for i, row in enumerate(rows)]
    frame = pd.DataFrame.from_records(records, columns=[*_FIXED, *ROW_COLUMNS])
    return frame.astype({column: object for column in ROW_COLUMNS})


# ------------------------------------------------------------------------------------------------
# basic codes


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # Sichuan itemCode, each basic-code shape seen in the two real lists
        ("511A0080600053-512000000000-000-11511800015427357G-1-00", "511A0080600053"),
        ("511Z07001006-511602000000-000-11511301008778183N-1-00", "511Z07001006"),
        ("512012002012-511602000000-000-115113010087786859-1-00", "512012002012"),
        ("51201200200013-511602000000-000-115113010087786859-1-00", "51201200200013"),
        ("G-000007-001-511602000000-000-115113010833722043-1-00", "G-000007-001"),
        ("A-005818-5818-511602000000-000-115113010087783353-1-00", "A-005818-5818"),
        ("1J-5100-00027-511602000000-000-11511301008778386B-1-00", "1J-5100-00027"),
        ("511A0138000000-510000000000-000-11510000MB1234567X-5-1-00", "511A0138000000"),
        ("511A0138000000-511602000000-000-115113010833722043-null-00", "511A0138000000"),
        # the three rows without an area segment
        ("E-000021-001-1111111111111111", "E-000021-001"),
        ("E-000004-001-11511301008778386B", "E-000004-001"),
        ("Z-000147-001-1151130100", "Z-000147-001"),
        # bare basic codes
        ("511A72033001", "511A72033001"),
        ("511F31141001", "511F31141001"),
        ("511A0138000000", "511A0138000000"),
        ("G-000007-001", "G-000007-001"),
        # Liaoning / national 12-digit catalogue codes
        ("210973001000", "210973001000"),
        ("000524018000", "000524018000"),
        # Guangdong 实施编码: credit code + level digit + catalogue code (+ 2-digit 办理项)
        ("11440300MB2C94128A3440217281000", "440217281000"),
        ("11440300MB2D0722464440127028001", "440127028001"),
        ("114403006939513773344201505200802", "442015052008"),
        # cell noise: spaces, lower case, full-width characters, Excel text marker and float rendering
        (" 511a72033001 ", "511A72033001"),
        ("５１１Ａ７２０３３００１", "511A72033001"),
        ("'210973001000", "210973001000"),
        ("210973001000.0", "210973001000"),
        ("许可－00977－001", "许可-00977-001"),
        ("許可-00977-001", "许可-00977-001"),
    ],
)
def test_parse_base_code(code: str, expected: str) -> None:
    assert parse_base_code(code) == expected


def test_zhejiang_codes_are_basic_codes_already() -> None:
    codes = [
        "许可-00977-001",
        "许可-00344-001-01",
        "许可-00757-000",
        "其他-02491-006",
        "确认-00253-013-02",
        "公共服务-00512-002",
    ]
    assert [parse_base_code(code) for code in codes] == codes


@pytest.mark.parametrize("code", [None, "", "  ", "无", "/", "-"])
def test_empty_codes_give_none_without_warning(code: str | None) -> None:
    assert parse_base_code(code) is None
    out = normalise(row_frame([{"name_raw": "X审批", "code_raw": code, "power_type_raw": "许可"}]))
    assert out["norm_warnings"].iloc[0] == []


@pytest.mark.parametrize("code", ["abc", "524018000", "511A0080600053-5120", "11440300MB2C94128A", "许可00977001"])
def test_unknown_code_format_gives_none_and_warning(code: str) -> None:
    assert parse_base_code(code) is None
    out = normalise(row_frame([{"name_raw": "X审批", "code_raw": code, "power_type_raw": "许可"}]))
    assert out["base_code"].iloc[0] is None
    assert out["norm_warnings"].iloc[0] == [WARN_CODE_UNRECOGNISED]


@pytest.mark.skipif(SICHUAN is None, reason="real Sichuan lists not available")
def test_every_real_sichuan_code_gives_its_published_basic_code() -> None:
    for path in sorted(SICHUAN.glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        parsed = frame["item_code"].map(parse_base_code)
        published = frame["basic_code"].where(frame["basic_code"] != "", None)
        known = published.notna()
        assert (parsed[known] == published[known]).all(), path.name
        assert parsed.notna().all(), path.name  # the rows without a published split parse too


# ------------------------------------------------------------------------------------------------
# power type stated by the code


@pytest.mark.parametrize(
    ("base_code", "expected"),
    [
        ("511A0080600053", "行政许可"),
        ("511A72033001", "行政许可"),
        ("511E15002003", "行政裁决"),
        ("511F09014002", "行政确认"),
        ("511G12016001", "行政给付"),
        ("511Z07001006", "其他行政权力"),
        ("512B0053300007", "公共服务"),
        ("512C0053300008", "公共服务"),
        ("512012002012", "公共服务"),
        ("51201200200013", "公共服务"),
        ("G-000007-001", "行政给付"),
        ("H-000507-001", "行政奖励"),
        ("E-000010-001", "行政裁决"),
        ("210973001000", "行政裁决"),
        ("000524018000", "行政给付"),
        ("440217281000", "行政处罚"),
        ("许可-00977-001", "行政许可"),
        ("公共服务-00512-002", "公共服务"),
        ("确认-00253-001", "行政确认"),
        ("513A0161200000", None),  # 513A mixes task types in the real list
        ("1J-5100-00027", None),
        ("A-005818-5818", None),
        (None, None),
    ],
)
def test_power_type_from_code(base_code: str | None, expected: str | None) -> None:
    assert power_type_from_code(base_code) == expected


@pytest.mark.skipif(SICHUAN is None, reason="real Sichuan lists not available")
def test_code_type_agrees_with_sichuan_task_type() -> None:
    task_types = {"1": "行政许可", "5": "行政给付", "7": "行政确认", "8": "行政奖励", "9": "行政裁决"}
    task_types |= {"10": "其他行政权力", "20": "公共服务"}
    frames = [pd.read_csv(path, dtype=str) for path in sorted(SICHUAN.glob("*.csv"))]
    frame = pd.concat(frames)
    from_code = frame["item_code"].map(lambda code: power_type_from_code(parse_base_code(code)))
    stated = from_code.notna()
    agree = (from_code[stated] == frame["task_type"][stated].map(task_types)).mean()
    assert stated.mean() > 0.95
    assert agree > 0.99  # one 511Z item is listed under taskType 9 (裁决)


# ------------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("行政許可", "行政许可"),
        ("對違反《條例》行為的處罰", "对违反《条例》行为的处罚"),
        (
            "1.  对违反《商业银行柜台记账式国债交易管理办法》行为的处罚",
            "对违反《商业银行柜台记账式国债交易管理办法》行为的处罚",
        ),
        ("1、公司设立登记", "公司设立登记"),
        ("1．公司设立登记", "公司设立登记"),
        ("（一）公司设立登记", "公司设立登记"),
        ("(1)公司设立登记", "公司设立登记"),
        ("一、公司设立登记", "公司设立登记"),
        ("①公司设立登记", "公司设立登记"),
        ("第一项 公司设立登记", "公司设立登记"),
        ("3 公司设立登记", "公司设立登记"),
        ("1.2 公司设立登记", "公司设立登记"),
        ("（一）1.公司设立登记", "公司设立登记"),
        ("公司设立登记。", "公司设立登记"),
        ("公司设立登记；", "公司设立登记"),
        ("公 司 设 立\t登记\n", "公司设立登记"),
        ("\u200b公司设立登记\ufeff", "公司设立登记"),
        ("伐区调查设计材料的审核(县级)", "伐区调查设计材料的审核（县级）"),
        ("【行政许可】食品经营许可", "（行政许可）食品经营许可"),
        ("国办发〔2022〕2号", "国办发（2022）2号"),
        ("草原等级评定［县级］", "草原等级评定（县级）"),
        (
            "食品生产许可注销（（保健食品、特殊医学用途配方食品、婴幼儿配方食品、婴幼儿辅助食品、食盐除外）",
            "食品生产许可注销（保健食品、特殊医学用途配方食品、婴幼儿配方食品、婴幼儿辅助食品、食盐除外）",
        ),
        ("食品经营许可（）", "食品经营许可"),
        ("成都等８市", "成都等8市"),
        ("ＡＢＣ认证", "ABC认证"),
        ("第349号,部分省级", "第349号，部分省级"),
        ("公司设立登记-有限责任公司", "公司设立登记—有限责任公司"),
        ("公司设立登记——有限责任公司", "公司设立登记—有限责任公司"),
        # numbering-like starts that are part of the name stay
        ("1.5吨以下锅炉审批", "1.5吨以下锅炉审批"),
        ("12345政务服务便民热线", "12345政务服务便民热线"),
        ("第一类医疗器械产品备案", "第一类医疗器械产品备案"),
        ("第三方涉税保密信息查询（县级行使）", "第三方涉税保密信息查询（县级行使）"),
        ("一次性内部资料性出版物准印证核发（县级）", "一次性内部资料性出版物准印证核发（县级）"),
        ("三级运动员称号授予", "三级运动员称号授予"),
        ("《药品经营许可证》（零售）核发", "《药品经营许可证》（零售）核发"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "（一）", "一、", "1.", "(1)", "①", "第一项", "12345", "。；", "—", "（）", "一"]
)
def test_names_without_content_become_none(raw: str | None) -> None:
    assert normalise_name(raw) is None


def test_simplified_real_names_are_unchanged() -> None:
    for name in [
        "无线电频率使用许可（新申请）",
        "企业投资项目备案（技术改造）（市级/县级）",
        "客运线路经营主体、起讫地变更许可（变更经营主体）",
        "专利权侵权纠纷处理",
        "区域性批发企业需就近向其他省、自治区、直辖市行政区域内的取得麻醉药品和第一类精神药品使用资格的医疗机构销售麻醉药品和第一类精神药品的审批",
    ]:
        assert normalise_name(name) == name


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_normalise_name_is_idempotent_and_total(text: str) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once
    if once is not None:
        assert not any(char.isspace() for char in once)
        assert "(" not in once and ")" not in once


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("（）()[]【】〔〕 、，。；.:：-—一二1２①第项条对的审批許可处罚"), max_size=30))
def test_normalise_name_is_idempotent_on_punctuation_heavy_text(text: str) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once


# ------------------------------------------------------------------------------------------------
# main item / sub-item


@pytest.mark.parametrize(
    ("name", "main", "sub"),
    [
        ("无线电频率使用许可（新申请）", "无线电频率使用许可", "新申请"),
        ("无线电频率使用许可（变更）", "无线电频率使用许可", "变更"),
        ("X企业登记（非法人企业变更）", "X企业登记", "非法人企业变更"),
        ("道路客运班线经营许可证明（换发）", "道路客运班线经营许可证明", "换发"),
        ("客运车辆道路运输证办理（注销）", "客运车辆道路运输证办理", "注销"),
        ("客运线路经营主体、起讫地变更许可（变更起讫地）", "客运线路经营主体、起讫地变更许可", "变更起讫地"),
        ("货物运输车辆道路运输证办理（注销、报停与恢复营运）", "货物运输车辆道路运输证办理", "注销、报停与恢复营运"),
        ("客运线路经营许可（终止运营）", "客运线路经营许可", "终止运营"),
        ("个人独资企业变更登记（备案）", "个人独资企业变更登记", "备案"),
        # a level qualifier after the marker stays in the main name
        ("医疗机构执业审批（注销）（县级）", "医疗机构执业审批（县级）", "注销"),
        ("医疗机构执业变更（承诺件）（县级）", "医疗机构执业变更（县级）", "承诺件"),
        # separators
        ("公司设立登记—有限责任公司", "公司设立登记", "有限责任公司"),
        ("公司设立登记：股份有限公司", "公司设立登记", "股份有限公司"),
        # not split: level and scope qualifiers, brackets inside the name, action words without brackets
        ("举办高危险性体育赛事活动许可（县级）", "举办高危险性体育赛事活动许可（县级）", None),
        ("企业投资项目备案（技术改造）（市级/县级）", "企业投资项目备案（技术改造）（市级/县级）", None),
        (
            "食品生产许可核发（保健食品、特殊医学用途配方食品、婴幼儿配方食品、婴幼儿辅助食品、食盐除外）",
            "食品生产许可核发（保健食品、特殊医学用途配方食品、婴幼儿配方食品、婴幼儿辅助食品、食盐除外）",
            None,
        ),
        ("娱乐场所补证审批（含中外合资）", "娱乐场所补证审批（含中外合资）", None),
        ("农药经营许可证延续（其他农药）", "农药经营许可证延续（其他农药）", None),
        ("农民专业合作社（联合社）设立登记", "农民专业合作社（联合社）设立登记", None),
        ("食品添加剂生产许可延续", "食品添加剂生产许可延续", None),
        ("（变更）", "（变更）", None),
        ("行政许可：食品经营许可", "行政许可：食品经营许可", None),
        ("X—Y", "X—Y", None),
    ],
)
def test_split_sub_item(name: str, main: str, sub: str | None) -> None:
    assert normalise_name(name) == name
    assert split_sub_item(name) == (main, sub)


def test_sub_item_cell_wins_over_the_name() -> None:
    frame = row_frame(
        [
            {"name_raw": "企业设立、变更、注销登记", "sub_item_raw": "  分公司变更登记（备案）"},
            {"name_raw": "客运站经营许可（注销）", "sub_item_raw": None},
            {"name_raw": "公司设立登记", "sub_item_raw": "公司设立登记"},  # a repeated name is no sub-item
            {"name_raw": "公司设立登记", "sub_item_raw": "（一）"},
            {"name_raw": "（一）", "sub_item_raw": "变更"},
        ]
    )
    out = normalise(frame)
    assert out["main_name"].tolist() == [
        "企业设立、变更、注销登记",
        "客运站经营许可",
        "公司设立登记",
        "公司设立登记",
        None,
    ]
    assert out["sub_item"].tolist() == ["分公司变更登记（备案）", "注销", None, None, None]


# ------------------------------------------------------------------------------------------------
# power types


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        *[(t, t) for t in POWER_TYPES],
        ("许可", "行政许可"),
        ("审批", "行政许可"),
        ("行政审批", "行政许可"),
        ("行政许可类", "行政许可"),
        ("行政许可事项", "行政许可"),
        ("行政許可", "行政许可"),
        (" 行政 许可 ", "行政许可"),
        ("处罚", "行政处罚"),
        ("强制", "行政强制"),
        ("征收", "行政征收"),
        ("给付", "行政给付"),
        ("检查", "行政检查"),
        ("确认", "行政确认"),
        ("奖励", "行政奖励"),
        ("裁决", "行政裁决"),
        ("其他", "其他行政权力"),
        ("其它", "其他行政权力"),
        ("其他权力", "其他行政权力"),
        ("其他类", "其他行政权力"),
        ("公共服务", "公共服务"),
        ("服务", "公共服务"),
        # Liaoning / national 2-digit codes
        ("01", "行政许可"),
        ("02", "行政处罚"),
        ("03", "行政强制"),
        ("04", "行政征收"),
        ("05", "行政给付"),
        ("06", "行政检查"),
        ("07", "行政确认"),
        ("08", "行政奖励"),
        ("09", "行政裁决"),
        ("10", "其他行政权力"),
        ("20", "公共服务"),
        ("99", "其他行政权力"),
        # Sichuan portal taskType numbers
        ("1", "行政许可"),
        ("5", "行政给付"),
        ("7", "行政确认"),
        ("8", "行政奖励"),
        ("9", "行政裁决"),
        ("5.0", "行政给付"),
        # Sichuan code letters
        ("A", "行政许可"),
        ("F", "行政确认"),
        ("G", "行政给付"),
        ("Z", "其他行政权力"),
    ],
)
def test_known_labels(label: str, expected: str) -> None:
    assert map_power_type(label, "随便什么名称的处罚") == (expected, False, None)


@pytest.mark.parametrize("label", ["行政复议", "foo", "B", "00", "类"])
def test_unknown_label_gives_none(label: str) -> None:
    power_type, inferred, warning = map_power_type(label, "对违反X的处罚")
    assert power_type is None
    assert inferred is False
    assert warning == f"power_type: unknown label '{label}'"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("对违反《商业银行柜台记账式国债交易管理办法》行为的处罚", "行政处罚"),
        ("对从事生产经营的纳税人逃避纳税义务并有明显转移隐匿迹象行为的行政强制", "行政强制"),
        ("查封、扣押有关场所和物品", "行政强制"),
        ("城市基础设施配套费征收", "行政征收"),
        ("延期向社会开放档案审批", "行政许可"),
        ("企业投资项目核准", "行政许可"),
        ("林木采伐许可证核发（县级权限）", "行政许可"),
        ("对排放污染物的企业事业单位和其他生产经营者进行现场检查", "行政检查"),
        ("对食品生产经营活动的监督检查", "行政检查"),
        ("土地权属争议裁决", "行政裁决"),
        ("水事纠纷处理", "行政裁决"),
        ("民族团结进步表彰活动", "行政奖励"),
        ("法律援助补贴发放", "行政给付"),
        ("人民调解员因从事工作致伤残、牺牲的救助、抚恤", "行政给付"),
        ("农村部分计划生育家庭奖励扶助金", "行政给付"),
        ("古树名木认定", "行政确认"),
        ("户口登记", "行政确认"),
        ("学生资助政策咨询", "公共服务"),
        ("单位国际联网备案", "其他行政权力"),
    ],
)
def test_type_inferred_from_name(name: str, expected: str) -> None:
    assert map_power_type(None, normalise_name(name)) == (expected, True, WARN_TYPE_FROM_NAME)


@pytest.mark.parametrize("label", [None, "", "  ", "无", "-"])
def test_missing_label_without_clue_defaults(label: str | None) -> None:
    assert map_power_type(label, "优抚对象医疗保障") == (DEFAULT_POWER_TYPE, True, WARN_TYPE_DEFAULTED)
    assert map_power_type(label, None) == (DEFAULT_POWER_TYPE, True, WARN_TYPE_DEFAULTED)


def test_code_type_comes_before_name_and_after_label() -> None:
    name = "公司设立登记"  # the name alone says 确认; Sichuan lists it as a licence (511A…)
    assert map_power_type(None, name, "511A0064100070") == ("行政许可", True, WARN_TYPE_FROM_CODE)
    assert map_power_type(None, name, "513A0011200063") == ("行政确认", True, WARN_TYPE_FROM_NAME)
    assert map_power_type("确认", name, "511A0064100070") == ("行政确认", False, None)


# ------------------------------------------------------------------------------------------------
# status


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("保留", "保留"),
        ("继续保留", "保留"),
        ("原有", "保留"),
        ("不变", "保留"),
        ("无变化", "保留"),
        (" 保 留 ", "保留"),
        ("暂不下放", "保留"),
        ("下放", "下放"),
        ("下放至县", "下放"),
        ("下放到市县", "下放"),
        ("下放市级", "下放"),
        ("委托", "委托"),
        ("委托下放", "委托"),
        ("委托实施", "委托"),
        ("根据省政府349号令，该事项办理已委托成都、德阳等8个市实施", "委托"),
        ("取消", "取消"),
        ("已取消", "取消"),
        ("拟取消", "取消"),
        ("删除", "取消"),
        ("不予保留", "取消"),
        ("承接", "承接"),
        ("承接省级下放", "承接"),
        ("承接上级", "承接"),
        ("承接上级委托事项", "承接"),
        ("省级、市级、县级", "未注明"),
        ("2,3,4", "未注明"),
        ("新增", "未注明"),
        ("", "未注明"),
        (None, "未注明"),
    ],
)
def test_map_status(raw: str | None, expected: str) -> None:
    assert map_status(raw) == expected
    assert expected in STATUSES


# ------------------------------------------------------------------------------------------------
# the frame transform


def test_normalise_adds_columns_and_keeps_input() -> None:
    frame = row_frame(
        [
            {
                "name_raw": "1.  對違反《條例》行為的處罰",
                "code_raw": "210299021000",
                "power_type_raw": "02",
                "status_raw": "保留",
            },
            {
                "name_raw": "无线电频率使用许可（变更）",
                "code_raw": "511A0080600053-512000000000-000-11511800015427357G-1-00",
            },
            {"name_raw": "优抚对象医疗保障", "code_raw": "xyz", "status_raw": "省级、市级、县级"},
            {"name_raw": "（一）", "power_type_raw": "行政复议", "status_raw": "下放至县"},
        ]
    )
    before = frame.copy(deep=True)
    out = normalise(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out["name_raw"].tolist() == before["name_raw"].tolist()
    assert out["name_norm"].tolist() == [
        "对违反《条例》行为的处罚",
        "无线电频率使用许可（变更）",
        "优抚对象医疗保障",
        None,
    ]
    assert out["main_name"].tolist() == ["对违反《条例》行为的处罚", "无线电频率使用许可", "优抚对象医疗保障", None]
    assert out["sub_item"].tolist() == [None, "变更", None, None]
    assert out["power_type"].tolist() == ["行政处罚", "行政许可", DEFAULT_POWER_TYPE, None]
    assert out["power_type_inferred"].tolist() == [False, True, True, False]
    assert out["base_code"].tolist() == ["210299021000", "511A0080600053", None, None]
    assert out["status"].tolist() == ["保留", "未注明", "未注明", "下放"]
    assert out["norm_warnings"].tolist() == [
        [],
        [WARN_TYPE_FROM_CODE],
        [WARN_TYPE_DEFAULTED, WARN_CODE_UNRECOGNISED],
        ["power_type: unknown label '行政复议'"],
    ]
    for column in ("name_norm", "main_name", "sub_item", "power_type", "base_code", "status", "norm_warnings"):
        assert out[column].dtype == object
    assert out["power_type_inferred"].dtype == bool


def test_normalise_empty_frame() -> None:
    out = normalise(row_frame([]))
    assert len(out) == 0
    assert {"name_norm", "power_type", "norm_warnings"} <= set(out.columns)


def test_normalise_tolerates_missing_optional_columns() -> None:
    out = normalise(pd.DataFrame({"name_raw": ["公司设立登记（变更）", None]}, dtype=object))
    assert out["main_name"].tolist() == ["公司设立登记", None]
    assert out["status"].tolist() == ["未注明", "未注明"]


def test_normalise_100k_rows_keeps_count_order_and_agrees_with_scalars() -> None:
    rng = np.random.default_rng(7)
    names = [
        "1.对违反X的处罚",
        "行政許可（变更）",
        "（一）",
        None,
        "户口登记",
        "优抚对象医疗保障",
        "公司设立登记—有限公司",
    ]
    codes = ["511A0080600053-512000000000-000-11511800015427357G-1-00", "210973001000", None, "??", "许可-00977-001"]
    labels = [None, "许可", "09", "未知", ""]
    statuses = [None, "委托下放", "保留", "省级、市级"]
    n = 100_000
    frame = row_frame(
        [
            {
                "name_raw": names[i % len(names)] if i % 11 else f"事项{i}审批",
                "code_raw": codes[c],
                "power_type_raw": labels[t],
                "status_raw": statuses[s],
            }
            for i, c, t, s in zip(
                range(n),
                rng.integers(0, len(codes), n),
                rng.integers(0, len(labels), n),
                rng.integers(0, len(statuses), n),
                strict=True,
            )
        ]
    )
    frame.index = pd.RangeIndex(n)[::-1]  # a non-default index must survive too
    out = normalise(frame)
    assert len(out) == n
    assert out.index.equals(frame.index)
    assert out["row_no"].tolist() == frame["row_no"].tolist()
    assert out["name_raw"].tolist() == frame["name_raw"].tolist()
    for position in rng.integers(0, n, 300):
        row = out.iloc[position]
        name_norm = normalise_name(row["name_raw"])
        base_code = parse_base_code(row["code_raw"])
        power_type, inferred, _warning = map_power_type(row["power_type_raw"], name_norm, base_code)
        assert row["name_norm"] == name_norm
        assert row["base_code"] == base_code
        assert (row["power_type"], row["power_type_inferred"]) == (power_type, inferred)
        assert row["status"] == map_status(row["status_raw"])
        assert isinstance(row["norm_warnings"], list)
        if name_norm is not None:
            assert row["main_name"] is not None


# ------------------------------------------------------------------------------------------------
# vocabularies


def test_shipped_vocabularies_load() -> None:
    vocab = load_vocab(VOCAB_DIR)
    assert set(vocab.labels.values()) <= set(POWER_TYPES)
    assert {status for _keyword, status in vocab.statuses} <= set(STATUSES)
    assert len(vocab.inference) > 5


def test_bad_vocabulary_row_names_file_and_line(tmp_path: Path) -> None:
    for path in VOCAB_DIR.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    with (tmp_path / "power_types.csv").open("a", encoding="utf-8") as handle:
        handle.write("检测,行政检测\n")
    with pytest.raises(ValueError, match=r"power_types\.csv:\d+: '行政检测' is not one of"):
        load_vocab(tmp_path)


def test_bad_vocabulary_header_is_an_error(tmp_path: Path) -> None:
    for path in VOCAB_DIR.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "statuses.csv").write_text("word;status\n保留;保留\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header must be keyword,status"):
        load_vocab(tmp_path)


def test_department_prefix_is_not_a_main_item() -> None:
    """'县市场监管局：X' names who does X; splitting there would make the department a 'main item'."""
    assert split_sub_item("县市场监管局：食品经营许可") == ("县市场监管局：食品经营许可", None)
    assert split_sub_item("公司设立登记—有限责任公司") == ("公司设立登记", "有限责任公司")


# ---- the batched and cached paths give what the scalar functions give -----------------------------------------------

TRICKY_NAMES = [
    "對違反規定的處罰（變更）（縣級）",
    "（一）1. 第一项 食品经营许可；",
    "①②药品经营许可",
    "客运车辆道路运输证办理(注销)",
    "  Ａｂｃ 全角 -- 名称 —— ",
    "注销（（个人独资企业））",
    "1.5吨以下锅炉审批",
    "第一项",
    "。。",
    "含\n换行\t制表\u200b零宽",
    "公司设立登记—有限责任公司",
    "县市场监管局：食品抽检",
    "",
    None,
    5,
    "a\nb",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(), st.sampled_from(TRICKY_NAMES)), max_size=12))
def test_batched_name_normalisation_equals_normalise_name(values: list) -> None:
    from transforms.clean.normalise import name_facts, name_facts_many, normalise_names

    values = list(dict.fromkeys(v for v in [*values, *TRICKY_NAMES] if not isinstance(v, float)))
    assert normalise_names(values) == [normalise_name(v) for v in values]
    assert name_facts_many(values) == [name_facts(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from("對違規處罰變縣級許證書們後發\n里面乾隆ab 1"), max_size=12), max_size=8)
)
def test_t2s_of_many_texts_at_once_equals_one_by_one(texts: list[str]) -> None:
    from transforms.clean.normalise import to_simplified, to_simplified_many

    assert to_simplified_many(texts) == [to_simplified(text) for text in texts]


def _reference_parse_code(code: str | None) -> tuple[str | None, str | None]:
    """parse_code as a loop over CODE_FORMS, the first form that matches the whole cleaned code wins."""
    import re
    import unicodedata

    from transforms.clean.normalise import CODE_DASHES, CODE_FORMS, EXCEL_FLOAT, INVISIBLE, PLACEHOLDERS, to_simplified

    if not isinstance(code, str):
        return None, None
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", INVISIBLE.sub("", code)))
    text = text.translate(CODE_DASHES).lstrip("'").upper()
    if not text.isascii():
        text = to_simplified(text)
    if match := EXCEL_FLOAT.fullmatch(text):
        text = match.group(1)
    if text in PLACEHOLDERS:
        return None, None
    for _form, pattern in CODE_FORMS:
        if match := pattern.fullmatch(text):
            return (match.group("base") if "base" in pattern.groupindex else text), None
    return None, WARN_CODE_UNRECOGNISED


CODE_PIECES = [
    "511A0138000000", "512000000000", "000", "11511800015427357G", "-", "G-000007-001", "E", "许可", "00977",
    "001", "11440300MB2C94128A", "3", "440217281000", "210973001000", "12345678", "Z", " ", "—", "'", ".0", "ａ",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(CODE_PIECES), min_size=1, max_size=6), st.sampled_from(["", "-"]))
def test_parse_code_equals_the_loop_over_code_forms(pieces: list[str], joiner: str) -> None:
    from transforms.clean.normalise import code_facts, parse_code

    for code in (joiner.join(pieces), joiner.join(pieces).lower()):
        assert parse_code(code) == _reference_parse_code(code)
        base, warning = parse_code(code)
        assert code_facts(code) == (base, warning, power_type_from_code(base))
