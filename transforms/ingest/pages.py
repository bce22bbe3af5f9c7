"""Walk a paginated portal JSON API (政务服务网 catalogues: 15 records a page) into one stored document.

Every page is one :func:`transforms.ingest.fetch.fetch` (its timeout, size cap and error classes); the
size cap is shared by all pages together, and :data:`~transforms.ingest.read.limits.MAX_PAGES` bounds a
server that never says "last page". The walk stops at an empty page, when ``total_path``'s record count
is reached or at ``maximum_page``/``maximum_offset``; anything that would make the list silently shorter
or longer fails the source instead, naming the page URL: a failing page, a page that is not JSON, a
total that changes mid-walk (the list was being edited), an empty page before the total is reached, a
page identical to the one before (the server ignores the page parameter).

The stored body is a JSON array of the pages' text as received (``[page1, page2, …]``), so the audit
copy keeps every byte that matters (duplicate keys, ``NaN``) and the reader takes records in page order,
then position: a record's ``row_no`` is its place in the whole walk, the same on every run.

No conditional requests: a page's ETag says nothing about the pages after it, and a walk of a changed
list must not be mixed with stored pages of the old one. The whole walk is repeated on every run (and on
a retry); an unchanged result is still recognised by its sha256 and taken from the run cache.
"""

from __future__ import annotations

import hashlib
import json
import time

import httpx

from transforms.ingest.fetch import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_S, Fetched, FetchError, FetchTooLarge, fetch
from transforms.ingest.manifest import Paginator
from transforms.ingest.read.jsonfile import json_kind, page_records, select_path
from transforms.ingest.read.limits import MAX_PAGES
from transforms.ingest.read.table import SourceReadError


class PageError(FetchError):
    """A page that was fetched but cannot be part of the walk (not JSON, no records where expected)."""


class TotalChanged(FetchError):
    """The record count changed during the walk: the list was being edited, a later walk may be whole."""

    transient = True


def page_params(paginator: Paginator, index: int) -> dict[str, int] | None:
    """The query parameters of the ``index``-th page (0-based), or None past ``maximum_page``/``maximum_offset``."""
    if paginator.type == "page_number":
        page = paginator.base_page + index
        if paginator.maximum_page is not None and page > paginator.maximum_page:
            return None
        params = {paginator.page_param: page}
        if paginator.page_size_param is not None and paginator.page_size is not None:
            params[paginator.page_size_param] = paginator.page_size
        return params
    assert paginator.limit is not None  # checked by the manifest
    offset = paginator.offset + index * paginator.limit
    if paginator.maximum_offset is not None and offset > paginator.maximum_offset:
        return None
    return {paginator.offset_param: offset, paginator.limit_param: paginator.limit}


def page_url(url: str, params: dict[str, int]) -> str:
    """``url`` with the page parameters set (replacing any of the same name, keeping the others)."""
    return str(httpx.URL(url).copy_merge_params(params))


def fetch_pages(
    url: str,
    paginator: Paginator,
    data_selector: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = MAX_PAGES,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """Fetch every page of ``url``; the returned body is the array of pages (see the module docstring).

    Raises :class:`FetchError` subclasses; the page's own errors (HTTP status, timeout, cut body) keep
    their class, so a retry is attempted exactly when one would be for a single file.
    """
    start = time.monotonic()
    texts: list[str] = []
    previous: bytes | None = None
    total: int | None = None
    count = 0
    used = 0
    last_url = url
    for index in range(max_pages + 1):
        params = page_params(paginator, index)
        if params is None:
            break
        if index == max_pages:
            raise FetchError(url, f"more than {max_pages:,} pages; a list that long is a server that never ends")
        last_url = page_url(url, params)
        try:
            got = fetch(last_url, timeout=timeout, max_bytes=max_bytes - used, transport=transport)
        except FetchTooLarge as exc:
            raise FetchTooLarge(
                last_url,
                f"the pages together exceed the cap of {max_bytes} bytes: {used} bytes before page {index + 1}, "
                "and this page does not fit",
            ) from exc
        assert isinstance(got, Fetched)  # no validators are sent, so never a 304
        body = bytes(got.data)
        used += len(body)
        text, records, page_total = _parse_page(last_url, index, body, paginator, data_selector)
        if total is None:
            total = page_total
        elif page_total != total:
            raise TotalChanged(
                last_url,
                f"{paginator.total_path} changed during the walk, {total} at the first page and {page_total} at "
                f"page {index + 1}: the list was being edited; run again",
            )
        if not records:
            if total is not None and count < total:
                raise PageError(
                    last_url,
                    f"page {index + 1} is empty, but {paginator.total_path} says {total} records and only {count} came",
                )
            texts.append(text)
            break
        if body == previous:
            param = paginator.page_param if paginator.type == "page_number" else paginator.offset_param
            raise PageError(last_url, f"page {index + 1} is the same as page {index}: the server ignores {param!r}")
        previous = body
        texts.append(text)
        count += len(records)
        if total is not None and count >= total:
            break
    data = ("[\n" + ",\n".join(texts) + "\n]\n").encode("utf-8")
    return Fetched(
        url=url,
        final_url=last_url,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        status=200,
        etag=None,
        last_modified=None,
        content_type="application/json",
        seconds=round(time.monotonic() - start, 3),
        pages=len(texts),
    )


def _parse_page(
    url: str, index: int, body: bytes, paginator: Paginator, data_selector: str | None
) -> tuple[str, list, int | None]:
    """A page's text, its records and its total (None without ``total_path``); PageError when unusable."""
    try:
        text = body.decode(json.detect_encoding(body)).removeprefix("\ufeff")
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PageError(url, f"page {index + 1} is not JSON: {exc}") from None
    try:
        records = page_records(doc, data_selector)
    except SourceReadError as exc:
        raise PageError(url, f"page {index + 1}: {exc}") from None
    if paginator.total_path is None:
        return text, records, None
    try:
        value = select_path(doc, paginator.total_path)
    except LookupError as exc:
        raise PageError(url, f"page {index + 1}: total_path {paginator.total_path!r}: {exc}") from None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PageError(
            url, f"page {index + 1}: total_path {paginator.total_path!r} is {json_kind(value)} ({value!r}), not a count"
        )
    return text, records, value
