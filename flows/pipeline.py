"""The main Prefect flow: manifest → items, links, powers, findings, changes, summary, report.

Tasks are thin: each calls one transform. Sources are read and normalised as mapped tasks (bounded
concurrency); validation runs once for the batch; everything is assembled in a staging folder and
swapped into ``out`` at the end, so a failed run leaves the previous output as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.artifacts import publish_artifacts
from flows.fetch import DEFAULT_RETRY_DELAY_S, FetchOutcome, carry_downloads, fetch_all
from flows.incremental import RunCache, ValidatedSource, match_key, registry_version, source_key
from transforms import __version__
from transforms.basis import citations_table
from transforms.changes import (
    combine_changes,
    combine_findings,
    default_as_of,
    diff_against_previous,
    diff_versions,
    find_over_time,
    load_previous_items,
)
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
from transforms.read import SourceReadError, read_rows, read_source_file
from transforms.reform import find_reform, reform_tables
from transforms.report import render_report
from transforms.schema import CHANGES, FINDINGS, LINKS
from transforms.summary import summarise
from transforms.validate import validate
from transforms.versions import current_source_ids, version_chains
from transforms.views import write_views
from transforms.write import check_output_folder, new_staging, output_lock, recover, swap_in, write_tables


class RunFailed(Exception):
    """The run completed its outputs but breaches a threshold (error share, failed sources)."""


@dataclass
class SourceResult:
    """What one source gave: its normalised rows (or, when unchanged, its cached validated rows), or why none.

    ``validated`` is filled by the validation stage, or straight from the cache when the source's
    bytes, read options and the code are unchanged (``cached``): then ``rows`` is None and nothing
    was read or validated again.
    """

    spec: SourceSpec
    rows: pd.DataFrame | None
    sha256: str | None = None
    bytes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    key: str | None = None
    validated: ValidatedSource | None = None
    cached: bool = False
    fetch: dict[str, Any] | None = None

    @property
    def rows_read(self) -> int:
        if self.validated is not None:
            return self.validated.rows_read
        return 0 if self.rows is None else len(self.rows)


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


def source_bytes(spec: SourceSpec, downloaded: str | None = None) -> bytes:
    """The source's bytes: its file, or for a ``url`` source the copy the fetch stage stored."""
    if downloaded is not None:
        return read_source_file(downloaded)
    if spec.path is None:
        raise SourceReadError(f"{spec.url}: HTTP sources are fetched by the fetch stage")
    return read_source_file(spec.path)  # refuses a file over the size cap before reading it


@task(name="read-source", task_run_name="read-{spec.id}", cache_policy=NO_CACHE)
def read_source(
    spec: SourceSpec,
    downloaded: str | None = None,
    cache: RunCache | None = None,
    registry: Registry | None = None,
) -> SourceResult:
    """Read and normalise one list file; a source that cannot be read is reported, not raised.

    With a ``cache`` (and the ``registry`` its key needs), an unchanged source is taken from the
    previous run's cache instead: no parsing, no normalising, no validation.
    """
    try:
        data = source_bytes(spec, downloaded)
    except OSError as exc:
        return SourceResult(spec, None, error=f"cannot read {spec.location}: {exc}")
    except SourceReadError as exc:
        return SourceResult(spec, None, error=f"{spec.location}: {exc}")
    digest = hashlib.sha256(data).hexdigest()
    key = source_key(spec, digest, registry) if cache is not None and registry is not None else None
    if key is not None and cache is not None and (hit := cache.get_source(key)) is not None:
        return SourceResult(
            spec, None, sha256=digest, bytes=len(data), info=dict(hit.info), key=key, validated=hit, cached=True
        )
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
        return SourceResult(spec, None, sha256=digest, bytes=len(data), error=str(exc), key=key)
    frame["jurisdiction_code"] = spec.jurisdiction
    frame["published"] = spec.published
    return SourceResult(spec, normalise(frame), sha256=digest, bytes=len(data), info=info, key=key)


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
        rows_read = r.rows_read
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
                "cache_key": r.key,
                "cached": r.cached,
                "fetch": r.fetch,
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
        rows = r.rows_read
        if r.info["items"] + r.info["quarantined"] != rows:
            raise AssertionError(f"{r.spec.id}: items + quarantined != rows read ({rows}); a row was lost")


def source_failure_findings(manifest: Manifest, results: list[SourceResult]) -> pa.Table:
    """One ``source_failed`` error per source that gave no rows (bad manifest entry, unreadable file,
    download failed after its retries), so the quality team sees it among the findings and in the report.
    """
    rows = []
    failed = [(r.spec.id, r.spec.jurisdiction, r.spec.location, r.error) for r in results if r.error]
    failed += [(sid, None, None, error) for sid, error in manifest.source_errors.items()]
    for sid, jurisdiction, location, error in failed:
        rows.append(
            {
                "finding_id": stable_id("source_failed", sid),
                "kind": "source_failed",
                "severity": "error",
                "jurisdiction_code": jurisdiction,
                "item_id": None,
                "other_item_id": None,
                "other_jurisdiction_code": None,
                "message": f"source {sid} gave no rows: {error}",
                "details": json.dumps({"source_id": sid, "location": location, "error": error}, ensure_ascii=False),
            }
        )
    return pa.Table.from_pylist(rows, schema=FINDINGS)


def _positions_by_source(frame: pd.DataFrame) -> dict[str, Any]:
    """Row positions of each source in ``frame`` (ascending), found in one pass.

    Filtering the batch once per source costs sources × rows (3,200 × 10M for the country).
    """
    return frame.groupby("source_id", sort=False).indices if len(frame) else {}


def _split_validated(
    result: SourceResult, outcome: Any, positions: tuple[dict[str, Any], dict[str, Any]] | None = None
) -> ValidatedSource:
    """One source's share of a batch validation: what the cache keeps for the next run.

    ``positions`` (items, quarantine) from ``_positions_by_source`` saves a scan of the batch per source.
    """
    sid = result.spec.id
    if outcome is None or result.rows is None or not len(result.rows):
        return ValidatedSource(pd.DataFrame(), pd.DataFrame(), 0, [], dict(result.info))
    if positions is None:
        positions = (_positions_by_source(outcome.items), _positions_by_source(outcome.quarantine))
    none: list[int] = []
    expectations = [
        {**{k: v for k, v in e.items() if k != "failed_by_source"}, "failed_rows": e["failed_by_source"].get(sid, 0)}
        for e in outcome.by_expectation
    ]
    return ValidatedSource(
        items=outcome.items.iloc[positions[0].get(sid, none)].reset_index(drop=True),
        quarantine=outcome.quarantine.iloc[positions[1].get(sid, none)].reset_index(drop=True),
        rows_read=len(result.rows),
        expectations=expectations,
        info=dict(result.info),
    )


def _merge_expectations(results: list[SourceResult]) -> list[dict[str, Any]]:
    """Run-level failed rows per expectation: the sum of each source's (fresh or cached) counts."""
    merged: list[dict[str, Any]] | None = None
    for r in results:
        if r.validated is None or not r.validated.rows_read or not r.validated.expectations:
            continue
        if merged is None:
            merged = [dict(e) for e in r.validated.expectations]
        else:
            for entry, add in zip(merged, r.validated.expectations, strict=True):
                entry["failed_rows"] += add["failed_rows"]
    return merged or []


def _carry_data_docs(results: list[SourceResult], previous_out: Path, staging: Path) -> bool:
    """When no source needed validating, keep the previous Data Docs if they cover exactly these sources."""
    try:
        previous = json.loads((previous_out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    before = sorted((i.get("id"), i.get("cache_key")) for i in previous.get("inputs", []) if i.get("rows_read"))
    now = sorted((r.spec.id, r.key) for r in results if r.rows_read)
    docs = previous_out / "validation"
    if before != now or not (docs / "data_docs" / "index.html").is_file():
        return False
    shutil.copytree(docs, staging / "validation", dirs_exist_ok=True)
    return True


def build_outputs(
    manifest: Manifest,
    registry: Registry,
    results: list[SourceResult],
    staging: Path,
    clock: StageClock,
    threshold: float,
    cache: RunCache | None = None,
    previous_items: pd.DataFrame | None = None,
) -> tuple[dict[str, pa.Table], dict[str, Any], dict[str, Any]]:
    """Everything after reading: validate, assemble, match, consolidate, find; returns tables.

    Only sources that were read this run go through Great Expectations (one checkpoint for all of
    them); unchanged sources bring their validated rows from the cache. Expectations are row-level,
    so validating a subset gives every row the same verdict as validating the whole batch.
    """
    fresh = [r for r in results if r.rows is not None and r.validated is None]
    frames = [r.rows for r in fresh if r.rows is not None and len(r.rows)]
    with clock.stage("validate"):
        outcome = None
        if frames:
            batch = add_jurisdiction_columns(pd.concat(frames, ignore_index=True), registry)
            outcome = validate(batch, out_dir=staging / "validation")
        positions = None
        if outcome is not None:
            positions = (_positions_by_source(outcome.items), _positions_by_source(outcome.quarantine))
        for r in fresh:
            r.validated = _split_validated(r, outcome, positions)
            if cache is not None and r.key is not None:
                cache.put_source(r.key, r.validated)
        parts = [r.validated for r in results if r.validated is not None]
        item_parts = [v.items for v in parts if len(v.items)]
        quarantine_parts = [v.quarantine for v in parts if len(v.quarantine)]
        items = pd.concat(item_parts, ignore_index=True) if item_parts else pd.DataFrame()
        quarantine = pd.concat(quarantine_parts, ignore_index=True) if quarantine_parts else pd.DataFrame()
        docs = outcome is not None and bool(outcome.data_docs)
        if outcome is None and cache is not None and any(r.cached for r in results):
            docs = _carry_data_docs(results, cache.previous_out, staging)
    _count_per_source(results, items, quarantine)
    errors = len(quarantine)
    validation = {
        "success": errors == 0,
        "errors": errors,
        "warnings": int(sum(1 for w in items["warnings"] if w)) if len(items) else 0,
        "expectations": _merge_expectations(results),
        "data_docs": "validation/data_docs/index.html" if docs else None,
        "validated_sources": sorted(r.spec.id for r in fresh),
        "reused_sources": sorted(r.spec.id for r in results if r.cached),
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
        links, provinces = match_all(current, registry, threshold, cache)
    with clock.stage("consolidate"):
        if len(current):
            power_ids, tables["powers"] = consolidate(current, links)
            items_power = pd.Series(None, index=items.index, dtype=object)
            items_power.loc[power_ids.index] = power_ids
            tables["items"] = tables["items"].set_column(
                tables["items"].schema.get_field_index("power_id"),
                "power_id",
                pa.array(items_power.tolist(), pa.string(), from_pandas=True),
            )
        tables["links"] = links
    with clock.stage("changes"):
        tables["changes"] = track_changes(manifest, registry, items, previous_items, threshold)
    with clock.stage("findings"):
        tables["findings"] = all_findings(
            manifest, registry, results, items, current, links, tables["changes"], threshold
        )
    with clock.stage("summarise"):
        if len(current):
            tables["summary"] = summarise(current)
            tables["citations"] = citations_table(current)
            for name, table in reform_tables(
                current, links, registry, changes=tables["changes"], all_items=items
            ).items():
                tables[f"reform/{name}"] = table
    methods = pc.value_counts(links.column("method")).to_pylist() if links.num_rows else []
    matching = {
        "threshold": threshold,
        "links": {m["values"]: m["counts"] for m in sorted(methods, key=str)},
        "provinces": provinces,
    }
    return {k: v for k, v in tables.items() if v is not None}, validation, matching


def _previous_items(previous: str | None, last_output: Path | None) -> pd.DataFrame | None:
    """Items of the output to compare with: an explicit folder, else the one being replaced."""
    if previous is not None:
        return load_previous_items(Path(previous))
    if last_output is not None and (last_output / "items").is_dir():
        return load_previous_items(last_output)
    return None


def track_changes(
    manifest: Manifest,
    registry: Registry,
    items: pd.DataFrame,
    previous_items: pd.DataFrame | None,
    threshold: float,
) -> pa.Table:
    """Changes between consecutive versions in this manifest, and against a previous output."""
    if not len(items):
        return CHANGES.empty_table()
    parts = [diff_versions(items, version_chains(manifest.sources), registry, threshold=threshold)]
    if previous_items is not None and len(previous_items):
        parts.append(diff_against_previous(items, previous_items, registry, threshold=threshold))
    return combine_changes(*parts)


_FINDING_ORDER = ["kind", "jurisdiction_code", "item_id", "other_item_id", "other_jurisdiction_code", "finding_id"]


def all_findings(
    manifest: Manifest,
    registry: Registry,
    results: list[SourceResult],
    items: pd.DataFrame,
    current: pd.DataFrame,
    links: pa.Table,
    changes: pa.Table,
    threshold: float,
) -> pa.Table:
    """Every finding kind: cross-level (one version), over time (versions), reform rules, failed sources.

    Days outstanding are counted up to the newest list date, not today, so that the same inputs give
    the same bytes.
    """
    found = [source_failure_findings(manifest, results)]
    if len(current):
        cross_level = find_cross_level(current, links, registry)
        as_of = default_as_of(manifest.sources)
        if as_of is not None:
            over_time = find_over_time(items, links, changes, registry, as_of, threshold=threshold)
            cross_level = combine_findings(cross_level, over_time)
        found += [cross_level, find_reform(current, links, registry)]
    return pa.concat_tables(found).sort_by([(c, "ascending") for c in _FINDING_ORDER], null_placement="at_start")


@task(name="match-province", task_run_name="match-{province}", cache_policy=NO_CACHE)
def match_province(province: str, items: pd.DataFrame, registry: Registry, threshold: float) -> pa.Table:
    """Links of one province's items to their ancestors (its own lists and the national list).

    Provinces are independent, which is what lets them run in parallel (threads here, Dask workers
    with ``--dask``) and be skipped when their inputs did not change.
    """
    links = link_items(items, registry, threshold=threshold)
    return links.filter(
        pc.is_in(links.column("child_item_id"), pa.array(items["item_id"][items["province"] == province]))
    )


# The columns ``link_items`` reads (its docstring), plus ``province`` for ``match_province``'s filter.
MATCH_COLUMNS = (
    "item_id",
    "jurisdiction_code",
    "level",
    "province",
    "name_norm",
    "main_name",
    "sub_item",
    "power_type",
    "power_type_inferred",
    "base_code",
    "department",
    "legal_basis",
)


def match_all(
    items: pd.DataFrame, registry: Registry, threshold: float, cache: RunCache | None = None
) -> tuple[pa.Table, dict[str, str]]:
    """Links of every province, and per province whether they were ``matched`` or ``cached``.

    A province whose items, the national items, the threshold, the registry and the code are all
    unchanged takes its links from the previous run's cache (see ``flows.incremental``).
    """
    if not len(items):
        return LINKS.empty_table(), {}
    # only what matching reads: the cache key hashes less, a Dask worker is sent less
    frame = items[[c for c in MATCH_COLUMNS if c in items.columns]]
    by_province = frame.groupby("province", sort=True).indices
    national = frame.iloc[by_province.get(NATIONAL, [])]
    provinces = sorted(p for p in by_province if p != NATIONAL)
    registry_fp = registry_version(registry) if cache is not None else ""
    tables: dict[str, pa.Table] = {}
    futures = {}
    keys: dict[str, str] = {}
    for p in provinces:
        subset = pd.concat([frame.iloc[by_province[p]], national])
        if cache is not None:
            keys[p] = match_key(subset, registry_fp, threshold)
            hit = cache.get_links(keys[p])
            if hit is not None:
                tables[p] = hit
                continue
        futures[p] = match_province.submit(p, subset, registry, threshold)
    for p, future in futures.items():
        tables[p] = future.result()
        if cache is not None:
            cache.put_links(keys[p], tables[p])
    states = {p: "matched" if p in futures else "cached" for p in provinces}
    ordered = [tables[p] for p in provinces]
    links = (
        pa.concat_tables(ordered).sort_by([("child_item_id", "ascending"), ("parent_jurisdiction", "ascending")])
        if ordered
        else LINKS.empty_table()
    )
    return links, states


def _read_all(
    specs: list[SourceSpec],
    fetched: dict[str, FetchOutcome | str],
    downloads: Path,
    cache: RunCache,
    registry: Registry,
) -> list[SourceResult]:
    """Read every source as mapped tasks (at most the task runner's workers at once), in manifest order.

    A ``url`` source whose download failed is a failed source here and is not read.
    """
    readable = [s for s in specs if not isinstance(fetched.get(s.id), str)]
    paths = [str(downloads / f.sha256) if isinstance(f := fetched.get(s.id), FetchOutcome) else None for s in readable]
    futures = read_source.map(readable, paths, unmapped(cache), unmapped(registry)) if readable else []
    by_id = {s.id: f.result() for s, f in zip(readable, futures, strict=True)}
    results = []
    for s in specs:
        outcome = fetched.get(s.id)
        if isinstance(outcome, str):
            result = SourceResult(s, None, error=outcome, fetch={"status": "failed", "url": s.url, "error": outcome})
        else:
            result = by_id[s.id]
            if isinstance(outcome, FetchOutcome):
                result.fetch = {
                    "status": outcome.status,
                    "url": outcome.url,
                    "etag": outcome.etag,
                    "last_modified": outcome.last_modified,
                    "attempts": outcome.attempts,
                    "seconds": outcome.seconds,
                    "stored": f"downloads/{outcome.sha256}",
                }
        results.append(result)
    return results


def _publish(run: dict[str, Any], out: Path) -> None:
    """UI artifacts; a failure to publish them must not turn a good run into a failed one."""
    try:
        publish_artifacts(run, out)
    except Exception as exc:
        get_run_logger().warning("could not publish Prefect artifacts: %s", exc)


@flow(name="powerlists", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=4))
def powerlists_run(
    manifest: str,
    out: str = "out",
    match_threshold: float | None = None,
    max_error_share: float | None = None,
    fetch_timeout_s: float = 60.0,
    fetch_max_mb: float = 200.0,
    fetch_retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
    previous: str | None = None,
    compare_with_last: bool = True,
) -> dict[str, Any]:
    """Ingest every source of ``manifest``, validate, link across levels and write ``out``.

    Returns run.json's content. Raises ``RunFailed`` (the flow ends Failed) when a source failed or
    the share of quarantined rows exceeds ``max_error_share``; outputs are still written so the
    failure can be reviewed.

    ``url`` sources are downloaded with a per-request and whole-download timeout of
    ``fetch_timeout_s``, a size cap of ``fetch_max_mb`` and up to 3 retries with exponential backoff
    starting at ``fetch_retry_delay_s``. Sources and provinces unchanged since the previous run into
    the same ``out`` are reused from its cache (``OUT/.cache``, see ``flows.incremental``).

    ``changes`` records what changed between versions in the manifest and against ``previous`` (an
    earlier output folder); when ``previous`` is not given and ``compare_with_last`` is true, the
    output being replaced is the previous one, so a scheduled run always reports what changed since
    the last successful run.
    """
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    clock = StageClock()
    out_path = Path(out).resolve()
    check_output_folder(out_path)
    with output_lock(out_path):
        recover(out_path)
        with clock.stage("manifest"):
            probe = load_manifest(manifest)
            registry = load_registry(probe.jurisdictions)
            spec = load_manifest(manifest, known_jurisdictions=registry.codes())
        inputs = [spec.path, *(s.path for s in spec.sources if s.path is not None)]
        check_output_folder(out_path, protected=[*inputs, *([spec.jurisdictions] if spec.jurisdictions else [])])
        threshold = match_threshold if match_threshold is not None else spec.match_threshold
        error_share = max_error_share if max_error_share is not None else spec.max_error_share
        logger.info("manifest %s: %d sources (%d rejected)", spec.name, len(spec.sources), len(spec.source_errors))
        for sid, error in spec.source_errors.items():
            logger.error("source %s: %s", sid, error)

        staging = new_staging(out_path)
        try:
            downloads = carry_downloads(out_path, staging)
            cache = RunCache(out_path, staging)
            with clock.stage("fetch"):
                fetched = fetch_all(
                    spec.sources,
                    downloads,
                    timeout=fetch_timeout_s,
                    max_bytes=int(fetch_max_mb * 1024 * 1024),
                    retry_delay=fetch_retry_delay_s,
                )
            with clock.stage("read"):
                results = _read_all(spec.sources, fetched, downloads.folder, cache, registry)
            reused = [r.spec.id for r in results if r.cached]
            logger.info("%d source(s) unchanged since the last run, reused: %s", len(reused), ", ".join(reused) or "-")
            for r in results:
                if r.error:
                    logger.error("source %s failed: %s", r.spec.id, r.error)

            with clock.stage("previous"):
                previous_items = _previous_items(previous, out_path if compare_with_last else None)
            tables, validation, matching = build_outputs(
                spec, registry, results, staging, clock, threshold, cache, previous_items
            )
            with clock.stage("write"):
                write_tables(tables, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

        failed_sources = [r.spec.id for r in results if r.error] + list(spec.source_errors)
        rows_read = sum(r.rows_read for r in results)
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
        render_report(staging)
        write_views(staging, root=out_path)
        swap_in(staging, out_path)
        _publish(run, out_path)

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
