"""Header normalisation and alias mapping (CONTRACT §3).

Published lists name the same column in dozens of ways (事项名称, 权力名称, ``itemName`` …), with stray
spaces, full-width brackets and trailing colons. Headers are folded to one comparable form and looked up in
``data/vocab/column_aliases.csv`` so the quality team can add a new spelling without touching code.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from transforms import ROOT
from transforms.ingest.manifest import CANONICAL_COLUMNS

ALIASES_PATH = ROOT / "data" / "vocab" / "column_aliases.csv"

CANONICAL: tuple[str, ...] = CANONICAL_COLUMNS

# canonical column -> its column in the row frame (docs/architecture.md, "row frame")
FRAME_COLUMN: dict[str, str] = {
    "name": "name_raw",
    "sub_item": "sub_item_raw",
    "code": "code_raw",
    "power_type": "power_type_raw",
    "department": "department",
    "legal_basis": "legal_basis",
    "status": "status_raw",
    "responsibility": "responsibility",
    "seq": "seq",
}

ROW_FRAME_COLUMNS: tuple[str, ...] = (
    "source_id",
    "sheet",
    "row_no",
    "raw",
    *FRAME_COLUMN.values(),
    "extra",
    "row_errors",
)

# whitespace, brackets of every width, and the '*' that templates put on required headers
_DROP = re.compile(r"[\s()\[\]{}<>【】《》〈〉〔〕「」『』*]+")
_NUMBERING = re.compile(r"[0-9]{1,6}")


@cache
def _to_simplified() -> Callable[[str], str]:
    """opencc's traditional→simplified converter, built once (construction is the slow part)."""
    import opencc

    return opencc.OpenCC("t2s").convert


def normalise_header(text: str) -> str:
    """Fold a header to the form aliases are compared in, so 'ＩｔｅｍＮａｍｅ', '事项 名称：' and the
    traditional '事項名稱' all match."""
    folded = unicodedata.normalize("NFKC", text)
    if not folded.isascii():
        folded = _to_simplified()(folded)
    folded = _DROP.sub("", folded).rstrip(":")
    return folded.casefold()


@cache
def load_aliases(path: Path = ALIASES_PATH) -> dict[str, tuple[str, ...]]:
    """Normalised alias -> the canonical columns it may stand for, in file order.

    An alias listed under ``seq`` and another column (编号) is decided by the column's values, see
    :func:`map_headers`.
    """
    out: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            canonical = rec["canonical"].strip()
            if canonical not in FRAME_COLUMN:
                raise ValueError(f"{path.name}: unknown canonical column {canonical!r}")
            targets = out.setdefault(normalise_header(rec["alias"]), [])
            if canonical not in targets:
                targets.append(canonical)
    return {alias: tuple(targets) for alias, targets in out.items()}


def is_numbering(values: Sequence[str]) -> bool:
    """True when a column only counts rows (1, 2, 3 …), so 编号 there is a sequence number, not a code."""
    seen = False
    for value in values:
        text = value.strip()
        if not text:
            continue
        if not _NUMBERING.fullmatch(text):
            return False
        seen = True
    return seen


def unique_keys(headers: Sequence[str]) -> list[str]:
    """Header texts made usable as dict keys: an empty header becomes 'column N', a repeat gets '.1', '.2'."""
    keys: list[str] = []
    taken: set[str] = set()
    for j, text in enumerate(headers, start=1):
        base = text or f"column {j}"
        key, k = base, 0
        while key in taken:
            k += 1
            key = f"{base}.{k}"
        taken.add(key)
        keys.append(key)
    return keys


@dataclass(frozen=True)
class HeaderMap:
    """Which header column feeds each canonical column.

    ``missing_overrides`` lists the canonical names whose ``[source.columns]`` header is not in the row, so
    the caller can say so instead of silently reading nothing.
    """

    canonical: dict[str, int]
    unmapped: tuple[int, ...]
    missing_overrides: tuple[str, ...]

    @property
    def n_mapped(self) -> int:
        return len(self.canonical)


def check_overrides(overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Refuse an override for a column that does not exist, before any header is looked at."""
    if not overrides:
        return {}
    unknown = sorted(k for k in overrides if k not in FRAME_COLUMN)
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}; expected one of {', '.join(CANONICAL)}")
    return {k: str(v) for k, v in overrides.items()}


def map_headers(
    headers: Sequence[str],
    overrides: Mapping[str, str] | None = None,
    numbering: Callable[[int], bool] | None = None,
) -> HeaderMap:
    """Assign header columns to canonical columns.

    Overrides claim first (exact text, then normalised text). Then each header, left to right, takes the
    canonical column its alias names unless an earlier header already took it: the leftmost wins and the
    rest stay in ``extra``. Chinese headers go before ASCII ones (``taskType``, ``qlKind``): a portal
    record that carries both its API field and the published 事项类型 means the published column, and
    adding a portal alias must never take a column away from a list that maps it today. ``numbering(j)``
    decides an alias shared by ``seq`` and another column; without it such a header is counted as
    ``seq``, which is enough for finding the header row.
    """
    aliases = load_aliases()
    overrides = overrides or {}
    canonical: dict[str, int] = {}
    claimed: set[int] = set()
    missing: list[str] = []
    stripped = [h.strip() for h in headers]
    folded = [normalise_header(h) for h in headers]
    for canon, wanted in overrides.items():
        text = wanted.strip()
        j = next((i for i, h in enumerate(stripped) if h == text), None)
        if j is None:
            target = normalise_header(text)
            j = next((i for i, h in enumerate(folded) if h and h == target), None)
        if j is None:
            missing.append(canon)
        else:
            canonical[canon] = j
            claimed.add(j)
    for j in sorted(range(len(folded)), key=lambda i: folded[i].isascii()):
        key = folded[j]
        if j in claimed or not key:
            continue
        targets = aliases.get(key, ())
        if len(targets) > 1 and "seq" in targets:
            others = [t for t in targets if t != "seq"]
            targets = ("seq",) if numbering is None or numbering(j) else tuple(others)
        for canon in targets[:1]:
            if canon not in canonical and canon not in overrides:
                canonical[canon] = j
                claimed.add(j)
    unmapped = tuple(j for j in range(len(headers)) if j not in claimed)
    return HeaderMap(canonical=canonical, unmapped=unmapped, missing_overrides=tuple(missing))


def find_header_row(
    rows: Sequence[Sequence[str]],
    overrides: Mapping[str, str] | None = None,
    limit: int = 20,
) -> int | None:
    """Index of the header among the first ``limit`` non-blank rows, or None.

    Title rows ('…事项目录', '单位：项') map nothing, so the first row where the item-name column and at
    least one other column map is the header; failing that, the row that maps the most columns with a name.
    """
    best: tuple[int, int] | None = None  # (n_mapped, index)
    seen = 0
    for i, row in enumerate(rows):
        if seen >= limit:
            break
        if not any(cell.strip() for cell in row):
            continue
        seen += 1
        hmap = map_headers(row, overrides)
        if "name" not in hmap.canonical:
            continue
        if hmap.n_mapped >= 2:
            return i
        if best is None or hmap.n_mapped > best[0]:
            best = (hmap.n_mapped, i)
    return None if best is None else best[1]
