"""DuckDB views over an output folder (CONTRACT §5, ``OUT/views.sql``).

``duckdb -init OUT/views.sql`` opens a whole run as tables named like the contract's (``items``,
``quarantine``, ``links``, ``powers``, ``findings``, ``changes``, ``summary``) plus two conveniences the
analysts' queries (docs/queries.md) and the report share:

* ``current_items`` — the items of each jurisdiction's newest list version, the ones matching, findings
  and summary were computed on (same rule as ``transforms.examine.versions.current_source_ids``: per
  jurisdiction, the newest ``published`` date, and every undated source);
* ``jurisdictions`` — code, name, level and province of every jurisdiction that has items, so tables
  that carry only a code (findings, summary, links) can be labelled with one join.

Paths in the file are absolute: DuckDB resolves a relative path in ``read_parquet`` against the
process's working directory, not against the file given to ``-init``, so a relative path would only work
when the analyst happens to start DuckDB inside OUT. The consequence is that moving an output folder
means regenerating its views (``write_views(new_place)``); a run written in a staging folder and then
renamed into place passes the final place as ``root``.
"""

from __future__ import annotations

from pathlib import Path

from transforms.publish.schema import TABLES

VIEWS_FILE = "views.sql"

#: One sentence per view, written as ``COMMENT ON VIEW`` so ``duckdb_views()`` explains itself.
VIEW_COMMENTS: dict[str, str] = {
    "items": "one row per accepted list row, all versions (one file per province)",
    "quarantine": "one row per rejected list row, with its raw cells and reasons",
    "links": "child item -> its counterpart in one ancestor jurisdiction (method code|exact|fuzzy, score)",
    "powers": "connected items across levels: one consolidated power each",
    "findings": "what the quality team reviews: kind, severity, the item and the other item",
    "changes": "differences between consecutive versions of one jurisdiction's list",
    "summary": "n_items per jurisdiction x power_type x status (current versions)",
    "current_items": "items of each jurisdiction's newest list version (what links/findings/summary use)",
    "jurisdictions": "code, name, level and province of every jurisdiction with items",
}


def _literal(text: str) -> str:
    """A SQL string literal: a folder name with a quote must not end the literal early."""
    return "'" + text.replace("'", "''") + "'"


def _source(root: Path, table: str) -> str:
    if table == "items":
        # one file per province with province inside (transforms.publish.write.items_file): no hive keys to guess
        return f"read_parquet({_literal((root / 'items' / '*.parquet').as_posix())})"
    return f"read_parquet({_literal((root / f'{table}.parquet').as_posix())})"


def view_sql(root: Path) -> str:
    """The CREATE VIEW statements for an output folder at ``root`` (made absolute)."""
    root = Path(root).resolve()
    lines = [
        "-- powerlists: DuckDB views over one output folder. Open it with",
        f"--   duckdb -init {_quote_shell((root / VIEWS_FILE).as_posix())}",
        "-- Paths are absolute (DuckDB resolves relative ones against the working directory, not this file);",
        "-- after moving the folder, regenerate with transforms.publish.views.write_views.",
        "",
    ]
    for table in TABLES:
        lines.append(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {_source(root, table)};")
    lines += [
        "CREATE OR REPLACE VIEW current_items AS",
        "SELECT * EXCLUDE (_newest) FROM (",
        "    SELECT *, max(published) OVER (PARTITION BY jurisdiction_code) AS _newest FROM items",
        ") WHERE published IS NULL OR published = _newest;",
        "CREATE OR REPLACE VIEW jurisdictions AS",
        "SELECT jurisdiction_code AS code, any_value(jurisdiction_name) AS name, any_value(level) AS level,",
        "       any_value(province) AS province",
        "FROM items GROUP BY jurisdiction_code;",
        "",
    ]
    for view, comment in VIEW_COMMENTS.items():
        lines.append(f"COMMENT ON VIEW {view} IS {_literal(comment)};")
    return "\n".join(lines) + "\n"


def _quote_shell(text: str) -> str:
    """Quote a path for the comment's copy-paste command only when it needs it."""
    return text if all(c.isalnum() or c in "/._-" for c in text) else "'" + text.replace("'", "'\\''") + "'"


def write_views(out_dir: Path, root: Path | None = None) -> Path:
    """Write ``out_dir/views.sql``; ``root`` is where the folder will live when read (default: here).

    The flow assembles a run in a staging folder and renames it into place, so it passes the final
    folder as ``root``: absolute paths written while staging would point at a folder that no longer exists.
    """
    out_dir = Path(out_dir)
    target = out_dir / VIEWS_FILE
    target.write_text(view_sql(root if root is not None else out_dir), encoding="utf-8")
    return target
