"""prefect-dask's task runner, submitting each task without hashing what it is given.

Dask names a submitted call after a hash of its function and arguments (``pure=True``, its default), so
that the same call submitted twice runs once. A Prefect task run is never the same call twice (its
arguments carry a fresh task-run id), so for it the hash buys nothing and costs the flow's process a
walk over every parameter, per task: the registry, a province's sources, the national lists' context
(0.1–0.3 s a task nationally, 2.5 s of a 1M run's flow process went to submitting its ten tasks, much
of it hashing). Imported only when a Dask runner is asked for (``flows.runners.task_runner``).
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from importlib.metadata import version
from typing import Any

from prefect_dask import DaskTaskRunner
from prefect_dask.task_runners import PrefectDaskFuture

#: The prefect-dask release whose ``DaskTaskRunner.submit`` the override below follows line for line.
SUBMIT_WRITTEN_FOR = "0.3.7"


class UnhashedDaskTaskRunner(DaskTaskRunner):
    """``DaskTaskRunner`` whose tasks go to Dask with ``pure=False`` (a random key, no hash)."""

    def submit(
        self,
        task: Any,
        parameters: dict[str, Any],
        wait_for: Iterable[Any] | None = None,
        dependencies: dict[str, Set[Any]] | None = None,
    ) -> PrefectDaskFuture[Any]:
        if not self._started:
            raise RuntimeError("The task runner must be started before submitting work.")
        parameters = self._optimize_futures(parameters)
        wait_for = self._optimize_futures(wait_for) if wait_for else None
        future = self.client.submit(
            task, parameters=parameters, wait_for=wait_for, dependencies=dependencies, return_type="state", pure=False
        )
        return PrefectDaskFuture(wrapped_future=future, task_run_id=future.task_run_id)


def dask_runner_class() -> type[DaskTaskRunner]:
    """The override where it was written for this prefect-dask, else prefect-dask's own runner."""
    return UnhashedDaskTaskRunner if version("prefect-dask") == SUBMIT_WRITTEN_FOR else DaskTaskRunner
