"""The temporary Prefect API of a CLI run, started before the pipeline's heavy imports.

Without an API configured, Prefect starts a temporary server itself when the flow is first called:
it imports its server package into the calling process (seconds, only to build the command line),
then starts the server in a subprocess and waits for it to answer (seconds more, on the run's critical
path; figures in bench/README.md). Here the same subprocess (the command of Prefect's
``SubprocessASGIServer``) starts first, boots on the second core while this process imports pandas,
Arrow and the flows, and this process never imports the server package. Like Prefect's, it is
stopped at exit, after Prefect's own exit hooks have sent the last logs.

A configured API (``PREFECT_API_URL`` in the environment, a profile or a test harness) is used as
is; nothing is started then. The launch copies Prefect's private command and settings, so it is used
only with the Prefect version it was written for (``LAUNCH_WRITTEN_FOR``); with any other version the
CLI leaves the start to Prefect's own ephemeral mode (slower, but always right for that version).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The Prefect release whose ``SubprocessASGIServer`` command and environment ``_launch`` copies.
LAUNCH_WRITTEN_FOR = "3.9.1"


@dataclass
class TemporaryApi:
    """A Prefect server subprocess on 127.0.0.1 and the URL it will answer on."""

    process: subprocess.Popen[bytes]
    url: str
    timeout_s: float

    def wait(self) -> None:
        """Block until the API answers its health check; raise if it exits or does not answer in time."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the temporary Prefect API exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the temporary Prefect API did not answer on {self.url} within {self.timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _launch(port: int) -> subprocess.Popen[bytes]:
    """Prefect's ``SubprocessASGIServer`` command, without importing Prefect (the server reads the same
    environment, profile and working directory as this process)."""
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(Path(spec.origin).parent.parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ],
        env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"},
        # its own session: a terminal's Ctrl-C goes to the CLI, which stops the server after the run has
        # reported its final state (killed with the CLI's group, the client retried it for minutes)
        start_new_session=True,
        preexec_fn=_die_with(os.getpid()),
    )


def _die_with(parent: int) -> Callable[[], None]:
    """In the server's process, before it runs: SIGTERM when the CLI dies, however it dies (SIGKILL
    included; Linux ``PR_SET_PDEATHSIG``), so a temporary API never outlives its run."""

    def arm() -> None:
        with contextlib.suppress(OSError, AttributeError):  # not Linux: atexit and the signals still stop it
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the CLI died before the line above: nobody would stop this server
            os._exit(1)

    return arm


_PR_SET_PDEATHSIG = 1


@contextmanager
def temporary_api() -> Iterator[TemporaryApi | None]:
    """Start a temporary API and point this process's Prefect settings at it meanwhile.

    Yields None when an API is already configured. Call ``wait()`` before the first flow call; the
    server itself is stopped at exit (see the module docstring).
    """
    if os.environ.get("PREFECT_API_URL") or importlib.metadata.version("prefect") != LAUNCH_WRITTEN_FOR:
        yield None  # a configured API; or a Prefect whose private launch this module does not know
        return
    port = _free_port()
    process = _launch(port)  # first: loading Prefect's settings below takes ~1 s
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings  # not the server

    settings = get_current_settings()
    api = TemporaryApi(process, f"http://127.0.0.1:{port}/api", settings.server.ephemeral.startup_timeout_seconds)
    if settings.api.url:  # set in a profile, prefect.toml or a test harness: not needed after all
        api.stop()
        yield None
        return
    atexit.register(api.stop)  # registered before Prefect's services start, so it runs after they drain
    print(f"powerlists: temporary Prefect API on {api.url} (set PREFECT_API_URL to use a running server)")
    # Dask workers are pointed at it by flows.runners.local_cluster, from the flow run's client
    with temporary_settings(updates={PREFECT_API_URL: api.url}):
        yield api
