"""The main Prefect flow: manifest → items, links, powers, findings, changes, summary, report.

Tasks are thin: each calls one transform. Sources are read and normalised as mapped tasks (bounded
concurrency); validation runs once for the batch; everything is assembled in a staging folder and
swapped into ``out`` at the end, so a failed run leaves the previous output as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from transforms import __version__
from transforms.consolidate import consolidate
from transforms.findings import find_cross_level
from transforms.items import (
    add_jurisdiction_columns,
    item_ids,
    stable_id,
    to_items_table,
    to_quarantine_table,
)
from transforms.jurisdictions import NATIONAL, Registry, load_registry
from transforms.manifest import Manifest, SourceSpec, load_manifest
from transforms.match import link_items
from transforms.normalise import normalise
from transforms.read import SourceReadError, read_rows
from transforms.schema import LINKS
from transforms.summary import summarise
from transforms.validate import validate
from transforms.versions import current_source_ids
from transforms.write import new_staging, output_lock, recover, swap_in, write_tables


class RunFailed(Exception):
    """The run completed its outputs but breaches a threshold (error share, failed sources)."""


@dataclass
class SourceResult:
    """What one source gave: its normalised rows, or why it gave none."""

    spec: SourceSpec
    rows: pd.DataFrame | None
    sha256: str | None = None
    bytes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class StageClock:
    """Seconds per stage for run.json; stages are few and coarse, so a dict is enough."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)


def source_bytes(spec: SourceSpec) -> bytes:
    if spec.path is None:
        raise SourceReadError(f"{spec.url}: HTTP sources are fetched by the fetch stage")
    return spec.path.read_bytes()


@task(name="read-source", task_run_name="read-{spec.id}")
def read_source(spec: SourceSpec) -> SourceResult:
    """Read and normalise one list file; a source that cannot be read is reported, not raised."""
    try:
        data = source_bytes(spec)
    except OSError as exc:
        return SourceResult(spec, None, error=f"cannot read {spec.location}: {exc}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        frame, info = read_rows(
            data,
            source_id=spec.id,
            fmt=spec.format,
            encoding=spec.encoding,
            sheet=spec.sheet,
            header_row=spec.header_row,
            columns=spec.columns or None,
        )
    except SourceReadError as exc:
        return SourceResult(spec, None, sha256=digest, bytes=len(data), error=str(exc))
    frame["jurisdiction_code"] = spec.jurisdiction
    frame["published"] = spec.published
    return SourceResult(spec, normalise(frame), sha256=digest, bytes=len(data), info=info)


def _run_json(
    manifest: Manifest,
    results: list[SourceResult],
    started: dt.datetime,
    clock: StageClock,
    validation: dict[str, Any],
    matching: dict[str, Any],
    outcome: dict[str, Any],
) -> dict[str, Any]:
    inputs = []
    for r in results:
        rows_read = 0 if r.rows is None else len(r.rows)
        inputs.append(
            {
                "id": r.spec.id,
                "jurisdiction": r.spec.jurisdiction,
                "path": str(r.spec.path) if r.spec.path else None,
                "url": r.spec.url,
                "published": r.spec.published.isoformat() if r.spec.published else None,
                "sha256": r.sha256,
                "bytes": r.bytes,
                "rows_read": rows_read,
                "items": r.info.get("items", 0),
                "quarantined": r.info.get("quarantined", 0),
                "warnings": r.info.get("warnings", 0),
                "encoding": r.info.get("encoding"),
                "sheets": r.info.get("sheets"),
                "error": r.error,
            }
        )
    for sid, error in manifest.source_errors.items():
        inputs.append({"id": sid, "rows_read": 0, "items": 0, "quarantined": 0, "warnings": 0, "error": error})
    return {
        "run_id": stable_id(manifest.path, started.isoformat(), length=12),
        "name": manifest.name,
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "powerlists_version": __version__,
        "manifest": {"path": str(manifest.path), "sha256": hashlib.sha256(manifest.path.read_bytes()).hexdigest()},
        "inputs": inputs,
        "stages": clock.seconds,
        "validation": validation,
        "matching": matching,
        "outcome": outcome,
    }


def _count_per_source(results: list[SourceResult], items: pd.DataFrame, quarantine: pd.DataFrame) -> None:
    if not len(items) and not len(quarantine):
        return
    item_counts = items.groupby("source_id").size().to_dict() if len(items) else {}
    warn_counts = (
        items.assign(_w=[bool(w) for w in items["warnings"]]).groupby("source_id")["_w"].sum().to_dict()
        if len(items)
        else {}
    )
    quarantine_counts = quarantine.groupby("source_id").size().to_dict() if len(quarantine) else {}
    for r in results:
        r.info["items"] = int(item_counts.get(r.spec.id, 0))
        r.info["quarantined"] = int(quarantine_counts.get(r.spec.id, 0))
        r.info["warnings"] = int(warn_counts.get(r.spec.id, 0))
        rows = 0 if r.rows is None else len(r.rows)
        if r.info["items"] + r.info["quarantined"] != rows:
            raise AssertionError(f"{r.spec.id}: items + quarantined != rows read ({rows}); a row was lost")


def build_outputs(
    manifest: Manifest,
    registry: Registry,
    results: list[SourceResult],
    staging: Path,
    clock: StageClock,
    threshold: float,
) -> tuple[dict[str, pa.Table], dict[str, Any], dict[str, Any]]:
    """Everything after reading: validate, assemble, match, consolidate, find; returns tables."""
    frames = [r.rows for r in results if r.rows is not None and len(r.rows)]
    with clock.stage("validate"):
        batch = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if len(batch):
            batch = add_jurisdiction_columns(batch, registry)
            outcome = validate(batch, out_dir=staging / "validation")
            items, quarantine = outcome.items, outcome.quarantine
        else:
            outcome, items, quarantine = None, batch, batch
    _count_per_source(results, items, quarantine)
    validation = {
        "success": bool(outcome.success) if outcome else True,
        "errors": outcome.errors if outcome else 0,
        "warnings": outcome.warnings if outcome else 0,
        "expectations": outcome.by_expectation if outcome else [],
        "data_docs": "validation/data_docs/index.html" if outcome and outcome.data_docs else None,
    }
    with clock.stage("assemble"):
        if len(items):
            items = items.reset_index(drop=True)
            items["item_id"] = item_ids(items)
        tables = {
            "items": to_items_table(items) if len(items) else None,
            "quarantine": to_quarantine_table(quarantine) if len(quarantine) else None,
        }
    current = items[items["source_id"].isin(current_source_ids(manifest.sources))] if len(items) else items
    with clock.stage("match"):
        links = match_all(current, registry, threshold)
    with clock.stage("consolidate"):
        if len(current):
            power_ids, tables["powers"] = consolidate(current, links)
            items_power = pd.Series(None, index=items.index, dtype=object)
            items_power.loc[power_ids.index] = power_ids
            tables["items"] = tables["items"].set_column(
                tables["items"].schema.get_field_index("power_id"),
                "power_id",
                pa.array(items_power.tolist(), pa.string()),
            )
        tables["links"] = links
    with clock.stage("findings"):
        if len(current):
            tables["findings"] = find_cross_level(current, links, registry)
    with clock.stage("summarise"):
        if len(items):
            tables["summary"] = summarise(current)
    methods = pc.value_counts(links.column("method")).to_pylist() if links.num_rows else []
    matching = {"threshold": threshold, "links": {m["values"]: m["counts"] for m in sorted(methods, key=str)}}
    return {k: v for k, v in tables.items() if v is not None}, validation, matching


@task(name="match-province", task_run_name="match-{province}")
def match_province(province: str, items: pd.DataFrame, registry: Registry, threshold: float) -> pa.Table:
    """Links of one province's items to their ancestors (its own lists and the national list).

    Provinces are independent, which is what lets them run in parallel (threads here, Dask workers
    with ``--dask``) and be skipped when their inputs did not change.
    """
    links = link_items(items, registry, threshold=threshold)
    return links.filter(
        pc.is_in(links.column("child_item_id"), pa.array(items["item_id"][items["province"] == province]))
    )


def match_all(items: pd.DataFrame, registry: Registry, threshold: float) -> pa.Table:
    if not len(items):
        return LINKS.empty_table()
    national = items[items["province"] == NATIONAL]
    provinces = sorted(p for p in items["province"].unique() if p != NATIONAL)
    futures = [
        match_province.submit(p, pd.concat([items[items["province"] == p], national]), registry, threshold)
        for p in provinces
    ]
    tables = [f.result() for f in futures]
    return (
        pa.concat_tables(tables).sort_by([("child_item_id", "ascending"), ("parent_jurisdiction", "ascending")])
        if tables
        else LINKS.empty_table()
    )


@flow(name="powerlists", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=4))
def powerlists_run(
    manifest: str,
    out: str = "out",
    match_threshold: float | None = None,
    max_error_share: float | None = None,
) -> dict[str, Any]:
    """Ingest every source of ``manifest``, validate, link across levels and write ``out``.

    Returns run.json's content. Raises ``RunFailed`` (the flow ends Failed) when a source failed or
    the share of quarantined rows exceeds ``max_error_share``; outputs are still written so the
    failure can be reviewed.
    """
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    clock = StageClock()
    out_path = Path(out).resolve()
    with output_lock(out_path):
        recover(out_path)
        with clock.stage("manifest"):
            probe = load_manifest(manifest)
            registry = load_registry(probe.jurisdictions)
            spec = load_manifest(manifest, known_jurisdictions=registry.codes())
        threshold = match_threshold if match_threshold is not None else spec.match_threshold
        error_share = max_error_share if max_error_share is not None else spec.max_error_share
        logger.info("manifest %s: %d sources (%d rejected)", spec.name, len(spec.sources), len(spec.source_errors))
        for sid, error in spec.source_errors.items():
            logger.error("source %s: %s", sid, error)

        with clock.stage("read"):
            results = [f.result() for f in read_source.map(spec.sources)]
        for r in results:
            if r.error:
                logger.error("source %s failed: %s", r.spec.id, r.error)

        staging = new_staging(out_path)
        tables, validation, matching = build_outputs(spec, registry, results, staging, clock, threshold)
        with clock.stage("write"):
            write_tables(tables, staging)

        failed_sources = [r.spec.id for r in results if r.error] + list(spec.source_errors)
        rows_read = sum(0 if r.rows is None else len(r.rows) for r in results)
        quarantined = tables["quarantine"].num_rows if "quarantine" in tables else 0
        share = quarantined / rows_read if rows_read else 0.0
        reasons = []
        if failed_sources:
            reasons.append(f"{len(failed_sources)} source(s) failed: {', '.join(failed_sources)}")
        if share > error_share:
            reasons.append(f"{share:.1%} of rows quarantined, above max_error_share {error_share:.1%}")
        outcome = {"status": "failed" if reasons else "completed", "reasons": reasons}
        run = _run_json(spec, results, started, clock, validation, matching, outcome)
        (staging / "run.json").write_text(json.dumps(run, ensure_ascii=False, indent=2), encoding="utf-8")
        swap_in(staging, out_path)

    logger.info(
        "%s: %d rows read, %d items, %d quarantined → %s",
        outcome["status"],
        rows_read,
        rows_read - quarantined,
        quarantined,
        out_path,
    )
    if reasons:
        raise RunFailed("; ".join(reasons))
    return run
