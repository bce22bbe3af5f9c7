"""``encoding = "auto"``: UTF-8, else GB18030 or Big5 told apart by charset-normalizer, else a refusal."""

from __future__ import annotations

import csv
import io

import charset_normalizer
import opencc
import pytest

from tests.conftest import REALDATA
from transforms.ingest.read import SourceReadError, read_rows

ZIYANG = REALDATA / "sichuan" / "sichuan_ziyang_city_512000_market_regulation_items.csv"


def traditional_rows() -> list[list[str]]:
    """The real 资阳 list in traditional characters (OpenCC s2tw), the rows Big5 can hold."""
    convert = opencc.OpenCC("s2tw").convert
    rows = []
    for row in csv.reader(io.StringIO(ZIYANG.read_text(encoding="utf-8"))):
        row = [convert(cell) for cell in row]
        try:
            ",".join(row).encode("big5")
        except UnicodeEncodeError:
            continue
        rows.append(row)
    return rows


def csv_of(rows: list[list[str]], encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode(encoding)


def test_big5_is_detected_and_names_come_out_right() -> None:
    rows = traditional_rows()
    assert len(rows) > 100
    frame, info = read_rows(csv_of(rows, "big5"), source_id="tw", fmt="csv")
    assert info["encoding"] == "big5"
    assert list(frame["name_raw"]) == [r[2] for r in rows[1:]]
    assert frame["name_raw"][0].startswith("食品生產許可核發")


def test_gbk_lists_keep_decoding_as_gb18030() -> None:
    text = ZIYANG.read_text(encoding="utf-8")
    frame, info = read_rows(text.encode("gbk"), source_id="gb", fmt="csv")
    assert info["encoding"] == "gb18030"
    assert frame["name_raw"][0].startswith("食品生产许可核发")
    short = "事项名称,权力类型\n食品经营许可,行政许可\n".encode("gbk")  # charset-normalizer's best guess: cp949
    assert read_rows(short, source_id="gb", fmt="csv")[1]["encoding"] == "gb18030"


def test_the_guess_is_made_only_when_utf8_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("charset-normalizer ran on UTF-8 text")

    monkeypatch.setattr(charset_normalizer, "from_bytes", refuse)
    _, info = read_rows(ZIYANG.read_bytes(), source_id="u", fmt="csv")
    assert info["encoding"] == "utf-8"


def test_the_guess_looks_past_an_ascii_head() -> None:
    rows = traditional_rows()
    head = [["事項名稱", "number", "note"], *[["", str(i), "x" * 60] for i in range(2000)]]  # ~130 KB of ASCII first
    data = csv_of(head[:1], "big5") + csv_of(head[1:] + [[r[2], r[0], r[1]] for r in rows[1:]], "big5")
    frame, info = read_rows(data, source_id="tw", fmt="csv")
    assert info["encoding"] == "big5"
    assert list(frame["name_raw"])[-1] == rows[-1][2]


def test_text_that_no_chinese_encoding_explains_is_refused_not_mojibake() -> None:
    damaged = ZIYANG.read_bytes().replace("许可".encode(), "许可".encode("gbk"), 1)  # a GBK cell in UTF-8 text
    with pytest.raises(SourceReadError, match=r"damaged UTF-8: byte 0xd0 at offset \d+ \(line 2\) is not UTF-8"):
        read_rows(damaged, source_id="x", fmt="csv")
    korean = "사항명칭,권력유형\n식품경영허가,행정허가\n" * 40
    with pytest.raises(SourceReadError, match=r'looks like .*; set encoding = "gb18030", "big5"'):
        read_rows(korean.encode("euc-kr"), source_id="x", fmt="csv")
    with pytest.raises(SourceReadError, match=r"declared encoding big5"):
        read_rows(damaged, source_id="x", fmt="csv", encoding="big5")
