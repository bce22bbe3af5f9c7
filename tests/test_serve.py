"""Deployments against a real Prefect server: ``powerlists serve`` and ``prefect deploy`` with prefect.yaml.

A ``prefect server start`` subprocess on a free 127.0.0.1 port with its own PREFECT_HOME (so its
SQLite database is thrown away), then:

* ``powerlists serve`` registers the deployment with a cron schedule; ``prefect deployment run``
  triggers it; the run is followed through the REST API to Completed, and its outputs and its two
  artifacts are checked;
* ``prefect deploy --all`` registers prefect.yaml's deployment in a process work pool, and a
  ``prefect worker start --run-once`` runs it (with per-run parameter overrides) to Completed.

Every process is stopped in a ``finally``. Slow (a server and three Python processes on 2 cores).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.prefect_server import prefect_server

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
SAMPLE = REPO / "data" / "sample" / "sichuan"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT first (lets the runner/worker shut down cleanly), then kill the whole process group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait(what: str, check, timeout: float, procs: list[tuple[subprocess.Popen, Path]]):
    """Poll ``check`` until it returns something truthy; fail early if a helper process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for proc, log in procs:
            if proc.poll() is not None:
                pytest.fail(f"{what}: {proc.args[:3]} exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        time.sleep(1)
    logs = "\n".join(f"--- {p.args[:3]}\n{log.read_text()[-3000:]}" for p, log in procs)
    pytest.fail(f"{what}: not done after {timeout:.0f} s\n{logs}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict]:
    """A real Prefect server; yields the environment every client process of the test uses."""
    home = tmp_path_factory.mktemp("prefect-home")
    quiet = {"PREFECT_UI_ENABLED": "false", "PREFECT_CLI_PROMPT": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    with prefect_server(home, **quiet) as running:
        yield {"env": running.env, "api": running.api, "procs": [(running.proc, running.log)], "home": home}


def _manifest(folder: Path) -> Path:
    """Two small real lists (a city and one of its districts) so a run takes seconds, not minutes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("512000_ziyang_city.csv", "512002_yanjiang_district.csv"):
        shutil.copyfile(SAMPLE / name, folder / name)
    manifest = folder / "sources.toml"
    manifest.write_text(
        '[run]\nname = "serve-test"\n\n'
        '[[source]]\nid = "ziyang"\njurisdiction = "512000"\npath = "512000_ziyang_city.csv"\n\n'
        '[[source]]\nid = "yanjiang"\njurisdiction = "512002"\npath = "512002_yanjiang_district.csv"\n',
        encoding="utf-8",
    )
    return manifest


def _cli(args: list[str], env: dict, cwd: Path = REPO, timeout: float = 240) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args[:3]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _deployment(api: str, name: str) -> dict | None:
    r = httpx.get(f"{api}/deployments/name/powerlists/{name}", timeout=10)
    return r.json() if r.status_code == 200 else None


def _run_deployment(env: dict, name: str, params: dict[str, str]) -> str:
    args = [str(BIN / "prefect"), "deployment", "run", f"powerlists/{name}"]
    for key, value in params.items():
        args += ["--param", f"{key}={value}"]
    output = _cli(args, env)
    match = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def _finished(api: str, flow_run_id: str):
    def check() -> dict | None:
        run = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10).json()
        return run if run.get("state_type") in TERMINAL else None

    return check


def _artifacts(api: str, flow_run_id: str) -> dict[str, dict]:
    r = httpx.post(f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}, timeout=10)
    r.raise_for_status()
    return {a["key"]: a for a in r.json()}


def test_serve_schedules_and_runs_the_flow_with_artifacts(server: dict, tmp_path: Path) -> None:
    env, api = server["env"], server["api"]
    manifest = _manifest(tmp_path / "lists")
    out = tmp_path / "out"
    log = tmp_path / "serve.log"
    serve = subprocess.Popen(
        [
            str(BIN / "powerlists"),
            "serve",
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--cron",
            "0 2 * * *",
            "--name",
            "serve-test",
            "--dask-workers",
            "2",
        ],
        env=env,
        cwd=tmp_path,  # not the repository: the deployment must not depend on the working directory
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    procs = [*server["procs"], (serve, log)]
    try:
        deployment = _wait("powerlists serve registers", lambda: _deployment(api, "serve-test"), 180, procs)
        assert deployment["parameters"] == {"manifest": str(manifest), "out": str(out), "dask_workers": 2}
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 2 * * *"]
        assert deployment["schedules"][0]["schedule"]["timezone"] == "Asia/Shanghai"
        schema = deployment["parameter_openapi_schema"]["properties"]
        assert {"manifest", "out", "match_threshold", "max_error_share", "fetch_timeout_s"} <= set(schema)
        assert {"dask_workers", "dask_address"} <= set(schema)  # editable in the UI

        flow_run_id = _run_deployment(env, "serve-test", {})
        run = _wait("the served run", _finished(api, flow_run_id), 300, procs)
        assert run["state_type"] == "COMPLETED", (run["state"], log.read_text()[-4000:])
        assert "distributed.scheduler" in log.read_text(), "the run did not start its Dask cluster"
    finally:
        _stop(serve)

    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert summary["outcome"]["status"] == "completed"
    assert {i["id"] for i in summary["inputs"]} == {"ziyang", "yanjiang"}
    assert list((out / "items").glob("510000.parquet"))
    artifacts = _artifacts(api, flow_run_id)
    assert set(artifacts) == {"powerlists-serve-test-sources", "powerlists-serve-test-summary"}
    table = artifacts["powerlists-serve-test-sources"]
    assert table["type"] == "table"
    rows = json.loads(table["data"])
    assert {r["source"] for r in rows} == {"ziyang", "yanjiang"}
    assert all(r["accepted"] + r["quarantined"] == r["rows read"] for r in rows)
    markdown = artifacts["powerlists-serve-test-summary"]
    assert markdown["type"] == "markdown" and "Links per method" in markdown["data"]
    assert str(out) in markdown["data"]


def test_prefect_yaml_deploys_to_a_process_pool_and_a_worker_runs_it(server: dict, tmp_path: Path) -> None:
    env, api = server["env"], server["api"]
    _cli([str(BIN / "prefect"), "work-pool", "create", "powerlists", "--type", "process"], env)
    deploy = subprocess.run(
        [str(BIN / "prefect"), "deploy", "--all", "--prefect-file", str(REPO / "prefect.yaml")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = deploy.stdout + deploy.stderr
    assert "successfully created" in output, output[-4000:]
    assert deploy.returncode == 0, output[-4000:]  # Prefect 3.8.8's server answered 422 to its own CLI here
    deployment = _deployment(api, "sample-nightly")
    assert deployment is not None
    assert deployment["work_pool_name"] == "powerlists"
    assert deployment["entrypoint"] == "flows/pipeline.py:powerlists_run"
    assert deployment["parameters"]["manifest"] == "data/sample/sources.toml"
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 2 * * *"]
    assert deployment["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == (
        "{{ $POWERLISTS_HOME }}"
    ), "resolved on the worker, not frozen at deploy time"

    manifest = _manifest(tmp_path / "lists")
    out = tmp_path / "out"
    # a run of the deployment on a local Dask cluster, chosen as a parameter as in the UI
    flow_run_id = _run_deployment(
        env, "sample-nightly", {"manifest": str(manifest), "out": str(out), "dask_workers": "2"}
    )
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "powerlists", "--run-once"],
        env={**env, "POWERLISTS_HOME": str(REPO)},
        cwd=tmp_path,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        run = _wait("the worker's run", _finished(api, flow_run_id), 300, [*server["procs"]])
        assert run["state_type"] == "COMPLETED", (run["state"], log.read_text()[-4000:])
    finally:
        _stop(worker)
    assert "distributed.scheduler" in log.read_text(), "the run did not start its Dask cluster"
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["outcome"]["status"] == "completed"
    assert set(_artifacts(api, flow_run_id)) == {"powerlists-serve-test-sources", "powerlists-serve-test-summary"}
