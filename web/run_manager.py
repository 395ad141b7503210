"""The run manager: where runs execute and how their events reach the server's clients.

`RunManager` is the small interface handlers and services use (submit, status, control,
events, close), so a distributed task queue with a pub/sub can replace the embedded one
without touching them. `EmbeddedRunManager` runs each run in a worker process of a
bounded pool (`web.run_worker`), never in a server thread: pure-Python work there would
starve the event loop, and a native crash would take the server down. Extra runs wait in
a queue and know their position. A relay thread per worker blocks on its pipe (which
releases the GIL), records each run's state and hands events to the SSE subscribers'
queues with `call_soon_threadsafe`. The subscribers' side (`events`) sends a new status
(started, paused, resumed) at once, coalesces progress to at most 10 events a second,
repeats the state at least every 250 ms while a run is active, and sends a keep-alive
comment when nothing else was sent for 15 s.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Literal, Protocol, runtime_checkable

from web import run_worker
from web.run_worker import RunJob

__all__ = (
    "PING",
    "SHUTDOWN",
    "TERMINAL",
    "Action",
    "EmbeddedRunManager",
    "Event",
    "RunManager",
    "RunView",
)

log = logging.getLogger("quire.web.runs")

Event = dict[str, Any]
Action = Literal["pause", "resume", "cancel"]
TERMINAL = ("done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running", "paused")
MIN_GAP_S = 0.1  # at most 10 progress events a second per client
HEARTBEAT_S = 0.25  # at least one every 250 ms while running
PING_S = 15.0  # keep-alive comment when nothing else was sent
PING: Event = {"type": "ping"}
SHUTDOWN: Event = {"type": "shutdown"}
CRASHED = "the run's process ended unexpectedly"

# Called in a relay thread with a run's id and its new status, and for a terminal one its
# event: the store of runs (web.run_records) persists it.
Recorder = Callable[[int, str, Event | None], None]


@dataclass(frozen=True)
class RunView:
    """What the manager knows of an active run: status, last event, place in the queue."""

    id: int
    status: str
    last: Event
    position: int | None


@runtime_checkable
class RunManager(Protocol):
    """Where runs execute. Implementations: `EmbeddedRunManager` (worker processes)."""

    def start(self) -> None: ...
    def submit(self, run_id: int, job: RunJob) -> None: ...
    def status(self, run_id: int) -> RunView | None: ...
    def control(self, run_id: int, action: Action) -> bool: ...
    def events(self, run_id: int) -> AsyncIterator[Event] | None: ...
    def begin_shutdown(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class _Active:
    id: int
    job: RunJob
    status: str = "queued"
    last: Event = field(default_factory=dict)
    worker: _Worker | None = None
    subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = field(
        default_factory=list
    )


class _Worker:
    """One worker process and the thread that relays what it says."""

    def __init__(self, manager: EmbeddedRunManager, number: int) -> None:
        context = multiprocessing.get_context("forkserver")
        ours, theirs = context.Pipe()
        self.conn: Connection = ours
        self.process: BaseProcess = context.Process(
            target=run_worker.serve, args=(theirs,), name=f"quire-run-{number}", daemon=True
        )
        self.process.start()
        theirs.close()
        self.run_id: int | None = None
        self.ready = threading.Event()
        self._send_lock = threading.Lock()
        self._relay = threading.Thread(
            target=manager._relay, args=(self,), name=f"quire-relay-{number}", daemon=True
        )
        self._relay.start()

    def send(self, message: tuple[Any, ...]) -> bool:
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, ValueError):
            return False
        return True

    def stop(self, timeout: float = 2.0) -> None:
        self.send(("stop",))
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.conn.close()


class EmbeddedRunManager:
    """Runs in a bounded pool of worker processes of this machine; see the module doc."""

    def __init__(self, workers: int, record: Recorder) -> None:
        self._size = max(workers, 1)
        self._record = record
        self._lock = threading.RLock()  # re-entrant: a signal handler may take it (shutdown)
        self._runs: dict[int, _Active] = {}
        self._queue: deque[int] = deque()
        self._workers: list[_Worker] = []
        self._started = 0
        self._closed = False
        self._streams: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = []
        multiprocessing.get_context("forkserver").set_forkserver_preload(run_worker.PRELOAD)

    # -- the interface ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the pool's processes now, so the first run finds them warm."""
        with self._lock:
            while len(self._workers) < self._size and not self._closed:
                self._workers.append(self._spawn())

    def submit(self, run_id: int, job: RunJob) -> None:
        """Queue the run; it starts as soon as a worker is free."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the run manager is closed")
            active = _Active(run_id, job)
            self._runs[run_id] = active
            self._queue.append(run_id)
            self._set(active, self._queued_event(active, len(self._queue)))
            self._dispatch()

    def status(self, run_id: int) -> RunView | None:
        with self._lock:
            active = self._runs.get(run_id)
            if active is None:
                return None
            return RunView(run_id, active.status, dict(active.last), self._position(run_id))

    def control(self, run_id: int, action: Action) -> bool:
        """Pause, resume or cancel; False when the run's status does not allow it."""
        with self._lock:
            active = self._runs.get(run_id)
            if active is None:
                return False
            allowed = {"pause": ("running",), "resume": ("paused",), "cancel": ACTIVE}[action]
            if active.status not in allowed:
                return False
            if active.status == "queued":  # cancel before it ever ran
                self._queue.remove(run_id)
                self._finish(active, {"type": "cancelled", "status": "cancelled", "seq": 0})
                self._announce_positions()
                return True
            worker = active.worker
        return worker is not None and worker.send((action, run_id))

    def events(self, run_id: int) -> AsyncIterator[Event] | None:
        """The run's events for one client, from its current state on; None if the run is
        not active here (finished, or unknown)."""
        with self._lock:
            active = self._runs.get(run_id)
            if active is None:
                return None
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Event] = asyncio.Queue()
            active.subscribers.append((loop, queue))
            self._streams.append((loop, queue))
            first = dict(active.last)
        return self._stream(active, loop, queue, first)

    def begin_shutdown(self) -> None:
        """End every open stream now (the server is stopping; clients will reconnect)."""
        with self._lock:
            streams = list(self._streams)
        for loop, queue in streams:
            loop.call_soon_threadsafe(queue.put_nowait, SHUTDOWN)

    def close(self) -> None:
        """Stop the workers; runs still active end `interrupted` (a crash leaves them to
        the store, which marks them so on the next start)."""
        self.begin_shutdown()
        with self._lock:
            self._closed = True
            for active in list(self._runs.values()):
                self._finish(active, {"type": "interrupted", "status": "interrupted"})
            self._queue.clear()
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()

    # -- the pool ---------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        self._started += 1
        return _Worker(self, self._started)

    def _dispatch(self) -> None:
        """Give queued runs to idle workers (under the lock)."""
        while self._queue and not self._closed:
            worker = next((w for w in self._workers if w.run_id is None), None)
            if worker is None:
                if len(self._workers) >= self._size:
                    break
                worker = self._spawn()
                self._workers.append(worker)
            run_id = self._queue.popleft()
            active = self._runs[run_id]
            worker.run_id, active.worker, active.status = run_id, worker, "running"
            self._record(run_id, "running", None)
            if not worker.send(("run", run_id, active.job)):
                worker.run_id = None  # its relay thread will notice the dead pipe
                self._queue.appendleft(run_id)
                break
        self._announce_positions()

    def _relay(self, worker: _Worker) -> None:
        """Read the worker's messages until its pipe closes, then clean up after it."""
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError, TypeError):  # TypeError: closed by close() mid-read
                break
            if message[0] == "ready":
                worker.ready.set()
            elif message[0] == "event":
                self._on_event(message[1], message[2])
        self._on_worker_gone(worker)

    def _on_event(self, run_id: int, event: Event) -> None:
        with self._lock:
            active = self._runs.get(run_id)
            if active is None:
                return
            if event["type"] in TERMINAL:
                self._finish(active, event)
                if active.worker is not None:
                    active.worker.run_id = None
                self._dispatch()
                return
            status = event.get("status", active.status)
            changed = status != active.status
            self._set(active, event)
        if changed and status in ("running", "paused"):
            self._record(run_id, status, None)

    def _on_worker_gone(self, worker: _Worker) -> None:
        worker.process.join(1.0)
        code = worker.process.exitcode
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            active = self._runs.get(worker.run_id) if worker.run_id is not None else None
            if active is not None:
                log.error("run %s: its worker process ended (exit code %s)", active.id, code)
                message = f"{CRASHED} (exit code {code})"
                issue = {"path": "", "message": message, "hint": ""}
                error = {"kind": "internal", "message": message, "path": "", "issues": [issue]}
                self._finish(active, {"type": "failed", "status": "failed", "error": error})
            if not self._closed:
                self._dispatch()

    def _finish(self, active: _Active, event: Event) -> None:
        """The terminal event (under the lock): recorded, published, the run forgotten."""
        event = {"seq": active.last.get("seq", 0) + 1, **event, "run_id": active.id}
        active.status = event["type"]
        self._record(active.id, active.status, event)
        self._set(active, event)
        del self._runs[active.id]

    def _set(self, active: _Active, event: Event) -> None:
        """The run's new state, handed to each of its subscribers (under the lock)."""
        event = {**event, "run_id": active.id}
        active.last = event
        active.status = event.get("status", active.status)
        for loop, queue in active.subscribers:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # that client's loop is gone
                continue

    def _position(self, run_id: int) -> int | None:
        try:
            return self._queue.index(run_id) + 1
        except ValueError:
            return None

    def _queued_event(self, active: _Active, position: int) -> Event:
        return {
            "seq": 0,
            "type": "progress",
            "status": "queued",
            "phase": "queued",
            "position": position,
            "rows_done": 0,
            "rows_expected": None,
            "pages": None,
            "rate": 0.0,
            "eta_s": None,
            "elapsed_s": 0.0,
        }

    def _announce_positions(self) -> None:
        for position, run_id in enumerate(self._queue, start=1):
            active = self._runs[run_id]
            if active.last.get("position") != position:
                self._set(active, self._queued_event(active, position))

    # -- one client's stream ----------------------------------------------------------------

    async def _stream(
        self,
        active: _Active,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Event],
        first: Event,
    ) -> AsyncIterator[Event]:
        try:
            yield first
            if first.get("type") in TERMINAL:
                return
            last, last_at = first, time.monotonic()  # the state last sent, and when
            sent_at, pending = last_at, None
            while True:
                now = time.monotonic()
                if pending is not None:
                    wait = sent_at + MIN_GAP_S - now
                elif last.get("status") == "running":
                    wait = sent_at + HEARTBEAT_S - now
                else:
                    wait = sent_at + PING_S - now
                try:
                    event = await asyncio.wait_for(queue.get(), max(wait, 0.001))
                except TimeoutError:
                    if pending is not None:
                        last, last_at, pending = pending, time.monotonic(), None
                        yield last
                    elif last.get("status") == "running":
                        yield _refreshed(last, time.monotonic() - last_at)
                    else:
                        yield PING
                    sent_at = time.monotonic()
                    continue
                if event is SHUTDOWN:
                    return
                if event.get("type") in TERMINAL:
                    yield event
                    return
                # A new status (started, paused, resumed) goes at once: it answers what the
                # user did or waits for. Progress within a status is coalesced.
                moved = event.get("status") != last.get("status")
                if moved or (pending is None and time.monotonic() - sent_at >= MIN_GAP_S):
                    last, last_at, pending = event, time.monotonic(), None
                    yield event
                    sent_at = last_at
                else:
                    pending = event
        finally:
            with self._lock:
                for subscribers in (active.subscribers, self._streams):
                    if (loop, queue) in subscribers:
                        subscribers.remove((loop, queue))


def _refreshed(event: Event, since_s: float) -> Event:
    """The last progress again, its clock moved on: a run between two batches."""
    return {**event, "elapsed_s": round(float(event.get("elapsed_s") or 0.0) + since_s, 3)}
