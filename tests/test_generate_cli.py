"""``powerlists generate`` writes the synthetic tree the benchmark and the Dask test run on."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generate_writes_a_deterministic_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", "--provinces", "1", "--items-per-list", "8", "--seed", "3"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "lists" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert {"sources.toml", "truth.csv", "bad_rows.csv"} <= set(a)
    assert a == b, "same arguments, same bytes"
    assert a["sources.toml"].count(b"[[source]]") == 17  # Beijing: the municipality and its 16 districts


def test_generate_rejects_nonsense(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--provinces", "0", "--out", str(tmp_path / "x")]) == 2
    assert "at least 1" in capsys.readouterr().err
