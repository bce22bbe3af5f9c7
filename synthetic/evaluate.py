"""Scoring cross-level links against known truth, and the baselines they are compared with.

Pure functions: nothing here reads files (``bench/eval.py`` builds the datasets and prints the table).

How links are scored. The unit is a (child item, ancestor jurisdiction) pair, because that is what the
contract allows one link for. A unit is *expected* when the truth names at least one parent for it in
that ancestor (a list that repeats a code can give a child two true parents; linking either is right).
A link is a true positive when its (child, parent) pair is in the truth, else a false positive; an
expected unit without a true-positive link is a false negative. Precision = TP / links, recall = TP /
expected units. Per ``method`` only precision (and the share of expected units each method found) is
meaningful, since a miss belongs to no method; per ``level_pair`` all three are.

Baselines (what a generic matcher does with the same items and the same ancestor blocking):

* ``exact_join_links`` — same ``name_norm`` in the ancestor, first parent by item id.
* ``extract_one_links`` — ``rapidfuzz.process.extractOne`` semantics (best ``WRatio`` per child and
  ancestor, kept when at least ``threshold``), computed with ``cdist`` per ancestor over distinct names;
  ``tune_threshold`` picks the threshold by F1 on a labelled set (the synthetic tree).
* ``splink_links`` — a Splink 5 model on DuckDB (settings in its docstring). Splink is imported lazily so
  that the pipeline does not need it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from rapidfuzz import fuzz, process

from transforms.ingest.jurisdictions import Registry
from transforms.publish.schema import LINKS


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 with the counts behind them."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    links: int
    expected: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _ratio(a: float, b: float) -> float:
    return a / b if b else (1.0 if a == 0 else 0.0)


def _scores(tp: int, fp: int, expected: int) -> Scores:
    fn = expected - tp
    precision = _ratio(tp, tp + fp) if tp + fp else 1.0
    recall = _ratio(tp, expected) if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, tp, fp, fn, tp + fp, expected)


def _frame(links: pa.Table | pd.DataFrame) -> pd.DataFrame:
    return links.to_pandas() if isinstance(links, pa.Table) else links


def score_links(links: pa.Table | pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """Score ``links`` (contract ``links`` columns) against ``truth``; see the module docstring.

    ``truth`` has ``child_item_id``, ``parent_item_id``, ``parent_jurisdiction`` and ``level_pair``.
    Returns ``{"overall": Scores, "by_method": {m: {...}}, "by_level_pair": {lp: Scores}}``.
    """
    lk = _frame(links)
    truth = truth.drop_duplicates(["child_item_id", "parent_item_id"])
    true_pairs = set(zip(truth["child_item_id"], truth["parent_item_id"], strict=True))
    if len(lk):
        correct = np.fromiter(
            ((c, p) in true_pairs for c, p in zip(lk["child_item_id"], lk["parent_item_id"], strict=True)),
            dtype=bool,
            count=len(lk),
        )
    else:
        correct = np.zeros(0, dtype=bool)
    lk = lk.assign(correct=correct)
    units = truth.drop_duplicates(["child_item_id", "parent_jurisdiction"])
    overall = _scores(int(correct.sum()), int((~correct).sum()), len(units))

    by_method: dict[str, dict[str, Any]] = {}
    for m, group in lk.groupby("method", sort=True):
        tp = int(group["correct"].sum())
        by_method[str(m)] = {
            "links": len(group),
            "tp": tp,
            "fp": len(group) - tp,
            "precision": round(_ratio(tp, len(group)), 4),
            "share_of_expected": round(_ratio(tp, len(units)), 4),
        }
    by_level: dict[str, Scores] = {}
    pairs = sorted(set(units["level_pair"]) | set(lk["level_pair"] if len(lk) else []))
    for lp in pairs:
        group = lk[lk["level_pair"] == lp] if len(lk) else lk
        tp = int(group["correct"].sum()) if len(group) else 0
        by_level[str(lp)] = _scores(tp, len(group) - tp, int((units["level_pair"] == lp).sum()))
    return {"overall": overall, "by_method": by_method, "by_level_pair": by_level}


def errors(links: pa.Table | pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(false-positive links, false-negative truth units) for error analysis."""
    lk = _frame(links)
    true_pairs = set(zip(truth["child_item_id"], truth["parent_item_id"], strict=True))
    ok = np.array([(c, p) in true_pairs for c, p in zip(lk["child_item_id"], lk["parent_item_id"], strict=True)])
    fp = lk[~ok] if len(lk) else lk
    found = set(zip(lk["child_item_id"][ok], lk["parent_jurisdiction"][ok], strict=True)) if len(lk) else set()
    units = truth.drop_duplicates(["child_item_id", "parent_jurisdiction"])
    missed = np.array(
        [(c, j) not in found for c, j in zip(units["child_item_id"], units["parent_jurisdiction"], strict=True)],
        dtype=bool,
    )
    return fp, units[missed]


# --------------------------------------------------------------------------------------------------
# shared plumbing for the baselines


def ancestor_units(items: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """(child row position, ancestor jurisdiction) for every ancestor that has items."""
    codes = set(items["jurisdiction_code"])
    rows = []
    for code, idx in items.groupby("jurisdiction_code", sort=True).indices.items():
        try:
            chain = registry.ancestors(code)
        except KeyError:
            chain = ()
        for anc in chain:
            if anc in codes:
                rows.append(pd.DataFrame({"crow": idx, "anc": anc}))
    if not rows:
        return pd.DataFrame({"crow": np.zeros(0, dtype=np.int64), "anc": np.zeros(0, dtype=object)})
    return pd.concat(rows, ignore_index=True)


def _links_table(items: pd.DataFrame, crow: np.ndarray, prow: np.ndarray, method: str, score: np.ndarray) -> pa.Table:
    child = items.iloc[crow]
    parent = items.iloc[prow]
    level_pair = (child["level"].astype(str).to_numpy() + ">" + parent["level"].astype(str).to_numpy()).tolist()
    table = pa.table(
        {
            "child_item_id": pa.array(child["item_id"].astype(str).tolist(), pa.string()),
            "parent_item_id": pa.array(parent["item_id"].astype(str).tolist(), pa.string()),
            "child_jurisdiction": pa.array(child["jurisdiction_code"].astype(str).tolist(), pa.string()),
            "parent_jurisdiction": pa.array(parent["jurisdiction_code"].astype(str).tolist(), pa.string()),
            "level_pair": pa.array(level_pair, pa.string()),
            "method": pa.array([method] * len(crow), pa.string()),
            "score": pa.array(np.asarray(score, dtype=float), pa.float64()),
            "reason": pa.array([method] * len(crow), pa.string()),
        },
        schema=LINKS,
    )
    return table.sort_by([("child_item_id", "ascending"), ("parent_jurisdiction", "ascending")])


def exact_join_links(items: pd.DataFrame, registry: Registry) -> pa.Table:
    """Baseline: link when the ancestor has an item with the same ``name_norm`` (first by item id)."""
    items = items.reset_index(drop=True)
    units = ancestor_units(items, registry)
    parents = pd.DataFrame(
        {"anc": items["jurisdiction_code"], "name": items["name_norm"], "prow": np.arange(len(items))}
    )
    parents = parents.assign(pid=items["item_id"]).sort_values("pid").drop_duplicates(["anc", "name"])
    left = units.assign(name=items["name_norm"].to_numpy()[units["crow"].to_numpy()])
    both = left.merge(parents, on=["anc", "name"])
    return _links_table(items, both["crow"].to_numpy(), both["prow"].to_numpy(), "exact-join", np.ones(len(both)))


def _best_by_block(
    items: pd.DataFrame,
    registry: Registry,
    scorer: Callable[..., float],
    cutoff: float,
    key: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """extractOne per (distinct child name, ancestor): the best-scoring parent name above ``cutoff``."""
    items = items.reset_index(drop=True)
    names = (key(items) if key is not None else items["name_norm"]).astype(str).to_numpy()
    units = ancestor_units(items, registry)
    out_c: list[np.ndarray] = []
    out_p: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    rows_by_j = items.groupby("jurisdiction_code", sort=True).indices
    for anc, group in units.groupby("anc", sort=True):
        prow = rows_by_j[anc]
        pnames = pd.Series(names[prow])
        choice_names = np.unique(pnames.to_numpy())
        # parent per distinct name: the first by item id
        pframe = pd.DataFrame({"name": pnames.to_numpy(), "prow": prow, "pid": items["item_id"].to_numpy()[prow]})
        pick = pframe.sort_values("pid").drop_duplicates("name").set_index("name")["prow"]
        crows = group["crow"].to_numpy()
        qnames, inv = np.unique(names[crows], return_inverse=True)
        best_c = np.full(len(qnames), -1, dtype=np.int64)
        best_s = np.zeros(len(qnames))
        chunk = max(1, int(4_000_000 // max(1, len(choice_names))))
        for start in range(0, len(qnames), chunk):
            matrix = process.cdist(
                qnames[start : start + chunk].tolist(),
                choice_names.tolist(),
                scorer=scorer,
                dtype=np.float32,
                workers=-1,
            )
            arg = matrix.argmax(axis=1)
            val = matrix[np.arange(len(arg)), arg]
            keep = val >= cutoff
            best_c[start : start + chunk] = np.where(keep, arg, -1)
            best_s[start : start + chunk] = val
        chosen = best_c[inv]
        ok = chosen >= 0
        out_c.append(crows[ok])
        out_p.append(pick.loc[choice_names[chosen[ok]]].to_numpy())
        out_s.append(best_s[inv][ok] / 100.0)
    if not out_c:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0)
    return np.concatenate(out_c), np.concatenate(out_p), np.concatenate(out_s)


def extract_one_links(
    items: pd.DataFrame, registry: Registry, *, threshold: float = 80.0, scorer: Callable[..., float] = fuzz.WRatio
) -> pa.Table:
    """Baseline: best ``WRatio`` parent name per child and ancestor, linked when ≥ ``threshold`` (0–100)."""
    items = items.reset_index(drop=True)
    c, p, s = _best_by_block(items, registry, scorer, threshold)
    return _links_table(items, c, p, "extractOne", s)


def tune_threshold(
    make_links: Callable[[float], pa.Table], truth: pd.DataFrame, thresholds: Iterable[float]
) -> tuple[float, Scores]:
    """The threshold with the best F1 (ties: the higher threshold) and its scores."""
    best: tuple[float, Scores] | None = None
    for t in thresholds:
        s = score_links(make_links(t), truth)["overall"]
        if best is None or s.f1 > best[1].f1 + 1e-12 or (math.isclose(s.f1, best[1].f1) and t > best[0]):
            best = (t, s)
    if best is None:
        raise ValueError("thresholds: empty")
    return best


def extract_one_scores(
    items: pd.DataFrame, registry: Registry, truth: pd.DataFrame, thresholds: Sequence[float]
) -> dict[float, Scores]:
    """extractOne F1 at every threshold from one scoring pass (the best score per unit is computed once)."""
    items = items.reset_index(drop=True)
    c, p, s = _best_by_block(items, registry, fuzz.WRatio, 0.0)
    out = {}
    for t in thresholds:
        keep = s * 100.0 >= t
        out[t] = score_links(_links_table(items, c[keep], p[keep], "extractOne", s[keep]), truth)["overall"]
    return out


# --------------------------------------------------------------------------------------------------
# Splink


def splink_links(items: pd.DataFrame, registry: Registry, *, threshold: float = 0.5, seed: int = 0) -> pa.Table:
    """Baseline: a Splink 5 model (DuckDB backend), best parent per child and ancestor above ``threshold``.

    Settings, chosen as a reasonable generic setup rather than tuned to these names:

    * link_only between *child units* (child item × ancestor jurisdiction) and *parent items*;
    * blocking: ``block_on("block_jur", "power_type")`` — same ancestor jurisdiction, same power type;
    * comparisons: ``name_norm`` Jaro-Winkler at 0.95 / 0.88 / 0.80; ``main_name`` exact;
      ``sub_item`` exact (null-aware); ``department`` Jaro-Winkler at 0.9;
    * training: u by random sampling (1e6 pairs, seeded); λ from the deterministic rule "same
      ``name_norm``" at assumed recall 0.7; m by EM over the prediction blocking rule;
    * prediction: match probability ≥ ``threshold``, then the best pair per child unit.
    """
    import logging

    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    logging.getLogger("splink").setLevel(logging.ERROR)
    items = items.reset_index(drop=True)
    units = ancestor_units(items, registry)
    if units.empty:
        return LINKS.empty_table()
    cols = ["name_norm", "main_name", "sub_item", "department", "power_type"]
    base = items[cols].astype(object).where(items[cols].notna(), None)
    left = base.iloc[units["crow"].to_numpy()].reset_index(drop=True)
    left.insert(0, "unique_id", [f"c{i}" for i in range(len(units))])
    left["block_jur"] = units["anc"].to_numpy()
    right = base.copy()
    right.insert(0, "unique_id", [f"p{i}" for i in range(len(items))])
    right["block_jur"] = items["jurisdiction_code"].to_numpy()
    settings = SettingsCreator(
        link_type="link_only",
        blocking_rules_to_generate_predictions=[block_on("block_jur", "power_type")],
        comparisons=[
            cl.JaroWinklerAtThresholds("name_norm", [0.95, 0.88, 0.80]),
            cl.ExactMatch("main_name"),
            cl.ExactMatch("sub_item"),
            cl.JaroWinklerAtThresholds("department", [0.9]),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db = DuckDBAPI()
    linker = Linker(
        [db.register(left, table_name="children"), db.register(right, table_name="parents")],
        settings,
        log_level=logging.ERROR,
    )
    linker.training.estimate_probability_two_random_records_match([block_on("block_jur", "name_norm")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("block_jur", "power_type"))
    pred = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    if pred.empty:
        return LINKS.empty_table()
    # orient: child unit on one side, parent on the other
    l_is_child = pred["unique_id_l"].str.startswith("c")
    cid = np.where(l_is_child, pred["unique_id_l"], pred["unique_id_r"])
    pid = np.where(l_is_child, pred["unique_id_r"], pred["unique_id_l"])
    frame = pd.DataFrame(
        {"unit": [int(x[1:]) for x in cid], "prow": [int(x[1:]) for x in pid], "p": pred["match_probability"]}
    )
    frame = frame.sort_values(["unit", "p", "prow"], ascending=[True, False, True]).drop_duplicates("unit")
    crow = units["crow"].to_numpy()[frame["unit"].to_numpy()]
    return _links_table(items, crow, frame["prow"].to_numpy(), "splink", frame["p"].to_numpy())


# --------------------------------------------------------------------------------------------------
# findings


def truth_links(items: pd.DataFrame, truth: pd.DataFrame) -> pa.Table:
    """The true links (``truth``: child_item_id, parent_item_id) as a LINKS table, one per unit (the
    first parent by id where a list repeats an item), as the matcher would have made them."""
    frame = truth[["child_item_id", "parent_item_id"]].merge(
        items[["item_id"]].reset_index(names="row"), left_on="child_item_id", right_on="item_id"
    )
    frame = frame.merge(
        items[["item_id", "jurisdiction_code"]].reset_index(names="prow"), left_on="parent_item_id", right_on="item_id"
    )
    frame = frame.sort_values(["row", "jurisdiction_code", "parent_item_id"]).drop_duplicates(
        ["row", "jurisdiction_code"]
    )
    return _links_table(
        items, frame["row"].to_numpy(), frame["prow"].to_numpy(), "truth", np.ones(len(frame), dtype=float)
    )


def score_findings(found: pa.Table, expected: pa.Table) -> dict[str, Scores]:
    """Per finding kind: the run's findings (``found``) against the expected ones, by ``finding_id``
    (kind, item and other item or jurisdiction: the same finding about the same items)."""
    got = found.select(["kind", "finding_id"]).to_pandas()
    want = expected.select(["kind", "finding_id"]).to_pandas()
    out: dict[str, Scores] = {}
    for kind in sorted(set(got["kind"]) | set(want["kind"])):
        g = set(got.loc[got["kind"] == kind, "finding_id"])
        w = set(want.loc[want["kind"] == kind, "finding_id"])
        out[kind] = _scores(len(g & w), len(g - w), len(w))
    return out


def score_labelled_findings(
    found: pa.Table, items: pd.DataFrame, labels: pd.DataFrame
) -> tuple[dict[str, Scores], pd.DataFrame]:
    """Per kind: findings against labels (``synthetic.findings_cases``: kind, present, source_id,
    row_no, other_jurisdiction_code, other_source_id, other_row_no; blank other columns match any).

    A finding is a true positive when a ``yes`` label names it, a false positive when no label does or
    a ``no`` label does; ``either`` labels are not counted. Returns the scores and every finding with
    its verdict (for the misses and false alarms to be read).
    """
    where = items.set_index("item_id")[["source_id", "row_no"]]
    frame = found.select(["kind", "item_id", "other_item_id", "other_jurisdiction_code", "message"]).to_pandas()
    frame["source_id"] = frame["item_id"].map(where["source_id"])
    frame["row_no"] = frame["item_id"].map(where["row_no"]).astype("Int64").astype(str)
    frame["other_source_id"] = frame["other_item_id"].map(where["source_id"])
    frame["other_row_no"] = frame["other_item_id"].map(where["row_no"]).astype("Int64").astype(str)
    labels = labels.fillna("").astype(str)
    verdict: list[str] = []
    matched: set[int] = set()
    by_item = {k: g for k, g in labels.groupby(["kind", "source_id", "row_no"])}
    for row in frame.itertuples():
        candidates = by_item.get((row.kind, row.source_id, row.row_no))
        found_label = ""
        if candidates is not None:
            for index, label in candidates.iterrows():
                if label["other_jurisdiction_code"] and label["other_jurisdiction_code"] != (
                    row.other_jurisdiction_code or ""
                ):
                    continue
                if label["other_row_no"] and (
                    label["other_source_id"] != row.other_source_id or label["other_row_no"] != row.other_row_no
                ):
                    continue
                found_label = label["present"]
                matched.add(index)
                break
        verdict.append({"yes": "tp", "either": "either", "no": "fp (look-alike)"}.get(found_label, "fp (unlabelled)"))
    frame["verdict"] = verdict
    misses = labels[(labels["present"] == "yes") & ~labels.index.isin(matched)]
    scores: dict[str, Scores] = {}
    for kind in sorted(set(frame["kind"]) | set(labels.loc[labels["present"] == "yes", "kind"])):
        mine = frame[frame["kind"] == kind]
        tp = int((mine["verdict"] == "tp").sum())
        fp = int(mine["verdict"].str.startswith("fp").sum())
        expected = tp + int((misses["kind"] == kind).sum())
        scores[kind] = _scores(tp, fp, expected)
    misses = misses.assign(verdict="fn")
    return scores, pd.concat([frame, misses], ignore_index=True)
