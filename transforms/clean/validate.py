"""Row-level validation with Great Expectations: which rows become items, which are quarantined.

The suite is data (``expectations/items_suite.json``) so the quality team can read and edit what is
checked. One checkpoint runs over the whole batch (all sources of a run) on a compact projection of
the normalised rows; GX's ``unexpected_index_list`` names the failing rows, which are turned into
``column: message`` reasons. Structural problems found while reading (ragged rows, formula cells)
are reasons too, added here because GX never sees cells that could not be placed in a column.

The projection is compact twice over, because a national run has ~10M rows and GX builds and
serialises Python objects per failing row (a million rows with per-row results took minutes):

* every expectation is row-level on *one* column, so equal values get equal verdicts: GX sees each
  column's *distinct values* once (row ``row_key`` of the projection holds the ``row_key``-th distinct
  value of every column), and verdicts are spread back to the rows. A province's ~400k rows become
  ~90k projection rows (its distinct codes), and a value failing in a million rows is one failing key.
  Columns with fewer distinct values are padded, and each expectation carries the row condition
  ``distinct_value_no < <its column's count>`` (Data Docs show it as "If distinct_value_no < N") so
  GX never looks at the padding: otherwise a failing first value (a missing legal basis) repeated as
  padding failed ~90k keys a province, which GX then deep-copied and serialised three times (~60 %
  of the validate stage) and reported as a 99.8 % failure rate in Data Docs. GX's own counts (Data
  Docs, ``results/*.json``) are per distinct value; the per-row counts are in ``by_expectation``
  (run.json ``validation.expectations``);
* failing keys come back as one list per expectation (``exclude_unexpected_values``) rather than as
  one dict per failing row, so Data Docs show counts and no sample values. Keep it that way for
  safety too: GX renders sample values into Data Docs HTML unescaped, and list cells are untrusted
  (``<img onerror=…>`` in a code cell ran there); tests/test_hardening_runs.py checks the pages.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transforms import ROOT

SUITE_PATH = ROOT / "expectations" / "items_suite.json"
ROW_KEY = "row_key"
#: A projection column equal to ``row_key``: GX row conditions name columns, not the index.
VALUE_NO = "distinct_value_no"
#: Beside the Data Docs site: every scope's GX result, which the site's index is built from.
SHARED_RESULTS = "gx_results"
_ROW_ONLY = ("raw", "row_errors", "norm_warnings")


@dataclass
class ValidationOutcome:
    """The split of a batch, plus what run.json and the report say about validation."""

    items: pd.DataFrame
    quarantine: pd.DataFrame
    success: bool
    errors: int
    warnings: int
    by_expectation: list[dict[str, Any]] = field(default_factory=list)
    data_docs: str | None = None


def load_suite(path: Path = SUITE_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _checked_columns(suite: dict[str, Any]) -> list[str]:
    """The columns the suite checks; each expectation must be about one column's values alone, which is
    what lets GX validate distinct values instead of rows."""
    for e in suite["expectations"]:
        if "column" not in e["kwargs"] or "row_condition" in e["kwargs"]:
            raise ValueError(f"{e['type']}: only single-column expectations without a row_condition are supported")
    return sorted({e["kwargs"]["column"] for e in suite["expectations"]})


def _run_gx(
    frame: pd.DataFrame,
    suite_doc: dict[str, Any],
    docs_dir: Path | None,
    name: str | None = None,
    docs_lock: Callable[[], AbstractContextManager[Any]] = nullcontext,
    counts: dict[str, int] | None = None,
) -> tuple[Any, str | None]:
    """One checkpoint over ``frame``, then its page in the Data Docs site under ``docs_dir``.

    With ``counts``, each expectation sees only the first ``counts[column]`` rows of its column (the
    rest is padding, see the module docstring).

    Only the page and the site index are written under ``docs_lock``: scopes validated at once in
    several processes share one site, but their validations need not wait for each other (on a Dask
    run the lock around the whole checkpoint, GX's import included, serialised half the stage).
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.row_conditions import Column

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = gx.ExpectationSuite(name=suite_doc["name"], notes=suite_doc.get("notes"))
    for spec in suite_doc["expectations"]:
        kwargs = dict(spec["kwargs"])
        if counts is not None and counts[kwargs["column"]] < len(frame):
            kwargs["row_condition"] = Column(VALUE_NO) < counts[kwargs["column"]]  # not the padding
        config = ExpectationConfiguration(type=spec["type"], kwargs=kwargs, meta=spec.get("meta", {}))
        expectation = config.to_domain_obj()
        expectation.severity = spec.get("severity", "critical")
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    asset = context.data_sources.add_pandas("powerlists").add_dataframe_asset("list_rows")
    batch = asset.add_batch_definition_whole_dataframe("run_batch")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="powerlists_rows", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="powerlists_checkpoint",
            validation_definitions=[definition],
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW_KEY],
                "exclude_unexpected_values": True,
            },
        )
    )
    # a run name per scope: several scopes' validations share one Data Docs site without overwriting
    run_id = RunIdentifier(run_name=f"powerlists-{name}") if name else None
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    ((key, validation),) = result.run_results.items()
    if docs_dir is None:
        return validation, None
    # Every scope's result also goes to a results store on disk beside the site, and the site reads its
    # validations from there: GX's index builder deletes the pages of results its source store does not
    # hold, and an ephemeral context's own store holds only this scope's, so the site kept the last
    # province's page alone.
    shared = context.add_store(
        "powerlists_results",
        {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.parent / SHARED_RESULTS),
            },
        },
    )
    sections = {"source_store_name": "powerlists_results"}
    context.add_data_docs_site(
        site_name="powerlists",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "site_section_builders": {"validations": sections, "profiling": sections},
        },
    )
    with docs_lock():  # what GX's UpdateDataDocsAction does, with the lock around it alone
        shared.set(key, validation)
        context.build_data_docs(
            site_names=["powerlists"],
            resource_identifiers=[key, ExpectationSuiteIdentifier(name=suite.name)],
        )
    return validation, str(docs_dir / "index.html")


@dataclass(frozen=True)
class _DistinctValues:
    """Each checked column's distinct values, side by side (the frame GX validates), and the way back."""

    projection: pd.DataFrame  # indexed by ``row_key``
    row_codes: dict[str, np.ndarray]  # per column: each row's position among the column's distinct values
    counts: dict[str, int]  # per column: how many distinct values it has (rows beyond are padding)

    def failing_rows(self, column: str, keys: np.ndarray) -> np.ndarray:
        """Positions of the rows whose value of ``column`` is at a failing ``row_key``."""
        bad = np.zeros(len(self.projection), dtype=bool)
        bad[keys] = True
        return np.flatnonzero(bad[: self.counts[column]][self.row_codes[column]])


def _distinct_values(frame: pd.DataFrame, columns: list[str]) -> _DistinctValues:
    """Missing values (None and NaN alike, as GX treats them) count as one value of their column.

    Padding repeats the column's first value; GX skips it by row condition, and failing keys are
    read below the column's count only, so padding can never fail a row either way.
    """
    row_codes: dict[str, np.ndarray] = {}
    uniques: dict[str, pd.Series] = {}
    for column in columns:
        codes, values = pd.factorize(frame[column], use_na_sentinel=False)
        row_codes[column] = codes
        uniques[column] = pd.Series(values, copy=False)
    length = max(len(v) for v in uniques.values())
    projection = pd.DataFrame(
        {
            column: values.take(
                np.concatenate([np.arange(len(values)), np.zeros(length - len(values), dtype=np.intp)])
            ).reset_index(drop=True)
            for column, values in uniques.items()
        }
    )
    projection[VALUE_NO] = np.arange(length)
    projection.index = pd.RangeIndex(length, name=ROW_KEY)
    return _DistinctValues(projection, row_codes, {c: len(v) for c, v in uniques.items()})


def _failing_keys(result: dict[str, Any]) -> np.ndarray:
    """Failing ``row_key`` values of one expectation result (list-per-key or dict-per-row shape)."""
    keys: list[int] = []
    for entry in result.get("unexpected_index_list") or []:
        value = entry[ROW_KEY]
        if isinstance(value, list):
            keys.extend(int(v) for v in value)
        else:
            keys.append(int(value))
    return np.asarray(keys, dtype=np.int64)


def _merge_warnings(own: list[str], checked: list[str]) -> list[str]:
    """A row's reading/normalising warnings, then the suite's for columns they do not speak of yet.

    Normalising already says how a missing type was filled (``power_type: inferred from name``, from the
    code, defaulted); the suite's warning on the same column says it again less precisely. Each
    warning appears once, the more specific one; Data Docs still count the suite's.
    """
    spoken = {w.split(":", 1)[0] for w in own}
    return [*own, *(w for w in checked if w.split(":", 1)[0] not in spoken)]


def validate(
    frame: pd.DataFrame,
    *,
    suite_path: Path = SUITE_PATH,
    out_dir: Path | None = None,
    name: str | None = None,
    docs_lock: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> ValidationOutcome:
    """Split normalised rows into items and quarantine; write GX results and Data Docs to ``out_dir``.

    ``frame`` is the concatenated normalised row frame of the sources validated together. Rows keep
    their order in both outputs so that item ids and table bytes are reproducible. With a ``name`` (the
    flow validates one province scope at a time) the result is ``out_dir/results/<name>.json`` and the
    Data Docs site in ``out_dir/data_docs`` gains this validation's page beside the others, written
    under ``docs_lock`` when other processes may be writing that site too.
    """
    suite_doc = load_suite(suite_path)
    n = len(frame)
    # messages from the expectations, per failing row (suite order); most rows fail nothing
    errors_at: dict[int, list[str]] = {}
    warnings_at: dict[int, list[str]] = {}
    by_expectation: list[dict[str, Any]] = []
    docs_index = None

    if n:
        distinct = _distinct_values(frame.reset_index(drop=True), _checked_columns(suite_doc))
        source_ids = frame["source_id"].to_numpy(dtype=object)
        validation, docs_index = _run_gx(
            distinct.projection,
            suite_doc,
            out_dir / "data_docs" if out_dir else None,
            name,
            docs_lock,
            counts=distinct.counts,
        )
        if out_dir is not None:
            result_path = out_dir / "results" / f"{name}.json" if name else out_dir / "validation_result.json"
            result_path.parent.mkdir(parents=True, exist_ok=True)
            result_path.write_text(
                json.dumps(validation.to_json_dict(), ensure_ascii=False, indent=1, default=str),
                encoding="utf-8",
            )
        for result in validation.results:
            config = result.expectation_config
            meta = config.meta or {}
            severity = str(getattr(config, "severity", "critical")).split(".")[-1].lower()
            message = f"{meta.get('column', config.kwargs.get('column'))}: {meta.get('message', config.type)}"
            if result.exception_info and result.exception_info.get("raised_exception"):
                raise RuntimeError(f"expectation {config.type} failed to run: {result.exception_info}")
            failing = distinct.failing_rows(config.kwargs["column"], _failing_keys(result.result or {})).tolist()
            target = errors_at if severity == "critical" else warnings_at
            for row in failing:
                target.setdefault(row, []).append(message)
            by_expectation.append(
                {
                    "expectation": config.type,
                    "column": meta.get("column"),
                    "severity": "error" if severity == "critical" else "warning",
                    "message": meta.get("message"),
                    "failed_rows": len(failing),
                    # per source, so an incremental run can reuse an unchanged source's counts
                    "failed_by_source": dict(Counter(source_ids[failing].tolist())),
                }
            )

    row_errors = frame["row_errors"].tolist()
    rejected = np.fromiter((bool(e) for e in row_errors), dtype=bool, count=n)
    rejected[list(errors_at)] = True
    kept = np.flatnonzero(~rejected)
    # items keep no raw cells or reading notes: those live on in quarantine reasons and warnings
    items = frame.iloc[kept].drop(columns=[c for c in _ROW_ONLY if c in frame.columns])
    warnings = frame["norm_warnings"].tolist()
    items["warnings"] = [
        _merge_warnings(warnings[i], warnings_at[i]) if i in warnings_at else warnings[i] for i in kept.tolist()
    ]
    dropped = np.flatnonzero(rejected)
    quarantine = frame.iloc[dropped][["source_id", "sheet", "row_no", "jurisdiction_code", "raw"]].copy()
    quarantine["reasons"] = [[*row_errors[i], *errors_at.get(i, ())] for i in dropped.tolist()]
    n_errors = len(dropped)
    n_warnings = int(sum(1 for w in items["warnings"] if w))
    return ValidationOutcome(
        items=items,
        quarantine=quarantine,
        success=n_errors == 0,
        errors=n_errors,
        warnings=n_warnings,
        by_expectation=by_expectation,
        data_docs=docs_index,
    )
