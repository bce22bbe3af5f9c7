"""One province at a time: the unit of work that keeps a national run within one machine's memory.

A whole-country run holds ~10M items; its rows, validation frames, links and findings intermediates do
not fit in RAM at once (~7 GB per million items when held together). But every question the pipeline
asks is local to a province plus the national lists above it: items link to ancestors only, versions
are per jurisdiction, findings compare an item with its ancestors, summaries are per jurisdiction. So a
run is split into **scopes**:

* the national scope: the national lists (000000) alone; its items are then the context every
  province is matched and compared against;
* one scope per province: its own lists (province, cities, counties, townships) plus that context.

A scope is read, validated, matched and examined; its output rows are written as Arrow parts under
``STAGING/.parts/<table>/<scope>.arrow`` and only compact columns (ids for consolidation) are kept in
memory. Rows that a province scope computes about the national lists alone (they are in every province
scope's input) are dropped there: the national scope owns them. The flow then consolidates powers across
the country from the compact columns and assembles each table from its parts in the order a
whole-country computation gives (``flows.pipeline.assemble_tables``), so the output does not depend on
the split: ``tests/test_scope.py`` checks it byte for byte against processing everything as one scope.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flows.incremental import (
    RunCache,
    Uncacheable,
    ValidatedSource,
    encoded_rows,
    frame_to_arrow,
    match_key,
    registry_version,
    source_key,
)
from transforms.clean.items import add_jurisdiction_columns, item_ids, to_items_table, to_quarantine_table
from transforms.clean.normalise import Vocab, normalise
from transforms.clean.validate import validate
from transforms.examine.basis import citations_table
from transforms.examine.changes import (
    combine_changes,
    diff_against_previous,
    diff_versions,
    load_previous_items,
)
from transforms.examine.checks import find_all
from transforms.examine.reform import ReformCheck
from transforms.examine.summary import summarise
from transforms.examine.versions import current_source_ids, version_chains
from transforms.ingest.jurisdictions import NATIONAL, Registry
from transforms.ingest.manifest import SourceSpec
from transforms.ingest.read import SourceReadError, read_source_file, read_spec_rows
from transforms.ingest.reviews import Decision
from transforms.link.consolidate import link_ends
from transforms.link.match import link_items
from transforms.link.reviewed import apply_link_reviews
from transforms.publish.schema import CHANGES, LINKS
from transforms.publish.tables import TABLE_SPECS

PARTS_DIR = ".parts"
#: The columns ``transforms.link.consolidate.consolidate`` reads: all the country-wide step keeps per item.
CONSOLIDATE_COLUMNS = ("item_id", "level", "jurisdiction_code", "name_norm", "name_raw", "power_type")
#: The parts the country-wide consolidation reads: each scope's ``CONSOLIDATE_COLUMNS`` of its current
#: items and its links' ends as positions among them (``scope_link_ends``). Written as parts, not handed
#: back with the ``ScopeOutput``, so the flow's process does not hold them while the other provinces run
#: (1.8 GiB nationally), and reads them memory-mapped when it consolidates.
CONSOLIDATE_ITEMS_PART = "consolidate/items"
LINK_ENDS_PART = "consolidate/link_ends"
# The columns ``link_items`` reads (its docstring): the match cache key hashes only these.
MATCH_COLUMNS = (
    "item_id",
    "jurisdiction_code",
    "level",
    "name_norm",
    "main_name",
    "sub_item",
    "power_type",
    "power_type_inferred",
    "base_code",
    "department",
    "legal_basis",
)


@dataclass(frozen=True)
class SourceResult:
    """What one source gave: its normalised rows (or, when unchanged, its cached validated rows), or why none.

    ``validated`` is filled by validation, or straight from the cache when the source's bytes, read
    options and the code are unchanged (``cached``): then ``rows`` is None and nothing was read or
    validated again. Once its scope is done, the frames are dropped (``light``): run.json needs counts only.
    Immutable: each stage returns new results (``dataclasses.replace``), so a result handed to another
    worker or kept for run.json never changes under its holder.
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

    def light(self) -> SourceResult:
        """The same result without row frames, for run.json once the scope's tables are written."""
        validated = None
        if self.validated is not None:
            v = self.validated
            validated = ValidatedSource(pd.DataFrame(), pd.DataFrame(), v.rows_read, v.expectations, v.info)
        return replace(self, rows=None, validated=validated)


@dataclass
class NationalContext:
    """The national lists' items, the ancestors every province scope is matched and compared against."""

    items: pd.DataFrame  # every version
    current: pd.DataFrame  # current versions only
    source_keys: tuple[str, ...] = ()  # the cache keys of the current versions' sources


@dataclass
class ScopeOutput:
    """What a finished scope hands back to the flow: small enough to keep for every province."""

    province: str
    results: list[SourceResult]
    matched: str | None  # "matched" / "cached", None for the national scope (nothing above it)
    validated: bool  # Great Expectations ran on at least one of its sources
    seconds: dict[str, float]
    national: NationalContext | None = None  # the national scope's items, for the province scopes
    reviewed_links: frozenset[str] = frozenset()  # link decisions whose items are in this scope


# ---- reading -----------------------------------------------------------------------------------------


def source_bytes(spec: SourceSpec, downloaded: str | None = None) -> bytes:
    """The source's bytes: its file, or for a ``url`` source the copy the fetch stage stored."""
    if downloaded is not None:
        return read_source_file(downloaded)
    if spec.path is None:
        raise SourceReadError(f"{spec.url}: HTTP sources are fetched by the fetch stage")
    return read_source_file(spec.path)  # refuses a file over the size cap before reading it


def read_source(
    spec: SourceSpec,
    downloaded: str | None = None,
    cache: RunCache | None = None,
    registry: Registry | None = None,
    vocab: Vocab | None = None,
) -> SourceResult:
    """Read and normalise one list file; a source that cannot be read is reported, not raised.

    With a ``cache`` (and the ``registry`` its key needs), an unchanged source is taken from the
    previous run's cache instead: no parsing, no normalising, no validation. ``vocab`` is the run's
    vocabulary (``[run] vocab``; None: data/vocab), part of the cache key.
    """
    try:
        data = source_bytes(spec, downloaded)
    except OSError as exc:
        return SourceResult(spec, None, error=f"cannot read {spec.location}: {exc}")
    except SourceReadError as exc:
        return SourceResult(spec, None, error=f"{spec.location}: {exc}")
    digest = hashlib.sha256(data).hexdigest()
    key = source_key(spec, digest, registry, vocab) if cache is not None and registry is not None else None
    if key is not None and cache is not None and (hit := cache.get_source(key)) is not None:
        return SourceResult(
            spec, None, sha256=digest, bytes=len(data), info=dict(hit.info), key=key, validated=hit, cached=True
        )
    try:
        frame, info = read_spec_rows(data, spec)
    except SourceReadError as exc:
        return SourceResult(spec, None, sha256=digest, bytes=len(data), error=str(exc), key=key)
    frame["jurisdiction_code"] = spec.jurisdiction
    frame["published"] = spec.published
    return SourceResult(spec, normalise(frame, vocab), sha256=digest, bytes=len(data), info=info, key=key)


def source_size(spec: SourceSpec) -> int:
    """Bytes of a local source file, the estimate of its work (0 for a URL source or a missing file)."""
    return spec.path.stat().st_size if spec.path is not None and spec.path.is_file() else 0


# ---- validation -----------------------------------------------------------------------------------------


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One scope at a time writes the shared Data Docs site (threads and worker processes alike)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _positions_by_source(frame: pd.DataFrame) -> dict[str, Any]:
    """Row positions of each source in ``frame`` (ascending), found in one pass instead of one scan per source."""
    return frame.groupby("source_id", sort=False).indices if len(frame) else {}


_NONE = np.empty(0, np.int64)  # the row positions of a source without any


@dataclass(frozen=True)
class ScopeRows:
    """A scope's validated rows in results order, and the items' columns already in Arrow.

    ``encoded`` is ``items`` as the source cache stores it (``flows.incremental.frame_to_arrow``), row
    for row, when the scope's rows are one validation batch: the items table then takes its text
    columns from it instead of converting every cell from Python again. None otherwise (sources from
    the cache among them, or cells the cache cannot hold).
    """

    items: pd.DataFrame
    quarantine: pd.DataFrame
    encoded: pa.Table | None = None


def validate_scope(
    results: list[SourceResult], registry: Registry, staging: Path, scope: str, cache: RunCache | None
) -> tuple[list[SourceResult], ScopeRows, bool]:
    """Great Expectations over the scope's freshly read sources (one checkpoint), then each source's share.

    Expectations are row-level, so validating a scope (or a source) gives every row the verdict it gets
    in any larger batch; that is what lets scopes and cached sources be validated separately. Returns
    the results with their ``validated`` share, the scope's rows, and whether GX ran.

    When no source comes from the cache, the scope's rows are the batch as validated (each source's
    rows are a block of it, in results order): a fresh source's share then carries its counts only,
    and its cache entry is its slice of the batch's encoding, made once for all sources and shared
    with the items table (``ScopeRows.encoded``).
    """
    fresh = [r for r in results if r.rows is not None and r.validated is None]
    frames = [r.rows for r in fresh if r.rows is not None and len(r.rows)]
    outcome = encoded = None
    whole = False  # the scope's rows are the batch: no source from the cache has any
    if frames:
        batch = add_jurisdiction_columns(pd.concat(frames, ignore_index=True), registry)
        folder = staging / "validation"
        outcome = validate(batch, out_dir=folder, name=scope, docs_lock=partial(_exclusive, folder / ".lock"))
        outcome = replace(
            outcome, items=outcome.items.reset_index(drop=True), quarantine=outcome.quarantine.reset_index(drop=True)
        )
        whole = not any(
            len(r.validated.items) or len(r.validated.quarantine) for r in results if r.validated is not None
        )
        if whole:
            with contextlib.suppress(Uncacheable):  # then each source is encoded (or refused) on its own
                encoded = frame_to_arrow(outcome.items)
    positions = (
        (_positions_by_source(outcome.items), _positions_by_source(outcome.quarantine)) if outcome is not None else None
    )
    done: dict[int, SourceResult] = {}
    for r in fresh:
        own_items = positions[0].get(r.spec.id, _NONE) if positions is not None else _NONE
        # a share's item rows are made only where they are used: concatenated, or encoded for the cache alone
        validated = _split_validated(r, outcome, positions, with_items=not whole or encoded is None)
        if cache is not None and r.key is not None:
            rows = encoded_rows(encoded, own_items) if encoded is not None and validated.rows_read else None
            cache.put_source(r.key, validated, rows)
        if whole:  # its rows live on in the batch
            validated = replace(validated, items=pd.DataFrame(), quarantine=pd.DataFrame())
        done[id(r)] = replace(r, validated=validated)
    results = [done.get(id(r), r) for r in results]
    if whole and outcome is not None:
        return results, ScopeRows(outcome.items, outcome.quarantine, encoded), True
    return results, _concatenated([r.validated for r in results if r.validated is not None]), outcome is not None


def _concatenated(parts: list[ValidatedSource]) -> ScopeRows:
    """The sources' shares, one after the other."""
    item_parts = [v.items for v in parts if len(v.items)]
    quarantine_parts = [v.quarantine for v in parts if len(v.quarantine)]
    return ScopeRows(
        pd.concat(item_parts, ignore_index=True) if item_parts else pd.DataFrame(),
        pd.concat(quarantine_parts, ignore_index=True) if quarantine_parts else pd.DataFrame(),
    )


def _split_validated(
    result: SourceResult, outcome: Any, positions: tuple[dict[str, Any], dict[str, Any]] | None, with_items: bool
) -> ValidatedSource:
    """One source's share of a batch validation: what the cache keeps for the next run (its item rows
    only ``with_items``)."""
    sid = result.spec.id
    if outcome is None or positions is None or result.rows is None or not len(result.rows):
        return ValidatedSource(pd.DataFrame(), pd.DataFrame(), 0, [], dict(result.info))
    expectations = [
        {**{k: v for k, v in e.items() if k != "failed_by_source"}, "failed_rows": e["failed_by_source"].get(sid, 0)}
        for e in outcome.by_expectation
    ]
    items = outcome.items.iloc[positions[0].get(sid, _NONE)].reset_index(drop=True) if with_items else pd.DataFrame()
    return ValidatedSource(
        items=items,
        quarantine=outcome.quarantine.iloc[positions[1].get(sid, _NONE)].reset_index(drop=True),
        rows_read=len(result.rows),
        expectations=expectations,
        info=dict(result.info),
    )


def count_per_source(results: list[SourceResult], items: pd.DataFrame, quarantine: pd.DataFrame) -> list[SourceResult]:
    """The results with items, quarantined rows and warnings per source in their info; a lost row stops
    the run."""
    item_counts = items.groupby("source_id").size().to_dict() if len(items) else {}
    warn_counts = (
        items.assign(_w=[bool(w) for w in items["warnings"]]).groupby("source_id")["_w"].sum().to_dict()
        if len(items)
        else {}
    )
    quarantine_counts = quarantine.groupby("source_id").size().to_dict() if len(quarantine) else {}
    counted = []
    for r in results:
        info = {
            **r.info,
            "items": int(item_counts.get(r.spec.id, 0)),
            "quarantined": int(quarantine_counts.get(r.spec.id, 0)),
            "warnings": int(warn_counts.get(r.spec.id, 0)),
        }
        if info["items"] + info["quarantined"] != r.rows_read:
            raise AssertionError(f"{r.spec.id}: items + quarantined != rows read ({r.rows_read}); a row was lost")
        counted.append(replace(r, info=info))
    return counted


# ---- the scope's tables ------------------------------------------------------------------------------------


class StageClock:
    """Seconds per stage for run.json (a scope's, then the run's sum); stages are few and coarse."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()  # the assembly times two threads at once

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 4)


def match_scope(
    current: pd.DataFrame,
    national: pd.DataFrame,
    registry: Registry,
    threshold: float,
    cache: RunCache | None,
    source_keys: Sequence[str] = (),
) -> tuple[pa.Table, str]:
    """Links of the scope's current items to their ancestors (its own lists and the national ones).

    A scope whose current sources and national sources (``source_keys``: their cache keys), threshold,
    registry and code are unchanged takes its links from the previous run's cache (``flows.incremental``).
    """
    key = match_key(source_keys, registry_version(registry), threshold) if cache is not None else None
    if key is not None and cache is not None and (hit := cache.get_links(key)) is not None:
        return hit, "cached"
    frame = pd.concat(
        [current[[c for c in MATCH_COLUMNS if c in current]], national[[c for c in MATCH_COLUMNS if c in national]]]
    )
    links = link_items(frame, registry, threshold=threshold)
    links = links.filter(pc.is_in(links.column("child_item_id"), pa.array(current["item_id"], pa.string())))
    if key is not None and cache is not None:
        cache.put_links(key, links)
    return links, "matched"


def track_changes(
    specs: Sequence[SourceSpec],
    registry: Registry,
    items: pd.DataFrame,
    previous_items: pd.DataFrame | None,
    threshold: float,
) -> pa.Table:
    """Changes between consecutive versions of ``specs``, and against a previous output's items."""
    if not len(items):
        return CHANGES.empty_table()
    parts = [diff_versions(items, version_chains(specs), registry, threshold=threshold)]
    if previous_items is not None and len(previous_items):
        parts.append(diff_against_previous(items, previous_items, registry, threshold=threshold))
    return combine_changes(*parts)


def _not_national_only(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """Rows of ``table`` that involve a jurisdiction other than the national level."""
    if not table.num_rows:
        return table
    keep = None
    for column in columns:
        values = table.column(column)
        involved = pc.fill_null(pc.not_equal(values, NATIONAL), False)
        keep = involved if keep is None else pc.or_(keep, involved)
    return table.filter(keep)


def owned_changes(changes: pa.Table) -> pa.Table:
    """A province scope's changes: its own, and national items that moved down into it.

    A national item removed and added in this province's later list is a ``level_changed`` row of the
    national list; the national scope alone sees it as ``removed``, and ``settle_national_moves`` drops
    that row for the move rows the provinces found (one per receiving jurisdiction, as one computation
    over the country gives).
    """
    moved = pc.and_(
        pc.equal(changes.column("jurisdiction_code"), NATIONAL), pc.equal(changes.column("change"), "level_changed")
    )
    return changes.filter(
        pc.or_(
            pc.fill_null(moved, False), pc.fill_null(pc.not_equal(changes.column("jurisdiction_code"), NATIONAL), False)
        )
    )


def settle_national_moves(parts: dict[str, pa.Table]) -> list[pa.Table]:
    """Every scope's changes, the national list's ``removed`` rows dropped where a province received the item."""
    national = parts.get(NATIONAL)
    provinces = [t for scope, t in parts.items() if scope != NATIONAL]
    if national is None or not provinces:
        return list(parts.values())
    moves = pa.concat_tables(provinces)
    moves = moves.filter(
        pc.and_(
            pc.equal(moves.column("jurisdiction_code"), NATIONAL), pc.equal(moves.column("change"), "level_changed")
        )
    )
    gone = pc.and_(
        pc.equal(national.column("change"), "removed"),
        pc.is_in(national.column("old_item_id"), moves.column("old_item_id")),
    )
    return [national.filter(pc.invert(pc.fill_null(gone, False))), *provinces]


def write_part(staging: Path, table_name: str, scope: str, table: pa.Table) -> None:
    """A scope's share of one output table, as Arrow IPC (fast to write and to read back whole)."""
    path = staging / PARTS_DIR / table_name / f"{scope}.arrow"
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_parts(staging: Path, table_name: str) -> dict[str, pa.Table]:
    """Every scope's part of one table by scope, national first, then provinces by code."""
    folder = staging / PARTS_DIR / table_name
    if not folder.is_dir():
        return {}
    return {p.stem: pa.ipc.open_file(pa.memory_map(str(p))).read_all() for p in sorted(folder.glob("*.arrow"))}


def scope_link_ends(links: pa.Table, own_ids: pa.ChunkedArray, national: pd.DataFrame | None) -> pa.Table:
    """The scope's links as item positions (``child``, ``parent``), for the country-wide consolidation.

    Positions count the scope's own current items first, then the national current items (parents
    only): ``flows.pipeline`` turns them into positions in the country's items with the scopes'
    offsets. Looking ends up here, on the worker, keeps a national run's 28M lookups out of the serial
    tail. A link end that is neither here nor national breaches the contract and raises.
    """
    ids = own_ids.combine_chunks().cast(pa.string())
    if national is not None and len(national):
        ids = pa.concat_arrays([ids, pa.array(national["item_id"], pa.string())])
    ends = link_ends(ids, links)
    if len(ends.child) and ends.child.max() >= len(own_ids):
        raise ValueError("links: a child item is not one of the scope's own current items")
    return pa.table({"child": pa.array(ends.child, pa.int64()), "parent": pa.array(ends.parent, pa.int64())})


def finish_scope(staging: Path, province: str, tables: Iterator[tuple[str, pa.Table]]) -> ScopeOutput:
    """Write the parts ``scope_tables`` yields, in one place, as they come (a province's tables are
    never all in memory at once), and return its ``ScopeOutput``."""
    while True:
        try:
            name, table = next(tables)
        except StopIteration as done:
            return done.value
        write_part(staging, name, province, table)


def scope_tables(
    province: str,
    results: list[SourceResult],
    *,
    registry: Registry,
    national_specs: Sequence[SourceSpec],
    national: NationalContext | None,
    staging: Path,
    cache: RunCache | None,
    threshold: float,
    previous: Path | None,
    as_of: Any,
    link_reviews: Sequence[Decision] = (),
) -> Iterator[tuple[str, pa.Table]]:
    """Yield the scope's tables as ``(table name, part)`` in the order they are made; return its
    ``ScopeOutput`` (the generator's value).

    ``national`` is the national scope's output context (None when this *is* the national scope or the
    run has no national list); ``national_specs`` are the national lists' sources, whose versions a
    province scope's changes follow too (only those: a task's parameters are sent to its worker, and
    Prefect walks them). ``previous`` is the output folder to report changes against, if any.
    ``link_reviews`` are the reviews file's link decisions, applied to the matcher's links. ``staging``
    is only where Great Expectations writes its Data Docs.
    """
    clock = StageClock()
    with clock.stage("validate"):
        results, rows, ran_gx = validate_scope(results, registry, staging, province, cache)
        items, quarantine = rows.items, rows.quarantine
    results = count_per_source(results, items, quarantine)
    with clock.stage("assemble"):
        if len(items):
            items["item_id"] = item_ids(items, rows.encoded)
            yield "items", to_items_table(items, rows.encoded)
        if len(quarantine):
            yield "quarantine", to_quarantine_table(quarantine)
    specs = [r.spec for r in results]
    current_ids = current_source_ids(specs)
    current = items[items["source_id"].isin(current_ids)] if len(items) else items
    current_keys = tuple(r.key for r in results if r.spec.id in current_ids and r.key is not None)
    above = national if national is not None and province != NATIONAL else None
    upper_current = above.current if above is not None else pd.DataFrame(columns=list(MATCH_COLUMNS))
    with clock.stage("match"):
        links, matched = (LINKS.empty_table(), None)
        if len(current) and province != NATIONAL:
            keys = (*current_keys, *(above.source_keys if above is not None else ()))
            links, matched = match_scope(current, upper_current, registry, threshold, cache, keys)
        links, reviewed = apply_link_reviews(links, current, upper_current, link_reviews, registry)
        yield "links", links

    # Everything below compares the scope with the national lists: it runs on both, then keeps the
    # rows that are not about the national lists alone (the national scope owns those).
    scope_items = pd.concat([items, above.items], ignore_index=True) if above is not None and len(items) else items
    scope_current = (
        pd.concat([current, above.current], ignore_index=True) if above is not None and len(current) else current
    )
    scope_specs = [*specs, *national_specs] if above is not None else specs
    provinces = [province, NATIONAL] if above is not None else [province]
    owned = (
        (lambda t, name: _not_national_only(t, TABLE_SPECS[name].owners)) if above is not None else (lambda t, name: t)
    )
    with clock.stage("changes"):
        earlier = load_previous_items(previous, provinces) if previous is not None else None
        changes = track_changes(scope_specs, registry, scope_items, earlier, threshold)
        yield "changes", owned_changes(changes) if above is not None else changes
    with clock.stage("findings"):
        reform = ReformCheck.prepare(scope_current, links, registry)
        findings = find_all(registry, scope_items, scope_current, links, changes, as_of, reform, threshold=threshold)
        yield "findings", owned(findings, "findings")
    with clock.stage("summarise"):
        if len(current):
            yield "summary", summarise(current)
            yield "citations", citations_table(current)
            for name, table in reform.tables(changes=changes, all_items=scope_items).items():
                yield f"reform/{name}", owned(table, f"reform/{name}")
    consolidate_items = pa.Table.from_pandas(
        current[list(CONSOLIDATE_COLUMNS)] if len(current) else pd.DataFrame(columns=list(CONSOLIDATE_COLUMNS)),
        preserve_index=False,
    )
    with clock.stage("consolidate"):
        ends = scope_link_ends(links, consolidate_items.column("item_id"), above.current if above is not None else None)
    yield CONSOLIDATE_ITEMS_PART, consolidate_items
    yield LINK_ENDS_PART, ends
    context = None
    if province == NATIONAL and len(items):
        context = NationalContext(items=items, current=current.reset_index(drop=True), source_keys=current_keys)
    return ScopeOutput(
        province=province,
        results=[r.light() for r in results],
        matched=matched,
        validated=ran_gx,
        seconds=clock.seconds,
        national=context,
        reviewed_links=reviewed,
    )


def carry_data_docs(results: list[SourceResult], previous_out: Path, staging: Path) -> bool:
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
