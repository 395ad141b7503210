"""One client's stream of a run (no worker process): progress coalesced to at most 10
events a second, the state repeated at least every 250 ms while running, a keep-alive
while nothing moves, the terminal event last, and nothing left behind by a client."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest

from web import run_manager
from web.run_manager import PING, EmbeddedRunManager, _Active


def _manager() -> tuple[EmbeddedRunManager, _Active, list[tuple[int, str]]]:
    recorded: list[tuple[int, str]] = []
    manager = EmbeddedRunManager(
        1, lambda run_id, status, _event: recorded.append((run_id, status))
    )
    active = _Active(1, {})  # type: ignore[typeddict-item]
    manager._runs[1] = active
    manager._set(active, {"seq": 1, "type": "progress", "status": "running", "elapsed_s": 0.0})
    return manager, active, recorded


def _emit(
    manager: EmbeddedRunManager, active: _Active, events: list[dict[str, Any]], gap: float
) -> None:
    def emit() -> None:
        for event in events:
            time.sleep(gap)
            if event["type"] == "progress":
                with manager._lock:
                    manager._set(active, event)
            else:
                manager._on_event(1, event)

    threading.Thread(target=emit, daemon=True).start()


async def _collect(manager: EmbeddedRunManager) -> list[tuple[float, dict[str, Any]]]:
    stream = manager.events(1)
    assert stream is not None
    started = time.monotonic()
    return [(time.monotonic() - started, event) async for event in stream]


def test_a_fast_run_is_coalesced_to_at_most_ten_events_a_second() -> None:
    manager, active, recorded = _manager()
    burst = [
        {"seq": i, "type": "progress", "status": "running", "rows_done": i, "elapsed_s": 0.0}
        for i in range(2, 400)
    ]
    done = {"seq": 400, "type": "done", "status": "done", "rows": 400}
    _emit(manager, active, [*burst, done], 0.002)  # 500 events a second for 0.8 s
    got = asyncio.run(_collect(manager))
    times = [t for t, _ in got]
    assert got[-1][1]["type"] == "done"
    progress = [t for t, e in got if e["type"] == "progress"]
    gaps = [b - a for a, b in itertools.pairwise(progress[1:])]
    assert min(gaps) >= 0.09  # never more than 10 a second (the snapshot aside)
    assert len(progress) <= 2 + 10 * times[-1] + 1
    assert (1, "done") in recorded
    assert manager.events(1) is None  # finished: not active any more


def test_a_new_status_is_sent_at_once_not_held_for_the_rate_limit() -> None:
    manager, active, _ = _manager()
    queued = {"seq": 0, "type": "progress", "status": "queued", "elapsed_s": 0.0}
    with manager._lock:
        manager._set(active, queued)
    started = {"seq": 1, "type": "progress", "status": "running", "elapsed_s": 0.0}
    more = {"seq": 2, "type": "progress", "status": "running", "rows_done": 5, "elapsed_s": 0.0}
    paused = {"seq": 3, "type": "progress", "status": "paused", "elapsed_s": 0.0}
    done = {"seq": 4, "type": "done", "status": "done", "rows": 5}
    _emit(manager, active, [started, more, paused, done], 0.01)
    got = asyncio.run(_collect(manager))
    at = {e.get("seq"): t for t, e in got}
    assert [e["status"] for _, e in got][:2] == ["queued", "running"]
    assert at[1] < 0.05  # not 0.1 s after the queued state
    assert at[3] - at[1] < 0.09  # the pause too, though progress came between
    assert 2 not in at  # that progress was superseded by the pause before it was due
    assert got[-1][1]["type"] == "done"


def test_a_slow_run_repeats_its_state_at_least_every_250_ms() -> None:
    manager, active, _ = _manager()
    done = {"seq": 2, "type": "done", "status": "done", "rows": 1}
    _emit(manager, active, [done], 1.2)
    got = asyncio.run(_collect(manager))
    times = [t for t, _ in got]
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.3
    assert len(got) >= 5
    clocks = [e["elapsed_s"] for _, e in got if e["type"] == "progress"]
    assert clocks == sorted(clocks)
    assert clocks[-1] > 0.8  # the clock moves on between batches


def test_a_paused_run_gets_keep_alive_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_manager, "PING_S", 0.2)
    manager, active, _ = _manager()
    paused = {"seq": 2, "type": "progress", "status": "paused", "elapsed_s": 0.1}
    with manager._lock:
        manager._set(active, paused)
    _emit(manager, active, [{"seq": 3, "type": "cancelled", "status": "cancelled"}], 0.7)
    got = asyncio.run(_collect(manager))
    kinds = [e["type"] for _, e in got]
    assert kinds[0] == "progress"
    assert kinds.count("ping") >= 2
    assert all(e is PING for _, e in got if e["type"] == "ping")
    assert kinds[-1] == "cancelled"


def test_a_client_that_goes_away_leaves_no_subscriber() -> None:
    manager, active, _ = _manager()

    async def read_one_then_leave() -> None:
        stream = manager.events(1)
        assert stream is not None
        async for _event in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(read_one_then_leave())
    assert active.subscribers == []
    assert manager._streams == []


def test_shutdown_ends_every_stream() -> None:
    manager, _, _ = _manager()
    threading.Thread(
        target=lambda: (time.sleep(0.3), manager.begin_shutdown()), daemon=True
    ).start()
    got = asyncio.run(_collect(manager))
    assert got[-1][0] < 2.0
    assert all(e["type"] == "progress" for _, e in got)
