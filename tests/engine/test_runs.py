"""Runs: their numbered events, listeners, queue time, pause, the registry, the compile budget."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import typst_worker
from engine.demo_data import generate_demo
from engine.document import load_definition
from engine.errors import Cancelled, DataSourceError
from engine.fill import BandEvent
from engine.pipeline import RunResult, run_pipeline
from engine.preview import Previewer
from engine.render import check_report
from engine.runs import PHASES, Event, Run, RunControl, RunRegistry, RunStatus
from engine.sinks.typst_sink import TypstSink

EXAMPLE = Path(__file__).parents[2] / "examples" / "sales_by_region.yaml"
ALL = {"start": "2023-01-01"}
TERMINAL = ("done", "failed", "cancelled")


@pytest.fixture
def demo(sqlite_url: str) -> Iterator[sa.Engine]:
    generate_demo(sqlite_url, orders=600, seed=11)
    engine = sa.create_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def registry() -> Iterator[RunRegistry]:
    runs = RunRegistry(workers=2)
    yield runs
    runs.shutdown()


class _Recorder:
    """A sink that keeps nothing, calling `on_write` with its count of writes."""

    def __init__(self, on_write: Callable[[int], None] | None = None) -> None:
        self.writes = 0
        self.on_write = on_write

    def write(self, events: Sequence[BandEvent]) -> None:
        self.writes += 1
        if self.on_write is not None:
            self.on_write(self.writes)

    def finish(self) -> list[Path]:
        return []

    def discard(self) -> None:
        pass


def _pipeline_job(demo: sa.Engine, sink: Any, batch_size: int = 500) -> Callable[[Run], RunResult]:
    """A job as engine.api's start_run would write it: planning, then the pipeline."""

    def job(run: Run) -> RunResult:
        run.report("planning")
        definition = load_definition(EXAMPLE)
        plan, params, _ = check_report(definition, demo, ALL)
        return run_pipeline(
            definition, demo, plan, params, [sink], control=run, batch_size=batch_size
        )

    return job


def _events(registry: RunRegistry, run: Run) -> list[Event]:
    registry.wait(run, timeout=60)
    return run.events_since(0)


def _check_sequence(events: list[Event], run: Run, terminal: str) -> None:
    """Numbered from 1, in order, this run's, JSON-ready, exactly one terminal event, last."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["run_id"] for e in events} == {run.id}
    assert json.loads(json.dumps(events)) == events
    assert [e["type"] for e in events if e["type"] in TERMINAL] == [terminal]
    assert events[-1]["type"] == terminal
    assert run.status == terminal
    for event in events[:-1]:
        assert event["type"] == "progress"
        assert event["phase"] in PHASES
        assert event["status"] in ("running", "paused")
        assert set(event) >= {"rows_done", "rows_expected", "pages", "rate", "eta_s"}
        assert event["elapsed_s"] >= 0 and event["queued_s"] >= 0


# -- the events of a run -------------------------------------------------------------------


def test_a_done_run_reports_its_phases_per_batch_then_done_with_its_manifest(
    demo: sa.Engine, registry: RunRegistry
) -> None:
    sink = _Recorder()
    run = registry.submit(_pipeline_job(demo, sink))
    events = _events(registry, run)
    _check_sequence(events, run, "done")
    progress = events[:-1]
    phases = [e["phase"] for e in progress]
    assert phases[0] == "planning" and phases[-1] == "writing"
    assert phases.index("loading") < phases.index("writing")
    loading = [e for e in progress if e["phase"] == "loading"]
    done = events[-1]
    assert len(loading) == sink.writes  # per batch handed to the sinks, never per row
    assert all(e["rows_expected"] == done["rows"] for e in loading)
    assert [e["rows_done"] for e in loading] == sorted(e["rows_done"] for e in loading)
    assert loading[-1]["rows_done"] == done["rows"] > 2000
    assert any(e["eta_s"] is not None for e in loading)
    assert all(e["rate"] > 0 for e in loading)
    manifest = done["manifest"]
    assert manifest["rows"] == done["rows"] and done["outputs"] == []
    assert manifest["load"]["strategy"] and manifest["load"]["fallbacks"] == []
    assert manifest["cache"]["misses"] + manifest["cache"]["hits"] >= 1
    assert manifest["degraded"] is False and manifest["notes"] == []
    assert {"load_fill_s", "total_s"} <= set(manifest["timings"])
    assert {"planning", "loading", "writing"} <= set(manifest["phases_s"])
    assert run.snapshot() == {"run_id": run.id, "status": "done", "last": done}


def test_a_failed_run_ends_with_the_errors_json_form(registry: RunRegistry) -> None:
    error = DataSourceError("the database went away", "source")

    def fail(run: Run) -> RunResult:
        run.report("loading", 10)
        raise error

    run = registry.submit(fail)
    events = _events(registry, run)
    _check_sequence(events, run, "failed")
    assert events[-1]["error"] == error.to_dict()
    assert events[-1]["error"]["kind"] == "data_source"


def test_an_unexpected_exception_fails_as_internal_naming_its_type_and_logs_the_traceback(
    registry: RunRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(run: Run) -> RunResult:
        return {}["missing"]  # type: ignore[no-any-return]

    with caplog.at_level(logging.ERROR, logger="engine.runs"):
        run = registry.submit(broken)
        events = _events(registry, run)
    _check_sequence(events, run, "failed")
    error = events[-1]["error"]
    assert error["kind"] == "internal" and "KeyError" in error["message"]
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


def test_a_cancelled_run_stops_within_a_batch_and_ends_cancelled(
    demo: sa.Engine, registry: RunRegistry
) -> None:
    holder: list[Run] = []

    def cancel_at_two(writes: int) -> None:
        if writes == 2:
            assert holder[0].cancel()

    sink = _Recorder(cancel_at_two)
    job = _pipeline_job(demo, sink, batch_size=200)
    run = registry.submit(lambda run: (holder.append(run), job(run))[1])
    events = _events(registry, run)
    _check_sequence(events, run, "cancelled")
    assert sink.writes == 2
    assert [e["phase"] for e in events[:-1]].count("loading") == 2  # then it stopped
    # a finished run can be neither cancelled, paused nor resumed, and says so
    assert (run.cancel(), run.pause(), run.resume()) == (False, False, False)
    assert run.events_since(0) == events  # nothing after the terminal event


def test_a_queued_run_cancelled_never_starts_and_still_ends_cancelled() -> None:
    registry = RunRegistry(workers=1)
    release = threading.Event()
    started: list[str] = []
    try:
        first = registry.submit(lambda run: (release.wait(10), RunResult())[1])
        second = registry.submit(lambda run: (started.append(run.id), RunResult())[1])
        assert second.status == RunStatus.QUEUED
        assert second.cancel()
        events = second.events_since(0)  # at once, not when a worker gets to it
        assert [e["type"] for e in events] == ["cancelled"]
        release.set()
        registry.wait(first, timeout=10)
        registry.wait(second, timeout=10)
        assert started == []
        assert second.events_since(0) == events
        assert first.status == RunStatus.DONE
    finally:
        release.set()
        registry.shutdown()


# -- listeners -----------------------------------------------------------------------------


def test_a_listener_that_raises_is_dropped_and_the_run_goes_on(
    demo: sa.Engine, registry: RunRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    go = threading.Event()
    calls: list[Event] = []
    kept: list[Event] = []

    def broken(event: Event) -> None:
        calls.append(event)
        raise RuntimeError("the listener broke")

    job = _pipeline_job(demo, _Recorder())
    run = registry.submit(lambda run: (go.wait(10), job(run))[1])
    run.listen(broken)
    run.listen(kept.append)
    with caplog.at_level(logging.ERROR, logger="engine.runs"):
        go.set()
        events = _events(registry, run)
    assert events[-1]["type"] == "done"
    assert len(calls) == 1  # dropped after it raised
    assert kept == events
    assert "the listener broke" in caplog.text


def test_unsubscribe_stops_the_events_and_a_late_listener_catches_up(
    registry: RunRegistry,
) -> None:
    step = threading.Event()
    seen: list[Event] = []

    def job(run: Run) -> RunResult:
        run.report("loading", 10)
        step.wait(10)
        run.report("loading", 20)
        return RunResult(rows=20)

    run = registry.submit(job)
    subscription = run.listen(seen.append, after=0)  # from the first event on
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    subscription.close()
    step.set()
    events = _events(registry, run)
    assert seen == events[:1]
    late: list[Event] = []
    run.listen(late.append, after=1)  # an SSE client back with Last-Event-ID: 1
    assert late == events[1:]
    assert [e["rows_done"] for e in events[:2]] == [10, 20]


def test_history_is_bounded_and_keeps_the_terminal_event() -> None:
    run = Run(history=5)
    for rows in range(20):
        run.report("loading", rows)
    run.finish(RunResult(rows=20))
    kept = run.events_since(0)
    assert [e["seq"] for e in kept] == [17, 18, 19, 20, 21]
    assert kept[-1]["type"] == "done"
    assert run.snapshot()["last"] == kept[-1]


# -- clocks, pause, ids, retention ---------------------------------------------------------


def test_queue_time_is_reported_apart_from_the_runs_own_time() -> None:
    registry = RunRegistry(workers=1)
    try:
        registry.submit(lambda run: (time.sleep(0.4), RunResult())[1])

        def quick(run: Run) -> RunResult:
            run.report("loading", 100)
            return RunResult(rows=100)

        queued = registry.submit(quick)
        events = _events(registry, queued)
    finally:
        registry.shutdown()
    first = events[0]
    assert first["queued_s"] >= 0.3
    assert first["elapsed_s"] < 0.3  # its clock started when it did
    assert first["rate"] > 100 / 0.3  # rows/s since it started, not since it was queued
    assert events[-1]["queued_s"] == first["queued_s"]


def test_pause_and_resume_are_reported_at_once(registry: RunRegistry) -> None:
    reported = threading.Event()
    finish = threading.Event()

    def job(run: Run) -> RunResult:
        run.report("loading", 5)
        reported.set()
        while not finish.is_set():
            run.checkpoint()  # between batches
            time.sleep(0.01)
        return RunResult(rows=5)

    run = registry.submit(job)
    assert reported.wait(10)
    assert run.pause()
    last = run.events_since(0)[-1]  # no batch came in between: pause itself emitted it
    assert (last["type"], last["status"], last["phase"], last["rows_done"]) == (
        "progress",
        "paused",
        "loading",
        5,
    )
    assert run.status == RunStatus.PAUSED
    assert not run.pause()  # already paused
    assert run.resume()
    assert run.events_since(last["seq"])[0]["status"] == "running"
    finish.set()
    events = _events(registry, run)
    _check_sequence(events, run, "done")


def test_run_ids_are_random_uuids(registry: RunRegistry) -> None:
    runs = [registry.submit(lambda run: RunResult()) for _ in range(3)]
    for run in runs:
        assert uuid.UUID(hex=run.id).version == 4
        assert uuid.UUID(hex=run.id).hex == run.id
    assert len({run.id for run in runs}) == 3


def test_finished_runs_are_forgotten_after_the_retention_time() -> None:
    registry = RunRegistry(workers=1, retention_s=0.2)
    try:
        release = threading.Event()
        done = registry.submit(lambda run: RunResult())
        registry.wait(done, timeout=10)
        running = registry.submit(lambda run: (release.wait(10), RunResult())[1])
        assert registry.get(done.id) is done  # kept for a while
        time.sleep(0.3)
        assert registry.get(done.id) is None
        assert registry.runs() == [running]  # a run still going is never forgotten
        release.set()
    finally:
        registry.shutdown()


# -- typesetting and the compile budget ----------------------------------------------------


def _typst_job(
    demo: sa.Engine, out: Path, segment_records: int | None
) -> Callable[[Run], RunResult]:
    def job(run: Run) -> RunResult:
        definition = load_definition(EXAMPLE)
        plan, params, _ = check_report(definition, demo, ALL)
        sink = TypstSink(definition, plan, out, "pdf", segment_records=segment_records)
        return run_pipeline(definition, demo, plan, params, [sink], control=run, batch_size=500)

    return job


def test_a_segmented_run_reports_growing_page_counts_while_typesetting(
    demo: sa.Engine, registry: RunRegistry, tmp_path: Path
) -> None:
    run = registry.submit(_typst_job(demo, tmp_path / "report.pdf", segment_records=300))
    events = _events(registry, run)
    _check_sequence(events, run, "done")
    typesetting = [e["pages"] for e in events if e.get("phase") == "typesetting"]
    assert len(set(typesetting)) >= 2  # more than one segment kept after the rows were in
    assert typesetting == sorted(typesetting)
    done = events[-1]
    assert done["pages"] == typesetting[-1] > 10
    assert done["outputs"] == [str(tmp_path / "report.pdf")]
    assert events[-2]["phase"] == "writing" and events[-2]["pages"] == done["pages"]


class _Concurrency:
    """Counts the Typst compiles under way at once (each held a little, so they overlap)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.now += 1
                self.calls += 1
                self.most = max(self.most, self.now)
            try:
                time.sleep(0.02)
                return function(*args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1

        return counted


def _runs_and_a_preview(
    demo: sa.Engine, tmp_path: Path, budget: int, monkeypatch: pytest.MonkeyPatch
) -> _Concurrency:
    """A segmented run, a run typeset in one piece and a preview, all at once."""
    import typst

    counter = _Concurrency()
    monkeypatch.setattr(typst_worker._Forker, "call", counter.wrap(typst_worker._Forker.call))
    monkeypatch.setattr(typst, "compile", counter.wrap(typst.compile))
    typst_worker.set_compile_budget(budget)
    registry = RunRegistry(workers=2)
    try:
        runs = [
            registry.submit(_typst_job(demo, tmp_path / "segmented.pdf", segment_records=300)),
            registry.submit(_typst_job(demo, tmp_path / "whole.pdf", segment_records=None)),
        ]
        with Previewer(rows=50) as previewer:
            for _ in range(3):
                previewer.render(load_definition(EXAMPLE), demo, ALL)
        for run in runs:
            registry.wait(run, timeout=120)
            assert run.status == RunStatus.DONE
    finally:
        registry.shutdown()
        typst_worker.set_compile_budget(None)
    return counter


def test_runs_and_previews_share_one_compile_budget(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _runs_and_a_preview(demo, tmp_path, 1, monkeypatch)
    assert counter.calls > 10
    assert counter.most == 1


def test_without_a_tight_budget_the_same_compiles_overlap(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter above can see compiles overlap: it is not blind."""
    counter = _runs_and_a_preview(demo, tmp_path, 8, monkeypatch)
    assert counter.most >= 2


def test_the_budget_comes_from_the_environment_and_bad_values_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget = typst_worker._Budget()
    monkeypatch.setenv("QUIRE_COMPILES", "3")
    assert budget.size == 3
    monkeypatch.setenv("QUIRE_COMPILES", "many")
    with pytest.raises(ValueError, match=r"QUIRE_COMPILES must be a whole number.*'many'"):
        _ = typst_worker._Budget().size
    monkeypatch.delenv("QUIRE_COMPILES")
    assert typst_worker._Budget().size >= 1
    with pytest.raises(ValueError, match="1 or more, not 0"):
        typst_worker.set_compile_budget(0)


def test_a_checkpoint_past_the_deadline_cancels_without_waiting_for_a_timer() -> None:
    control = RunControl()
    control.checkpoint()  # no deadline: goes on
    control.deadline = time.monotonic() + 60
    control.checkpoint()  # before it: goes on
    control.deadline = time.monotonic() - 0.001
    with pytest.raises(Cancelled):
        control.checkpoint()
    assert control.cancelled
