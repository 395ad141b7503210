"""The CSV sink: the report's detail lines as flat data, for spreadsheets and scripts.

One row per detail event: the group keys first (named after the groups), so every line
carries the groups it belongs to, then the detail band's values. Values are raw, not
formatted, so that a spreadsheet parses numbers as numbers: '.' as the decimal point, no
thousands separators, dates in ISO form. RFC 4180 quoting, UTF-8, streamed batch by batch.
Text that starts like a formula gets a leading apostrophe, so opening the file cannot run it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.bands import CellSpec, report_bands
from engine.definition import ReportDefinition
from engine.fill import BandEvent
from engine.formats import exact
from engine.plan import QueryPlan
from engine.sinks.base import TextFileSink

if TYPE_CHECKING:
    from _csv import Writer

__all__ = ("CsvSink", "csv_value")


class CsvSink(TextFileSink):
    """Flat detail lines with their group keys, one CSV row each."""

    def __init__(self, definition: ReportDefinition, plan: QueryPlan, output: Path) -> None:
        self.output = output
        bands = report_bands(definition, plan)
        detail = bands.get("detail")
        self._cells: tuple[CellSpec, ...] = tuple(
            c for c in (detail.cells if detail else ()) if c.kind != "chart"
        )
        self._group_columns = plan.group_columns
        header = bands.get("column_header")
        labels = header.labels if header is not None else ()
        names = labels if len(labels) == len(self._cells) else [c.name for c in self._cells]
        self.header = [g.name for g in definition.groups] + list(names)
        self._writer: Writer | None = None

    def write(self, events: Sequence[BandEvent]) -> None:
        writer = self._csv()
        keys, cells = self._group_columns, self._cells
        writer.writerows(
            [csv_value(row[k]) for k in keys] + [csv_value(c.value(event)) for c in cells]
            for event in events
            if event.band == "detail" and (row := event.row) is not None
        )

    def _csv(self) -> Writer:
        """The writer on the temporary file, the header row first."""
        if self._writer is None:
            self._writer = csv.writer(self.file(), lineterminator="\r\n")
        return self._writer

    def head(self) -> str:
        line = io.StringIO()
        csv.writer(line, lineterminator="\r\n").writerow(self.header)
        return line.getvalue()


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
