"""Hardening: oversized and explosive inputs are refused with bounded memory.

Each case runs in a fresh Python process and its peak resident memory is taken from the kernel
(``os.wait4`` returns the child's own ``ru_maxrss``), compared with a baseline child that imports the
same modules and reads a tiny list. The stated caps are *above that baseline*:

========================================================  ==================  ==========================
input                                                      refused by          extra peak RSS allowed
========================================================  ==================  ==========================
500 MB CSV file, one line                                  file size cap       64 MB (nothing is read)
190 MB CSV, one line (under the size cap)                  line-length cap     190 MB + 96 MB (the bytes,
                                                                                never decoded or parsed)
xlsx declaring 1 GiB unpacked (a real deflate bomb, ~1 MB)  zip directory       64 MB
xlsx with one value at XFD1048576 (5 KB)                   — (read, 2 rows)    64 MB (was 8 GB, 224 s)
HTTP body without Content-Length, endless                  download size cap   2 × cap + 64 MB
========================================================  ==================  ==========================

The numbers measured on the development machine are in the README's Reliability section.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
IMPORTS = "import io, sys, zipfile\nfrom transforms.ingest.read import SourceReadError, read_rows, read_source_file\n"


def peak_rss(code: str, timeout: float = 300) -> tuple[int, str, float]:
    """(exit code, output, peak RSS in MB) of ``code`` run in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORTS + textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        output = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, output, usage.ru_maxrss / 1024  # Linux reports kilobytes


@pytest.fixture(scope="module")
def baseline() -> float:
    code = """
        from openpyxl import load_workbook  # the xlsx cases import it too
        import transforms.ingest.fetch
        frame, _ = read_rows("事项名称,权力类型\\n食品经营许可,行政许可\\n".encode(), source_id="t", fmt="csv")
        print(len(frame))
    """
    rc, out, rss = peak_rss(code)
    assert rc == 0 and out.strip() == "1", out
    return rss


def expect_refused(code: str, match: str) -> float:
    rc, out, rss = peak_rss(code)
    assert rc == 0, out
    assert "REFUSED" in out and match in out, out
    return rss


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("big")
    yield folder
    for file in folder.iterdir():
        file.unlink()


def _one_line_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.write("事项名称,权力类型\n".encode())
        chunk = b"x" * MB
        for _ in range(size // MB):
            handle.write(chunk)
        handle.write(b"\n")


@pytest.mark.slow
def test_a_500_mb_csv_is_refused_by_its_size_without_reading_it(baseline: float, big_dir: Path) -> None:
    path = big_dir / "huge.csv"
    _one_line_file(path, 500 * MB)
    rss = expect_refused(
        f"""
        try:
            read_source_file({str(path)!r})
        except SourceReadError as exc:
            print("REFUSED", exc)
        """,
        "over the limit of 209,715,200 bytes",
    )
    path.unlink()
    print(f"500 MB file: peak {rss:.0f} MB, baseline {baseline:.0f} MB")
    assert rss < baseline + 64


@pytest.mark.slow
def test_a_190_mb_line_is_refused_before_it_is_decoded(baseline: float, big_dir: Path) -> None:
    path = big_dir / "line.csv"
    _one_line_file(path, 190 * MB)
    rss = expect_refused(
        f"""
        data = read_source_file({str(path)!r})
        try:
            read_rows(data, source_id="t", fmt="csv")
        except SourceReadError as exc:
            print("REFUSED", exc)
        """,
        "line 2 is 199,229,44",
    )
    path.unlink()
    print(f"190 MB line: peak {rss:.0f} MB, baseline {baseline:.0f} MB")
    assert rss < baseline + 190 + 96


def _deflate_bomb(unpacked: int) -> bytes:
    """A real xlsx-shaped zip whose sheet inflates to ``unpacked`` bytes (~1 MB per GiB compressed).

    ``ZipFile.open(..., "w")`` deflates as it goes, so the bomb is built without holding what it unpacks to.
    """
    import io
    import zipfile

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["事项名称", "权力类型"])
    small = io.BytesIO()
    wb.save(small)
    out = io.BytesIO()
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info))
        member = zipfile.ZipInfo("xl/worksheets/sheet1.xml")
        member.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(member, "w", force_zip64=True) as sheet:
            chunk = b" " * MB
            for _ in range(unpacked // MB):
                sheet.write(chunk)
    return out.getvalue()


@pytest.mark.slow
def test_a_zip_bomb_workbook_is_refused_from_its_directory(baseline: float, big_dir: Path) -> None:
    path = big_dir / "bomb.xlsx"
    path.write_bytes(_deflate_bomb(1024 * MB))
    assert path.stat().st_size < 5 * MB
    rss = expect_refused(
        f"""
        data = read_source_file({str(path)!r})
        try:
            read_rows(data, source_id="t", fmt="xlsx")
        except SourceReadError as exc:
            print("REFUSED", exc)
        """,
        "possible zip bomb",
    )
    print(f"1 GiB zip bomb: peak {rss:.0f} MB, baseline {baseline:.0f} MB")
    assert rss < baseline + 64


@pytest.mark.slow
def test_a_stray_cell_at_the_sheet_edge_costs_no_memory(baseline: float) -> None:
    rc, out, rss = peak_rss(
        """
        from openpyxl import Workbook
        wb = Workbook()
        ws = wb.active
        ws.append(["事项名称", "权力类型"])
        ws.append(["食品经营许可", "行政许可"])
        ws["XFD1048576"] = "x"
        buffer = io.BytesIO()
        wb.save(buffer)
        frame, _ = read_rows(buffer.getvalue(), source_id="t", fmt="xlsx")
        print("ROWS", len(frame))
        """
    )
    assert rc == 0 and "ROWS 2" in out, out
    print(f"stray cell at XFD1048576: peak {rss:.0f} MB, baseline {baseline:.0f} MB")
    assert rss < baseline + 64


class _EndlessHandler(http.server.BaseHTTPRequestHandler):
    """``/endless``: a body with no Content-Length that never ends; ``/declared``: one that says 1 GB."""

    def do_GET(self) -> None:
        if self.path == "/declared":
            self.send_response(200)
            self.send_header("Content-Length", str(1024 * MB))
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        chunk = b"x" * (256 * 1024)
        try:
            while True:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def endless_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EndlessHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/endless", "/declared"])
def test_a_download_over_the_size_cap_is_stopped(baseline: float, endless_server: str, path: str) -> None:
    cap = 32 * MB
    rss = expect_refused(
        f"""
        from transforms.ingest.fetch import FetchTooLarge, fetch
        try:
            fetch({endless_server + path!r}, timeout=60, max_bytes={cap})
        except FetchTooLarge as exc:
            print("REFUSED", exc, "transient" if exc.transient else "final")
        """,
        "cap of 33554432 bytes",
    )
    print(f"download {path}: peak {rss:.0f} MB, baseline {baseline:.0f} MB")
    assert rss < baseline + 2 * cap / MB + 64


def test_an_entity_bomb_in_a_workbook_is_refused_not_expanded() -> None:
    """Billion laughs in a sheet: openpyxl parses with defusedxml (installed with the project), so the
    entities are refused instead of expanded; the xlsx fast path already hands any DOCTYPE to openpyxl."""
    import io
    import zipfile

    import openpyxl.xml
    from openpyxl import Workbook

    from transforms.ingest.read import SourceReadError, read_rows

    assert openpyxl.xml.DEFUSEDXML, "defusedxml is not installed: openpyxl would expand entities"
    wb = Workbook()
    wb.active.append(["事项名称", "权力类型"])
    wb.active.append(["LAUGHS", "行政许可"])
    plain = io.BytesIO()
    wb.save(plain)
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    sheet = "xl/worksheets/sheet1.xml"
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == sheet:
                assert b"LAUGHS" in data
                data = f'<?xml version="1.0"?><!DOCTYPE worksheet [{laughs}]>'.encode() + data.replace(
                    b"LAUGHS", b"&l9;"
                )
            dst.writestr(item, data)
    with pytest.raises(SourceReadError):
        read_rows(out.getvalue(), source_id="t", fmt="xlsx")
