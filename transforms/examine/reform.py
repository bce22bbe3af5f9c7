"""Reform checks: the questions the 放管服 documents ask of a power list, answered per run.

Four finding kinds (``FINDINGS`` schema, CONTRACT §5) and three extra tables. Every threshold, word list
and "which authority counts as local" lives in ``data/vocab/reform_rules.toml`` and
``data/vocab/disguised_approval_words.csv`` so that the quality team changes a rule without a release.

=============================  =========  ==================================================================
kind                           severity   raised when
=============================  =========  ==================================================================
locally_set_licence            warning    a 行政许可 (not 取消) whose parsed legal-basis citations are *all*
                                          地方政府规章/规范性文件 issued locally or by an unknown body
                                          (``transforms.examine.basis``): a licence set locally, which the reforms
                                          ("全面取消市级层面设定的行政许可") ask to cancel. Items whose basis
                                          cites nothing parseable are not judged.
county_missing_city_licence    warning    市县同权: a city 行政许可 (保留/承接/未注明) that a county of that city
                                          *whose list is in the run* does not hold — no county item is
                                          linked to it and none has the same normalised name. Subject = the
                                          city item, ``other_jurisdiction_code`` = the county. Pairs of
                                          levels come from the rules (``[["city","county"]]``; add
                                          ``["county","township"]`` for 乡镇), never from a fixed 3 levels.
disguised_approval             info /     变相审批: an 其他行政权力 or 公共服务 item whose name contains a word
                               warning    of the word list (备案, 登记, 认定 … ``info``; 审批, 许可, 核准 …
                                          ``warning``); ``details.word`` is the first matched word.
devolved_without_supervision   warning    an item marked 下放/委托 whose 责任事项 is empty, in a source that
                                          gives responsibilities for some item (many places publish the
                                          责任清单 separately; such lists are not judged).
=============================  =========  ==================================================================

``finding_id = stable_id(kind, item_id, other)`` where *other* is ``other_item_id`` — null for all four
kinds, so ``county_missing_city_licence`` puts the county's code there (one id per city item and county),
like ``devolved_not_received`` does. Findings are sorted by kind, jurisdiction, item, other item, other
jurisdiction and id. All work is merges and group-bys over item frames; per-value Python runs only on
*distinct* legal-basis texts and names.
"""

from __future__ import annotations

import csv
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms import ROOT
from transforms.examine.basis import AUTHORITIES, SCOPES, parse_many
from transforms.examine.kinds import ITEM_COLUMNS, JsonFragments, finding_rows, findings_table, no_findings
from transforms.ingest.jurisdictions import Registry
from transforms.publish.schema import CANCELLED_STATUS, FINDINGS, LEVELS, POWER_TYPES, SEVERITIES, STATUSES

VOCAB = ROOT / "data" / "vocab"
RULES_PATH = VOCAB / "reform_rules.toml"

KINDS: tuple[str, ...] = (
    "locally_set_licence",
    "county_missing_city_licence",
    "disguised_approval",
    "devolved_without_supervision",
)

LEVEL_NAMES: dict[str, str] = {
    "national": "国家",
    "province": "省",
    "city": "市",
    "county": "县",
    "township": "乡",
    "village": "村",
}

#: English column names of the status counts in ``status_summary``.
STATUS_COLUMNS: dict[str, str] = {
    "保留": "n_retained",
    "下放": "n_devolved",
    "委托": "n_entrusted",
    "取消": "n_cancelled",
    "承接": "n_received",
    "未注明": "n_unspecified",
}

_str, _i64 = pa.string(), pa.int64()

#: Per jurisdiction × power type: the figures officials quote ("保留…项，承接…项，下放…项").
STATUS_SUMMARY = pa.schema(
    [
        ("jurisdiction_code", _str),
        ("jurisdiction_name", _str),
        ("level", _str),
        ("power_type", _str),
        ("n_items", _i64),
        ("n_main_items", _i64),
        ("n_sub_items", _i64),
        *[(column, _i64) for column in STATUS_COLUMNS.values()],
        ("n_with_responsibility", _i64),
    ]
)

#: Per upper × lower jurisdiction (city × county by default): how many of the upper's licences the lower holds.
LICENCE_COVERAGE = pa.schema(
    [
        ("upper_code", _str),
        ("upper_name", _str),
        ("upper_level", _str),
        ("lower_code", _str),
        ("lower_name", _str),
        ("lower_level", _str),
        ("lower_has_list", pa.bool_()),
        ("n_upper_licences", _i64),  # the upper's licences the rule says the lower should hold
        ("n_held", _i64),  # of those, held by the lower (linked or same name); null without a list
        ("n_missing", _i64),  # null without a list
        ("share", pa.float64()),  # n_held / n_upper_licences; null without a list or licences
        ("n_lower_items", _i64),
        ("n_lower_licences", _i64),
        ("findings_raised", pa.bool_()),  # whether county_missing_city_licence was raised for this pair
    ]
)

_MOVED_FROM = pa.list_(pa.struct([("department", _str), ("n_items", _i64)]))

#: 审批权相对集中: per jurisdiction × department, the licences it holds and (with versions) where from.
CONCENTRATION = pa.schema(
    [
        ("jurisdiction_code", _str),
        ("jurisdiction_name", _str),
        ("level", _str),
        ("department", _str),
        ("is_approval_bureau", pa.bool_()),
        ("n_items", _i64),
        ("n_licences", _i64),
        ("share_of_licences", pa.float64()),  # of the jurisdiction's licences
        ("n_moved_in", _i64),  # items moved into this department (department_changed); null without changes
        ("moved_from", _MOVED_FROM),  # departments they came from, most first; null without changes
    ]
)

REFORM_TABLES: dict[str, pa.Schema] = {
    "status_summary": STATUS_SUMMARY,
    "city_county_licence_coverage": LICENCE_COVERAGE,
    "concentration": CONCENTRATION,
}

_SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # info 0 < warning 1 < error 2

# --------------------------------------------------------------------------------------------- rules


class RulesError(Exception):
    """The rules file is malformed; the message names the file, section and key."""


@dataclass(frozen=True)
class DisguisedWord:
    word: str
    severity: str
    note: str


@dataclass(frozen=True)
class ReformRules:
    """Everything the checks read from ``reform_rules.toml`` (see that file for the meaning of each)."""

    licence_types: tuple[str, ...] = ("行政许可",)
    local_authorities: tuple[str, ...] = ("地方政府规章", "规范性文件")
    local_scopes: tuple[str, ...] = ("local", "unknown")
    local_skip_statuses: tuple[str, ...] = ("取消",)
    local_levels: tuple[str, ...] = ()
    local_severity: str = "warning"
    coverage_pairs: tuple[tuple[str, str], ...] = (("city", "county"),)
    coverage_types: tuple[str, ...] = ("行政许可",)
    coverage_statuses: tuple[str, ...] = ("保留", "承接", "未注明")
    coverage_match_by_name: bool = True
    coverage_min_share: float = 0.0
    coverage_exempt_pattern: str = ""
    coverage_severity: str = "warning"
    coverage_by_department: bool = True
    department_aliases: Mapping[str, str] = field(default_factory=dict)
    disguised_types: tuple[str, ...] = ("其他行政权力", "公共服务")
    disguised_words: tuple[DisguisedWord, ...] = ()
    disguised_exclude: tuple[str, ...] = ("告知性",)
    disguised_skip_statuses: tuple[str, ...] = ("取消",)
    disguised_bare_words: bool = False
    devolved_statuses: tuple[str, ...] = ("下放", "委托")
    devolved_empty_values: tuple[str, ...] = ("无", "暂无", "/", "-", "—", "——", "空", "null", "none", "nan")
    devolved_only_sources_with_responsibilities: bool = True
    devolved_severity: str = "warning"
    approval_bureau_pattern: str = "行政审批|审批服务|政务服务"
    concentration_types: tuple[str, ...] = ("行政许可",)


class _Section:
    """Typed, validated reads of one TOML table; every error names the file, section and key."""

    def __init__(self, path: Path, name: str, data: dict[str, Any]) -> None:
        self.path, self.name = path, name
        self.data = data.get(name, {})
        if not isinstance(self.data, dict):
            raise self.error("", "must be a table")
        self.seen: set[str] = set()

    def error(self, key: str, message: str) -> RulesError:
        where = f"[{self.name}] {key}".rstrip()
        return RulesError(f"{self.path}: {where}: {message}")

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def strings(self, key: str, default: tuple[str, ...], allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self._get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a list of strings")
        if allowed is not None:
            for v in value:
                if v not in allowed:
                    raise self.error(key, f"'{v}' is not one of {list(allowed)}")
        return tuple(value)

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self._get(key, default)
        if value not in allowed:
            raise self.error(key, f"'{value}' is not one of {list(allowed)}")
        return str(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.error(key, f"must be a number in [{low}, {high}]")
        return float(value)

    def pattern(self, key: str, default: str) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.error(key, "must be a string (a regular expression)")
        try:
            re.compile(value)
        except re.error as exc:
            raise self.error(key, f"invalid regular expression: {exc}") from exc
        return value

    def pairs(self, key: str, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        value = self._get(key, [list(p) for p in default])
        ok = isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and all(v in LEVELS for v in p) for p in value
        )
        if not ok:
            raise self.error(key, f"must be a list of [upper, lower] level pairs, levels one of {list(LEVELS)}")
        for upper, lower in value:
            if LEVELS.index(upper) >= LEVELS.index(lower):
                raise self.error(key, f"'{upper}' is not above '{lower}'")
        return tuple((str(u), str(lo)) for u, lo in value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _load_words(path: Path) -> tuple[DisguisedWord, ...]:
    """The 变相审批 word list: ``word,severity,note`` (severity defaults to info)."""
    if not path.is_file():
        raise RulesError(f"{path}: words file not found")
    words: list[DisguisedWord] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if "word" not in (reader.fieldnames or []):
            raise RulesError(f"{path}: missing column 'word'")
        for line, row in enumerate(reader, start=2):
            word = (row.get("word") or "").strip()
            if not word:
                continue
            severity = (row.get("severity") or "info").strip() or "info"
            if severity not in SEVERITIES:
                raise RulesError(f"{path}:{line}: severity: '{severity}' is not one of {list(SEVERITIES)}")
            words.append(DisguisedWord(word, severity, (row.get("note") or "").strip()))
    return tuple(words)


def _load_aliases(path: Path) -> dict[str, str]:
    """Department aliases: ``alias,department`` (``department_keys``)."""
    if not path.is_file():
        raise RulesError(f"{path}: department aliases file not found")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"alias", "department"} <= set(reader.fieldnames or []):
            raise RulesError(f"{path}: expected the columns alias,department")
        return {
            row["alias"].strip(): row["department"].strip()
            for row in reader
            if (row.get("alias") or "").strip() and (row.get("department") or "").strip()
        }


def load_rules(path: Path = RULES_PATH) -> ReformRules:
    """Read and validate the rules file; the word list is read relative to it."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: invalid TOML: {exc}") from exc
    known = {
        "locally_set_licence",
        "county_missing_city_licence",
        "disguised_approval",
        "devolved_without_supervision",
        "concentration",
    }
    for name in sorted(set(data) - known):
        raise RulesError(f"{path}: [{name}]: unknown section")
    d = ReformRules()
    local = _Section(path, "locally_set_licence", data)
    cover = _Section(path, "county_missing_city_licence", data)
    disguised = _Section(path, "disguised_approval", data)
    devolved = _Section(path, "devolved_without_supervision", data)
    conc = _Section(path, "concentration", data)
    words_file = disguised.pattern("words_file", "disguised_approval_words.csv")
    rules = ReformRules(
        licence_types=local.strings("power_types", d.licence_types, POWER_TYPES),
        local_authorities=local.strings("authorities", d.local_authorities, AUTHORITIES),
        local_scopes=local.strings("scopes", d.local_scopes, SCOPES),
        local_skip_statuses=local.strings("skip_statuses", d.local_skip_statuses, STATUSES),
        local_levels=local.strings("levels", d.local_levels, LEVELS),
        local_severity=local.choice("severity", d.local_severity, SEVERITIES),
        coverage_pairs=cover.pairs("pairs", d.coverage_pairs),
        coverage_types=cover.strings("power_types", d.coverage_types, POWER_TYPES),
        coverage_statuses=cover.strings("statuses", d.coverage_statuses, STATUSES),
        coverage_match_by_name=cover.boolean("match_by_name", d.coverage_match_by_name),
        coverage_min_share=cover.number("min_share_for_findings", d.coverage_min_share, 0.0, 1.0),
        coverage_exempt_pattern=cover.pattern("exempt_pattern", d.coverage_exempt_pattern),
        coverage_severity=cover.choice("severity", d.coverage_severity, SEVERITIES),
        coverage_by_department=cover.boolean("only_covered_departments", d.coverage_by_department),
        department_aliases=_load_aliases(
            path.parent / cover.pattern("department_aliases_file", "department_aliases.csv")
        ),
        disguised_types=disguised.strings("power_types", d.disguised_types, POWER_TYPES),
        disguised_words=_load_words(path.parent / words_file),
        disguised_exclude=disguised.strings("exclude", d.disguised_exclude),
        disguised_skip_statuses=disguised.strings("skip_statuses", d.disguised_skip_statuses, STATUSES),
        disguised_bare_words=disguised.boolean("bare_words", d.disguised_bare_words),
        devolved_statuses=devolved.strings("statuses", d.devolved_statuses, STATUSES),
        devolved_empty_values=devolved.strings("empty_values", d.devolved_empty_values),
        devolved_only_sources_with_responsibilities=devolved.boolean(
            "only_sources_with_responsibilities", d.devolved_only_sources_with_responsibilities
        ),
        devolved_severity=devolved.choice("severity", d.devolved_severity, SEVERITIES),
        approval_bureau_pattern=conc.pattern("approval_bureau_pattern", d.approval_bureau_pattern),
        concentration_types=conc.strings("power_types", d.concentration_types, POWER_TYPES),
    )
    for section in (local, cover, disguised, devolved, conc):
        section.finish()
    return rules


# -------------------------------------------------------------------------------------------- helpers

_ITEM_COLUMNS = (*ITEM_COLUMNS, "responsibility")


def _trimmed(values: pd.Series) -> np.ndarray:
    """Trimmed strings as an object array, blank and missing → None (pyarrow kernels: 10M rows is cheap)."""
    try:
        array = pa.array(values, from_pandas=True)  # arrow-backed string columns convert without copying
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed object columns (numbers next to text)
        array = pa.array([None if pd.isna(v) else str(v) for v in values.to_numpy(dtype=object)], pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string()) if not pa.types.is_null(array.type) else pa.nulls(len(array), pa.string())
    array = pc.utf8_trim_whitespace(array)
    array = pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)
    return array.to_numpy(zero_copy_only=False)


def _trimmed_texts(values: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """``_trimmed(values)`` (at ``rows`` when given), computed once per distinct value and broadcast.

    A column repeats its texts (a million items have a dozen statuses, some thousands of departments),
    and converting every cell between Python and Arrow strings twice is what ``_trimmed`` spends its
    time on. A column holding anything but text keeps the whole-column path: pyarrow then infers one
    type for all its values (ints cast as ints), which a subset or the distinct values might not.
    """
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        trimmed = _trimmed(values)
        return trimmed if rows is None else trimmed[rows]
    codes, uniques = pd.factorize(values if rows is None else values.iloc[rows], use_na_sentinel=True)
    trimmed = np.asarray(_trimmed(pd.Series(np.asarray(uniques, dtype=object), dtype=object)), dtype=object)
    return np.append(trimmed, None)[codes]


def _frame(items: pd.DataFrame, registry: Registry | None) -> pd.DataFrame:
    """The columns the checks need as plain objects, with a display ``name`` and a jurisdiction name.

    Text columns are trimmed once here (blank → None) so that the checks compare plain values. Ids are
    all distinct, so they are trimmed as one column; ``name_raw`` only matters where ``name_norm`` is
    blank and is trimmed only there (it is not kept in the frame).
    """
    n = len(items)
    columns: dict[str, np.ndarray] = {}
    for column in _ITEM_COLUMNS:
        if column not in items:
            columns[column] = np.full(n, None, dtype=object)
        elif column == "item_id":
            columns[column] = _trimmed(items[column])
        elif column != "name_raw":
            columns[column] = _trimmed_texts(items[column])
    frame = pd.DataFrame(columns, dtype=object, copy=False)  # fresh arrays: no copy, no block consolidation
    name = frame["name_norm"].to_numpy(dtype=object, copy=True)
    blank = np.flatnonzero(pd.isna(name))
    if len(blank) and "name_raw" in items:
        name[blank] = _trimmed_texts(items["name_raw"], blank)
    frame["name"] = pd.Series(name, dtype=object).where(pd.notna(name), "")
    codes = frame["jurisdiction_code"]
    if registry is not None:
        distinct = [c for c in pd.unique(codes) if isinstance(c, str) and c in registry]
        names = {c: registry[c].name for c in distinct}
        levels = {c: registry[c].level for c in distinct}
        for column, known in (("jurisdiction_name", names), ("level", levels)):
            missing = frame[column].isna()
            if missing.any():  # usually none: the items carry both; map only what is missing
                frame.loc[missing, column] = codes[missing].map(known)
    jname = frame["jurisdiction_name"].where(frame["jurisdiction_name"].notna(), codes)
    frame["jurisdiction_name"] = jname.where(jname.notna(), "").astype(object)
    return frame


def _cat(*parts: str | pd.Series | np.ndarray | pa.Array) -> pd.Series:
    """Element-wise string concatenation (missing → ""), in pyarrow rather than per-row Python.

    An object Series (index 0..n-1): put in a frame as it is, where an array would be inferred as
    pandas' Arrow strings and converted (to be converted back when the findings become objects).
    """
    n = next(len(p) for p in parts if not isinstance(p, str))
    arrays = []
    for part in parts:
        if isinstance(part, str):
            arrays.append(pa.scalar(part, pa.string()))
        elif isinstance(part, pa.Array):
            arrays.append(pc.fill_null(part, ""))
        else:
            values = part.to_numpy(dtype=object) if isinstance(part, pd.Series) else np.asarray(part, dtype=object)
            array = pa.array(values, type=pa.string(), from_pandas=True) if len(values) else pa.array([], pa.string())
            arrays.append(pc.fill_null(array, ""))
    if n == 0:
        return pd.Series([], dtype=object)
    joined = pc.binary_join_element_wise(*arrays, "")
    if isinstance(joined, pa.Scalar):
        return pd.Series(np.full(n, joined.as_py(), dtype=object), dtype=object)
    return pd.Series(joined.to_numpy(zero_copy_only=False), dtype=object)


def _json_list(values: list[str]) -> str:
    return json.dumps(values, ensure_ascii=False)


def _item_findings(severity: object, hits: pd.DataFrame, message: pd.Series) -> pd.DataFrame:
    """The base columns of findings about one item each (no other item)."""
    return pd.DataFrame(
        {
            "severity": severity,
            "jurisdiction_code": hits["jurisdiction_code"],
            "item_id": hits["item_id"],
            "other_item_id": None,
            "other_jurisdiction_code": None,
            "message": message,
        }
    )


# -------------------------------------------------------------------------------------- the four kinds


def _judge_bases(texts: np.ndarray, rules: ReformRules) -> pd.DataFrame:
    """Per distinct legal-basis text: whether every citation is locally set, and what it cites.

    Works on distinct texts (a list repeats the same basis across rows), so the per-citation Python
    is bounded by the number of different texts, not of items.
    """
    cited = parse_many(pd.Series(texts, dtype=object))
    columns = ["text", "instruments", "authorities", "scopes", "authority_text", "instrument_text"]
    if cited.empty:
        return pd.DataFrame(columns=columns)
    local = cited["authority"].isin(rules.local_authorities) & cited["scope"].isin(rules.local_scopes)
    all_local = local.groupby(cited["row"]).all()
    rows = set(all_local.index[all_local.to_numpy()])
    records = []
    for row, group in cited[cited["row"].isin(rows)].groupby("row", sort=True):
        instruments = group["instrument"].tolist()
        authorities = list(dict.fromkeys(group["authority"]))
        scopes = list(dict.fromkeys(group["scope"]))
        records.append(
            (
                texts[row],
                _json_list(instruments),
                _json_list(authorities),
                _json_list(scopes),
                "、".join(authorities),
                "、".join(f"《{n}》" for n in instruments),
            )
        )
    return pd.DataFrame(records, columns=columns)


def _locally_set_licence(frame: pd.DataFrame, rules: ReformRules) -> pd.DataFrame:
    """Licences whose every cited basis is a local rule or normative document (configurable)."""
    keep = frame["power_type"].isin(rules.licence_types) & ~frame["status"].isin(rules.local_skip_statuses)
    if rules.local_levels:
        keep &= frame["level"].isin(rules.local_levels)
    cand = frame[keep & frame["legal_basis"].notna()]
    if cand.empty:
        return no_findings()
    judged = _judge_bases(pd.unique(cand["legal_basis"]), rules)
    if judged.empty:
        return no_findings()
    hits = cand.merge(judged, left_on="legal_basis", right_on="text", how="inner").reset_index(drop=True)
    if hits.empty:
        return no_findings()
    found = _item_findings(
        rules.local_severity,
        hits,
        _cat(
            hits["jurisdiction_name"],
            " 的",
            hits["power_type"],
            "「",
            hits["name"],
            "」的依据仅有",
            hits["authority_text"],
            "（",
            hits["instrument_text"],
            "），属地方自行设定的行政许可，应予清理",
        ),
    )
    details = {
        "name": hits["name"],
        "power_type": hits["power_type"],
        "status": hits["status"],
        "level": hits["level"],
        "source_id": hits["source_id"],
        "instruments": JsonFragments(hits["instruments"]),
        "authorities": JsonFragments(hits["authorities"]),
        "scopes": JsonFragments(hits["scopes"]),
    }
    return finding_rows("locally_set_licence", found, details, pd.Series([None] * len(hits), dtype=object))


def _lower_map(frame: pd.DataFrame, registry: Registry, upper_level: str, lower_level: str) -> pd.DataFrame:
    """Every lower-level jurisdiction under an upper one that has a list in the run (nearest ancestor).

    Lower jurisdictions come from the registry (so a county without a list still shows in the coverage
    table) and from the run's items; the loop is over jurisdictions, not items.
    """
    present = {c for c in pd.unique(frame["jurisdiction_code"]) if isinstance(c, str)}
    uppers = {c for c in present if c in registry and registry[c].level == upper_level}
    columns = ["upper_code", "lower_code", "lower_name", "lower_has_list"]
    if not uppers:
        return pd.DataFrame(columns=columns)
    rows = []
    for code in sorted(registry.codes() | {c for c in present if c in registry}):
        row = registry[code]
        if row.level != lower_level:
            continue
        nearest = next(
            (a for a in registry.ancestors(code) if a in registry and registry[a].level == upper_level), None
        )
        if nearest in uppers:
            rows.append((nearest, code, row.name, code in present))
    return pd.DataFrame(rows, columns=columns)


#: The item columns of ``_coverage``'s ``expected`` rows (what ``county_missing_city_licence`` reports).
_EXPECTED_COLUMNS = [
    "item_id",
    "source_id",
    "jurisdiction_code",
    "jurisdiction_name",
    "name",
    "power_type",
    "base_code",
    "status",
    "department",
]


def _linked_to(links: pa.Table, item_ids: pd.Series) -> pd.DataFrame:
    """(item_id, lower_code): the jurisdictions of the items linked to each of ``item_ids``.

    The links are filtered in Arrow before anything becomes a Python string: a million items have
    more links than items, and only the few linked to upper licences matter here.
    """
    if not links.num_rows:
        return pd.DataFrame({"item_id": pd.Series(dtype=object), "lower_code": pd.Series(dtype=object)})
    parent = links.column("parent_item_id")
    keep = pc.is_in(parent, value_set=pa.array(item_ids.to_numpy(dtype=object), pa.string(), from_pandas=True))
    return pd.DataFrame(
        {
            "item_id": parent.filter(keep).to_numpy(zero_copy_only=False).astype(object),
            "lower_code": links.column("child_jurisdiction").filter(keep).to_numpy(zero_copy_only=False).astype(object),
        }
    )


def _among(frame: pd.DataFrame, rows: pd.DataFrame, on: list[str]) -> np.ndarray:
    """Per row of ``frame``, whether its ``on`` values are those of a row of ``rows`` (a left merge)."""
    marked = rows[on].drop_duplicates().assign(_found=True)
    return frame[on].merge(marked, on=on, how="left")["_found"].eq(True).to_numpy()


def _coverage(
    frame: pd.DataFrame, links: pa.Table, registry: Registry, rules: ReformRules
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(expected, coverage): one row per (upper licence, lower jurisdiction) and per (upper, lower).

    ``expected`` carries only the item columns the findings need (``_EXPECTED_COLUMNS``), and whether a
    lower jurisdiction holds a licence is looked up on slim key frames: the merges then move a few
    columns of some 300k rows per million items instead of every column.
    """
    exempt = re.compile(rules.coverage_exempt_pattern) if rules.coverage_exempt_pattern else None
    eligible = frame["power_type"].isin(rules.coverage_types) & frame["status"].isin(rules.coverage_statuses)
    if exempt is not None:
        exempted = {n: bool(exempt.search(n)) for n in pd.unique(frame["name"])}
        eligible &= ~frame["name"].map(exempted)
    per_jurisdiction = (
        pd.DataFrame(
            {
                "jurisdiction_code": frame["jurisdiction_code"],
                "item_id": frame["item_id"],
                "_licence": frame["power_type"].isin(rules.coverage_types).astype("int64"),
            }
        )
        .groupby("jurisdiction_code", sort=False)
        .agg(n_lower_items=("item_id", "size"), n_lower_licences=("_licence", "sum"))
    )
    expected_parts, coverage_parts = [], []
    for upper_level, lower_level in rules.coverage_pairs:
        lowers = _lower_map(frame, registry, upper_level, lower_level)
        if lowers.empty:
            continue
        upper_items = frame.loc[
            eligible & frame["jurisdiction_code"].isin(set(lowers["upper_code"])), _EXPECTED_COLUMNS
        ]
        expected = upper_items.merge(lowers, left_on="jurisdiction_code", right_on="upper_code", how="inner")
        expected["upper_level"], expected["lower_level"] = upper_level, lower_level
        expected["_linked"] = _among(expected, _linked_to(links, upper_items["item_id"]), ["item_id", "lower_code"])
        if rules.coverage_match_by_name:
            # Only names some upper licence has can match: the rest of the lower lists is left out early.
            lower_names = frame.loc[
                frame["jurisdiction_code"].isin(set(lowers["lower_code"]))
                & frame["name"].isin(set(upper_items["name"])),
                ["jurisdiction_code", "name"],
            ]
            lower_names.columns = ["lower_code", "name"]
            expected["_named"] = _among(expected, lower_names, ["lower_code", "name"])
        else:
            expected["_named"] = False
        expected["held"] = expected["_linked"] | expected["_named"]
        expected["held_by"] = np.where(expected["_linked"], "link", np.where(expected["_named"], "name", None))
        counts = (
            expected.groupby(["upper_code", "lower_code"], sort=False)
            .agg(n_upper_licences=("item_id", "size"), n_held=("held", "sum"))
            .reset_index()
        )
        cover = lowers.merge(counts, on=["upper_code", "lower_code"], how="left")
        cover["n_upper_licences"] = cover["n_upper_licences"].fillna(0).astype("int64")
        cover["n_held"] = cover["n_held"].fillna(0).astype("int64")
        cover["upper_level"], cover["lower_level"] = upper_level, lower_level
        expected_parts.append(expected)
        coverage_parts.append(cover)
    if not coverage_parts:
        return pd.DataFrame(), pd.DataFrame()
    expected = pd.concat(expected_parts, ignore_index=True)
    expected["department_covered"] = (
        _department_covered(expected, frame, links, rules) if rules.coverage_by_department else True
    )
    cover = pd.concat(coverage_parts, ignore_index=True)
    with_list = cover["lower_has_list"].astype(bool)
    cover["n_missing"] = (cover["n_upper_licences"] - cover["n_held"]).where(with_list)
    cover["n_held"] = cover["n_held"].where(with_list)
    cover["share"] = (cover["n_held"] / cover["n_upper_licences"]).where(with_list & (cover["n_upper_licences"] > 0))
    cover = cover.merge(per_jurisdiction, left_on="lower_code", right_index=True, how="left")
    cover["n_lower_items"] = cover["n_lower_items"].fillna(0).astype("int64")
    cover["n_lower_licences"] = cover["n_lower_licences"].fillna(0).astype("int64")
    cover["findings_raised"] = (
        with_list & (cover["n_missing"].fillna(0) > 0) & (cover["share"].fillna(0) >= rules.coverage_min_share)
    )
    expected = expected.merge(
        cover[["upper_code", "lower_code", "share", "n_upper_licences", "findings_raised"]],
        on=["upper_code", "lower_code"],
        how="left",
    )
    return expected, cover


def _department_covered(expected: pd.DataFrame, frame: pd.DataFrame, links: pa.Table, rules: ReformRules) -> np.ndarray:
    """Per expected row: whether the lower list covers the upper licence's department at all.

    Many county lists are one department's (a 市场监管局 page, a 审批局 catalogue): held against the
    whole city list, every other department's licence was "missing" and the findings were noise. A
    lower list covers an upper department when it names the same department (``department_keys``:
    广安市市场监督管理局 and 区市场监管局 are both 市场监督管理局) or when one of its items is linked to an
    upper item of that department (any power type) or holds one of its licences by name, which also
    works for lists whose department names no alias explains. An upper item without a department counts
    as covered: there is nothing to judge a partial list by.
    """
    aliases = rules.department_aliases
    place = frame.drop_duplicates("jurisdiction_code").set_index("jurisdiction_code")["jurisdiction_name"]
    rows = pd.DataFrame(
        {
            "upper": expected["upper_code"].to_numpy(dtype=object),
            "lower": expected["lower_code"].to_numpy(dtype=object),
            "key": department_keys(expected["department"], expected["jurisdiction_name"], aliases),
        }
    )
    lower_items = frame[frame["jurisdiction_code"].isin(pd.unique(rows["lower"]))]
    named = pd.DataFrame(
        {
            "lower": lower_items["jurisdiction_code"].to_numpy(dtype=object),
            "key": department_keys(lower_items["department"], lower_items["jurisdiction_name"], aliases),
        }
    )
    via = [rows.loc[expected["held"].to_numpy(dtype=bool)]]
    if links.num_rows and len(rows):
        lowers = pa.array(pd.unique(rows["lower"]).tolist(), pa.string())
        linked = links.select(["parent_item_id", "child_jurisdiction", "parent_jurisdiction"]).filter(
            pc.is_in(links.column("child_jurisdiction"), value_set=lowers)
        )
        pairs = rows[["upper", "lower"]].drop_duplicates()
        linked = (
            linked.to_pandas()
            .rename(
                columns={"parent_jurisdiction": "upper", "child_jurisdiction": "lower", "parent_item_id": "item_id"}
            )
            .merge(pairs, on=["upper", "lower"])
            .merge(frame[["item_id", "department"]], on="item_id")
        )
        keys = department_keys(linked["department"], linked["upper"].map(place), aliases)
        via.append(linked[["upper", "lower"]].assign(key=keys))
    return (
        rows["key"].isna().to_numpy()
        | _among_rows(rows, named.dropna().drop_duplicates(), ["lower", "key"])
        | _among_rows(rows, pd.concat(via, ignore_index=True).dropna().drop_duplicates(), ["upper", "lower", "key"])
    )


def _among_rows(rows: pd.DataFrame, known: pd.DataFrame, on: list[str]) -> np.ndarray:
    """Per row of ``rows``: whether its ``on`` values are a row of ``known`` (one hash join)."""
    if not len(known) or not len(rows):
        return np.zeros(len(rows), dtype=bool)
    hit = rows[on].merge(known[on].assign(_hit=True), on=on, how="left")["_hit"]
    return hit.notna().to_numpy()


_LEVEL_PREFIX = "市区县州省旗镇乡"
# a leading 市 that is part of the bureau's own name (市场监督管理局, 市政管理局, 市容环境卫生局)
_NOT_A_PREFIX = ("市场", "市政", "市容")


def department_keys(departments: pd.Series, places: pd.Series, aliases: Mapping[str, str]) -> np.ndarray:
    """What a department is called without its place: ``广安市市场监督管理局`` and ``市市监局`` (in 广安市's
    list) and ``区市场监管局`` (in a district's) all become 市场监督管理局; None for no department.

    The place's own name (广安市, and 广安 without its suffix) and then one leading level word (市, 区,
    县 …) are dropped, and the rest is looked up in ``aliases`` (``department_aliases.csv``). Worked out
    once per distinct (department, place): a list has a few dozen departments.
    """
    canonical = set(aliases.values())
    dept_codes, depts = pd.factorize(departments.to_numpy(dtype=object))  # -1: missing
    place_codes, place_names = pd.factorize(places.to_numpy(dtype=object))
    width = len(place_names) + 1  # code + 1: 0 stands for a missing value
    distinct, inverse = np.unique((dept_codes.astype(np.int64) + 1) * width + place_codes + 1, return_inverse=True)
    dept_of = np.array([None, *depts], dtype=object)[distinct // width]
    place_of = np.array([None, *place_names], dtype=object)[distinct % width]
    keys = [_department_key(d, p, aliases, canonical) for d, p in zip(dept_of, place_of, strict=True)]
    return np.array(keys, dtype=object)[inverse.reshape(-1)]


def _department_key(dept: object, place: object, aliases: Mapping[str, str], canonical: set[str]) -> str | None:
    if not isinstance(dept, str) or not dept.strip():
        return None
    text = dept.strip()
    if isinstance(place, str) and place:
        for name in sorted({place, place.rstrip(_LEVEL_PREFIX)}, key=len, reverse=True):
            if len(name) >= 2 and text.startswith(name) and len(text) > len(name):
                text = text[len(name) :]
                break
    bare = text[1:] if text[0] in _LEVEL_PREFIX and not text.startswith(_NOT_A_PREFIX) and len(text) > 2 else text
    return next(
        (aliases[c] for c in (text, bare) if c in aliases),
        next((c for c in (text, bare) if c in canonical), bare),
    )


def _county_missing_city_licence(expected: pd.DataFrame, rules: ReformRules) -> pd.DataFrame:
    if expected.empty:
        return no_findings()
    hits = expected[
        expected["findings_raised"].eq(True) & ~expected["held"] & expected["department_covered"]
    ].reset_index(drop=True)
    if hits.empty:
        return no_findings()
    same_rights = _cat(hits["upper_level"].map(LEVEL_NAMES), hits["lower_level"].map(LEVEL_NAMES), "同权")
    found = pd.DataFrame(
        {
            "severity": rules.coverage_severity,
            "jurisdiction_code": hits["jurisdiction_code"],
            "item_id": hits["item_id"],
            "other_item_id": None,
            "other_jurisdiction_code": hits["lower_code"],
            "message": _cat(
                hits["jurisdiction_name"],
                " 的",
                hits["power_type"],
                "「",
                hits["name"],
                "」在 ",
                hits["lower_name"],
                " 的清单中没有对应事项（",
                same_rights,
                "）",
            ),
        }
    )
    details = {
        "name": hits["name"],
        "base_code": hits["base_code"],
        "power_type": hits["power_type"],
        "status": hits["status"],
        "source_id": hits["source_id"],
        "upper_level": hits["upper_level"],
        "lower_level": hits["lower_level"],
        "lower_jurisdiction_name": hits["lower_name"],
        "department": hits["department"],
        "coverage_share": hits["share"].astype(float).round(4),
        "n_upper_licences": hits["n_upper_licences"],
    }
    return finding_rows("county_missing_city_licence", found, details, hits["lower_code"])


def _word_matches(names: Iterable[str], rules: ReformRules) -> dict[str, list[str]]:
    """Per distinct name, the list of matched words (in order of appearance, distinct)."""
    words = sorted({w.word for w in rules.disguised_words}, key=lambda w: (-len(w), w))
    if not words:
        return {}
    pattern = re.compile("|".join(re.escape(w) for w in words))
    exclude = tuple(rules.disguised_exclude)
    found: dict[str, list[str]] = {}
    for name in names:
        if exclude and any(e in name for e in exclude):
            found[name] = []
        else:
            found[name] = list(dict.fromkeys(pattern.findall(name)))
    return found


#: What makes an approval-sounding name a finding, strongest first (``details.evidence``).
DISGUISED_EVIDENCE: tuple[str, ...] = ("upper_licence", "upper_cancelled", "approval_word", "word")


def _disguised_approval(frame: pd.DataFrame, links: pa.Table, registry: Registry, rules: ReformRules) -> pd.DataFrame:
    """Other-power and public-service items named like approvals, raised only on evidence.

    A word in the name alone (every 备案, 登记, 注册 …) flagged a fifth of a real list, most of it
    genuine filings; what makes one a 变相审批 is, strongest first: the upper level lists the same item
    as a 行政许可 (``upper_licence``: a link to a licence above); the upper level cancelled a licence of
    the same core name and this list keeps it as a filing (``upper_cancelled``, 明放暗不放: the names
    without their approval words are equal, or the items are linked); the name itself says 审批, 许可,
    核准 … (``approval_word``: a word of severity warning in the words file). The bare word match is
    the opt-in ``bare_words`` rule (info). One finding per item, naming the upper item when there is one.
    """
    cand = frame[
        frame["power_type"].isin(rules.disguised_types)
        & ~frame["status"].isin(rules.disguised_skip_statuses)
        & (frame["name"] != "")
    ]
    if cand.empty:
        return no_findings()
    # Everything a finding says about its words depends on the name only: worked out per distinct name.
    matched = {name: ws for name, ws in _word_matches(pd.unique(cand["name"]), rules).items() if ws}
    hits = cand[cand["name"].isin(list(matched))].reset_index(drop=True)
    if hits.empty:
        return no_findings()
    by_word = {w.word: w for w in rules.disguised_words}
    word_severity = {
        name: max((by_word[w].severity for w in ws), key=_SEVERITY_RANK.__getitem__) for name, ws in matched.items()
    }
    upper = _disguised_upper_evidence(hits, frame, links, registry, rules)
    evidence = upper["evidence"].copy()
    direct = evidence.isna() & (hits["name"].map(word_severity) == "warning")
    evidence[direct] = "approval_word"
    if rules.disguised_bare_words:
        evidence[evidence.isna()] = "word"
    keep = evidence.notna().to_numpy()
    hits, upper, evidence = hits[keep].reset_index(drop=True), upper[keep].reset_index(drop=True), evidence[keep]
    if hits.empty:
        return no_findings()
    evidence = evidence.reset_index(drop=True)
    first = hits["name"].map({name: ws[0] for name, ws in matched.items()})
    severity = hits["name"].map(word_severity).where(evidence == "word", "warning")
    said = pd.Series(
        np.select(
            [evidence == "upper_licence", evidence == "upper_cancelled"],
            [
                _cat(
                    "，而",
                    upper["jurisdiction_name"],
                    "将「",
                    upper["name"],
                    "」列为行政许可，可能以",
                    first,
                    "之名行审批之实",
                ),
                _cat(
                    "，而",
                    upper["jurisdiction_name"],
                    "已取消行政许可「",
                    upper["name"],
                    "」，可能以",
                    first,
                    "形式保留（明放暗不放）",
                ),
            ],
            _cat("，名称含「", first, "」，可能是变相审批"),
        ),
        dtype=object,
    )
    found = _item_findings(
        severity,
        hits,
        _cat(hits["jurisdiction_name"], " 的「", hits["name"], "」列为", hits["power_type"], said,
             "，请核实是否应列为行政许可或予以取消"),
    )  # fmt: skip
    found["other_item_id"] = upper["item_id"].to_numpy(dtype=object)
    found["other_jurisdiction_code"] = upper["jurisdiction_code"].to_numpy(dtype=object)
    details = {
        "name": hits["name"],
        "power_type": hits["power_type"],
        "status": hits["status"],
        "department": hits["department"],
        "source_id": hits["source_id"],
        "evidence": evidence,
        "upper_name": upper["name"],
        "word": first,
        "words": JsonFragments(hits["name"].map({name: _json_list(ws) for name, ws in matched.items()})),
        "note": hits["name"].map({name: by_word[ws[0]].note for name, ws in matched.items()}),
    }
    # the id stays that of the item alone: new evidence on the same item is the same finding
    return finding_rows("disguised_approval", found, details, pd.Series([None] * len(hits), dtype=object))


def _disguised_upper_evidence(
    hits: pd.DataFrame, frame: pd.DataFrame, links: pa.Table, registry: Registry, rules: ReformRules
) -> pd.DataFrame:
    """Per hit (same order): the upper item that is evidence, its ``jurisdiction_code``,
    ``jurisdiction_name``, ``name``, and the ``evidence`` (``upper_licence`` | ``upper_cancelled``; None
    where there is none). Linked parents come first, then cancelled licences of ancestors with the same
    core name (the name without its approval words)."""
    columns = ["item_id", "jurisdiction_code", "jurisdiction_name", "name", "status"]
    licences = frame.loc[frame["power_type"].isin(rules.licence_types), columns]
    cancelled = licences["status"].eq(CANCELLED_STATUS)
    found = pd.DataFrame({"hit": np.arange(len(hits))})
    candidates: list[pd.DataFrame] = []
    if links.num_rows and len(licences):
        ids = pa.array(hits["item_id"].to_numpy(dtype=object), pa.string())
        pairs = links.select(["child_item_id", "parent_item_id"]).filter(
            pc.is_in(links.column("child_item_id"), value_set=ids)
        )
        pairs = pairs.to_pandas().rename(columns={"parent_item_id": "item_id"})
        pairs["hit"] = pd.Index(hits["item_id"]).get_indexer(pairs["child_item_id"])
        linked = pairs.merge(licences, on="item_id")
        linked["evidence"] = np.where(linked["status"].eq(CANCELLED_STATUS), "upper_cancelled", "upper_licence")
        linked["rank"] = 0
        candidates.append(linked)
    if cancelled.any():
        core = _approval_core(hits["name"], rules)
        gone = licences[cancelled].assign(core=_approval_core(licences.loc[cancelled, "name"], rules).to_numpy())
        same = pd.DataFrame({"hit": np.arange(len(hits)), "core": core.to_numpy(), "lower": hits["jurisdiction_code"]})
        same = same[same["core"].str.len() >= 2].merge(gone, on="core")
        if len(same):
            above = {
                (lo, up)
                for lo, up in same[["lower", "jurisdiction_code"]].drop_duplicates().itertuples(index=False)
                if lo in registry and up in registry.ancestors(lo)
            }
            keep = [pair in above for pair in zip(same["lower"], same["jurisdiction_code"], strict=True)]
            same = same[np.array(keep, dtype=bool)].assign(evidence="upper_cancelled", rank=1)
            candidates.append(same)
    if not candidates:
        return found.assign(**{c: None for c in columns[:4]}, evidence=None).drop(columns="hit")
    best = pd.concat(candidates, ignore_index=True)
    # a cancellation above is the stronger evidence (the item was meant to be gone), then the nearest
    # upper level (the larger code of the same length), then the lowest id for a stable choice
    best["order"] = best["evidence"].map({"upper_cancelled": 0, "upper_licence": 1})
    best = best.sort_values(
        ["hit", "order", "rank", "jurisdiction_code", "item_id"], ascending=[True, True, True, False, True]
    )
    best = best.drop_duplicates("hit")
    out = found.merge(best[["hit", *columns[:4], "evidence"]], on="hit", how="left").sort_values("hit")
    out = out.drop(columns="hit").reset_index(drop=True).astype(object)
    return out.where(out.notna(), None)


def _approval_core(names: pd.Series, rules: ReformRules) -> pd.Series:
    """A name without its approval words (备案, 登记, 许可, 审批 …) and the 的/之 they leave behind:
    what 食品小作坊登记许可 and 食品小作坊备案 have in common."""
    words = sorted({w.word for w in rules.disguised_words}, key=lambda w: (-len(w), w))
    if not words:
        return names.astype(object)
    pattern = "|".join(re.escape(w) for w in words)
    array = pa.array(names.to_numpy(dtype=object), pa.string(), from_pandas=True)
    stripped = pc.replace_substring_regex(array, pattern=pattern, replacement="")
    stripped = pc.utf8_rtrim(stripped, characters="的之（）()")
    return pd.Series(stripped.to_numpy(zero_copy_only=False), index=names.index, dtype=object)


def _responsibility_given(frame: pd.DataFrame, rules: ReformRules) -> pd.Series:
    """Whether an item names its 责任事项: not missing and not a placeholder (无, /, …), judged once per
    distinct text (a column of a million cells holds a handful)."""
    empty = {v.strip().lower() for v in rules.devolved_empty_values}
    codes, texts = pd.factorize(frame["responsibility"], use_na_sentinel=True)
    lowered = pc.utf8_lower(pa.array(np.asarray(texts, dtype=object), type=pa.string(), from_pandas=True))
    given = ~np.isin(np.asarray(lowered.to_numpy(zero_copy_only=False), dtype=object), list(empty))
    return pd.Series(np.append(given, False)[codes], index=frame.index)


def _devolved_without_supervision(frame: pd.DataFrame, rules: ReformRules) -> pd.DataFrame:
    """下放/委托 items with no 责任事项: after devolving, nobody is named to supervise."""
    given = _responsibility_given(frame, rules)
    cand = frame["status"].isin(rules.devolved_statuses) & ~given
    if rules.devolved_only_sources_with_responsibilities:
        sources = set(frame.loc[given, "source_id"])
        cand &= frame["source_id"].isin(sources)
    hits = frame[cand].reset_index(drop=True)
    if hits.empty:
        return no_findings()
    found = _item_findings(
        rules.devolved_severity,
        hits,
        _cat(
            hits["jurisdiction_name"],
            " ",
            hits["status"],
            "的「",
            hits["name"],
            "」没有列明",
            hits["status"],
            "后的监管责任（责任事项为空）",
        ),
    )
    details = {
        "name": hits["name"],
        "power_type": hits["power_type"],
        "status": hits["status"],
        "status_raw": hits["status_raw"],
        "department": hits["department"],
        "source_id": hits["source_id"],
        "responsibility": hits["responsibility"],
    }
    return finding_rows("devolved_without_supervision", found, details, pd.Series([None] * len(hits), dtype=object))


# ------------------------------------------------------------------------------------------------- API


def _status_summary(frame: pd.DataFrame) -> pa.Table:
    keys = ["jurisdiction_code", "power_type"]
    # Counted on integer codes (a dozen statuses and types, some thousand jurisdictions), not objects.
    key_codes = {key: pd.factorize(frame[key], use_na_sentinel=False) for key in keys}
    status, statuses = pd.factorize(frame["status"].where(frame["status"].notna(), "未注明"))
    code_of = {s: i for i, s in enumerate(statuses)}
    counts = pd.DataFrame(
        {
            **{key: codes for key, (codes, _) in key_codes.items()},
            "n_items": np.int64(1),
            "n_sub_items": frame["sub_item"].notna().astype("int64"),
            **{column: (status == code_of.get(s, -1)).astype("int64") for s, column in STATUS_COLUMNS.items()},
            "n_with_responsibility": frame["responsibility"].notna().astype("int64"),
        }
    )
    grouped = counts.groupby(keys, sort=False).sum().reset_index()
    for key, (_, values) in key_codes.items():
        grouped[key] = np.asarray(values, dtype=object)[grouped[key].to_numpy()]
    grouped["n_main_items"] = grouped["n_items"] - grouped["n_sub_items"]
    names = frame.drop_duplicates("jurisdiction_code").set_index("jurisdiction_code")
    grouped["jurisdiction_name"] = grouped["jurisdiction_code"].map(names["jurisdiction_name"])
    grouped["level"] = grouped["jurisdiction_code"].map(names["level"])
    grouped = grouped.sort_values(keys, kind="stable", na_position="last")
    return _to_table(grouped, STATUS_SUMMARY)


def _coverage_table(frame: pd.DataFrame, cover: pd.DataFrame, registry: Registry) -> pa.Table:
    if cover.empty:
        return LICENCE_COVERAGE.empty_table()
    names = frame.drop_duplicates("jurisdiction_code").set_index("jurisdiction_code")["jurisdiction_name"]
    cover = cover.copy()
    cover["upper_name"] = cover["upper_code"].map(lambda c: names.get(c) or (registry[c].name if c in registry else c))
    cover = cover.sort_values(["upper_level", "upper_code", "lower_code"], kind="stable")
    return _to_table(cover, LICENCE_COVERAGE)


def _concentration(
    frame: pd.DataFrame,
    rules: ReformRules,
    changes: pa.Table | None,
    items: pd.DataFrame,
    all_items: pd.DataFrame | None,
) -> pa.Table:
    """Licences per department; with a ``changes`` table, also the department_changed moves into each."""
    has_dept = frame["department"].notna()
    if not has_dept.any():
        return CONCENTRATION.empty_table()
    frame = frame[has_dept]
    frame = frame.assign(_licence=frame["power_type"].isin(rules.concentration_types).astype("int64"))
    grouped = (
        frame.groupby(["jurisdiction_code", "department"], sort=False)
        .agg(n_items=("item_id", "size"), n_licences=("_licence", "sum"))
        .reset_index()
    )
    totals = grouped.groupby("jurisdiction_code")["n_licences"].transform("sum")
    grouped["share_of_licences"] = (grouped["n_licences"] / totals).where(totals > 0)
    bureau = re.compile(rules.approval_bureau_pattern) if rules.approval_bureau_pattern else None
    grouped["is_approval_bureau"] = grouped["department"].map(lambda d: bool(bureau and bureau.search(d)))
    names = frame.drop_duplicates("jurisdiction_code").set_index("jurisdiction_code")
    grouped["jurisdiction_name"] = grouped["jurisdiction_code"].map(names["jurisdiction_name"])
    grouped["level"] = grouped["jurisdiction_code"].map(names["level"])
    grouped["n_moved_in"] = None
    grouped["moved_from"] = None
    moves = _department_moves(changes, items, all_items)
    if moves is not None:
        per_target = moves.groupby(["jurisdiction_code", "department"], sort=False)
        moved_in = per_target["n_items"].sum()
        moved_from = per_target.apply(
            lambda g: [
                {"department": d, "n_items": int(k)}
                for d, k in sorted(zip(g["from_department"], g["n_items"], strict=True), key=lambda p: (-p[1], p[0]))
            ],
            include_groups=False,
        )
        key = pd.MultiIndex.from_frame(grouped[["jurisdiction_code", "department"]])
        grouped["n_moved_in"] = moved_in.reindex(key).fillna(0).astype("int64").to_numpy()
        grouped["moved_from"] = [v if isinstance(v, list) else [] for v in moved_from.reindex(key).to_numpy()]
    grouped = grouped.sort_values(["jurisdiction_code", "department"], kind="stable")
    return _to_table(grouped, CONCENTRATION)


def _department_moves(
    changes: pa.Table | None, items: pd.DataFrame, all_items: pd.DataFrame | None
) -> pd.DataFrame | None:
    """(jurisdiction, to department, from department, n) from ``department_changed`` changes.

    The old department is the old item's (looked up in ``items`` and ``all_items``, see
    ``_departments``), else ``old_department`` in the change's ``detail`` JSON (and likewise
    ``new_department``). None when no changes table is given.
    """
    if changes is None:
        return None
    columns = ["jurisdiction_code", "department", "from_department", "n_items"]
    if changes.num_rows == 0:
        return pd.DataFrame(columns=columns)
    change = changes.to_pandas()
    change = change[change["change"] == "department_changed"]
    departments = _departments(items, all_items, {*change["new_item_id"], *change["old_item_id"]})
    new = change["new_item_id"].map(departments)
    new = new.where(new.notna(), change["detail"].map(lambda d: _department_from_detail(d, "new_department")))
    old = change["old_item_id"].map(departments)
    old = old.where(old.notna(), change["detail"].map(lambda d: _department_from_detail(d, "old_department")))
    moves = pd.DataFrame(
        {
            "jurisdiction_code": change["jurisdiction_code"].to_numpy(dtype=object),
            "department": new.to_numpy(dtype=object),
            "from_department": old.to_numpy(dtype=object),
        }
    ).dropna()
    moves = moves[moves["department"] != moves["from_department"]]
    if moves.empty:
        return pd.DataFrame(columns=columns)
    return moves.groupby(columns[:3], sort=True).size().rename("n_items").reset_index()


def _department_from_detail(detail: object, key: str) -> str | None:
    if not isinstance(detail, str) or not detail.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(detail).get(key)
    except (ValueError, AttributeError):
        return None
    return (value.strip() or None) if isinstance(value, str) else None


def _departments(items: pd.DataFrame, all_items: pd.DataFrame | None, wanted: set[object]) -> pd.Series:
    """item_id → trimmed department over the current and (when given) every older version's items,
    for the ``wanted`` ids (those of department changes: a handful, where the items are millions).

    Departments of text columns are trimmed per value, which is the same for any subset; a column with
    other values is trimmed as a whole, as pyarrow infers one type for all of them.
    """
    frames = [f for f in (items, all_items) if f is not None and "department" in f and "item_id" in f]
    if not frames:
        return pd.Series(dtype=object)
    texts = all(pd.api.types.infer_dtype(f["department"], skipna=True) in ("string", "empty") for f in frames)
    parts = [f[["item_id", "department"]] for f in frames]
    if texts:
        parts = [part[part["item_id"].isin(wanted)] for part in parts]
    both = pd.concat(parts, ignore_index=True).astype(object)
    both = both[both["department"].notna()].drop_duplicates("item_id")
    return pd.Series(_trimmed(both["department"]), index=both["item_id"].to_numpy(), dtype=object)


def _to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    out = frame.reset_index(drop=True)[schema.names].astype(object)
    out = out.where(out.notna(), None)
    return pa.Table.from_pandas(out, schema=schema, preserve_index=False)


@dataclass(frozen=True)
class ReformCheck:
    """The checks' shared inputs, prepared once per run (or province scope).

    The findings and the extra tables both need the trimmed item frame and the licence coverage of
    lower jurisdictions; the flow asks for both, so it prepares them once (a second ``_frame`` and
    ``_coverage`` cost ~1 s per 400k items). ``find_reform`` and ``reform_tables`` are the one-call forms.
    """

    items: pd.DataFrame
    frame: pd.DataFrame
    expected: pd.DataFrame
    cover: pd.DataFrame
    registry: Registry
    rules: ReformRules
    links: pa.Table  # the LINKS table: which upper item a lower one is (evidence for disguised_approval)

    @classmethod
    def prepare(
        cls, items: pd.DataFrame, links: pa.Table, registry: Registry, rules: ReformRules | None = None
    ) -> ReformCheck:
        """``items`` are the current items (what the findings judge and the tables describe)."""
        rules = rules if rules is not None else load_rules()
        if items.empty:
            return cls(items, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), registry, rules, links)
        frame = _frame(items, registry)
        expected, cover = _coverage(frame, links, registry, rules)
        return cls(items, frame, expected, cover, registry, rules, links)

    def findings(self) -> pa.Table:
        """The four reform finding kinds as a ``FINDINGS`` table, sorted deterministically."""
        if self.items.empty:
            return FINDINGS.empty_table()
        frame, rules = self.frame, self.rules
        parts = [
            _locally_set_licence(frame, rules),
            _county_missing_city_licence(self.expected, rules),
            _disguised_approval(frame, self.links, self.registry, rules),
            _devolved_without_supervision(frame, rules),
        ]
        return findings_table(parts, items=self.items)

    def tables(self, changes: pa.Table | None = None, all_items: pd.DataFrame | None = None) -> dict[str, pa.Table]:
        """The extra summary tables, written as ``OUT/reform/<name>.parquet`` (schemas in ``REFORM_TABLES``).

        ``changes`` (the CHANGES table) feeds the moves in ``concentration``; ``all_items`` (every
        version's items) lets a move's old department be looked up by ``old_item_id`` — without it only
        current items and the change's detail are used.
        """
        if self.items.empty:
            return {name: schema.empty_table() for name, schema in REFORM_TABLES.items()}
        return {
            "status_summary": _status_summary(self.frame),
            "city_county_licence_coverage": _coverage_table(self.frame, self.cover, self.registry),
            "concentration": _concentration(self.frame, self.rules, changes, self.items, all_items),
        }


def find_reform(items: pd.DataFrame, links: pa.Table, registry: Registry, rules: ReformRules | None = None) -> pa.Table:
    """``ReformCheck.prepare(...).findings()``: ``items`` are the run's current items, ``links`` the LINKS table."""
    return ReformCheck.prepare(items, links, registry, rules).findings()


def reform_tables(
    items: pd.DataFrame,
    links: pa.Table,
    registry: Registry,
    rules: ReformRules | None = None,
    *,
    changes: pa.Table | None = None,
    all_items: pd.DataFrame | None = None,
) -> dict[str, pa.Table]:
    """``ReformCheck.prepare(...).tables(changes, all_items)``: the extra tables of the current ``items``."""
    return ReformCheck.prepare(items, links, registry, rules).tables(changes, all_items)
