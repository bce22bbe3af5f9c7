"""The flow on a real local Dask cluster gives the same bytes as on threads.

Per-province work is meant to scale out through prefect-dask; that is only safe if where a task runs
cannot change what it returns. These tests start a real scheduler and two worker *processes* on
127.0.0.1 (so arguments and results really cross process boundaries by pickling) and compare every
Parquet file with a thread-runner run of the same generated tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import main
from flows.pipeline import powerlists_run
from flows.runners import task_runner
from synthetic.generate import generate_tree
from transforms.ingest.manifest import ArgumentError, check_run_arguments

pytestmark = pytest.mark.slow


def _parquet_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two provinces with cities and counties (~90 lists, ~5k rows): several match-province tasks."""
    folder = tmp_path_factory.mktemp("dask-tree")
    generate_tree(folder, province_codes=["510000", "520000"], counties_per_city=2, items_per_list=60)
    return folder / "sources.toml"


@pytest.fixture(scope="module")
def thread_output(tree: Path, tmp_path_factory: pytest.TempPathFactory, prefect_api: None) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("threads") / "out"
    powerlists_run(manifest=str(tree), out=str(out))
    files = _parquet_bytes(out)
    assert "links.parquet" in files and any(k == "items/520000.parquet" for k in files)
    return files


@pytest.fixture()
def cluster(prefect_api: None) -> Iterator[object]:
    """A real scheduler and two single-threaded worker processes, reporting to the test's Prefect API."""
    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL

    env = {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env=env,
    ) as local:
        yield local


def test_dask_scheduler_runs_the_flow_with_identical_parquet(
    tree: Path, thread_output: dict[str, bytes], cluster, tmp_path: Path
) -> None:
    assert len(cluster.scheduler.workers) == 2
    out = tmp_path / "out"
    # a parameter, as a deployment's run sets it in the UI (no task runner chosen in code)
    powerlists_run(manifest=str(tree), out=str(out), dask_address=cluster.scheduler_address)
    # the tasks ran on the cluster's workers, not in this process
    prefixes = " ".join(cluster.scheduler.task_prefixes)
    assert "read" in prefixes and "scope" in prefixes, prefixes
    assert _parquet_bytes(out) == thread_output
    assert len(cluster.scheduler.workers) == 2  # the run closed its client, not someone else's cluster
    # the tasks set batch GC thresholds in the worker processes they ran in (flows.runners.batch_gc)
    import gc

    from distributed import Client

    from flows.runners import BATCH_GC_THRESHOLDS

    with Client(cluster) as client:
        thresholds = set(client.run(gc.get_threshold).values())
    assert thresholds == {BATCH_GC_THRESHOLDS}, thresholds


def test_cli_dask_workers_starts_a_local_cluster_with_identical_parquet(
    tree: Path, thread_output: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psutil

    def children() -> set[int]:
        """This process's descendants but multiprocessing's helpers, its direct children that live as long
        as it does (the workers forked by the forkserver are its children, and counted)."""
        me = psutil.Process()
        helpers = {p.pid for p in me.children() if " multiprocessing.forkserver " in f" {p.cmdline()[-1]}"}
        helpers |= {p.pid for p in me.children() if "multiprocessing.resource_tracker" in p.cmdline()[-1]}
        return {p.pid for p in me.children(recursive=True)} - helpers

    out = tmp_path / "out"
    before = children()
    assert main(["run", "--manifest", str(tree), "--out", str(out), "--dask-workers", "2"]) == 0
    # the cluster was closed in the background during the assembly, and waited for before returning
    assert [psutil.Process(p).cmdline() for p in children() - before] == []
    printed = capsys.readouterr().out
    assert "completed" in printed
    assert "temporary Prefect API" not in printed  # the session's API (a harness setting) is used
    assert _parquet_bytes(out) == thread_output


def test_a_flow_given_a_dask_runner_in_code_still_works(
    tree: Path, thread_output: dict[str, bytes], cluster, tmp_path: Path
) -> None:
    """``with_options(task_runner=…)``, Prefect's own way, keeps working beside the parameters."""
    out = tmp_path / "out"
    runner = task_runner(dask_address=cluster.scheduler_address)
    powerlists_run.with_options(task_runner=runner)(manifest=str(tree), out=str(out), parallel_scopes=2)
    assert "scope" in " ".join(cluster.scheduler.task_prefixes)
    assert _parquet_bytes(out) == thread_output


_HASHED: list[str] = []


class _Noticed:
    """A parameter that notes being hashed by Dask; it travels to the worker as plain 0."""

    def __dask_tokenize__(self) -> str:
        _HASHED.append("hashed")
        return "noticed"

    def __reduce__(self) -> tuple[type, tuple[int]]:
        return int, (0,)


def test_tasks_go_to_the_cluster_without_their_parameters_hashed(cluster) -> None:
    """A Prefect task run never repeats, so Dask's hash of a call (to run a repeated one once) is
    pure cost on the flow's process: ``flows.dask_runner`` submits unhashed."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    @task(cache_policy=NO_CACHE)
    def plus_one(value: int) -> int:
        return value + 1

    @flow(task_runner=task_runner(dask_address=cluster.scheduler_address))
    def submit_one() -> int:
        return plus_one.submit(_Noticed()).result()

    _HASHED.clear()
    assert submit_one() == 1
    assert _HASHED == []


def test_runner_options_are_checked() -> None:
    from prefect_dask import DaskTaskRunner

    assert type(task_runner()).__name__ == "ThreadPoolTaskRunner"
    assert isinstance(task_runner(dask_workers=2), DaskTaskRunner)
    with pytest.raises(ArgumentError, match="exclusive"):
        check_run_arguments(dask_workers=2, dask_address="tcp://127.0.0.1:8786")
    with pytest.raises(ArgumentError, match="at least 1"):
        check_run_arguments(dask_workers=0)
    with pytest.raises(ArgumentError, match="scheduler address"):
        check_run_arguments(dask_address="127.0.0.1:8786")


#: Whether GX and Prefect are imported in the process it runs in. A lambda travels to a worker by value;
#: a function of this module would import the module there, and Prefect with it.
_GX_AND_PREFECT_IMPORTED = lambda: tuple(m in __import__("sys").modules for m in ("great_expectations", "prefect"))  # noqa: E731


def test_local_workers_are_forked_with_their_imports_done_and_prefect_not_yet_imported() -> None:
    """GX imported before the first task (it is ~2 s per worker otherwise); Prefect not, since it reads
    its settings when imported and the worker's API URL is set only after the fork."""
    from distributed import Client, LocalCluster

    from flows.runners import forked_workers

    with (
        forked_workers(),
        LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as local,
        Client(local) as client,
    ):
        assert set(client.run(_GX_AND_PREFECT_IMPORTED).values()) == {(True, False)}


def test_a_run_outside_the_cli_forks_its_local_workers_too() -> None:
    """A deployment's run (``serve``, a process worker) or a flow called from Python has no CLI to start
    the forkserver early: the flow's own cluster forks its workers all the same."""
    from distributed import Client

    from flows.runners import local_cluster

    with (
        local_cluster(
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        assert set(client.run(_GX_AND_PREFECT_IMPORTED).values()) == {(True, False)}


class _SlowToClose:
    """A runner whose close takes a while, as a Dask cluster's does."""

    def __init__(self) -> None:
        self.closed_with: list[object] = []

    def __enter__(self) -> _SlowToClose:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        import time

        time.sleep(0.2)
        self.closed_with.append(kind)


def test_a_runner_closed_in_the_background_is_waited_for_and_one_never_asked_is_closed_on_exit() -> None:
    from flows.runners import ClosableRunner

    background = _SlowToClose()
    with ClosableRunner(background) as runner:
        runner.close_in_background()
        runner.close_in_background()  # asked twice: closed once
    assert background.closed_with == [None]

    on_failure = _SlowToClose()
    with pytest.raises(KeyError), ClosableRunner(on_failure):
        raise KeyError("a scope failed")
    assert on_failure.closed_with == [KeyError]
