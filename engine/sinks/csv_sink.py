"""The CSV sink: the report's lines as flat data, for spreadsheets and scripts.

A report with a detail band that shows values writes one row per detail line: the group
keys first (named after the groups), so every line carries the groups it belongs to, then
the detail band's values. A report without one (a summary by region, say) writes one row
per printed band that shows values: its group keys (those of the groups around it; the
others empty), then a column per value, named after its expression or variable; when more
than one kind of band has values, a first `band` column names it (`title`,
`header:region`, `footer:region`, `summary`). See docs/outputs.md.

Values are raw, not formatted, so that a spreadsheet parses numbers as numbers: '.' as the
decimal point, no thousands separators, dates in ISO form. RFC 4180 quoting, UTF-8,
streamed batch by batch. Text that starts like a formula gets a leading apostrophe, so
opening the file cannot run it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.bands import BandCells, CellSpec, report_bands
from engine.definition import ReportDefinition
from engine.fill import BandEvent, band_key
from engine.formats import exact
from engine.plan import QueryPlan
from engine.sinks.base import TextFileSink

if TYPE_CHECKING:
    from _csv import Writer

__all__ = ("CsvSink", "csv_value")


@dataclass(frozen=True)
class _Line:
    """A band written as CSV rows: its name, how many group keys it knows, its cells and
    the column each goes in (after the group keys)."""

    name: str
    levels: int
    cells: tuple[CellSpec, ...]
    places: tuple[int, ...]


class CsvSink(TextFileSink):
    """One CSV row per detail line, or, without detail values, per band with values."""

    def __init__(self, definition: ReportDefinition, plan: QueryPlan, output: Path) -> None:
        self.output = output
        bands = report_bands(definition, plan)
        self._keys = plan.group_columns
        groups = [g.name for g in definition.groups]
        detail = _values(bands.get("detail"))
        if detail:
            header = bands.get("column_header")
            labels = header.labels if header is not None else ()
            names = labels if len(labels) == len(detail) else [c.name for c in detail]
            self._detail: tuple[CellSpec, ...] = detail
            self._lines: dict[str, _Line] = {}
            self.header = groups + list(names)
        else:
            self._detail = ()
            self._lines, columns = _band_lines(definition, plan, bands)
            self._width = len(columns)
            self.header = (["band"] if len(self._lines) > 1 else []) + groups + columns
        self._writer: Writer | None = None

    def write(self, events: Sequence[BandEvent]) -> None:
        writer = self._csv()
        keys, cells = self._keys, self._detail
        if cells:
            writer.writerows(
                [csv_value(row[k]) for k in keys] + [csv_value(c.value(event)) for c in cells]
                for event in events
                if event.band == "detail" and (row := event.row) is not None
            )
        elif self._lines:
            writer.writerows(self._band_row(event) for event in events if event.band in self._lines)

    def _band_row(self, event: BandEvent) -> list[str]:
        line = self._lines[event.band]
        row = event.row
        known = line.levels if row is not None else 0
        values = [csv_value(row[k]) for k in self._keys[:known]] if row is not None else []
        values += [""] * (len(self._keys) - len(values))
        figures = [""] * self._width
        for place, cell in zip(line.places, line.cells, strict=True):
            figures[place] = csv_value(cell.value(event))
        return ([line.name] if len(self._lines) > 1 else []) + values + figures

    def _csv(self) -> Writer:
        """The writer on the temporary file, the header row first."""
        if self._writer is None:
            self._writer = csv.writer(self.file(), lineterminator="\r\n")
        return self._writer

    def head(self) -> str:
        line = io.StringIO()
        csv.writer(line, lineterminator="\r\n").writerow(self.header)
        return line.getvalue()


def _values(band: BandCells | None) -> tuple[CellSpec, ...]:
    """The cells of a band that hold values (charts are pictures, not data)."""
    return tuple(c for c in band.cells if c.kind != "chart") if band is not None else ()


def _band_lines(
    definition: ReportDefinition, plan: QueryPlan, bands: dict[str, BandCells]
) -> tuple[dict[str, _Line], list[str]]:
    """The bands with values, by event key, and the value columns (a name once, in the
    order the bands print)."""
    printed = [("title", "title", 0)]
    printed += [(band_key("group_header", i), f"header:{g.name}", i + 1)
                for i, g in enumerate(definition.groups)]  # fmt: skip
    printed += [(band_key("group_footer", i), f"footer:{g.name}", i + 1)
                for i, g in reversed(list(enumerate(definition.groups)))]  # fmt: skip
    printed += [("summary", "summary", 0)]
    chosen = []
    for key, name, level in printed:
        # a field showing a group key the row carries already is not written twice
        known = plan.group_columns[:level]
        cells = tuple(c for c in _values(bands.get(key)) if c.column not in known)
        if cells:
            chosen.append((key, name, level, cells))
    columns = list(dict.fromkeys(c.name for *_, cells in chosen for c in cells))
    lines = {
        key: _Line(name, level, cells, tuple(columns.index(c.name) for c in cells))
        for key, name, level, cells in chosen
    }
    return lines, columns


def csv_value(value: Any) -> str:
    """A raw value as text a spreadsheet reads back as the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # 15 significant digits, as the PDF rounds: 224.96999999999997 is 224.97
        return format(exact(value).normalize(), "f") if math.isfinite(value) else ""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else ""  # 'f': never 1E+3
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value  # text a spreadsheet would run as a formula stays text
    return str(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
