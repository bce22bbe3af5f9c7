"""Writing an output folder: Parquet the way analysts expect, swapped in atomically, one run at a time.

A run assembles everything in a staging folder beside ``OUT`` and renames it into place only when
complete, so readers (and a crash) never see half an output. A lock file beside ``OUT`` keeps two
runs from writing the same folder at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.ingest.jurisdictions import NATIONAL
from transforms.publish.tables import CONTRACT_TABLES, DICTIONARY_COLUMNS

ROW_GROUP_SIZE = 128 * 1024


class OutputLocked(Exception):
    """Another run holds the output folder."""


class UnsafeOutput(ValueError):
    """The output folder is one a run must not replace: replacing it would delete what powerlists did not write."""


#: Errors of the file system the output lives on, whatever file raised them.
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: Errors that are the output's only when raised for a path of the output (an input may raise them too).
_REFUSED = {errno.EROFS, errno.EACCES, errno.EPERM}


def output_error(exc: OSError, out: Path) -> str | None:
    """One line naming the output folder for an OS error that means the output cannot be written
    (disk full, quota, read-only, no permission); None for any other error, which stays a crash."""
    filename = str(exc.filename or "")
    # the folder, its staging/lock/previous siblings, or a folder above it that had to be created
    mine = bool(filename) and (
        filename.startswith((str(out), str(out.parent / f".{out.name}."))) or str(out).startswith(filename + "/")
    )
    if exc.errno in _FULL or (exc.errno in _REFUSED and mine):
        where = f" ({filename})" if filename else ""
        return (
            f"cannot write the output folder {out}: {exc.strerror or exc}{where}; "
            "nothing was replaced, the previous output is intact"
        )
    return None


def is_output_folder(folder: Path) -> bool:
    """A folder a powerlists run wrote (its run.json names the powerlists version)."""
    try:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(run, dict) and "powerlists_version" in run


def check_output_folder(out: Path, protected: Iterable[Path] = ()) -> None:
    """Refuse an ``out`` whose replacement would destroy data: the swap deletes the old folder as a whole.

    ``out`` must be absent, an empty folder or an earlier powerlists output; never ``/``, a file, or a
    folder holding anything in ``protected`` (the manifest, its list files, its jurisdictions file).
    So ``--out .`` in a repository, ``--out ~`` or ``--out`` the manifest's own folder fail with exit
    code 2 instead of deleting it. The lock file and the staging folder live beside ``out`` (same
    file system, so the final rename is atomic); nothing else is written outside ``out``.
    """
    out = Path(out).resolve()
    if out.parent == out:
        raise UnsafeOutput(f"--out {out}: the file system root cannot be an output folder")
    if out.exists() and not out.is_dir():
        raise UnsafeOutput(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_output_folder(out):
        raise UnsafeOutput(
            f"--out {out}: the folder exists, is not empty and is not a powerlists output (no run.json of "
            "powerlists); a run replaces its output folder as a whole, so give a new or empty folder"
        )
    for given in protected:
        # as given and as resolved: a manifest reached through a symlink inside OUT is deleted with OUT
        # although the file it points to lives elsewhere
        for path in dict.fromkeys((Path(os.path.abspath(given)), Path(given).resolve())):
            if path == out or out in path.parents:
                raise UnsafeOutput(
                    f"--out {out}: holds an input of this run ({given}), which replacing it would delete"
                )


def write_parquet(table: pa.Table, path: Path, order: pa.Array | None = None) -> None:
    """zstd, dictionary for low-cardinality columns, fixed row groups, no schema metadata: reproducible bytes.

    ``order`` (row positions, e.g. ``sort_indices``) writes ``table.take(order)`` without holding it: each
    row group is taken on its own (``_take_rows``), so a national links table (14M rows, 1.9 GiB) never
    exists twice, sorted and unsorted (2.3 GiB less at the run's peak, figures in bench/README.md). The
    bytes are the same: ``pq.write_table`` is this writer, fed the same row groups.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata(None)  # pandas' metadata (index, dtypes) is not part of the contract
    options = {
        "compression": "zstd",
        "use_dictionary": [c for c in table.column_names if c in DICTIONARY_COLUMNS],
        "write_statistics": True,
    }
    if order is None or len(order) <= ROW_GROUP_SIZE:
        pq.write_table(table if order is None else table.take(order), path, row_group_size=ROW_GROUP_SIZE, **options)
        return
    positions = np.asarray(order).astype(np.int64)
    batches = table.to_batches()  # zero-copy: the parts the table was concatenated from
    starts = np.cumsum([0, *(b.num_rows for b in batches)])
    with pq.ParquetWriter(path, table.schema, **options) as writer:
        for first in range(0, len(positions), ROW_GROUP_SIZE):
            rows = _take_rows(table.schema, batches, starts, positions[first : first + ROW_GROUP_SIZE])
            writer.write_table(rows, row_group_size=ROW_GROUP_SIZE)


def _take_rows(schema: pa.Schema, batches: list[pa.RecordBatch], starts: np.ndarray, positions: np.ndarray) -> pa.Table:
    """The rows at ``positions`` (in that order) of the batches laid end to end (``starts``: their first rows).

    Each batch is taken from with its own positions, sorted, and the result put in order at the end: a
    take over the whole chunked table would concatenate every column first, once per row group.
    """
    by_position = np.argsort(positions, kind="stable")
    ascending = positions[by_position]
    cuts = np.searchsorted(ascending, starts)
    pieces = [
        batch.take(pa.array(ascending[cuts[i] : cuts[i + 1]] - starts[i]))
        for i, batch in enumerate(batches)
        if cuts[i + 1] > cuts[i]
    ]
    gathered = pa.Table.from_batches(pieces, schema=schema).combine_chunks()
    back = np.empty_like(by_position)
    back[by_position] = np.arange(len(by_position))
    return gathered.take(pa.array(back))


def items_file(folder: Path, province: str) -> Path:
    """``OUT/items/<province>.parquet``: one file per province, no ``key=value`` folders.

    Hive folders (``province=510000``) broke the readers analysts reach for first: pandas and pyarrow
    merged the partition key (dictionary) with the column in the file (string) and refused; DuckDB and
    polars guessed the key an integer, so ``000000`` became ``0``. Plain files carry ``province`` once,
    as a 6-character string, and each file's row-group statistics still let a filter on ``province``
    skip the other provinces.
    """
    return folder / "items" / f"{province}.parquet"


def write_items(items: pa.Table, folder: Path) -> None:
    """One file per province (see ``items_file``); an empty table is written as the national file."""
    provinces = sorted(set(items.column("province").to_pylist())) if items.num_rows else []
    if not provinces:
        write_parquet(items, items_file(folder, NATIONAL))
        return
    for province in provinces:
        write_parquet(items.filter(pc.equal(items.column("province"), province)), items_file(folder, province))


def write_table(name: str, table: pa.Table, folder: Path, order: pa.Array | None = None) -> None:
    """One named table: a contract table (checked against its schema; items as partitions) or a
    further one (``citations``, ``reform/…``) as ``<name>.parquet``, its rows in ``order`` where given
    (``write_parquet``; not for items, which are written per province as they come)."""
    schema = CONTRACT_TABLES.get(name)
    if schema is not None and not table.schema.equals(schema):
        raise ValueError(f"{name}: schema differs from the contract:\n{table.schema}\n!=\n{schema}")
    if name == "items":
        if order is not None:
            raise ValueError("items: written per province as they come, not in a given order")
        write_items(table, folder)
    else:
        write_parquet(table, folder / f"{name}.parquet", order)


def write_tables(tables: dict[str, pa.Table], folder: Path, *, written: Collection[str] = ()) -> None:
    """Every contract table (a missing one is written empty so queries never meet a missing file),
    then any further table. Tables in ``written`` are already in ``folder`` (the flow writes each as
    soon as it is assembled, to hold one at a time)."""
    for name, table in tables.items():
        if name not in CONTRACT_TABLES:
            write_table(name, table, folder)
    for name, schema in CONTRACT_TABLES.items():
        if name not in written:
            write_table(name, tables.get(name, schema.empty_table()), folder)


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def lock_holder(out: Path) -> int | None:
    """The process id the last run to take ``out``'s lock wrote into it (it may have ended since)."""
    try:
        return int(_lock_path(out).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Fail fast when another run writes ``out``: interleaved outputs would be worse than no run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = _lock_path(out).open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise OutputLocked(f"another powerlists run is writing {out} (lock {_lock_path(out)})") from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def recover(out: Path) -> None:
    """Undo what a killed run left: restore a swapped-out previous output, delete stale staging."""
    previous = out.parent / f".{out.name}.previous"
    if not out.exists() and previous.exists():
        previous.rename(out)
    for stale in out.parent.glob(f".{out.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if previous.exists():
        shutil.rmtree(previous, ignore_errors=True)


def new_staging(out: Path) -> Path:
    staging = out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True)
    return staging


def swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging``: one atomic exchange where the kernel has it, else two renames.

    With ``renameat2(RENAME_EXCHANGE)`` (Linux ≥ 3.15 on ext4, xfs, btrfs, tmpfs…) ``out`` is at every
    instant either the complete old or the complete new folder, even under SIGKILL; the old one is left
    under the staging name and deleted (a kill during that delete leaves a stale staging folder that the
    next run's ``recover`` removes). Elsewhere ``out`` is absent between the two renames, for
    microseconds; ``recover`` puts the previous folder back if a run dies there.
    """
    if out.exists() and exchange_paths(staging, out):
        shutil.rmtree(staging, ignore_errors=True)
        return
    previous = out.parent / f".{out.name}.previous"
    if previous.exists():
        shutil.rmtree(previous)
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    shutil.rmtree(previous, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_paths(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths; False where the C library, kernel or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(error, f"cannot exchange {a} and {b}: {os.strerror(error)}")
