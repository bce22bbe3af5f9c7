"""``make eval``: link quality of powerlists matching against the baselines, on real and synthetic data.

Datasets (each gives items as the pipeline would, a registry and the true links):

* ``sichuan-real`` — the two real Sichuan lists (data/realdata/sichuan, or ``$POWERLISTS_REALDATA``):
  the 资阳市 (512000) market-regulation list is treated as the parent of the 广安区 (511602) list, for
  evaluation only (the places differ, but Sichuan basic codes are province-wide). Every code is stripped
  before matching; the truth is "same ``basic_code``". The real city list gives two different items the
  same code (its rows 83 and 86, noted in SOURCE.md); ``sichuan-real-clean`` scores the same links with
  every pair touching such a colliding code left out, because that truth is wrong by construction.
* ``synthetic`` — ``generate_tree(seed=0, provinces=3)`` (北京, 天津, 河北: ~60k rows, every level pair),
  its ``truth.csv``. Codes are kept (as published); ``synthetic-nocode`` strips them to test the names.
* ``sample`` — the bundled data/sample tree and its ``truth.csv`` (when present).

Methods: ``powerlists`` (``transforms.link.match.link_items`` at the default threshold), ``exact-join``,
``extractOne`` (WRatio, threshold tuned for F1 on ``synthetic``) and ``splink`` (see
``synthetic.evaluate.splink_links``; ``--no-splink`` skips it).

Rows are read with ``transforms.ingest.read.read_rows`` and normalised with ``transforms.clean.normalise.normalise``;
validation is the critical expectations of ``expectations/items_suite.json`` applied directly (no Great
Expectations run, same verdicts), so quarantined rows are not items here either.

Findings are scored per kind, twice:

* ``findings-cases`` — the labelled tree of ``synthetic.findings_cases`` (every finding planted, with
  look-alikes that must not be raised): precision and recall against its ``expected_findings.csv``;
* ``synthetic`` and ``sample`` — the run's findings against those the same checks raise on the *true*
  links: what matching errors cost the quality team (a ``code_mismatch`` there is a wrong link it
  exposed, which is the kind's purpose, not a false alarm).

Prints the link table (method | dataset | P | R | F1 | seconds), then the findings table (dataset | kind
| severity | P | R | TP | FP | FN), and writes ``bench/results/eval.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from synthetic.evaluate import (  # noqa: E402
    exact_join_links,
    extract_one_links,
    extract_one_scores,
    score_findings,
    score_labelled_findings,
    score_links,
    splink_links,
    truth_links,
)
from synthetic.findings_cases import PUBLISHED, write_cases  # noqa: E402
from transforms.clean.items import add_jurisdiction_columns, item_ids  # noqa: E402
from transforms.clean.normalise import normalise  # noqa: E402
from transforms.examine.checks import find_all  # noqa: E402
from transforms.examine.kinds import KINDS  # noqa: E402
from transforms.examine.reform import ReformCheck  # noqa: E402
from transforms.ingest.jurisdictions import Jurisdiction, Registry, load_registry  # noqa: E402
from transforms.ingest.read import read_rows, read_spec_rows  # noqa: E402
from transforms.link.match import DEFAULT_THRESHOLD, link_items  # noqa: E402
from transforms.publish.schema import CHANGES  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "eval.json"
SUITE = ROOT / "expectations" / "items_suite.json"
SAMPLE = ROOT / "data" / "sample"
REAL_CITY = "sichuan_ziyang_city_512000_market_regulation_items.csv"
REAL_DISTRICT = "sichuan_guangan_district_511602_items.csv"
EXTRACT_ONE_GRID = tuple(range(70, 101, 2))


def realdata_dir() -> Path:
    return Path(os.environ.get("POWERLISTS_REALDATA", ROOT / "data" / "realdata"))


# --------------------------------------------------------------------------------------------------
# items as the pipeline makes them


def critical_mask(frame: pd.DataFrame, suite_path: Path = SUITE) -> np.ndarray:
    """Rows that pass read checks and every critical expectation of the suite (True = item)."""
    ok = np.array([not e for e in frame["row_errors"]], dtype=bool)
    suite = json.loads(suite_path.read_text(encoding="utf-8"))
    for spec in suite["expectations"]:
        if spec.get("severity", "critical") != "critical":
            continue
        kwargs = spec["kwargs"]
        col = frame[kwargs["column"]] if kwargs["column"] in frame else pd.Series(None, index=frame.index)
        present = col.notna().to_numpy()
        text = col.astype(object).where(col.notna(), "").astype(str)
        kind = spec["type"]
        if kind == "expect_column_values_to_not_be_null":
            ok &= present
        elif kind == "expect_column_values_to_not_match_regex":
            pattern = re.compile(kwargs["regex"], re.IGNORECASE)
            ok &= ~(present & np.array([bool(pattern.search(t)) for t in text], dtype=bool))
        elif kind == "expect_column_values_to_match_regex":
            pattern = re.compile(kwargs["regex"])
            ok &= ~present | np.array([bool(pattern.search(t)) for t in text], dtype=bool)
        elif kind == "expect_column_value_lengths_to_be_between":
            n = text.str.len().to_numpy()
            ok &= ~present | ((n >= kwargs["min_value"]) & (n <= kwargs["max_value"]))
        else:  # pragma: no cover - a new expectation type: be loud rather than silently lenient
            raise ValueError(f"{suite_path}: expectation type {kind} not handled by bench/eval.py")
    return ok


def finish_items(frames: list[pd.DataFrame], registry: Registry) -> pd.DataFrame:
    """Concatenate normalised row frames, keep the valid rows and give them contract item ids."""
    frame = pd.concat(frames, ignore_index=True)
    frame = add_jurisdiction_columns(frame, registry)
    frame = frame[critical_mask(frame)].reset_index(drop=True)
    frame["item_id"] = item_ids(frame)
    return frame


def manifest_items(manifest: Path, registry: Registry, *, strip_codes: bool = False) -> pd.DataFrame:
    """Read, normalise and validate every source of a manifest (no Prefect, no GX)."""
    from transforms.ingest.manifest import load_manifest

    spec = load_manifest(manifest, registry.codes())
    frames = []
    for src in spec.sources:
        data = src.path.read_bytes()
        frame, _ = read_spec_rows(data, src)
        if strip_codes:
            frame["code_raw"] = None
        frame["jurisdiction_code"] = src.jurisdiction
        frames.append(normalise(frame))
    return finish_items(frames, registry)


def truth_from_csv(path: Path, items: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Truth rows (by source, sheet, row) → item ids; returns (truth, rows whose items are not items)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    key = pd.Series(
        items["item_id"].to_numpy(),
        index=pd.MultiIndex.from_arrays(
            [items["source_id"].astype(str), items["sheet"].fillna("").astype(str), items["row_no"].astype(str)]
        ),
    )
    key = key[~key.index.duplicated()]
    child = pd.MultiIndex.from_arrays([raw["child_source_id"], raw["child_sheet"], raw["child_row_no"]])
    parent = pd.MultiIndex.from_arrays([raw["parent_source_id"], raw["parent_sheet"], raw["parent_row_no"]])
    c = key.reindex(child).to_numpy()
    p = key.reindex(parent).to_numpy()
    ok = pd.notna(c) & pd.notna(p)
    truth = pd.DataFrame({"child_item_id": c[ok], "parent_item_id": p[ok]})
    return with_truth_columns(truth, items), int((~ok).sum())


def with_truth_columns(truth: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    jur = dict(zip(items["item_id"], items["jurisdiction_code"], strict=True))
    level = dict(zip(items["item_id"], items["level"], strict=True))
    return truth.assign(
        parent_jurisdiction=truth["parent_item_id"].map(jur),
        level_pair=truth["child_item_id"].map(level) + ">" + truth["parent_item_id"].map(level),
    ).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# datasets


def sichuan_registry() -> Registry:
    """512000 as the parent of 511602, for this evaluation only."""
    rows = {
        "000000": Jurisdiction("000000", "全国", "national", None),
        "510000": Jurisdiction("510000", "四川省", "province", "000000"),
        "512000": Jurisdiction("512000", "资阳市", "city", "510000"),
        "511602": Jurisdiction("511602", "广安区", "county", "512000"),
    }
    return Registry(rows)


def real_sichuan(folder: Path | None = None) -> tuple[pd.DataFrame, Registry, pd.DataFrame, pd.DataFrame]:
    """(items with codes stripped, registry, truth, truth without colliding codes) of the real pair."""
    folder = folder or realdata_dir() / "sichuan"
    registry = sichuan_registry()
    frames = []
    for sid, fname, code in (("sc-512000", REAL_CITY, "512000"), ("sc-511602", REAL_DISTRICT, "511602")):
        data = (folder / fname).read_bytes()
        header = data.split(b"\n", 1)[0].decode("utf-8-sig")
        columns = {"name": "item_name", "power_type": "task_type"}
        if "department" in header.split(","):
            columns["department"] = "department"
        frame, _ = read_rows(data, source_id=sid, fmt="csv", columns=columns)
        frame["basic_code_truth"] = [row.get("basic_code") or None for row in frame["raw"]]
        # strip every code: the code cell, and the code-bearing cells kept in raw/extra
        frame["code_raw"] = None
        frame["extra"] = [
            {k: v for k, v in (e or {}).items() if "code" not in k and k != "source_url"} for e in frame["extra"]
        ]
        frame["jurisdiction_code"] = code
        frames.append(normalise(frame))
    items = finish_items(frames, registry)
    codes = items["basic_code_truth"]
    child = items[items["jurisdiction_code"] == "511602"]
    parent = items[items["jurisdiction_code"] == "512000"]
    pairs = child[["item_id", "basic_code_truth"]].merge(
        parent[["item_id", "basic_code_truth"]], on="basic_code_truth", suffixes=("_c", "_p")
    )
    truth = with_truth_columns(
        pd.DataFrame({"child_item_id": pairs["item_id_c"], "parent_item_id": pairs["item_id_p"]}), items
    )
    # a code that one list gives to differently named items is no evidence of identity
    named = items.assign(code=codes).dropna(subset=["code"])
    colliding = named.groupby(["jurisdiction_code", "code"])["name_norm"].nunique()
    bad_codes = {c for (_, c), n in colliding.items() if n > 1}
    bad_items = set(named["item_id"][named["code"].isin(bad_codes)])
    clean = truth[~truth["child_item_id"].isin(bad_items) & ~truth["parent_item_id"].isin(bad_items)]
    items.attrs["excluded_items"] = sorted(bad_items)
    return items.drop(columns=["basic_code_truth"]), registry, truth, clean.reset_index(drop=True)


def synthetic(workdir: Path, *, seed: int = 0, provinces: int = 3, strip_codes: bool = False) -> tuple:
    """(items, registry, truth, info) of a generated tree (synthetic.generate.generate_tree)."""
    from synthetic.generate import generate_tree

    manifest = workdir / "sources.toml"
    if not manifest.exists():
        generate_tree(workdir, provinces=provinces, seed=seed)
    registry = load_registry()
    items = manifest_items(manifest, registry, strip_codes=strip_codes)
    truth, dropped = truth_from_csv(workdir / "truth.csv", items)
    return items, registry, truth, {"truth_rows_not_items": dropped}


def sample(strip_codes: bool = False) -> tuple | None:
    if not (SAMPLE / "truth.csv").exists() or not (SAMPLE / "sources.toml").exists():
        return None
    registry = load_registry()
    items = manifest_items(SAMPLE / "sources.toml", registry, strip_codes=strip_codes)
    truth, dropped = truth_from_csv(SAMPLE / "truth.csv", items)
    return items, registry, truth, {"truth_rows_not_items": dropped}


# --------------------------------------------------------------------------------------------------
# running


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _drop_items(links: Any, excluded: set[str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not excluded:
        return links
    bad = pa.array(sorted(excluded), pa.string())
    keep = pc.invert(
        pc.or_(pc.is_in(links.column("child_item_id"), bad), pc.is_in(links.column("parent_item_id"), bad))
    )
    return links.filter(keep)


def run_findings(items: pd.DataFrame, registry: Registry, links: Any, as_of: Any = None, rules: Any = None) -> Any:
    """The findings a run raises on these items and links (one list version each: no changes);
    ``rules``: the reform rules (``data/vocab/reform_rules.toml`` when None)."""
    current = items.reset_index(drop=True)
    reform = ReformCheck.prepare(current, links, registry, rules)
    return find_all(registry, current, current, links, CHANGES.empty_table(), as_of, reform)


def findings_rows(dataset: str, scores: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "dataset": dataset,
            "kind": kind,
            "severity": KINDS[kind].severity,
            "P": s.precision,
            "R": s.recall,
            "TP": s.tp,
            "FP": s.fp,
            "FN": s.fn,
        }
        for kind, s in scores.items()
    ]


def findings_cases(workdir: Path, seed: int = 0, rules: Any = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Scores and per-finding verdicts on the labelled findings tree (``synthetic.findings_cases``)."""
    import datetime as dt

    manifest = write_cases(workdir, seed)
    registry = load_registry()
    items = manifest_items(manifest, registry)
    links = link_items(items, registry)
    found = run_findings(items, registry, links, dt.date.fromisoformat(PUBLISHED), rules)
    labels = pd.read_csv(workdir / "expected_findings.csv", dtype=str, keep_default_na=False)
    return score_labelled_findings(found, items, labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-splink", action="store_true", help="skip the Splink baseline")
    parser.add_argument("--provinces", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workdir", type=Path, default=None, help="where the synthetic tree is written")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {}

    def add(method: str, dataset: str, links: Any, truth: pd.DataFrame, seconds: float, **extra: Any) -> None:
        scored = score_links(links, truth)
        o = scored["overall"]
        rows.append(
            {"method": method, "dataset": dataset, "P": o.precision, "R": o.recall, "F1": o.f1, "seconds": seconds}
        )
        details[f"{method}|{dataset}"] = {
            "overall": o.as_dict(),
            "by_method": scored["by_method"],
            "by_level_pair": {k: v.as_dict() for k, v in scored["by_level_pair"].items()},
            **extra,
        }

    tmp = tempfile.TemporaryDirectory(prefix="powerlists-eval-")
    workdir = args.workdir or Path(tmp.name) / "synthetic"
    datasets: dict[str, tuple] = {}
    syn, syn_s = _timed(lambda: synthetic(workdir, provinces=args.provinces))
    datasets["synthetic"] = syn
    datasets["synthetic-nocode"] = synthetic(workdir, provinces=args.provinces, strip_codes=True)
    smp = sample()
    if smp is not None:
        datasets["sample"] = smp
    real_items, real_reg, real_truth, real_clean = real_sichuan()
    datasets["sichuan-real"] = (real_items, real_reg, real_truth, {})

    # extractOne threshold: tuned for F1 on the synthetic tree (the same rule as powerlists' threshold)
    syn_items, syn_reg, syn_truth, _ = datasets["synthetic"]
    grid = extract_one_scores(syn_items, syn_reg, syn_truth, EXTRACT_ONE_GRID)
    eo_threshold = max(grid, key=lambda t: (round(grid[t].f1, 6), t))
    details["extractOne_tuning"] = {str(t): s.as_dict() for t, s in grid.items()}

    for name, (items, registry, truth, info) in datasets.items():
        links, sec = _timed(
            lambda items=items, registry=registry: link_items(items, registry, threshold=args.threshold)
        )
        add("powerlists", name, links, truth, sec, items=len(items), truth_units=len(truth), **info)
        if name == "sichuan-real":
            excluded = set(real_items.attrs.get("excluded_items", []))
            add("powerlists", "sichuan-real-clean", _drop_items(links, excluded), real_clean, sec)
        base, sec = _timed(lambda items=items, registry=registry: exact_join_links(items, registry))
        add("exact-join", name, base, truth, sec)
        base, sec = _timed(
            lambda items=items, registry=registry: extract_one_links(items, registry, threshold=eo_threshold)
        )
        add(f"extractOne≥{eo_threshold:g}", name, base, truth, sec)
        if name == "sichuan-real":
            add(f"extractOne≥{eo_threshold:g}", "sichuan-real-clean", _drop_items(base, excluded), real_clean, sec)
        if not args.no_splink and name != "synthetic-nocode":
            base, sec = _timed(lambda items=items, registry=registry: splink_links(items, registry))
            add("splink", name, base, truth, sec)

    finding_rows: list[dict[str, Any]] = []
    scores, verdicts = findings_cases(Path(tmp.name) / "findings-cases")
    finding_rows += findings_rows("findings-cases", scores)
    wrong = verdicts[verdicts["verdict"].isin(["fn", "fp (look-alike)", "fp (unlabelled)"])]
    details["findings-cases|misses"] = (
        wrong.drop(columns=["item_id", "other_item_id"], errors="ignore").astype(str).to_dict(orient="records")
    )
    for name in ("synthetic", "sample"):
        if name not in datasets:
            continue
        items, registry, truth, _ = datasets[name]
        links = link_items(items, registry, threshold=args.threshold)
        expected = run_findings(items, registry, truth_links(items, truth))
        finding_rows += findings_rows(
            f"{name} (vs true links)", score_findings(run_findings(items, registry, links), expected)
        )

    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"synthetic tree: {len(syn_items):,} items, {len(syn_truth):,} true links, generated+read in {syn_s:.1f}s")
    print(
        table.to_string(
            index=False,
            formatters={"P": "{:.4f}".format, "R": "{:.4f}".format, "F1": "{:.4f}".format, "seconds": "{:.2f}".format},
        )
    )
    findings_table = pd.DataFrame(finding_rows)
    print(findings_table.to_string(index=False, formatters={"P": "{:.4f}".format, "R": "{:.4f}".format}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "threshold": args.threshold,
        "extractOne_threshold": eo_threshold,
        "table": table.round(4).to_dict(orient="records"),
        "findings": findings_table.round(4).to_dict(orient="records"),
        "details": details,
    }
    args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
