"""The ``powerlists`` command line: run, generate, report, serve.

Exit codes: 0 the run completed; 1 it completed its outputs but failed a threshold or a source
failed (see run.json's outcome), or it crashed; 2 the manifest, the jurisdictions file or the arguments
are wrong (an --out that is not a new, empty or earlier output folder included), or another run holds the
output folder; 3 the output folder could not be written (disk full, read-only, no permission); 130/143
it was interrupted (SIGINT/SIGTERM). With 2, 3, 130 and 143 the previous output is intact.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from transforms.ingest.manifest import DEFAULT_MATCH_THRESHOLD, ArgumentError, ManifestError, check_run_arguments

if TYPE_CHECKING:
    from flows.api import TemporaryApi

EXIT_OUTPUT_ERROR = 3


def _summary(out: Path) -> str:
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    inputs = run["inputs"]
    lines = [
        f"powerlists: {run['outcome']['status']} — outputs in {out}",
        f"  sources: {len(inputs)} ({sum(1 for i in inputs if i.get('error'))} failed)",
        f"  rows read: {sum(i['rows_read'] for i in inputs)}, items: {sum(i['items'] for i in inputs)}, "
        f"quarantined: {sum(i['quarantined'] for i in inputs)}",
        f"  validation: {'passed' if run['validation']['success'] else 'rows quarantined'} "
        f"({run['validation']['errors']} errors, {run['validation']['warnings']} rows with warnings)",
    ]
    links = run.get("matching", {}).get("links", {})
    if links:
        lines.append("  links: " + ", ".join(f"{k} {v}" for k, v in links.items()))
    for reason in run["outcome"].get("reasons", []):
        lines.append(f"  ! {reason}")
    for i in inputs:
        if i.get("error"):
            lines.append(f"  ! {i['id']}: {i['error']}")
    report = out / "report.html"
    if report.exists():
        lines.append(f"  report: {report}")
    return "\n".join(lines)


def _cmd_run(args: argparse.Namespace) -> int:
    from flows.api import temporary_api
    from flows.interrupt import Interrupted, stop_on_signals

    try:  # before any work, and before a server is started for a run that cannot happen
        check_run_arguments(
            match_threshold=args.match_threshold,
            max_error_share=args.max_error_share,
            previous=args.previous,
            parallel_scopes=args.parallel_scopes if args.parallel_scopes is not None else 1,
            dask_workers=args.dask_workers,
            dask_address=args.dask_address,
        )
    except ArgumentError as exc:
        print(f"powerlists: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    try:
        with stop_on_signals(partial(_emergency_stop, out)), temporary_api() as api, _workers(args):
            return _run(args, api)  # the API boots while the pipeline's modules are imported
    except Interrupted as exc:
        _stop_api_logging()
        _remove_staging(out)  # what task threads still wrote after the flow's own clean-up
        print(f"powerlists: stopped by {exc}; {out} holds the previous output, untouched", file=sys.stderr)
        return exc.exit_code


def _workers(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """The run's own local Dask workers are forked from a server importing their modules from now on."""
    if args.dask_workers is None:
        return contextlib.nullcontext()
    from flows.runners import forked_workers

    return forked_workers()


def _stop_api_logging() -> None:
    """Detach Prefect's API log handlers once a run is interrupted: the API is stopped (or the run is
    already Crashed there), and a task thread that ends while the interpreter shuts down would make the
    handler start its sender then, which Python refuses with a traceback on every record. What those
    threads still log goes to the console only."""
    import logging

    from prefect.logging.handlers import APILogHandler

    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in [h for h in logger.handlers if isinstance(h, APILogHandler)]:
            logger.removeHandler(handler)


def _remove_staging(out: Path) -> None:
    """``recover`` under the output's lock, unless another run holds it (its staging is its own)."""
    from transforms.publish.write import OutputLocked, lock_holder, output_lock, recover

    if lock_holder(out) == os.getpid():  # the flow still holds it: the emergency path
        recover(out)
        return
    try:
        with output_lock(out):
            recover(out)
    except OutputLocked:
        pass


def _emergency_stop(out: Path) -> None:
    """When a signalled run has not ended in time: undo a half-done swap, delete staging, stop children
    (the temporary API, Dask workers) — what the normal clean-up would have done."""
    import psutil

    _remove_staging(out)
    children = psutil.Process().children(recursive=True)
    for child in children:
        child.terminate()
    for child in psutil.wait_procs(children, timeout=3)[1]:
        child.kill()


def _run(args: argparse.Namespace, api: TemporaryApi | None) -> int:
    from flows.pipeline import OUTPUT_ERROR, REFUSED, powerlists_run

    out = Path(args.out).resolve()
    if api is not None:
        api.wait()
    started = dt.datetime.now(dt.UTC)
    state = powerlists_run(
        manifest=os.path.abspath(args.manifest),  # not resolved: a symlink inside --out must be seen as one
        out=str(out),
        match_threshold=args.match_threshold,
        max_error_share=args.max_error_share,
        previous=args.previous,
        parallel_scopes=args.parallel_scopes,
        dask_workers=args.dask_workers,
        dask_address=args.dask_address,
        return_state=True,
    )
    if state.is_completed():
        print(_summary(out))
        return 0
    if state.name in (REFUSED, OUTPUT_ERROR):  # nothing was written: the message is the whole story
        print(f"powerlists: {state.message}", file=sys.stderr)
        return 2 if state.name == REFUSED else EXIT_OUTPUT_ERROR
    if _written_since(out, started):
        print(_summary(out))
        return 1
    print(f"powerlists: the run ended {state.name}: {state.message}", file=sys.stderr)
    return 1


def _written_since(out: Path, started: dt.datetime) -> bool:
    """Whether ``out`` holds this run's outputs (a failed threshold), not an older run's (a crash)."""
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        return dt.datetime.fromisoformat(run["started"]) >= started
    except (OSError, ValueError, KeyError, TypeError):
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="powerlists",
        description="Consolidate government power lists (权力清单) of every level into validated Parquet.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline on a manifest and write an output folder")
    run.add_argument("--manifest", required=True, help="the TOML manifest listing the sources (CONTRACT §1)")
    run.add_argument("--out", default="out", help="output folder; replaced atomically when the run ends (default: out)")
    run.add_argument(
        "--match-threshold",
        type=float,
        default=None,
        help=f"fuzzy-link cut-off in [0, 1] (default: manifest's, else {DEFAULT_MATCH_THRESHOLD})",
    )
    run.add_argument(
        "--max-error-share",
        type=float,
        default=None,
        help="share of quarantined rows above which the run fails with exit code 1 (default: manifest's, else 0.2)",
    )
    run.add_argument(
        "--previous",
        default=None,
        help="an earlier output folder to record changes against (default: the output being replaced)",
    )
    dask = run.add_mutually_exclusive_group()
    dask.add_argument(
        "--dask-workers",
        type=int,
        default=None,
        metavar="N",
        help="run reading and per-province matching on a local Dask cluster of N worker processes "
        "(default: threads in this process)",
    )
    dask.add_argument(
        "--dask-address",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run tasks on an existing Dask scheduler instead",
    )
    run.add_argument(
        "--parallel-scopes",
        type=int,
        default=None,
        metavar="N",
        help="provinces processed at once; each holds its rows in memory (default: the Dask workers, else 1)",
    )
    run.set_defaults(func=_cmd_run)

    gen = sub.add_parser(
        "generate",
        help="write a synthetic tree of lists with ground truth (for tests and benchmarks)",
        description="Write list files (CSV UTF-8/GB18030, xlsx, JSON), sources.toml, truth.csv and bad_rows.csv "
        "for the first N provinces of the registry with all their cities and counties. Same arguments, same bytes.",
    )
    gen.add_argument("--provinces", type=int, default=1, help="how many provinces, in registry code order (default: 1)")
    gen.add_argument("--out", required=True, help="folder to write the tree into")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    gen.add_argument(
        "--items-per-list", type=int, default=300, help="rows of a city list; provinces ~1.3x, counties ~0.9x"
    )
    gen.add_argument("--counties-per-city", type=int, default=None, help="cap on counties per city (default: all)")
    gen.set_defaults(func=_cmd_generate)

    serve = sub.add_parser(
        "serve",
        help="serve the flow as a Prefect deployment with a cron schedule (runs until interrupted)",
        description="Register the deployment powerlists/NAME against PREFECT_API_URL and execute its scheduled "
        "and manually triggered runs. Parameters are editable in the Prefect UI.",
    )
    serve.add_argument("--manifest", required=True, help="the TOML manifest each run reads")
    serve.add_argument("--out", default="out", help="output folder each run replaces (default: out)")
    serve.add_argument("--cron", default="0 2 * * *", help='cron schedule (default: "0 2 * * *")')
    serve.add_argument("--timezone", default="Asia/Shanghai", help="IANA time zone (default: Asia/Shanghai)")
    serve.add_argument("--name", default=None, help="deployment name (default: the manifest's run name)")
    serve.add_argument("--match-threshold", type=float, default=None, help="default fuzzy-link cut-off of the runs")
    serve.add_argument("--max-error-share", type=float, default=None, help="default max quarantined share of the runs")
    serve.add_argument(
        "--dask-workers", type=int, default=None, metavar="N", help="runs use a local Dask cluster of N workers"
    )
    serve.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT", help="runs use this Dask scheduler")
    serve.set_defaults(func=_cmd_serve)

    report = sub.add_parser("report", help="(re)render OUT/report.html and OUT/views.sql from an output folder")
    report.add_argument("out", help="an output folder written by `powerlists run`")
    report.set_defaults(func=_cmd_report)
    return parser


def _cmd_generate(args: argparse.Namespace) -> int:
    from synthetic.generate import generate_tree

    if args.provinces < 1 or args.items_per_list < 1:
        print("powerlists: --provinces and --items-per-list must be at least 1", file=sys.stderr)
        return 2
    tree = generate_tree(
        Path(args.out),
        provinces=args.provinces,
        seed=args.seed,
        items_per_list=args.items_per_list,
        counties_per_city=args.counties_per_city,
    )
    print(
        f"powerlists: wrote {tree.n_lists} lists, {tree.n_rows} rows ({tree.n_bad_rows} bad), "
        f"{tree.n_links} true links in {tree.seconds:.1f}s\n  manifest: {tree.manifest}\n  truth: {tree.truth}"
    )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from transforms.publish.report import render_report
    from transforms.publish.views import write_views
    from transforms.publish.write import OutputLocked, output_lock

    out = Path(args.out).resolve()
    if not (out / "run.json").is_file():
        print(f"powerlists: {out} is not an output folder (no run.json)", file=sys.stderr)
        return 2
    try:
        with output_lock(out):  # a run swapping this folder would leave the report half old, half new
            write_views(out)
            print(render_report(out))
    except OutputLocked as exc:
        print(f"powerlists: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from flows.serve import serve

    try:
        serve(
            args.manifest,
            args.out,
            cron=args.cron,
            timezone=args.timezone,
            name=args.name,
            match_threshold=args.match_threshold,
            max_error_share=args.max_error_share,
            dask_workers=args.dask_workers,
            dask_address=args.dask_address,
        )
    except (ManifestError, ValueError) as exc:
        print(f"powerlists: {exc}", file=sys.stderr)
        return 2
    return 0


# Quiet, offline-friendly defaults; an operator's own environment wins.
_ENVIRONMENT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def main(argv: list[str] | None = None) -> int:
    for key, value in _ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


def console() -> None:
    """The ``powerlists`` command (and ``python -m flows``): ``main``, then an exit without tearing the
    interpreter down.

    Freeing the modules a run imports (GX, Prefect, pandas, Arrow) one object at a time takes ~0.9 s
    after the last output is written (bench/README.md), and the OS frees the same memory at once. Every
    exit handler still runs: this one is registered before all of them, so it runs last, after
    Prefect's last logs, the temporary API's stop and multiprocessing's clean-up of its children. A
    command that raises (a traceback, ``--help``) exits the usual way.
    """
    atexit.register(_exit_without_teardown)
    code = main()
    _EXIT_CODE.append(code)
    sys.exit(code)


_EXIT_CODE: list[int] = []


def _exit_without_teardown() -> None:
    if not _EXIT_CODE:
        return
    logging = sys.modules.get("logging")
    if logging is not None:  # imported before ``console`` ran, its own exit handler would come after this one
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(_EXIT_CODE[0])


if __name__ == "__main__":
    console()
