"""Totals in the page header and footer: only the typesetter knows where pages break.

A variable with `reset: page` (a sum or a count) shows, in the page footer, what the rows
on that page add up to. A report-wide variable shows, in the page footer, its value
through the end of the page and, in the page header, the value carried forward from the
pages before. Python computes the running values exactly, row by row.

In one document each detail record carries them to the template, which keeps the last
one in a Typst state. A page footer reads that state at the page's end, the page header
at its start; a page total is the difference of the two exact decimals, formatted in the
template with the number format the definition gives (only plain number formats:
grouping, decimal places, text around). A segmented report knows which rows each page
holds once the page is kept: `page_texts` makes its texts here, and they are laid over
the page with its numbers (engine.page_stamps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.definition import AggregateElement, Band, ReportDefinition
from engine.errors import Issue
from engine.formats import Formatter, exact, format_parts, make_formatter

__all__ = ("PAGE_BANDS", "PageTotals", "number_format", "page_total_issues")

PAGE_BANDS = ("bands.page_header", "bands.page_footer")
_PAGE_FUNCTIONS = ("sum", "count")
_NUMBER = re.compile(r"^(?P<group>,?)(?:\.(?P<places>\d))?f?$")


def number_format(fmt: str | None) -> dict[str, Any] | None:
    """The template's number format for a page total; None if it cannot show it."""
    if fmt is None:
        return {"prefix": "", "suffix": "", "group": False, "places": None}
    parts = format_parts(fmt)
    number = _NUMBER.match(parts[1]) if parts else None
    if parts is None or number is None:
        return None
    prefix, spec, suffix = parts
    places = number["places"]
    return {
        "prefix": prefix,
        "suffix": suffix,
        "group": bool(number["group"]),
        "places": int(places) if places else (0 if spec.endswith("f") else None),
    }


Slots = Iterable[tuple[str, Band]]  # (path, band) of every band, as plan.band_slots gives


def page_total_issues(definition: ReportDefinition, slots: Slots) -> Iterator[Issue]:
    """What a page band may show: page totals in the footer, report values in both."""
    variables = {v.name: v for v in definition.variables}
    for i, variable in enumerate(definition.variables):
        if variable.reset == "page" and variable.function not in _PAGE_FUNCTIONS:
            yield Issue(
                f"variables[{i}].function",
                f"a page total is a sum or a count, not {variable.function}",
            )
    for path, j, element in _aggregates(slots):
        shown = variables.get(element.variable)
        if shown is None:
            continue  # reported with the other unknown names
        where = f"{path}.elements[{j}]"
        if shown.reset == "page" and path != "bands.page_footer":
            yield Issue(
                where, f"'{shown.name}' is a page total: it is known only in bands.page_footer"
            )
        elif path in PAGE_BANDS and shown.reset not in ("page", "report"):
            yield Issue(
                where,
                f"'{shown.name}' is reset per group; a page band can show page totals "
                "(reset: page) and report values (reset: report)",
            )
        elif shown.reset == "page" and number_format(element.format) is None:
            yield Issue(
                f"{where}.format",
                f"a page total is shown with a number format like '{{,.2f}}', not "
                f"'{element.format}'",
            )


@dataclass(frozen=True)
class _Slot:
    variable: str
    per_page: bool  # a page total (a difference); otherwise a value as it stands
    format: Formatter
    at_start: bool  # in the page header: the value carried forward from the pages before


class PageTotals:
    """The values page bands show, as each detail record carries them to the template."""

    def __init__(self, definition: ReportDefinition, slots: Slots) -> None:
        resets = {v.name: v.reset for v in definition.variables}
        self.slots: list[_Slot] = []
        self.cells: dict[int, dict[str, Any]] = {}  # id(element) -> the template's cell data
        page_bands = [(path, band) for path, band in slots if path in PAGE_BANDS]
        for path, _, element in _aggregates(page_bands):
            per_page = resets.get(element.variable) == "page"
            index = len(self.slots)
            fmt = make_formatter(element.format)
            at_start = path == "bands.page_header"
            self.slots.append(_Slot(element.variable, per_page, fmt, at_start))
            cell: dict[str, Any] = {"k": "total", "i": index, "page": per_page}
            if per_page:
                cell["f"] = number_format(element.format)
            self.cells[id(element)] = cell

    def __bool__(self) -> bool:
        return bool(self.slots)

    def start(self) -> Mapping[str, Any]:
        """The variables before the first row: none has a value yet."""
        return {}

    def texts(self, variables: Mapping[str, Any]) -> list[str]:
        """The values page bands show, as the template takes them: exact running sums, or
        the formatted text. A detail record carries its event's variables as they are;
        they are made text only for the few records the template reads them at."""
        return [
            _decimal(variables.get(slot.variable))
            if slot.per_page
            else slot.format(variables.get(slot.variable))
            for slot in self.slots
        ]

    def page_texts(self, start: Mapping[str, Any], end: Mapping[str, Any]) -> list[str]:
        """What a page's bands show, given the variables before its first row and after
        its last: the texts the template gives in one document."""
        texts = []
        for slot in self.slots:
            if slot.per_page:
                name = slot.variable
                share = _exact(end.get(name)) - _exact(start.get(name))
                texts.append(slot.format(share))
            else:
                texts.append(slot.format((start if slot.at_start else end).get(slot.variable)))
        return texts


def _decimal(value: Any) -> str:
    return format(_exact(value), "f")


def _exact(value: Any) -> Decimal:
    """A running value as an exact decimal; none yet (or not a number) counts as 0."""
    number = Decimal(0) if value is None else exact(value)
    return number if number.is_finite() else Decimal(0)


def _aggregates(slots: Slots) -> Iterator[tuple[str, int, AggregateElement]]:
    for path, band in slots:
        for j, element in enumerate(band.elements):
            if isinstance(element, AggregateElement):
                yield path, j, element
