"""What each band shows, independent of the output format.

Every sink (Typst, HTML, JSON, CSV, XLSX) consumes the same band events; this module says,
for each band key, which cells it has, how to get each cell's raw value from an event, and
how to format it. Sinks for typeset output use the text; data sinks use the raw values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.definition import (
    AggregateElement,
    Band,
    ChartElement,
    FieldElement,
    LabelElement,
    ReportDefinition,
)
from engine.errors import InternalError
from engine.fill import BandEvent, band_key
from engine.formats import Formatter, make_formatter
from engine.plan import QueryPlan

if TYPE_CHECKING:
    from engine.charts import ChartData

__all__ = ("BandCells", "CellSpec", "report_bands")


@dataclass(frozen=True)
class CellSpec:
    """One value cell: a field or an aggregate."""

    name: str  # the expression or the variable's name
    kind: str  # "field", "aggregate" or "chart" (whose value is an SVG)
    value: Callable[[BandEvent], Any]
    format: Formatter
    element: FieldElement | AggregateElement | ChartElement
    column: int | None = None  # where a field's value sits in the row

    def text(self, event: BandEvent) -> str:
        return self.format(self.value(event))


@dataclass(frozen=True)
class BandCells:
    """A band of the definition, with the value cells it shows, in order."""

    key: str
    path: str
    band: Band
    cells: tuple[CellSpec, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(e.text for e in self.band.elements if isinstance(e, LabelElement))


def report_bands(
    definition: ReportDefinition, plan: QueryPlan, charts: ChartData | None = None
) -> dict[str, BandCells]:
    """Every band the definition has, by event key (`detail`, `group_footer:0`, ...); chart
    cells draw from the run's `charts` (sinks that show no charts need none)."""
    return {key: _cells(key, path, band, plan, charts) for key, path, band in _named(definition)}


def _named(definition: ReportDefinition) -> Iterator[tuple[str, str, Band]]:
    bands = definition.bands
    for name in ("title", "page_header", "column_header", "detail", "summary", "page_footer"):
        band = getattr(bands, name)
        if band is not None:
            yield name, f"bands.{name}", band
    if bands.no_data is not None:
        yield "no_data", "bands.no_data", bands.no_data
    for i, group in enumerate(definition.groups):
        if group.header is not None:
            yield band_key("group_header", i), f"groups[{i}].header", group.header
        if group.footer is not None:
            yield band_key("group_footer", i), f"groups[{i}].footer", group.footer


def _cells(key: str, path: str, band: Band, plan: QueryPlan, charts: ChartData | None) -> BandCells:
    cells: list[CellSpec] = []
    for j, element in enumerate(band.elements):
        if isinstance(element, ChartElement) and plan.charts is not None:
            where = f"{path}.elements[{j}]"
            cells.append(CellSpec(where, "chart", _chart(charts, where), str, element))
        if isinstance(element, FieldElement):
            text = element.expression.strip()
            column = plan.expression_columns[text]
            cells.append(
                CellSpec(
                    text, "field", _row_value(column), make_formatter(element.format), element,
                    column,
                )
            )  # fmt: skip
        elif isinstance(element, AggregateElement):
            cells.append(
                CellSpec(
                    element.variable, "aggregate", _variable_value(element.variable),
                    make_formatter(element.format), element,
                )
            )  # fmt: skip
    return BandCells(key, path, band, tuple(cells))


def _chart(charts: ChartData | None, path: str) -> Callable[[BandEvent], Any]:
    def value(event: BandEvent) -> str:
        if charts is None:
            raise InternalError("a chart drawn by a sink given no chart data", path)
        return charts.svg(path, event)

    return value


def _row_value(column: int) -> Callable[[BandEvent], Any]:
    def value(event: BandEvent) -> Any:
        return None if event.row is None else event.row[column]

    return value


def _variable_value(name: str) -> Callable[[BandEvent], Any]:
    def value(event: BandEvent) -> Any:
        return event.variables.get(name)

    return value
