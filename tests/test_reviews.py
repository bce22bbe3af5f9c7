"""The review loop: a reviews file is checked line by line, and a second run carries its decisions.

The file is read by ``transforms.examine.reviews``; the end-to-end test runs the real flow twice on a
copy of the bundled sample: once to see the findings and links, once with decisions taken from them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE_MANIFEST
from transforms.ingest.jurisdictions import load_registry
from transforms.ingest.reviews import ReviewsError, read_reviews
from transforms.publish.schema import REVIEW_FILE_COLUMNS

HEADER = ",".join(REVIEW_FILE_COLUMNS)
REGISTRY = load_registry()


def _file(tmp_path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_decisions_are_read_in_file_order(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        HEADER,
        "type_mismatch:06d97a4df476f3f6,Dismissed,两级分类口径不同,张三,2024-07-01",
        "",
        "link:511602:食品经营许可|510000:食品经营许可,link,,李四,2024/7/2",  # the date as WPS saves it
    )
    reviews = read_reviews(path, REGISTRY)
    assert [d.key for d in reviews.decisions] == [
        "type_mismatch:06d97a4df476f3f6",
        "link:511602:食品经营许可|510000:食品经营许可",
    ]
    first, second = reviews.decisions
    assert (first.decision, first.note, first.reviewer, first.line) == ("dismissed", "两级分类口径不同", "张三", 2)
    assert second.link is not None and second.link.parent_name == "食品经营许可"
    assert second.decided_on.isoformat() == "2024-07-02" and second.note is None
    assert list(reviews.of_findings) == [first.key] and reviews.of_links == (second,)
    assert reviews.summary()["decisions"][1]["decided_on"] == "2024-07-02"


def test_a_gb18030_file_from_excel_is_read(tmp_path: Path) -> None:
    path = _file(
        tmp_path, HEADER, "no_upper_basis:06d97a4df476f3f6,confirmed,依据缺失,王五,2024-07-01", encoding="gb18030"
    )
    assert read_reviews(path).decisions[0].reviewer == "王五"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("type_mismatch:06d97a4df476f3f6,ok,,张三,2024-07-01", "line 2, column 2 (decision): 'ok' is not one of"),
        ("type_mismatch:xyz,dismissed,,张三,2024-07-01", "line 2, column 1 (key): 'type_mismatch:xyz' is neither"),
        ("no_such_kind:06d97a4df476f3f6,dismissed,,张三,2024-07-01", "column 1 (key)"),
        ("type_mismatch:06d97a4df476f3f6,dismissed,,,2024-07-01", "line 2, column 4 (reviewer): empty"),
        (
            "type_mismatch:06d97a4df476f3f6,dismissed,,张三,7月1日",
            "line 2, column 5 (decided_on): '7月1日' is not a date",
        ),
        ("link:511602:食品经营许可|510000:食品经营许可,dismissed,,张三,2024-07-01", "column 2 (decision)"),
        ("link:食品经营许可,link,,张三,2024-07-01", "line 2, column 1 (key): 'link:食品经营许可': expected"),
        (
            "link:510000:食品经营许可|511602:食品经营许可,link,,张三,2024-07-01",
            "511602 is not an ancestor of 510000: links go upwards",
        ),
        ("link:511602:食品经营许可|999999:食品经营许可,link,,张三,2024-07-01", "'999999' is not in the registry"),
        ("type_mismatch:06d97a4df476f3f6,dismissed,张三,2024-07-01", "line 2: 4 cells, the header has 5"),
    ],
)
def test_a_bad_line_refuses_the_file_naming_line_and_column(tmp_path: Path, line: str, expected: str) -> None:
    path = _file(tmp_path, HEADER, line)
    with pytest.raises(ReviewsError) as refused:
        read_reviews(path, REGISTRY)
    assert str(refused.value).startswith(f"{path}: ")
    assert expected in str(refused.value)


def test_a_key_decided_twice_and_a_bad_header_are_refused(tmp_path: Path) -> None:
    twice = "type_mismatch:06d97a4df476f3f6,dismissed,,张三,2024-07-01"
    with pytest.raises(ReviewsError, match=r"line 3, column 1 \(key\): .* decided twice \(first on line 2\)"):
        read_reviews(_file(tmp_path, HEADER, twice, twice))
    with pytest.raises(ReviewsError, match="line 1, column 2: unknown column '决定'"):
        read_reviews(_file(tmp_path, "key,决定,note,reviewer,decided_on"))
    with pytest.raises(ReviewsError, match="line 1: missing column\\(s\\) decided_on"):
        read_reviews(_file(tmp_path, "key,decision,note,reviewer"))
    with pytest.raises(ReviewsError, match="empty file"):
        read_reviews(_file(tmp_path, ""))


# ---- end to end: run, decide, run again --------------------------------------------------------------


def _sql(out: Path, query: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"create view items as select * from read_parquet('{out}/items/**/*.parquet', hive_partitioning=true)")
    con.execute(f"create view links as select * from '{out}/links.parquet'")
    con.execute(f"create view findings as select * from '{out}/findings.parquet'")
    return con.execute(query).fetchall()


@pytest.mark.slow
def test_a_second_run_carries_the_decisions(prefect_api, tmp_path: Path) -> None:
    from flows.pipeline import powerlists_run

    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE_MANIFEST.parent, sample)
    first = tmp_path / "first"
    powerlists_run(manifest=str(sample / "sources.toml"), out=str(first))

    (mismatch, confirmed) = (
        _sql(first, f"select finding_key from findings where kind = '{kind}' order by finding_key limit 1")[0][0]
        for kind in ("type_mismatch", "disguised_approval")
    )
    # a fuzzy link the reviewer rejects, and one they send to another parent item
    rejected = _sql(
        first,
        "select l.child_jurisdiction, c.name_norm, l.parent_jurisdiction, p.name_norm, l.child_item_id, "
        "l.parent_item_id from links l join items c on c.item_id = l.child_item_id "
        "join items p on p.item_id = l.parent_item_id where l.method = 'fuzzy' and c.sub_item is null "
        "order by l.child_item_id, l.parent_item_id limit 1",
    )[0]
    redirected = _sql(
        first,
        "select l.child_jurisdiction, c.name_norm, l.parent_jurisdiction, l.child_item_id from links l "
        "join items c on c.item_id = l.child_item_id where l.method = 'exact' and c.sub_item is null "
        f"and l.child_item_id <> '{rejected[4]}' order by l.child_item_id limit 1",
    )[0]
    new_parent = _sql(
        first,
        f"select name_norm, item_id from items where jurisdiction_code = '{redirected[2]}' and sub_item is null "
        f"and name_norm <> '{redirected[1]}' and name_norm not in (select name_norm from items "
        f"where jurisdiction_code = '{redirected[2]}' group by 1 having count(*) > 1) order by item_id limit 1",
    )[0]
    stale_finding = "type_mismatch:0000000000000000"
    stale_link = f"link:{rejected[0]}:没有这个事项|{rejected[2]}:{rejected[3]}"
    (sample / "reviews.csv").write_text(
        "\n".join(
            [
                HEADER,
                f"{mismatch},dismissed,两级分类口径不同,张三,2024-07-01",
                f"{confirmed},confirmed,,李四,2024-07-02",
                f"{stale_finding},fixed,,张三,2024-07-01",
                f"link:{rejected[0]}:{rejected[1]}|{rejected[2]}:{rejected[3]},no_link,不是同一事项,张三,2024-07-03",
                f"link:{redirected[0]}:{redirected[1]}|{redirected[2]}:{new_parent[0]},link,,李四,2024-07-04",
                f"{stale_link},no_link,,张三,2024-07-05",
            ]
        )
        + "\n",
        encoding="utf-8-sig",
    )
    manifest = sample / "sources.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace("[run]\n", '[run]\nreviews = "reviews.csv"\n', 1), encoding="utf-8"
    )
    second = tmp_path / "second"
    powerlists_run(manifest=str(manifest), out=str(second))

    reviewed = _sql(
        second, "select finding_key, review, review_note, reviewer, decided_on from findings where review is not null"
    )
    assert sorted((k, r, n, who, str(day)) for k, r, n, who, day in reviewed) == sorted(
        [
            (mismatch, "dismissed", "两级分类口径不同", "张三", "2024-07-01"),
            (confirmed, "confirmed", None, "李四", "2024-07-02"),
        ]
    )
    # dismissed stays in the table; everything else is as unreviewed as before
    before = _sql(first, "select count(*) from findings")[0][0]
    assert _sql(second, "select count(*) from findings where kind <> 'stale_review'")[0][0] == before
    stale = _sql(second, "select details from findings where kind = 'stale_review' order by details")
    assert sorted(json.loads(d)["key"] for (d,) in stale) == sorted([stale_finding, stale_link])

    assert not _sql(
        second, f"select 1 from links where child_item_id = '{rejected[4]}' and parent_item_id = '{rejected[5]}'"
    )
    link = _sql(
        second,
        f"select parent_item_id, method, score, reason from links where child_item_id = '{redirected[3]}' "
        f"and parent_jurisdiction = '{redirected[2]}'",
    )
    assert link == [(new_parent[1], "review", 1.0, "set by review: 李四, 2024-07-04")]
    run = json.loads((second / "run.json").read_text(encoding="utf-8"))
    assert [d["key"] for d in run["reviews"]["decisions"]][:2] == [mismatch, confirmed]
    assert run["reviews"]["sha256"]


@pytest.mark.slow
def test_a_bad_reviews_file_refuses_the_run_before_reading(prefect_api, tmp_path: Path) -> None:
    from flows.pipeline import powerlists_run

    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE_MANIFEST.parent, sample)
    (sample / "reviews.csv").write_text(f"{HEADER}\ntype_mismatch:06d97a4df476f3f6,maybe,,张三,2024-07-01\n")
    manifest = sample / "sources.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace("[run]\n", '[run]\nreviews = "reviews.csv"\n', 1), encoding="utf-8"
    )
    out = tmp_path / "out"
    state = powerlists_run(manifest=str(manifest), out=str(out), return_state=True)
    assert state.name == "Refused"
    assert "reviews.csv: line 2, column 2 (decision): 'maybe'" in state.message
    assert not (out / "items").exists()
