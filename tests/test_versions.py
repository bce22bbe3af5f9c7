"""Current list versus older versions of a jurisdiction's list."""

from __future__ import annotations

import datetime as dt

from transforms.examine.versions import current_source_ids, version_chains
from transforms.ingest.manifest import SourceSpec


def spec(sid: str, code: str, published: dt.date | None) -> SourceSpec:
    return SourceSpec(id=sid, jurisdiction=code, url="http://127.0.0.1/x.csv", published=published)


def test_newest_date_is_current_and_parts_of_a_list_stay_together() -> None:
    specs = [
        spec("city-2022", "511600", dt.date(2022, 1, 1)),
        spec("city-2024-licences", "511600", dt.date(2024, 1, 1)),
        spec("city-2024-penalties", "511600", dt.date(2024, 1, 1)),
        spec("county", "511602", None),
        spec("county-annex", "511602", None),
    ]
    assert current_source_ids(specs) == {"city-2024-licences", "city-2024-penalties", "county", "county-annex"}
    chains = version_chains(specs)
    assert list(chains) == ["511600"]
    assert [[s.id for s in version] for version in chains["511600"]] == [
        ["city-2022"],
        ["city-2024-licences", "city-2024-penalties"],
    ]
