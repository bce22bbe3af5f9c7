"""Pure transforms on pandas/Arrow tables, one package per stage of a run, in order:

``ingest`` (manifest, registry, fetch, read) → ``clean`` (normalise, validate, items) → ``link`` (match,
consolidate) → ``examine`` (findings, changes, reform, basis, summary) → ``publish`` (schema, write, views,
report). Nothing here knows Prefect; ``flows`` wires the stages into tasks.
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: The checkout (or installed tree) holding ``data/`` and ``expectations/`` beside the packages.
ROOT = Path(__file__).resolve().parent.parent

try:
    __version__ = version("powerlists")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+checkout"
