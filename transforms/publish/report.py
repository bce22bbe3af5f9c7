"""The quality report: one self-contained HTML page per run (``OUT/report.html``).

Everything is computed with DuckDB over the output folder's Parquet (through the same views as
``OUT/views.sql``), so the page shows exactly what analysts will query, and a run of 100,000 findings
costs a few aggregate queries, not a Python loop per row.

Design choices, and why:

* **Self-contained, offline.** CSS and JS are inlined from ``transforms/templates``; there is no CDN,
  font or image fetch. Charts are plain HTML/CSS bars and a table heat map: a charting library
  (Altair/Vega-Lite, Plotly) would have to be inlined as several hundred KB of JS to work offline, for
  what are three bar charts and one coloured table — so hand-written CSS is clearly the simpler choice.
* **Untrusted text stays text.** Item names and raw cells come from hand-edited spreadsheets. Jinja2
  renders with ``autoescape=True``; table data travels as JSON inside ``<script type="application/json">``
  with ``<``, ``>`` and ``&`` written as ``\\u003c``/``\\u003e``/``\\u0026`` (so a ``</script>`` in a name
  cannot close the block), and the page's JS puts it into the DOM with ``textContent`` only. A
  Content-Security-Policy allows only the page's own script (by its SHA-256 hash), so even an escaping
  bug could not run an injected ``<script>`` or ``onerror=`` handler.
* **Sensible at 10 and at 100,000.** Each big table embeds at most ``max_rows`` rows (default 2,000),
  shared fairly between its groups (finding kind × severity, quarantine source) so filtering by a kind
  still shows that kind's rows, and says "showing 2,000 of 123,456". Totals always come from the full
  tables. The browser sorts, filters and pages the embedded rows.
* **Testable.** Every key number sits in an element with ``data-testid`` and its exact integer in
  ``data-value``, so tests compare the page with the Parquet counts without parsing formatted text.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import jinja2
import pyarrow as pa
from markupsafe import Markup

from transforms.publish.schema import LEVELS, POWER_TYPES, SEVERITIES
from transforms.publish.views import view_sql

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPORT_FILE = "report.html"
#: Rows embedded per big table; beyond it the page says "showing N of M".
MAX_ROWS = 2000
#: Rows of the province × jurisdiction heat map (one HTML row each, rendered server-side).
MAX_HEATMAP_ROWS = 1000
#: Characters of a legal basis shown next to a finding; the full text is in items.legal_basis.
BASIS_SNIPPET = 60
#: One colour per power type (order of ``POWER_TYPES``), distinguishable and readable on white.
TYPE_COLOURS: tuple[str, ...] = (
    "#4e79a7",
    "#e15759",
    "#f28e2b",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#86bcb6",
)
_SEVERITY_RANK = "CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 WHEN 'info' THEN 2 ELSE 3 END"


# --------------------------------------------------------------------------------------------------
# Tables embedded as JSON
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of an embedded table; ``kind`` drives formatting and sorting in the page's JS."""

    key: str
    label: str
    kind: str = "text"  # text | id (never wrapped) | num | pct | score | pre (multi-line text)
    facet: bool = False  # offer a drop-down filter on this column's values
    group: str = ""  # a header spanning adjacent columns with the same group ("this item", "other item")


@dataclass
class EmbeddedTable:
    """Rows for the page's JS table: ``rows`` are lists in ``columns`` order, at most ``max_rows``."""

    id: str
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    total: int

    @property
    def shown(self) -> int:
        return len(self.rows)

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "columns": [c.__dict__ for c in self.columns],
            "rows": self.rows,
            "total": self.total,
        }


def script_json(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` survive literally.

    Inside a script element the HTML parser looks for ``</script`` and never decodes entities, so
    HTML-escaping would corrupt the data and leaving ``<`` would let a name close the element. JSON's
    ``\\uXXXX`` escapes decode back to the same characters in ``JSON.parse``.
    """
    text = json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _plain(value: Any) -> Any:
    """JSON-able values: dates as ISO text, NaN as null (a NaN would make the JSON invalid)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def fair_caps(counts: dict[Any, int], budget: int) -> dict[Any, int]:
    """Split ``budget`` rows between groups: small groups whole, the rest share what remains equally.

    Taking the first N rows overall would show only the largest kind; this way a reviewer filtering on
    any kind finds its rows, and the caps sum to ``min(budget, total)``.
    """
    caps: dict[Any, int] = {}
    remaining = max(budget, 0)
    ordered = sorted(counts.items(), key=lambda kv: (kv[1], str(kv[0])))
    for i, (key, n) in enumerate(ordered):
        share = remaining // (len(ordered) - i)
        caps[key] = min(n, share)
        remaining -= caps[key]
    # Integer division can leave rows unassigned while large groups still have more: hand them out.
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        if remaining <= 0:
            break
        extra = min(n - caps[key], remaining)
        caps[key] += extra
        remaining -= extra
    return caps


# --------------------------------------------------------------------------------------------------
# Reading the run
# --------------------------------------------------------------------------------------------------


class RunData:
    """An output folder opened in DuckDB through the same views as ``views.sql``."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.con = duckdb.connect(":memory:")
        self.con.execute(view_sql(self.out_dir))
        run_path = self.out_dir / "run.json"
        self.run: dict[str, Any] = json.loads(run_path.read_text(encoding="utf-8")) if run_path.exists() else {}
        self._register_names()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def _register_names(self) -> None:
        """``names(code, name, level, province)``: registry names, overridden by those in the items.

        Findings and links can name a jurisdiction whose own items are not in this folder (an ancestor
        in a partial run); the bundled registry still knows its name. A manifest's own jurisdictions
        file is not re-read here: those units are named from their items.
        """
        self.registry = _bundled_registry()
        rows: dict[str, tuple[str, str | None, str | None, str | None]] = {}
        codes = {
            r[0]
            for r in self.rows(
                "SELECT jurisdiction_code FROM findings UNION SELECT other_jurisdiction_code FROM findings "
                "UNION SELECT child_jurisdiction FROM links UNION SELECT parent_jurisdiction FROM links "
                "UNION SELECT jurisdiction_code FROM summary UNION SELECT jurisdiction_code FROM quarantine "
                "UNION SELECT jurisdiction_code FROM changes UNION SELECT province FROM items"
            )
            if r[0] is not None
        }
        if self.registry is not None:
            for code in sorted(codes):
                if code in self.registry:
                    j = self.registry[code]
                    rows[code] = (code, j.name, j.level, _registry_province(self.registry, code))
        for code, name, level, province in self.rows("SELECT code, name, level, province FROM jurisdictions"):
            rows[code] = (code, name, level, province)
        table = pa.table(
            {
                "code": pa.array([r[0] for r in rows.values()], pa.string()),
                "name": pa.array([r[1] for r in rows.values()], pa.string()),
                "level": pa.array([r[2] for r in rows.values()], pa.string()),
                "province": pa.array([r[3] for r in rows.values()], pa.string()),
            }
        )
        self.con.register("names", table)
        self.names = {r[0]: r[1] for r in rows.values()}
        self.levels = {r[0]: r[2] for r in rows.values()}


def _bundled_registry() -> Any:
    """The bundled jurisdiction registry, or None: the report must render even if it cannot load."""
    try:
        from transforms.ingest.jurisdictions import load_registry

        return load_registry()
    except Exception:
        return None


def _registry_province(registry: Any, code: str) -> str | None:
    try:
        return registry.province(code)
    except Exception:
        return None


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------


def _overview(data: RunData) -> dict[str, Any]:
    run = data.run
    started, finished = _parse_time(run.get("started")), _parse_time(run.get("finished"))
    stages = {str(k): float(v) for k, v in (run.get("stages") or {}).items() if isinstance(v, int | float)}
    longest = max(stages.values(), default=0.0) or 1.0
    outcome = run.get("outcome") or {}
    manifest = run.get("manifest") if isinstance(run.get("manifest"), dict) else {}
    return {
        "name": run.get("name") or data.out_dir.name,
        "run_id": run.get("run_id"),
        "started": run.get("started"),
        "finished": run.get("finished"),
        "version": run.get("powerlists_version"),
        "manifest": {"path": manifest.get("path"), "sha256": str(manifest.get("sha256") or "")},
        "wall_seconds": (finished - started).total_seconds() if started and finished else None,
        "stage_seconds": sum(stages.values()),
        "stages": [{"name": k, "seconds": v, "pct": 100 * v / longest} for k, v in stages.items()],
        "status": outcome.get("status") or ("unknown" if not run else "completed"),
        "reasons": [str(r) for r in outcome.get("reasons") or []],
    }


def _parse_time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _counts(data: RunData) -> dict[str, int]:
    inputs = data.run.get("inputs") or []
    return {
        "sources": len(inputs),
        "sources_failed": sum(1 for i in inputs if i.get("error")),
        "rows_read": sum(int(i.get("rows_read") or 0) for i in inputs),
        "items": data.scalar("SELECT count(*) FROM items"),
        "current_items": data.scalar("SELECT count(*) FROM current_items"),
        "quarantined": data.scalar("SELECT count(*) FROM quarantine"),
        "links": data.scalar("SELECT count(*) FROM links"),
        "powers": data.scalar("SELECT count(*) FROM powers"),
        "findings": data.scalar("SELECT count(*) FROM findings"),
        "changes": data.scalar("SELECT count(*) FROM changes"),
        "jurisdictions": data.scalar("SELECT count(*) FROM jurisdictions"),
    }


def _sources(data: RunData) -> list[dict[str, Any]]:
    """run.json's inputs, each checked against the Parquet (counts must agree everywhere)."""
    items = dict(data.rows("SELECT source_id, count(*) FROM items GROUP BY ALL"))
    warned = dict(data.rows("SELECT source_id, count(*) FROM items WHERE len(warnings) > 0 GROUP BY ALL"))
    quarantined = dict(data.rows("SELECT source_id, count(*) FROM quarantine GROUP BY ALL"))
    sources = []
    for entry in data.run.get("inputs") or []:
        sid = str(entry.get("id"))
        parquet = {
            "items": int(items.get(sid, 0)),
            "quarantined": int(quarantined.get(sid, 0)),
            "warnings": int(warned.get(sid, 0)),
        }
        mismatches = [k for k, v in parquet.items() if int(entry.get(k) or 0) != v]
        rows_read = int(entry.get("rows_read") or 0)
        if not entry.get("error") and rows_read != parquet["items"] + parquet["quarantined"]:
            mismatches.append("rows_read")
        sha = entry.get("sha256") or ""
        sources.append(
            {
                "id": sid,
                "jurisdiction": entry.get("jurisdiction"),
                "jurisdiction_name": data.names.get(str(entry.get("jurisdiction"))),
                "published": entry.get("published"),
                "location": entry.get("url") or entry.get("path"),
                "sha256_prefix": sha[:12],
                "sha256": sha,
                "bytes": entry.get("bytes"),
                "encoding": entry.get("encoding"),
                "rows_read": rows_read,
                "items": int(entry.get("items") or 0),
                "quarantined": int(entry.get("quarantined") or 0),
                "warnings": int(entry.get("warnings") or 0),
                "error": entry.get("error"),
                "read_warnings": [str(w) for w in entry.get("read_warnings") or []],
                "parquet": parquet,
                "mismatches": mismatches,
            }
        )
    return sources


def _validation(data: RunData) -> dict[str, Any]:
    v = data.run.get("validation") or {}
    docs = _safe_relative_link(v.get("data_docs"))
    return {
        "present": bool(v),
        "success": v.get("success"),
        "errors": int(v.get("errors") or 0),
        "warnings": int(v.get("warnings") or 0),
        "expectations": [
            {
                "expectation": e.get("expectation"),
                "column": e.get("column"),
                "severity": e.get("severity"),
                "message": e.get("message"),
                "failed_rows": int(e.get("failed_rows") or 0),
            }
            for e in v.get("expectations") or []
            if isinstance(e, dict)
        ],
        "data_docs": docs,
        "data_docs_exists": bool(docs) and (data.out_dir / docs).is_file(),
    }


def _safe_relative_link(value: Any) -> str | None:
    """Only a relative path inside OUT becomes a link: never a URL scheme (``javascript:``) or ``..``."""
    if not value or not isinstance(value, str):
        return None
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in value or value.startswith("//"):
        return None
    return path.as_posix()


def _matching(data: RunData) -> dict[str, Any]:
    by_method = dict(data.rows("SELECT method, count(*) FROM links GROUP BY ALL ORDER BY ALL"))
    pairs = data.rows(
        "SELECT level_pair, method, count(*), avg(score) FROM links GROUP BY ALL ORDER BY level_pair, method"
    )
    run_links = (data.run.get("matching") or {}).get("links") or {}
    return {
        "threshold": (data.run.get("matching") or {}).get("threshold"),
        "by_method": {m: int(by_method.get(m, 0)) for m in sorted(set(by_method) | {"code", "exact", "fuzzy"})},
        "run_json_agrees": not run_links or {k: int(v) for k, v in run_links.items()} == by_method,
        "by_pair": [{"level_pair": p, "method": m, "n": n, "mean_score": s} for p, m, n, s in pairs],
    }


def _coverage(data: RunData, max_rows: int) -> dict[str, Any]:
    """Per (jurisdiction, ancestor) with both lists in the run: share linked up and share received.

    Ancestors come from the bundled registry (so a county whose city list is present but matched
    nothing shows 0%, not nothing) and from the links themselves (units the registry does not know).
    """
    present = {code for (code,) in data.rows("SELECT DISTINCT jurisdiction_code FROM current_items")}
    pairs: set[tuple[str, str]] = set(data.rows("SELECT DISTINCT child_jurisdiction, parent_jurisdiction FROM links"))
    if data.registry is not None:
        for code in present:
            if code in data.registry:
                pairs.update((code, a) for a in data.registry.ancestors(code) if a in present)
    ordered = sorted(pairs)
    data.con.register(
        "pairs",
        pa.table(
            {
                "child": pa.array([p[0] for p in ordered], pa.string()),
                "ancestor": pa.array([p[1] for p in ordered], pa.string()),
            }
        ),
    )
    rows = data.rows(
        """
        WITH n AS (SELECT jurisdiction_code AS code, count(*) AS n FROM current_items GROUP BY ALL),
        up AS (
            SELECT child_jurisdiction AS child, parent_jurisdiction AS ancestor,
                   count(DISTINCT child_item_id) AS linked, count(DISTINCT parent_item_id) AS received
            FROM links GROUP BY ALL
        )
        SELECT p.child, nc.name, nc.level, coalesce(nc.province, ''), p.ancestor, na.name, na.level,
               coalesce(c.n, 0), coalesce(up.linked, 0), coalesce(a.n, 0), coalesce(up.received, 0)
        FROM pairs p
        LEFT JOIN n c ON c.code = p.child
        LEFT JOIN n a ON a.code = p.ancestor
        LEFT JOIN up ON up.child = p.child AND up.ancestor = p.ancestor
        LEFT JOIN names nc ON nc.code = p.child
        LEFT JOIN names na ON na.code = p.ancestor
        ORDER BY p.child, p.ancestor
        """
    )
    level_rank = {level: i for i, level in enumerate(LEVELS)}
    records = []
    for child, cname, clevel, province, anc, aname, alevel, n_child, linked, n_anc, received in rows:
        records.append(
            {
                "child": child,
                "child_name": cname,
                "child_level": clevel,
                "province": province,
                "ancestor": anc,
                "ancestor_name": aname,
                "ancestor_level": alevel,
                "child_items": int(n_child),
                "linked": int(linked),
                "share_up": linked / n_child if n_child else None,
                "ancestor_items": int(n_anc),
                "received": int(received),
                "share_down": received / n_anc if n_anc else None,
            }
        )
    columns = [
        Column("child", "jurisdiction", group="jurisdiction"),
        Column("child_name", "name", group="jurisdiction"),
        Column("child_level", "level", facet=True, group="jurisdiction"),
        Column("ancestor", "ancestor", group="ancestor"),
        Column("ancestor_name", "name", group="ancestor"),
        Column("ancestor_level", "level", facet=True, group="ancestor"),
        Column("child_items", "items", "num", group="linked up"),
        Column("linked", "linked", "num", group="linked up"),
        Column("share_up", "share", "pct", group="linked up"),
        Column("ancestor_items", "ancestor items", "num", group="received below"),
        Column("received", "received", "num", group="received below"),
        Column("share_down", "share", "pct", group="received below"),
    ]
    table = EmbeddedTable(
        "coverage",
        "Coverage per jurisdiction and ancestor",
        columns,
        [[r[c.key] for c in columns] for r in records[:max_rows]],
        len(records),
    )

    ancestors = data.rows(
        """
        WITH n AS (SELECT jurisdiction_code AS code, count(*) AS n FROM current_items GROUP BY ALL),
        r AS (SELECT parent_jurisdiction AS code, count(DISTINCT parent_item_id) AS received FROM links GROUP BY ALL),
        below AS (SELECT ancestor AS code, count(*) AS lists FROM pairs GROUP BY ALL)
        SELECT below.code, nm.name, nm.level, coalesce(n.n, 0), coalesce(r.received, 0), below.lists
        FROM below LEFT JOIN n USING (code) LEFT JOIN r USING (code) LEFT JOIN names nm USING (code)
        ORDER BY below.code
        """
    )
    ancestor_rows = [
        {
            "code": code,
            "name": name,
            "level": level,
            "items": int(n),
            "received": int(rec),
            "share": rec / n if n else None,
            "lists_below": int(lists),
        }
        for code, name, level, n, rec, lists in ancestors
    ]

    # Heat map: one block per province; rows are its jurisdictions, columns the ancestor levels.
    by_child: dict[str, dict[str, Any]] = {}
    for r in records:
        row = by_child.setdefault(
            r["child"],
            {
                "code": r["child"],
                "name": r["child_name"],
                "level": r["child_level"],
                "province": r["province"] or "",
                "items": r["child_items"],
                "cells": {},
            },
        )
        row["cells"].setdefault(r["ancestor_level"], r)  # one ancestor per level; nearest kept
    heat_rows = sorted(
        by_child.values(), key=lambda r: (r["province"], level_rank.get(r["level"], len(LEVELS)), r["code"])
    )
    heat_levels = [lv for lv in LEVELS if any(lv in r["cells"] for r in heat_rows)]
    blocks: dict[str, dict[str, Any]] = {}
    for row in heat_rows[:MAX_HEATMAP_ROWS]:
        for cell in row["cells"].values():
            cell["up_style"] = _heat_style(cell["share_up"])
            cell["down_style"] = _heat_style(cell["share_down"])
        block = blocks.setdefault(
            row["province"], {"code": row["province"], "name": data.names.get(row["province"]), "rows": []}
        )
        block["rows"].append(row)
    return {
        "table": table,
        "ancestors": ancestor_rows,
        "heat_levels": heat_levels,
        "heat_blocks": list(blocks.values()),
        "heat_total": len(heat_rows),
        "heat_shown": min(len(heat_rows), MAX_HEATMAP_ROWS),
    }


def _heat_style(share: float | None) -> str:
    """Background from red (0%) through yellow to green (100%); computed from a number, never from text."""
    if share is None:
        return "background:#f3f3f3"
    return f"background:hsl({round(120 * max(0.0, min(1.0, share)))},70%,82%)"


def _types_per_level(data: RunData) -> dict[str, Any]:
    counts = data.rows("SELECT level, power_type, count(*) FROM current_items GROUP BY ALL")
    known = {t: i for i, t in enumerate(POWER_TYPES)}
    levels: dict[str, dict[str, int]] = {}
    for level, ptype, n in counts:
        levels.setdefault(level or "", {})[ptype or ""] = int(n)
    order = {lv: i for i, lv in enumerate(LEVELS)}
    bars = []
    for level in sorted(levels, key=lambda lv: (order.get(lv, len(LEVELS)), lv)):
        total = sum(levels[level].values())
        segments = [
            {
                "type": t,
                "n": n,
                "pct": 100 * n / total,
                "colour": TYPE_COLOURS[known[t]] if t in known else "#666666",
            }
            for t, n in sorted(levels[level].items(), key=lambda kv: (known.get(kv[0], 99), kv[0]))
        ]
        bars.append({"level": level, "total": total, "segments": segments})
    return {
        "bars": bars,
        "legend": [{"type": t, "colour": c} for t, c in zip(POWER_TYPES, TYPE_COLOURS, strict=True)],
    }


def _snippet(column: str) -> str:
    return f"CASE WHEN length({column}) > {BASIS_SNIPPET} THEN left({column}, {BASIS_SNIPPET}) || '…' ELSE {column} END"


def _findings(data: RunData, max_rows: int) -> dict[str, Any]:
    groups = data.rows(
        f"SELECT kind, severity, count(*) FROM findings GROUP BY kind, severity ORDER BY {_SEVERITY_RANK}, kind"
    )
    counts = {(k, s): int(n) for k, s, n in groups}
    caps = fair_caps(counts, max_rows)
    data.con.register(
        "finding_caps",
        pa.table(
            {
                "kind": pa.array([k for k, _ in caps], pa.string()),
                "severity": pa.array([s for _, s in caps], pa.string()),
                "cap": pa.array(list(caps.values()), pa.int64()),
            }
        ),
    )
    rows = data.rows(
        f"""
        WITH ranked AS (
            SELECT *, row_number() OVER (PARTITION BY kind, severity ORDER BY jurisdiction_code, finding_id) AS rn
            FROM findings
        ),
        picked AS (SELECT r.* FROM ranked r JOIN finding_caps c USING (kind, severity) WHERE r.rn <= c.cap),
        -- the few items and links the shown rows name, found by a semi-join first: joining ``items`` and
        -- ``links`` directly built hash tables over all of them (a national run: 11 s of the report)
        named AS (SELECT item_id AS id FROM picked UNION SELECT other_item_id FROM picked),
        its AS (
            SELECT item_id, name_raw, power_type, code_raw, legal_basis FROM items
            WHERE item_id IN (SELECT id FROM named)
        ),
        lks AS (
            SELECT child_item_id, parent_item_id, method, score FROM links
            WHERE child_item_id IN (SELECT id FROM named) AND parent_item_id IN (SELECT id FROM named)
        )
        SELECT p.severity, p.kind,
               p.jurisdiction_code, ja.name, a.name_raw, a.power_type, a.code_raw, {_snippet("a.legal_basis")},
               p.other_jurisdiction_code, jb.name, b.name_raw, b.power_type, b.code_raw, {_snippet("b.legal_basis")},
               coalesce(l1.method, l2.method), coalesce(l1.score, l2.score), p.message, p.finding_id
        FROM picked p
        LEFT JOIN its a ON a.item_id = p.item_id
        LEFT JOIN its b ON b.item_id = p.other_item_id
        LEFT JOIN names ja ON ja.code = p.jurisdiction_code
        LEFT JOIN names jb ON jb.code = p.other_jurisdiction_code
        LEFT JOIN lks l1 ON l1.child_item_id = p.item_id AND l1.parent_item_id = p.other_item_id
        LEFT JOIN lks l2 ON l2.child_item_id = p.other_item_id AND l2.parent_item_id = p.item_id
        ORDER BY {_SEVERITY_RANK.replace("severity", "p.severity")}, p.kind, p.rn
        """
    )
    columns = [
        Column("severity", "severity", "id", facet=True),
        Column("kind", "kind", "id", facet=True),
        Column("jurisdiction", "jurisdiction", "id", facet=True, group="this item"),
        Column("jurisdiction_name", "name", group="this item"),
        Column("name", "item", group="this item"),
        Column("type", "type", group="this item"),
        Column("code", "code", group="this item"),
        Column("basis", "basis", group="this item"),
        Column("other_jurisdiction", "jurisdiction", "id", group="the other item"),
        Column("other_jurisdiction_name", "name", group="the other item"),
        Column("other_name", "item", group="the other item"),
        Column("other_type", "type", group="the other item"),
        Column("other_code", "code", group="the other item"),
        Column("other_basis", "basis", group="the other item"),
        Column("method", "method", facet=True, group="link"),
        Column("score", "score", "score", group="link"),
        Column("message", "message"),
        Column("finding_id", "finding id", "id"),
    ]
    by_severity = {s: sum(n for (_, sev), n in counts.items() if sev == s) for s in SEVERITIES}
    group_rows = [
        {"kind": k, "severity": s, "n": n, "shown": caps[(k, s)]}
        for (k, s), n in sorted(counts.items(), key=lambda kv: (_rank(kv[0][1]), kv[0][0]))
    ]
    return {
        "table": EmbeddedTable("findings", "Findings", columns, [list(r) for r in rows], sum(counts.values())),
        "groups": group_rows,
        "by_severity": by_severity,
        "kinds": sorted({k for k, _ in counts}),
    }


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _quarantine(data: RunData, max_rows: int) -> dict[str, Any]:
    per_source = data.rows(
        "SELECT source_id, any_value(jurisdiction_code), count(*) FROM quarantine GROUP BY ALL ORDER BY source_id"
    )
    counts = {sid: int(n) for sid, _, n in per_source}
    reasons = data.rows(
        """
        SELECT source_id, reason, n FROM (
            SELECT source_id, reason, count(*) AS n,
                   row_number() OVER (PARTITION BY source_id ORDER BY count(*) DESC, reason) AS rk
            FROM (SELECT source_id, unnest(reasons) AS reason FROM quarantine) GROUP BY source_id, reason
        ) WHERE rk <= 5 ORDER BY source_id, n DESC, reason
        """
    )
    top: dict[str, list[dict[str, Any]]] = {}
    for sid, reason, n in reasons:
        top.setdefault(sid, []).append({"reason": reason, "n": int(n)})
    caps = fair_caps(counts, max_rows)
    data.con.register(
        "quarantine_caps",
        pa.table({"source_id": pa.array(list(caps), pa.string()), "cap": pa.array(list(caps.values()), pa.int64())}),
    )
    rows = data.rows(
        """
        WITH ranked AS (
            SELECT *, row_number() OVER (PARTITION BY source_id ORDER BY sheet, row_no) AS rn FROM quarantine
        )
        SELECT r.source_id, r.sheet, r.row_no, r.jurisdiction_code,
               array_to_string(r.reasons, chr(10)),
               array_to_string(list_transform(map_entries(r.raw),
                               lambda e: e.key || ': ' || coalesce(e.value, '')), chr(10))
        FROM ranked r JOIN quarantine_caps c USING (source_id) WHERE r.rn <= c.cap
        ORDER BY r.source_id, r.rn
        """
    )
    columns = [
        Column("source_id", "source", "id", facet=True),
        Column("sheet", "sheet"),
        Column("row_no", "row", "num"),
        Column("jurisdiction", "jurisdiction"),
        Column("reasons", "reasons", "pre"),
        Column("raw", "raw cells", "pre"),
    ]
    sources = [
        {
            "source_id": sid,
            "jurisdiction": jc,
            "jurisdiction_name": data.names.get(jc),
            "n": int(n),
            "shown": caps[sid],
            "reasons": top.get(sid, []),
        }
        for sid, jc, n in per_source
    ]
    return {
        "table": EmbeddedTable(
            "quarantine", "Quarantined rows", columns, [list(r) for r in rows], sum(counts.values())
        ),
        "sources": sources,
    }


def _changes(data: RunData, max_rows: int) -> dict[str, Any]:
    by_change = data.rows("SELECT change, count(*) FROM changes GROUP BY ALL ORDER BY 2 DESC, 1")
    total = sum(int(n) for _, n in by_change)
    pairs = data.rows(
        """
        SELECT c.jurisdiction_code, nm.name, c.from_source_id, c.to_source_id, c.from_published, c.to_published,
               count(*)
        FROM changes c LEFT JOIN names nm ON nm.code = c.jurisdiction_code
        GROUP BY ALL ORDER BY 1, 5, 6
        """
    )
    rows = data.rows(
        """
        SELECT c.jurisdiction_code, nm.name, c.from_published, c.to_published, c.change,
               c.old_name, c.new_name, c.detail, c.old_item_id, c.new_item_id
        FROM changes c LEFT JOIN names nm ON nm.code = c.jurisdiction_code
        ORDER BY c.jurisdiction_code, c.to_published, c.change, coalesce(c.new_name, c.old_name), c.new_item_id
        LIMIT ?
        """,
        [max_rows],
    )
    columns = [
        Column("jurisdiction", "jurisdiction", facet=True),
        Column("jurisdiction_name", "name"),
        Column("from_published", "from"),
        Column("to_published", "to"),
        Column("change", "change", "id", facet=True),
        Column("old_name", "old name"),
        Column("new_name", "new name"),
        Column("detail", "detail"),
        Column("old_item_id", "old item"),
        Column("new_item_id", "new item"),
    ]
    return {
        "total": total,
        "by_change": [{"change": c, "n": int(n)} for c, n in by_change],
        "versions": [
            {
                "jurisdiction": j,
                "name": name,
                "from_source": fs,
                "to_source": ts,
                "from_published": fp,
                "to_published": tp,
                "n": int(n),
            }
            for j, name, fs, ts, fp, tp, n in pairs
        ],
        "table": EmbeddedTable("changes", "Changes", columns, [list(r) for r in rows], total),
    }


def _summary(data: RunData, max_rows: int) -> dict[str, Any]:
    totals = data.con.execute(
        "SELECT count(*), coalesce(sum(n_items), 0), coalesce(sum(n_main_items), 0), coalesce(sum(n_sub_items), 0),"
        " coalesce(sum(n_with_responsibility), 0) FROM summary"
    ).fetchone()
    assert totals is not None
    rows = data.rows(
        """
        SELECT s.jurisdiction_code, nm.name, nm.level, s.power_type, s.status,
               s.n_items, s.n_main_items, s.n_sub_items, s.n_with_responsibility
        FROM summary s LEFT JOIN names nm ON nm.code = s.jurisdiction_code
        ORDER BY s.jurisdiction_code, s.power_type, s.status LIMIT ?
        """,
        [max_rows],
    )
    by_status = data.rows("SELECT status, sum(n_items) FROM summary GROUP BY ALL ORDER BY 2 DESC, 1")
    columns = [
        Column("jurisdiction", "jurisdiction"),
        Column("name", "name"),
        Column("level", "level", facet=True),
        Column("power_type", "type", facet=True),
        Column("status", "status", facet=True),
        Column("n_items", "items", "num"),
        Column("n_main_items", "main items", "num"),
        Column("n_sub_items", "sub-items", "num"),
        Column("n_with_responsibility", "with responsibility", "num"),
    ]
    return {
        "table": EmbeddedTable("summary", "Summary", columns, [list(r) for r in rows], int(totals[0])),
        "n_items": int(totals[1]),
        "n_main_items": int(totals[2]),
        "n_sub_items": int(totals[3]),
        "n_with_responsibility": int(totals[4]),
        "by_status": [{"status": s, "n": int(n)} for s, n in by_status],
    }


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every {{ value }} from a list is HTML-escaped; only script_json/own JS are Markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _format_number
    env.filters["pct"] = _format_pct
    env.filters["seconds"] = _format_seconds
    env.filters["testid"] = _testid
    return env


def _format_number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}"
    return f"{int(value):,}"


def _format_pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _format_seconds(value: Any) -> str:
    if value is None:
        return "–"
    seconds = float(value)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _testid(*parts: Any) -> str:
    """A data-testid from parts; odd characters become ``_`` so ids stay predictable for tests."""
    text = "-".join(str(p) for p in parts)
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in text)


def _own_asset(name: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"{name} must not contain a closing script/style tag")
    return text


def csp_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def build_context(out_dir: Path, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """Everything the template shows, computed from the output folder (exposed for tests)."""
    data = RunData(out_dir)
    try:
        findings = _findings(data, max_rows)
        quarantine = _quarantine(data, max_rows)
        changes = _changes(data, max_rows)
        summary = _summary(data, max_rows)
        coverage = _coverage(data, max_rows)
        tables: list[EmbeddedTable] = [
            findings["table"],
            quarantine["table"],
            changes["table"],
            summary["table"],
            coverage["table"],
        ]
        return {
            "overview": _overview(data),
            "counts": _counts(data),
            "sources": _sources(data),
            "validation": _validation(data),
            "matching": _matching(data),
            "coverage": coverage,
            "types": _types_per_level(data),
            "findings": findings,
            "quarantine": quarantine,
            "changes": changes,
            "summary": summary,
            "tables": {t.id: t for t in tables},
            "payloads": {t.id: script_json(t.payload()) for t in tables},
            "max_rows": max_rows,
        }
    finally:
        data.con.close()


def render_html(out_dir: Path, max_rows: int = MAX_ROWS) -> str:
    """The report's HTML text for ``out_dir`` (no file written)."""
    context = build_context(out_dir, max_rows)
    script = _own_asset("report.js")
    context["script"] = Markup(script)
    context["style"] = Markup(_own_asset("report.css"))
    context["csp"] = (
        f"default-src 'none'; script-src {csp_hash(script)}; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return _environment().get_template("report.html.j2").render(**context)


def render_report(out_dir: Path, max_rows: int = MAX_ROWS) -> Path:
    """Write ``out_dir/report.html`` (replaced atomically: a reader never sees half a page)."""
    out_dir = Path(out_dir)
    target = out_dir / REPORT_FILE
    tmp = out_dir / f".{REPORT_FILE}.tmp-{os.getpid()}"
    tmp.write_text(render_html(out_dir, max_rows), encoding="utf-8")
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------------------------------
# Headless browser (tests and ``make report-screenshot``)
# --------------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = "chromium not found at /usr/bin/chromium: run `make browser` (apt-get install chromium)"


def find_chromium() -> str | None:
    """Debian's chromium (what ``make browser`` installs), else one on PATH."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_command(browser: str, user_data_dir: Path, *extra: str) -> list[str]:
    """Headless chromium that cannot reach the network on its own (no updates, sync or QUIC probes)."""
    return [
        browser,
        "--headless",
        "--no-sandbox",  # runs as root in CI containers, where the sandbox cannot start
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={user_data_dir}",
        *extra,
    ]


def page_url(path: Path) -> str:
    return Path(path).resolve().as_uri()
