"""The fetch stage: ``url`` sources downloaded by a retrying Prefect task into ``OUT/downloads``.

Every body is kept as ``downloads/<sha256>`` and every fetch is a line of ``downloads/fetches.jsonl``
(url, time, status, sha256, ETag, Last-Modified, error), so an auditor can say exactly which bytes a
published table was built from. The same log is the conditional-request state: the next run sends
the last ETag/Last-Modified of a URL and, on ``304``, reuses the stored copy. The folder is carried
from the previous output into the staging folder before the run writes to it, so it survives the
atomic swap like every other output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import exponential_backoff

from transforms.ingest.fetch import Fetched, FetchError, NotModified, fetch
from transforms.ingest.manifest import SourceSpec
from transforms.ingest.pages import fetch_pages

FETCH_LOG = "fetches.jsonl"
DEFAULT_RETRIES = 3
DEFAULT_RETRY_DELAY_S = 2.0


@dataclass(frozen=True)
class FetchOutcome:
    """What the fetch stage tells the read stage and run.json about one URL source."""

    source_id: str
    url: str
    status: str  # "fetched" (200, new or changed body) | "not_modified" (304, stored copy reused)
    sha256: str
    bytes: int
    etag: str | None
    last_modified: str | None
    seconds: float
    attempts: int
    pages: int = 1


class DownloadStore:
    """``OUT/downloads``: content-addressed bodies plus the append-only fetch log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sha256: str) -> Path:
        return self.folder / sha256

    def put(self, data: bytes, sha256: str) -> Path:
        """Store a body once; written aside and renamed so a crash never leaves half a file."""
        target = self.path(sha256)
        if not target.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{sha256}.{os.getpid()}.{id(data)}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return target

    def log(self) -> list[dict[str, Any]]:
        path = self.folder / FETCH_LOG
        if not path.exists():
            return []
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash must not stop the next run
        return entries

    def latest(self, url: str) -> dict[str, Any] | None:
        """The last successful fetch of ``url`` whose body is still stored (basis of the next 304)."""
        for entry in reversed(self.log()):
            if entry.get("url") == url and entry.get("status") in ("fetched", "not_modified"):
                return entry if self.path(entry["sha256"]).exists() else None
        return None

    def append(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / FETCH_LOG).open("a", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")


def carry_downloads(previous_out: Path, staging: Path) -> DownloadStore:
    """Bring the previous output's downloads into ``staging``: bodies hard-linked, the log copied.

    Hard links cost nothing and the bodies are immutable (content-addressed); the log is copied
    because this run appends to it and the live output must not change before the swap.
    """
    source = previous_out / "downloads"
    target = staging / "downloads"
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            if not item.is_file() or item.name.startswith("."):
                continue
            if item.name == FETCH_LOG:
                shutil.copyfile(item, target / item.name)
                continue
            try:
                os.link(item, target / item.name)
            except OSError:
                shutil.copyfile(item, target / item.name)
    return DownloadStore(target)


def _retry_if_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect retries a failed fetch only when the error may go away (5xx, timeout, cut body)."""
    error = state.data
    if isinstance(error, FetchError):
        return error.transient
    return True


@task(
    name="fetch-source",
    task_run_name="fetch-{spec.id}",
    retries=DEFAULT_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=DEFAULT_RETRY_DELAY_S),
    retry_condition_fn=_retry_if_transient,
    cache_policy=NO_CACHE,
)
def fetch_source(
    spec: SourceSpec,
    downloads: str,
    previous: dict[str, Any] | None,
    timeout: float,
    max_bytes: int,
) -> FetchOutcome:
    """Download ``spec.url`` (conditionally when ``previous`` holds validators) into ``downloads``.

    A source with a ``[source.paginator]`` is walked page by page instead, never conditionally (see
    ``transforms.ingest.pages``); a retry walks it again from the first page.

    Raises :class:`~transforms.ingest.fetch.FetchError` so that Prefect records the failed attempt and
    applies the retry policy; the flow turns the final failure into a failed source.
    """
    from prefect.context import TaskRunContext

    assert spec.url is not None
    logger = get_run_logger()
    store = DownloadStore(Path(downloads))
    context = TaskRunContext.get()
    attempt = context.task_run.run_count if context and context.task_run else 1
    if spec.paginator is not None:
        result: Fetched | NotModified = fetch_pages(
            spec.url, spec.paginator, spec.data_selector, timeout=timeout, max_bytes=max_bytes
        )
    else:
        result = fetch(
            spec.url,
            timeout=timeout,
            max_bytes=max_bytes,
            etag=(previous or {}).get("etag"),
            last_modified=(previous or {}).get("last_modified"),
        )
    if isinstance(result, Fetched):
        store.put(result.data, result.sha256)
        logger.info(
            "%s: %d bytes in %d page(s), sha256 %s…", spec.id, len(result.data), result.pages, result.sha256[:12]
        )
        return FetchOutcome(
            spec.id,
            spec.url,
            "fetched",
            result.sha256,
            len(result.data),
            result.etag,
            result.last_modified,
            result.seconds,
            attempt,
            result.pages,
        )
    assert previous is not None, "a 304 needs the validators of an earlier fetch"
    logger.info("%s: not modified since the last run (sha256 %s…)", spec.id, previous["sha256"][:12])
    return FetchOutcome(
        spec.id,
        spec.url,
        "not_modified",
        previous["sha256"],
        int(previous.get("bytes") or store.path(previous["sha256"]).stat().st_size),
        result.etag or previous.get("etag"),
        result.last_modified or previous.get("last_modified"),
        result.seconds,
        attempt,
    )


def fetch_all(
    specs: list[SourceSpec],
    store: DownloadStore,
    *,
    timeout: float,
    max_bytes: int,
    retry_delay: float = DEFAULT_RETRY_DELAY_S,
) -> dict[str, FetchOutcome | str]:
    """Fetch every ``url`` source concurrently; a source id maps to its outcome or its error text.

    A source that still fails after the retries is an error string here (the flow reports it as a
    failed source); the other sources are unaffected.
    """
    url_specs = [s for s in specs if s.url]
    if not url_specs:
        return {}
    runner = fetch_source.with_options(retry_delay_seconds=exponential_backoff(backoff_factor=retry_delay))
    futures = {
        s.id: runner.submit(s, str(store.folder), store.latest(s.url or ""), timeout, max_bytes) for s in url_specs
    }
    outcomes: dict[str, FetchOutcome | str] = {}
    now = dt.datetime.now(dt.UTC).isoformat()
    entries = []
    for spec in url_specs:
        future = futures[spec.id]
        future.wait()
        state = future.state
        if state.is_completed():
            outcome = future.result()
            outcomes[spec.id] = outcome
            entries.append({"time": now, "error": None, **asdict(outcome)})
        else:
            error = future.result(raise_on_failure=False)
            text = str(error) if isinstance(error, BaseException) else f"fetch ended {state.name}: {state.message}"
            attempts = DEFAULT_RETRIES + 1 if isinstance(error, FetchError) and error.transient else 1
            outcomes[spec.id] = f"download failed after {attempts} attempt(s): {text}"
            entries.append({"time": now, "source_id": spec.id, "url": spec.url, "status": "failed", "error": text})
    store.append(entries)
    return outcomes
