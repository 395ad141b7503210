"""The charts of a report: checked with the plan, queried once per run, drawn per band.

A chart in the title or summary shows the whole report; a chart in a group band shows its
group, from one query partitioned by the group keys. Loaded data lives here for the run
that loaded it (a plan is made per run).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.cache import QueryCache
from engine.chart_query import ChartQuery, ChartRows, build_chart_query
from engine.definition import Band, ChartElement, ReportDefinition
from engine.errors import DefinitionError, Issue
from engine.schema import SourceSchema

if TYPE_CHECKING:
    from engine.fill import BandEvent

__all__ = ("ChartSet", "chart_elements")

DEFAULT_WIDTH_PT = 480.0


@dataclass
class _Chart:
    query: ChartQuery
    level: int | None  # the group level of its band; None for the whole report
    size: tuple[float, float] = (DEFAULT_WIDTH_PT, 170.0)


@dataclass
class ChartSet:
    """Chart queries by element path; their points once `load` has run."""

    definition: ReportDefinition
    group_columns: tuple[int, ...]
    charts: dict[str, _Chart] = field(default_factory=dict)
    points: dict[str, dict[tuple[Any, ...], ChartRows]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, definition: ReportDefinition, schema: SourceSchema, group_columns: tuple[int, ...]
    ) -> ChartSet:
        """Compile every chart; raise `DefinitionError` listing every problem."""
        charts = cls(definition, group_columns)
        issues: list[Issue] = []
        for path, level, element in chart_elements(definition):
            try:
                query = build_chart_query(definition, schema, element, path, level)
            except DefinitionError as error:
                issues.extend(error.issues)
                continue
            charts.charts[path] = _Chart(query, level)
        if issues:
            raise DefinitionError(issues)
        return charts

    def set_size(self, path: str, width_pt: float, height_pt: float) -> None:
        self.charts[path].size = (width_pt, height_pt)

    def load(
        self,
        engine: sa.Engine,
        parameters: Mapping[str, Any],
        cache: QueryCache,
        statement_timeout_s: float | None = None,
    ) -> None:
        """Run every chart's query (from the cache when the same query ran lately)."""
        for path, chart in self.charts.items():
            self.points[path] = chart.query.run(engine, parameters, cache, statement_timeout_s)

    def svg(self, path: str, event: BandEvent) -> str:
        """The chart at `path` for the group (or report) the event belongs to."""
        chart = self.charts[path]
        key: tuple[Any, ...] = ()
        if chart.level is not None and event.row is not None:
            key = tuple(event.row[c] for c in self.group_columns[: chart.level + 1])
        points = self.points.get(path, {}).get(key, [])
        # Imported here: Altair costs 40 MB and a third of a second, which reports
        # without charts need not pay.
        from engine.chart_render import chart_spec, render_svg

        spec = chart_spec(
            chart.query.element, points, self.definition.theme, chart.size,
            font_size=self.definition.page.font_size,
        )  # fmt: skip
        return render_svg(spec)


def chart_elements(definition: ReportDefinition) -> Iterator[tuple[str, int | None, ChartElement]]:
    """Every chart element: its path, its band's group level, and itself."""
    bands = definition.bands
    named: list[tuple[str, int | None, Band | None]] = [
        ("bands.title", None, bands.title),
        ("bands.summary", None, bands.summary),
        ("bands.detail", len(definition.groups) - 1 if definition.groups else None, bands.detail),
    ]
    for i, group in enumerate(definition.groups):
        named.append((f"groups[{i}].header", i, group.header))
        named.append((f"groups[{i}].footer", i, group.footer))
    for path, level, band in named:
        for j, element in enumerate(band.elements if band is not None else ()):
            if isinstance(element, ChartElement):
                yield f"{path}.elements[{j}]", level, element
