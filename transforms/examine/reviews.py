"""Review decisions applied to the run's findings: decided findings carry the decision, and a decision
that matches nothing becomes a ``stale_review`` finding (the file itself: ``transforms.ingest.reviews``)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms.examine.kinds import finding_record, findings_table
from transforms.ingest.reviews import Decision, Reviews
from transforms.publish.schema import FINDINGS, REVIEW_COLUMNS


def review_findings(findings: pa.Table, reviews: Reviews, links_found: set[str] | frozenset[str]) -> pa.Table:
    """The run's findings with their decisions, plus a ``stale_review`` per decision that matches nothing.

    ``links_found`` are the link keys whose child and parent items the run has (``transforms.link.
    reviewed``): a link decision is stale only when one of them is gone. The rows are not re-sorted
    (the flow sorts the assembled table). Without decisions the table is returned as it is.
    """
    if not reviews.decisions:
        return findings
    keys = set(findings.column("finding_key").to_pylist())
    stale = [d for d in reviews.of_findings.values() if d.key not in keys]
    stale += [d for d in reviews.of_links if d.key not in links_found]
    table = pa.concat_tables([findings, findings_table((), records=[_stale(d) for d in stale], items=None)])
    return _mark(table, reviews.of_findings)


def _stale(decision: Decision) -> dict[str, object]:
    link = decision.link
    return finding_record(
        "stale_review",
        jurisdiction_code=link.child_jurisdiction if link else None,
        item_id=None,
        other_item_id=None,
        other_jurisdiction_code=link.parent_jurisdiction if link else None,
        message=f"review {decision.key} ({decision.decision}, {decision.reviewer} {decision.decided_on.isoformat()}, "
        f"reviews file line {decision.line}) matches no "
        + ("items of the run's lists" if link else "finding of this run")
        + ": fixed at the source, or the item was renamed",
        details={**decision.row(), "line": decision.line},
        key=decision.key,
    )


def _mark(table: pa.Table, decided: dict[str, Decision]) -> pa.Table:
    """Fill the review columns of the rows whose ``finding_key`` is decided (one lookup per row)."""
    chosen = list(decided.values())
    position = pc.index_in(table.column("finding_key"), value_set=pa.array([d.key for d in chosen], pa.string()))
    values = {
        "review": pa.array([d.decision for d in chosen], pa.string()),
        "review_note": pa.array([d.note for d in chosen], pa.string()),
        "reviewer": pa.array([d.reviewer for d in chosen], pa.string()),
        "decided_on": pa.array([d.decided_on for d in chosen], pa.date32()),
    }
    for column in REVIEW_COLUMNS:
        index = table.schema.get_field_index(column)
        table = table.set_column(index, FINDINGS.field(column), values[column].take(position))
    return table
