"""``powerlists serve``: a long-running process that runs the flow on a cron schedule.

``flow.serve`` registers a deployment (with the flow's typed parameters, editable in the UI) against
the Prefect API in ``PREFECT_API_URL`` and polls it for scheduled or manually triggered runs, which it
executes in subprocesses. It is the no-infrastructure way to schedule; ``prefect.yaml`` + ``prefect
deploy`` + a process worker is the way for a shared server (see the README).

Arguments are checked before anything is registered so that a typo fails now, not at 2 a.m.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "Asia/Shanghai"


def deployment_parameters(
    manifest: str,
    out: str,
    match_threshold: float | None = None,
    max_error_share: float | None = None,
    dask_workers: int | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Default parameters of the deployment: absolute paths, because runs start in another process;
    the options given, so the UI shows them as the deployment's defaults (each run may change them)."""
    params: dict[str, Any] = {"manifest": str(Path(manifest).resolve()), "out": str(Path(out).resolve())}
    given = {
        "match_threshold": match_threshold,
        "max_error_share": max_error_share,
        "dask_workers": dask_workers,
        "dask_address": dask_address,
    }
    return params | {key: value for key, value in given.items() if value is not None}


def check_schedule(cron: str, timezone: str) -> None:
    """Raise ValueError for a cron string or time zone Prefect would reject."""
    from prefect.client.schemas.schedules import CronSchedule

    CronSchedule(cron=cron, timezone=timezone)


def serve(
    manifest: str,
    out: str,
    *,
    cron: str = DEFAULT_CRON,
    timezone: str = DEFAULT_TIMEZONE,
    name: str | None = None,
    match_threshold: float | None = None,
    max_error_share: float | None = None,
    dask_workers: int | None = None,
    dask_address: str | None = None,
) -> None:
    """Register the deployment ``powerlists/<name>`` and run its scheduled runs until interrupted.

    One run at a time (``limit=1``): runs write the same output folder, which is locked anyway, and a
    second overlapping run would only fail on the lock.
    """
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from flows.pipeline import powerlists_run
    from transforms.ingest.manifest import check_run_arguments, load_manifest

    check_schedule(cron, timezone)
    check_run_arguments(
        match_threshold=match_threshold,
        max_error_share=max_error_share,
        dask_workers=dask_workers,
        dask_address=dask_address,
    )
    spec = load_manifest(manifest)  # ManifestError now rather than at the first scheduled run
    deployment = name or re.sub(r"[^A-Za-z0-9_-]+", "-", spec.name).strip("-") or "powerlists"
    powerlists_run.serve(
        name=deployment,
        schedules=[Cron(cron, timezone=timezone)],
        parameters=deployment_parameters(manifest, out, match_threshold, max_error_share, dask_workers, dask_address),
        description=f"powerlists on {spec.path} → {Path(out).resolve()}",
        tags=["powerlists"],
        limit=1,
        # the module path works from any working directory, unlike the default file path
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
