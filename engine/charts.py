"""The charts of a report: checked with the plan, queried once per run, drawn per band.

A chart in the title or summary shows the whole report; a chart in a group band shows its
group, from one query partitioned by the group keys. `ChartSet` (in the plan) holds only
the compiled queries and never changes, so one plan serves any number of runs at once;
what a run loads (the points for its parameters) and what its layout resolves (each
chart's size) live in that run's `ChartData`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from engine.cache import QueryCache
from engine.chart_query import ChartQuery, ChartRows, build_chart_query
from engine.definition import Band, ChartElement, ReportDefinition
from engine.errors import DefinitionError, InternalError, Issue, QuireError, RenderError
from engine.limits import MAX_CHART_DRAWS

if TYPE_CHECKING:
    from engine.fill import BandEvent
    from engine.schema import SourceSchema

__all__ = ("ChartData", "ChartSet", "PlannedChart", "chart_elements")

DEFAULT_SIZE_PT = (480.0, 170.0)


@dataclass(frozen=True)
class PlannedChart:
    """One chart element's query, and the group level of its band (None: the whole report)."""

    query: ChartQuery
    level: int | None


@dataclass(frozen=True)
class ChartSet:
    """The report's chart queries by element path: part of the plan, never changed."""

    definition: ReportDefinition
    group_columns: tuple[int, ...]
    charts: Mapping[str, PlannedChart] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(
        cls, definition: ReportDefinition, schema: SourceSchema, group_columns: tuple[int, ...]
    ) -> ChartSet:
        """Compile every chart; raise `DefinitionError` listing every problem."""
        charts: dict[str, PlannedChart] = {}
        issues: list[Issue] = []
        for path, level, element in chart_elements(definition):
            try:
                query = build_chart_query(definition, schema, element, path, level)
            except DefinitionError as error:
                issues.extend(error.issues)
                continue
            charts[path] = PlannedChart(query, level)
        if issues:
            raise DefinitionError(issues)
        return cls(definition, group_columns, MappingProxyType(charts))

    def load(
        self, engine: sa.Engine, parameters: Mapping[str, Any], cache: QueryCache
    ) -> ChartData:
        """The charts' points for these parameters (from the cache when the same query ran
        lately), in a `ChartData` of their own."""
        data = ChartData(self)
        data.load(engine, parameters, cache)
        return data


@dataclass
class ChartData:
    """One run's charts: the points loaded for its parameters, the sizes its layout gave."""

    charts: ChartSet | None
    points: dict[str, dict[tuple[Any, ...], ChartRows]] = field(default_factory=dict)
    sizes: dict[str, tuple[float, float]] = field(default_factory=dict)
    loaded: bool = False

    def load(
        self,
        engine: sa.Engine,
        parameters: Mapping[str, Any],
        cache: QueryCache,
        statement_timeout_s: float | None = None,
    ) -> None:
        """Run every chart's query (from the cache when the same query ran lately)."""
        if self.charts is not None:
            for path, chart in self.charts.charts.items():
                self.points[path] = chart.query.run(engine, parameters, cache, statement_timeout_s)
        self.loaded = True

    def check_draws(self, limit: int = MAX_CHART_DRAWS) -> None:
        """Refuse a run that would draw more than `limit` charts (a chart in a group band
        draws once a group: its loaded points say how many groups there are)."""
        if self.charts is None:
            return
        draws = {
            path: 1 if chart.level is None else len(self.points.get(path, {}))
            for path, chart in self.charts.charts.items()
        }
        total = sum(draws.values())
        if total <= limit:
            return
        path = max(draws, key=lambda p: draws[p])
        raise DefinitionError(
            [
                Issue(
                    path,
                    f"the report would draw {total:,} charts, more than {limit:,}: this chart "
                    f"draws once for each of its {draws[path]:,} groups",
                    "aggregate instead: move the chart to the summary band and show the "
                    "group's key as its x or colour channel, one chart for every group",
                )
            ]
        )

    def set_size(self, path: str, width_pt: float, height_pt: float) -> None:
        self.sizes[path] = (width_pt, height_pt)

    def size(self, path: str) -> tuple[float, float]:
        return self.sizes.get(path, DEFAULT_SIZE_PT)

    def svg(self, path: str, event: BandEvent) -> str:
        """The chart at `path` for the group (or report) the event belongs to; a chart that
        cannot be drawn raises `RenderError` naming its path."""
        if self.charts is None or not self.loaded:
            raise InternalError("charts drawn before their data was loaded", path)
        chart = self.charts.charts[path]
        key: tuple[Any, ...] = ()
        if chart.level is not None and event.row is not None:
            key = tuple(event.row[c] for c in self.charts.group_columns[: chart.level + 1])
        points = self.points.get(path, {}).get(key, [])
        definition = self.charts.definition
        element, size = chart.query.element, self.size(path)
        drawn = _drawn_key(element, points, definition, size)
        with _DRAWN_LOCK:
            svg = _DRAWN.get(drawn)
            if svg is not None:
                _DRAWN.move_to_end(drawn)
                return svg
        # Imported here: Altair costs 40 MB and a third of a second, which reports
        # without charts need not pay.
        from engine.chart_render import chart_spec, render_svg

        try:
            spec = chart_spec(
                element, points, definition.theme, size, font_size=definition.page.font_size
            )
            svg = render_svg(spec)
        except QuireError:
            raise
        except Exception as error:  # Altair's and vl-convert's own errors, of many kinds
            raise _drawing_failed(element, path, error) from None
        with _DRAWN_LOCK:
            _DRAWN[drawn] = svg
            while len(_DRAWN) > _DRAWN_SIZE:
                _DRAWN.popitem(last=False)
        return svg


# Charts drawn lately, by what they were drawn from. Building a chart's spec with Altair
# costs 0.1-0.3 s (more than drawing it, which chart_render caches by spec), and a
# designer's previews draw the same charts again and again.
_DRAWN: OrderedDict[str, str] = OrderedDict()
_DRAWN_SIZE = 256
_DRAWN_LOCK = threading.Lock()


def _drawn_key(
    element: ChartElement,
    points: ChartRows,
    definition: ReportDefinition,
    size: tuple[float, float],
) -> str:
    drawn_from = (
        element.model_dump(mode="json"), points, definition.theme.model_dump(mode="json"),
        size, definition.page.font_size,
    )  # fmt: skip
    data = orjson.dumps(drawn_from, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()


def _drawing_failed(element: ChartElement, path: str, error: Exception) -> RenderError:
    """The chart engine's error in one line (not its JavaScript stack), at the chart, or at
    its axis format when it has one: what the engine most often refuses."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next((line for line in lines if "Error" in line), lines[0] if lines else "")
    channels = {n: getattr(element, n) for n in ("x", "y", "color", "size")}
    formats = [n for n, channel in channels.items() if getattr(channel, "format", None)]
    where = f"{path}.{formats[0]}.format" if len(formats) == 1 else path
    hint = "check the format" if formats else ""
    return RenderError([Issue(where, f"the chart could not be drawn: {reason}", hint)])


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
