"""The JSON sink: the report's bands and their raw values, as one streamed JSON document.

Each event is written as soon as its batch arrives, so memory stays flat; the document is
valid JSON only once `finish` closes it, and it appears under its name only then. Values
keep their types: numbers as numbers (a Decimal with every digit it has), dates as ISO text.
Charts are pictures, not data, and are left out. A group header or footer carries the keys
of its group and of the groups around it (`"keys": {"region": "North"}`), so a consumer
reading one footer knows whose totals it holds. See docs/outputs.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.bands import BandCells, report_bands
from engine.definition import ReportDefinition
from engine.fill import BandEvent
from engine.formats import exact
from engine.plan import QueryPlan
from engine.sinks.base import TextFileSink

__all__ = ("JsonSink", "json_value")


class JsonSink(TextFileSink):
    """`{"title": ..., "bands": [{"band": ..., "level": ..., "keys": {...}, "values": {...}}]}`."""

    def __init__(self, definition: ReportDefinition, plan: QueryPlan, output: Path) -> None:
        self.definition = definition
        self.output = output
        self._bands = report_bands(definition, plan)
        self._heads = {key: _head(key) for key in self._bands}
        names = [_string(g.name) for g in definition.groups]
        # The keys a group band carries: (name, column) of its group and the ones around it.
        self._keys = {
            key: list(zip(names, plan.group_columns, strict=True))[: _level(key) + 1]
            for key in self._bands
            if key.startswith(("group_header:", "group_footer:"))
        }
        self._first = True

    def write(self, events: Sequence[BandEvent]) -> None:
        parts: list[str] = []
        for event in events:
            cells = self._bands.get(event.band)
            if cells is None:
                continue
            parts.append("\n" if self._first else ",\n")
            self._first = False
            parts.append(self._heads[event.band])
            keys = self._keys.get(event.band)
            if keys is not None and event.row is not None:
                row = event.row
                pairs = ", ".join(f"{name}: {json_value(row[column])}" for name, column in keys)
                parts.append(', "keys": {' + pairs + "}")
            parts.append(_values(cells, event))
        self.file().write("".join(parts))

    def head(self) -> str:
        return f'{{"title": {_string(self.definition.title)}, "bands": ['

    def tail(self) -> str:
        return "\n]}\n"


def _level(key: str) -> int:
    """The group level of a group band's key (`group_footer:1` is 1)."""
    return int(key.partition(":")[2])


def _head(key: str) -> str:
    """The constant start of a band's object: its kind and, for group bands, its level."""
    kind, _, level = key.partition(":")
    head = '{"band": ' + _string(kind)
    return head + (f', "level": {int(level)}' if level else "")


def _values(cells: BandCells, event: BandEvent) -> str:
    pairs = [
        f"{_string(cell.name)}: {json_value(cell.value(event))}"
        for cell in cells.cells
        if cell.kind != "chart"
    ]
    return ', "values": {' + ", ".join(pairs) + "}}"


def json_value(value: Any) -> str:
    """A raw database value as JSON text; NaN and infinities, which JSON lacks, as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # 15 significant digits, as the PDF rounds
        return format(exact(value).normalize(), "f") if math.isfinite(value) else "null"
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else "null"  # str keeps every digit
    if isinstance(value, datetime | date | time):
        return _string(value.isoformat())
    return _string(value if isinstance(value, str) else str(value))


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
