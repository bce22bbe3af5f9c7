"""Hardening: whole CLI runs killed, run twice at once, fed a hostile corpus, audited.

Every run here is the real command line (``python -m flows run``) in a subprocess, against one real
Prefect server started for this module (its own PREFECT_HOME, stopped at the end), so the ~25 s
start of an ephemeral server is paid once. Nothing in the production code knows it is being tested:
runs are killed with SIGKILL when the staging folder shows a stage's files (no hooks) or after a
seeded random delay.

* crash safety: after every kill the output folder still holds exactly the previous output's Parquet
  bytes (or, if the kill came after the swap, exactly the new one's — never a mix), readable; the next
  run succeeds, removes the leftover staging folders and writes the same bytes as a run that was never
  interrupted from the same starting point (the changes table compares with the output it replaces,
  so "the same starting point" matters);
* concurrency: of two runs started together on one folder, one exits 2 with "another powerlists run
  is writing …" while the other is still running, and the folder ends as one run's output;
* untrusted text: a hostile corpus (<script>, entities, =HYPERLINK, broken encodings, a zip bomb, a
  stray far cell, lone surrogates, a source id like ../escape, a URL with ../ in it) ends as items,
  quarantined rows or failed sources; Data Docs and report.html hold no live markup from the data
  (checked in headless chromium too); no file is written outside OUT but its lock and staging siblings;
* audit: for the sample and the corpus, every list file's rows counted independently (csv, json,
  openpyxl) equal run.json's rows read = items + quarantined, which equal the Parquet tables and the
  numbers in report.html.
"""

from __future__ import annotations

import csv
import hashlib
import html.parser
import http.server
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook, load_workbook

from synthetic.generate import generate_tree
from tests.conftest import SAMPLE_MANIFEST
from tests.prefect_server import prefect_server
from transforms.publish.report import chromium_command, find_chromium, page_url

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BLANK = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
LOCKED = "another powerlists run is writing"
GX_ASSETS = "https://great-expectations-web-assets."  # the only images Data Docs may show: GX's logo
csv.field_size_limit(2**31 - 1)  # the audit counts rows with 1 MB cells


# ---- one Prefect server for the module -------------------------------------------------------------------


@pytest.fixture(scope="module")
def prefect_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for CLI subprocesses: a real ``prefect server start`` of our own, stopped at the end."""
    with prefect_server(tmp_path_factory.mktemp("prefect-home"), PYTHONPATH=str(REPO)) as server:
        yield server.env


def run_cmd(manifest: Path, out: Path, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "flows", "run", "--manifest", str(manifest), "--out", str(out)]


def cli(manifest: Path, out: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        run_cmd(manifest, out, env), env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


# ---- reading output folders -------------------------------------------------------------------------------


def parquet_bytes(out: Path) -> dict[str, bytes]:
    """Every table file of an output (the run's cache is internal and left out)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*.parquet"))
        if ".cache" not in p.relative_to(out).parts
    }


def assert_readable(out: Path) -> None:
    for path in out.rglob("*.parquet"):
        if ".cache" not in path.relative_to(out).parts:
            pq.read_table(path)
    json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert (out / "report.html").is_file()


def siblings(out: Path, kind: str) -> list[Path]:
    return sorted(p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.{kind}"))


def copy_output(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)


# ---- watching a run -----------------------------------------------------------------------------------------

# Stage markers as they appear in the staging folder, in run order (see flows/pipeline.py).
STAGES: list[tuple[str, Callable[[Path], bool]]] = [
    ("reading", lambda staging: True),  # the staging folder exists: fetch and read
    ("validating", lambda staging: (staging / "validation").exists()),  # GX is writing Data Docs
    ("matching", lambda staging: (staging / "validation" / "results").exists()),  # a scope's GX result is in
    ("writing", lambda staging: (staging / "items").exists()),
    ("reporting", lambda staging: (staging / "run.json").exists()),
    ("before swap", lambda staging: (staging / "views.sql").exists()),
]


@dataclass
class Watched:
    returncode: int | None
    killed_at: str | None
    seconds: float
    events: dict[str, float] = field(default_factory=dict)
    stderr: str = ""


def watch_run(
    manifest: Path,
    out: Path,
    env: dict[str, str],
    kill_at: str | None = None,
    kill_after: float | None = None,
) -> Watched:
    """Run the CLI, record when each stage marker appears; SIGKILL it at a marker or after a delay."""
    before = {p.name for p in siblings(out, "staging-")}
    start = time.monotonic()
    proc = subprocess.Popen(
        run_cmd(manifest, out, env),
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read() if proc.stderr else ""), daemon=True)
    reader.start()
    events: dict[str, float] = {}
    killed_at = None
    while proc.poll() is None:
        now = time.monotonic() - start
        fresh = [p for p in siblings(out, "staging-") if p.name not in before]
        for staging in fresh:
            for name, present in STAGES:
                if name not in events and present(staging):
                    events[name] = now
        hit = kill_at is not None and kill_at in events
        late = kill_after is not None and now >= kill_after
        if hit or late:
            os.killpg(proc.pid, signal.SIGKILL)
            killed_at = kill_at if hit else f"{now:.2f} s"
            proc.wait()
            break
        if now > 300:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("run did not finish in 300 s")
        time.sleep(0.002)
    reader.join(timeout=10)
    return Watched(proc.returncode if killed_at is None else None, killed_at, time.monotonic() - start, events,
                   "".join(stderr))  # fmt: skip


# ---- the sample: a previous output, and the uninterrupted reference --------------------------------------


@pytest.fixture(scope="module")
def subset_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's first four sources: its output is the 'previous output' every crash must leave alone."""
    text = SAMPLE_MANIFEST.read_text(encoding="utf-8")
    head, *sources = text.split("[[source]]")
    folder = tmp_path_factory.mktemp("subset")
    body = head + "".join("[[source]]" + s for s in sources[:4])
    body = re.sub(r'path = "([^"]+)"', lambda m: f'path = "{(SAMPLE_MANIFEST.parent / m.group(1)).as_posix()}"', body)
    path = folder / "sources.toml"
    path.write_text(body, encoding="utf-8")
    assert len(tomllib.loads(body)["source"]) == 4
    return path


@dataclass
class Reference:
    previous: Path  # output of the subset: the starting point
    after: Path  # the full sample run on top of it, uninterrupted
    watched: Watched


@pytest.fixture(scope="module")
def reference(
    prefect_env: dict[str, str], subset_manifest: Path, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    root = tmp_path_factory.mktemp("reference")
    previous = root / "previous"
    done = cli(subset_manifest, previous, prefect_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "temporary Prefect API" not in done.stdout  # PREFECT_API_URL is honoured: no server of its own
    after = root / "after"
    copy_output(previous, after)
    watched = watch_run(SAMPLE_MANIFEST, after, prefect_env)
    assert watched.returncode == 0, watched.stderr[-3000:]
    assert [name for name, _ in STAGES] == list(watched.events), watched.events
    assert parquet_bytes(previous) != parquet_bytes(after)
    return Reference(previous, after, watched)


# ---- §3 crash safety -------------------------------------------------------------------------------------


def test_sigkill_at_any_stage_leaves_the_previous_output_and_the_next_run_repairs(
    prefect_env: dict[str, str], reference: Reference, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    copy_output(reference.previous, out)
    previous, complete = parquet_bytes(reference.previous), parquet_bytes(reference.after)
    events = reference.watched.events
    rng = random.Random(10)
    plans: list[tuple[str | None, float | None]] = [(name, None) for name, _ in STAGES]
    plans += [(None, rng.uniform(events["reading"], events["before swap"])) for _ in range(1)]
    log = []
    for kill_at, kill_after in plans:
        watched = watch_run(SAMPLE_MANIFEST, out, prefect_env, kill_at=kill_at, kill_after=kill_after)
        assert watched.killed_at is not None, f"the run ended before {kill_at or kill_after}: {watched.stderr[-2000:]}"
        now = parquet_bytes(out)
        assert now in (previous, complete), f"killed at {watched.killed_at}: the output folder is neither run's"
        assert_readable(out)
        log.append((watched.killed_at, "new" if now == complete else "previous", len(siblings(out, "staging-"))))
        if now == complete:  # killed after the swap: start the next kill from the previous output again
            copy_output(reference.previous, out)
    print("kills (point, output found, staging folders left):", log)
    assert sum(1 for _, found, _ in log if found == "previous") >= len(STAGES), log
    assert any(left for _, _, left in log), "no kill left a staging folder behind: recovery was not exercised"

    done = cli(SAMPLE_MANIFEST, out, prefect_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert parquet_bytes(out) == complete, "the run after the crashes differs from an uninterrupted one"
    assert siblings(out, "staging-") == [] and siblings(out, "previous") == []
    assert_readable(out)


# ---- §4 concurrency ---------------------------------------------------------------------------------------


def test_two_runs_on_one_folder_one_fails_fast_never_interleaved(
    prefect_env: dict[str, str], reference: Reference, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    copy_output(reference.previous, out)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            run_cmd(SAMPLE_MANIFEST, out, prefect_env),
            env=prefect_env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ended: dict[int, float] = {}
    outputs: dict[int, tuple[str, str]] = {}

    def wait(i: int) -> None:
        outputs[i] = procs[i].communicate(timeout=300)
        ended[i] = time.monotonic() - started

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], [(p.returncode, outputs[i][1][-1500:]) for i, p in enumerate(procs)]
    loser = next(i for i, p in enumerate(procs) if p.returncode == 2)
    winner = 1 - loser
    # Prefect logs the failed flow run (with its traceback); the CLI's own word is its "powerlists:" line.
    said = [line for line in outputs[loser][1].splitlines() if line.startswith("powerlists:")]
    assert len(said) == 1 and said[0].startswith(f"powerlists: {LOCKED} {out}"), outputs[loser][1][-2000:]
    print(f"refused run ended after {ended[loser]:.1f} s, the other after {ended[winner]:.1f} s")
    assert ended[loser] < ended[winner], "the refused run did not overlap the other: the lock was not tested"
    assert parquet_bytes(out) == parquet_bytes(reference.after)
    assert siblings(out, "staging-") == []


# ---- §5 and §6: a hostile corpus, audited --------------------------------------------------------------------

SCRIPT = "<script>document.title='XSS'</script>食品经营许可"
IMG = "<img src=x onerror=\"document.title='XSS'\">"
ENTITY = "餐饮 &amp; 食品经营许可 &lt;b&gt;"
FORMULA = '=HYPERLINK("http://evil.example/","点此办理")'


class _ListHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def _hostile_csv() -> bytes:
    rows = [
        ["序号", "事项名称", "权力类型", "事项编码", "实施主体", "设定依据"],
        ["1", SCRIPT, "行政许可", "640105-A1", "市场监管局", "《食品安全法》"],
        ["2", ENTITY, "行政许可", IMG, "市场监管局", ""],
        ["3", FORMULA, "行政处罚", "640105-A3", "城管局", ""],
        ["4", "<b>" + "超长名称" * 100 + "</b>", "行政许可", "640105-A4", "局", ""],
        ["5", "许" * 1_000_000, "行政许可", "640105-A5", "局", ""],
        ["6", "对违法排污的处罚", "行政处罚"],  # ragged
        [""] * 6,  # blank: not a row
        ["合计", "", "", "", "", ""],
        ["7", "正常的行政许可事项", "行政许可", "640105-A7", "局", "", "多出来的一格"],
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("gb18030")


def _hostile_xlsx() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "权力清单"
    ws.append(["宁夏回族自治区某区权力清单"])
    ws.merge_cells("A1:E1")
    ws.append(["序号", "事项名称", "权力类型", "实施主体", "设定依据", None])
    ws.merge_cells("E2:F2")
    ws.append([1, FORMULA, "行政许可", "局", "《条例》"])
    ws.append([2, SCRIPT, "行政许可", "局", None])
    ws["B4"].value = SCRIPT
    ws.append([3, "公共场所卫生许可", "行政许可", "局", None])
    ws["E5"] = 45473
    ws["E5"].number_format = "yyyy-mm-dd"
    ws.append([4, "=1+1", "行政许可", "局", None])
    ws["XFD1048576"] = "x"  # stray far cell: one more (quarantined) row, not minutes and gigabytes
    hidden = wb.create_sheet("隐藏")
    hidden.sheet_state = "hidden"
    hidden.append(["序号", "事项名称", "权力类型"])
    hidden.append([1, "隐藏表里的事项", "行政许可"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        member = zipfile.ZipInfo("xl/worksheets/sheet1.xml")
        member.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(member, "w", force_zip64=True) as sheet:
            chunk = b" " * (1024 * 1024)
            for _ in range(300):
                sheet.write(chunk)
    return buffer.getvalue()


@dataclass
class Corpus:
    manifest: Path
    out: Path
    done: subprocess.CompletedProcess
    inputs_before: dict[str, str]
    parent_before: set[str]


def _hashes(folder: Path) -> dict[str, str]:
    files = (p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def corpus(prefect_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    """A small synthetic tree with 5 % bad rows plus hostile files, run once through the CLI."""
    root = tmp_path_factory.mktemp("corpus")
    tree = root / "lists"
    generate_tree(tree, province_codes=["640000"], items_per_list=30, counties_per_city=1, bad_row_share=0.05, seed=7)
    hostile = tree / "hostile"
    hostile.mkdir()
    (hostile / "hostile.csv").write_bytes(_hostile_csv())
    (hostile / "odd.xlsx").write_bytes(_hostile_xlsx())
    (hostile / "surrogate.json").write_text(
        '[{"序号": 1, "事项名称": "食品\\ud800许可", "权力类型": "行政许可", "实施主体": "局"},'
        ' {"序号": 2, "事项名称": "排污许可", "权力类型": "行政许可", "实施主体": "局"}, "不是对象"]',
        encoding="utf-8",
    )
    (hostile / "garbage.csv").write_bytes(bytes(random.Random(1).randrange(256) for _ in range(4000)))
    (hostile / "bomb.xlsx").write_bytes(_zip_bomb())
    (hostile / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    _ListHandler.body = (
        "序号,事项名称,权力类型,实施主体\n1,下载来的许可事项,行政许可,局\n2,<i>下载</i>的处罚,行政处罚,局\n".encode()
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ListHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/..%2F..%2Fescape/../../list.csv?name=../../x.csv"
    extra = f"""
[[source]]
id = "hostile-csv"
jurisdiction = "640105"
path = "hostile/hostile.csv"

[[source]]
id = "hostile-xlsx"
jurisdiction = "640106"
path = "hostile/odd.xlsx"

[[source]]
id = "hostile-json"
jurisdiction = "640121"
path = "hostile/surrogate.json"

[[source]]
id = "hostile-garbage"
jurisdiction = "640122"
path = "hostile/garbage.csv"

[[source]]
id = "hostile-bomb"
jurisdiction = "640181"
path = "hostile/bomb.xlsx"

[[source]]
id = "hostile-deep"
jurisdiction = "640205"
path = "hostile/deep.json"

[[source]]
id = "hostile-url"
jurisdiction = "640221"
url = "{url}"
format = "csv"

[[source]]
id = "../escape"
jurisdiction = "640105"
path = "hostile/hostile.csv"
"""
    manifest = tree / "sources.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8") + extra, encoding="utf-8")
    work = root / "work"
    work.mkdir()
    out = work / "out"
    inputs_before = _hashes(tree)
    try:
        done = cli(manifest, out, prefect_env)
    finally:
        server.shutdown()
        server.server_close()
    yield Corpus(manifest, out, done, inputs_before, {"out", ".out.lock"})


def test_hostile_corpus_ends_as_items_quarantine_or_failed_sources(corpus: Corpus) -> None:
    done = corpus.done
    assert done.returncode == 1, done.stderr[-3000:]  # outputs written, failed sources named
    assert "Traceback" not in done.stdout
    run = json.loads((corpus.out / "run.json").read_text(encoding="utf-8"))
    by_id = {i["id"]: i for i in run["inputs"]}
    errors = {sid: by_id[sid]["error"] for sid in by_id if by_id[sid]["error"]}
    assert set(errors) == {"hostile-garbage", "hostile-bomb", "hostile-deep", "../escape"}, errors
    assert re.search("binary data|no header", errors["hostile-garbage"])  # random bytes often decode as GB18030
    assert "zip bomb" in errors["hostile-bomb"]
    assert "nested too deeply" in errors["hostile-deep"]
    assert "id: '../escape' must match" in errors["../escape"]
    findings = pq.read_table(corpus.out / "findings.parquet").to_pylist()
    failed = {json.loads(f["details"])["source_id"] for f in findings if f["kind"] == "source_failed"}
    assert failed == set(errors)
    reasons: dict[str, list[str]] = {}
    for row in pq.read_table(corpus.out / "quarantine.parquet").to_pylist():
        reasons.setdefault(row["source_id"], []).extend(row["reasons"])
    assert any("formula" in x for x in reasons["hostile-xlsx"])
    assert any("surrogate" in x for x in reasons["hostile-json"])
    assert by_id["hostile-url"]["fetch"]["status"] == "fetched" and by_id["hostile-url"]["rows_read"] == 2


def test_nothing_is_written_outside_out(corpus: Corpus) -> None:
    """Inputs unchanged; beside OUT only its lock file; downloads stored under their sha256, whatever the URL."""
    assert _hashes(corpus.manifest.parent) == corpus.inputs_before
    assert {p.name for p in corpus.out.parent.iterdir()} == corpus.parent_before
    downloads = [p.name for p in (corpus.out / "downloads").iterdir()]
    assert all(re.fullmatch(r"[0-9a-f]{64}|fetches\.jsonl", name) for name in downloads), downloads
    for path in corpus.out.rglob("*"):
        assert path.resolve().is_relative_to(corpus.out.resolve()), path


class _Markup(html.parser.HTMLParser):
    """Tags, event-handler attributes and data-testid values of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, int] = {}
        self.handlers: list[str] = []
        self.values: dict[str, str] = {}
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "img":
            self.images.append(str(dict(attrs).get("src")))
        self.handlers += [f"{tag} {k}={v}" for k, v in attrs if k.lower().startswith("on")]
        a = dict(attrs)
        if "data-testid" in a and "data-value" in a:
            self.values[str(a["data-testid"])] = str(a["data-value"])


def markup(text: str) -> _Markup:
    parser = _Markup()
    parser.feed(text)
    return parser


def test_data_docs_hold_no_markup_from_the_lists(corpus: Corpus) -> None:
    """GX renders unexpected values into Data Docs without escaping; the suite runs with
    ``exclude_unexpected_values`` so no list value reaches those pages at all."""
    pages = list((corpus.out / "validation" / "data_docs").rglob("*.html"))
    assert pages, "no Data Docs written"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for needle in ("onerror", "document.title", "HYPERLINK", "超长名称", "食品经营许可"):
            assert needle not in text, (page.name, needle)
        found = markup(text)
        assert not any("XSS" in h for h in found.handlers), (page, found.handlers)  # GX has onclick of its own
        assert all(src.startswith(GX_ASSETS) for src in found.images), page


def _chromium_dom(page: Path, profile: Path) -> tuple[str, str]:
    browser = find_chromium()
    if browser is None:
        pytest.fail("chromium is not installed: run `make browser`")
    command = chromium_command(browser, profile, "--virtual-time-budget=3000", "--dump-dom", page_url(page))
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def test_hostile_text_is_inert_in_the_browser(corpus: Corpus, tmp_path: Path) -> None:
    report = corpus.out / "report.html"
    text = report.read_text(encoding="utf-8")
    assert SCRIPT not in text and IMG not in text, "raw hostile markup in report.html"
    dom, _ = _chromium_dom(report, tmp_path / "report-profile")
    assert 'data-report-ready="1"' in dom
    assert "XSS</title>" not in dom and markup(dom).tags.get("img", 0) == 0 and not markup(dom).handlers
    validations = sorted((corpus.out / "validation" / "data_docs" / "validations").rglob("*.html"))
    dom, _ = _chromium_dom(validations[0], tmp_path / "docs-profile")
    found = markup(dom)
    assert "XSS</title>" not in dom and not any("XSS" in h for h in found.handlers)
    assert all(src.startswith(GX_ASSETS) for src in found.images), found.images


# ---- §6 the audit ------------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("the audit's lists are UTF-8 or GB18030")


def _after_header(rows: list[list[str]]) -> list[list[str]]:
    """Rows below the header, which is the first row with at least three filled cells (titles have one)."""
    for i, row in enumerate(rows):
        if sum(1 for c in row if c.strip(BLANK)) >= 3:
            return rows[i + 1 :]
    return []


def _filled(rows: list[list[str]]) -> int:
    return sum(1 for row in rows if "".join(row).strip(BLANK))


def _json_text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def independent_rows(path: Path, fmt: str) -> int:
    """Rows a list file holds, counted with csv/json/openpyxl only — none of the reader's code."""
    if fmt == "csv":
        text = _decode(path.read_bytes())
        first = text.split("\n", 1)[0]
        delimiter = max(",\t;|", key=first.count)
        return _filled(_after_header(list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))))
    if fmt in ("json", "jsonl"):
        text = path.read_text(encoding="utf-8-sig")
        if fmt == "jsonl":
            elements = [json.loads(line) for line in text.splitlines() if line.strip(BLANK)]
        else:
            doc = json.loads(text)
            while isinstance(doc, dict):  # wrapper objects: {"data": {"records": [...]}}
                doc = next(v for v in doc.values() if isinstance(v, list | dict))
            elements = doc
        return sum(
            1 for e in elements if not isinstance(e, dict) or "".join(_json_text(v) for v in e.values()).strip(BLANK)
        )
    workbook = load_workbook(path, read_only=True)  # streams the rows the file holds
    total = 0
    for sheet in workbook.worksheets:
        if sheet.sheet_state != "visible":
            continue
        sheet.reset_dimensions()  # rows as stored, not padded to a used range a stray cell can stretch
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        total += _filled(_after_header(rows))
    workbook.close()
    return total


def audit(manifest: Path, out: Path) -> dict[str, int]:
    """Every source: independent count = rows read = items + quarantined = Parquet rows = report numbers."""
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    entries = tomllib.loads(manifest.read_text(encoding="utf-8"))["source"]
    items = pq.read_table(out / "items", partitioning=None).select(["source_id"]).to_pylist()
    quarantine = pq.read_table(out / "quarantine.parquet").to_pylist()
    item_counts: dict[str, int] = {}
    for row in items:
        item_counts[row["source_id"]] = item_counts.get(row["source_id"], 0) + 1
    quarantine_counts: dict[str, int] = {}
    for row in quarantine:
        assert row["reasons"] and all(": " in r for r in row["reasons"]), row
        quarantine_counts[row["source_id"]] = quarantine_counts.get(row["source_id"], 0) + 1
    page = markup((out / "report.html").read_text(encoding="utf-8"))
    counted = {}
    by_id = {i["id"]: i for i in run["inputs"]}
    assert len(by_id) == len(entries)
    for entry in entries:
        info = by_id[entry["id"]]
        if info["error"]:
            assert info["rows_read"] == 0 and info["items"] == 0 and info["quarantined"] == 0
            continue
        if "path" in entry:
            path = manifest.parent / entry["path"]
            fmt = entry.get("format") or path.suffix.lstrip(".")
            counted[entry["id"]] = independent_rows(path, fmt)
            assert info["rows_read"] == counted[entry["id"]], (entry["id"], info["rows_read"], counted[entry["id"]])
        assert info["items"] + info["quarantined"] == info["rows_read"], info
        assert item_counts.get(entry["id"], 0) == info["items"], entry["id"]
        assert quarantine_counts.get(entry["id"], 0) == info["quarantined"], entry["id"]
        testid = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in entry["id"])
        shown = {"rows-read": info["rows_read"], "items": info["items"], "quarantined": info["quarantined"]}
        for key, value in shown.items():
            assert page.values.get(f"source-{testid}-{key}") == str(value), (entry["id"], key)
    assert page.values["count-items"] == str(len(items))
    assert page.values["count-quarantined"] == str(len(quarantine))
    assert page.values["count-rows-read"] == str(sum(i["rows_read"] for i in run["inputs"]))
    return counted


def test_audit_of_the_sample(reference: Reference) -> None:
    counted = audit(SAMPLE_MANIFEST, reference.after)
    assert len(counted) == len(tomllib.loads(SAMPLE_MANIFEST.read_text(encoding="utf-8"))["source"])
    assert sum(counted.values()) > 4000


def test_audit_of_the_fuzzed_corpus(corpus: Corpus) -> None:
    counted = audit(corpus.manifest, corpus.out)
    assert {"hostile-csv", "hostile-xlsx", "hostile-json"} <= set(counted)
    assert counted["hostile-csv"] == 8 and counted["hostile-xlsx"] == 5 and counted["hostile-json"] == 3
    run = json.loads((corpus.out / "run.json").read_text(encoding="utf-8"))
    assert run["outcome"]["status"] == "failed"
    bad = sum(i["quarantined"] for i in run["inputs"])
    assert bad >= 10, "the 5 % bad rows and the hostile ones are quarantined"
