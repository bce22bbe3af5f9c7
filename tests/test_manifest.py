"""Manifest parsing: every mistake names the source and the key."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from transforms.ingest.jurisdictions import load_registry
from transforms.ingest.manifest import ManifestError, load_manifest


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "lists").mkdir(exist_ok=True)
    (tmp_path / "lists" / "a.csv").write_text("事项名称\n食品经营许可\n", encoding="utf-8")
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_manifest_resolves_paths_and_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[run]
name = "t"
match_threshold = 0.9
[[source]]
id = "sc-511602"
jurisdiction = "511602"
path = "lists/a.csv"
published = 2024-05-01
[source.columns]
name = "事项名称"
""",
    )
    manifest = load_manifest(path, known_jurisdictions=load_registry().codes())
    assert manifest.source_errors == {}
    (spec,) = manifest.sources
    assert spec.path == (tmp_path / "lists" / "a.csv").resolve()
    assert spec.format == "csv"
    assert spec.published == dt.date(2024, 5, 1)
    assert spec.columns == {"name": "事项名称"}
    assert manifest.match_threshold == 0.9


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('id = "a"\njurisdiction = "511602"\npath = "lists/a.csv"\ncolour = "red"', "colour: unknown key"),
        ('id = "a"\njurisdiction = "999999"\npath = "lists/a.csv"', "jurisdiction: unknown code '999999'"),
        ('id = "a"\njurisdiction = "511602"\npath = "lists/missing.csv"', "path: file not found"),
        ('id = "a"\njurisdiction = "511602"\npath = "lists/a.csv"\nheader_row = "3"', "header_row: expected integer"),
        ('id = "A B"\njurisdiction = "511602"\npath = "lists/a.csv"', "id: 'A B' must match"),
        ('id = "a"\njurisdiction = "511602"\npath = "lists/a.csv"\nformat = "odt"', "format: 'odt'"),
        ('id = "a"\njurisdiction = "511602"', "path/url: exactly one"),
        ('id = "a"\njurisdiction = "511602"\npath = "lists/a.csv"\n[source.columns]\nnom = "x"', "columns.nom"),
    ],
)
def test_source_errors_name_source_and_key(tmp_path: Path, source: str, expected: str) -> None:
    good = '[[source]]\nid = "ok"\njurisdiction = "511602"\npath = "lists/a.csv"\n'
    path = write(tmp_path, good + "[[source]]\n" + source + "\n")
    manifest = load_manifest(path, known_jurisdictions=load_registry().codes())
    assert [s.id for s in manifest.sources] == ["ok"], "the good source still runs"
    (message,) = manifest.source_errors.values()
    assert expected in message
    assert "source '" in message


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    one = '[[source]]\nid = "a"\njurisdiction = "511602"\npath = "lists/a.csv"\n'
    manifest = load_manifest(write(tmp_path, one + one))
    assert len(manifest.sources) == 1
    (message,) = manifest.source_errors.values()
    assert "duplicate source id 'a'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[run\n", "not valid TOML"),
        ("[run]\nname = 'x'\n", "no [[source]]"),
        ("[run]\nmatch_threshold = 'high'\n[[source]]\nid='a'\n", "[run].match_threshold: expected number"),
        ("[run]\nmatch_threshold = 1.5\n[[source]]\nid='a'\n", "must be within [0, 1]"),
        ("[runs]\n", "unknown top-level key"),
    ],
)
def test_manifest_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ManifestError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load_manifest(write(tmp_path, text))


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: Path("/dev/zero"), "/dev/zero is a character device, not a regular file"),
        (lambda tmp: (os.mkfifo(tmp / "pipe.csv"), tmp / "pipe.csv")[1], "is a named pipe (FIFO), not a regular file"),
        (lambda tmp: tmp / "lists", "is a folder, not a regular file"),
    ],
    ids=["device", "fifo", "folder"],
)
def test_a_path_that_is_no_regular_file_says_what_it_is(tmp_path: Path, make, expected: str) -> None:
    """Reported as "file not found" before; reading /dev/zero or a FIFO would never end."""
    path = write(tmp_path, "")
    target = make(tmp_path)
    path.write_text(f'[[source]]\nid = "x"\njurisdiction = "511602"\npath = "{target}"\n', encoding="utf-8")
    manifest = load_manifest(path)
    (message,) = manifest.source_errors.values()
    assert expected in message and "file not found" not in message


def test_a_manifest_or_registry_that_is_no_regular_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "sources.toml")
    with pytest.raises(ManifestError, match=r"manifest: .* is a named pipe \(FIFO\)"):
        load_manifest(tmp_path / "sources.toml")
    sub = tmp_path / "sub"
    sub.mkdir()
    path = write(sub, '[run]\njurisdictions = "/dev/zero"\n')
    with pytest.raises(ManifestError, match=r"\[run\].jurisdictions: /dev/zero is a character device"):
        load_manifest(path)
