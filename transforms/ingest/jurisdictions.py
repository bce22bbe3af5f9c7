"""The jurisdiction registry (CONTRACT §2): who is above whom.

The bundled registry (``data/registry/regions.csv``, GB/T 2260 as of April 2026) knows provinces,
prefecture cities and counties; a manifest's own file adds 乡镇/街道, 村/社区 and 开发区 or overrides a
row. Ancestors drive matching (a county is compared with its city and its province), so the chain must
end at the national level ``000000`` for every code.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from transforms import ROOT
from transforms.publish.schema import LEVELS

NATIONAL = "000000"
_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$")
BUNDLED_REGISTRY = ROOT / "data" / "registry" / "regions.csv"


class RegistryError(Exception):
    """A jurisdictions file is malformed; the message names the file, line and column."""


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    level: str
    parent_code: str | None


class Registry:
    """Codes → jurisdictions with their ancestor chains, province and level."""

    def __init__(self, rows: dict[str, Jurisdiction]) -> None:
        self._rows = rows
        self._ancestors: dict[str, tuple[str, ...]] = {}

    def __contains__(self, code: object) -> bool:
        return code in self._rows

    def __getitem__(self, code: str) -> Jurisdiction:
        return self._rows[code]

    def __len__(self) -> int:
        return len(self._rows)

    def codes(self) -> set[str]:
        return set(self._rows)

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Parent chain, nearest first, up to and including ``000000``."""
        if code not in self._ancestors:
            chain: list[str] = []
            current = self._rows[code].parent_code
            while current is not None and current not in chain:
                chain.append(current)
                current = self._rows[current].parent_code if current in self._rows else None
            self._ancestors[code] = tuple(chain)
        return self._ancestors[code]

    def province(self, code: str) -> str:
        """The province a jurisdiction belongs to; ``000000`` for the national level itself."""
        if self._rows[code].level in ("national",):
            return NATIONAL
        if self._rows[code].level == "province":
            return code
        for ancestor in self.ancestors(code):
            if self._rows[ancestor].level == "province":
                return ancestor
        return NATIONAL


def _read_rows(path: Path) -> dict[str, tuple[Jurisdiction, str]]:
    """Rows by code, each with where it was read (``file:line``) for error messages."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _parse_rows(path, csv.DictReader(handle))
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text (byte offset {exc.start}); save it as UTF-8 CSV") from exc
    except (OSError, csv.Error) as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from exc


def _parse_rows(path: Path, reader: csv.DictReader) -> dict[str, tuple[Jurisdiction, str]]:
    rows: dict[str, tuple[Jurisdiction, str]] = {}
    missing = {"code", "name", "level"} - set(reader.fieldnames or [])
    if missing:
        raise RegistryError(f"{path}: missing column(s) {sorted(missing)}")
    for line_no, row in enumerate(reader, start=2):
        code = (row.get("code") or "").strip()
        level = (row.get("level") or "").strip()
        if not code:
            raise RegistryError(f"{path}:{line_no}: code: empty")
        parent = (row.get("parent_code") or "").strip() or None
        for column, value in (("code", code), ("parent_code", parent)):
            # a province code names the items/<code>.parquet file: it must never be a path
            if value is not None and not _CODE.match(value):
                raise RegistryError(f"{path}:{line_no}: {column}: {value!r} is not a code (letters, digits, _ -)")
        if level not in LEVELS:
            raise RegistryError(f"{path}:{line_no}: level: '{level}' is not one of {LEVELS}")
        if parent == code:
            raise RegistryError(f"{path}:{line_no}: parent_code: '{code}' cannot be its own parent")
        rows[code] = (Jurisdiction(code, (row.get("name") or "").strip(), level, parent), f"{path}:{line_no}")
    return rows


def load_registry(extra: Path | None = None, bundled: Path = BUNDLED_REGISTRY) -> Registry:
    """The bundled registry, extended/overridden by ``extra`` (a manifest's jurisdictions.csv).

    Every parent must exist and stand at a level above its child (so no chain can loop: a cycle such as
    510000 → 510100 → 510000 would link a list to itself), and ``000000`` is the national level, which
    no file may redefine.
    """
    rows = {NATIONAL: Jurisdiction(NATIONAL, "全国", "national", None)}
    where = {NATIONAL: "the national level"}
    for code, (row, at) in _read_rows(bundled).items():
        parent = row.parent_code or (NATIONAL if row.level == "province" else None)
        rows[code], where[code] = Jurisdiction(code, row.name, row.level, parent), at
    if extra is not None:
        for code, (row, at) in _read_rows(extra).items():
            if code == NATIONAL:
                raise RegistryError(f"{at}: code: {NATIONAL} is the national level and cannot be redefined")
            rows[code], where[code] = row, at
    rank = {level: i for i, level in enumerate(LEVELS)}
    for code, row in rows.items():
        if row.parent_code is None:
            continue
        parent = rows.get(row.parent_code)
        if parent is None:
            raise RegistryError(f"{where[code]}: parent_code: '{row.parent_code}' of '{code}' is not in the registry")
        if rank[parent.level] >= rank[row.level]:
            raise RegistryError(
                f"{where[code]}: parent_code: '{row.parent_code}' ({parent.level}, {where[row.parent_code]}) is not "
                f"above '{code}' ({row.level}); a parent must be of a higher level, so that no chain loops"
            )
    return Registry(rows)
