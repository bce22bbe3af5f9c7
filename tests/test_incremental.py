"""Incremental runs on the bundled sample: unchanged inputs are reused, changed ones redone, same bytes.

The strongest check is the last one: after one list changes, the incremental run (one source re-read,
one province re-matched, everything else from the cache) writes exactly the Parquet bytes that a
from-scratch run over the same inputs writes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SAMPLE_MANIFEST


def _parquet(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*.parquet"))
        if ".cache" not in p.parts
    }


def _run(manifest: Path, out: Path, previous: Path | None = None) -> dict:
    from flows.pipeline import powerlists_run

    powerlists_run(manifest=str(manifest), out=str(out), previous=str(previous) if previous else None)
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_second_run_reads_nothing_again_and_changed_input_is_redone(prefect_api, tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE_MANIFEST.parent, sample)
    manifest = sample / SAMPLE_MANIFEST.name
    out = tmp_path / "out"

    first = _run(manifest, out)
    assert not any(i["cached"] for i in first["inputs"])
    assert set(first["matching"]["provinces"].values()) == {"matched"}
    first_bytes = _parquet(out)

    second = _run(manifest, out)
    assert all(i["cached"] for i in second["inputs"]), "every unchanged source comes from the cache"
    assert second["validation"]["validated_sources"] == []
    assert set(second["matching"]["provinces"].values()) == {"cached"}
    assert _parquet(out) == first_bytes, "reused results give byte-identical tables"
    for key in ("errors", "warnings", "expectations", "success"):
        assert second["validation"][key] == first["validation"][key], key
    assert second["validation"]["data_docs"] and (out / second["validation"]["data_docs"]).is_file()
    assert [(i["id"], i["items"], i["quarantined"]) for i in second["inputs"]] == [
        (i["id"], i["items"], i["quarantined"]) for i in first["inputs"]
    ]
    work = ("read", "validate", "match")
    assert sum(second["stages"][s] for s in work) < sum(first["stages"][s] for s in work)

    shutil.copytree(out, tmp_path / "before-change")
    changed = sample / "sichuan" / "512002_yanjiang_district.csv"
    changed.write_bytes(changed.read_bytes().rstrip(b"\r\n").rsplit(b"\n", 1)[0] + b"\n")  # drop the last row
    third = _run(manifest, out)
    redone = {i["id"] for i in third["inputs"] if not i["cached"]}
    assert redone == {"sc-512002-yanjiang-derived"}
    assert third["validation"]["validated_sources"] == ["sc-512002-yanjiang-derived"]
    assert third["matching"]["provinces"] == {"210000": "cached", "510000": "matched"}
    by_id = {i["id"]: i for i in third["inputs"]}
    before = {i["id"]: i for i in first["inputs"]}
    assert by_id["sc-512002-yanjiang-derived"]["rows_read"] == before["sc-512002-yanjiang-derived"]["rows_read"] - 1

    # the incremental run compared itself with the output it replaced; so does the scratch run
    scratch = _run(manifest, tmp_path / "scratch", previous=tmp_path / "before-change")
    assert not any(i["cached"] for i in scratch["inputs"])
    assert _parquet(out) == _parquet(tmp_path / "scratch"), "incremental = from scratch, byte for byte"
    removed = pd.read_parquet(out / "changes.parquet")
    assert list(removed["change"]) == ["removed"], "the dropped row is reported as a change since the last run"
    for key in ("errors", "warnings", "expectations"):
        assert third["validation"][key] == scratch["validation"][key], key

    cached = {p.name.split(".")[0] for p in (out / ".cache" / "sources").iterdir()}
    assert len(cached) == len(third["inputs"]), "entries no source uses any more are not carried over"


EVIL = """import os, pickle
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
open({path!r}, "wb").write(pickle.dumps(Evil()))
"""


@pytest.mark.slow
def test_nothing_in_the_cache_can_run_code_and_a_bad_entry_is_a_logged_miss(
    prefect_api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The keys are published in run.json; whoever can write OUT could plant an entry for the next run."""
    import subprocess
    import sys

    out = tmp_path / "out"
    first = _run(SAMPLE_MANIFEST, out)
    first_bytes = _parquet(out)
    marker = tmp_path / "code-ran"
    sources = out / ".cache" / "sources"
    keys = [i["cache_key"] for i in first["inputs"] if i.get("cache_key")]
    assert keys and all((sources / f"{k}.json").is_file() for k in keys)
    victim, *others = keys
    for key in keys:  # a pickle where the old cache looked, for every key
        code = EVIL.format(marker=marker, path=str(sources / f"{key}.pkl"))
        subprocess.run([sys.executable, "-c", code], check=True)
    # and every file of one entry replaced by that pickle: data the cache does parse
    for part in ("json", "items.arrow", "quarantine.arrow"):
        shutil.copyfile(sources / f"{victim}.pkl", sources / f"{victim}.{part}")

    with caplog.at_level("WARNING", logger="powerlists.cache"):
        second = _run(SAMPLE_MANIFEST, out)
    assert not marker.exists(), "a planted pickle ran"
    cached = {i["cache_key"]: i["cached"] for i in second["inputs"] if i.get("cache_key")}
    assert cached[victim] is False and all(cached[k] for k in others), cached
    assert any(victim in r.getMessage() and "unreadable" in r.getMessage() for r in caplog.records)
    assert _parquet(out) == first_bytes


def test_the_cache_gives_frames_back_exactly() -> None:
    """Every kind of column the validated rows hold, with None and NaN kept apart."""
    import numpy as np
    import pyarrow as pa

    from flows.incremental import Uncacheable, frame_from_arrow, frame_to_arrow, ipc_bytes

    frame = pd.DataFrame(
        {
            "text": ["a", None, "丙"],
            "text_nan": ["a", np.nan, "c"],
            "warnings": [[], ["x: y"], ["甲", "乙"]],
            "raw": [{"事项名称": "许可", "x": None}, {}, {"a": "b"}],
            "published": [dt.date(2024, 1, 2), None, dt.date(2023, 5, 6)],
            "row_no": np.array([2, 3, 4], dtype="int64"),
            "flag": [True, False, True],
            "code": pd.Series(["510000", "000000", "510100"], dtype="str"),
            "empty": [None, None, None],
        }
    )
    table = pa.ipc.open_file(pa.BufferReader(ipc_bytes(frame_to_arrow(frame)))).read_all()
    back = frame_from_arrow(table)
    assert list(back.dtypes) == list(frame.dtypes)
    for column in frame.columns:
        for old, new in zip(frame[column].tolist(), back[column].tolist(), strict=True):
            assert type(old) is type(new) and (old == new or (old != old and new != new)), (column, old, new)
    with pytest.raises(Uncacheable):
        frame_to_arrow(pd.DataFrame({"mixed": ["a", 1]}))
    for inexact in ([b"x", "y"], [{"k": np.nan}], [{"k": b"x"}], [{1: "a"}], [["a", None]]):
        with pytest.raises(Uncacheable):  # bytes would come back as text, NaN as None, 1 as "1"
            frame_to_arrow(pd.DataFrame({"cells": inexact}))
    with pytest.raises(Uncacheable):
        frame_to_arrow(pd.DataFrame({"a": ["x", "y"]}, index=[3, 4]))


def test_a_source_cut_from_its_batch_encoding_comes_back_as_its_own_rows() -> None:
    """A scope's rows are encoded once; each source's entry is its slice. Decoded, the slice must be
    that source's rows exactly, even where the batch's columns hold what the source's do not."""
    import numpy as np

    from flows.incremental import encoded_rows, frame_from_arrow, frame_to_arrow

    batch = pd.DataFrame(
        {
            "source_id": ["a", "a", "b", "b", "b"],
            "text_nan": ["x", np.nan, "y", "z", "w"],  # NaN in source a only
            "warnings": [[], ["w"], [], [], ["甲"]],
            "raw": [{"k": "v"}, {}, None, {"k": None}, {}],
            "published": [dt.date(2024, 1, 2), None, None, None, dt.date(2023, 5, 6)],
            "row_no": np.arange(5, dtype="int64"),
            "code": pd.Series(["510000", None, "510100", "x", "y"], dtype="str"),
        }
    )
    encoded = frame_to_arrow(batch)
    for positions in ([0, 1], [2, 3, 4], []):
        own = batch.iloc[positions].reset_index(drop=True)
        back = frame_from_arrow(encoded_rows(encoded, np.array(positions, np.int64)))
        pd.testing.assert_frame_equal(back, own)
        for column in own.columns:
            assert [type(v) for v in back[column]] == [type(v) for v in own[column]], column


def test_cache_keys_follow_bytes_options_and_registry() -> None:
    from flows.incremental import match_key, source_key
    from transforms.ingest.jurisdictions import load_registry
    from transforms.ingest.manifest import SourceSpec

    registry = load_registry()

    def key(sha: str = "0" * 64, **options) -> str:
        fields = {"id": "a", "jurisdiction": "512000", "path": Path("x.csv"), **options}
        return source_key(SourceSpec(**fields), sha, registry)

    assert key() == key(path=Path("elsewhere/x.csv")), "where the file lives does not matter, its bytes do"
    assert key() != key("1" * 64)
    assert key() != key(header_row=2)
    assert key() != key(published=dt.date(2024, 1, 1))
    assert key() != key(columns={"name": "事项"})
    assert key() != key(jurisdiction="512002")

    links = match_key([key(), key("1" * 64)], "registry", 0.86)
    assert links == match_key([key("1" * 64), key()], "registry", 0.86), "the order of the sources does not matter"
    assert links != match_key([key(), key("2" * 64)], "registry", 0.86), "a changed source is matched again"
    assert links != match_key([key()], "registry", 0.86), "so is a scope that lost a source"
    assert links != match_key([key(), key("1" * 64)], "registry", 0.9)
    assert links != match_key([key(), key("1" * 64)], "another registry", 0.86)
