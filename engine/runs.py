"""Runs: status, progress, cancel, pause and resume, and a registry of runs in this process.

A run's stages check its `RunControl` between batches (never per row), so cancel and
pause take effect within one batch. Progress is reported per batch, too. The registry
executes runs on a bounded thread pool; it sits behind a small interface so that a task
queue can replace it later without changing callers.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from engine.errors import Cancelled, QuireError

__all__ = ("Cancelled", "Progress", "Run", "RunControl", "RunRegistry", "RunStatus")


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


@dataclass(frozen=True)
class Progress:
    """One progress event: emitted per batch, never per row."""

    phase: str  # "loading", "typesetting", "writing", "done"
    rows_done: int = 0
    rows_estimated: int | None = None
    rate: float = 0.0  # rows per second since the run started
    eta_s: float | None = None
    pages: int | None = None
    elapsed_s: float = 0.0


Listener = Callable[[Progress], None]


class RunControl:
    """Thread-safe flags and progress for one run, shared by all of its stages."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._listeners: list[Listener] = []
        self._started = time.monotonic()
        self._estimated: int | None = None
        self.progress = Progress("queued")
        self.degraded = False
        self.notes: list[str] = []

    # -- control ------------------------------------------------------------------------------

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # a paused run must wake up to notice

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Called between batches: block while paused, raise `Cancelled` if cancelled."""
        self._running.wait()
        if self._cancelled.is_set():
            raise Cancelled("the run was cancelled")

    # -- progress -----------------------------------------------------------------------------

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def estimate(self, rows: int | None) -> None:
        self._estimated = rows

    def report(self, phase: str, rows_done: int, pages: int | None = None) -> None:
        elapsed = time.monotonic() - self._started
        rate = rows_done / elapsed if elapsed > 0 else 0.0
        eta = None
        if self._estimated is not None and rate > 0 and phase == "loading":
            eta = max(self._estimated - rows_done, 0) / rate
        self.progress = Progress(phase, rows_done, self._estimated, rate, eta, pages, elapsed)
        for listener in list(self._listeners):
            listener(self.progress)

    def note(self, text: str) -> None:
        """Something the run's record should say (a fallback, a degradation)."""
        self.notes.append(text)


@dataclass
class Run:
    """A run in the registry: its control, status, and outcome."""

    id: str
    control: RunControl = field(default_factory=RunControl)
    status: RunStatus = RunStatus.QUEUED
    result: Any = None
    error: str | None = None
    future: Future[Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        progress = replace(self.control.progress)
        return {
            "id": self.id,
            "status": str(self.status),
            "progress": progress.__dict__,
            "error": self.error,
            "degraded": self.control.degraded,
            "notes": list(self.control.notes),
        }


class RunRegistry:
    """Runs of this process, executed on a bounded pool of worker threads."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quire-run")
        self._runs: dict[str, Run] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, job: Callable[[RunControl], Any]) -> Run:
        """Queue `job(control)`; its return value becomes the run's result."""
        with self._lock:
            run = Run(id=str(next(self._ids)))
            self._runs[run.id] = run
        run.future = self._pool.submit(self._execute, run, job)
        return run

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def runs(self) -> list[Run]:
        return list(self._runs.values())

    def shutdown(self) -> None:
        for run in self.runs():
            run.control.cancel()
        self._pool.shutdown(wait=True)

    @staticmethod
    def _execute(run: Run, job: Callable[[RunControl], Any]) -> Any:
        control = run.control
        if control.cancelled:
            run.status = RunStatus.CANCELLED
            return None
        run.status = RunStatus.RUNNING
        control.listen(lambda _: _track_pause(run))
        try:
            run.result = job(control)
        except Cancelled:
            run.status = RunStatus.CANCELLED
            return None
        except QuireError as error:
            run.status, run.error = RunStatus.FAILED, error.summary()
            return None
        except Exception as error:  # a bug: the run fails, the registry keeps serving
            run.status, run.error = RunStatus.FAILED, f"{type(error).__name__}: {error}"
            return None
        run.status = RunStatus.COMPLETED
        return run.result


def _track_pause(run: Run) -> None:
    if not run.status.finished:
        run.status = RunStatus.PAUSED if run.control.paused else RunStatus.RUNNING
