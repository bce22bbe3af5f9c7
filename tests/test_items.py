"""Item ids are the documented content hash, whatever the column types hold."""

from __future__ import annotations

import hashlib

import pandas as pd

from transforms.clean.items import item_ids, stable_id


def test_item_id_is_the_hash_of_source_sheet_row_and_raw_name() -> None:
    frame = pd.DataFrame(
        {
            "source_id": ["511600-v1", "511600-v1", "511600-v1", "511602"],
            "sheet": ["", "权力清单", None, 3],  # a sheet may be missing, or a number in a JSON source
            "row_no": [2, 3, 4, 10_000],
            "name_raw": ["食品经营许可", None, "对违法行为的处罚（含 10 项）", "x\x1fy"],
        },
        dtype=object,  # as read: text cells are str or None
    )
    ids = item_ids(frame.astype({"row_no": "int64"}))
    assert item_ids(frame) == ids  # row numbers held as objects hash the same
    expected = [stable_id(*row) for row in frame.itertuples(index=False)]
    assert ids == expected
    text = "\x1f".join(["511600-v1", "", "2", "食品经营许可"])
    assert ids[0] == hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    assert len(set(ids)) == len(ids)


def test_the_items_table_is_the_same_from_the_cache_encoding_of_its_rows() -> None:
    """The scope's items table reuses the text columns the source cache has already converted."""
    import datetime as dt

    import numpy as np

    from flows.incremental import frame_to_arrow
    from transforms.clean.items import to_items_table

    frame = pd.DataFrame(
        {
            "source_id": ["511600-v1", "511600-v1", "511602"],
            "sheet": ["", None, "表1"],
            "row_no": np.array([2, 3, 4], dtype="int64"),
            "name_raw": ["食品经营许可", "对违法行为的处罚", "x"],
            "name_norm": ["食品经营许可", np.nan, "x"],
            "department": pd.Series(["市场监管局", None, "x"], dtype="str"),
            "level": ["county", "county", "city"],
            "warnings": [[], ["name: 编号"], []],
            "extra": [{}, {"备注": None}, {"a": "b"}],
            "published": [dt.date(2024, 1, 2)] * 3,
        }
    )
    frame["item_id"] = item_ids(frame)
    encoded = frame_to_arrow(frame.drop(columns="item_id"))
    assert item_ids(frame, encoded) == frame["item_id"].tolist()
    assert to_items_table(frame, encoded).equals(to_items_table(frame))
