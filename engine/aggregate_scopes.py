"""Where a variable's value is complete: aggregates printed before their rows are refused.

The fill stage accumulates a variable as rows stream by, so an aggregate shows what was
added up so far. In a group's header, a variable reset by that group (or by a group inside
it) has added nothing yet, and in the title and no-data bands no variable has: they would
print zeros. Until the engine can print values known only at the end of a scope, such an
aggregate is a definition error saying where the value is right. Running values (report or
outer-group variables in an inner group's header) are fine; page bands have rules of their
own (engine.page_totals).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from engine.definition import AggregateElement, Band, ReportDefinition
from engine.errors import Issue

__all__ = ("unfinished_aggregate_issues",)

_BEFORE_ROWS = {
    "bands.title": "is printed before any row",
    "bands.no_data": "is printed only when there are no rows",
}


def unfinished_aggregate_issues(
    definition: ReportDefinition, slots: Iterable[tuple[str, Band]]
) -> Iterator[Issue]:
    """An issue for each aggregate printed where its variable has accumulated nothing yet."""
    variables = {v.name: v for v in definition.variables}
    levels = {g.name: i for i, g in enumerate(definition.groups)}
    headers = {f"groups[{i}].header": i for i in range(len(definition.groups))}
    for path, band in slots:
        for j, element in enumerate(band.elements):
            if not isinstance(element, AggregateElement):
                continue
            variable = variables.get(element.variable)
            if variable is None or variable.reset == "page":  # reported elsewhere
                continue
            level = levels.get(variable.reset)
            complete = (
                f"groups[{level}].footer or the summary" if level is not None else "the summary"
            )
            where = f"{path}.elements[{j}]"
            if path in _BEFORE_ROWS:
                yield Issue(
                    where,
                    f"'{variable.name}' has accumulated nothing in {path}, which "
                    f"{_BEFORE_ROWS[path]}: place it in {complete}",
                )
            elif path in headers and level is not None and level >= headers[path]:
                group = definition.groups[level].name
                yield Issue(
                    where,
                    f"'{variable.name}' is only complete at the end of group '{group}': "
                    f"place it in {complete}",
                    "a group header is printed before the group's rows are read",
                )
