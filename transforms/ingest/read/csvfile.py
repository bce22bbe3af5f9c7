"""CSV (and TSV, semicolon- or pipe-separated) text into a table."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from transforms.ingest.columns import (
    find_header_row,
    map_headers,
)
from transforms.ingest.read.limits import HEADER_SCAN_ROWS
from transforms.ingest.read.table import SourceReadError, Table

_DELIMITERS = (",", "\t", ";", "|")

_SNIFF_CHARS = 65536


def _csv_table(text: str, overrides: Mapping[str, str]) -> Table:
    """Parse with the C csv module; row_no is the physical line where each record starts.

    When no record spans lines (the usual case) record k starts on line k + 1 and the numbers come for
    free; only a file with multi-line cells is parsed a second time with per-record line tracking.
    """
    delimiter = _sniff_delimiter(text, overrides)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        rows = list(reader)
        if reader.line_num == len(rows):
            return Table(sheet="", rows=rows, row_nos=list(range(1, len(rows) + 1)))
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        row_nos: list[int] = []
        last = 0
        for _ in reader:
            row_nos.append(last + 1)
            last = reader.line_num
    except csv.Error as exc:
        raise SourceReadError(f"csv: line {reader.line_num}: {exc}") from exc
    return Table(sheet="", rows=rows, row_nos=row_nos)


def _sniff_delimiter(text: str, overrides: Mapping[str, str]) -> str:
    """The delimiter under which the sample has a recognisable header, else the most consistent one.

    A header that maps to known columns is hard to produce by splitting on the wrong character, while a
    plain consistency count can be fooled by cells full of ';' or '|'. Consistency (the most records with
    the same number, >1, of fields) breaks ties and decides when no delimiter shows a header; title rows
    have one field and legal-basis cells hold commas of their own, so raw character counts would not do.
    """
    sample = text[:_SNIFF_CHARS]
    if len(text) > len(sample):
        sample = sample[: sample.rfind("\n") + 1] or sample
    best, best_key = ",", (False, 0, 0)
    for delim in _DELIMITERS:
        if delim not in sample:
            continue
        try:
            records = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delim) if r][:200]
        except csv.Error:
            continue
        counts: dict[int, int] = {}
        for record in records:
            if len(record) > 1:
                counts[len(record)] = counts.get(len(record), 0) + 1
        header = find_header_row(records, overrides, HEADER_SCAN_ROWS)
        mapped = 0 if header is None else map_headers(records[header], overrides).n_mapped
        key = (header is not None, mapped, max(counts.values(), default=0))
        if key > best_key:
            best, best_key = delim, key
    return best
