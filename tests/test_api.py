"""The CLI's temporary Prefect API: started early, used by the run, gone when the CLI exits."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE_MANIFEST


@pytest.mark.slow
def test_cli_without_an_api_runs_on_a_temporary_server_its_workers_report_to(tmp_path: Path) -> None:
    home = tmp_path / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "flows", "run", "--manifest", str(SAMPLE_MANIFEST)),
            *("--out", str(tmp_path / "out"), "--dask-workers", "2"),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    started = re.search(r"temporary Prefect API on http://127\.0\.0\.1:(\d+)/api", done.stdout)
    assert started, done.stdout
    # the run was recorded by that server, in the database under PREFECT_HOME, with its tasks (which ran
    # on Dask workers: they reported there too, and started no server of their own)
    with sqlite3.connect(home / "prefect.db") as db:
        assert db.execute("SELECT name, state_type FROM flow_run").fetchall()[0][1] == "COMPLETED"
        tasks = dict(db.execute("SELECT name, state_type FROM task_run").fetchall())
    assert tasks.keys() >= {"read-510000", "scope-510000"} and set(tasks.values()) == {"COMPLETED"}
    # and the server is gone: nothing answers on its port
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(started.group(1)))) != 0


def test_the_temporary_api_is_only_launched_for_the_prefect_it_was_written_for(monkeypatch) -> None:
    """Its launch copies Prefect's private command: with another Prefect version nothing is started and
    the run is left to Prefect's own ephemeral server; with this one a server is launched (and stopped)."""
    import importlib.metadata

    from flows import api

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert importlib.metadata.version("prefect") == api.LAUNCH_WRITTEN_FOR, "pin and launch disagree"
    launched: list[int] = []
    real_launch = api._launch
    monkeypatch.setattr(api, "_launch", lambda port: launched.append(port) or real_launch(port))
    monkeypatch.setattr(api, "LAUNCH_WRITTEN_FOR", "0.0.0")
    with api.temporary_api() as started:
        assert started is None
    assert launched == []
    monkeypatch.setattr(api, "LAUNCH_WRITTEN_FOR", importlib.metadata.version("prefect"))
    with api.temporary_api() as started:
        assert started is not None and launched
        started.stop()
