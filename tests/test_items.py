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
