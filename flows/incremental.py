"""Incremental runs: what an unchanged source or province gave last time is reused, not recomputed.

A scheduled run over a hundred portals mostly sees the same bytes as yesterday. Two caches, both in
``OUT/.cache`` and carried into the staging folder so they survive the atomic swap:

``sources/<key>.items.arrow``, ``<key>.quarantine.arrow``, ``<key>.json``
    a source's validated rows (its items and quarantine rows as Arrow IPC; per-expectation failure
    counts and read info as JSON). The key hashes the file's sha256, the source's read options (id, jurisdiction,
    format, encoding, sheet, header row, column overrides, published date), its registry entry and
    the *code version*. A hit skips reading, normalising and Great Expectations for that source.
``match/<key>.arrow``
    a province's links. The key hashes that province's items and the national items (content, not
    names), the match threshold, the registry and the code version. A hit skips ``match-province``.

The code version is a hash of the package's Python files, vocabularies and expectation suite plus the
versions of the libraries that shape the rows, so any change to how rows are read, normalised,
validated or matched invalidates every entry: a stale cache can cost time, never correctness.
Only entries used by a run are carried into its output, so the cache does not grow without bound.

Nothing in the cache can run code: it is data only (Arrow IPC and JSON, never pickle), because anyone
who can write a shared output folder could otherwise make the next scheduled run execute what they
wrote. Byte-identical outputs need the frames back exactly as they were, so each column is stored in
an Arrow type chosen for what its cells hold (text, lists of text, text → text maps, dates, numbers)
with the column's dtype and its kind of missing value (None or NaN) in the schema metadata; a column
holding anything else is not cached (the source is simply recomputed next time). Every file carries
``CACHE_FORMAT``, which is also part of the keys; an entry that does not parse, or is of another
format, is a miss, logged.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import logging
import os
import platform
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms import __version__
from transforms.clean.normalise import Vocab
from transforms.ingest.jurisdictions import Registry
from transforms.ingest.manifest import SourceSpec

CACHE_DIR = ".cache"
#: Version of the cache's file layout; part of every key, so entries of another layout are never read.
CACHE_FORMAT = 2
_COLUMNS_META = b"powerlists.columns"
_log = logging.getLogger("powerlists.cache")
_REPO = Path(__file__).resolve().parent.parent
_CODE_GLOBS = ("transforms/**/*.py", "flows/*.py", "data/vocab/*", "expectations/*")
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


def source_key(spec: SourceSpec, sha256: str, registry: Registry, vocab: Vocab | None = None) -> str:
    """Same bytes + same read options + same registry entry + same code (and vocabulary) → same rows."""
    options = (
        spec.id,
        spec.jurisdiction,
        spec.format,
        spec.encoding,
        spec.sheet,
        spec.header_row,
        sorted(spec.columns.items()),
        spec.published.isoformat() if spec.published else None,
        spec.data_selector,
        repr(spec.paginator),
    )
    entry = registry_entry(registry, spec.jurisdiction)
    if vocab is not None:  # data/vocab is in code_version(); a run's own folder is not
        options = (*options, vocab.digest)
    return _digest("source", CACHE_FORMAT, code_version(), sha256, options, entry)[:32]


def match_key(source_keys: Iterable[str], registry_fp: str, threshold: float) -> str:
    """The links cache key of a scope: the keys of the sources whose current items are matched (the
    scope's and the national ones), the registry, the threshold and the code. A source key already
    stands for everything its rows are made of (bytes, read options, registry entry, code, vocabulary),
    so the items need no hashing of their own; a source whose bytes could not be read has no key and
    no items."""
    return _digest("match", CACHE_FORMAT, code_version(), registry_fp, float(threshold), sorted(source_keys))[:32]


class Uncacheable(ValueError):
    """A frame or value the data-only cache cannot store exactly (the source is recomputed next time)."""


def _null_kind(nulls: np.ndarray) -> str | None:
    """ "none" or "nan": which missing value a column holds (one kind only, else Uncacheable). Nones
    are counted in numpy's C loop: a mostly empty column holds a million of them."""
    if not len(nulls):
        return None
    nones = int(np.count_nonzero(np.equal(nulls, None)))
    if nones == len(nulls):
        return "none"
    if not nones and all(isinstance(v, float) for v in nulls):
        return "nan"
    kinds = {"none" if v is None else "nan" if isinstance(v, float) else type(v).__name__ for v in nulls}
    raise Uncacheable(f"missing values of several kinds: {sorted(kinds)}")


def _text_values(values: list[Any] | np.ndarray, missing: bool, nan: bool = False) -> pa.Array | None:
    """``values`` as one large-string array when every value is text, else None. ``missing``: None
    (and, with ``nan``, NaN) may stand in for a value, as a null.

    Arrow's own type inference is the test: it scans the Python objects in C and infers ``string``
    only when each one is a ``str`` (``binary`` for bytes, an error for numbers or, without ``nan``,
    NaN). That replaces a Python-level check per cell, and the conversion is the same pass.
    """
    try:
        array = pa.array(values, from_pandas=nan)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if pa.types.is_null(array.type) and (missing or not len(array)):
        return pa.nulls(len(array), pa.large_string())
    if not pa.types.is_string(array.type) or (not missing and array.null_count):
        return None
    text = array.cast(pa.large_string())
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text  # chunked: over 2 GiB


def _text_map_array(missing: np.ndarray, present: np.ndarray) -> pa.Array | None:
    """Text → text (or missing) maps, keys and values each converted as one flat array; None if not text."""
    lengths = np.zeros(len(missing), np.int64)
    lengths[~missing] = np.fromiter(map(len, present), np.int64, len(present))
    keys = _text_values(list(itertools.chain.from_iterable(present)), missing=False)
    values = _text_values(list(itertools.chain.from_iterable(map(dict.values, present))), missing=True)
    if keys is None or values is None:
        return None
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    return pa.MapArray.from_arrays(offsets, keys, values, mask=pa.array(missing))


def _encode_column(series: pd.Series) -> tuple[pa.Array, dict[str, Any]]:
    """An Arrow array for one column and what it takes to rebuild the exact pandas column.

    Text columns, most of a frame, are converted (and recognised) by Arrow in one pass over the cells;
    maps of text by one pass over their flattened keys and values; lists and dates cell by cell.
    """
    meta: dict[str, Any] = {"dtype": str(series.dtype)}
    if series.dtype != object:
        meta["kind"] = "native"
        return pa.Array.from_pandas(series), meta
    cells = series.to_numpy()  # from_pandas: None and NaN both become nulls (meta["null"] says which)
    # a column of lists or maps would be converted only to be found not text: its first cell tells
    text = None if len(cells) and isinstance(cells[0], (list, dict, dt.date)) else _text_values(cells, True, nan=True)
    if text is not None:
        nulls = cells[text.is_null().to_numpy(zero_copy_only=False)] if text.null_count else cells[:0]
        meta["kind"], meta["null"] = "text", _null_kind(nulls)
        return text, meta
    missing = pd.isna(cells)
    meta["null"] = _null_kind(cells[missing])
    present = cells[~missing]
    types = set(map(type, present))
    array = None
    if types == {list} and all(isinstance(x, str) for v in present for x in v):
        meta["kind"], array = "text_list", pa.array(cells, pa.list_(pa.large_string()), from_pandas=True)
    elif types == {dict}:
        meta["kind"], array = "text_map", _text_map_array(missing, present)
    elif types == {dt.date}:
        meta["kind"], array = "date", pa.array(cells, pa.date32(), from_pandas=True)
    if array is None:
        raise Uncacheable(f"cells of types {sorted(t.__name__ for t in types)}")
    return array, meta


def _decode_column(array: pa.ChunkedArray, meta: dict[str, Any]) -> pd.Series:
    if meta["kind"] == "native":
        return array.to_pandas().astype(meta["dtype"])
    cells = array.to_pylist() if meta["kind"] != "text" else array.to_numpy(zero_copy_only=False).tolist()
    if meta["kind"] == "text_map":
        cells = [None if c is None else dict(c) for c in cells]
    if meta["null"] == "nan":
        cells = [np.nan if c is None else c for c in cells]
    return pd.Series(cells, dtype=object)


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table that ``frame_from_arrow`` turns back into an equal frame: same columns,
    dtypes, cell types (None vs NaN included) and index. Raises :class:`Uncacheable` otherwise."""
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        raise Uncacheable("the frame's index is not 0..n-1")
    if not all(isinstance(c, str) for c in frame.columns) or frame.columns.has_duplicates:
        raise Uncacheable("column names are not distinct text")
    arrays, metas = [], []
    for name in frame.columns:
        array, meta = _encode_column(frame[name])
        arrays.append(array)
        metas.append(meta)
    table = pa.Table.from_arrays(arrays, names=list(frame.columns)) if arrays else pa.table({})
    header = {"format": CACHE_FORMAT, "rows": len(frame), "columns": metas}
    return table.replace_schema_metadata({_COLUMNS_META: json.dumps(header).encode()})


def encoded_rows(table: pa.Table, positions: np.ndarray) -> pa.Table:
    """The rows at ``positions`` of a frame's encoding (``frame_to_arrow``): the encoding of those rows
    of the frame (renumbered from 0), without converting their cells again."""
    header = json.loads((table.schema.metadata or {})[_COLUMNS_META])
    header["rows"] = len(positions)
    return table.take(pa.array(positions, pa.int64())).replace_schema_metadata(
        {_COLUMNS_META: json.dumps(header).encode()}
    )


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    header = json.loads((table.schema.metadata or {})[_COLUMNS_META])
    if header.get("format") != CACHE_FORMAT:
        raise Uncacheable(f"cache format {header.get('format')!r}, expected {CACHE_FORMAT}")
    columns = {
        name: _decode_column(table.column(name), meta)
        for name, meta in zip(table.column_names, header["columns"], strict=True)
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(header["rows"]))


def _exact_json(value: object) -> bytes:
    """JSON that loads back equal to ``value`` (no tuples turned lists, no NaN), else Uncacheable."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Uncacheable(f"not JSON data: {exc}") from exc
    if json.loads(text) != value:
        raise Uncacheable("does not survive JSON unchanged")
    return text.encode("utf-8")


def ipc_bytes(table: pa.Table) -> bytes:
    """One record batch (a frame's chunks combined: sliced chunks would each carry whole buffers), zstd."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table.combine_chunks())
    return sink.getvalue().to_pybytes()


def _read_ipc(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()


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
        paths = [self._find("sources", f"{key}.{part}") for part in ("json", "items.arrow", "quarantine.arrow")]
        if any(p is None for p in paths):
            return None
        meta_path, items_path, quarantine_path = paths
        try:
            meta = json.loads(meta_path.read_bytes())
            if meta.get("format") != CACHE_FORMAT:
                raise Uncacheable(f"cache format {meta.get('format')!r}, expected {CACHE_FORMAT}")
            return ValidatedSource(
                items=frame_from_arrow(_read_ipc(items_path)),
                quarantine=frame_from_arrow(_read_ipc(quarantine_path)),
                rows_read=int(meta["rows_read"]),
                expectations=meta["expectations"],
                info=meta["info"],
            )
        except (ValueError, KeyError, TypeError, OSError, pa.ArrowException) as exc:  # a miss, not a failed run
            _log.warning("cache entry sources/%s unreadable, recomputed: %s", key, exc)
            for path in paths:
                path.unlink(missing_ok=True)
            return None

    def put_source(self, key: str, value: ValidatedSource, items: pa.Table | None = None) -> None:
        """Store a source's rows; one the data-only cache cannot hold exactly is left out (logged).
        ``items``: ``value.items`` already encoded (``encoded_rows`` of its batch), used instead."""
        try:
            meta = {"format": CACHE_FORMAT, "rows_read": value.rows_read}
            parts = {
                "items.arrow": ipc_bytes(items if items is not None else frame_to_arrow(value.items)),
                "quarantine.arrow": ipc_bytes(frame_to_arrow(value.quarantine)),
                "json": _exact_json({**meta, "expectations": value.expectations, "info": value.info}),
            }
        except Uncacheable as exc:
            _log.warning("source cache: %s not cached: %s", key, exc)
            return
        for part, data in parts.items():  # the JSON last: an entry is complete once it exists
            self._write("sources", f"{key}.{part}", data)

    def get_links(self, key: str) -> pa.Table | None:
        path = self._find("match", f"{key}.arrow")
        if path is None:
            return None
        try:
            return _read_ipc(path)
        except (pa.ArrowException, OSError) as exc:
            _log.warning("cache entry match/%s unreadable, recomputed: %s", key, exc)
            path.unlink(missing_ok=True)
            return None

    def put_links(self, key: str, table: pa.Table) -> None:
        self._write("match", f"{key}.arrow", ipc_bytes(table))
