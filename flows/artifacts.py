"""Prefect artifacts for each run: what an operator checks in the UI before opening any file.

Two artifacts per run, keyed by the manifest's run name so the UI's Artifacts page shows the history
of each scheduled list set separately:

* ``<name>-sources`` — a table, one row per source: rows read, accepted, quarantined, rows with
  warnings, whether the source was fetched/reused from cache, and its error;
* ``<name>-summary`` — markdown: outcome and why, links per matching method, findings by kind and
  severity, validation, and where the output folder, report and Data Docs are.

Both are built from run.json and findings.parquet of the swapped-in output, so the UI never says
something the files do not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from prefect.artifacts import create_markdown_artifact, create_table_artifact


def artifact_key(name: str, suffix: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes only; CJK run names fall back."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "run"
    return f"powerlists-{slug}-{suffix}"


def source_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for source in run.get("inputs", []):
        rows.append(
            {
                "source": source["id"],
                "jurisdiction": source.get("jurisdiction") or "",
                "rows read": source.get("rows_read", 0),
                "accepted": source.get("items", 0),
                "quarantined": source.get("quarantined", 0),
                "with warnings": source.get("warnings", 0),
                "input": _input_state(source),
                "error": source.get("error") or "",
            }
        )
    return rows


def _input_state(source: dict[str, Any]) -> str:
    fetch = source.get("fetch") or {}
    parts = []
    if fetch.get("status"):
        labels = {"fetched": "downloaded", "not_modified": "304 not modified"}
        parts.append(labels.get(fetch["status"], fetch["status"]))
    if source.get("cached"):
        parts.append("reused (unchanged)")
    elif source.get("sha256"):
        parts.append("read")
    return ", ".join(parts)


def findings_by_kind(out: Path) -> list[tuple[str, str, int]]:
    """(kind, severity, count) from findings.parquet, most frequent first."""
    path = out / "findings.parquet"
    if not path.exists():
        return []
    table = pq.read_table(path, columns=["kind", "severity"])
    counts: dict[tuple[str, str], int] = {}
    for kind, severity in zip(table.column("kind").to_pylist(), table.column("severity").to_pylist(), strict=True):
        counts[(kind, severity)] = counts.get((kind, severity), 0) + 1
    return sorted(((k, s, n) for (k, s), n in counts.items()), key=lambda r: (-r[2], r[0], r[1]))


def summary_markdown(run: dict[str, Any], out: Path) -> str:
    outcome = run.get("outcome", {})
    inputs = run.get("inputs", [])
    lines = [
        f"# powerlists: {run.get('name', '')} — {outcome.get('status', '?')}",
        "",
        f"Output folder: `{out}`",
        "",
    ]
    for reason in outcome.get("reasons", []):
        lines.append(f"- **{reason}**")
    rows_read = sum(i.get("rows_read", 0) for i in inputs)
    lines += [
        "",
        "| sources | failed | reused unchanged | rows read | accepted | quarantined |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {len(inputs)} | {sum(1 for i in inputs if i.get('error'))} | {sum(1 for i in inputs if i.get('cached'))} "
        f"| {rows_read} | {sum(i.get('items', 0) for i in inputs)} | {sum(i.get('quarantined', 0) for i in inputs)} |",
        "",
        "## Links per method",
        "",
    ]
    matching = run.get("matching", {})
    links = matching.get("links", {})
    if links:
        lines += ["| method | links |", "|---|---:|"] + [f"| {m} | {n} |" for m, n in links.items()]
    else:
        lines.append("No links.")
    if matching.get("threshold") is not None:
        lines.append(f"\nFuzzy threshold: {matching['threshold']}")
    lines += ["", "## Findings by kind", ""]
    findings = findings_by_kind(out)
    if findings:
        lines += ["| kind | severity | count |", "|---|---|---:|"] + [f"| {k} | {s} | {n} |" for k, s, n in findings]
    else:
        lines.append("No findings.")
    validation = run.get("validation", {})
    lines += [
        "",
        "## Validation",
        "",
        f"{validation.get('errors', 0)} rows quarantined, {validation.get('warnings', 0)} accepted rows with warnings.",
    ]
    if validation.get("data_docs"):
        lines.append(f"Great Expectations Data Docs: `{out / validation['data_docs']}`")
    report = out / "report.html"
    lines += [
        "",
        "## Report",
        "",
        f"HTML report: `{report}`" if report.exists() else "No HTML report in the output folder.",
    ]
    return "\n".join(lines) + "\n"


def publish_artifacts(run: dict[str, Any], out: Path) -> None:
    """Create the two artifacts for the current flow run (call inside the flow, after the swap)."""
    name = str(run.get("name") or "run")
    create_table_artifact(
        table=source_rows(run),
        key=artifact_key(name, "sources"),
        description=f"powerlists {name}: per-source counts ({run.get('outcome', {}).get('status', '?')})",
    )
    create_markdown_artifact(
        markdown=summary_markdown(run, out),
        key=artifact_key(name, "summary"),
        description=f"powerlists {name}: links, findings and where the report is",
    )
