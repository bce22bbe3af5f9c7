"""Every way a CLI run can end badly ends cleanly: one ``powerlists:`` line, the documented exit code,
no traceback, the previous output intact and no process or staging folder left behind.

Real command lines in subprocesses. Runs that need an API use one real ``prefect server start`` for the
module; the signal tests use the CLI's own temporary API, since that server is what must not outlive
the CLI. Disk-full and read-only folders are real file systems: a tiny or read-only tmpfs mounted in a
user namespace (``unshare``), skipped where the kernel allows no user namespaces.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import SAMPLE_MANIFEST
from tests.test_hardening_runs import REPO, copy_output, parquet_bytes, prefect_env, siblings  # noqa: F401
from transforms.publish.write import output_lock

pytestmark = pytest.mark.slow

TRACEBACK = "Traceback (most recent call last)"


def powerlists(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def assert_one_clean_line(done: subprocess.CompletedProcess, code: int, words: str, after: str | None = None) -> None:
    """Exit ``code``, one ``powerlists:`` line with ``words`` and no traceback (with ``after``: none after
    the first line holding it, e.g. once the flow run's final state is logged)."""
    both = done.stdout + done.stderr
    assert done.returncode == code, both[-3000:]
    tail = both[both.index(after) :] if after is not None and after in both else both
    assert TRACEBACK not in tail, tail[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("powerlists: ")]
    assert len(lines) == 1 and words in lines[0], done.stderr[-3000:]


@pytest.fixture(scope="module")
def earlier(prefect_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """An earlier output of the sample, copied into each test that must leave one intact."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    done = powerlists("run", "--manifest", str(SAMPLE_MANIFEST), "--out", str(out), env=prefect_env)
    assert done.returncode == 0, done.stderr[-3000:]
    (out.parent / "run.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    return out


def test_a_plain_run_logs_no_library_warnings(earlier: Path) -> None:
    """GX's "match groups" UserWarning came on every run; a plain run of the sample logs no warning at all."""
    log = (earlier.parent / "run.log").read_text(encoding="utf-8")
    assert "Warning:" not in log and "py.warnings" not in log and "| WARNING |" not in log, log[-3000:]


# ---- arguments are refused before any work ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--match-threshold", "-5"], "match_threshold: must be a number within [0, 1], got -5.0"),
        (["--match-threshold", "1.5"], "match_threshold"),
        (["--max-error-share", "nan"], "max_error_share: must be a number within [0, 1], got nan"),
        (["--previous", "/nonexistent/out"], "previous: /nonexistent/out is not a folder"),
        (["--previous", str(REPO / "data")], "is not a powerlists output folder"),
        (["--parallel-scopes", "0"], "parallel_scopes: must be at least 1"),
    ],
)
def test_bad_arguments_exit_2_at_once(tmp_path: Path, args: list[str], words: str) -> None:
    """No API is configured: a refusal must come before a server is even started (so, in well under its boot)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(tmp_path / "home")}
    start = time.monotonic()
    done = powerlists("run", "--manifest", str(SAMPLE_MANIFEST), "--out", str(tmp_path / "out"), *args, env=env)
    assert_one_clean_line(done, 2, words)
    assert "temporary Prefect API" not in done.stdout
    assert not (tmp_path / "out").exists() and not (tmp_path / "home").exists()
    assert time.monotonic() - start < 60


def _bad_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "bad-date.toml"
    path.write_text(
        '[[source]]\nid = "x"\njurisdiction = "511602"\npath = "x.csv"\npublished = 2024-13-45\n', encoding="utf-8"
    )
    return path


def _bad_registry(tmp_path: Path) -> Path:
    (tmp_path / "jurisdictions.csv").write_text("code,name,level,parent_code\n51x,坏,nowhere,\n", encoding="utf-8")
    path = tmp_path / "bad-registry.toml"
    path.write_text(
        '[run]\njurisdictions = "jurisdictions.csv"\n[[source]]\nid = "x"\njurisdiction = "511602"\npath = "x.csv"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("make_manifest", "out", "words"),
    [
        (lambda tmp: SAMPLE_MANIFEST, lambda tmp: Path("/"), "file system root"),
        (lambda tmp: SAMPLE_MANIFEST, lambda tmp: REPO / "data", "not a powerlists output"),
        (_bad_manifest, lambda tmp: tmp / "out", "bad-date.toml"),
        (_bad_registry, lambda tmp: tmp / "out", "jurisdictions.csv"),
    ],
    ids=["root", "not-an-output", "bad-date", "bad-registry"],
)
def test_refusals_end_in_a_refused_state_not_a_traceback(
    prefect_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    make_manifest,
    out,
    words: str,
) -> None:
    done = powerlists("run", "--manifest", str(make_manifest(tmp_path)), "--out", str(out(tmp_path)), env=prefect_env)
    assert_one_clean_line(done, 2, words)
    assert "Refused" in done.stdout + done.stderr  # the flow run's final state, as the Prefect UI shows it


def test_a_manifest_linked_from_inside_the_output_is_not_deleted_with_it(
    prefect_env: dict[str, str],  # noqa: F811
    earlier: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    copy_output(earlier, out)
    link = out / "sources.toml"
    link.symlink_to(SAMPLE_MANIFEST)
    done = powerlists("run", "--manifest", str(link), "--out", str(out), env=prefect_env)
    assert_one_clean_line(done, 2, "holds an input of this run")
    assert link.is_symlink() and SAMPLE_MANIFEST.is_file()


def test_a_failed_source_exits_1_with_the_summary_and_no_traceback(
    prefect_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "missing.toml"
    manifest.write_text('[[source]]\nid = "gone"\njurisdiction = "511602"\npath = "gone.csv"\n', encoding="utf-8")
    done = powerlists("run", "--manifest", str(manifest), "--out", str(tmp_path / "out"), env=prefect_env)
    assert done.returncode == 1, done.stderr[-3000:]
    assert TRACEBACK not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
    assert "powerlists: failed — outputs in" in done.stdout and "! gone:" in done.stdout
    assert json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))["outcome"]["status"] == "failed"


# ---- the output's file system fails ------------------------------------------------------------------------


def _in_mount(options: str, mount: Path, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``command`` with a tmpfs (``options``) mounted on ``mount`` in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no user namespaces here: {probe.stderr.decode()[-200:]}")
    mount.mkdir(parents=True, exist_ok=True)
    script = 'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"'
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", options, str(mount), *command],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [("size=300k", "No space left on device"), ("ro", "Read-only file system")],
    ids=["disk-full", "read-only"],
)
def test_an_unwritable_output_exits_3_naming_the_folder(
    prefect_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    options: str,
    words: str,
) -> None:
    mount = tmp_path / "small"
    out = mount / "out"
    command = [sys.executable, "-m", "flows", "run", "--manifest", str(SAMPLE_MANIFEST), "--out", str(out)]
    done = _in_mount(options, mount, command, prefect_env)
    # The task that hit the disk logs its own error (Prefect's task log); the run then ends in one line.
    assert_one_clean_line(done, 3, f"cannot write the output folder {out}", after="Finished in state OutputError")
    assert words in done.stderr, done.stderr[-2000:]


# ---- signals ------------------------------------------------------------------------------------------------

API_LINE = re.compile(r"temporary Prefect API on http://127\.0\.0\.1:(\d+)/api")


@pytest.fixture(scope="module")
def own_api_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No PREFECT_API_URL: each CLI starts its temporary API. The database is created once, here."""
    home = tmp_path_factory.mktemp("temporary-api-home")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(home), "PYTHONPATH": str(REPO), "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "server", "database", "upgrade", "-y"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return env


def _servers_on(port: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "prefect.server.api.server:create_app" in cmdline and str(port) in cmdline:
            found.append(proc)
    return found


def _start_and_wait_for_staging(out: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """A CLI run in its own process group, once its staging folder exists (the flow is working)."""
    log = out.parent / f"cli-{time.monotonic_ns()}.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows", "run", "--manifest", str(SAMPLE_MANIFEST), "--out", str(out)],
            env=env,
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 240
    while not siblings(out, "staging"):
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the run never created its staging folder"
        time.sleep(0.05)
    port = API_LINE.search(log.read_text())
    assert port, log.read_text()[-2000:]
    return proc, int(port.group(1))


@pytest.mark.parametrize(
    ("how", "code"),
    [("SIGTERM", 143), ("SIGINT", 130), ("terminal Ctrl-C", 130)],
)
def test_a_signal_stops_the_run_and_leaves_nothing_behind(
    own_api_env: dict[str, str], earlier: Path, tmp_path: Path, how: str, code: int
) -> None:
    out = tmp_path / "out"
    copy_output(earlier, out)
    before = parquet_bytes(out)
    proc, port = _start_and_wait_for_staging(out, own_api_env)
    assert _servers_on(port), "the temporary API is not running"
    signalled = time.monotonic()
    if how == "terminal Ctrl-C":  # the terminal signals the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(getattr(signal, how))
    proc.wait(timeout=60)
    took = time.monotonic() - signalled
    text = proc.log.read_text()  # type: ignore[attr-defined]
    assert proc.returncode == code, text[-3000:]
    assert took < 15, f"{how}: the run took {took:.1f} s to stop"
    assert TRACEBACK not in text, text[-3000:]
    assert "powerlists: stopped by SIG" in text
    assert siblings(out, "staging") == [], "staging left behind"
    assert parquet_bytes(out) == before, "the previous output changed"
    with output_lock(out):  # released: the next run can take it
        pass
    assert _servers_on(port) == [], "the temporary API outlived the CLI"


def test_the_temporary_api_dies_with_a_killed_cli(own_api_env: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL runs no clean-up at all; the server still goes (it asked the kernel to be signalled)."""
    proc, port = _start_and_wait_for_staging(tmp_path / "out", own_api_env)
    servers = _servers_on(port)
    assert servers
    proc.kill()
    proc.wait(timeout=30)
    _, alive = psutil.wait_procs(servers, timeout=20)
    assert alive == [], "the temporary API outlived a killed CLI"
