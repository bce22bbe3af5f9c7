"""The HTML report: self-contained, numbers equal to the Parquet, hostile text shown as text.

The output folder is crafted here (small tables following the contract schemas, written with the real
writer) rather than produced by a flow run, so these tests pin the report alone and run in a second.
The ``slow`` test opens the page in Debian's headless chromium.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html.parser
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.examine.summary import summarise
from transforms.publish.report import (
    CHROMIUM_MISSING,
    MAX_ROWS,
    chromium_command,
    csp_hash,
    fair_caps,
    find_chromium,
    page_url,
    render_report,
    script_json,
)
from transforms.publish.schema import CHANGES, FINDINGS, ITEMS, LINKS, POWERS, QUARANTINE, REVIEW_COLUMNS, SUMMARY
from transforms.publish.write import write_tables

REPO = Path(__file__).resolve().parent.parent

SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_NAME = '=HYPERLINK("http://x","y")'
ENTITY_NAME = "餐饮 &amp; 食品经营许可"
IMG_CELL = "<img src=x onerror=\"document.title='XSS'\">"
BREAKOUT = '</script><script>document.title="XSS"</script>'

JURISDICTIONS: dict[str, tuple[str, str, str]] = {
    "000000": ("全国", "national", "000000"),
    "510000": ("四川省", "province", "510000"),
    "510100": ("成都市", "city", "510000"),
    "510104": ("锦江区", "county", "510000"),
    "510105": ("青羊区", "county", "510000"),
}
V2023 = dt.date(2023, 6, 30)
V2022 = dt.date(2022, 6, 30)


def _item(
    item_id: str,
    source_id: str,
    row_no: int,
    code: str,
    name: str,
    power_type: str,
    *,
    status: str = "保留",
    code_raw: str | None = None,
    basis: str | None = None,
    published: dt.date | None = V2023,
    sub_item: str | None = None,
    responsibility: str | None = None,
) -> dict[str, Any]:
    jname, level, province = JURISDICTIONS[code]
    return {
        "item_id": item_id,
        "source_id": source_id,
        "sheet": "权力清单",
        "row_no": row_no,
        "jurisdiction_code": code,
        "jurisdiction_name": jname,
        "level": level,
        "province": province,
        "published": published,
        "name_raw": name,
        "name_norm": name,
        "main_name": name,
        "sub_item": sub_item,
        "power_type": power_type,
        "power_type_raw": power_type,
        "power_type_inferred": False,
        "code_raw": code_raw,
        "base_code": code_raw,
        "department": "市场监督管理局",
        "legal_basis": basis,
        "responsibility": responsibility,
        "status": status,
        "status_raw": status,
        "warnings": [],
        "extra": [],
        "power_id": None,
    }


def _link(child: str, parent: str, cj: str, pj: str, method: str, score: float) -> dict[str, Any]:
    levels = {c: v[1] for c, v in JURISDICTIONS.items()}
    return {
        "child_item_id": child,
        "parent_item_id": parent,
        "child_jurisdiction": cj,
        "parent_jurisdiction": pj,
        "level_pair": f"{levels[cj]}>{levels[pj]}",
        "method": method,
        "score": score,
        "reason": f"{method} agreed",
    }


def _finding(kind: str, severity: str, code: str, item: str, other: str | None, other_code: str | None) -> dict:
    return {
        "finding_id": f"f-{kind}-{item}",
        "finding_key": f"{kind}:{hashlib.sha256(item.encode()).hexdigest()[:16]}",
        "kind": kind,
        "severity": severity,
        "jurisdiction_code": code,
        "item_id": item,
        "other_item_id": other,
        "other_jurisdiction_code": other_code,
        "message": f"{kind}: {item} / {other}" + (BREAKOUT if kind == "devolved_not_received" else ""),
        "details": json.dumps({"item": item}),
    }


LONG_BASIS = (
    "《中华人民共和国城乡规划法》第四十条：在城市、镇规划区内进行建筑物、构筑物、道路、管线和其他工程建设的，" * 2
)


def crafted_tables() -> tuple[dict[str, pa.Table], list[dict[str, Any]]]:
    """Tables of a small Sichuan run (national, province, Chengdu, two districts) and run.json inputs."""
    items = [
        _item("n1", "cn-2023", 2, "000000", "建设工程规划许可", "行政许可", code_raw="000123", basis=LONG_BASIS),
        _item("n2", "cn-2023", 3, "000000", "对违反安全生产法行为的处罚", "行政处罚"),
        _item("p1", "sc-510000", 2, "510000", "建设工程规划许可", "行政许可", status="下放", code_raw="000123"),
        _item("p2", "sc-510000", 3, "510000", "食品经营许可", "行政许可", basis="《食品安全法》第三十五条"),
        _item("p3", "sc-510000", 4, "510000", SCRIPT_NAME, "行政检查", responsibility="检查责任"),
        _item("p4", "sc-510000", 5, "510000", SCRIPT_NAME, "行政检查"),
        _item("c1", "sc-510100", 2, "510100", "建设工程规划许可", "行政许可", code_raw="000123", sub_item="延续"),
        _item("c2", "sc-510100", 3, "510100", FORMULA_NAME, "行政确认", basis="《食品安全法》"),
        _item("c3", "sc-510100", 4, "510100", ENTITY_NAME, "行政许可"),
        _item("k1", "sc-510104-2023", 2, "510104", "建设工程规划许可", "行政许可", basis="《城乡规划法》"),
        _item("k2", "sc-510104-2023", 3, "510104", "烟花爆竹经营许可", "行政许可"),
        _item("k3", "sc-510105", 2, "510105", "食品经营许可", "行政许可"),
        _item("k1old", "sc-510104-2022", 2, "510104", "建设工程规划许可", "行政许可", published=V2022),
        _item("k9old", "sc-510104-2022", 3, "510104", "旧事项", "行政处罚", published=V2022),
    ]
    links = [
        _link("c1", "p1", "510100", "510000", "code", 1.0),
        _link("c1", "n1", "510100", "000000", "code", 1.0),
        _link("p1", "n1", "510000", "000000", "exact", 0.97),
        _link("k1", "c1", "510104", "510100", "exact", 0.99),
        _link("k1", "p1", "510104", "510000", "fuzzy", 0.91),
        _link("k3", "p2", "510105", "510000", "exact", 1.0),
        _link("c2", "p2", "510100", "510000", "fuzzy", 0.88),
    ]
    findings = [
        _finding("devolved_not_received", "error", "510000", "p1", None, "510105"),
        _finding("no_upper_basis", "warning", "510104", "k2", None, None),
        _finding("locally_set_licence", "warning", "510100", "c3", None, None),
        _finding("type_mismatch", "warning", "510100", "c2", "p2", "510000"),
        _finding("duplicate_in_list", "warning", "510000", "p4", "p3", "510000"),
        _finding("basis_mismatch", "info", "510104", "k1", "p1", "510000"),
    ]
    quarantine = [
        {
            "source_id": "sc-510100",
            "sheet": "权力清单",
            "row_no": 9,
            "jurisdiction_code": "510100",
            "raw": [("事项名称", IMG_CELL), ("类型", "未知类型")],
            "reasons": ["power_type: unknown label '未知类型'"],
        },
        {
            "source_id": "sc-510100",
            "sheet": "权力清单",
            "row_no": 10,
            "jurisdiction_code": "510100",
            "raw": [("事项名称", '=HYPERLINK("http://evil.example","点我")'), ("类型", None)],
            "reasons": ["name: formula, not a name", "power_type: missing"],
        },
        {
            "source_id": "sc-510104-2023",
            "sheet": "权力清单",
            "row_no": 7,
            "jurisdiction_code": "510104",
            "raw": [("事项名称", "")],
            "reasons": ["name: missing"],
        },
    ]
    changes = [
        {
            "jurisdiction_code": "510104",
            "from_source_id": "sc-510104-2022",
            "to_source_id": "sc-510104-2023",
            "from_published": V2022,
            "to_published": V2023,
            "change": "removed",
            "old_item_id": "k9old",
            "new_item_id": None,
            "old_name": "旧事项",
            "new_name": None,
            "detail": "not in the 2023 list",
        },
        {
            "jurisdiction_code": "510104",
            "from_source_id": "sc-510104-2022",
            "to_source_id": "sc-510104-2023",
            "from_published": V2022,
            "to_published": V2023,
            "change": "added",
            "old_item_id": None,
            "new_item_id": "k2",
            "old_name": None,
            "new_name": "烟花爆竹经营许可",
            "detail": "new in 2023",
        },
    ]
    powers = [
        {
            "power_id": "pw-plan",
            "name": "建设工程规划许可",
            "power_type": "行政许可",
            "top_level": "national",
            "top_jurisdiction_code": "000000",
            "n_items": 4,
            "levels": ["national", "province", "city", "county"],
            "jurisdictions": ["000000", "510000", "510100", "510104"],
            "name_variants": ["建设工程规划许可"],
        },
        {
            "power_id": "pw-food",
            "name": "食品经营许可",
            "power_type": "行政许可",
            "top_level": "province",
            "top_jurisdiction_code": "510000",
            "n_items": 3,
            "levels": ["province", "city", "county"],
            "jurisdictions": ["510000", "510100", "510105"],
            "name_variants": ["食品经营许可", FORMULA_NAME],
        },
    ]
    items_table = pa.Table.from_pylist(items, schema=ITEMS)
    current = [i for i in items if i["published"] != V2022]
    tables = {
        "items": items_table,
        "links": pa.Table.from_pylist(links, schema=LINKS),
        "findings": pa.Table.from_pylist(findings, schema=FINDINGS),
        "quarantine": pa.Table.from_pylist(quarantine, schema=QUARANTINE),
        "changes": pa.Table.from_pylist(changes, schema=CHANGES),
        "powers": pa.Table.from_pylist(powers, schema=POWERS),
        "summary": summarise(pa.Table.from_pylist(current, schema=ITEMS).to_pandas()),
    }
    assert tables["summary"].schema.equals(SUMMARY)
    inputs = []
    for source in sorted({i["source_id"] for i in items} | {q["source_id"] for q in quarantine}):
        n_items = sum(1 for i in items if i["source_id"] == source)
        n_quarantined = sum(1 for q in quarantine if q["source_id"] == source)
        first = next(i for i in items if i["source_id"] == source)
        inputs.append(
            {
                "id": source,
                "jurisdiction": first["jurisdiction_code"],
                "path": f"/data/{source}.csv",
                "url": None,
                "published": first["published"].isoformat(),
                "sha256": f"{abs(hash(source)):064x}"[-64:],
                "bytes": 1000,
                "rows_read": n_items + n_quarantined,
                "items": n_items,
                "quarantined": n_quarantined,
                "warnings": 0,
                "encoding": "utf-8",
                "sheets": ["权力清单"],
                "error": None,
            }
        )
    inputs.append(
        {"id": "sc-broken", "rows_read": 0, "items": 0, "quarantined": 0, "warnings": 0, "error": "cannot read <file>"}
    )
    return tables, inputs


def build_output(folder: Path, *, run_name: str = "四川 sample <b>bold</b>") -> Path:
    """A complete output folder: Parquet via the real writer, run.json, and a Data Docs stub."""
    tables, inputs = crafted_tables()
    write_tables(tables, folder)
    methods: dict[str, int] = {}
    for m in tables["links"].column("method").to_pylist():
        methods[m] = methods.get(m, 0) + 1
    run = {
        "run_id": "abc123def456",
        "name": run_name,
        "started": "2026-01-02T03:04:05+00:00",
        "finished": "2026-01-02T03:05:35+00:00",
        "powerlists_version": "0.1.0",
        "manifest": {"path": "/data/sources.toml", "sha256": "f" * 64},
        "inputs": inputs,
        "stages": {"manifest": 0.1, "read": 12.5, "validate": 30.0, "match": 40.2, "write": 1.0},
        "validation": {
            "success": False,
            "errors": 3,
            "warnings": 0,
            "expectations": [
                {
                    "expectation": "expect_column_values_to_be_in_set",
                    "column": "power_type",
                    "severity": "error",
                    "message": "unknown <power> type",
                    "failed_rows": 1,
                }
            ],
            "data_docs": "validation/data_docs/index.html",
        },
        "matching": {"threshold": 0.86, "links": methods},
        "outcome": {"status": "failed", "reasons": ["1 source(s) failed: sc-broken"]},
    }
    (folder / "run.json").write_text(json.dumps(run, ensure_ascii=False, indent=2), encoding="utf-8")
    docs = folder / "validation" / "data_docs" / "index.html"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text("<html><body>data docs</body></html>", encoding="utf-8")
    return folder


class _Collector(html.parser.HTMLParser):
    """data-testid → data-value, every src/href, and the elements the page contains."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self.links: list[str] = []
        self.tags: dict[str, int] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []
        self.csp = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if "data-testid" in a and "data-value" in a:
            self.values[str(a["data-testid"])] = str(a["data-value"])
        self.links += [str(v) for k, v in attrs if k in ("src", "href", "action", "srcset", "poster") and v]
        self.handlers += [f"{tag} {k}" for k, _ in attrs if k.lower().startswith("on")]
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = str(a.get("content"))
        if tag == "script":
            self.scripts.append(a)


def collect(text: str) -> _Collector:
    parser = _Collector()
    parser.feed(text)
    return parser


def parquet_counts(out: Path) -> dict[str, int]:
    return {
        "count-items": sum(pq.ParquetFile(f).metadata.num_rows for f in (out / "items").rglob("*.parquet")),
        "count-quarantined": pq.read_table(out / "quarantine.parquet").num_rows,
        "count-links": pq.read_table(out / "links.parquet").num_rows,
        "count-powers": pq.read_table(out / "powers.parquet").num_rows,
        "count-findings": pq.read_table(out / "findings.parquet").num_rows,
        "count-changes": pq.read_table(out / "changes.parquet").num_rows,
    }


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return build_output(tmp_path / "out")


def test_report_is_self_contained(out: Path) -> None:
    page = render_report(out)
    assert page == out / "report.html"
    text = page.read_text(encoding="utf-8")
    found = collect(text)
    # Only in-page anchors and the relative Data Docs link: no CDN, font, image or script fetch.
    docs = "validation/data_docs/index.html"
    assert all(link.startswith("#") or link == docs for link in found.links), found.links
    assert docs in found.links
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<link" not in text and "@import" not in text and "url(" not in text
    # One executable script (ours, allowed by its hash in the CSP) and the JSON data blocks.
    executable = [s for s in found.scripts if s.get("type") != "application/json"]
    assert len(executable) == 1
    script = text.split("<script>", 1)[1].split("</script>", 1)[0]
    assert f"script-src {csp_hash(script)};" in found.csp
    assert "default-src 'none'" in found.csp
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    assert 'font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei"' in text


def test_untrusted_text_is_escaped(out: Path) -> None:
    text = render_report(out).read_text(encoding="utf-8")
    found = collect(text)
    assert SCRIPT_NAME not in text and BREAKOUT not in text
    assert "<img" not in text and not found.handlers
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text  # run name, server-rendered
    assert "cannot read &lt;file&gt;" in text  # a source error, server-rendered
    # In the JSON blocks: <, >, & are \u escapes; the data still decodes to the exact names.
    blocks = {s["id"] for s in found.scripts if s.get("type") == "application/json"}
    assert blocks == {"data-findings", "data-quarantine", "data-changes", "data-summary", "data-coverage"}
    findings = _json_block(text, "data-findings")
    names = {row[4] for row in findings["rows"]} | {row[10] for row in findings["rows"]}
    assert {SCRIPT_NAME, FORMULA_NAME} <= names
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text
    quarantine = _json_block(text, "data-quarantine")
    assert any(IMG_CELL in row[5] for row in quarantine["rows"])
    assert found.tags.get("img", 0) == 0


def _json_block(text: str, block_id: str) -> dict[str, Any]:
    match = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', text, re.S)
    assert match, block_id
    return json.loads(match.group(1))


def test_numbers_in_page_equal_parquet(out: Path) -> None:
    found = collect(render_report(out).read_text(encoding="utf-8"))
    values = found.values
    for testid, n in parquet_counts(out).items():
        assert values[testid] == str(n), testid
    assert values["count-current-items"] == "12"  # 14 items, 2 of them the older 510104 version
    assert values["count-sources"] == "7" and values["count-sources-failed"] == "1"
    assert values["count-rows-read"] == str(14 + 3)
    findings = pq.read_table(out / "findings.parquet").to_pylist()
    for f in findings:
        assert values[f"findings-{f['kind']}-{f['severity']}"] == "1"
    assert values["findings-severity-warning"] == "4"
    summary = pq.read_table(out / "summary.parquet")
    assert values["summary-total-items"] == str(sum(summary.column("n_items").to_pylist())) == "12"
    assert values["quarantine-source-sc-510100"] == "2"
    assert values["links-method-fuzzy"] == "2" and values["links-method-code"] == "2"
    assert values["changes-removed"] == "1" and values["changes-added"] == "1"
    assert values["validation-success"] == "false" and values["validation-errors"] == "3"
    assert values["run-status"] == "failed"
    assert float(values["run-wall-seconds"]) == 90.0
    for source in ("sc-510000", "sc-510100", "sc-510104-2023"):
        assert values[f"source-{source}-check"] == "ok"
    # Coverage: Chengdu's 3 items, 2 linked to the province (c1, c2); 2 of the province's 4 received.
    assert values["heat-510100-510000-up"] == "2" and values["heat-510100-510000-down"] == "2"
    # Qingyang received 1 province item; no link to Chengdu, yet the pair is shown (0 received).
    assert values["heat-510105-510000-down"] == "1" and values["heat-510105-510100-down"] == "0"
    assert values["ancestor-510000-received"] == "2"  # p1 (by c1 and k1) and p2 (by k3 and c2)
    assert values["types-county-total"] == "3"


def test_findings_show_both_items_and_the_link(out: Path) -> None:
    findings = _json_block(render_report(out).read_text(encoding="utf-8"), "data-findings")
    keys = [c["key"] for c in findings["columns"]]
    rows = [dict(zip(keys, r, strict=True)) for r in findings["rows"]]
    assert [r["severity"] for r in rows] == ["error", "warning", "warning", "warning", "warning", "info"]
    mismatch = next(r for r in rows if r["kind"] == "type_mismatch")
    assert mismatch["name"] == FORMULA_NAME and mismatch["other_name"] == "食品经营许可"
    assert (mismatch["type"], mismatch["other_type"]) == ("行政确认", "行政许可")
    assert (mismatch["method"], mismatch["score"]) == ("fuzzy", 0.88)
    assert mismatch["jurisdiction_name"] == "成都市" and mismatch["other_jurisdiction_name"] == "四川省"
    basis = next(r for r in rows if r["kind"] == "basis_mismatch")
    assert basis["method"] == "fuzzy" and basis["basis"] == "《城乡规划法》"
    devolved = next(r for r in rows if r["kind"] == "devolved_not_received")
    assert devolved["other_jurisdiction_name"] == "青羊区" and devolved["method"] is None


def test_changes_section_only_when_there_are_changes(tmp_path: Path) -> None:
    tables, _ = crafted_tables()
    del tables["changes"]
    write_tables(tables, tmp_path)
    text = render_report(tmp_path).read_text(encoding="utf-8")
    assert 'data-testid="changes-none"' in text and 'id="data-changes"' not in text


def test_empty_folder_renders(tmp_path: Path) -> None:
    """A run whose every source failed still gets a report (no run.json, empty tables)."""
    write_tables({}, tmp_path)
    values = collect(render_report(tmp_path).read_text(encoding="utf-8")).values
    assert values["count-items"] == "0" and values["count-findings"] == "0"


def test_report_command_waits_for_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``powerlists report`` refuses a folder a run is writing, and renders it once the run is done."""
    from flows.cli import main
    from transforms.publish.write import output_lock

    out = build_output(tmp_path / "out")
    with output_lock(out):
        assert main(["report", str(out)]) == 2
        assert "another powerlists run is writing" in capsys.readouterr().err
        assert not (out / "report.html").exists()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").is_file()


def test_unsafe_data_docs_path_is_not_linked(tmp_path: Path) -> None:
    out = build_output(tmp_path / "out")
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    for bad in ("javascript:alert(1)", "https://evil.example/x.html", "../../etc/passwd", "/etc/passwd"):
        run["validation"]["data_docs"] = bad
        (out / "run.json").write_text(json.dumps(run), encoding="utf-8")
        text = render_report(out).read_text(encoding="utf-8")
        assert 'data-testid="data-docs-link"' not in text, bad


def test_script_json_cannot_close_its_element() -> None:
    value = {"name": "</script><script>alert(1)</script> & <!-- \u2028"}
    text = str(script_json(value))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value


def test_fair_caps_share_budget() -> None:
    assert fair_caps({"a": 5, "b": 100_000, "c": 50}, 2000) == {"a": 5, "c": 50, "b": 1945}
    assert fair_caps({"a": 3000, "b": 3000}, 2000) == {"a": 1000, "b": 1000}
    assert sum(fair_caps({i: 7 for i in range(300)}, 2000).values()) == 2000
    assert fair_caps({}, 2000) == {}


def test_large_run_embeds_top_n_with_totals(tmp_path: Path) -> None:
    """100,000 findings: the page stays small, says "showing 2,000 of 100,000", and every kind is there."""
    tables, _ = crafted_tables()
    n = 100_000
    kinds = ["type_mismatch", "no_upper_basis", "basis_mismatch", "duplicate_in_list"]
    item_ids = tables["items"].column("item_id").to_pylist()
    tables["findings"] = pa.table(
        {
            "finding_id": [f"f{i:06d}" for i in range(n)],
            "finding_key": [f"k{i:06d}" for i in range(n)],
            "kind": [kinds[i % 4] if i < n - 10 else "code_mismatch" for i in range(n)],
            "severity": ["warning"] * n,
            "jurisdiction_code": ["510100"] * n,
            "item_id": [item_ids[i % len(item_ids)] for i in range(n)],
            "other_item_id": [item_ids[(i + 1) % len(item_ids)] for i in range(n)],
            "other_jurisdiction_code": ["510000"] * n,
            "message": [f"第{i}条 <b>" for i in range(n)],
            "details": ["{}"] * n,
            **{c: pa.nulls(n, FINDINGS.field(c).type) for c in REVIEW_COLUMNS},
        },
        schema=FINDINGS,
    )
    write_tables(tables, tmp_path)
    start = time.perf_counter()
    text = render_report(tmp_path).read_text(encoding="utf-8")
    elapsed = time.perf_counter() - start
    found = collect(text)
    assert found.values["count-findings"] == str(n)
    assert found.values["findings-code_mismatch-warning"] == "10"
    shown = re.search(r'data-testid="findings-shown" data-value="(\d+)" data-total="(\d+)"', text)
    assert shown and shown.groups() == (str(MAX_ROWS), str(n))
    assert "showing 2,000 of 100,000 rows" in text
    rows = _json_block(text, "data-findings")["rows"]
    assert len(rows) == MAX_ROWS and sum(1 for r in rows if r[1] == "code_mismatch") == 10
    assert len(text) < 3_000_000 and elapsed < 30


# --------------------------------------------------------------------------------------------------
# Real browser
# --------------------------------------------------------------------------------------------------


def _chromium() -> str:
    browser = find_chromium()
    if browser is None:
        pytest.fail(CHROMIUM_MISSING)
    return browser


@pytest.mark.slow
def test_report_in_headless_chromium(out: Path, tmp_path: Path) -> None:
    """Loads with no console message at all, runs its script, shows hostile names only as text."""
    browser = _chromium()
    page = render_report(out)
    command = chromium_command(
        browser,
        tmp_path / "profile",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page_url(page),
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    dom = done.stdout
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, "console messages (errors, CSP violations):\n" + "\n".join(console)
    assert 'data-report-ready="1"' in dom, "the page's script did not run to its end"
    # Hostile cells would set document.title if any of them ran.
    assert re.search(r"<title>powerlists report · [^<]*</title>", dom) and "XSS</title>" not in dom

    found = collect(dom)
    # No element was created from data: the only scripts are ours, no <img>, no injected handler.
    assert found.tags.get("img", 0) == 0 and not found.handlers
    assert len(found.scripts) == len(collect(page.read_text(encoding="utf-8")).scripts)
    # The names are in the table as text (serialised escaped by the DOM), rendered by textContent.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert '=HYPERLINK("http://x","y")' in dom and "餐饮 &amp;amp; 食品经营许可" in dom
    # Key numbers in the live DOM equal the Parquet.
    for testid, n in parquet_counts(out).items():
        assert found.values[testid] == str(n), testid
    rendered = re.search(r'data-table="findings"[^>]*data-rendered-rows="(\d+)"', dom)
    assert rendered and rendered.group(1) == "6"
    tbody = dom.split('data-testid="findings-table"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert tbody.count("<tr>") == 6


@pytest.mark.slow
def test_screenshot_script(out: Path, tmp_path: Path) -> None:
    _chromium()
    png = tmp_path / "report.png"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "report_screenshot.py"), str(out), str(png)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)


@pytest.mark.slow
def test_a_reviewer_ticks_decisions_and_downloads_the_reviews_file(out: Path, tmp_path: Path) -> None:
    """In a live page: filter the unreviewed findings, tick one, download reviews.csv; the file keeps
    the decisions the run applied and is accepted as it is by the next run's reader."""
    findings = pq.read_table(out / "findings.parquet").to_pylist()
    dismissed = next(f for f in findings if f["kind"] == "type_mismatch")
    dismissed.update(review="dismissed", review_note="口径不同", reviewer="张三", decided_on=dt.date(2026, 1, 1))
    pq.write_table(pa.Table.from_pylist(findings, schema=FINDINGS), out / "findings.parquet")
    earlier = [
        {"key": dismissed["finding_key"], "decision": "dismissed", "note": "口径不同", "reviewer": "张三",
         "decided_on": "2026-01-01"},
        {"key": "link:510104:食品经营许可|510000:食品经营许可", "decision": "no_link", "note": "", "reviewer": "张三",
         "decided_on": "2026-01-01"},
    ]  # fmt: skip
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    run["reviews"] = {"path": "/data/reviews.csv", "sha256": "0" * 64, "decisions": earlier}
    (out / "run.json").write_text(json.dumps(run, ensure_ascii=False), encoding="utf-8")
    page = render_report(out)

    from tests.browser import BrowserPage

    with BrowserPage(_chromium(), page, tmp_path / "profile", tmp_path / "downloads") as browser:
        facet = '[data-testid="findings-facet-review"]'
        assert browser.evaluate(f"[...document.querySelector('{facet}').options].map(o => o.value)") == [
            "",
            "dismissed",
            "unreviewed",
        ]
        browser.evaluate(
            f"(() => {{ const s = document.querySelector('{facet}'); s.value = 'unreviewed';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        shown = browser.evaluate("[...document.querySelectorAll('[data-table=findings] select[data-key]')]"
                                 ".map(s => s.dataset.key)")  # fmt: skip
        assert len(shown) == len(findings) - 1 and dismissed["finding_key"] not in shown
        chosen = shown[0]
        # without a reviewer name nothing is downloaded, and the page says why
        browser.evaluate(
            f"(() => {{ const s = document.querySelector('select[data-key=\"{chosen}\"]'); s.value = 'confirmed';"
            " s.dispatchEvent(new Event('change'));"
            f" const n = document.querySelector('input[data-note-key=\"{chosen}\"]'); n.value = '核实, \"属实\"';"
            " n.dispatchEvent(new Event('input'));"
            " document.querySelector('[data-testid=findings-download]').click(); })()"
        )
        assert "reviewer's name first" in browser.evaluate(
            "document.querySelector('[data-testid=findings-ticked]').textContent"
        )
        browser.evaluate(
            "(() => { document.querySelector('[data-testid=findings-reviewer]').value = '李四';"
            " document.querySelector('[data-testid=findings-download]').click(); })()"
        )
        downloaded = browser.downloaded("reviews.csv")
        today = browser.evaluate("new Date().toLocaleDateString('sv')")
        assert not browser.console(), "console messages (errors, CSP violations):\n" + "\n".join(browser.console())

    from transforms.ingest.reviews import read_reviews

    decisions = read_reviews(downloaded).decisions
    assert [d.row() for d in decisions] == [
        earlier[0],
        earlier[1],
        {"key": chosen, "decision": "confirmed", "note": '核实, "属实"', "reviewer": "李四", "decided_on": today},
    ]
    assert downloaded.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel and WPS open it as UTF-8
