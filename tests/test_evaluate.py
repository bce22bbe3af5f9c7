"""Scoring of links against truth, and the baselines (exact join, extractOne, Splink)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

from synthetic.evaluate import (
    ancestor_units,
    errors,
    exact_join_links,
    extract_one_links,
    extract_one_scores,
    score_links,
    splink_links,
    tune_threshold,
)
from transforms.ingest.jurisdictions import Jurisdiction, Registry
from transforms.publish.schema import LINKS

REGISTRY = Registry(
    {
        "000000": Jurisdiction("000000", "全国", "national", None),
        "510000": Jurisdiction("510000", "四川省", "province", "000000"),
        "512000": Jurisdiction("512000", "资阳市", "city", "510000"),
        "512002": Jurisdiction("512002", "雁江区", "county", "512000"),
    }
)


def link_rows(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """(child, parent, level_pair, method) → a links frame."""
    return pd.DataFrame(
        {
            "child_item_id": [r[0] for r in rows],
            "parent_item_id": [r[1] for r in rows],
            "child_jurisdiction": "512002",
            "parent_jurisdiction": [("512000" if r[2] == "county>city" else "510000") for r in rows],
            "level_pair": [r[2] for r in rows],
            "method": [r[3] for r in rows],
            "score": 1.0,
            "reason": "",
        }
    )


TRUTH = pd.DataFrame(
    {
        "child_item_id": ["k1", "k2", "k3", "k3", "k4"],
        "parent_item_id": ["c1", "c2", "c3", "c3b", "p4"],
        "parent_jurisdiction": ["512000", "512000", "512000", "512000", "510000"],
        "level_pair": ["county>city"] * 4 + ["county>province"],
    }
)


def test_scores_count_units_and_accept_any_true_parent() -> None:
    links = link_rows(
        [
            ("k1", "c1", "county>city", "exact"),  # TP
            ("k2", "cX", "county>city", "fuzzy"),  # FP, and k2 missed
            ("k3", "c3b", "county>city", "fuzzy"),  # TP: either of k3's two true parents counts
            ("k9", "c9", "county>city", "fuzzy"),  # FP: no truth at all
        ]
    )
    s = score_links(links, TRUTH)
    o = s["overall"]
    assert (o.tp, o.fp, o.fn, o.expected, o.links) == (2, 2, 2, 4, 4)
    assert o.precision == pytest.approx(0.5) and o.recall == pytest.approx(0.5) and o.f1 == pytest.approx(0.5)
    assert s["by_method"]["exact"] == {"links": 1, "tp": 1, "fp": 0, "precision": 1.0, "share_of_expected": 0.25}
    assert s["by_method"]["fuzzy"]["precision"] == pytest.approx(1 / 3, abs=1e-4)
    city = s["by_level_pair"]["county>city"]
    assert (city.tp, city.fp, city.fn) == (2, 2, 1)
    province = s["by_level_pair"]["county>province"]
    assert (province.tp, province.fp, province.fn, province.recall) == (0, 0, 1, 0.0)
    fp, fn = errors(links, TRUTH)
    assert set(fp["child_item_id"]) == {"k2", "k9"}
    assert set(fn["child_item_id"]) == {"k2", "k4"}


def test_scores_accept_arrow_tables_and_empty_links() -> None:
    empty = score_links(LINKS.empty_table(), TRUTH)["overall"]
    assert (empty.tp, empty.fn, empty.precision, empty.recall, empty.f1) == (0, 4, 1.0, 0.0, 0.0)
    table = pa.Table.from_pandas(link_rows([("k1", "c1", "county>city", "code")]), preserve_index=False)
    assert score_links(table, TRUTH)["overall"].tp == 1
    assert score_links(LINKS.empty_table(), TRUTH.iloc[:0])["overall"].f1 == 1.0  # nothing expected, nothing linked


def items_frame() -> pd.DataFrame:
    rows = [
        ("c1", "512000", "city", "公司设立登记"),
        ("c2", "512000", "city", "执业药师变更注册"),
        ("c3", "512000", "city", "食品经营许可新办审批"),
        ("p1", "510000", "province", "公司设立登记"),
        ("k1", "512002", "county", "公司设立登记"),
        ("k2", "512002", "county", "执业药师延续注册"),
        ("k3", "512002", "county", "食品经营许可新办"),
    ]
    return pd.DataFrame(
        {
            "item_id": [r[0] for r in rows],
            "jurisdiction_code": [r[1] for r in rows],
            "level": [r[2] for r in rows],
            "name_norm": [r[3] for r in rows],
            "main_name": [r[3] for r in rows],
            "sub_item": None,
            "power_type": "行政许可",
            "department": None,
        }
    )


def test_ancestor_units() -> None:
    units = ancestor_units(items_frame(), REGISTRY)
    assert len(units) == 3 + 3 * 2  # city items → province; county items → city and province


def test_exact_join_baseline() -> None:
    links = exact_join_links(items_frame(), REGISTRY).to_pandas()
    assert set(zip(links["child_item_id"], links["parent_item_id"], strict=True)) == {
        ("c1", "p1"),
        ("k1", "c1"),
        ("k1", "p1"),
    }
    assert set(links["level_pair"]) == {"city>province", "county>city", "county>province"}


def test_extract_one_baseline_and_tuning() -> None:
    items = items_frame()
    loose = extract_one_links(items, REGISTRY, threshold=70).to_pandas()
    # a generic matcher links the sibling 办理项 too: that is what powerlists must beat
    assert ("k2", "c2") in set(zip(loose["child_item_id"], loose["parent_item_id"], strict=True))
    truth = pd.DataFrame(
        {
            "child_item_id": ["c1", "k1", "k1", "k3"],
            "parent_item_id": ["p1", "c1", "p1", "c3"],
            "parent_jurisdiction": ["510000", "512000", "510000", "512000"],
            "level_pair": ["city>province", "county>city", "county>province", "county>city"],
        }
    )
    best, scores = tune_threshold(lambda t: extract_one_links(items, REGISTRY, threshold=t), truth, (70, 80, 90, 95))
    grid = extract_one_scores(items, REGISTRY, truth, (70, 80, 90, 95))
    assert grid[best].f1 == pytest.approx(scores.f1)
    assert scores.f1 == max(s.f1 for s in grid.values())


def test_splink_is_imported_lazily() -> None:
    code = "import sys, synthetic.evaluate; print('splink' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_splink_baseline_runs() -> None:
    links = splink_links(items_frame(), REGISTRY)
    assert links.schema == LINKS
    frame = links.to_pandas()
    assert not frame.duplicated(["child_item_id", "parent_jurisdiction"]).any()
    assert frame["score"].between(0, 1).all()
