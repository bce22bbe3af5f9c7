"""Damaged cells in otherwise good lists: the row is quarantined with its column named, the file is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transforms.ingest.read import SourceReadError, read_rows

PROVINCE_CSV = Path(__file__).resolve().parent.parent / "data" / "sample" / "sichuan" / "510000_sichuan_province.csv"


def _thousand_rows() -> bytes:
    lines = PROVINCE_CSV.read_bytes().splitlines(keepends=True)
    return b"".join(lines[:1001])  # the header and 1,000 real rows


def _errors(frame) -> dict[int, list[str]]:
    return {int(r): e for r, e in zip(frame["row_no"], frame["row_errors"], strict=True) if e}


def test_one_nul_byte_quarantines_its_row_not_the_file() -> None:
    data = _thousand_rows()
    at = data.index("食品生产许可延续".encode())  # the second data row's name (physical row 3)
    damaged = data[:at] + b"\x00" + data[at:]
    frame, _ = read_rows(damaged, source_id="sc", fmt="csv")
    assert len(frame) == 1000  # every row read: 999 clean rows and the damaged one, to be quarantined
    assert _errors(frame) == {3: [_message("事项名称", 0)]}
    clean, _ = read_rows(data, source_id="sc", fmt="csv")
    assert frame["name_raw"].tolist()[2:] == clean["name_raw"].tolist()[2:]
    assert not _errors(clean)


def _message(column: str, code: int) -> str:
    return (
        f"{column}: control character U+{code:04X} in the cell (binary data or a terminal paste inside the "
        "list); correct the cell"
    )


def test_escape_characters_in_json_names_quarantine_the_row() -> None:
    records = [
        {"事项名称": "食品生产许可"},
        {"事项名称": "\x1b[31m药品经营许可\x1b[0m"},
        {"事项名称": "特种设备使用登记"},
    ]
    frame, _ = read_rows(json.dumps(records, ensure_ascii=False).encode(), source_id="j", fmt="json")
    assert len(frame) == 3
    errors = [e for e in frame["row_errors"] if e]
    assert errors == [[_message("事项名称", 0x1B)]]


@pytest.mark.parametrize(
    "data",
    [
        "序号,事项名称\n1,食品生产许可\n".encode("utf-16-le") * 50,  # UTF-16 without a BOM: NUL every other byte
        b"\x00" * 4096 + "序号,事项名称\n1,食品生产许可\n".encode(),  # a NUL-padded dump
    ],
)
def test_text_that_is_mostly_nul_is_still_refused_as_binary(data: bytes) -> None:
    with pytest.raises(SourceReadError, match="binary data, not text"):
        read_rows(data, source_id="b", fmt="csv")
