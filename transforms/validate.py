"""Row-level validation with Great Expectations: which rows become items, which are quarantined.

The suite is data (``expectations/items_suite.json``) so the quality team can read and edit what is
checked. One checkpoint runs over the whole batch (all sources of a run) on a compact projection of
the normalised rows; GX's ``unexpected_index_list`` names the failing rows, which are turned into
``column: message`` reasons. Structural problems found while reading (ragged rows, formula cells)
are reasons too, added here because GX never sees cells that could not be placed in a column.

The projection is compact twice over, because a national run has ~10M rows and GX builds and
serialises Python objects per failing row (a million rows with per-row results took minutes):

* every expectation is row-level on the checked columns, so rows with equal checked values get equal
  verdicts: GX sees each *distinct combination* once (its ``row_key``), and verdicts are spread back
  to the rows. GX's own counts (Data Docs, ``validation_result.json``) are therefore per distinct
  combination; the per-row counts are in ``by_expectation`` (run.json);
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUITE_PATH = Path(__file__).resolve().parent.parent / "expectations" / "items_suite.json"
ROW_KEY = "row_key"


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
    return sorted({e["kwargs"]["column"] for e in suite["expectations"]})


def _run_gx(
    frame: pd.DataFrame, suite_doc: dict[str, Any], docs_dir: Path | None, name: str | None = None
) -> tuple[Any, str | None]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = gx.ExpectationSuite(name=suite_doc["name"], notes=suite_doc.get("notes"))
    for spec in suite_doc["expectations"]:
        config = ExpectationConfiguration(type=spec["type"], kwargs=spec["kwargs"], meta=spec.get("meta", {}))
        expectation = config.to_domain_obj()
        expectation.severity = spec.get("severity", "critical")
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    asset = context.data_sources.add_pandas("powerlists").add_dataframe_asset("list_rows")
    batch = asset.add_batch_definition_whole_dataframe("run_batch")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="powerlists_rows", data=batch, suite=suite)
    )
    actions = []
    docs_index = None
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="powerlists",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["powerlists"]))
        docs_index = str(docs_dir / "index.html")
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="powerlists_checkpoint",
            validation_definitions=[definition],
            actions=actions,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW_KEY],
                "exclude_unexpected_values": True,
            },
        )
    )
    from great_expectations.core.run_identifier import RunIdentifier

    # a run name per scope: several scopes' validations share one Data Docs site without overwriting
    run_id = RunIdentifier(run_name=f"powerlists-{name}") if name else None
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    (validation,) = result.run_results.values()
    return validation, docs_index


def _distinct_rows(projection: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(each distinct combination of values once, indexed by ``row_key``; per row, its combination).

    Columns are factorised one at a time and combined pairwise, so codes stay below rows × distinct
    values of one column (no overflow however many columns the suite checks). Missing values (None
    and NaN alike, as GX treats them) form one value.
    """
    n = len(projection)
    codes = np.zeros(n, dtype=np.int64)
    for column in projection.columns:
        col_codes, uniques = pd.factorize(projection[column], use_na_sentinel=False)
        codes, _ = pd.factorize(codes * (len(uniques) + 1) + col_codes)
        codes = codes.astype(np.int64)
    _, first = np.unique(codes, return_index=True)  # codes number combinations in order of appearance
    distinct = projection.iloc[first].reset_index(drop=True)
    distinct.index = pd.RangeIndex(len(distinct), name=ROW_KEY)
    return distinct, codes


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


def validate(
    frame: pd.DataFrame,
    *,
    suite_path: Path = SUITE_PATH,
    out_dir: Path | None = None,
    name: str | None = None,
) -> ValidationOutcome:
    """Split normalised rows into items and quarantine; write GX results and Data Docs to ``out_dir``.

    ``frame`` is the concatenated normalised row frame of the sources validated together. Rows keep
    their order in both outputs so that item ids and table bytes are reproducible. With a ``name`` (the
    flow validates one province scope at a time) the result is ``out_dir/results/<name>.json`` and the
    Data Docs site in ``out_dir/data_docs`` gains this validation's page beside the others.
    """
    suite_doc = load_suite(suite_path)
    n = len(frame)
    reasons: list[list[str]] = [list(errs) for errs in frame["row_errors"]] if n else []
    warnings: list[list[str]] = [list(ws) for ws in frame["norm_warnings"]] if n else []
    by_expectation: list[dict[str, Any]] = []
    docs_index = None

    if n:
        columns = _checked_columns(suite_doc)
        projection, row_combination = _distinct_rows(frame[columns].reset_index(drop=True))
        source_ids = frame["source_id"].to_numpy(dtype=object)
        validation, docs_index = _run_gx(projection, suite_doc, out_dir / "data_docs" if out_dir else None, name)
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
            bad = np.zeros(len(projection), dtype=bool)
            bad[_failing_keys(result.result or {})] = True
            failing = np.flatnonzero(bad[row_combination]).tolist()
            target = reasons if severity == "critical" else warnings
            for row in failing:
                target[row].append(message)
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

    rejected = pd.Series([bool(r) for r in reasons], index=frame.index, dtype=bool)
    items = frame.loc[~rejected].copy()
    items["warnings"] = [w for w, bad in zip(warnings, rejected, strict=True) if not bad]
    quarantine = frame.loc[rejected, ["source_id", "sheet", "row_no", "jurisdiction_code", "raw"]].copy()
    quarantine["reasons"] = [r for r in reasons if r]
    n_errors = int(rejected.sum())
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
