"""Task-runner selection: threads on one machine (default) or a Dask cluster for per-province work.

Why a choice at all: reading sources and matching provinces are independent tasks, but they are
CPU-bound Python, so threads share one core through the GIL. Dask worker *processes* give each task
its own interpreter, on this machine (``--dask-workers N``: a ``LocalCluster`` started for the run and
closed with it) or on a cluster someone already runs (``--dask-address tcp://host:8786``).

The flow's outputs do not depend on the runner (tasks are pure and their results are assembled in a
fixed order); ``tests/test_dask.py`` checks byte-identical Parquet against the thread runner.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

import pyarrow as pa
from prefect.task_runners import ThreadPoolTaskRunner

# The flow's default: a few threads for I/O-bound fetching/reading; more buy nothing under the GIL.
DEFAULT_THREADS = 4


def _prefect_api_env() -> dict[str, str]:
    """``PREFECT_API_URL`` of the API this flow run talks to, for worker processes to report to.

    Without it a worker process of a run on a temporary (ephemeral) server starts a Prefect server of
    its own: a long start per worker, task runs recorded where nobody looks, and slow shutdowns.
    """
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    url = getattr(getattr(context, "client", None), "api_url", None) if context is not None else None
    return {"PREFECT_API_URL": str(url)} if url else {}


def local_cluster(**kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` whose workers report to this run's Prefect API (see above), forked
    with their imports done (``forked_workers``) wherever the flow runs.

    The CLI starts the forkserver early, beside its temporary API; a deployment's run (``serve``, a
    process worker) or a flow called from Python has no CLI around it, and its workers would otherwise
    be spawned, each importing the pipeline itself (~3.5 s of CPU per worker, figures in
    bench/README.md). A worker a nanny restarts later is spawned as Dask's configuration says.
    """
    from distributed import LocalCluster

    env = {**_prefect_api_env(), **kwargs.pop("env", {})}
    with forked_workers():
        return LocalCluster(**kwargs, env=env)


def task_runner(dask_workers: int | None = None, dask_address: str | None = None) -> Any:
    """The task runner for a run: ``ThreadPoolTaskRunner`` unless a Dask option is given.

    ``dask_workers`` starts a local cluster of that many single-threaded worker processes bound to
    127.0.0.1 with no dashboard (nothing is exposed beyond this machine, and one thread per process
    is what makes CPU-bound tasks run in parallel). ``dask_address`` connects to a running scheduler
    instead; the two are exclusive (``transforms.ingest.manifest.check_run_arguments`` refuses both, a count
    below 1 and an address without a scheme). prefect-dask is imported only when asked for, so the
    default path does not pay for importing distributed.
    """
    if dask_workers is None and dask_address is None:
        return ThreadPoolTaskRunner(max_workers=DEFAULT_THREADS)
    from flows.dask_runner import dask_runner_class

    runner_class = dask_runner_class()  # prefect-dask's, submitting tasks unhashed
    if dask_address is not None:
        return runner_class(address=dask_address)
    return runner_class(
        cluster_class=local_cluster,
        cluster_kwargs={
            "n_workers": dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "host": "127.0.0.1",
        },
    )


#: What a run's local Dask workers import before their first task: the transforms their tasks call,
#: and GX, which validation imports (~2 s) on each worker's first province otherwise. Not Prefect:
#: it reads its settings when imported, and a worker's ``PREFECT_API_URL`` is set after it is forked.
WORKER_PRELOAD = (
    "distributed",
    "great_expectations",
    "transforms.ingest.read",
    "transforms.clean.normalise",
    "transforms.clean.validate",
    "transforms.link.match",
    "transforms.examine.checks",
)


@contextlib.contextmanager
def forked_workers() -> Iterator[None]:
    """Meanwhile, local Dask workers are forked from a server that has imported ``WORKER_PRELOAD``.

    Started by the CLI right after it has launched its temporary Prefect API, the server imports while
    the CLI imports the pipeline and waits for that API: otherwise each worker, spawned as a fresh interpreter
    once the flow runs, imports all of it on the run's critical path (~3.5 s of CPU per worker, both
    at once on a 2-core machine). It is multiprocessing's forkserver: one per process, stopped when
    this process ends (however it ends), and its forks are this process's descendants like spawned
    workers were. ``local_cluster`` enters it again around its cluster's start, for runs without the
    CLI; a second entry finds the server running and only sets Dask's method for that start.
    """
    import multiprocessing
    import multiprocessing.forkserver

    import dask.config

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_PRELOAD))
    multiprocessing.forkserver.ensure_running()
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        yield


#: Cyclic-GC thresholds for processes that hold row frames (CPython's default: 700, 10, 10).
BATCH_GC_THRESHOLDS = (50_000, 50, 100)


def batch_gc() -> None:
    """Run the cyclic garbage collector less often in this process (the flow's, or a Dask worker's).

    A province's rows are millions of small containers (a dict of raw cells and lists of warnings per
    row) that live as long as the scope; with CPython's default thresholds the collector walks them
    again and again (figures in bench/README.md). Reference counting still frees every acyclic frame at
    once; only cycles wait longer.
    Called by the tasks themselves, so it reaches worker processes of any cluster.
    """
    if gc.get_threshold() != BATCH_GC_THRESHOLDS:
        gc.set_threshold(*BATCH_GC_THRESHOLDS)


def trim_memory() -> None:
    """Hand freed memory back to the OS: glibc's heap (pandas, numpy, Python objects) and Arrow's pool
    (mimalloc) both keep freed pages for reuse otherwise. Cycles are collected first so that frames
    held only by a reference cycle are freed at all."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    pa.default_memory_pool().release_unused()


def default_parallel_scopes(parallel_scopes: int | None, dask_workers: int | None, dask_address: str | None) -> int:
    """Provinces in flight: as asked, else one per Dask worker, 2 on a scheduler of unknown size, else 1
    (threads share one core through the GIL, and each province in flight holds its rows in memory)."""
    if parallel_scopes is not None:
        return parallel_scopes
    if dask_workers is not None:
        return dask_workers
    return 2 if dask_address is not None else 1


class ClosableRunner:
    """A run's own task runner, which the run may close in the background before it ends.

    Once the scopes are done nothing more is sent to the runner, but closing a Dask cluster takes
    seconds (each worker frees what it held, and its nanny waits 4 s before killing one that has not
    exited): time that ran after the assembly, on the run's critical path. ``close_in_background``
    overlaps it with the assembly instead; leaving the context waits for it (or closes the runner then,
    if nobody asked earlier, as after a failure), so nothing outlives the run.
    """

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self._closing: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.runner.__enter__()
        return self

    def close_in_background(self) -> None:
        if self._closing is None:
            self._closing = threading.Thread(
                target=self.runner.__exit__, args=(None, None, None), name="close-task-runner", daemon=True
            )
            self._closing.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._closing is None:
            self.runner.__exit__(kind, error, trace)
        else:
            self._closing.join()


def release_scope_memory(runner: ClosableRunner | None = None) -> None:
    """Once every scope is done, before the country-wide assembly.

    The scopes' frames are freed by then, but each process still holds memory for them: on a national
    run two idle Dask workers kept ~2 GB each through the assembly even after trimming (fragmented
    heaps, imported GX), on top of the flow process's own peak. Nothing is sent to a runner after this
    point, so the run's own one is closed, in the background (see ``ClosableRunner``); the workers of a
    cluster someone else runs (``--dask-address``) outlive the run, so they are trimmed first.
    Restarting the workers instead cost two fresh interpreters' imports, ~2 s of CPU each, competing
    with the assembly on a 2-core machine. A Dask runner the flow was given (``with_options``) belongs
    to the flow's engine: its own local cluster is scaled to no workers, another one trimmed.
    """
    from prefect.context import FlowRunContext

    trim_memory()
    if runner is not None:
        if getattr(runner.runner, "address", None) is not None:
            runner.runner.client.run(trim_memory)
        runner.close_in_background()
        return
    context = FlowRunContext.get()
    given = context.task_runner if context is not None else None
    prefect_dask = sys.modules.get("prefect_dask")  # not imported: the flow's runner is not a Dask one
    if prefect_dask is not None and isinstance(given, prefect_dask.DaskTaskRunner):
        own = given.client.cluster if getattr(given, "address", None) is None else None
        if own is not None:
            own.scale(0)
        else:
            given.client.run(trim_memory)
