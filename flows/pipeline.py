"""The main Prefect flow: manifest → items, links, powers, findings, changes, summary, report.

The run goes one **scope** at a time (``flows.scope``): the national lists first, then each province
with the national items as context. A scope's sources are read in a few batch tasks and finished
(validated, matched, examined) in one task that writes its share of every table to the staging
folder; only compact columns come back. The flow then consolidates powers across the country and
assembles the tables, so memory follows the largest province, not the country. With a Dask runner,
``parallel_scopes`` provinces run at once in worker processes.

Tasks are thin: each calls transforms. Everything is assembled in a staging folder and swapped into
``out`` at the end, so a failed run leaves the previous output as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from prefect import State, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.artifacts import publish_artifacts
from flows.fetch import DEFAULT_RETRY_DELAY_S, FetchOutcome, carry_downloads, fetch_all
from flows.incremental import RunCache
from flows.runners import ClosableRunner, batch_gc, default_parallel_scopes, release_scope_memory, task_runner
from flows.scope import (
    CONSOLIDATE_ITEMS_PART,
    LINK_ENDS_PART,
    PARTS_DIR,
    NationalContext,
    ScopeOutput,
    SourceResult,
    StageClock,
    carry_data_docs,
    finish_scope,
    read_parts,
    read_source,
    scope_tables,
    settle_national_moves,
    source_size,
)
from transforms import __version__
from transforms.clean.items import stable_id
from transforms.clean.normalise import Vocab, load_vocab
from transforms.examine.changes import combine_changes, default_as_of
from transforms.examine.kinds import finding_record
from transforms.examine.reviews import review_findings
from transforms.ingest.jurisdictions import NATIONAL, Registry, RegistryError, load_registry
from transforms.ingest.manifest import (
    ArgumentError,
    Manifest,
    ManifestError,
    SourceSpec,
    check_run_arguments,
    load_manifest,
)
from transforms.ingest.reviews import NO_REVIEWS, Reviews, ReviewsError, read_reviews
from transforms.link.consolidate import LinkEnds, consolidate
from transforms.link.order import sort_indices
from transforms.publish.report import render_report
from transforms.publish.schema import FINDINGS, ITEMS, LINKS
from transforms.publish.tables import TABLE_SPECS
from transforms.publish.views import write_views
from transforms.publish.write import (
    OutputLocked,
    UnsafeOutput,
    check_output_folder,
    new_staging,
    output_error,
    output_lock,
    recover,
    swap_in,
    write_table,
    write_tables,
)


#: Names of the Failed states a run ends in when it writes nothing (the CLI maps them to exit codes).
def _run_vocab(spec: Manifest) -> Vocab | None:
    """The manifest's own vocabulary (``[run] vocab``), checked before anything is read."""
    if spec.vocab is None:
        return None
    try:
        return load_vocab(spec.vocab)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"[run].vocab: {exc}") from exc


REFUSED = "Refused"
OUTPUT_ERROR = "OutputError"
#: What makes a run refuse before it writes anything: the caller's mistake, or another run's lock.
REFUSALS = (ArgumentError, ManifestError, RegistryError, ReviewsError, OutputLocked, UnsafeOutput)


@task(name="read-sources", task_run_name="read-{scope}", cache_policy=NO_CACHE)
def read_sources(
    scope: str,
    specs: list[SourceSpec],
    downloaded: list[str | None],
    cache: RunCache | None = None,
    registry: Registry | None = None,
    vocab: Vocab | None = None,
) -> tuple[list[SourceResult], float]:
    """Read and normalise one scope's list files (and the seconds it took).

    One task per scope, not per file: a task costs ~15 ms on threads but ~0.5 s on a Dask worker, and
    a national run has ~3,200 files. Nor split across workers: the scope's rows would then travel
    between worker processes (pickled) to meet in ``finish_scope_task``; with Dask, one scope's read
    and finish run on one worker and other workers take other provinces.
    """
    batch_gc()
    start = time.perf_counter()
    results = [read_source(s, d, cache, registry, vocab) for s, d in zip(specs, downloaded, strict=True)]
    return results, time.perf_counter() - start


@task(name="finish-scope", task_run_name="scope-{province}", cache_policy=NO_CACHE)
def finish_scope_task(
    province: str,
    read: tuple[list[SourceResult], float],
    national: NationalContext | None,
    registry: Registry,
    national_specs: list[SourceSpec],
    staging: Path,
    cache: RunCache | None,
    threshold: float,
    previous: Path | None,
    as_of: dt.date | None,
    reviews: Reviews = NO_REVIEWS,
) -> ScopeOutput:
    """Validate, match and examine one scope (``flows.scope.scope_tables``); its tables go to staging."""
    batch_gc()
    results, read_seconds = read
    tables = scope_tables(
        province,
        results,
        registry=registry,
        national_specs=national_specs,
        national=national,
        staging=staging,
        cache=cache,
        threshold=threshold,
        previous=previous,
        as_of=as_of,
        link_reviews=reviews.of_links,
    )
    output = finish_scope(staging, province, tables)
    output.seconds["read"] = round(read_seconds, 4)
    return output


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
                "read_warnings": r.info.get("read_warnings", []),
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


def source_failure_findings(manifest: Manifest, results: list[SourceResult]) -> pa.Table:
    """One ``source_failed`` error per source that gave no rows (bad manifest entry, unreadable file,
    download failed after its retries), so the quality team sees it among the findings and in the report.
    """
    failed = [(r.spec.id, r.spec.jurisdiction, r.spec.location, r.error) for r in results if r.error]
    failed += [(sid, None, None, error) for sid, error in manifest.source_errors.items()]
    records = [
        finding_record(
            "source_failed",
            jurisdiction_code=jurisdiction,
            item_id=None,
            other_item_id=None,
            other_jurisdiction_code=None,
            message=f"source {sid} gave no rows: {error}",
            details={"source_id": sid, "location": location, "error": error},
            key=sid,
        )
        for sid, jurisdiction, location, error in failed
    ]
    return pa.Table.from_pylist(records, schema=FINDINGS)


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


# ---- assembling the country from the scopes' parts -----------------------------------------------------------


# How each table is ordered: what a whole-country computation gives, so the split into scopes is invisible.
# (columns, nulls first); stable sorts, and scopes never share a key, so ties keep their scope's order.
def _row_order(name: str, table: pa.Table) -> pa.Array:
    """The order a whole-country computation gives the table's rows, applied as it is written."""
    spec = TABLE_SPECS[name]
    return sort_indices(table, [(k, "ascending", spec.nulls) for k in spec.sort])


def _concat(staging: Path, name: str, schema: pa.Schema, extra: list[pa.Table] = ()) -> pa.Table:
    parts = [*read_parts(staging, name).values(), *extra]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _country_link_ends(items: list[pa.Table], ends: list[pa.Table], national: int | None) -> LinkEnds:
    """Every scope's link ends (``flows.scope.scope_link_ends``) as positions in the country's current
    items: the scopes' ``items`` (their consolidate parts) one after the other, the national scope's
    at index ``national`` (None: the run has none)."""
    offsets = np.cumsum([0, *(t.num_rows for t in items)])
    national_start = int(offsets[national]) if national is not None else 0
    children, parents = [], []
    for own_items, own_ends, start in zip(items, ends, offsets, strict=False):
        own = own_items.num_rows
        child = own_ends.column("child").to_numpy()
        parent = own_ends.column("parent").to_numpy()
        children.append(child + start)
        parents.append(np.where(parent < own, parent + start, parent - own + national_start))
    empty = np.zeros(0, dtype=np.int64)
    return LinkEnds(np.concatenate([empty, *children]), np.concatenate([empty, *parents]))


def _quarantine(staging: Path, specs: list[SourceSpec]) -> pa.Table | None:
    """Quarantined rows in manifest order of their sources (as one batch over all sources gives)."""
    parts = read_parts(staging, "quarantine")
    if not parts:
        return None
    table = pa.concat_tables(parts.values())
    order = {s.id: i for i, s in enumerate(specs)}
    position = pa.array([order[s] for s in table.column("source_id").to_pylist()], pa.int32())
    keys = pa.table({"source": position, "row": pa.array(range(table.num_rows), pa.int64())})
    return table.take(pc.sort_indices(keys, sort_keys=[("source", "ascending"), ("row", "ascending")]))


def _write_items(staging: Path, power_of: dict[str, pa.Table]) -> int:
    """Each scope's items with their ``power_id`` (from ``power_of[scope]``: item_id → power_id), as
    its province's partition; returns the row count.

    Partitions are written on every core at once: Arrow releases the GIL while it looks ids up and
    encodes Parquet, and by now the scopes are done and the workers idle. Each thread holds one
    province's items, a few hundred thousand rows.
    """
    folder = staging / PARTS_DIR / "items"
    parts = sorted(folder.glob("*.arrow")) if folder.is_dir() else []

    def write_partition(path: Path) -> int:
        items = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        powers = power_of[path.stem]
        position = pc.index_in(items.column("item_id"), value_set=powers.column("item_id"))
        power_ids = powers.column("power_id").take(position)
        items = items.set_column(items.schema.get_field_index("power_id"), "power_id", power_ids)
        write_table("items", items, staging)
        return items.num_rows

    with ThreadPoolExecutor(max_workers=max(1, min(len(parts), os.cpu_count() or 1))) as pool:
        rows = sum(pool.map(write_partition, parts))
    if not rows:
        write_table("items", ITEMS.empty_table(), staging)
    return rows


@dataclass
class Assembled:
    """What run.json needs from the assembled tables (they are on disk, not in memory)."""

    quarantined: int = 0
    link_methods: dict[str, int] = field(default_factory=dict)


def assemble_tables(
    staging: Path,
    specs: list[SourceSpec],
    scopes: list[ScopeOutput],
    failures: pa.Table,
    clock: StageClock,
    reviews: Reviews = NO_REVIEWS,
) -> Assembled:
    """The country's tables from the scopes' parts, written to ``staging``.

    Powers are consolidated across provinces from the scopes' compact columns and items get their
    ``power_id`` partition by partition; meanwhile a second thread builds every other table (they do
    not depend on the consolidation): concatenated, put in the order a whole-country computation
    gives, written and dropped before the next. Sorting, taking and Parquet encoding release the GIL,
    so on a 2-core machine the two paths overlap (the run's Dask workers are gone by now); memory is
    the consolidation's plus one other table at a time, not all tables at once.
    """
    done = Assembled()
    written: set[str] = set()

    def write(name: str, table: pa.Table, order: pa.Array | None = None) -> None:
        with clock.stage("write"):
            write_table(name, table, staging, order)
        written.add(name)

    with ThreadPoolExecutor(max_workers=1) as side:
        reviewed_links = frozenset().union(*(s.reviewed_links for s in scopes))
        others = side.submit(
            _assemble_other_tables, staging, specs, failures, clock, write, done, reviews, reviewed_links
        )
        with clock.stage("consolidate"):
            items_parts, ends_parts = read_parts(staging, CONSOLIDATE_ITEMS_PART), read_parts(staging, LINK_ENDS_PART)
            scope_items = [items_parts[s.province] for s in scopes]
            current = pa.concat_tables(scope_items) if scopes else None
            power_ids = pa.nulls(0, pa.string())
            if current is not None and current.num_rows:
                provinces = [s.province for s in scopes]
                national = provinces.index(NATIONAL) if NATIONAL in provinces else None
                ends = _country_link_ends(scope_items, [ends_parts[p] for p in provinces], national)
                found, powers = consolidate(current.to_pandas(types_mapper=pd.ArrowDtype), ends)
                power_ids = pa.array(found, pa.string())
                del current, ends, found
                write("powers", powers)
            # per scope, its current items' power ids (scopes are consecutive slices of ``current``)
            power_of: dict[str, pa.Table] = {}
            offset = 0
            for s, own in zip(scopes, scope_items, strict=True):
                power_of[s.province] = pa.table(
                    {"item_id": own.column("item_id"), "power_id": power_ids.slice(offset, own.num_rows)}
                )
                offset += own.num_rows
            del items_parts, ends_parts, scope_items
        with clock.stage("write"):
            _write_items(staging, power_of)
        written.add("items")
        del power_of
        others.result()
    with clock.stage("write"):
        write_tables({}, staging, written=written)
    shutil.rmtree(staging / PARTS_DIR, ignore_errors=True)
    return done


def _assemble_other_tables(
    staging: Path,
    specs: list[SourceSpec],
    failures: pa.Table,
    clock: StageClock,
    write: Callable[[str, pa.Table], None],
    done: Assembled,
    reviews: Reviews,
    reviewed_links: frozenset[str],
) -> None:
    """Every table but powers and items, one at a time (see ``assemble_tables``); the findings carry
    the reviews file's decisions (``transforms.ingest.reviews``)."""
    with clock.stage("assemble"):
        quarantine = _quarantine(staging, specs)
    if quarantine is not None:
        done.quarantined = quarantine.num_rows
        write("quarantine", quarantine)
    del quarantine
    with clock.stage("assemble"):
        links = _concat(staging, "links", LINKS)
        order = _row_order("links", links)
    methods = pc.value_counts(links.column("method")).to_pylist() if links.num_rows else []
    done.link_methods = {m["values"]: m["counts"] for m in sorted(methods, key=str)}
    write("links", links, order)
    del links, order
    with clock.stage("assemble"):
        changes = combine_changes(*settle_national_moves(read_parts(staging, "changes")))
    write("changes", changes)
    del changes
    with clock.stage("assemble"):
        found = _concat(staging, "findings", FINDINGS, [failures])
        findings = review_findings(found, reviews, reviewed_links)
        order = _row_order("findings", findings)
    write("findings", findings, order)
    del found, findings, order
    for name in ("summary", *(n for n, spec in TABLE_SPECS.items() if not spec.contract)):
        with clock.stage("assemble"):
            parts = read_parts(staging, name)
            table = pa.concat_tables(parts.values()) if parts else None
        if table is not None:
            write(name, table, _row_order(name, table))


def _previous_folder(previous: str | None, last_output: Path | None) -> Path | None:
    """The output to compare with: an explicit folder, else the one being replaced."""
    if previous is not None:  # checked by check_run_arguments
        return Path(previous)
    if last_output is not None and (last_output / "items").is_dir():
        return last_output
    return None


def group_by_scope(specs: list[SourceSpec], registry: Registry) -> dict[str, list[SourceSpec]]:
    """Sources per scope (the province of their jurisdiction; national lists are their own scope),
    national first, then provinces by code, each in manifest order."""
    groups: dict[str, list[SourceSpec]] = defaultdict(list)
    for s in specs:
        groups[registry.province(s.jurisdiction)].append(s)
    return {p: groups[p] for p in sorted(groups, key=lambda p: (p != NATIONAL, p))}


def _fetch_info(result: SourceResult, outcome: FetchOutcome | str | None) -> SourceResult:
    if not isinstance(outcome, FetchOutcome):
        return result
    fetch = {
        "status": outcome.status,
        "url": outcome.url,
        "etag": outcome.etag,
        "last_modified": outcome.last_modified,
        "attempts": outcome.attempts,
        "pages": outcome.pages,
        "seconds": outcome.seconds,
        "stored": f"downloads/{outcome.sha256}",
    }
    return dataclasses.replace(result, fetch=fetch)


def run_scopes(
    spec: Manifest,
    registry: Registry,
    fetched: dict[str, FetchOutcome | str],
    downloads: Path,
    staging: Path,
    cache: RunCache,
    threshold: float,
    previous: Path | None,
    parallel_scopes: int,
    runner: Any = None,
    reviews: Reviews = NO_REVIEWS,
    vocab: Vocab | None = None,
) -> tuple[list[ScopeOutput], list[SourceResult]]:
    """Every scope through read → finish, at most ``parallel_scopes`` provinces in flight (memory bound).

    Tasks go to ``runner`` (a started task runner, e.g. the run's Dask cluster) or else to the flow's own.
    Returns the scope outputs (national first) and the light per-source results in manifest order,
    including sources whose download failed (never read).
    """
    parallel = max(1, parallel_scopes)
    failed = {s.id: SourceResult(s, None, error=o, fetch={"status": "failed", "url": s.url, "error": o})
              for s in spec.sources if isinstance(o := fetched.get(s.id), str)}  # fmt: skip
    common = {
        "registry": registry,
        "national_specs": [s for s in spec.sources if s.jurisdiction == NATIONAL],
        "staging": staging,
        "cache": cache,
        "threshold": threshold,
        "previous": previous,
        "as_of": default_as_of(spec.sources),
        "reviews": reviews,
    }

    def submit(province: str, specs: list[SourceSpec], national: NationalContext | None) -> Any:
        readable = [s for s in specs if s.id not in failed]  # in manifest order
        paths = [
            str(downloads / f.sha256) if isinstance(f := fetched.get(s.id), FetchOutcome) else None for s in readable
        ]
        read = submit_task(
            read_sources,
            scope=province,
            specs=readable,
            downloaded=paths,
            cache=cache,
            registry=registry,
            vocab=vocab,
        )
        return submit_task(finish_scope_task, province=province, read=read, national=national, **common)

    def submit_task(task: Any, **parameters: Any) -> Any:
        return task.submit(**parameters) if runner is None else runner.submit(task, parameters)

    done: dict[str, ScopeOutput] = {}
    scopes = group_by_scope(spec.sources, registry)
    national = None
    if NATIONAL in scopes:
        done[NATIONAL] = submit(NATIONAL, scopes[NATIONAL], None).result()
        national = done[NATIONAL].national
        done[NATIONAL].national = None
    # Largest provinces first, and a freed slot is refilled at once: with several workers the run then
    # ends on small provinces instead of waiting on a large one started last (or behind an early one).
    provinces = sorted((p for p in scopes if p != NATIONAL), key=lambda p: -sum(map(source_size, scopes[p])))
    in_flight: dict[Any, str] = {}
    for province in provinces:
        if len(in_flight) >= parallel:
            finished = next(as_completed(list(in_flight)))
            done[in_flight.pop(finished)] = finished.result()
        in_flight[submit(province, scopes[province], national)] = province
    for future, province in in_flight.items():
        done[province] = future.result()
    outputs = [done[p] for p in scopes]  # national first, then provinces by code, whatever the finishing order
    by_id = {r.spec.id: r for o in outputs for r in o.results} | failed
    results = [_fetch_info(by_id[s.id], fetched.get(s.id)) for s in spec.sources]
    return outputs, results


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
    parallel_scopes: int | None = None,
    dask_workers: int | None = None,
    dask_address: str | None = None,
) -> dict[str, Any] | State:
    """Ingest every source of ``manifest``, validate, link across levels and write ``out``.

    Returns run.json's content. Ends in a Failed state (returned, not raised: a failed source is an
    outcome to review, not a crash with a traceback) when a source failed or the share of quarantined
    rows exceeds ``max_error_share``, with the outputs written so the failure can be reviewed; in a
    Failed state named ``Refused`` when the arguments, manifest, registry or output folder are wrong or
    another run holds the folder, and ``OutputError`` when the output cannot be written (disk full,
    read-only); nothing is written then and the previous output is intact.

    ``url`` sources are downloaded with a per-request and whole-download timeout of
    ``fetch_timeout_s``, a size cap of ``fetch_max_mb`` and up to 3 retries with exponential backoff
    starting at ``fetch_retry_delay_s``. Sources and provinces unchanged since the previous run into
    the same ``out`` are reused from its cache (``OUT/.cache``, see ``flows.incremental``).

    ``changes`` records what changed between versions in the manifest and against ``previous`` (an
    earlier output folder); when ``previous`` is not given and ``compare_with_last`` is true, the
    output being replaced is the previous one, so a scheduled run always reports what changed since
    the last successful run.

    ``dask_workers`` runs reading and per-province work on a local Dask cluster of that many worker
    processes, started for the run and closed with it; ``dask_address`` on a running scheduler instead
    (``tcp://host:8786``). Neither: threads in the flow's process. Both are plain parameters, so a
    deployment's runs (``prefect.yaml``, ``powerlists serve``) choose them in the UI like the CLI does.
    ``parallel_scopes`` provinces are processed at once: by default 1 on threads, where the GIL makes
    more pointless and memory grows with each, one per Dask worker, 2 on a scheduler of unknown size.
    """
    try:
        check_run_arguments(
            match_threshold=match_threshold,
            max_error_share=max_error_share,
            fetch_timeout_s=fetch_timeout_s,
            fetch_max_mb=fetch_max_mb,
            fetch_retry_delay_s=fetch_retry_delay_s,
            previous=previous,
            parallel_scopes=parallel_scopes if parallel_scopes is not None else 1,
            dask_workers=dask_workers,
            dask_address=dask_address,
        )
        run = _run(
            manifest,
            out,
            match_threshold,
            max_error_share,
            fetch_timeout_s,
            fetch_max_mb,
            fetch_retry_delay_s,
            previous,
            compare_with_last,
            parallel_scopes,
            dask_workers,
            dask_address,
        )
    except REFUSALS as exc:
        get_run_logger().error("refused: %s", exc)
        return Failed(name=REFUSED, message=str(exc))
    except OSError as exc:
        message = output_error(exc, Path(out).resolve())
        if message is None:
            raise
        get_run_logger().error("%s", message)
        return Failed(name=OUTPUT_ERROR, message=message)
    if run["outcome"]["reasons"]:
        return Failed(message="; ".join(run["outcome"]["reasons"]))
    return run


@dataclass(frozen=True)
class RunPlan:
    """What a run is asked to do, resolved and checked before anything is read or written."""

    spec: Manifest
    registry: Registry
    reviews: Reviews
    vocab: Vocab | None
    threshold: float
    error_share: float
    inputs: list[Path]  # the files the run reads, which an output folder must never be or contain


def resolve_run(manifest: str, match_threshold: float | None, max_error_share: float | None) -> RunPlan:
    """The manifest with its registry, reviews file and vocabulary loaded, and the run's settings
    (arguments over the manifest's own); any mistake refuses the run here."""
    probe = load_manifest(manifest)
    registry = load_registry(probe.jurisdictions)
    spec = load_manifest(manifest, known_jurisdictions=registry.codes())
    reviews = read_reviews(spec.reviews, registry) if spec.reviews is not None else NO_REVIEWS
    inputs = [Path(manifest), spec.path, *(s.path for s in spec.sources if s.path is not None)]
    inputs += [p for p in (spec.reviews, spec.vocab, spec.jurisdictions) if p is not None]
    return RunPlan(
        spec=spec,
        registry=registry,
        reviews=reviews,
        vocab=_run_vocab(spec),
        threshold=match_threshold if match_threshold is not None else spec.match_threshold,
        error_share=max_error_share if max_error_share is not None else spec.max_error_share,
        inputs=inputs,
    )


def describe_run(
    plan: RunPlan,
    results: list[SourceResult],
    scopes: list[ScopeOutput],
    assembled: Assembled,
    started: dt.datetime,
    clock: StageClock,
    docs: bool,
) -> dict[str, Any]:
    """run.json: what was read, validated and matched, and whether the run failed and why."""
    spec = plan.spec
    failed_sources = [r.spec.id for r in results if r.error] + list(spec.source_errors)
    rows_read = sum(r.rows_read for r in results)
    quarantined = assembled.quarantined
    share = quarantined / rows_read if rows_read else 0.0
    reasons = []
    if failed_sources:
        reasons.append(f"{len(failed_sources)} source(s) failed: {', '.join(failed_sources)}")
    if share > plan.error_share:
        reasons.append(f"{share:.1%} of rows quarantined, above max_error_share {plan.error_share:.1%}")
    outcome = {"status": "failed" if reasons else "completed", "reasons": reasons}
    validation = {
        "success": quarantined == 0,
        "errors": quarantined,
        "warnings": sum(r.info.get("warnings", 0) for r in results),
        "expectations": _merge_expectations(results),
        "data_docs": "validation/data_docs/index.html" if docs else None,
        "validated_sources": sorted(r.spec.id for r in results if r.rows_read and not r.cached),
        "reused_sources": sorted(r.spec.id for r in results if r.cached),
    }
    matching = {
        "threshold": plan.threshold,
        "links": assembled.link_methods,
        "provinces": {s.province: s.matched for s in scopes if s.matched},
    }
    run = _run_json(spec, results, started, clock, validation, matching, outcome)
    if spec.reviews is not None:  # the decisions applied, for the audit and the report's download
        run["reviews"] = plan.reviews.summary()
    return run


def publish_staging(staging: Path, run: dict[str, Any], out: Path) -> None:
    """run.json, the report and the DuckDB views into ``staging``, then ``staging`` swapped in as ``out``."""
    (staging / "run.json").write_text(json.dumps(run, ensure_ascii=False, indent=2), encoding="utf-8")
    render_report(staging)
    write_views(staging, root=out)
    swap_in(staging, out)


def _run(
    manifest: str,
    out: str,
    match_threshold: float | None,
    max_error_share: float | None,
    fetch_timeout_s: float,
    fetch_max_mb: float,
    fetch_retry_delay_s: float,
    previous: str | None,
    compare_with_last: bool,
    parallel_scopes: int | None,
    dask_workers: int | None,
    dask_address: str | None,
) -> dict[str, Any]:
    """The run itself (see ``powerlists_run``): resolve → scopes → assemble → publish into ``out``."""
    logger = get_run_logger()
    started = dt.datetime.now(dt.UTC)
    clock = StageClock()
    out_path = Path(out).resolve()
    check_output_folder(out_path)
    with output_lock(out_path), contextlib.ExitStack() as stack:  # the stack holds a Dask cluster
        recover(out_path)
        with clock.stage("manifest"):
            plan = resolve_run(manifest, match_threshold, max_error_share)
        spec, registry, reviews = plan.spec, plan.registry, plan.reviews
        check_output_folder(out_path, protected=plan.inputs)
        logger.info("manifest %s: %d sources (%d rejected)", spec.name, len(spec.sources), len(spec.source_errors))
        for sid, error in spec.source_errors.items():
            logger.error("source %s: %s", sid, error)
        previous_folder = _previous_folder(previous, out_path if compare_with_last else None)

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
            dask = (
                stack.enter_context(ClosableRunner(task_runner(dask_workers, dask_address)))
                if dask_workers or dask_address
                else None
            )
            with clock.stage("scopes"):
                scopes, results = run_scopes(
                    spec,
                    registry,
                    fetched,
                    downloads.folder,
                    staging,
                    cache,
                    plan.threshold,
                    previous_folder,
                    default_parallel_scopes(parallel_scopes, dask_workers, dask_address),
                    dask.runner if dask is not None else None,
                    reviews,
                    plan.vocab,
                )
            for scope in scopes:
                for name, seconds in scope.seconds.items():
                    clock.add(name, seconds)
            reused = [r.spec.id for r in results if r.cached]
            logger.info("%d source(s) unchanged since the last run, reused: %s", len(reused), ", ".join(reused) or "-")
            for r in results:
                if r.error:
                    logger.error("source %s failed: %s", r.spec.id, r.error)
                for warning in r.info.get("read_warnings", []):
                    logger.warning("source %s: %s", r.spec.id, warning)
            release_scope_memory(dask)
            failures = source_failure_findings(spec, results)
            assembled = assemble_tables(staging, spec.sources, scopes, failures, clock, reviews)
            docs = any(s.validated for s in scopes)
            if not docs and any(r.cached for r in results):
                docs = carry_data_docs(results, out_path, staging)
            run = describe_run(plan, results, scopes, assembled, started, clock, docs)
            publish_staging(staging, run, out_path)
        except BaseException:  # a signal included: staging never outlives the run
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(run, out_path)

    rows_read = sum(r.rows_read for r in results)
    logger.info(
        "%s: %d rows read, %d items, %d quarantined → %s",
        run["outcome"]["status"],
        rows_read,
        rows_read - assembled.quarantined,
        assembled.quarantined,
        out_path,
    )
    return run
