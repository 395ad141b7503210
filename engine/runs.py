"""Runs: status, numbered events, cancel, pause and resume, and a registry of runs.

A run's events are plain JSON-ready dicts, numbered from 1 and ending in exactly one
terminal event (`done`, `failed` or `cancelled`), so they can cross a process, a queue
or an SSE stream unchanged; a late subscriber catches up from a bounded history. A run's
stages check `checkpoint()` between batches (never per row), so cancel and pause take
effect within one batch, and report progress per batch too. The registry executes runs
on a bounded thread pool behind a small interface, so a task queue can replace it later
without changing callers.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from os import PathLike
from typing import Any, Protocol

from engine.errors import Cancelled, InternalError, QuireError

__all__ = (
    "PHASES",
    "Cancelled",
    "Event",
    "Job",
    "Listener",
    "Outcome",
    "Run",
    "RunControl",
    "RunRegistry",
    "RunStatus",
    "Subscription",
    "execute",
)

log = logging.getLogger(__name__)

PHASES = ("planning", "charts", "loading", "typesetting", "writing")
HISTORY = 200  # events a run keeps for late subscribers; the last (terminal) one among them
Event = dict[str, Any]
Listener = Callable[[Event], None]


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)


class Outcome(Protocol):
    """What a job returns (engine.pipeline.RunResult is one): its `done` event's content."""

    @property
    def outputs(self) -> Sequence[str | PathLike[str]]: ...
    @property
    def rows(self) -> int: ...
    @property
    def pages(self) -> int: ...
    def manifest(self) -> dict[str, Any]: ...


class Subscription:
    """A listener's place on a run; `close()` (or calling it) removes the listener."""

    def __init__(self, run: Run, key: int) -> None:
        self._run = run
        self._key = key

    def close(self) -> None:
        self._run._drop(self._key)

    def __call__(self) -> None:
        self.close()


class Run:
    """One run: its id, status, clocks, flags and events; safe to use from any thread.

    Events are emitted from whichever thread changes the run (the run's own worker, or
    the caller of `pause`), one at a time and in order of `seq`. Listeners are called in
    that thread and must be quick (put the event on a queue, say).
    """

    def __init__(self, run_id: str | None = None, history: int = HISTORY) -> None:
        self.id = run_id or uuid.uuid4().hex
        self.status = RunStatus.QUEUED
        self.degraded = False
        self.notes: list[str] = []
        self.finished_at: float | None = None  # time.monotonic(), once terminal
        self._lock = threading.Lock()  # over the state and the history
        self._delivering = threading.RLock()  # one emit at a time, listeners included
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.deadline: float | None = None
        self._created = time.monotonic()
        self._started: float | None = None
        self._paused_at: float | None = None
        self._paused_s = 0.0
        self._seq = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._listeners: dict[int, Listener] = {}
        self._keys = 0
        self._phase = "planning"
        self._phase_at: float | None = None
        self._phases_s: dict[str, float] = {}
        self._rows = 0
        self._expected: int | None = None
        self._pages: int | None = None

    # -- control ------------------------------------------------------------------------------

    def cancel(self) -> bool:
        """Ask the run to stop at its next checkpoint; a queued run ends at once. False if
        it had already finished."""
        with self._delivering:
            with self._lock:
                if self.status.finished:
                    return False
                self._cancelled.set()
                self._running.set()  # a paused run must wake up to notice
                queued = self.status == RunStatus.QUEUED
            if queued:
                self._end(RunStatus.CANCELLED, {})
            return True

    def pause(self) -> bool:
        """Hold the run at its next checkpoint; reported at once. False unless running."""
        return self._hold(True)

    def resume(self) -> bool:
        """Let a paused run go on; reported at once. False unless paused."""
        return self._hold(False)

    def _hold(self, pause: bool) -> bool:
        with self._delivering:
            with self._lock:
                if self.status != (RunStatus.RUNNING if pause else RunStatus.PAUSED):
                    return False
                now = time.monotonic()
                if pause:
                    self._running.clear()
                    self._paused_at = now
                    self.status = RunStatus.PAUSED
                else:
                    self._running.set()
                    self._paused_s += now - (self._paused_at or now)
                    self._paused_at = None
                    self.status = RunStatus.RUNNING
                event = self._progress_event()
            self._deliver(event)
            return True

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Called between batches: block while paused, raise `Cancelled` if cancelled or
        past the `deadline` (a `time.monotonic()` value the pipeline's time limit sets)."""
        self._running.wait()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.cancel()  # the clock, not only the limit's timer thread, which may run late
        if self._cancelled.is_set():
            raise Cancelled("the run was cancelled")

    def start(self) -> bool:
        """Queued -> running: the run's clock starts (the wait before it is `queued_s`).
        False if the run was cancelled while queued (or had already started)."""
        with self._lock:
            if self.status != RunStatus.QUEUED:
                return False
            self._started = self._phase_at = time.monotonic()
            self.status = RunStatus.RUNNING
            return True

    # -- progress -----------------------------------------------------------------------------

    def estimate(self, rows: int | None) -> None:
        """The rows the run expects (a COUNT estimate): for progress and ETA only."""
        self._expected = rows

    def report(self, phase: str, rows_done: int | None = None, pages: int | None = None) -> None:
        """Emit a progress event in `phase`; rows and pages left out keep their last value.
        A run that was never started (called without a registry) starts here."""
        if phase not in PHASES:
            raise ValueError(f"unknown run phase '{phase}'; expected one of {', '.join(PHASES)}")
        self.start()
        with self._delivering:
            with self._lock:
                if self.status.finished:
                    return
                self._enter(phase)
                self._rows = self._rows if rows_done is None else rows_done
                self._pages = self._pages if pages is None else pages
                event = self._progress_event()
            self._deliver(event)

    def count_pages(self, pages: int) -> None:
        """Pages typeset and kept so far. Reported at once while typesetting; while rows
        are still loading, the next loading event carries it."""
        with self._lock:
            self._pages = pages
            typesetting = self._phase == "typesetting"
        if typesetting:
            self.report("typesetting", pages=pages)

    def note(self, text: str) -> None:
        """Something the run's record should say (a fallback, a degradation)."""
        self.notes.append(text)

    def phase_times(self) -> dict[str, float]:
        """Seconds spent in each phase so far, from the run's start."""
        with self._lock:
            times = dict(self._phases_s)
            if self._phase_at is not None and not self.status.finished:
                times[self._phase] = times.get(self._phase, 0.0) + time.monotonic() - self._phase_at
            return times

    # -- the end ------------------------------------------------------------------------------

    def finish(self, outcome: Outcome) -> None:
        """The `done` event: outputs, rows, pages and the manifest."""
        manifest = {**outcome.manifest(), "phases_s": self.phase_times(), "notes": list(self.notes)}
        self._end(
            RunStatus.DONE,
            {
                "outputs": [str(path) for path in outcome.outputs],
                "rows": outcome.rows,
                "pages": outcome.pages,
                "manifest": manifest,
            },
        )

    def fail(self, error: QuireError) -> None:
        """The `failed` event, with the error's JSON form."""
        self._end(RunStatus.FAILED, {"error": error.to_dict()})

    def _end(self, status: RunStatus, fields: Event) -> None:
        with self._delivering:
            with self._lock:
                if self.status.finished:
                    return
                self._enter(self._phase)  # closes the last phase's time
                self.status = status
                self.finished_at = time.monotonic()
                event = self._event(str(status), status=str(status), **self._clock(), **fields)
            self._deliver(event)
            with self._lock:
                self._listeners.clear()  # nothing more will come

    # -- events -------------------------------------------------------------------------------

    def listen(self, listener: Listener, after: int | None = None) -> Subscription:
        """Call `listener` with each event from now on; with `after`, first with those kept
        since that `seq` (an SSE client's Last-Event-ID), none missed or repeated between."""
        with self._delivering:
            for event in self.events_since(after) if after is not None else []:
                if not self._call(listener, event):
                    return Subscription(self, -1)
            with self._lock:
                self._keys += 1
                key = self._keys
                if not self.status.finished:
                    self._listeners[key] = listener
            return Subscription(self, key)

    def events_since(self, seq: int = 0) -> list[Event]:
        """The events kept (the last `HISTORY`, terminal included) numbered after `seq`."""
        with self._lock:
            return [event for event in self._history if event["seq"] > seq]

    def snapshot(self) -> Event:
        """The run's id, status, and its last event (None before the first)."""
        with self._lock:
            last = self._history[-1] if self._history else None
            return {"run_id": self.id, "status": str(self.status), "last": last}

    def _drop(self, key: int) -> None:
        with self._lock:
            self._listeners.pop(key, None)

    def _enter(self, phase: str) -> None:
        """Switch to `phase`, adding the time spent in the one before to it."""
        now = time.monotonic()
        if self._phase_at is not None:
            self._phases_s[self._phase] = (
                self._phases_s.get(self._phase, 0.0) + now - self._phase_at
            )
        self._phase, self._phase_at = phase, now

    def _clock(self) -> dict[str, float]:
        now = time.monotonic()
        started = self._started if self._started is not None else now
        return {"elapsed_s": round(now - started, 3), "queued_s": round(started - self._created, 3)}

    def _progress_event(self) -> Event:
        now = time.monotonic()
        clock = self._clock()
        paused = self._paused_s + (now - self._paused_at if self._paused_at else 0.0)
        active = now - (self._started if self._started is not None else now) - paused
        rate = self._rows / active if active > 0 else 0.0
        eta = None
        if self._expected is not None and rate > 0 and self._phase == "loading":
            eta = round(max(self._expected - self._rows, 0) / rate, 3)
        return self._event(
            "progress",
            phase=self._phase,
            rows_done=self._rows,
            rows_expected=self._expected,
            pages=self._pages,
            rate=round(rate, 3),
            eta_s=eta,
            status=str(self.status),
            **clock,
        )

    def _event(self, kind: str, **fields: Any) -> Event:
        self._seq += 1
        event: Event = {"seq": self._seq, "run_id": self.id, "type": kind, **fields}
        self._history.append(event)
        return event

    def _deliver(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners.items())
        for key, listener in listeners:
            if not self._call(listener, event):
                self._drop(key)

    def _call(self, listener: Listener, event: Event) -> bool:
        """Give `listener` the event; False (logged) if it raised: it is dropped."""
        try:
            listener(event)
        except Exception:
            log.exception("a listener of run %s raised; it gets no more events", self.id)
            return False
        return True


RunControl = Run  # the name the pipeline's stages know it by: what they use is its control


Job = Callable[[Run], Outcome]


def execute(run: Run, job: Job) -> None:
    """Start `run` and do `job(run)`; its outcome becomes the run's terminal event. A run
    cancelled while queued is not started (its `cancelled` event was sent then)."""
    if not run.start():
        return
    try:
        outcome = job(run)
    except Cancelled:
        run._end(RunStatus.CANCELLED, {})
    except QuireError as error:
        run.fail(error)
    except Exception as error:  # a bug: the run fails, whoever runs it keeps serving
        log.exception("run %s failed unexpectedly", run.id)
        run.fail(InternalError(f"unexpected {type(error).__name__}: {error}"))
    else:
        run.finish(outcome)


class RunRegistry:
    """Runs of this process, executed on a bounded pool of worker threads; finished runs
    are forgotten `retention_s` after they end (checked on each submit, get and list)."""

    def __init__(self, workers: int = 2, retention_s: float = 3600.0) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quire-run")
        self._retention_s = retention_s
        self._runs: dict[str, Run] = {}
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, job: Job) -> Run:
        """Queue `job(run)`; its outcome becomes the run's terminal event."""
        run = Run()
        with self._lock:
            self._prune()
            self._runs[run.id] = run
            self._futures[run.id] = self._pool.submit(execute, run, job)
        return run

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            self._prune()
            return self._runs.get(run_id)

    def runs(self) -> list[Run]:
        with self._lock:
            self._prune()
            return list(self._runs.values())

    def wait(self, run: Run, timeout: float | None = None) -> None:
        """Block until `run` has finished (or raise TimeoutError)."""
        with self._lock:
            future = self._futures.get(run.id)
        if future is not None and not future.cancelled():
            future.result(timeout)

    def shutdown(self) -> None:
        """Cancel every run and wait for the running ones to stop."""
        for run in self.runs():
            run.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _prune(self) -> None:
        now = time.monotonic()
        for run_id, run in list(self._runs.items()):
            if run.finished_at is not None and now - run.finished_at >= self._retention_s:
                del self._runs[run_id]
                self._futures.pop(run_id, None)
