"""Incremental runs: what an unchanged source or province gave last time is reused, not recomputed.

A scheduled run over a hundred portals mostly sees the same bytes as yesterday. Two caches, both in
``OUT/.cache`` and carried into the staging folder so they survive the atomic swap:

``sources/<key>.pkl``
    a source's validated rows (its items and quarantine rows, per-expectation failure counts and
    read info). The key hashes the file's sha256, the source's read options (id, jurisdiction,
    format, encoding, sheet, header row, column overrides, published date), its registry entry and
    the *code version*. A hit skips reading, normalising and Great Expectations for that source.
``match/<key>.arrow``
    a province's links. The key hashes that province's items and the national items (content, not
    names), the match threshold, the registry and the code version. A hit skips ``match-province``.

The code version is a hash of the package's Python files, vocabularies and expectation suite plus the
versions of the libraries that shape the rows, so any change to how rows are read, normalised,
validated or matched invalidates every entry: a stale cache can cost time, never correctness.
Only entries used by a run are carried into its output, so the cache does not grow without bound.

The source cache is pickled (pandas frames with dict/list cells do not round-trip exactly through
Parquet, and byte-identical outputs need exact frames); it is written and read only by this
pipeline inside its own output folder, which must be as trusted as the code.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import platform
import shutil
import uuid
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms import __version__
from transforms.jurisdictions import Registry
from transforms.manifest import SourceSpec

CACHE_DIR = ".cache"
_REPO = Path(__file__).resolve().parent.parent
_CODE_GLOBS = ("transforms/*.py", "flows/*.py", "data/vocab/*", "expectations/*")
_LIBRARIES = ("pandas", "pyarrow", "great-expectations", "rapidfuzz", "opencc", "openpyxl", "xlrd")


@dataclass
class ValidatedSource:
    """One source after validation: exactly what the run needs from it, without its bytes."""

    items: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    expectations: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


@functools.cache
def code_version() -> str:
    """A hash of everything that decides what a source's rows and a province's links look like."""
    h = hashlib.sha256(__version__.encode())
    for pattern in _CODE_GLOBS:
        for path in sorted(_REPO.glob(pattern)):
            if path.is_file():
                h.update(path.relative_to(_REPO).as_posix().encode())
                h.update(path.read_bytes())
    for lib in _LIBRARIES:
        try:
            h.update(f"{lib}={version(lib)}".encode())
        except PackageNotFoundError:
            h.update(f"{lib}=absent".encode())
    h.update(platform.python_version().encode())
    return h.hexdigest()[:16]


def registry_entry(registry: Registry, code: str) -> tuple[str, str, str]:
    """The registry facts copied onto a source's rows (name, level, province)."""
    entry = registry[code]
    return (entry.name, entry.level, registry.province(code))


def registry_version(registry: Registry) -> str:
    return _digest(*(repr(registry[c]) for c in sorted(registry.codes())))


def source_key(spec: SourceSpec, sha256: str, registry: Registry) -> str:
    """Same bytes + same read options + same registry entry + same code → same validated rows."""
    options = (
        spec.id,
        spec.jurisdiction,
        spec.format,
        spec.encoding,
        spec.sheet,
        spec.header_row,
        sorted(spec.columns.items()),
        spec.published.isoformat() if spec.published else None,
    )
    return _digest("source", code_version(), sha256, options, registry_entry(registry, spec.jurisdiction))[:32]


def _stable_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "\x00"
    return value if isinstance(value, str) else f"\x01{type(value).__name__}:{value!r}"


def frame_digest(frame: pd.DataFrame) -> str:
    """A content hash of a frame (column names, order and values; index ignored)."""
    h = hashlib.sha256(repr(list(frame.columns)).encode("utf-8"))
    h.update(str(len(frame)).encode())
    for column in frame.columns:
        h.update(_column_hashes(frame[column]).tobytes())
    return h.hexdigest()


def _column_hashes(series: pd.Series) -> np.ndarray:
    """One hash per row. A text column is hashed per distinct value and spread back by code: a
    province's 400k rows hold far fewer distinct departments, bases or levels than cells (the 386k-row
    province's match key: 1.24 → 0.82 s). Same hashes as hashing every row."""
    if series.dtype != object:
        return pd.util.hash_pandas_object(series, index=False).to_numpy()
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=False)
    except TypeError:  # unhashable cells (dicts, lists)
        codes, uniques = None, None
    # factorize groups 1, 1.0 and True together: only text (and missing values) takes the fast path
    if uniques is None or pd.api.types.infer_dtype(uniques, skipna=True) not in ("string", "empty"):
        return pd.util.hash_pandas_object(series.map(_stable_text), index=False).to_numpy()
    hashes = pd.util.hash_pandas_object(pd.Series(uniques, dtype=object).map(_stable_text), index=False)
    return hashes.to_numpy()[codes]


def match_key(items: pd.DataFrame, registry_fp: str, threshold: float) -> str:
    """Same province + national items, registry, threshold and code → same links."""
    return _digest("match", code_version(), registry_fp, float(threshold), frame_digest(items))[:32]


class RunCache:
    """Read from the previous output's cache, write into the staging output's cache.

    A hit is hard-linked into staging (so it is carried over); entries nobody used are left behind
    with the previous output and disappear with it at the swap.
    """

    def __init__(self, previous_out: Path, staging: Path) -> None:
        self.previous_out = previous_out
        self.previous = previous_out / CACHE_DIR
        self.current = staging / CACHE_DIR

    def _find(self, kind: str, name: str) -> Path | None:
        current = self.current / kind / name
        if current.exists():
            return current
        previous = self.previous / kind / name
        if not previous.exists():
            return None
        current.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(previous, current)
        except FileExistsError:
            pass
        except OSError:
            shutil.copyfile(previous, current)
        return current

    def _write(self, kind: str, name: str, data: bytes) -> None:
        target = self.current / kind / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)

    def get_source(self, key: str) -> ValidatedSource | None:
        path = self._find("sources", f"{key}.pkl")
        if path is None:
            return None
        try:
            value = pickle.loads(path.read_bytes())
        except Exception:  # a damaged entry is a miss, not a failed run
            path.unlink(missing_ok=True)
            return None
        return value if isinstance(value, ValidatedSource) else None

    def put_source(self, key: str, value: ValidatedSource) -> None:
        self._write("sources", f"{key}.pkl", pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def get_links(self, key: str) -> pa.Table | None:
        path = self._find("match", f"{key}.arrow")
        if path is None:
            return None
        try:
            return pa.ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()
        except (pa.ArrowInvalid, OSError):
            path.unlink(missing_ok=True)
            return None

    def put_links(self, key: str, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        self._write("match", f"{key}.arrow", sink.getvalue().to_pybytes())
