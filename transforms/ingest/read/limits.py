"""The caps on what a source may cost: bytes, line length, unzipped size and ratio, cells, merges."""

from __future__ import annotations

HEADER_SCAN_ROWS = 20

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024

MAX_ZIP_RATIO = 100

# Members a ZIP bundle may hold: a county's lists are dozens of files; a million empty entries are an attack.
MAX_ZIP_MEMBERS = 1_000

# A list file larger than this is an export gone wrong or an attack; refused before it is read into memory.
MAX_SOURCE_BYTES = 200 * 1024 * 1024

# One CSV/JSONL line (record) longer than this is refused before the text is decoded: no list row is that
# long (32k-character cells in forty columns are ~4 MB), and decoding and splitting it would cost several times
# its size in memory. Multi-line quoted cells are bounded by MAX_SOURCE_BYTES and max_cell_chars instead.
MAX_LINE_BYTES = 16 * 1024 * 1024

# Cells a workbook may make us hold (per row: up to its last used column), and merged cells it may declare.
# openpyxl creates an object per merged cell on load and ``iter_rows`` one per empty cell of the used range,
# so a 5 KB file with one cell at XFD1048576 or one merge A1:XFD1048576 would need gigabytes.
MAX_WORKBOOK_CELLS = 10_000_000

MAX_MERGED_CELLS = 1_000_000

# below this many unpacked bytes a high ratio cannot hurt, and tiny XML parts compress very well
_RATIO_FLOOR_BYTES = 10 * 1024 * 1024

# Pages one paginated source may take: a portal list is a few hundred pages; a server that never ends is not.
MAX_PAGES = 10_000
