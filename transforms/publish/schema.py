"""Arrow schemas of every output table (see CONTRACT.md §5).

One place fixes names and types so that every stage, the writer, the tests and the DuckDB views agree.
Low-cardinality strings are dictionary-encoded by the writer (see ``transforms.publish.write``), not here:
the logical type an analyst sees stays ``string``.
"""

from __future__ import annotations

import pyarrow as pa

POWER_TYPES: tuple[str, ...] = (
    "行政许可",
    "行政处罚",
    "行政强制",
    "行政征收",
    "行政给付",
    "行政检查",
    "行政确认",
    "行政奖励",
    "行政裁决",
    "其他行政权力",
    "公共服务",
)

STATUSES: tuple[str, ...] = ("保留", "下放", "委托", "取消", "承接", "未注明")
# What the checks read into the statuses (normalise maps the lists' own words onto STATUSES with
# data/vocab/statuses.csv; these are the contract's values, so they are named once, here).
DEVOLVED_STATUSES: tuple[str, ...] = ("下放", "委托")  # handed to a lower level: it should list the item
CANCELLED_STATUS = "取消"  # no level should list it any more
RECEIVED_STATUS = "承接"  # taken over from an upper level
HELD_STATUSES: tuple[str, ...] = ("保留", "未注明")  # still exercised where it is listed
LICENCE = "行政许可"

LEVELS: tuple[str, ...] = ("national", "province", "city", "county", "township", "village")

#: ``review``: a link a reviewer set in the reviews file (``transforms.link.reviewed``), not the matcher.
LINK_METHODS: tuple[str, ...] = ("code", "exact", "fuzzy", "review")

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

FINDING_KINDS: tuple[str, ...] = (
    "devolved_not_received",
    "received_without_devolution",
    "no_upper_basis",
    "cancelled_still_listed",
    "type_mismatch",
    "basis_mismatch",
    "code_mismatch",
    "duplicate_in_list",
    "locally_set_licence",
    "county_missing_city_licence",
    "disguised_approval",
    "devolved_without_supervision",
    "source_failed",
    "stale_review",
)

#: What a reviewer can decide about a finding (by its ``finding_key``) in the reviews file.
FINDING_DECISIONS: tuple[str, ...] = ("confirmed", "dismissed", "fixed")
#: What a reviewer can decide about a link (by a ``link:`` key): add it, or keep the matcher from making it.
LINK_DECISIONS: tuple[str, ...] = ("link", "no_link")
#: The reviews file's columns, in the order the report's download writes them.
REVIEW_FILE_COLUMNS: tuple[str, ...] = ("key", "decision", "note", "reviewer", "decided_on")

CHANGE_KINDS: tuple[str, ...] = (
    "added",
    "removed",
    "renamed",
    "type_changed",
    "basis_changed",
    "status_changed",
    "department_changed",
    "level_changed",
    "merged",
    "split",
)

_str = pa.string()
_strlist = pa.list_(pa.string())

ITEMS = pa.schema(
    [
        ("item_id", _str),
        ("source_id", _str),
        ("sheet", _str),
        ("row_no", pa.int32()),
        ("jurisdiction_code", _str),
        ("jurisdiction_name", _str),
        ("level", _str),
        ("province", _str),
        ("published", pa.date32()),
        ("name_raw", _str),
        ("name_norm", _str),
        ("main_name", _str),
        ("sub_item", _str),
        ("power_type", _str),
        ("power_type_raw", _str),
        ("power_type_inferred", pa.bool_()),
        ("code_raw", _str),
        ("base_code", _str),
        ("department", _str),
        ("legal_basis", _str),
        ("responsibility", _str),
        ("status", _str),
        ("status_raw", _str),
        ("warnings", _strlist),
        ("extra", pa.map_(pa.string(), pa.string())),
        ("power_id", _str),
    ]
)

QUARANTINE = pa.schema(
    [
        ("source_id", _str),
        ("sheet", _str),
        ("row_no", pa.int32()),
        ("jurisdiction_code", _str),
        ("raw", pa.map_(pa.string(), pa.string())),
        ("reasons", _strlist),
    ]
)

LINKS = pa.schema(
    [
        ("child_item_id", _str),
        ("parent_item_id", _str),
        ("child_jurisdiction", _str),
        ("parent_jurisdiction", _str),
        ("level_pair", _str),
        ("method", _str),
        ("score", pa.float64()),
        ("reason", _str),
    ]
)

POWERS = pa.schema(
    [
        ("power_id", _str),
        ("name", _str),
        ("power_type", _str),
        ("top_level", _str),
        ("top_jurisdiction_code", _str),
        ("n_items", pa.int32()),
        ("levels", _strlist),
        ("jurisdictions", _strlist),
        ("name_variants", _strlist),
    ]
)

FINDINGS = pa.schema(
    [
        ("finding_id", _str),
        ("finding_key", _str),
        ("kind", _str),
        ("severity", _str),
        ("jurisdiction_code", _str),
        ("item_id", _str),
        ("other_item_id", _str),
        ("other_jurisdiction_code", _str),
        ("message", _str),
        ("details", _str),
        ("review", _str),
        ("review_note", _str),
        ("reviewer", _str),
        ("decided_on", pa.date32()),
    ]
)
#: The findings columns filled from the reviews file once the run's findings are assembled (null before).
REVIEW_COLUMNS: tuple[str, ...] = ("review", "review_note", "reviewer", "decided_on")

CHANGES = pa.schema(
    [
        ("jurisdiction_code", _str),
        ("from_source_id", _str),
        ("to_source_id", _str),
        ("from_published", pa.date32()),
        ("to_published", pa.date32()),
        ("change", _str),
        ("old_item_id", _str),
        ("new_item_id", _str),
        ("old_name", _str),
        ("new_name", _str),
        ("detail", _str),
    ]
)

SUMMARY = pa.schema(
    [
        ("jurisdiction_code", _str),
        ("power_type", _str),
        ("status", _str),
        ("n_items", pa.int64()),
        ("n_main_items", pa.int64()),
        ("n_sub_items", pa.int64()),
        ("n_with_responsibility", pa.int64()),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "items": ITEMS,
    "quarantine": QUARANTINE,
    "links": LINKS,
    "powers": POWERS,
    "findings": FINDINGS,
    "changes": CHANGES,
    "summary": SUMMARY,
}


def empty(schema: pa.Schema) -> pa.Table:
    """An empty table of ``schema``: absent data is an empty table, never a missing file."""
    return schema.empty_table()
