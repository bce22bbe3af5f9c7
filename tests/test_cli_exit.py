"""The command exits without tearing the interpreter down, yet after every exit handler of the run.

Each case is a real interpreter in a subprocess: what happens at exit can only be seen from outside.
A module-level object whose finaliser writes a file tells whether the modules were torn down.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.test_hardening_runs import REPO

SCRIPT = textwrap.dedent(
    """
    import atexit, sys
    from pathlib import Path

    import flows.cli

    folder = Path(sys.argv[1])

    class TornDown:
        def __del__(self):
            (folder / "torn-down").write_text("the modules were freed one by one")

    kept = TornDown()

    def command(argv=None):
        # what a run does: an exit handler registered while it runs (the temporary API's stop),
        # output still in the buffer of a pipe
        atexit.register(lambda: (folder / "handler-ran").write_text("yes"))
        print("summary line")
        if sys.argv[2] == "raise":
            raise RuntimeError("a crash")
        return int(sys.argv[2])

    flows.cli.main = command
    flows.cli.console()
    """
)


def _console(tmp_path: Path, outcome: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), outcome],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_skips_the_teardown_after_the_runs_own_exit_handlers(tmp_path: Path) -> None:
    done = _console(tmp_path, "3")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "summary line\n"
    assert (tmp_path / "handler-ran").read_text() == "yes"
    assert not (tmp_path / "torn-down").exists()


def test_a_command_that_returns_success_exits_zero_the_same_way(tmp_path: Path) -> None:
    done = _console(tmp_path, "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "summary line\n"
    assert (tmp_path / "handler-ran").exists() and not (tmp_path / "torn-down").exists()


def test_a_command_that_raises_exits_the_usual_way(tmp_path: Path) -> None:
    done = _console(tmp_path, "raise")
    assert done.returncode == 1
    assert "RuntimeError: a crash" in done.stderr
    assert (tmp_path / "handler-ran").exists()
    assert (tmp_path / "torn-down").exists()


def test_the_installed_command_and_python_m_flows_both_exit_this_way(tmp_path: Path) -> None:
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="powerlists")
    assert script.value == "flows.cli:console"
    done = subprocess.run(
        [sys.executable, "-m", "flows", "run", "--manifest", str(tmp_path / "missing.toml"), "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1].startswith("powerlists: manifest not found"), done.stderr[-3000:]
