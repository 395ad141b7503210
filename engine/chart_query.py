"""A chart's data: one aggregate query in the database, never the report's rows in Python.

Channels with an aggregate are measures, the others dimensions. The query groups by the
dimensions (dates bucketed with date_trunc, numbers binned over their range) and, for a
chart in a group band, by the keys of that group and of the groups around it, so one query
serves every group. Medians and box plots use window functions (nearest rank), which
SQLite and PostgreSQL both have. A chart has at most `max_points` points: beyond that it
is refused with a message saying how to aggregate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.cache import QueryCache, query_key
from engine.chart_formats import axis_format_issue
from engine.definition import Channel, ChartElement, ReportDefinition
from engine.errors import DataSourceError, DefinitionError, Issue
from engine.expressions import ExpressionCompiler, date_trunc
from engine.layout import length_pt
from engine.parameters import parameter_types
from engine.schema import SourceSchema
from engine.timeouts import statement_timeout
from engine.xml_text import xml_text

__all__ = ("BOX", "MIN_CHART_PT", "ChartQuery", "ChartRows", "build_chart_query", "nice_bins")

ChartRows = list[dict[str, Any]]
# A chart's smallest side: the chart engine draws no SVG at 0, nothing readable below.
MIN_CHART_PT = 20.0
FETCH_LIMIT = 200_000  # rows one chart query may return, across all its groups
BOX = ("min", "q1", "median", "q3", "max")
_ADDITIVE = {"sum", "count"}
_NUMERIC = (sa.Integer, sa.Numeric, sa.Float, sa.types.NullType)
Column = sa.ColumnElement[Any]


@dataclass(frozen=True)
class ChartQuery:
    """One chart element's query, ready to run with the run's parameters."""

    path: str
    element: ChartElement
    source: sa.Select[Any]  # FROM and WHERE of the report's rows, selecting nothing yet
    keys: tuple[Column, ...]  # group keys, outermost first
    dimensions: tuple[tuple[str, Column, int | None], ...]  # (name, value, bins)
    measures: tuple[tuple[str, Channel, Column | None], ...]

    @property
    def names(self) -> tuple[str, ...]:
        quantiles = BOX if self.element.kind == "boxplot" else ()
        measured = quantiles or tuple(name for name, _, _ in self.measures)
        return (*(name for name, _, _ in self.dimensions), *measured)

    def run(
        self,
        engine: sa.Engine,
        parameters: Mapping[str, Any],
        cache: QueryCache,
        statement_timeout_s: float | None = None,
    ) -> dict[tuple[Any, ...], ChartRows]:
        """Points per group key (the empty tuple for a chart of the whole report).

        Raises:
            DataSourceError: the database refused the chart's query (division by zero,
                an overflow ...), at the chart's path.
        """
        fetch = partial(_fetch, engine, parameters=parameters, timeout_s=statement_timeout_s)
        try:
            query = self.query(self._bounds(engine, parameters, cache, fetch))
            key = query_key(engine, query, parameters)
            rows = cache.get_or_compute(key, partial(fetch, query))
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            message = f"the chart's query failed: {reason[0] if reason else type(error).__name__}"
            raise DataSourceError(message, self.path) from None
        if len(rows) > FETCH_LIMIT:
            raise DefinitionError(
                [Issue(self.path, f"the chart's query returned over {FETCH_LIMIT:,} rows",
                       _how_to_aggregate(self.element))]
            )  # fmt: skip
        width = len(self.keys)
        groups: dict[tuple[Any, ...], ChartRows] = {}
        for row in rows:
            point = dict(zip(self.names, map(_json_value, row[width:]), strict=True))
            groups.setdefault(tuple(row[:width]), []).append(point)
        for key, points in groups.items():
            groups[key] = folded = _fold(self.element, points, self._measure_names())
            if len(folded) > self.element.max_points:
                message = (
                    f"the chart has {len(folded):,} points, "
                    f"more than max_points ({self.element.max_points})"
                )
                raise DefinitionError([Issue(self.path, message, _how_to_aggregate(self.element))])
        return groups

    def query(self, bounds: Mapping[str, tuple[float, float]]) -> sa.Select[Any]:
        """The aggregate SELECT, given the range of each binned dimension."""
        keys = [
            sa.type_coerce(k, sa.types.NULLTYPE).label(f"k{i}") for i, k in enumerate(self.keys)
        ]
        dims = [
            sa.type_coerce(
                _bin(value, bins, bounds[name]) if bins else value, sa.types.NULLTYPE
            ).label(name)
            for name, value, bins in self.dimensions
        ]
        grouping = [c.element for c in (*keys, *dims)]  # group by the expressions, not labels
        quantile = [(n, c, v) for n, c, v in self.measures if c.aggregate == "median"]
        if quantile:
            return self._quantiles(keys, dims, quantile[0][2])
        if not self.measures:  # raw points, as many as a chart may have (and one more, to tell)
            raw = self.source.add_columns(*keys, *dims).order_by(*grouping)
            # Per group when grouped: a limit over every group would drop the last groups.
            return raw if keys else raw.limit(self.element.max_points + 1)
        measures = [
            _aggregate(channel, value).label(name) for name, channel, value in self.measures
        ]
        select = self.source.add_columns(*keys, *dims, *measures)
        return select.group_by(*grouping).order_by(*grouping) if grouping else select

    def _quantiles(self, keys: list[Any], dims: list[Any], value: Column | None) -> sa.Select[Any]:
        partition = [c.element for c in (*keys, *dims)]
        ranked = (
            self.source.add_columns(
                *keys, *dims, sa.type_coerce(value, sa.types.NULLTYPE).label("_v"),
                sa.func.row_number().over(partition_by=partition or None, order_by=value)
                .label("_r"),
                sa.func.count().over(partition_by=partition or None).label("_n"),
            )
            .where(value.is_not(None) if value is not None else sa.true())
            .subquery()
        )  # fmt: skip
        outer = [ranked.c[c.name] for c in (*keys, *dims)]
        v, rank, count = ranked.c["_v"], ranked.c["_r"], ranked.c["_n"]

        def at(numerator: int, denominator: int) -> Column:
            position = (count * numerator + denominator - 1) // denominator  # ceil(n * q)
            return sa.func.max(sa.case((rank == position, v)))

        if self.element.kind == "boxplot":
            columns = [sa.func.min(v), at(1, 4), at(1, 2), at(3, 4), sa.func.max(v)]
        else:
            columns = [at(1, 2)]
        select = sa.select(*outer, *columns)
        return select.group_by(*outer).order_by(*outer) if outer else select

    def _bounds(
        self,
        engine: sa.Engine,
        parameters: Mapping[str, Any],
        cache: QueryCache,
        fetch: Callable[[sa.Select[Any]], list[tuple[Any, ...]]],
    ) -> dict[str, tuple[float, float]]:
        bounds: dict[str, tuple[float, float]] = {}
        for name, value, bins in self.dimensions:
            if bins:
                query = self.source.add_columns(sa.func.min(value), sa.func.max(value))
                rows = cache.get_or_compute(
                    query_key(engine, query, parameters), partial(fetch, query)
                )
                low, high = rows[0]
                bounds[name] = (float(low or 0), float(high or 0))
        return bounds

    def _measure_names(self) -> list[str]:
        return list(BOX) if self.element.kind == "boxplot" else [n for n, _, _ in self.measures]


def build_chart_query(
    definition: ReportDefinition,
    schema: SourceSchema,
    element: ChartElement,
    path: str,
    group_level: int | None,
) -> ChartQuery:
    """Compile a chart's query; raise `DefinitionError` listing every problem in it."""
    compiler = ExpressionCompiler(schema, definition.source.table, parameter_types(definition))
    issues: list[Issue] = []

    def compiled(text: str, where: str) -> Column | None:
        try:
            return compiler.compile(text, where)
        except DefinitionError as error:
            issues.extend(error.issues)
            return None

    keys = [
        compiled(g.expression, f"groups[{i}].expression")
        for i, g in enumerate(
            definition.groups[: (group_level + 1) if group_level is not None else 0]
        )
    ]
    dimensions: list[tuple[str, Column, int | None]] = []
    measures: list[tuple[str, Channel, Column | None]] = []
    channels = _channels(element)
    for name, channel in channels.items():
        where = f"{path}.{name}"
        value = compiled(channel.expression, f"{where}.expression") if channel.expression else None
        if channel.expression and value is None:
            continue
        if channel.aggregate is not None:
            if (
                channel.aggregate not in ("count", "min", "max")
                and value is not None
                and not _numeric(value)
            ):
                message = f"cannot {channel.aggregate} a non-numeric expression ({value.type})"
                issues.append(Issue(f"{where}.aggregate", message, "use count, min or max"))
            elif value is None and channel.aggregate != "count":
                issues.append(Issue(f"{where}.expression", f"required for {channel.aggregate}"))
            else:
                measures.append((name, channel, value))
        elif value is None:
            issues.append(Issue(f"{where}.expression", "required without an aggregate"))
        elif channel.bin is not None and not _numeric(value):
            issues.append(Issue(f"{where}.bin", "only numbers can be binned"))
        elif channel.time_unit is not None and not _temporal(value):
            issues.append(
                Issue(
                    f"{where}.time_unit",
                    f"only dates and timestamps can be bucketed by {channel.time_unit} "
                    f"(this expression is {value.type})",
                    "use a date column, or cast(expression as date); without time_unit "
                    "the values are used as they are",
                )
            )
        else:
            bucketed = date_trunc(channel.time_unit, value) if channel.time_unit else value
            dimensions.append((name, bucketed, channel.bin))
    aggregated = [n for n, c in channels.items() if c.aggregate is not None]  # even if refused
    issues.extend(_shape_issues(element, path, channels, aggregated))
    if any(c.aggregate == "median" for _, c, _ in measures) and len(measures) > 1:
        issues.append(
            Issue(f"{path}.y.aggregate", "a median cannot share a chart with other aggregates")
        )
    additive = all(c.aggregate in _ADDITIVE for _, c, _ in measures)
    if element.top is not None and _keeps_other(element) and not additive:
        issues.append(Issue(f"{path}.top", "folding the rest into 'Other' needs sum or count",
                            "set other: false to leave the rest out"))  # fmt: skip
    if element.other is not None and element.top is None:
        issues.append(Issue(f"{path}.other", "'other' only applies with top: N"))
    condition = (
        _condition(compiler, definition.source.filter, issues) if definition.source.filter else None
    )
    issues.extend(_drawing_issues(element, path, channels, definition.page.font_size))
    source: sa.Select[Any] = sa.select().select_from(compiler.from_clause())  # after every join
    if condition is not None:
        source = source.where(condition)
    if issues:
        raise DefinitionError(issues)
    return ChartQuery(path, element, source, tuple(k for k in keys if k is not None),
                      tuple(dimensions), tuple(measures))  # fmt: skip


def _condition(compiler: ExpressionCompiler, text: str, issues: list[Issue]) -> Column | None:
    try:
        return compiler.compile_condition(text, "source.filter")
    except DefinitionError as error:
        issues.extend(error.issues)
        return None


def _drawing_issues(
    element: ChartElement, path: str, channels: Mapping[str, Channel], font_size: float
) -> list[Issue]:
    """What the chart engine would fail on: no height, an axis format it rejects."""
    issues = []
    if length_pt(element.height, font_size) < MIN_CHART_PT:
        message = f"a chart must be at least {MIN_CHART_PT:g}pt (7mm) high"
        issues.append(Issue(f"{path}.height", message, "e.g. '60mm'"))
    for name, channel in channels.items():
        if channel.format is not None:
            found = axis_format_issue(channel.format, timed=channel.time_unit is not None)
            if found:
                issues.append(Issue(f"{path}.{name}.format", *found))
    return issues


def _channels(element: ChartElement) -> dict[str, Channel]:
    """The channels, with what the chart kind implies (a histogram counts binned x)."""
    given = {n: getattr(element, n) for n in ("x", "y", "color", "size")}
    channels: dict[str, Channel] = {n: c for n, c in given.items() if c is not None}
    if element.kind == "histogram":
        if "x" in channels and channels["x"].bin is None:
            channels["x"] = channels["x"].model_copy(update={"bin": 20})
        channels.setdefault("y", Channel(aggregate="count"))
    if element.kind == "boxplot" and "y" in channels:
        channels["y"] = channels["y"].model_copy(update={"aggregate": "median"})
    return channels


def _shape_issues(
    element: ChartElement, path: str, channels: Mapping[str, Channel], measures: list[str]
) -> list[Issue]:
    kind = element.kind
    needs = {"histogram": ("x",), "heatmap": ("x", "y", "color")}.get(kind, ("x", "y"))
    issues = [Issue(f"{path}.{n}", f"a {kind} chart needs {n}") for n in needs if n not in channels]
    if kind in ("pie", "donut", "bar", "line", "area") and "y" in channels and not measures:
        issues.append(
            Issue(f"{path}.y.aggregate", f"a {kind} chart needs an aggregate (sum, count ...)")
        )
    if kind == "heatmap" and "color" in channels and "color" not in measures:
        issues.append(
            Issue(f"{path}.color.aggregate", "a heatmap colours its cells by an aggregate")
        )
    return issues


def _aggregate(channel: Channel, value: Column | None) -> Column:
    if channel.aggregate == "count":
        return sa.func.count() if value is None else sa.func.count(value)
    if channel.aggregate == "avg":
        return sa.func.avg(value)
    if channel.aggregate == "min":
        return sa.func.min(value)
    if channel.aggregate == "max":
        return sa.func.max(value)
    return sa.func.sum(value)


def nice_bins(low: float, high: float, bins: int) -> tuple[float, float]:
    """Start and width of at most `bins` bins over [low, high], the width a round number
    (1, 2, 2.5 or 5 times a power of ten) and the start a multiple of it: 1..20 in 20 bins
    gives bins of 1 starting at 1, not of 0.95."""
    raw = (high - low) / bins
    if raw <= 0:
        return low, 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= raw * (1 - 1e-9))
    start = math.floor(low / step) * step
    if start + bins * step < high:  # the rounded start pushed the top out: one size up
        return nice_bins(start, high, bins - 1) if bins > 1 else (start, high - start)
    return start, step


def _bin(value: Column, bins: int, bounds: tuple[float, float]) -> Column:
    """The start of the bin a number falls in (see `nice_bins`)."""
    start, width = nice_bins(*bounds, bins)
    ratio = (value - sa.literal(start)) / sa.literal(width)
    truncated = sa.cast(ratio, sa.Integer)  # SQLite truncates, PostgreSQL rounds: floor both
    index = sa.case((truncated > ratio, truncated - 1), else_=truncated)
    return sa.literal(start) + index * sa.literal(width)


def _numeric(value: Column) -> bool:
    return isinstance(value.type, _NUMERIC)


def _temporal(value: Column) -> bool:
    """A date or timestamp, or a value whose type the schema does not tell (let it be)."""
    return isinstance(value.type, sa.Date | sa.DateTime | sa.types.NullType)


def _fetch(
    engine: sa.Engine,
    query: sa.Select[Any],
    parameters: Mapping[str, Any],
    timeout_s: float | None = None,
) -> list[tuple[Any, ...]]:
    with engine.connect() as connection, statement_timeout(connection, timeout_s):
        result = connection.execute(query, dict(parameters))
        return [tuple(r) for r in result.fetchmany(FETCH_LIMIT + 1)]


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return xml_text(value)  # a control character made the chart engine panic
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _keeps_other(element: ChartElement) -> bool:
    """Whether the categories past `top` are shown as one 'Other' (see `ChartElement.other`)."""
    return element.other if element.other is not None else element.kind in ("pie", "donut")


def _fold(element: ChartElement, points: ChartRows, measures: list[str]) -> ChartRows:
    """Keep the `top` largest categories; sum the rest into one 'Other', or leave it out."""
    if element.top is None or not measures:
        return points
    category = "color" if element.kind in ("pie", "donut") and element.color is not None else "x"
    totals: dict[Any, float] = {}
    for point in points:
        totals[point.get(category)] = totals.get(point.get(category), 0.0) + float(
            point[measures[0]] or 0
        )
    kept = set(sorted(totals, key=lambda k: totals[k], reverse=True)[: element.top])
    if not _keeps_other(element):
        return [point for point in points if point.get(category) in kept]
    folded: dict[tuple[Any, ...], dict[str, Any]] = {}
    for point in points:
        name = point.get(category) if point.get(category) in kept else "Other"
        key = tuple(name if k == category else v for k, v in point.items() if k not in measures)
        target = folded.setdefault(key, {**point, category: name, **dict.fromkeys(measures, 0)})
        for measure in measures:
            target[measure] = (target[measure] or 0) + (point[measure] or 0)
    return list(folded.values())


def _how_to_aggregate(element: ChartElement) -> str:
    if element.x is not None and element.x.aggregate is None and element.x.time_unit is None:
        return "aggregate it: give x a time_unit or bin, y an aggregate, or set top: N"
    return "aggregate it further, or raise max_points (at most 5,000)"
