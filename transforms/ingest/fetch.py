"""Download one list file over HTTP(S): bounded in time and size, conditional, with errors that say why.

Government portals are slow, flaky and occasionally serve an HTML error page or half a file with a
``200``. This module does one request and classifies what went wrong; retrying is the caller's job
(the flow's ``fetch-source`` task uses Prefect task retries with exponential backoff) and it retries
only errors marked ``transient``: a ``404`` or a file over the size cap will not get better by asking
again, a ``503``, a timeout or a cut connection may.

No Prefect in here, so the rules can be tested against a plain ``http.server``.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from dataclasses import dataclass

import httpcore
import httpx

from transforms import __version__

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
USER_AGENT = f"powerlists/{__version__} (+https://github.com/; government power-list consolidation)"
# Statuses a retry can cure: request timeout, too early, too many requests, and every 5xx.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_CHUNK = 64 * 1024
# Only encodings decoded here, incrementally and within the cap (br/zstd would be decoded by httpx, whole).
_ACCEPT_ENCODING = "gzip, deflate"


class FetchError(Exception):
    """A download failed; ``transient`` says whether trying again later may succeed."""

    transient: bool = False

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class FetchTimeout(FetchError):
    """No response, or the body did not arrive, within the time allowed."""

    transient = True


class FetchConnectionError(FetchError):
    """The connection could not be opened or broke (DNS, refused, reset)."""

    transient = True


class FetchTruncated(FetchError):
    """The server closed the connection before sending the whole body (Content-Length not reached)."""

    transient = True


class FetchTooLarge(FetchError):
    """The body is over the size cap; a list file that big is a mistake or an attack, not a list."""


class FetchHTTPError(FetchError):
    """The server answered with an error status."""

    def __init__(self, url: str, status: int, reason: str) -> None:
        super().__init__(url, f"HTTP {status} {reason}".rstrip())
        self.status = status
        self.transient = status >= 500 or status in _TRANSIENT_STATUSES


@dataclass(frozen=True)
class Fetched:
    """A complete body and what the server said about it (kept for the next conditional request)."""

    url: str
    final_url: str
    data: bytes | bytearray  # the received buffer itself: a copy would double a 200 MB body
    sha256: str
    status: int
    etag: str | None
    last_modified: str | None
    content_type: str | None
    seconds: float
    pages: int = 1  # a paginated walk's body holds all its pages (``transforms.ingest.pages``)


@dataclass(frozen=True)
class NotModified:
    """``304``: the copy fetched last time (identified by the validators sent) is still current."""

    url: str
    etag: str | None
    last_modified: str | None
    seconds: float


def fetch(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
    etag: str | None = None,
    last_modified: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Fetched | NotModified:
    """GET ``url``; return the body, or :class:`NotModified` when the validators still match.

    ``timeout`` bounds every network wait *and* the whole download, headers included, so a server that
    trickles a byte a second cannot hold a run (``deadline_transport``). ``max_bytes`` is enforced on
    the Content-Length before reading and on the bytes actually received while streaming (the header
    may lie or be absent, and a compressed body may expand: it is inflated within the cap). A body
    shorter than its Content-Length is an error, never a silently shorter list. Raises :class:`FetchError` subclasses.
    """
    if not url.startswith(("http://", "https://")):
        raise FetchError(url, "only http(s) URLs can be fetched")
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": _ACCEPT_ENCODING}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    start = time.monotonic()
    deadline = start + timeout
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(timeout),
                follow_redirects=True,
                max_redirects=5,
                transport=transport or deadline_transport(deadline),
                trust_env=True,
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code == 304:
                return NotModified(
                    url,
                    response.headers.get("etag", etag),
                    response.headers.get("last-modified", last_modified),
                    round(time.monotonic() - start, 3),
                )
            if response.status_code >= 400:
                raise FetchHTTPError(url, response.status_code, response.reason_phrase)
            if response.status_code != 200:
                raise FetchHTTPError(url, response.status_code, f"{response.reason_phrase} (expected 200)")
            declared = _content_length(response)
            if declared is not None and declared > max_bytes:
                raise FetchTooLarge(url, f"Content-Length {declared} bytes is over the cap of {max_bytes} bytes")
            body = _read_body(url, response, max_bytes)
            received = response.num_bytes_downloaded
            if declared is not None and received != declared:
                raise FetchTruncated(url, f"body cut short: got {received} of {declared} bytes (Content-Length)")
            return Fetched(
                url=url,
                final_url=str(response.url),
                data=body,
                sha256=hashlib.sha256(body).hexdigest(),
                status=response.status_code,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                content_type=response.headers.get("content-type"),
                seconds=round(time.monotonic() - start, 3),
            )
    except FetchError:
        raise
    except httpx.TimeoutException as exc:
        spent = time.monotonic() - start
        raise FetchTimeout(url, f"not answered and downloaded within {timeout:g} s ({spent:.1f} s spent)") from exc
    except httpx.RemoteProtocolError as exc:
        # h11 reports a body shorter than its Content-Length as a protocol error when the peer closes.
        raise FetchTruncated(url, f"connection closed before the body was complete: {exc}") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(url, f"too many redirects: {exc}") from exc
    except httpx.UnsupportedProtocol as exc:  # a redirect to file://, ftp://…: refused, not retried
        raise FetchError(url, f"redirected to a URL that is not http(s): {exc}") from exc
    except httpx.TransportError as exc:
        raise FetchConnectionError(url, f"{type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise FetchError(url, f"invalid URL: {exc}") from exc


def _read_body(url: str, response: httpx.Response, max_bytes: int) -> bytearray:
    """The decoded body, never more than ``max_bytes`` + one chunk in memory.

    Compressed bytes are read raw and inflated here with an output limit per step, so a gzip bomb
    (1 MB on the wire, 1 GiB inflated) stops at the cap instead of handing over whole inflated chunks.
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    elif encoding in ("identity", ""):
        inflater = None
    else:
        raise FetchError(url, f"Content-Encoding {encoding!r} was not asked for ({_ACCEPT_ENCODING})")
    body = bytearray()
    for raw in response.iter_raw(_CHUNK):
        if inflater is None:
            body += raw
        else:
            pending = raw
            while pending and len(body) <= max_bytes:
                body += inflater.decompress(pending, min(_CHUNK, max_bytes + 1 - len(body)))
                pending = inflater.unconsumed_tail
        if len(body) > max_bytes:
            raise FetchTooLarge(url, f"body exceeds the cap of {max_bytes} bytes; download stopped")
    if inflater is not None:
        try:
            body += inflater.flush()
        except zlib.error as exc:
            raise FetchTruncated(url, f"compressed body incomplete: {exc}") from exc
        if not inflater.eof:
            raise FetchTruncated(url, "compressed body incomplete: the stream did not end")
    return body


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most until the download's deadline.

    httpx's timeouts bound each wait; a server that sends a byte a second never trips them (headers
    included), so the whole download's deadline is enforced here, at the socket, whatever the chunking.
    """

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _left(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the download's deadline has passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, self._left(timeout)), self._deadline
        )

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: float) -> None:
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        left = max(0.001, self._deadline - time.monotonic())
        timeout = left if timeout is None else min(timeout, left)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def deadline_transport(deadline: float) -> httpx.HTTPTransport:
    """httpx's own transport, its connections bounded by ``deadline`` (``time.monotonic()`` seconds).

    httpx takes no network backend; its pool does (``httpcore.ConnectionPool(network_backend=…)``), so the
    pool's backend is replaced. ``tests/test_fetch.py``'s drip servers fail if that stops working.
    """
    transport = httpx.HTTPTransport()
    transport._pool._network_backend = _DeadlineBackend(deadline)
    return transport


def _content_length(response: httpx.Response) -> int | None:
    """The declared length of the bytes on the wire, or None when absent or unusable."""
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
