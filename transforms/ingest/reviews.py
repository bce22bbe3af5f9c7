"""Review decisions that persist: the reviews file (``[run] reviews``) read and checked.

A reviewer who has checked a finding records it, and the next run must not raise it as new again. The
file is what the report's "download reviews" button writes (and what a team edits in Excel/WPS): UTF-8
CSV with or without BOM, or GB18030, one decision per row::

    key,decision,note,reviewer,decided_on
    type_mismatch:06d97a4df476f3f6,dismissed,两级分类口径不同,张三,2024-07-01
    link:511602:食品经营许可|510000:食品经营许可,link,同一事项,张三,2024-07-01

* a **finding key** (``<kind>:<16 hex>``, ``findings.finding_key``, see ``transforms.examine.kinds``)
  with ``confirmed`` | ``dismissed`` | ``fixed``: the run's findings with that key carry the decision in
  ``review``, ``review_note``, ``reviewer``, ``decided_on``; a dismissed finding stays in the table,
  marked, so the decision itself stays reviewable;
* a **link key** ``link:<child jurisdiction>:<child name>|<parent jurisdiction>:<parent name>`` with
  ``link`` | ``no_link``: overrides the matcher (``transforms.link.reviewed``). Names are matched after
  the same normalisation as the lists' names (``name_norm``, or ``name_norm（sub_item）`` for an item whose
  办理项 is in a column of its own), so a name copied from the list works; a child name may contain
  ``|``, a parent name may not.

A decision whose key matches no finding of the run, or a link key whose child or parent item is not in
the run's current lists, is reported as a ``stale_review`` finding (info) naming the key and the
decision: the finding was fixed at its source, or a renamed item needs a new decision.

A file that cannot be read as this (wrong header, unknown decision, a key of neither form, a bad date, a
key decided twice, a link to a jurisdiction that is not an ancestor) refuses the run with the file,
line and column, before anything is read: silently skipping a decision would raise again what a
reviewer already decided.

The decisions are applied where they act: on findings by ``transforms.examine.reviews``, on links by
``transforms.link.reviewed``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transforms.ingest.jurisdictions import Registry
from transforms.publish.schema import (
    FINDING_DECISIONS,
    FINDING_KINDS,
    LINK_DECISIONS,
    REVIEW_FILE_COLUMNS,
)

LINK_PREFIX = "link:"
_FINDING_KEY = re.compile(r"^([a-z_]+):[0-9a-f]{16}$")
_LINK_KEY = re.compile(r"^link:([^:|]+):(.+)\|([^:|]+):([^|]+)$")
# ISO dates, and the 2024/7/1 form Excel and WPS write when a CSV is saved in a Chinese locale.
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


class ReviewsError(ValueError):
    """The reviews file cannot be used; the message names the file, the line and the column."""


@dataclass(frozen=True)
class LinkKey:
    """What a ``link:`` key names: a child item and a parent item, each by jurisdiction and name."""

    child_jurisdiction: str
    child_name: str
    parent_jurisdiction: str
    parent_name: str


@dataclass(frozen=True)
class Decision:
    """One row of the reviews file (``line``: where it starts, for messages)."""

    key: str
    decision: str
    note: str | None
    reviewer: str
    decided_on: dt.date
    line: int

    @property
    def link(self) -> LinkKey | None:
        """The link the key names, None for a finding key."""
        found = _LINK_KEY.match(self.key)
        return LinkKey(*(g.strip() for g in found.groups())) if found else None

    def row(self) -> dict[str, str]:
        """The decision as the file holds it (the report embeds these to write the file back)."""
        return {
            "key": self.key,
            "decision": self.decision,
            "note": self.note or "",
            "reviewer": self.reviewer,
            "decided_on": self.decided_on.isoformat(),
        }


@dataclass(frozen=True)
class Reviews:
    """Every decision of a reviews file, in file order; ``sha256`` of its bytes (for run.json)."""

    path: Path | None
    decisions: tuple[Decision, ...] = ()
    sha256: str | None = None

    @property
    def of_findings(self) -> dict[str, Decision]:
        return {d.key: d for d in self.decisions if d.link is None}

    @property
    def of_links(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.link is not None)

    def summary(self) -> dict[str, Any]:
        """run.json's ``reviews``: where the decisions came from and all of them."""
        return {
            "path": str(self.path) if self.path else None,
            "sha256": self.sha256,
            "decisions": [d.row() for d in self.decisions],
        }


NO_REVIEWS = Reviews(None)


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 (a BOM, as Excel and WPS write it, is dropped), else GB18030 (older Chinese Excel)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ReviewsError(f"{path}: neither UTF-8 nor GB18030 text ({exc})") from exc


def _date(text: str) -> dt.date | None:
    found = _DATE.match(text)
    if not found:
        return None
    try:
        return dt.date(*(int(g) for g in found.groups()))
    except ValueError:
        return None


def read_reviews(path: Path | str, registry: Registry | None = None) -> Reviews:
    """The decisions of a reviews file, checked (see the module docstring); ``registry``, when given,
    also checks that a link key's jurisdictions exist and that the parent is an ancestor of the child."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReviewsError(f"{path}: cannot read the reviews file: {exc.strerror or exc}") from exc
    reader = csv.reader(io.StringIO(_decode(path, data), newline=""))
    header: list[str] | None = None
    decisions: list[Decision] = []
    seen: dict[str, int] = {}
    end = 0
    for cells in reader:
        line, end = end + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = _header(path, line, cells)
            continue

        def refuse(column: str, why: str, *, line: int = line, names: list[str] = header) -> ReviewsError:
            return ReviewsError(f"{path}: line {line}, column {names.index(column) + 1} ({column}): {why}")

        if len(cells) != len(header):
            raise ReviewsError(f"{path}: line {line}: {len(cells)} cells, the header has {len(header)}")
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        decision = _decision(row, refuse, registry, line)
        if decision.key in seen:
            raise refuse("key", f"{decision.key!r} is decided twice (first on line {seen[decision.key]})")
        seen[decision.key] = line
        decisions.append(decision)
    if header is None:
        raise ReviewsError(f"{path}: line 1: empty file; expected the header {','.join(REVIEW_FILE_COLUMNS)}")
    return Reviews(path, tuple(decisions), hashlib.sha256(data).hexdigest())


def _header(path: Path, line: int, cells: list[str]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    for i, name in enumerate(names, start=1):
        if name not in REVIEW_FILE_COLUMNS:
            raise ReviewsError(
                f"{path}: line {line}, column {i}: unknown column {cells[i - 1]!r} "
                f"(the header is {','.join(REVIEW_FILE_COLUMNS)})"
            )
        if names.index(name) != i - 1:
            raise ReviewsError(f"{path}: line {line}, column {i}: column {name!r} appears twice")
    missing = [c for c in REVIEW_FILE_COLUMNS if c not in names]
    if missing:
        raise ReviewsError(f"{path}: line {line}: missing column(s) {', '.join(missing)}")
    return names


def _decision(row: dict[str, str], refuse: Any, registry: Registry | None, line: int) -> Decision:
    key, decision = row["key"], row["decision"].lower()
    if not key:
        raise refuse("key", "empty")
    if key.startswith(LINK_PREFIX):
        found = _LINK_KEY.match(key)
        if not found:
            raise refuse("key", f"{key!r}: expected link:<child code>:<child name>|<parent code>:<parent name>")
        if decision not in LINK_DECISIONS:
            raise refuse("decision", f"{row['decision']!r} is not one of {', '.join(LINK_DECISIONS)} (a link key)")
        if registry is not None:
            _check_link(LinkKey(*(g.strip() for g in found.groups())), refuse, registry)
    else:
        kind = _FINDING_KEY.match(key)
        if not kind or kind.group(1) not in FINDING_KINDS:
            raise refuse("key", f"{key!r} is neither a finding key (<kind>:<16 hex>) nor a link: key")
        if decision not in FINDING_DECISIONS:
            raise refuse("decision", f"{row['decision']!r} is not one of {', '.join(FINDING_DECISIONS)}")
    if not row["reviewer"]:
        raise refuse("reviewer", "empty: say who decided")
    decided_on = _date(row["decided_on"])
    if decided_on is None:
        raise refuse("decided_on", f"{row['decided_on']!r} is not a date (YYYY-MM-DD)")
    return Decision(key, decision, row["note"] or None, row["reviewer"], decided_on, line)


def _check_link(link: LinkKey, refuse: Any, registry: Registry) -> None:
    for code in (link.child_jurisdiction, link.parent_jurisdiction):
        if code not in registry:
            raise refuse("key", f"jurisdiction {code!r} is not in the registry")
    if link.parent_jurisdiction not in registry.ancestors(link.child_jurisdiction):
        raise refuse(
            "key", f"{link.parent_jurisdiction} is not an ancestor of {link.child_jurisdiction}: links go upwards"
        )
