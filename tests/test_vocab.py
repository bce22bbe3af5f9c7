"""A run's own vocabulary (``[run] vocab``): normalising uses it, caches follow it, a bad one refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from transforms.clean.normalise import VOCAB_DIR, current_vocab, load_vocab, map_power_type, normalise, use_vocab
from transforms.ingest.read import read_rows

LIST = "序号,事项名称,事项类型\n1,城市绿地占用审查,特许\n2,对违法排污的处罚,行政处罚\n".encode()


def _own_vocab(tmp_path: Path) -> Path:
    folder = tmp_path / "vocab"
    shutil.copytree(VOCAB_DIR, folder)
    with (folder / "power_types.csv").open("a", encoding="utf-8") as handle:
        handle.write("特许,行政许可\n")
    return folder


def _types(vocab=None) -> list[object]:
    frame, _ = read_rows(LIST, source_id="s", fmt="csv")
    frame["jurisdiction_code"] = "511602"
    return normalise(frame, vocab)[["power_type", "power_type_inferred"]].values.tolist()


def test_a_vocabulary_of_ones_own_is_used_and_forgotten(tmp_path: Path) -> None:
    bundled = current_vocab()
    default = _types()
    assert default[0] == [None, False]  # 特许 is no label data/vocab knows: the row will be quarantined
    own = load_vocab(_own_vocab(tmp_path))
    assert own.digest != bundled.digest
    try:
        assert _types(own) == [["行政许可", False], ["行政处罚", False]]
        assert map_power_type("特许", None)[0] == "行政许可"  # the scalar functions follow it too
    finally:
        use_vocab(bundled)
    assert _types() == default  # the cached results of the other vocabulary are gone


def test_a_bad_vocabulary_names_file_and_line(tmp_path: Path) -> None:
    folder = _own_vocab(tmp_path)
    with (folder / "power_types.csv").open("a", encoding="utf-8") as handle:
        handle.write("特别许可,行政特许\n")
    with pytest.raises(ValueError, match=r"power_types.csv:\d+: '行政特许' is not one of"):
        load_vocab(folder)


@pytest.mark.slow
def test_the_manifest_names_its_vocabulary(prefect_api, tmp_path: Path) -> None:
    from flows.pipeline import powerlists_run

    _own_vocab(tmp_path)
    (tmp_path / "list.csv").write_bytes(LIST)
    manifest = tmp_path / "sources.toml"
    manifest.write_text(
        '[run]\nvocab = "vocab"\n\n[[source]]\nid = "ga"\njurisdiction = "511602"\npath = "list.csv"\n',
        encoding="utf-8",
    )
    powerlists_run(manifest=str(manifest), out=str(tmp_path / "out"))
    types = duckdb.sql(
        f"select name_raw, power_type from read_parquet('{tmp_path}/out/items/**/*.parquet') order by row_no"
    ).fetchall()
    assert types == [("城市绿地占用审查", "行政许可"), ("对违法排污的处罚", "行政处罚")]
    (tmp_path / "vocab" / "statuses.csv").write_text("keyword,status\n保留,保持\n", encoding="utf-8")
    state = powerlists_run(manifest=str(manifest), out=str(tmp_path / "out2"), return_state=True)
    assert state.name == "Refused" and "[run].vocab:" in state.message and "statuses.csv:2" in state.message
