"""Which sources are the current list of their jurisdiction, and which are older versions.

Several sources of one jurisdiction with different ``published`` dates are versions of one list; the
newest date is current and is what matching sees. Sources of the same jurisdiction with the same date
(or none) are parts of one list (e.g. its licences and its penalties published as two files).
An undated source next to dated ones is treated as current: nothing says it was superseded.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from transforms.ingest.manifest import SourceSpec


def current_source_ids(specs: Iterable[SourceSpec]) -> set[str]:
    by_jurisdiction: dict[str, list[SourceSpec]] = defaultdict(list)
    for spec in specs:
        by_jurisdiction[spec.jurisdiction].append(spec)
    current: set[str] = set()
    for group in by_jurisdiction.values():
        dates = [s.published for s in group if s.published is not None]
        newest: dt.date | None = max(dates) if dates else None
        current.update(s.id for s in group if s.published is None or s.published == newest)
    return current


def version_chains(specs: Iterable[SourceSpec]) -> dict[str, list[list[SourceSpec]]]:
    """Per jurisdiction, its dated versions oldest first, each a list of the sources of that date."""
    by_date: dict[str, dict[dt.date, list[SourceSpec]]] = defaultdict(lambda: defaultdict(list))
    for spec in specs:
        if spec.published is not None:
            by_date[spec.jurisdiction][spec.published].append(spec)
    return {
        code: [sorted(dates[d], key=lambda s: s.id) for d in sorted(dates)]
        for code, dates in sorted(by_date.items())
        if len(dates) > 1
    }
