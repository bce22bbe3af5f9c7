"""Shared fixtures: a real (ephemeral) Prefect API for the session, and paths to bundled data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_MANIFEST = REPO / "data" / "sample" / "sources.toml"
REALDATA = REPO / "data" / "realdata"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A temporary Prefect server with its own database, shared by every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def bench_eval():
    """``bench/eval.py`` as a module (a script, not a package): the datasets and scorers ``make eval`` uses."""
    import importlib.util
    import sys

    if "bench_eval" in sys.modules:
        return sys.modules["bench_eval"]
    spec = importlib.util.spec_from_file_location("bench_eval", REPO / "bench" / "eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_eval"] = module
    spec.loader.exec_module(module)
    return module
