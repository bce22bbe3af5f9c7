"""``make bench``: throughput, memory and link quality of the whole flow at 10k, 100k and 1M items.

A script, not a test: it prints one table and writes ``bench/results/*.json``; it asserts nothing.

What it does, and why each choice:

* **Data** — synthetic trees from ``synthetic.generate.generate_tree`` (real names, realistic noise,
  ground truth), cached under ``bench/data/<scale>/`` (gitignored) with the arguments in
  ``params.json``, so reruns do not pay the generation again. Scales (one list per jurisdiction):

  ========  ================================  =========  ===============
  scale     provinces                         lists      items per list
  ========  ================================  =========  ===============
  10k       宁夏 (640000)                      28         360
  100k      浙江 (330000)                      102        1,000
  1m        first 5 (北京 … 内蒙古)            458        2,300
  national  all 31 (``--national``)            3,252      3,000
  ========  ================================  =========  ===============

* **Runs** — every run is the real CLI (``python -m flows run``) in a *fresh subprocess*, so imports,
  the temporary Prefect server and teardown are paid as a user pays them, and peak memory is per run:
  ``os.wait4`` gives the run's own peak RSS (the flow process), and a sampler sums RSS over its
  whole process tree (Prefect server, Dask workers) every 0.2 s. Stage seconds come from the run's
  ``run.json``; ``read`` includes normalising (both happen in the per-source read task).
* **Quality** — links are scored against ``truth.csv`` with ``synthetic.evaluate.score_links``. Truth
  names rows by (source, sheet, row number), and so do items, which is how truth rows become item ids;
  truth rows whose row did not become an item (quarantined) are dropped and counted.
* **Baselines** (100k, same items as the flow produced, same registry, same ancestor blocking; run in
  this process so that time ratios are measured under the same load — the machine is shared):
  ``transforms.link.match.link_items`` (what the flow's match stage runs), exact-name join, rapidfuzz
  ``extractOne`` (WRatio; its threshold picked by F1 against the truth on this very data, which
  flatters it) and Splink 5 on DuckDB (``synthetic.evaluate.splink_links``: link-only between child
  units and parent items, blocking on ancestor jurisdiction + power type, Jaro-Winkler on the
  normalised name at 0.95/0.88/0.80, exact main name and sub-item, Jaro-Winkler department at 0.9;
  λ from "same name_norm" at recall 0.7, u by random sampling of 1e6 pairs, m by EM; best pair per
  unit at match probability ≥ 0.5).
* **Floor** — ``bench/floor.py`` right after each flow run, on the same tree, in a fresh process: it
  only opens every file, finds the name column, normalises distinct names and writes per-province
  Parquet. ``x floor`` (flow wall / floor wall) is the figure to compare between machines and commits.
* **Incremental** — a second run into the same output over unchanged inputs (the caches in
  ``OUT/.cache``, see ``flows/incremental.py``).
* **Scaling** — the same scale with ``--dask-workers 1`` and ``2`` (``flows/runners.py``). This
  machine has the cores it has (see the JSON): a curve beyond them needs a bigger machine.

Usage: ``python bench/bench.py [--scales 10k,100k,1m] [--national] [--no-baselines] [--no-splink]
[--no-incremental] [--dask 1,2] [--dask-scales 100k,1m]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"

SCALES: dict[str, dict[str, Any]] = {
    "10k": {"province_codes": ["640000"], "items_per_list": 360},
    "100k": {"province_codes": ["330000"], "items_per_list": 1000},
    "1m": {"provinces": 5, "items_per_list": 2300},
    "national": {"provinces": 31, "items_per_list": 3000},
}
SEED = 0
# run.json stages, grouped into the table's columns ("other": what the table has no column for)
STAGE_COLUMNS = {
    "read": ("fetch", "read"),
    "validate": ("validate",),
    "match": ("match",),
    "consolidate": ("consolidate",),
    "findings": ("changes", "findings", "summarise"),
    "write": ("write",),
}
PACKAGES = (
    "prefect",
    "prefect-dask",
    "dask",
    "distributed",
    "pandas",
    "pyarrow",
    "great-expectations",
    "rapidfuzz",
    "splink",
    "duckdb",
)


# ------------------------------------------------------------------------------------------ machine


def machine() -> dict[str, Any]:
    """What the numbers were measured on (they mean little without it)."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": commit,
    }


def load_now() -> list[float]:
    """1/5/15-minute load average: the machine is shared, so say how busy it was."""
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------------------ data


def ensure_tree(scale: str) -> tuple[Path, dict[str, Any]]:
    """The generated tree of a scale, generated once and reused while its arguments are unchanged."""
    from synthetic.generate import generate_tree

    params = {"seed": SEED, **SCALES[scale]}
    folder = DATA / scale
    stamp = folder / "params.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == params and (folder / "sources.toml").is_file():
        done = folder / "generated.json"
        return folder, json.loads(done.read_text()) if done.is_file() else {}
    if folder.exists():
        shutil.rmtree(folder)
    print(f"[bench] generating {scale} into {folder.relative_to(ROOT)} …", flush=True)
    tree = generate_tree(folder, **params)
    info = {"lists": tree.n_lists, "rows": tree.n_rows, "links": tree.n_links, "seconds": round(tree.seconds, 1)}
    (folder / "generated.json").write_text(json.dumps(info))
    stamp.write_text(json.dumps(params))
    return folder, info


# ------------------------------------------------------------------------------------------ runs


class TreeRss:
    """Peak of the summed RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid = pid
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                break
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


_LAUNCHER: concurrent.futures.ProcessPoolExecutor | None = None


def launcher() -> concurrent.futures.ProcessPoolExecutor:
    """A small process that starts the runs (``forkserver``: it is forked from a fresh interpreter).

    Linux carries a process's RSS high-water mark across fork+exec, so a run started from this
    script after it has scored a million links or run Splink (several GB) would report *this*
    process's peak as its own. Runs are therefore started by a process that stays small.
    """
    global _LAUNCHER
    if _LAUNCHER is None:
        _LAUNCHER = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("forkserver")
        )
    return _LAUNCHER


def run_flow(manifest: Path, out: Path, log: Path, extra: list[str] | None = None) -> dict[str, Any]:
    """One CLI run in a fresh process started by ``launcher()``; see ``_run_flow``."""
    return launcher().submit(_run_flow, manifest, out, log, extra).result()


def flow_env() -> dict[str, str]:
    """The CLI runs' environment: a bench-own Prefect home (API database), no analytics."""
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(OUT / ".prefect-home"))
    for key, value in {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }.items():
        env.setdefault(key, value)
    return env


def prepare_api_database() -> None:
    """Create (or migrate) the bench's Prefect database before anything is timed: on a fresh checkout
    the first run's temporary server otherwise spends ~10 s migrating it, which a scheduled
    deployment, whose database exists, never pays. On a fresh checkout the Prefect home does not
    exist yet, and SQLite cannot create a database in a missing folder."""
    Path(flow_env()["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
        env=flow_env(),
        check=True,
        capture_output=True,
    )


def _run_flow(manifest: Path, out: Path, log: Path, extra: list[str] | None = None) -> dict[str, Any]:
    """One CLI run in a fresh process: wall seconds, peak RSS (own and whole tree), its run.json."""
    env = flow_env()
    command = [sys.executable, "-m", "flows", "run", "--manifest", str(manifest), "--out", str(out), *(extra or [])]
    log.parent.mkdir(parents=True, exist_ok=True)
    load = load_now()
    with log.open("wb") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        with TreeRss(proc.pid) as sampler:
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}; see {log}")
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    started = dt.datetime.fromisoformat(run["started"])
    finished = dt.datetime.fromisoformat(run["finished"])
    return {
        "command": " ".join(["python", "-m", "flows", *command[3:]]).replace(str(ROOT) + "/", ""),
        "exit_code": proc.returncode,
        "wall_s": round(wall, 2),
        "flow_s": round((finished - started).total_seconds(), 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB; the largest single process of the run
        "peak_tree_rss_mib": round(sampler.peak / 2**20, 1),
        "user_s": round(usage.ru_utime, 1),
        "sys_s": round(usage.ru_stime, 1),
        "load_before": load,
        "run": run,
    }


def run_floor(manifest: Path, out: Path) -> dict[str, Any]:
    """``bench/floor.py`` on the same tree, in a fresh process started like the flow's runs."""
    return launcher().submit(_run_floor, manifest, out).result()


def _run_floor(manifest: Path, out: Path) -> dict[str, Any]:
    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "floor.py"), str(manifest), str(out)], stdout=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"bench/floor.py {manifest} exited {os.waitstatus_to_exitcode(status)}")
    inner = json.loads(proc.stdout.read())
    return {
        "wall_s": round(wall, 2),
        "work_s": inner["seconds"],
        "rows": inner["rows"],
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def stage_columns(stages: dict[str, float]) -> dict[str, float]:
    out = {col: round(sum(stages.get(s, 0.0) for s in names), 2) for col, names in STAGE_COLUMNS.items()}
    # "scopes" is the wall time of the per-province phase whose stages are the columns above
    known = {s for names in STAGE_COLUMNS.values() for s in names} | {"scopes"}
    out["other"] = round(sum(v for k, v in stages.items() if k not in known), 2)
    return out


# ------------------------------------------------------------------------------------------ quality


def read_items(out: Path, columns: list[str] | None = None) -> pd.DataFrame:
    dataset = ds.dataset(out / "items", format="parquet")  # province is in the files too
    table = dataset.to_table(columns=columns)
    return table.to_pandas()


def truth_links(truth_csv: Path, items: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """truth.csv rows (by source, sheet, row) → (child_item_id, parent_item_id, parent_jurisdiction,
    level_pair); returns them and how many truth rows name a row that is not an item."""
    raw = pd.read_csv(truth_csv, dtype=str, keep_default_na=False)
    key = pd.Series(
        items["item_id"].to_numpy(),
        index=pd.MultiIndex.from_arrays(
            [items["source_id"].astype(str), items["sheet"].fillna("").astype(str), items["row_no"].astype(str)]
        ),
    )
    key = key[~key.index.duplicated()]
    child = key.reindex(pd.MultiIndex.from_arrays([raw["child_source_id"], raw["child_sheet"], raw["child_row_no"]]))
    parent = key.reindex(
        pd.MultiIndex.from_arrays([raw["parent_source_id"], raw["parent_sheet"], raw["parent_row_no"]])
    )
    c, p = child.to_numpy(), parent.to_numpy()
    ok = pd.notna(c) & pd.notna(p)
    truth = pd.DataFrame({"child_item_id": c[ok], "parent_item_id": p[ok]})
    jur = pd.Series(items["jurisdiction_code"].to_numpy(), index=items["item_id"].to_numpy())
    level = pd.Series(items["level"].to_numpy(), index=items["item_id"].to_numpy())
    truth["parent_jurisdiction"] = jur.reindex(truth["parent_item_id"]).to_numpy()
    truth["level_pair"] = (
        level.reindex(truth["child_item_id"]).to_numpy() + ">" + level.reindex(truth["parent_item_id"]).to_numpy()
    )
    return truth, int((~ok).sum())


def score(out: Path, tree: Path) -> dict[str, Any]:
    """Precision/recall/F1 of the run's links against the tree's truth (synthetic.evaluate)."""
    from synthetic.evaluate import score_links

    items = read_items(out, ["item_id", "source_id", "sheet", "row_no", "jurisdiction_code", "level"])
    truth, dropped = truth_links(tree / "truth.csv", items)
    links = pq.read_table(out / "links.parquet")
    scored = score_links(links, truth)
    return {
        "overall": scored["overall"].as_dict(),
        "by_method": scored["by_method"],
        "by_level_pair": {k: v.as_dict() for k, v in scored["by_level_pair"].items()},
        "truth_rows_not_items": dropped,
    }


# ------------------------------------------------------------------------------------------ baselines


def baselines(out: Path, tree: Path, *, splink: bool) -> dict[str, Any]:
    """powerlists' matcher vs exact join, extractOne and Splink on the flow's own items (this process)."""
    from synthetic.evaluate import exact_join_links, extract_one_links, extract_one_scores, score_links, splink_links
    from transforms.ingest.jurisdictions import load_registry
    from transforms.ingest.manifest import load_manifest
    from transforms.link.match import DEFAULT_THRESHOLD, link_items

    manifest = load_manifest(tree / "sources.toml")
    registry = load_registry(manifest.jurisdictions)
    items = read_items(out)
    truth, _ = truth_links(tree / "truth.csv", items)
    rows: dict[str, Any] = {}

    def timed(name: str, fn: Any, **extra: Any) -> None:
        print(f"[bench] baseline {name} on {len(items):,} items …", flush=True)
        start = time.perf_counter()
        links = fn()
        seconds = time.perf_counter() - start
        overall = score_links(links, truth)["overall"]
        rows[name] = {"seconds": round(seconds, 2), "links": links.num_rows, **overall.as_dict(), **extra}

    timed("powerlists", lambda: link_items(items, registry, threshold=DEFAULT_THRESHOLD), threshold=DEFAULT_THRESHOLD)
    timed("exact-join", lambda: exact_join_links(items, registry))
    grid = tuple(range(70, 101, 2))
    start = time.perf_counter()
    scores = extract_one_scores(items, registry, truth, grid)
    tuning_s = time.perf_counter() - start
    best = max(scores, key=lambda t: (round(scores[t].f1, 6), t))
    timed("extractOne", lambda: extract_one_links(items, registry, threshold=best), threshold=best, tuned_on="truth")
    rows["extractOne"]["tuning_s"] = round(tuning_s, 2)
    if splink:
        timed("splink", lambda: splink_links(items, registry), threshold=0.5)
    base = rows["powerlists"]["seconds"]
    for row in rows.values():
        row["time_ratio_vs_powerlists"] = round(row["seconds"] / base, 2) if base else None
        row["f1_minus_powerlists"] = round(row["f1"] - rows["powerlists"]["f1"], 4)
    return {"items": len(items), "truth_units": len(truth), "methods": rows}


# ------------------------------------------------------------------------------------------ table


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table_row(label: str, result: dict[str, Any]) -> list[str]:
    cols = result["stages"]
    overall = (result.get("quality") or {}).get("overall") or {}
    return [
        label,
        _fmt(result["rows"]),
        *(_fmt(cols[c]) for c in ("read", "validate", "match", "consolidate", "findings", "write")),
        _fmt(result["flow_s"]),
        _fmt(result["wall_s"]),
        _fmt(result.get("floor", {}).get("wall_s")),
        _fmt(result.get("vs_floor"), 2),
        _fmt(round(result["items_per_s"])),
        _fmt(result["peak_rss_mib"], 0),
        _fmt(result["peak_tree_rss_mib"], 0),
        _fmt(overall.get("precision"), 4),
        _fmt(overall.get("recall"), 4),
        _fmt(overall.get("f1"), 4),
    ]


HEADER = [
    "scale",
    "rows",
    "read+norm",
    "validate",
    "match",
    "consolidate",
    "findings+sum",
    "write",
    "flow s",
    "wall s",
    "floor s",
    "x floor",
    "items/s",
    "RSS MiB",
    "tree RSS",
    "P",
    "R",
    "F1",
]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    line = " | ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))


# ------------------------------------------------------------------------------------------ main


def measure(
    scale: str, label: str, extra: list[str] | None = None, *, fresh: bool = True, floor: bool = True
) -> dict[str, Any]:
    """One flow run on ``scale``'s tree and, unless ``floor`` is false, the floor right after it."""
    tree, generated = ensure_tree(scale)
    out = OUT / label
    if fresh and out.exists():
        shutil.rmtree(out)
    print(f"[bench] {label}: running the flow …", flush=True)
    result = run_flow(tree / "sources.toml", out, OUT / f"{label}.log", extra)
    run = result.pop("run")
    rows = sum(i.get("rows_read", 0) for i in run["inputs"])
    items = sum(i.get("items", 0) for i in run["inputs"])
    result.update(
        {
            "scale": scale,
            "label": label,
            "generate": {"seed": SEED, **SCALES[scale], **generated},
            "rows": rows,
            "items": items,
            "lists": len(run["inputs"]),
            "items_per_s": items / result["wall_s"] if result["wall_s"] else None,
            "stages": stage_columns(run["stages"]),
            "stages_raw": run["stages"],
            "matching": run.get("matching", {}).get("links"),
            "cached_sources": sum(1 for i in run["inputs"] if i.get("cached")),
        }
    )
    if floor:
        print(f"[bench] {label}: the floor (bench/floor.py) on the same tree …", flush=True)
        result["floor"] = run_floor(tree / "sources.toml", OUT / f"{label}-floor")
        result["vs_floor"] = round(result["wall_s"] / result["floor"]["wall_s"], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10k,100k,1m", help="comma-separated, from " + ", ".join(SCALES))
    parser.add_argument("--national", action="store_true", help="also the whole country (~10M items)")
    parser.add_argument("--no-baselines", action="store_true", help="skip exact-join/extractOne/Splink")
    parser.add_argument("--no-splink", action="store_true", help="skip Splink only")
    parser.add_argument("--no-incremental", action="store_true", help="skip the second run over unchanged inputs")
    parser.add_argument("--no-quality", action="store_true", help="skip scoring links against truth")
    parser.add_argument("--dask", default="1,2", help="Dask worker counts to run ('' to skip)")
    parser.add_argument("--dask-scales", default="100k,1m", help="scales the Dask runs use")
    args = parser.parse_args(argv)

    scales = [s for s in args.scales.split(",") if s]
    if args.national and "national" not in scales:
        scales.append("national")
    unknown = [s for s in scales if s not in SCALES]
    if unknown:
        parser.error(f"unknown scale(s) {unknown}; known: {', '.join(SCALES)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(
        f"[bench] {info['cpu_count']} CPUs ({info['cpu_model']}), {info['ram_gib']} GiB, Python {info['python']}, "
        f"load {load_now()}",
        flush=True,
    )
    prepare_api_database()
    table: list[list[str]] = []
    all_results: dict[str, dict[str, Any]] = {}

    def record(label: str, result: dict[str, Any], name: str) -> None:
        result["machine"] = info
        (RESULTS / name).write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        all_results[label] = result
        table.append(table_row(label, result))

    for scale in scales:
        result = measure(scale, scale)
        if not args.no_quality:
            result["quality"] = score(OUT / scale, DATA / scale)
        record(scale, result, f"bench-{scale}.json")
        if scale == "100k" and not args.no_incremental:
            second = measure(scale, scale, fresh=False, floor=False)
            second["first_run_flow_s"] = result["flow_s"]
            second["speedup_flow"] = round(result["flow_s"] / second["flow_s"], 2) if second["flow_s"] else None
            second["speedup_wall"] = round(result["wall_s"] / second["wall_s"], 2) if second["wall_s"] else None
            if not args.no_quality:
                second["quality"] = score(OUT / scale, DATA / scale)
            record("100k incremental", second, "incremental.json")
        if scale == "100k" and not args.no_baselines:
            base = baselines(OUT / scale, DATA / scale, splink=not args.no_splink)
            base["flow_match_stage_s"] = result["stages"]["match"]
            base["machine"] = info
            (RESULTS / "baselines.json").write_text(json.dumps(base, ensure_ascii=False, indent=1) + "\n")
            all_results["baselines"] = base

    workers = [int(w) for w in args.dask.split(",") if w]
    scaling: dict[str, Any] = {}
    for scale in [s for s in args.dask_scales.split(",") if s]:
        if scale not in SCALES or not workers:
            continue
        for n in workers:
            label = f"{scale} dask{n}"
            result = measure(scale, f"{scale}-dask{n}", ["--dask-workers", str(n)])
            if not args.no_quality:
                result["quality"] = score(OUT / f"{scale}-dask{n}", DATA / scale)
            record(label, result, f"bench-{scale}-dask{n}.json")
            threads = all_results.get(scale)
            scaling[label] = {
                "workers": n,
                "wall_s": result["wall_s"],
                "flow_s": result["flow_s"],
                "stages": result["stages"],
                "threads_wall_s": threads["wall_s"] if threads else None,
            }
    if scaling:  # merged into earlier runs' entries, so a national-only invocation keeps the 1M ones
        path = RESULTS / "scaling.json"
        earlier = json.loads(path.read_text()) if path.is_file() else {}
        note = f"{info['cpu_count']} CPUs: no point measuring more workers"
        payload = {**earlier, "machine": info, "note": note, **scaling}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n")

    print()
    print_table(table)
    if "baselines" in all_results:
        base = all_results["baselines"]
        print(f"\nbaselines, 100k tree ({base['items']:,} items, {base['truth_units']:,} true units, one process):")
        print(f"{'method':<12} | {'P':>6} | {'R':>6} | {'F1':>6} | {'seconds':>8} | time vs powerlists")
        for name, row in base["methods"].items():
            print(
                f"{name:<12} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | "
                f"{row['seconds']:>8.1f} | {row['time_ratio_vs_powerlists']:.2f}x"
            )
    print(f"\nresults: {RESULTS.relative_to(ROOT)}/ ; logs and outputs: {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
