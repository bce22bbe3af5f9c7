"""A real ``prefect server start`` on a free 127.0.0.1 port, with its own PREFECT_HOME (its SQLite
database is thrown away with the folder), for the tests that drive CLI processes against an API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class PrefectServer:
    env: dict[str, str]  # the environment every client process uses (PREFECT_API_URL, PREFECT_HOME, …)
    api: str
    proc: subprocess.Popen
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(home: Path, **env: str) -> Iterator[PrefectServer]:
    """Start the server, wait for ``/health``, yield it; stop its whole process group at the end
    (SIGTERM, then SIGKILL), so nothing is left listening. ``env`` adds to the environment."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    full = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        **env,
    }
    full.pop("PREFECT_PROFILES_PATH", None)
    log = home / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=full,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops its workers too
        )
    try:
        deadline = time.monotonic() + 180
        while not _healthy(api):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("prefect server did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
        yield PrefectServer(full, api, proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
