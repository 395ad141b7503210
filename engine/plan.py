"""Planning a run: every expression of a definition compiled into one SELECT.

The plan holds the SELECT (only the columns the report uses, the joins its paths need, the
source filter), the order keys (group keys, sort keys, then the primary key, so the order
is total and keyset pagination is exact), and where each group key, field and variable
input sits in a row. Every problem found is reported at once, each at its path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from engine.aggregate_scopes import unfinished_aggregate_issues
from engine.charts import ChartSet
from engine.definition import (
    AggregateElement,
    Band,
    ChartElement,
    FieldElement,
    ReportDefinition,
)
from engine.errors import DefinitionError, Issue, did_you_mean
from engine.expressions import ExpressionCompiler
from engine.formats import make_formatter
from engine.page_totals import page_total_issues
from engine.parameters import parameter_types
from engine.schema import SourceSchema

__all__ = ("MAX_COLUMNS", "OrderKey", "QueryPlan", "band_slots", "build_plan")

# Distinct expressions one report may select. Databases stop at a column count of their
# own (SQLite 2,000, PostgreSQL 1,664 in a result), with an error that names no element;
# no real report comes near this.
MAX_COLUMNS = 1000


@dataclass(frozen=True)
class OrderKey:
    """One ORDER BY key: a column of the row, its direction, and whether it can be NULL."""

    index: int
    descending: bool
    nullable: bool


@dataclass(frozen=True)
class QueryPlan:
    """The single SELECT of a run and where each value sits in its rows.

    Immutable, parts included (read-only mappings, frozen charts): one plan serves any
    number of runs, at once or in turn; what a run loads or resolves lives with the run.
    """

    select: sa.Select[Any]
    order_keys: tuple[OrderKey, ...]
    group_columns: tuple[int, ...]
    variable_columns: Mapping[str, int | None]
    expression_columns: Mapping[str, int]
    total_order: bool  # the order ends with a primary key: no two rows tie
    index_ordered: bool  # the order is the primary key alone
    charts: ChartSet | None = None

    @property
    def ordered(self) -> sa.Select[Any]:
        """The SELECT with its total order, for strategies that read it in one pass."""
        columns = list(self.select.selected_columns)
        clauses: list[Any] = []
        for key in self.order_keys:
            column = columns[key.index]
            if key.nullable:
                clauses.append(sa.case((column.is_(None), 1), else_=0))
            clauses.append(column.desc() if key.descending else column.asc())
        return self.select.order_by(*clauses)


def band_slots(definition: ReportDefinition) -> Iterator[tuple[str, Band]]:
    """Every band with its document path, in the order a reader meets them."""
    bands = definition.bands
    for name in ("title", "page_header", "column_header"):
        band = getattr(bands, name)
        if band is not None:
            yield f"bands.{name}", band
    for i, group in enumerate(definition.groups):
        if group.header is not None:
            yield f"groups[{i}].header", group.header
    if bands.detail is not None:
        yield "bands.detail", bands.detail
    for i, group in reversed(list(enumerate(definition.groups))):
        if group.footer is not None:
            yield f"groups[{i}].footer", group.footer
    for name in ("summary", "page_footer", "no_data"):
        band = getattr(bands, name)
        if band is not None:
            yield f"bands.{name}", band


def build_plan(definition: ReportDefinition, schema: SourceSchema) -> QueryPlan:
    """Compile every expression of the definition; raise one error listing every problem."""
    schema, issues = _with_relationships(definition, schema)
    compiler = ExpressionCompiler(schema, definition.source.table, parameter_types(definition))
    issues.extend(check_names(definition))
    columns: list[sa.ColumnElement[Any]] = []
    by_text: dict[str, int] = {}

    def add_filter(text: str) -> sa.ColumnElement[Any] | None:
        try:
            return compiler.compile_condition(text, "source.filter")
        except DefinitionError as error:
            issues.extend(error.issues)
            return None

    def add(text: str, path: str) -> int | None:
        key = text.strip()
        if key in by_text:
            return by_text[key]
        if len(columns) >= MAX_COLUMNS:
            _too_many_columns(path, issues)
            return None
        try:
            compiled = compiler.compile(key, path)
        except DefinitionError as error:
            issues.extend(error.issues)
            return None
        by_text[key] = len(columns)
        columns.append(compiled)
        return by_text[key]

    where = add_filter(definition.source.filter) if definition.source.filter else None

    keys: list[OrderKey] = []
    group_columns: list[int] = []
    for i, group in enumerate(definition.groups):
        index = add(group.expression, f"groups[{i}].expression")
        if index is not None:
            group_columns.append(index)
            keys.append(OrderKey(index, group.direction == "desc", nullable=True))
    for i, sort in enumerate(definition.sort):
        index = add(sort.expression, f"sort[{i}].expression")
        if index is not None:
            keys.append(OrderKey(index, sort.direction == "desc", nullable=True))
    variable_columns = _variable_columns(definition, add, issues)
    for path, band in band_slots(definition):
        for j, element in enumerate(band.elements):
            if isinstance(element, FieldElement):
                add(element.expression, f"{path}.elements[{j}].expression")
    expression_keys = len(keys)
    primary = list(compiler.base.primary_key.columns)
    for column in primary:
        keys.append(OrderKey(len(columns), descending=False, nullable=False))
        columns.append(column)
    charts = None
    try:
        charts = ChartSet.build(definition, schema, tuple(group_columns))
    except DefinitionError as error:
        issues.extend(error.issues)
    if issues:
        raise DefinitionError(issues)

    labelled = [sa.type_coerce(c, sa.types.NULLTYPE).label(f"c{i}") for i, c in enumerate(columns)]
    select: sa.Select[Any] = sa.select(*labelled).select_from(compiler.from_clause())  # type: ignore[assignment]
    if where is not None:
        select = select.where(where)
    return QueryPlan(
        select,
        tuple(keys),
        tuple(group_columns),
        MappingProxyType(variable_columns),
        MappingProxyType(by_text),
        total_order=bool(primary),
        index_ordered=bool(primary) and expression_keys == 0,
        charts=charts,
    )


def _with_relationships(
    definition: ReportDefinition, schema: SourceSchema
) -> tuple[SourceSchema, list[Issue]]:
    """The schema with the definition's declared relationships, and their problems; a
    source table that is not there ends the check (nothing can be compiled without it)."""
    source = definition.source
    unknown = schema.unknown_table(source.table, "source.table")
    if unknown is not None:
        raise DefinitionError([unknown])
    return schema.with_declared(definition.relationships, source.table, "relationships")


_TOO_MANY = f"more than {MAX_COLUMNS:,} distinct expressions in one report"


def _too_many_columns(path: str, issues: list[Issue]) -> None:
    """Refuse an expression past the column limit, once: at the first one."""
    if all(issue.message != _TOO_MANY for issue in issues):
        hint = "a database returns a limited number of columns; split the report"
        issues.append(Issue(path, _TOO_MANY, hint))


def _variable_columns(
    definition: ReportDefinition,
    add: Callable[[str, str], int | None],
    issues: list[Issue],
) -> dict[str, int | None]:
    """The column each variable accumulates (None for a count of rows)."""
    columns: dict[str, int | None] = {}
    for i, variable in enumerate(definition.variables):
        if variable.expression is not None:
            columns[variable.name] = add(variable.expression, f"variables[{i}].expression")
        elif variable.function != "count":
            issues.append(Issue(f"variables[{i}].expression", f"required for {variable.function}"))
        else:
            columns[variable.name] = None
    return columns


def check_names(definition: ReportDefinition) -> Iterator[Issue]:
    """Names that refer to each other: groups, variables, parameters, formats."""
    yield from _duplicates("groups", [g.name for g in definition.groups])
    yield from _duplicates("variables", [v.name for v in definition.variables])
    yield from _duplicates("parameters", [p.name for p in definition.parameters])
    groups = [g.name for g in definition.groups]
    variables = [v.name for v in definition.variables]
    for i, variable in enumerate(definition.variables):
        if variable.reset not in ("report", "page") and variable.reset not in groups:
            yield Issue(
                f"variables[{i}].reset",
                f"unknown group '{variable.reset}'",
                did_you_mean(variable.reset, ["report", "page", *groups]),
            )
    for i, group in enumerate(definition.groups):
        if group.name in ("report", "page"):
            yield Issue(f"groups[{i}].name", f"'{group.name}' is a reset scope; name it otherwise")
    yield from page_total_issues(definition, band_slots(definition))
    yield from unfinished_aggregate_issues(definition, band_slots(definition))
    for i, parameter in enumerate(definition.parameters):
        if parameter.type == "choice" and not parameter.choices:
            yield Issue(f"parameters[{i}].choices", "a choice parameter needs choices")
    for path, band in band_slots(definition):
        page_band = path in ("bands.page_header", "bands.page_footer")
        for j, element in enumerate(band.elements):
            where = f"{path}.elements[{j}]"
            if page_band and isinstance(element, FieldElement | ChartElement):
                yield Issue(
                    where,
                    f"a {element.type} cannot be placed in a page band",
                    "page bands are laid out by the typesetter; use labels, page numbers "
                    "and aggregates of page or report variables",
                )
            if element.type == "page_number" and not page_band:
                yield Issue(where, "page numbers belong in page_header or page_footer")
            if isinstance(element, AggregateElement) and element.variable not in variables:
                yield Issue(
                    f"{where}.variable",
                    f"unknown variable '{element.variable}'",
                    did_you_mean(element.variable, variables),
                )
            if isinstance(element, FieldElement | AggregateElement):
                try:
                    make_formatter(element.format)
                except ValueError as error:
                    yield Issue(f"{where}.format", str(error))


def _duplicates(path: str, names: list[str]) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield Issue(f"{path}[{i}].name", f"duplicate name '{name}'")
        seen.add(name)
