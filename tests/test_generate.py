"""Tests for the synthetic tree generator and the bundled sample.

The truth files are what matching is scored against, so these tests re-read every list with plain
csv/json/openpyxl (independently of the project's reader) and check that each truth row points at a real,
named data row — a wrong row_no convention would silently turn every score into noise.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from synthetic.generate import (
    FORMATS,
    HEADER_ALIASES,
    SUB_ITEMS,
    TRUTH_COLUMNS,
    assign_formats,
    canonical_key,
    generate_tree,
    noisy_name,
    punish_variant,
    sub_item_name,
    to_traditional,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
NAME_HEADERS = {*HEADER_ALIASES["name"], "itemName"}
NUMBERING_ONLY = re.compile(r"^\s*(?:\d+[.、]|[（(][一二三四五六七八九十]+[）)]|[一二三四五六七八九十]+、)\s*$")
TRADITIONAL_ONLY = set("許證審業務運輸營衛處罰檢記區縣關監構發國資產權")


# --------------------------------------------------------------------------------------------------
# An independent reader: row_no → {header: value}, following docs/architecture.md's row_no convention
# --------------------------------------------------------------------------------------------------


def _norm_header(text: object) -> str:
    return re.sub(r"\s+", "", str(text or ""))


def read_list(path: Path) -> tuple[dict[tuple[str, int], dict[str, str]], dict[tuple[str, int], int]]:
    """Rows keyed by (sheet, row_no) and each row's cell count (to see ragged rows)."""
    rows: dict[tuple[str, int], dict[str, str]] = {}
    widths: dict[tuple[str, int], int] = {}
    if path.suffix == ".json":
        for i, rec in enumerate(json.loads(path.read_text(encoding="utf-8")), start=1):
            rows[("", i)] = {_norm_header(k): "" if v is None else str(v) for k, v in rec.items()}
            widths[("", i)] = len(rec)
        return rows, widths
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        for ws in wb.worksheets:
            header = None
            for row_no, values in enumerate(ws.iter_rows(values_only=True), start=1):
                cells = ["" if v is None else str(v) for v in values]
                if header is None:
                    if any(_norm_header(c) in NAME_HEADERS for c in cells):
                        header = [_norm_header(c) for c in cells]
                    continue
                rows[(ws.title, row_no)] = dict(zip(header, cells, strict=False))
                widths[(ws.title, row_no)] = len([c for c in cells if c != ""])
        wb.close()
        return rows, widths
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [_norm_header(c) for c in next(reader)]
    for i, cells in enumerate(reader, start=2):
        assert reader.line_num == i, f"{path}: a record spans lines (line {reader.line_num}, record {i})"
        rows[("", i)] = dict(zip(header, cells, strict=False))
        widths[("", i)] = len(cells)
    return rows, widths


def name_of(row: dict[str, str]) -> str:
    for key, value in row.items():
        if key in NAME_HEADERS:
            return value
    raise AssertionError(f"no name column in {sorted(row)}")


def load_tree(manifest: Path) -> tuple[dict[str, Path], dict[str, dict], dict[str, dict]]:
    doc = tomllib.loads(manifest.read_text(encoding="utf-8"))
    paths = {src["id"]: manifest.parent / src["path"] for src in doc["source"]}
    rows = {}
    widths = {}
    for sid, path in paths.items():
        rows[sid], widths[sid] = read_list(path)
    return paths, rows, widths


def read_csv_dicts(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def digest_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory: pytest.TempPathFactory):
    """北京 (districts under the province), 天津, and 河北 (province → 11 cities → 2 counties each)."""
    out = tmp_path_factory.mktemp("tree")
    tree = generate_tree(out, provinces=3, seed=7, items_per_list=80, counties_per_city=2, bad_row_share=0.01)
    return tree


@pytest.fixture(scope="module")
def small_tree_data(small_tree):
    return load_tree(small_tree.manifest)


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    kwargs = {"provinces": 1, "items_per_list": 40, "counties_per_city": 4, "seed": 3}
    a = generate_tree(tmp_path / "a", **kwargs)
    b = generate_tree(tmp_path / "b", **kwargs)
    assert digest_tree(tmp_path / "a") == digest_tree(tmp_path / "b")
    assert {p.suffix for p in (tmp_path / "a").rglob("*") if p.is_file()} >= {".csv", ".xlsx", ".json", ".toml"}
    assert (a.n_rows, a.n_links) == (b.n_rows, b.n_links)
    c = generate_tree(tmp_path / "c", **{**kwargs, "seed": 4})
    assert c.truth.read_bytes() != a.truth.read_bytes()


def test_manifest_parses_and_lists_every_file(small_tree) -> None:
    doc = tomllib.loads(small_tree.manifest.read_text(encoding="utf-8"))
    sources = doc["source"]
    # 北京: 1 + 2 districts; 天津: 1 + 2; 河北: 1 + 11 cities + 22 counties
    assert len(sources) == small_tree.n_lists == 40
    assert doc["run"]["name"]
    ids = [s["id"] for s in sources]
    assert len(set(ids)) == len(ids)
    registry = {r["code"] for r in read_csv_dicts(REPO / "data" / "registry" / "regions.csv")}
    for src in sources:
        assert re.fullmatch(r"[a-z0-9._-]+", src["id"])
        assert src["jurisdiction"] in registry
        assert (small_tree.manifest.parent / src["path"]).is_file()
        assert "format" not in src  # inferable from the extension
    assert {Path(s["path"]).suffix for s in sources} == {".csv", ".xlsx", ".json"}


def test_manifest_loads_with_project_loader(small_tree) -> None:
    from transforms.ingest.manifest import load_manifest

    manifest = load_manifest(small_tree.manifest)
    assert not manifest.source_errors
    assert len(manifest.sources) == small_tree.n_lists


def test_truth_points_at_named_rows(small_tree, small_tree_data) -> None:
    _, rows, _ = small_tree_data
    truth = read_csv_dicts(small_tree.truth)
    assert tuple(truth[0]) == TRUTH_COLUMNS
    assert len(truth) == small_tree.n_links > 1000
    bad = {(b["source_id"], b["sheet"], int(b["row_no"])) for b in read_csv_dicts(small_tree.bad_rows)}
    pairs = Counter()
    similar = 0
    for link in truth:
        child = rows[link["child_source_id"]][(link["child_sheet"], int(link["child_row_no"]))]
        parent = rows[link["parent_source_id"]][(link["parent_sheet"], int(link["parent_row_no"]))]
        for sid, sheet, row_no, row in (
            (link["child_source_id"], link["child_sheet"], int(link["child_row_no"]), child),
            (link["parent_source_id"], link["parent_sheet"], int(link["parent_row_no"]), parent),
        ):
            name = name_of(row).strip()
            assert name and not NUMBERING_ONLY.match(name), (sid, row_no, name)
            assert (sid, sheet, row_no) not in bad
        a, b = to_traditional([name_of(child), name_of(parent)])
        overlap = len(set(a) & set(b)) / max(1, len(set(a) | set(b)))
        similar += overlap >= 0.5
        pairs[(link["child_source_id"], link["parent_source_id"])] += 1
    # names of linked rows are variants of each other, not random pairs
    assert similar / len(truth) > 0.9
    # at most one link per child row and ancestor list
    keys = Counter((t["child_source_id"], t["child_row_no"], t["parent_source_id"]) for t in truth)
    assert max(keys.values()) == 1
    # every ancestor relation of the registry shows up: county→city, county→province, city→province
    assert ("130102-v1", "130100-v1") in pairs and ("130102-v1", "130000-v1") in pairs
    assert ("130100-v1", "130000-v1") in pairs and ("110101-v1", "110000-v1") in pairs
    assert not any(p[0] == "130100-v1" and p[1] != "130000-v1" for p in pairs)


def test_noise_is_present(small_tree, small_tree_data) -> None:
    _, rows, _ = small_tree_data
    truth = read_csv_dicts(small_tree.truth)
    assert small_tree.traditional_provinces
    trad_prefixes = {code[:2] for code in small_tree.traditional_provinces}
    trad_lists = 0
    for sid, table in rows.items():
        names = "".join(name_of(r) for r in table.values())
        if sid[:2] in trad_prefixes and len(TRADITIONAL_ONLY & set(names)) >= 3:
            trad_lists += 1
        if sid[:2] not in trad_prefixes:
            assert len(TRADITIONAL_ONLY & set(names)) <= 2, sid  # real names hold few such characters
    assert trad_lists >= 1
    splits = 0
    for link in truth:
        child = rows[link["child_source_id"]][(link["child_sheet"], int(link["child_row_no"]))]
        parent = rows[link["parent_source_id"]][(link["parent_sheet"], int(link["parent_row_no"]))]
        child_name = name_of(child) + "".join(v for k, v in child.items() if k in HEADER_ALIASES["sub_item"])
        parent_name = name_of(parent) + "".join(v for k, v in parent.items() if k in HEADER_ALIASES["sub_item"])
        for sub in SUB_ITEMS + tuple(to_traditional(list(SUB_ITEMS))):
            if sub in child_name and sub not in parent_name:
                splits += 1
                break
    assert splits >= 3
    all_names = [name_of(r) for table in rows.values() for r in table.values()]
    assert any("(" in n for n in all_names) and any("（" in n for n in all_names)
    assert any(re.match(r"^(\d+[.、]|（[一二三四五六七八九十]+）|[一二三四五六七八九十]+、)\S", n) for n in all_names)
    assert any(n != n.strip() or " " in n or "\u3000" in n for n in all_names)
    assert sum(n.endswith(("的行政处罚", "行为的处罚")) for n in all_names) >= 5
    headers = {h for table in rows.values() for r in list(table.values())[:1] for h in r}
    assert len(headers & set(HEADER_ALIASES["name"])) >= 3
    statuses = Counter(
        v for table in rows.values() for r in table.values() for k, v in r.items() if k in HEADER_ALIASES["status"]
    )
    assert statuses["下放"] and statuses["承接"]


def test_bad_rows_share_and_shape(small_tree, small_tree_data) -> None:
    _, rows, widths = small_tree_data
    bad = read_csv_dicts(small_tree.bad_rows)
    assert len(bad) == small_tree.n_bad_rows
    share = len(bad) / small_tree.n_rows
    assert 0.005 < share < 0.02  # asked for 0.01
    kinds = Counter(b["kind"] for b in bad)
    assert {"empty_name", "numbering_only", "unknown_type"} <= set(kinds)
    for b in bad:
        key = (b["sheet"], int(b["row_no"]))
        row = rows[b["source_id"]][key]
        name = name_of(row)
        if b["kind"] == "empty_name":
            assert name == ""
        elif b["kind"] == "numbering_only":
            assert NUMBERING_ONLY.match(name)
        elif b["kind"] == "unknown_type":
            assert any(v.startswith("其它类型") for v in row.values())
        elif b["kind"] == "formula":
            assert name.startswith("=HYPERLINK(")
        elif b["kind"] == "ragged":
            header_width = len(next(iter(rows[b["source_id"]].values())))
            assert widths[b["source_id"]][key] == header_width + 1


def test_no_bad_rows_when_share_is_zero(tmp_path: Path) -> None:
    tree = generate_tree(tmp_path, provinces=1, items_per_list=30, counties_per_city=3, bad_row_share=0)
    assert tree.n_bad_rows == 0
    assert len(read_csv_dicts(tree.bad_rows)) == 0


def test_xlsx_capped_for_large_trees() -> None:
    fmts = assign_formats(400, FORMATS, seed=0)
    assert fmts.count("xlsx") <= 40
    assert set(fmts) == set(FORMATS)
    assert assign_formats(8, FORMATS, seed=0).count("xlsx") == 2


def test_name_helpers() -> None:
    rng = random.Random(1)
    variants = {punish_variant("对违反《娱乐场所管理条例》行为的处罚", rng) for _ in range(30)}
    assert "对违反《娱乐场所管理条例》的行政处罚" in variants
    assert len({canonical_key(v) for v in variants}) == 1
    assert punish_variant("食品经营许可", rng) == "食品经营许可"
    assert sub_item_name("燃气经营许可证核发", "变更", "full") == "燃气经营许可证核发（变更）"
    assert sub_item_name("燃气经营许可证核发", "变更", "half") == "燃气经营许可证核发(变更)"
    assert to_traditional(["食品经营许可证"]) == ["食品經營許可證"]
    out = {
        noisy_name("食品经营许可（变更）", random.Random(i), level="county", department="县市场监管局")
        for i in range(400)
    }
    assert "食品经营许可（变更）" in out and len(out) > 5


# --------------------------------------------------------------------------------------------------
# The bundled sample
# --------------------------------------------------------------------------------------------------


def test_sample_files_and_truth() -> None:
    manifest = SAMPLE / "sources.toml"
    paths, rows, _ = load_tree(manifest)
    assert len(paths) == 7
    assert all(p.is_file() for p in paths.values())
    assert len(rows["sc-512000-ziyang-real"]) == 135
    assert len(rows["sc-511602-guangan-real"]) == 1135
    assert len(rows["ln-210000-catalogue-real"]) == 30
    truth = read_csv_dicts(SAMPLE / "truth.csv")
    bad = read_csv_dicts(SAMPLE / "bad_rows.csv")
    assert 4 <= len(bad) <= 8
    bad_keys = {(b["source_id"], b["sheet"], int(b["row_no"])) for b in bad}
    for b in bad:
        assert (b["sheet"], int(b["row_no"])) in rows[b["source_id"]]
    for link in truth:
        for side in ("child", "parent"):
            sid, sheet, row_no = link[f"{side}_source_id"], link[f"{side}_sheet"], int(link[f"{side}_row_no"])
            row = rows[sid][(sheet, row_no)]
            assert name_of(row).strip(), (sid, row_no)
            assert (sid, sheet, row_no) not in bad_keys
    pairs = Counter((t["child_source_id"], t["parent_source_id"]) for t in truth)
    # every real 资阳 row has its counterpart in the province list (same basic code)
    assert pairs[("sc-512000-ziyang-real", "sc-510000-province-derived")] == 135
    # there is no ancestor relation between 资阳市 and 广安区
    assert not any(("512000" in c and "511602" in p) or ("511602" in c and "512000" in p) for c, p in pairs)
    assert set(pairs) == {
        ("sc-512000-ziyang-real", "sc-510000-province-derived"),
        ("sc-511600-guangan-derived", "sc-510000-province-derived"),
        ("sc-511602-guangan-real", "sc-511600-guangan-derived"),
        ("sc-511602-guangan-real", "sc-510000-province-derived"),
        ("sc-512002-yanjiang-derived", "sc-512000-ziyang-real"),
        ("sc-512002-yanjiang-derived", "sc-510000-province-derived"),
        ("sc-511603-qianfeng-derived", "sc-511600-guangan-derived"),
        ("sc-511603-qianfeng-derived", "sc-510000-province-derived"),
    }


def test_sample_manifest_loads_with_project_loader() -> None:
    from transforms.ingest.manifest import load_manifest

    manifest = load_manifest(SAMPLE / "sources.toml")
    assert not manifest.source_errors
    assert {s.jurisdiction for s in manifest.sources} == {
        "510000",
        "512000",
        "511600",
        "511602",
        "512002",
        "511603",
        "210000",
    }


def test_sample_real_rows_are_intact() -> None:
    """Spot-check that the real lists kept their content (only headers and format changed)."""
    _, rows, _ = load_tree(SAMPLE / "sources.toml")
    ziyang = rows["sc-512000-ziyang-real"][("", 2)]
    assert ziyang["事项名称"].startswith("食品生产许可核发（保健食品")
    assert ziyang["事项编码"] == "511A0080600053-512000000000-000-11511800015427357G-1-00"
    guangan = rows["sc-511602-guangan-real"][("政务服务事项", 4)]
    assert guangan["事项名称"] == "企业投资项目备案（技术改造）（市级/县级）"
    assert guangan["实施部门"] == "区经信局"
    liaoning = json.loads((SAMPLE / "liaoning" / "210000_liaoning_province.json").read_text(encoding="utf-8"))
    assert liaoning[0]["职权编码"] == "210973001000"
