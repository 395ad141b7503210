"""Previews for a designer: the first pages of a report, quick to render again and again.

A designer renders the report anew on every edit. Those renders go to one warm Typst
process (a worker pool of one whose child serves many tasks), so what Typst memoized for
the last preview (the template, the fonts, every cell laid out before) is reused
(`python -m bench.preview` prints the figures). Previews are serialised on that process;
what comes before typesetting (the plan, the queries, the fill) runs in the caller's
thread, at the same time as other previews.

Only the rows the first pages need are read and typeset: the layout says about how many
records a page holds, and rows are read until the records they make fill the pages asked
for, with a margin. A preview is never taken for the whole report: it says how many rows
it shows, whether that is all of them, and how many there are; a partial one prints its
page numbers as "Page 1 of …", never a total it does not know.

A partial preview closes what it shows: every group it printed completely has its footer.
The group open where reading stopped: a report with a detail band stops at its rows'
limit and leaves that group's footer out (it falls below the pages shown anyway); a
report with no detail band (one footer line per customer, say) reads on until that group
ends, since its rows cost no typesetting, and if it has not ended within `ROW_CAP` rows,
leaves the group out, so it shows whole groups only and counts only their rows. The
summary, which speaks for every row, appears only in a complete preview.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.cache import DEFAULT_CACHE, QueryCache
from engine.charts import ChartData
from engine.definition import ReportDefinition
from engine.errors import (
    DataSourceError,
    DefinitionError,
    InternalError,
    Issue,
    ParameterError,
    QuireError,
    RenderError,
    Superseded,
)
from engine.fill import BandEvent, fill_batches
from engine.layout import PAPER_MM
from engine.loader import Loader, Row
from engine.parameters import resolve_parameters
from engine.pipeline import estimate_rows
from engine.plan import QueryPlan
from engine.plan_cache import DEFAULT_PLANS, PlanCache
from engine.schema import SourceSchema, reflect_schema
from engine.typst_worker import TypstFailed, WorkerPool
from engine.typst_writer import TypstLayout

__all__ = ("PREVIEW_PAGES", "ROW_CAP", "Preview", "Previewer")

PREVIEW_PAGES = 3
ROW_CAP = 20_000  # rows a preview reads at most, whatever its pages need
THUMBNAIL_PX = 300  # the width of page 1's PNG
UNKNOWN_TOTAL = "…"  # what a partial preview prints for {pages}
_SLACK = 1.5  # band heights are upper estimates: read more records than they say fit
_TASKS_PER_PROCESS = 50  # then a fresh process: typst-py keeps ~10 compiles' memory anyway
_POLL_S = 0.02  # how often a preview waiting for the Typst process checks it is still wanted

TotalRows = int | Callable[[], int | None] | None


@dataclass(frozen=True)
class Preview:
    """The report's first pages, and how much of the report they show."""

    pages: list[str]  # SVG, one a page, at most the pages asked for
    thumbnail: bytes  # PNG of page 1, THUMBNAIL_PX wide (Typst's, from the same layout)
    rows: int  # rows shown
    complete: bool  # every row of the report is in it
    total_rows: int | None  # rows the report has, if known ("first 500 of 92,635 rows")


@dataclass(frozen=True)
class _Read:
    rows: list[Row]
    complete: bool
    closing: int | None  # the outermost group level the next row would close, if any


class Previewer:
    """Renders previews in one warm Typst process, one typesetting at a time."""

    def __init__(
        self,
        rows: int | None = None,
        *,
        plans: PlanCache = DEFAULT_PLANS,
        cache: QueryCache = DEFAULT_CACHE,
    ) -> None:
        """`rows`: read at most this many rows (besides what the pages need)."""
        self.rows = rows
        self._plans = plans
        self._cache = cache
        self._pool = WorkerPool(1, compiles_per_child=_TASKS_PER_PROCESS)
        self._folder = Path(tempfile.mkdtemp(prefix="quire-preview-"))  # the same each time
        self._lock = threading.Lock()  # the Typst process and its folder
        self._state = threading.Lock()  # the two below
        self._latest: dict[str, int] = {}  # each designer's newest request
        self._tickets = itertools.count(1)
        self._schemas: weakref.WeakKeyDictionary[sa.Engine, SourceSchema] = (
            weakref.WeakKeyDictionary()
        )

    def render(
        self,
        definition: ReportDefinition,
        engine: sa.Engine,
        given: Mapping[str, Any] | None = None,
        *,
        pages: int = PREVIEW_PAGES,
        schema: SourceSchema | None = None,
        designer: str | None = None,
        total_rows: TotalRows = None,
        timeout_s: float | None = None,
    ) -> Preview:
        """The first `pages` pages of the report, and a PNG thumbnail of page 1.

        Args:
            definition: the report.
            engine: its data source.
            given: parameter values, checked and typed here.
            pages: how many pages to return (at least 1).
            schema: the source's schema; reflected once per engine if not given.
            designer: whose preview this is: a newer request for the same key makes this
                one raise `Superseded` as soon as it can (before typesetting at the
                latest); previews of other keys are not affected.
            total_rows: the report's row count if the caller knows it, or a function
                that counts them; if None, a partial preview counts them (a cached COUNT).
            timeout_s: the time limit of each of the preview's queries (`QueryTimeout`).

        Raises:
            QuireError: every failure, of its kind: `DefinitionError`, `ParameterError`,
                `DataSourceError`, `RenderError` (typesetting, or a chart, named by its
                path), `Superseded`; anything unforeseen as `InternalError`.
        """
        if pages < 1:
            raise ParameterError("a preview needs at least one page", "pages")
        ticket = self._enter(designer)
        try:
            return self._render(
                definition, engine, given,
                pages=pages, schema=schema, total_rows=total_rows, ticket=ticket,
                timeout_s=timeout_s,
            )  # fmt: skip
        except QuireError:
            raise
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            raise DataSourceError(f"the preview's query failed: {reason[0]}", "source") from None
        except Exception as error:
            raise InternalError(f"preview failed: {type(error).__name__}: {error}") from error
        finally:
            self._leave(designer, ticket)

    def _render(
        self,
        definition: ReportDefinition,
        engine: sa.Engine,
        given: Mapping[str, Any] | None,
        *,
        pages: int,
        schema: SourceSchema | None,
        total_rows: TotalRows,
        ticket: tuple[str | None, int],
        timeout_s: float | None,
    ) -> Preview:
        plan, parameters, layout = self._prepare(definition, engine, given, schema)
        self._check(ticket)
        if plan.charts is not None and plan.charts.charts:
            layout.charts.load(engine, parameters, self._cache, timeout_s)
            self._check(ticket)
        budget = int(pages * layout.records_per_page() * _SLACK) + 10
        read = _read(
            _batches(engine, plan, parameters, definition, budget, timeout_s=timeout_s),
            plan,
            _RecordCounts(layout, len(plan.group_columns)),
            budget,
            min(self.rows or ROW_CAP, ROW_CAP),
        )
        self._check(ticket)
        records = list(layout.records(_shown(definition, plan, read)))  # draws the charts
        total = (
            len(read.rows)
            if read.complete
            else _total(total_rows, engine, plan, parameters, self._cache, timeout_s=timeout_s)
        )
        self._check(ticket)
        inputs = {} if read.complete else {"total": UNKNOWN_TOTAL}
        while not self._lock.acquire(timeout=_POLL_S):
            self._check(ticket)
        try:
            self._check(ticket)
            layout.write_folder(self._folder, records)
            try:
                svgs, thumbnail = self._pool.compile_preview(
                    self._folder, inputs, pages, _thumbnail_ppi(definition)
                )
            except TypstFailed as error:
                raise RenderError(f"typesetting failed: {error}") from None
        finally:
            self._lock.release()
        return Preview(svgs, thumbnail, len(read.rows), read.complete, total)

    def _prepare(
        self,
        definition: ReportDefinition,
        engine: sa.Engine,
        given: Mapping[str, Any] | None,
        schema: SourceSchema | None,
    ) -> tuple[QueryPlan, dict[str, Any], TypstLayout]:
        """The plan (kept for the next preview), the parameters and this preview's layout;
        every problem at once."""
        issues: list[Issue] = []
        parameters: dict[str, Any] = {}
        try:
            parameters = resolve_parameters(definition, given)
        except QuireError as error:
            issues.extend(error.issues)
        if schema is None:
            schema = self._schemas.get(engine)
            if schema is None:
                schema = self._schemas[engine] = reflect_schema(engine)
        try:
            plan = self._plans.plan(definition, schema)
            layout = TypstLayout(definition, plan, ChartData(plan.charts))
        except DefinitionError as error:
            issues.extend(error.issues)
        if issues:
            raise DefinitionError(issues)
        return plan, parameters, layout

    def _enter(self, designer: str | None) -> tuple[str | None, int]:
        with self._state:
            ticket = next(self._tickets)
            if designer is not None:
                self._latest[designer] = ticket
        return designer, ticket

    def _check(self, ticket: tuple[str | None, int]) -> None:
        """Raise `Superseded` if a newer preview for the same designer has been asked for."""
        designer, number = ticket
        if designer is None:
            return
        with self._state:
            newest = self._latest.get(designer)
        if newest != number:
            raise Superseded("a newer preview was asked for by the same designer", "designer")

    def _leave(self, designer: str | None, ticket: tuple[str | None, int]) -> None:
        with self._state:
            if designer is not None and self._latest.get(designer) == ticket[1]:
                del self._latest[designer]

    def close(self) -> None:
        self._pool.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Previewer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _RecordCounts:
    """How many records a row adds to the document: its detail band, and the headers and
    footers of the groups it opens (the footers of those it closes, counted the same)."""

    def __init__(self, layout: TypstLayout, depth: int) -> None:
        def has(key: str) -> int:
            return int(layout.band_index(key) is not None)

        self.detail = has("detail")
        self.at_break = [
            sum(has(f"group_header:{i}") + has(f"group_footer:{i}") for i in range(level, depth))
            for level in range(depth + 1)
        ]


def _batches(
    engine: sa.Engine,
    plan: QueryPlan,
    parameters: Mapping[str, Any],
    definition: ReportDefinition,
    budget: int,
    *,
    timeout_s: float | None,
) -> Iterator[list[Row]]:
    loader = Loader(
        engine,
        plan,
        parameters,
        strategy=definition.source.strategy,
        batch_size=min(ROW_CAP, max(budget, 100) + 1),  # one more: is there more?
        statement_timeout_s=timeout_s,
    )
    return loader.batches()


def _read(
    batches: Iterator[list[Row]], plan: QueryPlan, counts: _RecordCounts, budget: int, cap: int
) -> _Read:
    """Rows until their records reach `budget` or they number `cap`; then, if rows cost
    no records (no detail band), on until the open group ends, within `cap`, else back
    to where it began: such a report shows whole groups only. One row more is read to
    know whether the report goes on, and which groups it closes."""
    rows: list[Row] = []
    records = 0
    full = False
    previous: Row | None = None
    began, began_level = 0, None  # where the open group began, what its first row closed
    try:
        for batch in batches:
            for row in batch:
                level = _break_level(plan, previous, row)
                if full:
                    if level is not None or counts.detail:
                        return _Read(rows, False, level)
                    if len(rows) >= cap:
                        return (
                            _Read(rows[:began], False, began_level)
                            if began
                            else _Read(rows, False, None)
                        )
                else:
                    records += counts.detail + (counts.at_break[level] if level is not None else 0)
                if level is not None and previous is not None:
                    began, began_level = len(rows), level
                rows.append(row)
                previous = row
                full = records >= budget or len(rows) >= cap
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return _Read(rows, True, None)


def _break_level(plan: QueryPlan, previous: Row | None, row: Row) -> int | None:
    """The outermost group level whose key changes between the two rows (0 for the first
    row), None if none does."""
    if previous is None:
        return 0
    for level, column in enumerate(plan.group_columns):
        if row[column] != previous[column]:
            return level
    return None


def _shown(definition: ReportDefinition, plan: QueryPlan, read: _Read) -> Iterator[BandEvent]:
    """The band events of the rows read; of the closing events, a partial preview keeps
    only the footers of the groups the next row would close."""
    filled = list(fill_batches(definition, plan, [read.rows]))
    for events in filled[:-1]:
        yield from events
    closing = filled[-1]
    if read.complete:
        yield from closing
    elif read.closing is not None:
        depth = len(plan.group_columns)
        ending = {f"group_footer:{level}" for level in range(read.closing, depth)}
        yield from (event for event in closing if event.band in ending)


def _total(
    total_rows: TotalRows,
    engine: sa.Engine,
    plan: QueryPlan,
    parameters: Mapping[str, Any],
    cache: QueryCache,
    *,
    timeout_s: float | None,
) -> int | None:
    if isinstance(total_rows, int):
        return total_rows
    if total_rows is not None:
        return total_rows()
    return estimate_rows(engine, plan, parameters, cache, timeout_s)


def _thumbnail_ppi(definition: ReportDefinition) -> float:
    """The resolution at which page 1 is THUMBNAIL_PX wide."""
    page = definition.page
    width, height = PAPER_MM[page.size]
    wide = height if page.orientation == "landscape" else width
    return THUMBNAIL_PX / (wide / 25.4)
