"""HTTP sources against a real ``http.server`` on 127.0.0.1 with injected faults.

The server is a plain ThreadingHTTPServer in a thread; each path has a behaviour (serve a body with
an ETag, fail N times, hang, cut the body short, send too much). The unit tests exercise
``transforms.ingest.fetch``; the task tests check Prefect's retries; the flow tests check that a changed
body is re-ingested, an unchanged one is answered 304 and reused, and a dead URL fails only its source.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO
from transforms.ingest.fetch import (
    Fetched,
    FetchError,
    FetchHTTPError,
    FetchTimeout,
    FetchTooLarge,
    FetchTruncated,
    NotModified,
    fetch,
)

SAMPLE_CSV = REPO / "data" / "sample" / "sichuan" / "512000_ziyang_city.csv"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    fail_first: int = 0  # answer 500 to this many requests first
    hang_s: float = 0.0  # wait this long before answering
    declared_length: int | None = None  # Content-Length to send (None: the true length; -1: omit)
    etag: bool = True
    drip_s: float = 0.0  # send the response a byte at a time, this many seconds apart
    drip_headers: bool = False  # …its status line and headers too, not only the body
    encoding: str | None = None  # Content-Encoding sent with the body as given (already compressed)
    location: str | None = None  # answer 302 to this Location
    requests: list[dict[str, str]] = field(default_factory=list)


class Server:
    """Routes by path; a route can be changed between requests (the body of a list changes)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                route.requests.append(dict(self.headers.items()))
                if route.hang_s:
                    server.stop.wait(route.hang_s)
                if len(route.requests) <= route.fail_first:
                    self.send_error(500, "Internal Server Error")
                    return
                if route.location is not None:
                    self.send_response(302)
                    self.send_header("Location", route.location)
                    self.end_headers()
                    return
                if route.drip_s:
                    self._drip(route)
                    return
                if route.status != 200:
                    self.send_error(route.status)
                    return
                tag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
                if route.etag and self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                if route.encoding:
                    self.send_header("Content-Encoding", route.encoding)
                if route.etag:
                    self.send_header("ETag", tag)
                    self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
                length = len(route.body) if route.declared_length is None else route.declared_length
                if length >= 0:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)
                self.close_connection = True

            def _drip(self, route: Route) -> None:
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(route.body)}\r\n\r\n".encode()
                sent = b"" if route.drip_headers else head
                self.wfile.write(sent)
                self.wfile.flush()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    for byte in (head[len(sent) :] + route.body)[:2000]:
                        if server.stop.wait(route.drip_s):
                            break
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


# --- transforms.ingest.fetch -------------------------------------------------------------------------


def test_fetch_returns_body_hash_and_validators(server: Server) -> None:
    server.routes["/list.csv"] = Route(body=SAMPLE_CSV.read_bytes())
    result = fetch(server.url("/list.csv"), timeout=5)
    assert isinstance(result, Fetched)
    assert result.data == SAMPLE_CSV.read_bytes()
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()
    assert result.etag and result.last_modified
    assert server.routes["/list.csv"].requests[0]["User-Agent"].startswith("powerlists/")


def test_unchanged_body_with_etag_is_not_modified_and_changed_body_is_fetched(server: Server) -> None:
    route = server.routes["/list.csv"] = Route(body=b"a,b\n1,2\n")
    first = fetch(server.url("/list.csv"), timeout=5)
    assert isinstance(first, Fetched)
    again = fetch(server.url("/list.csv"), timeout=5, etag=first.etag, last_modified=first.last_modified)
    assert isinstance(again, NotModified) and again.etag == first.etag
    assert route.requests[1]["If-None-Match"] == first.etag
    route.body = b"a,b\n1,2\n3,4\n"
    changed = fetch(server.url("/list.csv"), timeout=5, etag=first.etag)
    assert isinstance(changed, Fetched) and changed.data == route.body and changed.etag != first.etag


def test_hang_times_out(server: Server) -> None:
    server.routes["/hang.csv"] = Route(body=b"x", hang_s=10)
    start = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"within 0\.5 s") as info:
        fetch(server.url("/hang.csv"), timeout=0.5)
    assert time.monotonic() - start < 5
    assert info.value.transient


def test_truncated_body_is_an_error_not_a_shorter_list(server: Server) -> None:
    server.routes["/cut.csv"] = Route(body=b"a,b\n" * 25, declared_length=1000)
    with pytest.raises(FetchTruncated, match=r"/cut.csv: .*(100 of 1000 bytes|connection closed)") as info:
        fetch(server.url("/cut.csv"), timeout=5)
    assert info.value.transient


def test_size_cap_from_header_and_while_streaming(server: Server) -> None:
    server.routes["/big.csv"] = Route(body=b"x" * 5000)
    with pytest.raises(FetchTooLarge, match="Content-Length 5000 bytes is over the cap of 1000"):
        fetch(server.url("/big.csv"), timeout=5, max_bytes=1000)
    server.routes["/big-undeclared.csv"] = Route(body=b"x" * 300_000, declared_length=-1)
    with pytest.raises(FetchTooLarge, match="exceeds the cap of 100000 bytes") as info:
        fetch(server.url("/big-undeclared.csv"), timeout=5, max_bytes=100_000)
    assert not info.value.transient


def test_http_errors_say_whether_a_retry_can_help(server: Server) -> None:
    with pytest.raises(FetchHTTPError, match="HTTP 404") as missing:
        fetch(server.url("/nope.csv"), timeout=5)
    assert not missing.value.transient
    server.routes["/down.csv"] = Route(status=503)
    with pytest.raises(FetchHTTPError, match="HTTP 503") as down:
        fetch(server.url("/down.csv"), timeout=5)
    assert down.value.transient


def test_connection_refused_is_transient() -> None:
    from transforms.ingest.fetch import FetchConnectionError

    with Server() as s:
        url = s.url("/x.csv")
    with pytest.raises(FetchConnectionError) as info:
        fetch(url, timeout=2)
    assert info.value.transient


# --- the Prefect task: retries with backoff ---------------------------------------------------


def _spec(url: str, sid: str = "web-list"):
    from transforms.ingest.manifest import SourceSpec

    return SourceSpec(id=sid, jurisdiction="512000", url=url, format="csv")


def test_task_retries_500s_then_succeeds(prefect_api, server: Server, tmp_path: Path) -> None:
    from prefect.tasks import exponential_backoff

    from flows.fetch import fetch_source

    route = server.routes["/flaky.csv"] = Route(body=SAMPLE_CSV.read_bytes(), fail_first=2)
    fast = fetch_source.with_options(retry_delay_seconds=exponential_backoff(backoff_factor=0.05))
    outcome = fast(_spec(server.url("/flaky.csv")), str(tmp_path), None, 5.0, 10_000_000)
    assert len(route.requests) == 3
    assert outcome.status == "fetched" and outcome.attempts == 3
    assert (tmp_path / outcome.sha256).read_bytes() == SAMPLE_CSV.read_bytes()


def test_task_does_not_retry_a_404(prefect_api, server: Server, tmp_path: Path) -> None:
    from prefect.tasks import exponential_backoff

    from flows.fetch import fetch_source

    route = server.routes["/gone.csv"] = Route(status=404)
    fast = fetch_source.with_options(retry_delay_seconds=exponential_backoff(backoff_factor=0.05))
    with pytest.raises(FetchHTTPError, match="404"):
        fast(_spec(server.url("/gone.csv")), str(tmp_path), None, 5.0, 10_000_000)
    assert len(route.requests) == 1


def test_task_gives_up_after_three_retries(prefect_api, server: Server, tmp_path: Path) -> None:
    from prefect.tasks import exponential_backoff

    from flows.fetch import fetch_source

    route = server.routes["/dead.csv"] = Route(status=500)
    fast = fetch_source.with_options(retry_delay_seconds=exponential_backoff(backoff_factor=0.02))
    with pytest.raises(FetchHTTPError, match="500"):
        fast(_spec(server.url("/dead.csv")), str(tmp_path), None, 5.0, 10_000_000)
    assert len(route.requests) == 4


# --- the flow: re-ingest on change, 304 reuse, a dead URL fails only its source ---------------


def _manifest(folder: Path, url: str) -> Path:
    (folder / "local.csv").write_bytes(SAMPLE_CSV.read_bytes())
    manifest = folder / "sources.toml"
    manifest.write_text(
        '[run]\nname = "http-test"\n\n'
        f'[[source]]\nid = "web-512000"\njurisdiction = "512000"\nurl = "{url}"\n\n'
        '[[source]]\nid = "local-510000"\njurisdiction = "510000"\npath = "local.csv"\n',
        encoding="utf-8",
    )
    return manifest


def _inputs(out: Path) -> dict[str, dict]:
    return {i["id"]: i for i in json.loads((out / "run.json").read_text(encoding="utf-8"))["inputs"]}


@pytest.mark.slow
def test_flow_reingests_changed_body_and_reuses_unchanged(prefect_api, server: Server, tmp_path: Path) -> None:
    from prefect.exceptions import FailedRun

    from flows.pipeline import powerlists_run

    body = SAMPLE_CSV.read_bytes()
    route = server.routes["/ziyang.csv"] = Route(body=body)
    manifest = _manifest(tmp_path, server.url("/ziyang.csv"))
    out = tmp_path / "out"
    run = lambda: powerlists_run(manifest=str(manifest), out=str(out), fetch_retry_delay_s=0.05)  # noqa: E731

    run()
    first = _inputs(out)["web-512000"]
    assert first["fetch"]["status"] == "fetched" and not first["cached"] and first["rows_read"] > 0
    stored = out / first["fetch"]["stored"]
    assert stored.read_bytes() == body and stored.name == hashlib.sha256(body).hexdigest()

    run()
    second = _inputs(out)["web-512000"]
    assert route.requests[-1]["If-None-Match"] == first["fetch"]["etag"]
    assert second["fetch"]["status"] == "not_modified" and second["cached"]
    assert second["sha256"] == first["sha256"] and second["items"] == first["items"]
    assert (out / first["fetch"]["stored"]).exists(), "the audit copy survives the swap"

    lines = body.decode("utf-8").splitlines(keepends=True)
    route.body = "".join(lines[:-1]).encode("utf-8")  # the portal drops its last row
    run()
    third = _inputs(out)["web-512000"]
    assert third["fetch"]["status"] == "fetched" and not third["cached"]
    assert third["sha256"] != first["sha256"] and third["rows_read"] == first["rows_read"] - 1
    assert _inputs(out)["local-510000"]["cached"], "the unchanged local source is still reused"
    log = [json.loads(x) for x in (out / "downloads" / "fetches.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["status"] for e in log] == ["fetched", "not_modified", "fetched"]
    assert {(out / "downloads" / e["sha256"]).exists() for e in log} == {True}

    route.status = 500  # the portal goes down: retries, then that source fails and the run fails
    with pytest.raises(FailedRun, match="web-512000"):
        run()
    failed = _inputs(out)
    assert "HTTP 500" in failed["web-512000"]["error"] and failed["web-512000"]["fetch"]["status"] == "failed"
    assert failed["local-510000"]["error"] is None and failed["local-510000"]["items"] > 0
    findings = pq.read_table(out / "findings.parquet").to_pylist()
    (source_failed,) = [f for f in findings if f["kind"] == "source_failed"]
    assert source_failed["severity"] == "error" and "web-512000" in source_failed["message"]
    assert "HTTP 500" in source_failed["message"]


@pytest.mark.parametrize("headers", [False, True], ids=["body-drip", "header-drip"])
def test_a_server_dripping_a_byte_a_second_is_stopped_at_the_deadline(server: Server, headers: bool) -> None:
    """The whole download's deadline holds whatever the chunking: it held 40 s (body) / 17 s (headers) at 3 s."""
    server.routes["/drip.csv"] = Route(body=b"a,b\n" * 500, drip_s=0.2, drip_headers=headers)
    start = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"within 1 s") as info:
        fetch(server.url("/drip.csv"), timeout=1)
    assert time.monotonic() - start < 2.5
    assert info.value.transient


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_past_it(server: Server) -> None:
    import gzip
    import tracemalloc

    bomb = gzip.compress(b"0" * (256 * 1024 * 1024), compresslevel=9)  # 256 MiB in ~250 kB
    assert len(bomb) < 1024 * 1024
    server.routes["/bomb.csv"] = Route(body=bomb, encoding="gzip")
    cap = 8 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(FetchTooLarge, match="exceeds the cap"):
            fetch(server.url("/bomb.csv"), max_bytes=cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < cap + 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {cap / 2**20:.0f} MiB cap"


def test_a_gzip_body_is_inflated_exactly(server: Server) -> None:
    import gzip

    body = "事项名称,权力类型\n食品经营许可,行政许可\n".encode() * 2000
    server.routes["/list.csv"] = Route(body=gzip.compress(body), encoding="gzip")
    result = fetch(server.url("/list.csv"))
    assert isinstance(result, Fetched) and bytes(result.data) == body
    assert result.sha256 == hashlib.sha256(body).hexdigest()


def test_a_redirect_to_a_file_url_is_refused_at_once(server: Server) -> None:
    server.routes["/moved.csv"] = Route(location="file:///etc/passwd")
    with pytest.raises(FetchError, match="not http") as info:
        fetch(server.url("/moved.csv"))
    assert not info.value.transient, "retrying a redirect to file:// cannot help"
