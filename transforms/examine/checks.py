"""Every check of a set of items at once: the one entry point the flow and the evaluation share.

The kinds are computed by three modules (``findings`` across levels, ``changes`` over time, ``reform``
for the reform rules); which of them apply, and which judges what, is decided here once, so that
``make eval`` scores exactly what a run writes: when lists are dated, a devolution whose list is dated is
judged over time only (with its date), one whose list is not across levels only, and the over-time
check's ``cancelled_still_listed`` refines the cross-level one of the same pair (``combine_findings``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa

from transforms.examine.changes import find_over_time
from transforms.examine.findings import find_cross_level
from transforms.examine.kinds import combine_findings
from transforms.examine.reform import ReformCheck
from transforms.ingest.jurisdictions import Registry
from transforms.ingest.manifest import DEFAULT_MATCH_THRESHOLD
from transforms.publish.schema import FINDINGS


def find_all(
    registry: Registry,
    items: pd.DataFrame,
    current: pd.DataFrame,
    links: pa.Table,
    changes: pa.Table,
    as_of: dt.date | None,
    reform: ReformCheck,
    *,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
) -> pa.Table:
    """Cross-level, over-time and reform findings (a run's failed sources are the flow's).

    ``items`` are every version's items, ``current`` the newest version of each list, ``links`` the
    current items' links, ``changes`` the version diffs. Days outstanding are counted up to ``as_of``,
    the newest list date (None: no list is dated, so nothing is judged over time), not today, so that
    the same inputs give the same bytes. ``reform`` is prepared on ``current`` (its tables are written
    too, so the caller prepares it once).
    """
    if not len(current):
        return FINDINGS.empty_table()
    cross_level = find_cross_level(current, links, registry, judged_over_time=as_of is not None)
    if as_of is not None:
        cross_level = combine_findings(
            cross_level, find_over_time(items, links, changes, registry, as_of, threshold=threshold)
        )
    return pa.concat_tables([cross_level, reform.findings()])
