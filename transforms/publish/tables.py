"""Every output table in one registry: its schema, its assembled order, whose rows it holds, and
whether the data contract fixes it. The flow, the scopes and the writer read a table's settings here;
adding a table is adding one ``TableSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from transforms.examine.basis import CITATIONS
from transforms.examine.reform import REFORM_TABLES
from transforms.publish.schema import CHANGES, FINDINGS, ITEMS, LINKS, POWERS, QUARANTINE, SUMMARY, TABLES

#: Columns with few distinct values, in whichever table: dictionary-encoded so files stay small and scans fast.
DICTIONARY_COLUMNS = frozenset(
    {
        "source_id", "sheet", "jurisdiction_code", "jurisdiction_name", "level", "province", "power_type",
        "power_type_raw", "status", "status_raw", "department", "child_jurisdiction", "parent_jurisdiction",
        "level_pair", "method", "kind", "severity", "other_jurisdiction_code", "top_level",
        "top_jurisdiction_code", "change", "from_source_id", "to_source_id", "review", "reviewer",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TableSpec:
    """One output table, written as ``OUT/<name>.parquet`` (items: one file per province).

    ``sort`` is the order the flow assembles the scopes' parts into (id columns compare as numbers,
    ``transforms.link.order``), with missing values ``nulls``; empty when the table keeps the order it
    is built in. ``owners`` are the jurisdiction columns that say whose row it is: a province scope,
    which also examines the national lists, drops the rows where all of them are national or empty
    (the national scope owns those). ``contract`` tables (CONTRACT §5) are checked against their
    schema when written and always exist, empty if need be.
    """

    name: str
    schema: pa.Schema
    sort: tuple[str, ...] = ()
    nulls: str = "at_end"
    owners: tuple[str, ...] = ()

    @property
    def contract(self) -> bool:
        return self.name in TABLES

    @property
    def dictionary_columns(self) -> list[str]:
        return [c for c in self.schema.names if c in DICTIONARY_COLUMNS]


_SPECS = (
    TableSpec("items", ITEMS),
    TableSpec("quarantine", QUARANTINE),
    TableSpec("links", LINKS, sort=("child_item_id", "parent_jurisdiction")),
    TableSpec("powers", POWERS),
    TableSpec(
        "findings",
        FINDINGS,
        sort=("kind", "jurisdiction_code", "item_id", "other_item_id", "other_jurisdiction_code", "finding_id"),
        nulls="at_start",
        owners=("jurisdiction_code", "other_jurisdiction_code"),
    ),
    TableSpec("changes", CHANGES),
    TableSpec("summary", SUMMARY, sort=("jurisdiction_code", "power_type", "status")),
    TableSpec("citations", CITATIONS, sort=("item_id", "position")),
    TableSpec(
        "reform/status_summary",
        REFORM_TABLES["status_summary"],
        sort=("jurisdiction_code", "power_type"),
        owners=("jurisdiction_code",),
    ),
    TableSpec(
        "reform/city_county_licence_coverage",
        REFORM_TABLES["city_county_licence_coverage"],
        sort=("upper_level", "upper_code", "lower_code"),
        owners=("upper_code", "lower_code"),
    ),
    TableSpec(
        "reform/concentration",
        REFORM_TABLES["concentration"],
        sort=("jurisdiction_code", "department"),
        owners=("jurisdiction_code",),
    ),
)

#: Every output table by name, contract tables first in CONTRACT §5's order.
TABLE_SPECS: dict[str, TableSpec] = {spec.name: spec for spec in _SPECS}
#: The tables of CONTRACT §5, by name (``schema.TABLES``, whose schemas every contract spec uses).
CONTRACT_TABLES: dict[str, pa.Schema] = TABLES
