"""Paginated portal JSON APIs (``[source.paginator]``) against a real ``http.server`` on 127.0.0.1.

The pages are cut from the real 辽宁 ``findCatalog`` records (``data/realdata/liaoning``), 15 a page, wrapped
the way the portal answers (``{"code": 200, "data": {"list": […], "total": 30}}``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REALDATA
from tests.test_fetch import Route, Server
from transforms.ingest.fetch import FetchHTTPError, FetchTooLarge
from transforms.ingest.manifest import Paginator, load_manifest
from transforms.ingest.pages import PageError, TotalChanged, fetch_pages
from transforms.ingest.read import SourceReadError, read_rows

LIAONING = REALDATA / "liaoning" / "liaoning_province_catalog_sample_government_data.json"
RECORDS: list[dict] = json.loads(LIAONING.read_text(encoding="utf-8"))
NAMES = [r["事项名称"] for r in RECORDS]
PAGE_NUMBER = Paginator(
    type="page_number", page_param="page", page_size_param="rows", page_size=15, base_page=1, total_path="data.total"
)


def page_body(records: list[dict], total: int | str = len(RECORDS)) -> bytes:
    return json.dumps({"code": 200, "data": {"list": records, "total": total}}, ensure_ascii=False, indent=1).encode()


def serve_pages(server: Server, path: str = "/findCatalog", size: int = 15, **page_of: bytes) -> list[bytes]:
    """Pages 1… of the records at ``path?page=N&rows=15``; ``page_of`` replaces page N's body (key ``pN``)."""
    bodies = []
    for n, start in enumerate(range(0, len(RECORDS), size), start=1):
        body = page_of.get(f"p{n}", page_body(RECORDS[start : start + size]))
        server.routes[f"{path}?page={n}&rows={size}"] = Route(body=body)
        bodies.append(body)
    return bodies


@pytest.fixture
def server():
    with Server() as s:
        yield s


def test_pages_are_walked_in_order_until_the_total(server: Server) -> None:
    serve_pages(server)
    got = fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)
    assert got.pages == 2
    frame, _ = read_rows(bytes(got.data), source_id="ln", fmt="json", data_selector="data.list", paged=True)
    assert list(frame["name_raw"]) == NAMES
    assert list(frame["row_no"]) == list(range(1, 31)), "row_no: page order, then position"
    assert not any(frame["row_errors"])
    again = fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)
    assert again.sha256 == got.sha256, "the same pages give the same stored body (and so the run cache)"


def test_an_empty_page_ends_a_walk_without_total_and_offsets_advance_by_limit(server: Server) -> None:
    for offset in (0, 15, 30):
        server.routes[f"/api?offset={offset}&limit=15"] = Route(
            body=json.dumps({"rows": RECORDS[offset : offset + 15]}, ensure_ascii=False).encode()
        )
    paginator = Paginator(type="offset", limit=15)
    got = fetch_pages(server.url("/api"), paginator, "rows", timeout=5)
    assert got.pages == 3  # the empty page is kept in the audit copy
    frame, _ = read_rows(bytes(got.data), source_id="ln", fmt="json", data_selector="rows", paged=True)
    assert list(frame["name_raw"]) == NAMES


def test_a_total_that_changes_mid_walk_fails_naming_the_page(server: Server) -> None:
    serve_pages(server, p2=page_body(RECORDS[15:], total=31))
    with pytest.raises(TotalChanged, match=r"page=2&rows=15: data.total changed during the walk, 30 .* 31") as info:
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)
    assert info.value.transient


def test_a_failing_page_fails_the_source_naming_its_url(server: Server) -> None:
    serve_pages(server)
    server.routes["/findCatalog?page=2&rows=15"] = Route(status=404)
    with pytest.raises(FetchHTTPError, match=r"/findCatalog\?page=2&rows=15: HTTP 404"):
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)


def test_an_empty_page_before_the_total_is_an_error_not_a_shorter_list(server: Server) -> None:
    serve_pages(server, p2=page_body([]))
    with pytest.raises(PageError, match=r"page=2.*page 2 is empty, but data.total says 30 records and only 15 came"):
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)


def test_a_server_that_ignores_the_page_parameter_is_caught(server: Server) -> None:
    same = page_body(RECORDS[:15], total=10**6)
    for n in range(1, 4):
        server.routes[f"/findCatalog?page={n}&rows=15"] = Route(body=same)
    with pytest.raises(PageError, match="page 2 is the same as page 1: the server ignores 'page'"):
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)


def test_the_page_cap_bounds_a_server_that_never_ends(server: Server) -> None:
    for n in range(1, 8):
        server.routes[f"/findCatalog?page={n}&rows=15"] = Route(body=page_body([RECORDS[n]], total=10**6))
    with pytest.raises(Exception, match="more than 5 pages"):
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5, max_pages=5)


def test_the_size_cap_applies_to_all_pages_together(server: Server) -> None:
    bodies = serve_pages(server)
    with pytest.raises(FetchTooLarge, match=r"page=2&rows=15: the pages together exceed the cap .* before page 2"):
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5, max_bytes=len(bodies[0]) + 100)


def test_a_page_that_is_not_json_or_lacks_the_selector_names_the_page(server: Server) -> None:
    serve_pages(server, p2=b"<html>oops</html>")
    with pytest.raises(PageError, match=r"page=2&rows=15: page 2 is not JSON"):
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)
    serve_pages(server, p1=json.dumps({"data": {"rows": [], "total": 30}}).encode())
    with pytest.raises(PageError, match=r"page 1: data_selector 'data.list': no 'list'"):
        fetch_pages(server.url("/findCatalog"), PAGE_NUMBER, "data.list", timeout=5)


def test_data_selector_picks_the_records_of_a_single_document() -> None:
    doc = {"meta": [{"a": 1}], "data": {"list": RECORDS[:3], "total": 3}}
    data = json.dumps(doc, ensure_ascii=False).encode()
    with pytest.raises(SourceReadError, match="no item-name column"):  # the first array found is meta
        read_rows(data, source_id="ln", fmt="json")
    frame, _ = read_rows(data, source_id="ln", fmt="json", data_selector="data.list")
    assert list(frame["name_raw"]) == NAMES[:3]
    with pytest.raises(SourceReadError, match=r"data_selector 'data\.total': a number, not an array"):
        read_rows(data, source_id="ln", fmt="json", data_selector="data.total")


MANIFEST_HEAD = '[[source]]\nid = "ln"\njurisdiction = "210000"\nurl = "http://x/findCatalog"\nformat = "json"\n'


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[source.paginator]\ntype = "cursor"\n', "paginator.type: expected one of"),
        ('[source.paginator]\ntype = "page_number"\nlimit = 3\n', "limit: unknown key for type 'page_number'"),
        ('[source.paginator]\ntype = "offset"\n', "paginator.limit: missing"),
        ('[source.paginator]\ntype = "page_number"\npage_size = 15\n', "page_size_param and page_size go together"),
        ('[source.paginator]\ntype = "page_number"\npage_size_param = "rows"\npage_size = 0\n', "page_size: must be 1"),
        ('[source.paginator]\ntype = "page_number"\nbase_page = 2\nmaximum_page = 1\n', "maximum_page: must not be"),
        ('[source.paginator]\ntype = "page_number"\ntotal_path = "data..total"\n', "total_path: 'data..total' is not"),
        ('[source.paginator]\ntype = "offset"\nlimit = "15"\n', "paginator.limit: expected integer"),
        ('data_selector = ""\n', "data_selector: '' is not a dotted path"),
    ],
)
def test_manifest_names_each_paginator_mistake(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(MANIFEST_HEAD + extra, encoding="utf-8")
    manifest = load_manifest(path)
    assert not manifest.sources
    assert message in manifest.source_errors["ln"], manifest.source_errors


def test_manifest_reads_a_paginator_and_refuses_it_for_a_local_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        MANIFEST_HEAD + 'data_selector = "$.data.list"\n[source.paginator]\ntype = "page_number"\n'
        'page_size_param = "rows"\npage_size = 15\ntotal_path = "data.total"\n',
        encoding="utf-8",
    )
    (spec,) = load_manifest(path).sources
    assert spec.data_selector == "data.list"
    wanted = Paginator(type="page_number", page_size_param="rows", page_size=15, total_path="data.total")
    assert spec.paginator == wanted
    (tmp_path / "l.json").write_text("[]", encoding="utf-8")
    path.write_text(
        '[[source]]\nid = "ln"\njurisdiction = "210000"\npath = "l.json"\n[source.paginator]\ntype = "page_number"\n',
        encoding="utf-8",
    )
    assert "paginator: only for a url source" in load_manifest(path).source_errors["ln"]


@pytest.mark.slow
def test_flow_reads_a_paginated_portal_catalogue_row_for_row(prefect_api, server: Server, tmp_path: Path) -> None:
    import duckdb

    from flows.pipeline import powerlists_run

    key = '"事项类型": "'
    page2 = page_body(RECORDS[15:]).replace(key.encode(), (key + '99", ' + key).encode(), 1)
    serve_pages(server, p2=page2)  # its first record repeats 事项类型: a read warning, not a lost row
    manifest = tmp_path / "sources.toml"
    manifest.write_text(
        '[run]\nname = "pages"\n\n[[source]]\nid = "ln-catalog"\njurisdiction = "210000"\n'
        f'url = "{server.url("/findCatalog")}"\nformat = "json"\ndata_selector = "data.list"\n'
        '[source.paginator]\ntype = "page_number"\npage_param = "page"\npage_size_param = "rows"\n'
        'page_size = 15\nbase_page = 1\ntotal_path = "data.total"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run = powerlists_run(manifest=str(manifest), out=str(out), fetch_retry_delay_s=0.05)
    (source,) = run["inputs"]
    assert source["error"] is None and source["fetch"]["pages"] == 2
    assert source["rows_read"] == len(RECORDS) == source["items"] + source["quarantined"]
    assert source["read_warnings"] == [
        "row 16: key '事项类型' appears more than once in the object; the last value was kept"
    ]
    names = duckdb.sql(
        f"select name_raw from read_parquet('{out}/items/**/*.parquet', hive_partitioning=true) order by row_no"
    ).fetchall()
    assert [n for (n,) in names] == NAMES
