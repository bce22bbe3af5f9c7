"""ZIP bundles (format "zip") of real Sichuan lists, and the refusal of old binary Word/WPS files."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import REALDATA
from transforms.ingest.manifest import load_manifest
from transforms.ingest.read import SourceReadError, limits, read_rows

ZIYANG = REALDATA / "sichuan" / "sichuan_ziyang_city_512000_market_regulation_items.csv"
GUANGAN = REALDATA / "sichuan" / "sichuan_guangan_district_511602_items.csv"
GBK_NAME = "资阳市市场监管局事项.csv"


class _LegacyName(zipfile.ZipInfo):
    """A member written as Chinese Windows writes it: the name in GBK bytes, no UTF-8 flag."""

    def __init__(self, name: str) -> None:
        super().__init__(name.encode("gbk").decode("cp437"))

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("cp437"), self.flag_bits


def names_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["item_name"] for row in csv.DictReader(handle)]


def xlsx_of(path: Path) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "事项"
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def bundle(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            if isinstance(name, zipfile.ZipInfo):
                name.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(name, data)
    return out.getvalue()


def real_bundle(*extra: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    return bundle(
        [
            (_LegacyName(GBK_NAME), ZIYANG.read_bytes()),
            ("广安区/", b""),
            ("广安区/广安区事项.xlsx", xlsx_of(GUANGAN)),
            ("说明.pdf", b"%PDF-1.4 not a list"),
            ("__MACOSX/._x.csv", b"\x00\x05\x16\x07"),
            (".DS_Store", b"\x00\x00\x00\x01Bud1"),
            *extra,
        ]
    )


def test_a_bundle_of_real_lists_reads_every_member_named_in_sheet() -> None:
    data = real_bundle()
    raw = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    assert not raw.flag_bits & 0x800 and raw.filename != GBK_NAME, "the test zip really has a legacy GBK name"
    frame, info = read_rows(data, source_id="sc", fmt="zip")
    ziyang, guangan = names_of(ZIYANG), names_of(GUANGAN)
    assert list(frame["name_raw"]) == ziyang + guangan
    assert list(frame["sheet"]) == [GBK_NAME] * len(ziyang) + ["广安区/广安区事项.xlsx:事项"] * len(guangan)
    assert info["members"] == {
        GBK_NAME: {"format": "csv", "encoding": "utf-8", "rows": len(ziyang)},
        "广安区/广安区事项.xlsx": {"format": "xlsx", "encoding": None, "rows": len(guangan)},
    }
    assert info["sheets"] == ["广安区/广安区事项.xlsx:事项"]
    assert info["header_row"] == {GBK_NAME: 1, "广安区/广安区事项.xlsx:事项": 1}
    # a note beside the lists is no list: skipped, saying why
    assert info["read_warnings"] == [
        "zip member '说明.pdf' skipped: not a readable PDF (PdfminerException: No /Root object! "
        "- Is this really a PDF?)"
    ]


def test_a_member_that_fails_fails_the_source_naming_it() -> None:
    with pytest.raises(SourceReadError, match=r"zip member '坏\.csv': .*no header with an item-name column"):
        read_rows(real_bundle(("坏.csv", "甲,乙\n1,2\n".encode())), source_id="sc", fmt="zip")
    with pytest.raises(SourceReadError, match=r"zip member '旧清单\.doc': old binary Word/WPS format"):
        read_rows(real_bundle(("旧清单.doc", b"\xd0\xcf\x11\xe0")), source_id="sc", fmt="zip")
    with pytest.raises(SourceReadError, match=r"zip member 'inner\.zip' is itself a zip"):
        read_rows(real_bundle(("inner.zip", bundle([("a.csv", ZIYANG.read_bytes())]))), source_id="sc", fmt="zip")
    with pytest.raises(SourceReadError, match=r"zip member 'inner\.csv' is itself a zip"):
        read_rows(real_bundle(("inner.csv", bundle([("a.csv", ZIYANG.read_bytes())]))), source_id="sc", fmt="zip")


def test_bundle_caps_members_size_and_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_ZIP_MEMBERS", 3)
    with pytest.raises(SourceReadError, match=r"the zip has 6 members \(limit 3\)"):
        read_rows(real_bundle(), source_id="sc", fmt="zip")
    monkeypatch.setattr(limits, "MAX_ZIP_MEMBERS", 1000)
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", 100_000)
    with pytest.raises(SourceReadError, match=r"the zip bundle unpacks to .* bytes .*possible zip bomb"):
        read_rows(real_bundle(), source_id="sc", fmt="zip")
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", 200 * 1024 * 1024)
    bomb = bundle([("a.csv", ZIYANG.read_bytes() + b"\n" * (11 * 1024 * 1024))])
    with pytest.raises(SourceReadError, match=r"unpacks to \d+ times its size \(limit 100\)"):
        read_rows(bomb, source_id="sc", fmt="zip")


def test_a_bundle_without_lists_or_a_broken_one_is_refused() -> None:
    with pytest.raises(SourceReadError, match=r"holds no list file .*'说明\.pdf' skipped"):
        read_rows(bundle([("说明.pdf", b"%PDF")]), source_id="sc", fmt="zip")
    with pytest.raises(SourceReadError, match="not a zip bundle: broken zip archive"):
        read_rows(ZIYANG.read_bytes(), source_id="sc", fmt="zip")


def test_old_binary_office_bytes_given_as_text_are_refused_clearly() -> None:
    word = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100 + "WordDocument".encode("utf-16-le")
    with pytest.raises(SourceReadError, match=r"old binary Word/WPS format: save it as \.docx/\.xlsx"):
        read_rows(word, source_id="x", fmt="csv")
    excel = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100 + "Workbook".encode("utf-16-le")
    with pytest.raises(SourceReadError, match='probably an xls workbook: set format = "xls"'):
        read_rows(excel, source_id="x", fmt="json")


@pytest.mark.parametrize("name", ["清单.doc", "清单.wps", "清单.ET"])
def test_manifest_refuses_old_binary_suffixes_and_takes_zip(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\xd0\xcf\x11\xe0")
    (tmp_path / "lists.zip").write_bytes(real_bundle())
    (tmp_path / "m.toml").write_text(
        f'[[source]]\nid = "old"\njurisdiction = "510000"\npath = "{name}"\n\n'
        '[[source]]\nid = "zip"\njurisdiction = "510000"\npath = "lists.zip"\n\n'
        '[[source]]\nid = "zip-sheet"\njurisdiction = "510000"\npath = "lists.zip"\nsheet = 0\n',
        encoding="utf-8",
    )
    manifest = load_manifest(tmp_path / "m.toml")
    assert "old binary Word/WPS format: save it as .docx/.xlsx" in manifest.source_errors["old"]
    assert "sheet: not for a zip bundle" in manifest.source_errors["zip-sheet"]
    (spec,) = manifest.sources
    assert spec.format == "zip"


@pytest.mark.slow
def test_flow_reads_a_bundle_and_names_the_member_in_items_and_quarantine(prefect_api, tmp_path: Path) -> None:
    import duckdb

    from flows.pipeline import powerlists_run

    bad = "item_name,department\n,区经信局\n企业投资项目备案,区经信局\n".encode("gbk")  # a row without a name
    (tmp_path / "lists.zip").write_bytes(real_bundle((_LegacyName("补充事项.csv"), bad)))
    (tmp_path / "sources.toml").write_text(
        '[[source]]\nid = "sc-bundle"\njurisdiction = "511602"\npath = "lists.zip"\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    powerlists_run(manifest=str(tmp_path / "sources.toml"), out=str(out), max_error_share=0.5)
    import json

    (source,) = json.loads((out / "run.json").read_text(encoding="utf-8"))["inputs"]
    assert source["rows_read"] == 135 + 1135 + 2 == source["items"] + source["quarantined"]
    sheets = dict(
        duckdb.sql(
            f"select sheet, count(*) from read_parquet('{out}/items/**/*.parquet', hive_partitioning=true) group by 1"
        ).fetchall()
    )
    assert sheets == {GBK_NAME: 135, "广安区/广安区事项.xlsx:事项": 1135, "补充事项.csv": 1}
    quarantined = duckdb.sql(f"select sheet, row_no, reasons from '{out}/quarantine.parquet'").fetchall()
    assert [(s, r) for s, r, _ in quarantined] == [("补充事项.csv", 2)]
    assert quarantined[0][2], "the reason is given"
