"""The pipeline at scale: strategies, fallbacks, retries, run control, memory, backpressure."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, ProgrammingError

from engine import loader as loader_module
from engine.collector import YOUNG_THRESHOLD
from engine.definition import ReportDefinition
from engine.demo_data import generate_demo
from engine.document import load_definition, parse_definition
from engine.errors import DataSourceError, DefinitionError
from engine.fill import BandEvent
from engine.loader import Loader
from engine.memory import MemoryGuard, MemoryLimitExceeded
from engine.pipeline import RunResult, prefetch, run_pipeline
from engine.plan import QueryPlan
from engine.render import check_report, render_report
from engine.runs import Cancelled, RunControl, RunRegistry, RunStatus

EXAMPLE = Path(__file__).parents[2] / "examples" / "sales_by_region.yaml"
ALL = {"start": "2023-01-01"}


@pytest.fixture(params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[sa.Engine]:
    url = sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    generate_demo(url, orders=600, seed=11)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_demo(sqlite_url: str) -> Iterator[sa.Engine]:
    generate_demo(sqlite_url, orders=600, seed=11)
    engine = sa.create_engine(sqlite_url)
    yield engine
    engine.dispose()


def _plan(
    engine: sa.Engine, text: str | None = None
) -> tuple[ReportDefinition, QueryPlan, dict[str, Any]]:
    definition = parse_definition(text) if text else load_definition(EXAMPLE)
    plan, params, _ = check_report(definition, engine, ALL if text is None else {})
    return definition, plan, params


def _rows(loader: Loader) -> list[tuple[Any, ...]]:
    return [tuple(r) for batch in loader.batches() for r in batch]


# -- strategies ----------------------------------------------------------------------------


def test_auto_prefers_a_cursor_for_expression_orders_and_keyset_for_the_primary_key(
    sqlite_demo: sa.Engine,
) -> None:
    _, grouped, params = _plan(sqlite_demo)
    loader = Loader(sqlite_demo, grouped, params)
    assert loader.candidates == ["cursor", "keyset", "offset", "full_read"]
    assert "cursor sorts once" in loader.stats.reason
    _, by_id, _ = _plan(sqlite_demo, "title: t\nsource: {table: order_lines}\n")
    assert Loader(sqlite_demo, by_id, {}).candidates[0] == "keyset"


def test_a_table_without_primary_key_streams_with_a_cursor(sqlite_demo: sa.Engine) -> None:
    with sqlite_demo.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE log (at TEXT, message TEXT)")
        conn.exec_driver_sql("INSERT INTO log VALUES ('b', 'two'), ('a', 'one'), (NULL, 'three')")
    text = "title: t\nsource: {table: log}\nsort: [{expression: at}]\n"
    _, plan, _ = _plan(sqlite_demo, text)
    loader = Loader(sqlite_demo, plan, {}, batch_size=2)
    assert [r[0] for r in _rows(loader)] == ["a", "b", None]
    assert loader.stats.strategy == "cursor"
    assert loader.stats.reason == "no primary key: keyset and offset need a total order"
    with pytest.raises(DefinitionError, match="strategy 'keyset' cannot be used"):
        Loader(sqlite_demo, plan, {}, strategy="keyset")


def test_a_failing_strategy_falls_back_and_says_so(
    sqlite_demo: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, plan, params = _plan(sqlite_demo)
    expected = _rows(Loader(sqlite_demo, plan, params, strategy="full_read"))

    def broken(self: object, size: int) -> list[Any]:
        raise ProgrammingError("SELECT", {}, Exception("cursor not supported here"))

    monkeypatch.setattr(loader_module._CursorReader, "fetch", broken)
    loader = Loader(sqlite_demo, plan, params, batch_size=500)
    assert _rows(loader) == expected
    assert loader.stats.strategy == "keyset"
    assert loader.stats.fallbacks == [
        "cursor failed (cursor not supported here); fell back to keyset"
    ]


# -- retries and resume --------------------------------------------------------------------


def _terminating(
    engine: sa.Engine, loader: Loader, after_batches: Sequence[int]
) -> list[tuple[Any, ...]]:
    """Stream, killing the loader's PostgreSQL backend after the given batch numbers."""
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
    rows: list[tuple[Any, ...]] = []
    try:
        for number, batch in enumerate(loader.batches(), start=1):
            rows.extend(tuple(r) for r in batch)
            if number in after_batches:
                with admin.connect() as conn:
                    killed = conn.exec_driver_sql(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    ).scalar_one()
                assert killed >= 1
    finally:
        admin.dispose()
    return rows


@pytest.mark.parametrize("strategy", ["keyset", "cursor"])
def test_a_dropped_connection_is_retried_and_resumes_exactly(
    postgres_url: str, strategy: str
) -> None:
    generate_demo(postgres_url, orders=600, seed=11)
    engine = sa.create_engine(postgres_url)
    try:
        _, plan, params = _plan(engine)
        clean = _rows(Loader(engine, plan, params, strategy=strategy, batch_size=400))
        loader = Loader(engine, plan, params, strategy=strategy, batch_size=400, backoff_s=0.01)
        assert _terminating(engine, loader, after_batches=(1, 3)) == clean
        assert loader.stats.retries >= 2
        assert len(clean) > 2000
    finally:
        engine.dispose()


def test_a_connection_that_never_comes_back_fails_with_the_cause_and_no_output(
    sqlite_demo: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = {"n": 0}
    original = loader_module._CursorReader.fetch

    def flaky(self: Any, size: int) -> list[Any]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OperationalError(
                "FETCH", {}, Exception("server closed the connection unexpectedly")
            )
        return original(self, size)

    monkeypatch.setattr(loader_module._CursorReader, "fetch", flaky)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "report.pdf"
    with pytest.raises(DataSourceError) as caught:
        render_report(load_definition(EXAMPLE), sqlite_demo, out, given=ALL, batch_size=100)
    assert "after 5 retries" in str(caught.value)
    assert "server closed the connection unexpectedly" in str(caught.value)
    assert not out.exists()
    assert list(folder.iterdir()) == []  # no temporary file left either


# -- run control ---------------------------------------------------------------------------


class _Recorder:
    """A sink that remembers what it got, optionally waiting on each batch."""

    def __init__(self, on_write: Any = None) -> None:
        self.events: list[BandEvent] = []
        self.writes = 0
        self.finished = False
        self.discarded = False
        self.on_write = on_write

    def write(self, events: Sequence[BandEvent]) -> None:
        self.writes += 1
        self.events.extend(events)
        if self.on_write is not None:
            self.on_write(self)

    def finish(self) -> list[Path]:
        self.finished = True
        return []

    def discard(self) -> None:
        self.discarded = True


def test_progress_is_reported_per_batch_with_estimate_and_eta(demo: sa.Engine) -> None:
    definition, plan, params = _plan(demo)
    control = RunControl()
    seen: list[Any] = []
    control.listen(seen.append)
    sink = _Recorder()
    result = run_pipeline(definition, demo, plan, params, [sink], control=control, batch_size=500)
    loading = [p for p in seen if p["phase"] == "loading"]
    assert result.rows > 2000
    assert len(loading) == sink.writes <= result.load.batches + 1  # per batch, never per row
    assert all(p["rows_expected"] == result.rows for p in loading)
    assert [p["rows_done"] for p in loading] == sorted(p["rows_done"] for p in loading)
    assert loading[-1]["rows_done"] == result.rows
    assert any(p["eta_s"] is not None for p in loading)
    assert seen[-1]["phase"] == "writing"  # the terminal event is its executor's to send
    assert sink.finished
    assert sum(e.band == "detail" for e in sink.events) == result.rows


def test_cancel_takes_effect_within_one_batch_and_discards_output(sqlite_demo: sa.Engine) -> None:
    definition, plan, params = _plan(sqlite_demo)
    control = RunControl()

    def cancel_after_two(sink: _Recorder) -> None:
        if sink.writes == 2:
            control.cancel()

    sink = _Recorder(cancel_after_two)
    with pytest.raises(Cancelled):
        run_pipeline(definition, sqlite_demo, plan, params, [sink], control=control, batch_size=200)
    assert sink.writes == 2
    assert sink.discarded and not sink.finished


def test_sinks_that_take_the_row_estimate_get_it_before_the_first_rows(
    sqlite_demo: sa.Engine,
) -> None:
    definition, plan, params = _plan(sqlite_demo)
    told: list[tuple[int, int]] = []

    class Expecting(_Recorder):
        def expect(self, rows: int) -> None:
            told.append((rows, self.writes))

    sink = Expecting()
    result = run_pipeline(definition, sqlite_demo, plan, params, [sink, _Recorder()])
    assert told == [(result.rows, 0)]  # the count, before any write; the other sink has none


def test_a_run_collects_garbage_less_often_and_gives_the_thresholds_back(
    sqlite_demo: sa.Engine,
) -> None:
    definition, plan, params = _plan(sqlite_demo)
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    sink = _Recorder(lambda _: during.append(gc.get_threshold()))
    run_pipeline(definition, sqlite_demo, plan, params, [sink], batch_size=500)
    assert during and all(t == (YOUNG_THRESHOLD, *before[1:]) for t in during)
    assert gc.get_threshold() == before

    def fail(_: _Recorder) -> None:
        raise RuntimeError("the sink broke")

    with pytest.raises(RuntimeError, match="the sink broke"):
        run_pipeline(definition, sqlite_demo, plan, params, [_Recorder(fail)], batch_size=500)
    assert gc.get_threshold() == before


def test_pause_holds_the_loader_and_resume_finishes(sqlite_demo: sa.Engine) -> None:
    definition, plan, params = _plan(sqlite_demo)
    registry = RunRegistry(workers=1)
    paused = threading.Event()
    sink = _Recorder()

    def job(control: RunControl) -> RunResult:
        def pause_once(recorder: _Recorder) -> None:
            if recorder.writes == 1:
                control.pause()
                paused.set()

        sink.on_write = pause_once
        return run_pipeline(
            definition, sqlite_demo, plan, params, [sink], control=control, batch_size=200
        )

    run = registry.submit(job)
    assert paused.wait(10)
    writes = sink.writes
    threading.Event().wait(0.3)
    assert sink.writes == writes  # nothing moves while paused
    assert run.status == RunStatus.PAUSED
    run.resume()
    registry.wait(run, timeout=30)
    assert run.status == RunStatus.DONE
    done = run.events_since(0)[-1]
    assert done["rows"] == sum(e.band == "detail" for e in sink.events)
    registry.shutdown()


def test_registry_records_failures_and_cancellations(sqlite_demo: sa.Engine) -> None:
    registry = RunRegistry(workers=1)

    def fail(control: RunControl) -> RunResult:
        raise DataSourceError("the database went away", "source")

    failed = registry.submit(fail)
    registry.wait(failed, timeout=5)
    assert failed.status == RunStatus.FAILED
    error = failed.snapshot()["last"]["error"]
    assert (error["kind"], error["path"]) == ("data_source", "source")
    assert error["message"] == "the database went away"

    def cancelled(control: RunControl) -> RunResult:
        control.cancel()
        control.checkpoint()
        return RunResult()

    run = registry.submit(cancelled)
    registry.wait(run, timeout=5)
    assert run.status == RunStatus.CANCELLED
    registry.shutdown()


# -- memory guard and backpressure ---------------------------------------------------------


def test_memory_guard_halves_batches_then_stops(sqlite_demo: sa.Engine) -> None:
    _, plan, params = _plan(sqlite_demo)
    readings = iter(
        [10, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 85, 101]
    )
    guard = MemoryGuard(100, floor=50, measure=lambda: next(readings))
    loader = Loader(sqlite_demo, plan, params, batch_size=400, guard=guard)
    sizes: list[int] = []
    with pytest.raises(MemoryLimitExceeded, match="memory limit of 0 MB exceeded"):
        sizes.extend(len(batch) for batch in loader.batches())
    assert guard.degraded
    assert sizes[:5] == [400, 200, 100, 50, 50]


def test_the_loader_stays_a_few_batches_ahead_of_a_slow_sink(sqlite_demo: sa.Engine) -> None:
    definition, plan, params = _plan(sqlite_demo)
    control = RunControl()
    loaded = {"batches": 0}
    original = Loader.batches

    def counting(self: Loader) -> Iterator[list[Any]]:
        for batch in original(self):
            loaded["batches"] += 1
            yield batch

    leads: list[int] = []

    def slow(sink: _Recorder) -> None:
        threading.Event().wait(0.01)
        leads.append(loaded["batches"] - sink.writes)

    Loader.batches = counting  # type: ignore[method-assign]
    try:
        run_pipeline(
            definition,
            sqlite_demo,
            plan,
            params,
            [_Recorder(slow)],
            control=control,
            batch_size=100,
        )
    finally:
        Loader.batches = original  # type: ignore[method-assign]
    assert len(leads) > 20
    assert max(leads) <= 6  # two bounded queues of two, plus one batch in each stage's hands


def test_prefetch_hands_over_errors_and_stops_its_producer() -> None:
    produced: list[int] = []

    def numbers() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    stream = prefetch(numbers(), maxsize=2)
    assert next(stream) == 0
    stream.close()
    assert len(produced) < 10

    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(prefetch(broken()))
