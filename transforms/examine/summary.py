"""The figures officials quote, per jurisdiction × power type × status (CONTRACT summary table)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from transforms.publish.schema import SUMMARY

KEYS = ["jurisdiction_code", "power_type", "status"]


def _has_text(values: pd.Series) -> pd.Series:
    return values.notna() & (values.astype("string").str.strip().str.len() > 0)


def summarise(items: pd.DataFrame) -> pa.Table:
    """Counts per jurisdiction, type and status; a sub-item is a row whose name carries a 子项/办理项."""
    if items.empty:
        return SUMMARY.empty_table()
    frame = pd.DataFrame(
        {
            **{k: items[k].astype("string") for k in KEYS},
            "n_items": 1,
            "n_sub_items": _has_text(items["sub_item"]).astype("int64"),
            "n_with_responsibility": _has_text(items["responsibility"]).astype("int64"),
        }
    )
    grouped = frame.groupby(KEYS, sort=True, dropna=False).sum().reset_index()
    grouped["n_main_items"] = grouped["n_items"] - grouped["n_sub_items"]
    return pa.Table.from_pandas(grouped[SUMMARY.names], schema=SUMMARY, preserve_index=False)
