"""The bounded pipeline of one run: loader → fill → sinks, each stage in its own thread.

Stages are connected by small bounded queues, so the loader is never more than a few
batches ahead of the slowest sink (backpressure) and memory stays flat. Cancel and pause
are checked between batches; an error in any stage stops the others, discards every
sink's partial output and is raised to the caller.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.cache import DEFAULT_CACHE, QueryCache, query_key
from engine.charts import ChartData
from engine.collector import fewer_collections
from engine.definition import ReportDefinition
from engine.errors import Cancelled, DataSourceError, QueryTimeout, TimeLimitExceeded
from engine.fill import BandEvent, fill_batches
from engine.limits import MAX_CHART_DRAWS
from engine.loader import DEFAULT_BATCH_SIZE, Loader, LoadStats
from engine.memory import MemoryGuard
from engine.plan import QueryPlan
from engine.runs import RunControl
from engine.sinks.base import Sink, sweep_leftovers
from engine.timeouts import statement_timeout

__all__ = ("RunResult", "estimate_rows", "prefetch", "run_pipeline")

T = TypeVar("T")
QUEUE_BATCHES = 2  # how far a stage may run ahead of the next one
# Rows handed from stage to stage at once. The database is still read a batch (5,000
# rows) a query, but what waits in the queues between the stages is what a run holds:
# at 100K rows the process's peak went from 132 to 106 MB, at the same speed.
STAGE_ROWS = 1000


@dataclass
class RunResult:
    """What a run produced, and the figures that explain it (`manifest`)."""

    outputs: list[Path] = field(default_factory=list)
    rows: int = 0
    pages: int = 0
    load: LoadStats = field(default_factory=LoadStats)
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    degraded: bool = False
    first_batch_latency_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def manifest(self) -> dict[str, Any]:
        """The run's record, JSON-ready: what served it, what it cost, what went wrong."""
        return {
            "rows": self.rows,
            "pages": self.pages,
            "timings": {name: round(seconds, 3) for name, seconds in self.timings.items()},
            "load": {
                "strategy": self.load.strategy,
                "reason": self.load.reason,
                "batches": self.load.batches,
                "retries": self.load.retries,
                "fallbacks": list(self.load.fallbacks),
            },
            "cache": {"hits": self.cache_hits, "misses": self.cache_misses},
            "degraded": self.degraded,
            "first_batch_latency_s": self.first_batch_latency_s,
            "notes": list(self.notes),
        }


class _Done:
    """End of a stage's stream, carrying the stage's error if it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetch(source: Iterable[T], maxsize: int = QUEUE_BATCHES, name: str = "stage") -> Iterator[T]:
    """Run `source` in a thread; hand its items over through a queue of `maxsize` items.

    The producer blocks when the queue is full (backpressure). If the consumer stops early
    the producer is told to stop at its next item, and its iterator is closed.
    """
    items: queue.Queue[T | _Done] = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(source)
        outcome = _Done()
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as error:  # handed to the consumer, raised there
            outcome = _Done(error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        while not stop.is_set():
            try:
                items.put(outcome, timeout=0.05)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name=f"quire-{name}", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


def estimate_rows(
    engine: sa.Engine,
    plan: QueryPlan,
    parameters: Mapping[str, Any],
    cache: QueryCache = DEFAULT_CACHE,
    statement_timeout_s: float | None = None,
) -> int:
    """COUNT(*) of the run's rows, cached: it feeds progress and ETA, never correctness."""
    query = sa.select(sa.func.count()).select_from(plan.select.subquery())

    def count() -> int:
        with engine.connect() as connection, statement_timeout(connection, statement_timeout_s):
            return int(connection.execute(query, dict(parameters)).scalar_one())

    try:
        result: int = cache.get_or_compute(query_key(engine, query, parameters), count)
    except SQLAlchemyError as error:  # the first query of a run: its rows' errors show here
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        message = f"the report's query failed: {reason[0] if reason else type(error).__name__}"
        raise DataSourceError(message, "source") from None
    return result


@fewer_collections()
def run_pipeline(
    definition: ReportDefinition,
    engine: sa.Engine,
    plan: QueryPlan,
    parameters: Mapping[str, Any],
    sinks: list[Sink],
    *,
    control: RunControl | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    memory_limit_bytes: int | None = None,
    cache: QueryCache = DEFAULT_CACHE,
    on_events: Callable[[list[BandEvent]], None] | None = None,
    statement_timeout_s: float | None = None,
    time_limit_s: float | None = None,
    max_chart_draws: int = MAX_CHART_DRAWS,
) -> RunResult:
    """Stream the report through every sink; each output appears only once complete.

    Progress goes to `control`: `charts`, `loading` per batch, then `typesetting` (pages as
    they are kept, from sinks that `follow` the run) and `writing`. The caller emits
    `planning`, and the terminal event once this returns or raises (engine.runs.execute).

    Limits: each statement runs at most `statement_timeout_s` (and never past the run's
    `time_limit_s`); the run stops with `TimeLimitExceeded` at its next checkpoint once
    `time_limit_s` has passed, with `MemoryLimitExceeded` above `memory_limit_bytes`, and
    is refused if its charts would draw more than `max_chart_draws` charts.
    """
    control = control or RunControl()
    if time_limit_s is not None:
        if time_limit_s <= 0:
            raise ValueError("a run's time limit must be positive")
        statement_timeout_s = min(statement_timeout_s or time_limit_s, time_limit_s)
    began = time.monotonic()
    with _time_limit(control, time_limit_s) as expired:
        try:
            return _run(
                definition, engine, plan, parameters, sinks, control=control,
                batch_size=batch_size, memory_limit_bytes=memory_limit_bytes, cache=cache,
                on_events=on_events, statement_timeout_s=statement_timeout_s,
                max_chart_draws=max_chart_draws,
            )  # fmt: skip
        except (Cancelled, QueryTimeout):
            if expired.is_set() or (
                time_limit_s is not None and time.monotonic() - began >= time_limit_s
            ):  # the timer fired, or a statement's limit (clipped to the run's) came first
                raise TimeLimitExceeded(
                    f"the run took longer than its time limit of {time_limit_s:g} s; it was "
                    "stopped",
                    "timeout",
                ) from None
            raise


@contextlib.contextmanager
def _time_limit(control: RunControl, seconds: float | None) -> Iterator[threading.Event]:
    """A timer that cancels the run once `seconds` have passed; the event says it did."""
    expired = threading.Event()
    if seconds is None:
        yield expired
        return

    def expire() -> None:
        expired.set()
        control.cancel()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    control.deadline = time.monotonic() + seconds  # checked at every checkpoint too
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()
        control.deadline = None


def _run(
    definition: ReportDefinition,
    engine: sa.Engine,
    plan: QueryPlan,
    parameters: Mapping[str, Any],
    sinks: list[Sink],
    *,
    control: RunControl,
    batch_size: int,
    memory_limit_bytes: int | None,
    cache: QueryCache,
    on_events: Callable[[list[BandEvent]], None] | None,
    statement_timeout_s: float | None,
    max_chart_draws: int,
) -> RunResult:
    started = time.perf_counter()
    result = RunResult()
    before = cache.stats()
    try:
        control.checkpoint()
        _sweep(sinks, control)
        _load_charts(
            _chart_data(sinks), engine, parameters, cache,
            control=control, timings=result.timings, statement_timeout_s=statement_timeout_s,
            max_chart_draws=max_chart_draws,
        )  # fmt: skip
        estimated = estimate_rows(engine, plan, parameters, cache, statement_timeout_s)
        control.estimate(estimated)
        _tell_expected(sinks, estimated)
        following = _tell_run(sinks, control)
        guard = MemoryGuard(memory_limit_bytes)
        loader = Loader(
            engine,
            plan,
            parameters,
            strategy=definition.source.strategy,
            batch_size=batch_size,
            control=control,
            guard=guard,
            statement_timeout_s=statement_timeout_s,
        )
        result.load = loader.stats
        first_row_at: list[float] = []

        def loaded() -> Iterator[list[Any]]:
            for batch in loader.batches():
                if not first_row_at:
                    first_row_at.append(time.perf_counter())
                for start in range(0, len(batch), STAGE_ROWS):
                    yield batch[start : start + STAGE_ROWS]

        batches = prefetch(loaded(), name="loader")
        events = prefetch(fill_batches(definition, plan, _count(batches, result)), name="fill")
        for chunk in events:
            if result.first_batch_latency_s is None and first_row_at:
                result.first_batch_latency_s = time.perf_counter() - first_row_at[0]
            for sink in sinks:
                sink.write(chunk)
            if on_events is not None:
                on_events(chunk)
            control.report("loading", result.rows)
            control.checkpoint()
        result.timings["load_fill_s"] = time.perf_counter() - started
        result.degraded = guard.degraded
        if guard.degraded:
            control.degraded = True
            control.note("memory above 80% of the limit: batch size reduced")
        for note in loader.stats.fallbacks:
            control.note(note)
        finish_start = time.perf_counter()
        for sink in sinks:
            control.checkpoint()
            if sink not in following:  # it reports its own typesetting and writing
                control.report("writing", result.rows)
            result.outputs.extend(sink.finish())
            result.pages = max(result.pages, getattr(sink, "pages", 0))
        result.timings["finish_s"] = time.perf_counter() - finish_start
    except BaseException:
        for sink in sinks:
            sink.discard()
        raise
    after = cache.stats()
    result.cache_hits, result.cache_misses = after.hits - before.hits, after.misses - before.misses
    result.timings["total_s"] = time.perf_counter() - started
    result.notes = list(control.notes)
    return result


def _load_charts(
    charts: list[ChartData],
    engine: sa.Engine,
    parameters: Mapping[str, Any],
    cache: QueryCache,
    *,
    control: RunControl,
    timings: dict[str, float],
    statement_timeout_s: float | None,
    max_chart_draws: int,
) -> None:
    """Run the charts' aggregate queries (before the rows stream), if there are charts."""
    if not charts:
        return
    started = time.perf_counter()
    control.report("charts", 0)
    for data in charts:
        data.load(engine, parameters, cache, statement_timeout_s)
        data.check_draws(max_chart_draws)
    timings["charts_s"] = time.perf_counter() - started


def _sweep(sinks: list[Sink], control: RunControl) -> None:
    """Remove what runs that died left in the folders this run writes to, and say so."""
    folders: set[Path] = set()
    for sink in sinks:
        output = getattr(sink, "output", None)
        if isinstance(output, Path):
            folders.update((output.parent, output) if output.is_dir() else (output.parent,))
    removed = sum(sweep_leftovers(folder) for folder in sorted(folders))
    if removed:
        control.note(f"removed {removed} leftover partial file{'s' if removed > 1 else ''}")


def _chart_data(sinks: list[Sink]) -> list[ChartData]:
    """The sinks' chart data (a sink that draws charts has its own, or one shared with
    others) still to be loaded for this run; the plan holds only the charts' queries."""
    found: dict[int, ChartData] = {}
    for sink in sinks:
        data = getattr(sink, "charts", None)
        if isinstance(data, ChartData) and not data.loaded and data.charts and data.charts.charts:
            found[id(data)] = data
    return list(found.values())


def _tell_expected(sinks: list[Sink], rows: int) -> None:
    """A hint for sinks that take it (`expect(rows)`), to get ready for a big report."""
    for sink in sinks:
        expect = getattr(sink, "expect", None)
        if expect is not None:
            expect(rows)


def _tell_run(sinks: list[Sink], run: RunControl) -> list[Sink]:
    """Give the run to sinks that report their own progress (`follow(run)`); those sinks."""
    following = []
    for sink in sinks:
        follow = getattr(sink, "follow", None)
        if follow is not None:
            follow(run)
            following.append(sink)
    return following


def _count(batches: Iterator[list[Any]], result: RunResult) -> Iterator[list[Any]]:
    for batch in batches:
        result.rows += len(batch)
        yield batch
