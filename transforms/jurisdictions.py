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

from transforms.schema import LEVELS

NATIONAL = "000000"
_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$")
BUNDLED_REGISTRY = Path(__file__).resolve().parent.parent / "data" / "registry" / "regions.csv"


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


def _read_rows(path: Path) -> dict[str, Jurisdiction]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _parse_rows(path, csv.DictReader(handle))
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text (byte offset {exc.start}); save it as UTF-8 CSV") from exc
    except (OSError, csv.Error) as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from exc


def _parse_rows(path: Path, reader: csv.DictReader) -> dict[str, Jurisdiction]:
    rows: dict[str, Jurisdiction] = {}
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
        rows[code] = Jurisdiction(code, (row.get("name") or "").strip(), level, parent)
    return rows


def load_registry(extra: Path | None = None, bundled: Path = BUNDLED_REGISTRY) -> Registry:
    """The bundled registry, extended/overridden by ``extra`` (a manifest's jurisdictions.csv)."""
    rows = {NATIONAL: Jurisdiction(NATIONAL, "全国", "national", None)}
    for code, row in _read_rows(bundled).items():
        parent = row.parent_code or (NATIONAL if row.level == "province" else None)
        rows[code] = Jurisdiction(code, row.name, row.level, parent)
    if extra is not None:
        rows.update(_read_rows(extra))
    for code, row in rows.items():
        if row.parent_code is not None and row.parent_code not in rows:
            raise RegistryError(f"parent_code: '{row.parent_code}' of '{code}' is not in the registry")
    return Registry(rows)
