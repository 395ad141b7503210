"""Fill: the ordered row stream becomes band events, with group breaks and variables.

This is the only stage that looks at every row in Python, so it does as little as it can:
compare the group keys with the previous row, feed the variables, emit events. It keeps
the previous row and the accumulators, nothing else, so memory does not grow with rows.
Page-scoped values are not computed here: only the typesetter knows where pages break.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from engine.definition import ReportDefinition, VariableFunction
from engine.formats import exact

if TYPE_CHECKING:
    from engine.plan import QueryPlan

__all__ = ("BandEvent", "band_key", "fill", "fill_batches")

Row = Sequence[Any]


@dataclass(slots=True)
class BandEvent:
    """A band to print: its key, the row it shows, and the variables' values at that moment.

    Not frozen: a frozen dataclass sets each field through object.__setattr__, three
    times as slow to make (0.7 against 0.2 us), and one is made for every row."""

    band: str
    row: Row | None
    variables: dict[str, Any]


def band_key(kind: str, level: int | None = None) -> str:
    """`title`, `detail` ... or `group_header:0`, `group_footer:1` for group bands."""
    return kind if level is None else f"{kind}:{level}"


class _Accumulator:
    __slots__ = ("count", "function", "seen", "value")

    def __init__(self, function: VariableFunction) -> None:
        self.function = function
        self.reset()

    def reset(self) -> None:
        self.value: Any = None
        self.count = 0
        self.seen: set[Any] = set()

    def add(self, value: Any) -> None:
        if value is None:
            return
        self.count += 1
        function = self.function
        if function in ("sum", "avg"):
            if isinstance(value, float):  # SQLite's floats summed exactly, as decimals
                value = exact(value)
            self.value = value if self.value is None else self.value + value
        elif function == "min":
            self.value = value if self.value is None or value < self.value else self.value
        elif function == "max":
            self.value = value if self.value is None or value > self.value else self.value
        elif function == "first":
            if self.count == 1:
                self.value = value
        elif function == "last":
            self.value = value
        elif function == "distinct_count":
            self.seen.add(value)

    def result(self) -> Any:
        function = self.function
        if function == "count":
            return self.count
        if function == "distinct_count":
            return len(self.seen)
        if function == "sum":
            return 0 if self.value is None else self.value
        if function == "avg":
            return None if self.count == 0 else self.value / self.count
        return self.value


@dataclass(frozen=True)
class _Variable:
    name: str
    column: int | None
    reset_level: int  # -1: report; otherwise the group index whose end resets it
    accumulator: _Accumulator


def fill(
    definition: ReportDefinition, plan: QueryPlan, batches: Iterable[Sequence[Row]]
) -> Iterator[BandEvent]:
    """Band events for the whole report, in print order."""
    for events in fill_batches(definition, plan, batches):
        yield from events


def fill_batches(
    definition: ReportDefinition, plan: QueryPlan, batches: Iterable[Sequence[Row]]
) -> Iterator[list[BandEvent]]:
    """Band events in print order, one list per batch of rows (the last list closes the report)."""
    levels = {g.name: i for i, g in enumerate(definition.groups)}
    variables = [
        _Variable(
            v.name,
            plan.variable_columns.get(v.name),
            levels.get(v.reset, -1),
            _Accumulator(v.function),
        )
        for v in definition.variables
    ]
    counted = [v.accumulator for v in variables if v.column is None]
    sums: dict[int, list[_Accumulator]] = {}
    fed: list[tuple[int, _Accumulator]] = []
    for v in variables:
        if v.column is not None and v.accumulator.function in ("sum", "avg"):
            sums.setdefault(v.column, []).append(v.accumulator)
        elif v.column is not None:
            fed.append((v.column, v.accumulator))
    summed = list(sums.items())
    bands = definition.bands
    shown = {  # page bands show running values as of each detail row
        e.variable
        for band in (bands.detail, bands.page_header, bands.page_footer)
        if band is not None
        for e in band.elements
        if e.type == "aggregate"
    }
    in_detail = [v for v in variables if v.name in shown]  # what detail events carry
    group_columns = plan.group_columns
    depth = len(group_columns)
    group_key = itemgetter(*group_columns) if group_columns else _no_groups

    def snapshot() -> dict[str, Any]:
        return {v.name: v.accumulator.result() for v in variables}

    previous: Row | None = None
    for batch in batches:
        events: list[BandEvent] = []
        emit = events.append
        for row in batch:
            if previous is None:
                emit(BandEvent("title", row, snapshot()))
                start = 0
            elif group_key(row) == group_key(previous):  # most rows: no group changes
                start = depth
            else:
                start = next(
                    (
                        level
                        for level, column in enumerate(group_columns)
                        if row[column] != previous[column]
                    ),
                    depth,
                )
                if start < depth:
                    values = snapshot()
                    for level in range(depth - 1, start - 1, -1):
                        emit(BandEvent(band_key("group_footer", level), previous, values))
                    for v in variables:
                        if v.reset_level >= start:
                            v.accumulator.reset()
            if start < depth:
                values = snapshot()
                for level in range(start, depth):
                    emit(BandEvent(band_key("group_header", level), row, values))
            for accumulator in counted:
                accumulator.count += 1
            _add_to_sums(row, summed)
            for column, accumulator in fed:
                accumulator.add(row[column])
            values = {v.name: v.accumulator.result() for v in in_detail} if in_detail else _NONE
            emit(BandEvent("detail", row, values))
            previous = row
        yield events
    if previous is None:
        yield [BandEvent("title", None, snapshot()), BandEvent("no_data", None, snapshot())]
        return
    values = snapshot()
    closing = [
        BandEvent(band_key("group_footer", level), previous, values)
        for level in range(depth - 1, -1, -1)
    ]
    closing.append(BandEvent("summary", previous, values))
    yield closing


_NONE: dict[str, Any] = {}


def _no_groups(row: Row) -> None:
    return None


def _add_to_sums(row: Row, summed: list[tuple[int, list[_Accumulator]]]) -> None:
    """`_Accumulator.add` for every sum and average, inlined: it runs for every row."""
    for column, accumulators in summed:
        value = row[column]
        if value is None:
            continue
        if isinstance(value, float):  # made exact once for every sum of the column
            value = exact(value)
        for accumulator in accumulators:
            accumulator.count += 1
            total = accumulator.value
            accumulator.value = value if total is None else total + value
