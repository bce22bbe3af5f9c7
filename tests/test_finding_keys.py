"""``finding_key``: the same finding in a re-published list keeps its key; different findings differ.

The lists go through the real reader, normaliser, matcher and checks (no flow: a second per case).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa

from transforms.clean.items import add_jurisdiction_columns, item_ids
from transforms.clean.normalise import normalise
from transforms.examine.findings import find_cross_level
from transforms.examine.reform import ReformCheck
from transforms.ingest.jurisdictions import load_registry
from transforms.ingest.read import read_rows
from transforms.link.match import link_items

REGISTRY = load_registry()
HEADER = "序号,事项名称,基本编码,事项类型,实施主体,状态"
PROVINCE = [
    "食品经营许可,511A0001,行政许可,四川省市场监督管理局,下放",
    "药品零售许可,511A0002,行政许可,四川省药品监督管理局,保留",
    "建筑施工企业资质认定,511A0003,行政许可,四川省住房和城乡建设厅,保留",
]
CITY = ["药品零售许可,,行政许可,广安市市场监督管理局,保留"]  # holds no 食品经营许可: devolved_not_received
COUNTY = [
    "药品零售许可,,行政确认,广安区市场监督管理局,保留",  # type_mismatch with the province
    "建筑施工企业资质认定,,行政许可,广安区住房和城乡建设局,保留",
    "建筑施工企业资质认定,,行政许可,广安区住房和城乡建设局,保留",  # duplicate_in_list
    "犬只饲养登记审批,,其他行政权力,广安区公安分局,保留",  # disguised_approval (approval_word)
    "烟花爆竹经营许可,,行政许可,广安区应急管理局,保留",  # no_upper_basis
]


def _items(source_id: str, code: str, rows: list[str], published: dt.date | None) -> pd.DataFrame:
    text = "\n".join([HEADER, *(f"{i},{r}" for i, r in enumerate(rows, start=1))]) + "\n"
    frame, _ = read_rows(text.encode("utf-8"), source_id=source_id, fmt="csv")
    frame["jurisdiction_code"] = code
    frame["published"] = published
    items = add_jurisdiction_columns(normalise(frame), REGISTRY)
    items["item_id"] = item_ids(items)
    return items


def _findings(province: pd.DataFrame, county: pd.DataFrame) -> pa.Table:
    city = _items("city-" + str(county["source_id"].iloc[0]), "511600", CITY, None)
    items = pd.concat([province, city, county], ignore_index=True)
    links = link_items(items, REGISTRY)
    return pa.concat_tables(
        [find_cross_level(items, links, REGISTRY), ReformCheck.prepare(items, links, REGISTRY).findings()]
    )


def _keys(findings: pa.Table) -> dict[str, str]:
    return dict(zip(findings.column("finding_key").to_pylist(), findings.column("kind").to_pylist(), strict=True))


def test_a_republished_list_keeps_every_key() -> None:
    before = _findings(
        _items("sc-510000-2024", "510000", PROVINCE, dt.date(2024, 6, 30)),
        _items("sc-511602-2024", "511602", COUNTY, dt.date(2024, 6, 30)),
    )
    # next month: new source ids, new version dates, the rows in another order (and so other row numbers)
    after = _findings(
        _items("sichuan-province-2024-07", "510000", PROVINCE[::-1], dt.date(2024, 7, 31)),
        _items("guangan-district-2024-07", "511602", [COUNTY[3], COUNTY[2], COUNTY[4], COUNTY[0], COUNTY[1]], None),
    )
    kinds = set(before.column("kind").to_pylist())
    assert {
        "type_mismatch",
        "duplicate_in_list",
        "disguised_approval",
        "no_upper_basis",
        "devolved_not_received",
    } <= kinds
    assert not set(before.column("item_id").to_pylist()) & set(after.column("item_id").to_pylist())
    assert not set(before.column("finding_id").to_pylist()) & set(after.column("finding_id").to_pylist())
    assert _keys(before) == _keys(after)
    # one key per finding here (no list repeats an item three times), each prefixed by its kind
    assert len(_keys(before)) == before.num_rows
    assert all(key.startswith(kind + ":") for key, kind in _keys(before).items())


def test_different_findings_have_different_keys() -> None:
    province = _items("p", "510000", PROVINCE, None)
    base = _keys(_findings(province, _items("c", "511602", COUNTY, None)))
    # the same county items in another county: the county's findings get other keys (the province's
    # devolved_not_received about the city is the same finding in both runs)
    other_county = _keys(_findings(province, _items("c2", "511603", COUNTY, None)))
    assert set(base) & set(other_county) == {k for k, kind in base.items() if kind == "devolved_not_received"}
    assert len(base) == len(other_county) == 6
    # another item name in the same county: that finding's key changes, the others stay
    renamed = list(COUNTY)
    renamed[3] = "猫只饲养登记审批,,其他行政权力,广安区公安分局,保留"
    changed = _keys(_findings(province, _items("c", "511602", renamed, None)))
    assert len(set(base) - set(changed)) == 1 and len(set(changed) - set(base)) == 1
    # one county item against the city and against the province: two type_mismatch findings, two keys
    assert sum(kind == "type_mismatch" for kind in base.values()) == 2
