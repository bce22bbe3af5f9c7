"""Province scopes (``flows.scope``) give exactly the tables of one whole-country computation.

The flow processes the national lists, then each province with the national items as context, and
assembles the tables from the scopes' parts. Here the same sources are also finished as *one* scope
(everything matched, compared and summarised together, as before the split) and every table must be
equal, row for row. The input is the sample with versions plus a national list in two versions (the
Sichuan province list and its 2024 revision, filed as 000000), so national rows, province rows that
refer to national items, versions on both sides and two provinces are all exercised.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.incremental import RunCache
from flows.pipeline import assemble_tables, group_by_scope, source_failure_findings
from flows.scope import NATIONAL, StageClock, finish_scope, read_source, scope_tables
from transforms.examine.changes import default_as_of
from transforms.ingest.jurisdictions import load_registry
from transforms.ingest.manifest import load_manifest

REPO = Path(__file__).resolve().parent.parent
VERSIONS = REPO / "data" / "sample" / "versions.toml"

NATIONAL_SOURCES = """
[[source]]
id = "cn-000000-v1"
jurisdiction = "000000"
path = "{folder}/sichuan/510000_sichuan_province.csv"
published = 2023-03-31
title = "national list, version 1 (the Sichuan list filed as national, for this test)"

[[source]]
id = "cn-000000-v2"
jurisdiction = "000000"
path = "{folder}/sichuan/510000_sichuan_province_2024.csv"
published = 2024-06-30
title = "national list, version 2"
"""


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = VERSIONS.parent.as_posix()
    text = re.sub(r'path = "([^"/][^"]*)"', lambda m: f'path = "{folder}/{m.group(1)}"', VERSIONS.read_text("utf-8"))
    path = tmp_path_factory.mktemp("scopes") / "sources.toml"
    path.write_text(text + NATIONAL_SOURCES.format(folder=folder), encoding="utf-8")
    return path


def _run(manifest: Path, staging: Path, *, scoped: bool) -> dict[str, bytes]:
    """Every Parquet file the run writes, by path (``.parts`` are gone by then)."""
    spec = load_manifest(manifest)
    registry = load_registry(spec.jurisdictions)
    spec = load_manifest(manifest, known_jurisdictions=registry.codes())
    common = {
        "registry": registry,
        "national_specs": [s for s in spec.sources if s.jurisdiction == NATIONAL],
        "staging": staging,
        "cache": None,
        "threshold": spec.match_threshold,
        "previous": None,
        "as_of": default_as_of(spec.sources),
    }
    groups = group_by_scope(spec.sources, registry) if scoped else {"all": spec.sources}
    outputs, national = [], None
    for province, specs in groups.items():
        results = [read_source(s) for s in specs]
        output = finish_scope(staging, province, scope_tables(province, results, national=national, **common))
        if province == NATIONAL:
            national = output.national
        outputs.append(output)
    results = [r for o in outputs for r in o.results]
    assemble_tables(staging, spec.sources, outputs, source_failure_findings(spec, results), StageClock())
    return {p.relative_to(staging).as_posix(): p.read_bytes() for p in sorted(staging.rglob("*.parquet"))}


@pytest.mark.slow
def test_scopes_give_the_whole_country_tables(manifest: Path, tmp_path: Path) -> None:
    whole = _run(manifest, tmp_path / "whole", scoped=False)
    scoped = _run(manifest, tmp_path / "scoped", scoped=True)
    assert not (tmp_path / "scoped" / ".parts").exists()
    assert sorted(scoped) == sorted(whole)
    assert sorted(k for k in whole if k.startswith("items/")) == [
        f"items/{p}.parquet" for p in ("000000", "210000", "510000")
    ]
    # the national lists are in the run and compared: rows about them exist on both sides of the split
    changes = pq.read_table(tmp_path / "whole" / "changes.parquet")
    assert NATIONAL in changes.column("jurisdiction_code").to_pylist()
    links = pq.read_table(tmp_path / "whole" / "links.parquet")
    assert NATIONAL in links.column("parent_jurisdiction").to_pylist()
    for name, data in whole.items():
        assert pq.read_metadata(tmp_path / "whole" / name).num_rows, name
        assert scoped[name] == data, name


@pytest.mark.slow
def test_province_links_are_cached_until_its_sources_or_the_national_lists_change(
    manifest: Path, tmp_path: Path
) -> None:
    """The links cache of a province is keyed by its sources and by the national sources above it: a
    changed national list must match every province again, never hand back links to items it no
    longer has."""
    spec = load_manifest(manifest)
    registry = load_registry(spec.jurisdictions)
    spec = load_manifest(manifest, known_jurisdictions=registry.codes())
    groups = group_by_scope(spec.sources, registry)

    def finish(staging: Path, cache: RunCache, province: str, national=None):
        results = [read_source(s, cache=cache, registry=registry) for s in groups[province]]
        tables = scope_tables(
            province,
            results,
            registry=registry,
            national_specs=[s for s in spec.sources if s.jurisdiction == NATIONAL],
            national=national,
            staging=staging,
            cache=cache,
            threshold=spec.match_threshold,
            previous=None,
            as_of=default_as_of(spec.sources),
        )
        return finish_scope(staging, province, tables)

    first = tmp_path / "first"
    cache = RunCache(tmp_path / "no-previous-output", first)
    national = finish(first, cache, NATIONAL).national
    assert national is not None and len(national.source_keys) == 1, "the current national version's key"
    assert finish(first, cache, "510000", national).matched == "matched"

    second = tmp_path / "second"
    cache = RunCache(first, second)
    assert finish(second, cache, "510000", national).matched == "cached"
    changed = dataclasses.replace(national, source_keys=("a-changed-national-list",))
    assert finish(second, cache, "510000", changed).matched == "matched"
