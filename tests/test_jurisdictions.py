"""The registry: bundled GB/T 2260 codes, extended by a manifest's own file."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.ingest.jurisdictions import NATIONAL, RegistryError, load_registry


def test_bundled_registry_covers_the_country() -> None:
    registry = load_registry()
    levels = [registry[c].level for c in registry.codes()]
    assert levels.count("province") == 34
    assert levels.count("city") == 333
    assert levels.count("county") == 2847
    assert registry.ancestors("511602") == ("511600", "510000", NATIONAL)
    assert registry.ancestors("110101") == ("110000", NATIONAL), "municipal districts hang off the province"
    assert registry.province("511602") == "510000"
    assert registry.province(NATIONAL) == NATIONAL


def test_manifest_file_adds_townships_and_zones(tmp_path: Path) -> None:
    extra = tmp_path / "j.csv"
    extra.write_text(
        "code,name,level,parent_code\n511602001,浓洲街道,township,511602\n"
        "511602001001,某社区,village,511602001\ngakfq,广安经开区,county,511600\n",
        encoding="utf-8",
    )
    registry = load_registry(extra)
    assert registry.ancestors("511602001001") == ("511602001", "511602", "511600", "510000", NATIONAL)
    assert registry["gakfq"].level == "county"
    assert registry.province("511602001") == "510000"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("x,浓洲街道,hamlet,511602\n", "level: 'hamlet'"),
        ("x,浓洲街道,township,999999\n", "parent_code: '999999'"),
        (",浓洲街道,township,511602\n", "code: empty"),
    ],
)
def test_bad_registry_rows_are_named(tmp_path: Path, body: str, expected: str) -> None:
    extra = tmp_path / "j.csv"
    extra.write_text("code,name,level,parent_code\n" + body, encoding="utf-8")
    with pytest.raises(RegistryError, match=expected):
        load_registry(extra)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a cycle: the province under its own city (the city's parent is the province)
        ("510000,四川省,province,510100\n", r"j\.csv:2: parent_code: '510100' \(city, .*\) is not above '510000'"),
        ("511602,广安区,county,511602\n", r"j\.csv:2: parent_code: '511602' cannot be its own parent"),
        ("511602001,浓洲街道,township,511602001\n", "cannot be its own parent"),
        ("511603,前锋区,county,511602\n", r"j\.csv:2: parent_code: '511602' \(county, .*\) is not above '511603'"),
        ("000000,全国,county,510000\n", r"j\.csv:2: code: 000000 is the national level and cannot be redefined"),
        ("000000,全国,national,\n", "cannot be redefined"),
    ],
    ids=["cycle", "self-parent", "self-parent-new", "same-level-parent", "national-as-county", "national-again"],
)
def test_registry_chains_cannot_loop_or_redefine_the_nation(tmp_path: Path, body: str, expected: str) -> None:
    """A cycle or a self-parent made self-links (510000→510000); each is refused with file, line and code."""
    extra = tmp_path / "j.csv"
    extra.write_text("code,name,level,parent_code\n" + body, encoding="utf-8")
    with pytest.raises(RegistryError, match=expected):
        load_registry(extra)
