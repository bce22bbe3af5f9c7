"""Pure transforms on pandas/Arrow tables, one package per stage of a run, in order:

``ingest`` (manifest, registry, fetch, read) → ``clean`` (normalise, validate, items) → ``link`` (match,
consolidate) → ``examine`` (findings, changes, reform, basis, summary) → ``publish`` (schema, write, views,
report). Nothing here knows Prefect; ``flows`` wires the stages into tasks.
"""

import contextlib
import gc
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: The checkout (or installed tree) holding ``data/`` and ``expectations/`` beside the packages.
ROOT = Path(__file__).resolve().parent.parent

try:
    __version__ = version("powerlists")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+checkout"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small objects that cannot form a
    cycle (a list's row lists and dicts while reading, its warning lists and cached name results while
    normalising): each of the dozens of full collections they trigger walks every live object of the
    run, which was most of the time of both stages (bench/README.md). Nothing is lost by collecting later.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
