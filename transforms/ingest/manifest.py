"""The run manifest (CONTRACT §1): which list files to read and how.

Problems are collected per source instead of stopping at the first, because a manifest of a hundred
portals is edited by hand and an operator wants every mistake named in one go. A source with an error
is kept in ``Manifest.source_errors`` and skipped; the others still run.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What a source can be (``transforms.ingest.read`` has a reader for each).
FORMATS = ("csv", "xlsx", "xls", "json", "jsonl", "zip", "html", "docx", "pdf")
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gb18030", "gbk", "big5", "cp950", "big5hkscs")
CANONICAL_COLUMNS = (
    "name",
    "sub_item",
    "code",
    "power_type",
    "department",
    "legal_basis",
    "status",
    "responsibility",
    "seq",
)
#: The fuzzy-link cut-off: the F1 optimum on the synthetic tree (``bench/eval.py``); the one definition.
DEFAULT_MATCH_THRESHOLD = 0.86
DEFAULT_MAX_ERROR_SHARE = 0.2
_SOURCE_ID = re.compile(r"^[a-z0-9._-]+$")
_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xls": "xls",
    ".json": "json",
    ".jsonl": "jsonl",
    ".zip": "zip",
    ".html": "html",
    ".htm": "html",
    ".shtml": "html",
    ".docx": "docx",
    ".pdf": "pdf",
}
#: Old binary Word/WPS files: no reader here (converting needs LibreOffice, ~500 MB), so they are refused.
OLD_BINARY_SUFFIXES = (".doc", ".wps", ".et")
OLD_BINARY_MESSAGE = "old binary Word/WPS format: save it as .docx/.xlsx"


def format_from_name(name: str) -> str | None:
    """The format a file name's extension says (``.txt`` is CSV text), or None."""
    return _EXTENSIONS.get(Path(name).suffix.lower())


def old_binary_refusal(name: str) -> str | None:
    """Why a file called ``name`` cannot be read (an old binary Word/WPS file), or None."""
    suffix = Path(name).suffix.lower()
    return f"{OLD_BINARY_MESSAGE} ({suffix})" if suffix in OLD_BINARY_SUFFIXES else None


def not_a_list_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (missing, a folder, a device, a FIFO, a socket), or None.

    Checked before opening: ``/dev/zero`` would be read forever and a FIFO would block the run.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"file not found: {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, kind in kinds:
        if test(mode):
            return f"{path} is {kind}, not a regular file"
    return None


class ManifestError(Exception):
    """The manifest as a whole cannot be used (not TOML, bad [run] table, no sources)."""


_SCHEDULER_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://")


class ArgumentError(ValueError):
    """A run argument (CLI option or flow parameter) that no run could use."""


def check_run_arguments(
    *,
    match_threshold: float | None = None,
    max_error_share: float | None = None,
    fetch_timeout_s: float = 60.0,
    fetch_max_mb: float = 200.0,
    fetch_retry_delay_s: float = 0.0,
    previous: str | Path | None = None,
    parallel_scopes: int = 1,
    dask_workers: int | None = None,
    dask_address: str | None = None,
) -> None:
    """Refuse, before any source is read, what would otherwise fail deep in a task or after the
    validation (a threshold of -5, a NaN share, a ``previous`` that is no output folder)."""
    for key, value in (("match_threshold", match_threshold), ("max_error_share", max_error_share)):
        if value is not None and not 0.0 <= value <= 1.0:  # NaN fails both comparisons
            raise ArgumentError(f"{key}: must be a number within [0, 1], got {value}")
    for key, value in (("fetch_timeout_s", fetch_timeout_s), ("fetch_max_mb", fetch_max_mb)):
        if not value > 0 or value == float("inf"):
            raise ArgumentError(f"{key}: must be a positive number, got {value}")
    if not 0 <= fetch_retry_delay_s < float("inf"):
        raise ArgumentError(f"fetch_retry_delay_s: must be a number of seconds >= 0, got {fetch_retry_delay_s}")
    if parallel_scopes < 1:
        raise ArgumentError(f"parallel_scopes: must be at least 1, got {parallel_scopes}")
    if dask_workers is not None and dask_address is not None:
        raise ArgumentError("dask_workers and dask_address are exclusive: start a cluster or join one")
    if dask_workers is not None and dask_workers < 1:
        raise ArgumentError(f"dask_workers: must be at least 1, got {dask_workers}")
    if dask_address is not None and not dask_address.startswith(_SCHEDULER_SCHEMES):
        raise ArgumentError(f"dask_address: expected a scheduler address like tcp://host:8786, got {dask_address!r}")
    if previous is not None:
        folder = Path(previous)
        if not folder.is_dir():
            raise ArgumentError(f"previous: {folder} is not a folder (an earlier output folder was expected)")
        if not any((folder / "items").glob("**/*.parquet")):
            raise ArgumentError(f"previous: {folder} is not a powerlists output folder (no items/*.parquet)")


PAGINATOR_TYPES = ("page_number", "offset")


@dataclass(frozen=True)
class Paginator:
    """How to walk a paginated JSON API (``[source.paginator]``); names follow dlt's REST API source.

    ``page_number``: ``page_param`` counts pages from ``base_page``, ``page_size_param = page_size`` is sent
    with every request when given. ``offset``: ``offset_param`` starts at ``offset`` and grows by ``limit``,
    sent as ``limit_param``. ``total_path`` is the total number of *records* (not pages, unlike dlt's
    page-number paginator: portals such as 辽宁's ``findCatalog`` report ``data.total`` records);
    ``maximum_page`` / ``maximum_offset`` stop the walk there.
    """

    type: str
    total_path: str | None = None
    page_param: str = "page"
    base_page: int = 1
    page_size_param: str | None = None
    page_size: int | None = None
    maximum_page: int | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int | None = None
    offset: int = 0
    maximum_offset: int | None = None


_PAGINATOR_KEYS: dict[str, dict[str, type]] = {
    "page_number": {
        "type": str,
        "total_path": str,
        "page_param": str,
        "base_page": int,
        "page_size_param": str,
        "page_size": int,
        "maximum_page": int,
    },
    "offset": {
        "type": str,
        "total_path": str,
        "offset_param": str,
        "limit_param": str,
        "limit": int,
        "offset": int,
        "maximum_offset": int,
    },
}
_JSON_PATH = re.compile(r"^[^.\s]+(?:\.[^.\s]+)*$")


def check_json_path(path: str) -> str:
    """A dotted path (``data.list``; ``$.`` in front allowed, as dlt writes JSONPath), normalised, or ValueError."""
    stripped = path.strip().removeprefix("$.").removeprefix("$")
    if not _JSON_PATH.match(stripped):
        raise ValueError(f"{path!r} is not a dotted path of keys such as 'data.list'")
    return stripped


@dataclass(frozen=True)
class SourceSpec:
    id: str
    jurisdiction: str
    path: Path | None = None
    url: str | None = None
    published: dt.date | None = None
    format: str = "csv"
    encoding: str = "auto"
    sheet: str | int | None = None
    header_row: int | None = None
    title: str | None = None
    source_url: str | None = None
    licence: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    data_selector: str | None = None
    paginator: Paginator | None = None

    @property
    def location(self) -> str:
        """Where the bytes come from, as shown to people."""
        return self.url if self.url else str(self.path)


@dataclass(frozen=True)
class Manifest:
    path: Path
    name: str
    sources: list[SourceSpec]
    source_errors: dict[str, str]
    match_threshold: float = DEFAULT_MATCH_THRESHOLD
    max_error_share: float = DEFAULT_MAX_ERROR_SHARE
    jurisdictions: Path | None = None
    reviews: Path | None = None  # the reviews file (``transforms.ingest.reviews``)
    vocab: Path | None = None  # a vocabulary folder replacing data/vocab's (``transforms.clean.normalise``)


_RUN_KEYS = {
    "name": str,
    "match_threshold": float,
    "max_error_share": float,
    "jurisdictions": str,
    "reviews": str,
    "vocab": str,
}
_SOURCE_KEYS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "jurisdiction": str,
    "path": str,
    "url": str,
    "published": dt.date,
    "format": str,
    "encoding": str,
    "sheet": (str, int),
    "header_row": int,
    "title": str,
    "source_url": str,
    "licence": str,
    "columns": dict,
    "data_selector": str,
    "paginator": dict,
}


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", float: "number", dt.date: "date (YYYY-MM-DD)", dict: "table"}
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_type(value: Any, expected: type | tuple[type, ...]) -> bool:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool):
        return False
    if float in kinds and isinstance(value, int):
        return True
    if dt.date in kinds and isinstance(value, dt.datetime):
        return False
    return isinstance(value, kinds)


def load_manifest(path: Path | str, known_jurisdictions: set[str] | None = None) -> Manifest:
    """Parse and check a manifest; per-source problems go to ``source_errors`` keyed by source id.

    ``known_jurisdictions`` is the registry's codes (bundled plus the manifest's own file); when given,
    an unknown code is a source error. Paths resolve against the manifest's folder so a manifest and
    its lists can be moved together.
    """
    path = Path(path).resolve()
    if path.exists() and (problem := not_a_list_file(path)) is not None:
        raise ManifestError(f"manifest: {problem}")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"manifest not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path.name}: not valid TOML: {exc}") from exc

    unknown_top = sorted(set(doc) - {"run", "source"})
    if unknown_top:
        raise ManifestError(f"{path.name}: unknown top-level key(s) {unknown_top}; expected [run] and [[source]]")
    run = doc.get("run", {})
    if not isinstance(run, dict):
        raise ManifestError(f"{path.name}: [run] must be a table")
    for key, value in run.items():
        if key not in _RUN_KEYS:
            raise ManifestError(f"[run]: unknown key '{key}' (known: {', '.join(_RUN_KEYS)})")
        if not _check_type(value, _RUN_KEYS[key]):
            raise ManifestError(f"[run].{key}: expected {_type_name(_RUN_KEYS[key])}, got {value!r}")
    threshold = float(run.get("match_threshold", DEFAULT_MATCH_THRESHOLD))
    share = float(run.get("max_error_share", DEFAULT_MAX_ERROR_SHARE))
    for key, value in (("match_threshold", threshold), ("max_error_share", share)):
        if not 0.0 <= value <= 1.0:
            raise ManifestError(f"[run].{key}: must be within [0, 1], got {value}")
    jurisdictions = None
    if "jurisdictions" in run:
        jurisdictions = (path.parent / run["jurisdictions"]).resolve()
        if (problem := not_a_list_file(jurisdictions)) is not None:
            raise ManifestError(f"[run].jurisdictions: {problem}")
    reviews = None
    if "reviews" in run:  # a missing file is refused: a mistyped path must not drop every decision silently
        reviews = (path.parent / run["reviews"]).resolve()
        if (problem := not_a_list_file(reviews)) is not None:
            raise ManifestError(f"[run].reviews: {problem}")
    vocab = None
    if "vocab" in run:
        vocab = (path.parent / run["vocab"]).resolve()
        if not vocab.is_dir():
            raise ManifestError(f"[run].vocab: {vocab} is not a folder (the vocabulary CSVs of data/vocab)")

    raw_sources = doc.get("source", [])
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ManifestError(f"{path.name}: no [[source]] entries")

    sources: list[SourceSpec] = []
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for index, entry in enumerate(raw_sources, start=1):
        sid = entry.get("id") if isinstance(entry, dict) else None
        label = sid if isinstance(sid, str) and sid else f"source #{index}"
        try:
            if not isinstance(entry, dict):
                raise ValueError("must be a table")
            if label in seen:
                raise ValueError(f"id: duplicate source id '{label}'")
            spec = _parse_source(entry, path.parent, known_jurisdictions)
        except ValueError as exc:
            key = label if label not in seen and label not in errors else f"{label}#{index}"
            errors[key] = f"source '{label}': {exc}"
            seen.add(label)
            continue
        seen.add(spec.id)
        sources.append(spec)

    return Manifest(
        path=path,
        name=str(run.get("name", path.stem)),
        sources=sources,
        source_errors=errors,
        match_threshold=threshold,
        max_error_share=share,
        jurisdictions=jurisdictions,
        reviews=reviews,
        vocab=vocab,
    )


def _parse_source(entry: dict[str, Any], base: Path, known: set[str] | None) -> SourceSpec:
    for key, value in entry.items():
        if key not in _SOURCE_KEYS:
            raise ValueError(f"{key}: unknown key (known: {', '.join(_SOURCE_KEYS)})")
        if not _check_type(value, _SOURCE_KEYS[key]):
            raise ValueError(f"{key}: expected {_type_name(_SOURCE_KEYS[key])}, got {value!r}")
    for key in ("id", "jurisdiction"):
        if key not in entry:
            raise ValueError(f"{key}: missing")
    if not _SOURCE_ID.match(entry["id"]):
        raise ValueError(f"id: '{entry['id']}' must match [a-z0-9._-]+")
    if known is not None and entry["jurisdiction"] not in known:
        raise ValueError(f"jurisdiction: unknown code '{entry['jurisdiction']}' (not in the registry)")
    if ("path" in entry) == ("url" in entry):
        raise ValueError("path/url: exactly one of them is required")

    path = url = None
    if "path" in entry:
        path = (base / entry["path"]).resolve()
        if (problem := not_a_list_file(path)) is not None:
            raise ValueError(f"path: {problem}")
        name_for_format = path.name
    else:
        url = entry["url"]
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url: only http(s) URLs are supported, got {url!r}")
        name_for_format = url.split("?", 1)[0]

    fmt = entry.get("format") or format_from_name(name_for_format)
    if fmt is None and (refusal := old_binary_refusal(name_for_format)) is not None:
        raise ValueError(f"format: {refusal}")
    if fmt is None:
        raise ValueError(f"format: cannot tell from '{name_for_format}'; set format = one of {FORMATS}")
    if fmt not in FORMATS:
        raise ValueError(f"format: '{fmt}' is not one of {FORMATS}")
    encoding = entry.get("encoding", "auto").lower()
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding: '{encoding}' is not one of {ENCODINGS}")
    if fmt == "zip" and "sheet" in entry:
        raise ValueError("sheet: not for a zip bundle (every sheet of each workbook in it is read)")
    header_row = entry.get("header_row")
    if header_row is not None and header_row < 1:
        raise ValueError(f"header_row: must be 1 or more, got {header_row}")
    columns = entry.get("columns", {})
    for canonical, header in columns.items():
        if canonical not in CANONICAL_COLUMNS:
            raise ValueError(f"columns.{canonical}: not a canonical column ({', '.join(CANONICAL_COLUMNS)})")
        if not isinstance(header, str):
            raise ValueError(f"columns.{canonical}: expected the header text as a string, got {header!r}")
    data_selector = None
    if "data_selector" in entry:
        if fmt != "json":
            raise ValueError(f'data_selector: only for format = "json", not {fmt!r}')
        try:
            data_selector = check_json_path(entry["data_selector"])
        except ValueError as exc:
            raise ValueError(f"data_selector: {exc}") from None
    paginator = None
    if "paginator" in entry:
        if url is None or fmt != "json":
            raise ValueError('paginator: only for a url source with format = "json"')
        paginator = _parse_paginator(entry["paginator"])
    return SourceSpec(
        id=entry["id"],
        jurisdiction=entry["jurisdiction"],
        path=path,
        url=url,
        published=entry.get("published"),
        format=fmt,
        encoding=encoding,
        sheet=entry.get("sheet"),
        header_row=header_row,
        title=entry.get("title"),
        source_url=entry.get("source_url"),
        licence=entry.get("licence"),
        columns=dict(columns),
        data_selector=data_selector,
        paginator=paginator,
    )


def _parse_paginator(table: dict[str, Any]) -> Paginator:
    kind = table.get("type")
    if kind not in PAGINATOR_TYPES:
        raise ValueError(f"paginator.type: expected one of {PAGINATOR_TYPES}, got {kind!r}")
    known = _PAGINATOR_KEYS[kind]
    for key, value in table.items():
        if key not in known:
            raise ValueError(f"paginator.{key}: unknown key for type {kind!r} (known: {', '.join(known)})")
        if not _check_type(value, known[key]):
            raise ValueError(f"paginator.{key}: expected {_type_name(known[key])}, got {value!r}")
    fields = dict(table)
    for key in ("total_path",):
        if key in fields:
            try:
                fields[key] = check_json_path(fields[key])
            except ValueError as exc:
                raise ValueError(f"paginator.{key}: {exc}") from None
    for key in ("page_param", "page_size_param", "offset_param", "limit_param"):
        if key in fields and not fields[key].strip():
            raise ValueError(f"paginator.{key}: must not be empty")
    minimum = {"base_page": 0, "page_size": 1, "maximum_page": 0, "limit": 1, "offset": 0, "maximum_offset": 0}
    for key, least in minimum.items():
        if key in fields and fields[key] < least:
            raise ValueError(f"paginator.{key}: must be {least} or more, got {fields[key]}")
    if kind == "page_number":
        if ("page_size_param" in fields) != ("page_size" in fields):
            raise ValueError("paginator: page_size_param and page_size go together (or neither)")
        if fields.get("page_size_param") == fields.get("page_param", "page"):
            raise ValueError("paginator: page_param and page_size_param must differ")
        if fields.get("maximum_page", fields.get("base_page", 1)) < fields.get("base_page", 1):
            raise ValueError("paginator.maximum_page: must not be below base_page")
    else:
        if "limit" not in fields:
            raise ValueError("paginator.limit: missing (the page size sent as limit_param)")
        if fields.get("limit_param", "limit") == fields.get("offset_param", "offset"):
            raise ValueError("paginator: offset_param and limit_param must differ")
    return Paginator(**fields)
