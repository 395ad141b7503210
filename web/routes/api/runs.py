"""/api/runs: start, list, get (with the manifest), events (SSE, JSON data), pause, resume,
cancel, output, delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File, ServerSentEvent, ServerSentEventMessage
from sqlalchemy.orm import Session

from web import runs
from web.db.models import Run
from web.run_manager import PING, RunManager
from web.run_records import RunStore

__all__ = (
    "api_cancel_run",
    "api_delete_run",
    "api_get_run",
    "api_list_runs",
    "api_pause_run",
    "api_resume_run",
    "api_run_events",
    "api_run_output",
    "api_start_run",
)


@dataclass
class RunIn:
    report: int
    params: dict[str, Any] = field(default_factory=dict)
    format: str = "pdf"


@dataclass
class RunStarted:
    id: int
    status: str
    events_url: str
    output_url: str


@dataclass
class RunOut:
    id: int
    report: int
    status: str
    format: str
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    rows: int | None
    pages: int | None
    bytes: int | None
    strategy: str | None
    error: dict[str, Any] | None
    definition_version: int | None
    definition_hash: str | None
    events_url: str
    output_url: str
    position: int | None = None
    progress: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None


@post("/runs", status_code=202, sync_to_thread=True)
def api_start_run(
    session: NamedDependency[Session],
    run_store: NamedDependency[RunStore],
    run_manager: NamedDependency[RunManager],
    data: JSONBody[RunIn],
) -> RunStarted:
    """Queue a run of a report's newest version: 202 with where to follow it; 404 for an
    unknown report, 422 for parameters undeclared or of the wrong type."""
    run = runs.start_run(
        session, run_store, run_manager, data.report, params=data.params, fmt=data.format
    )
    return RunStarted(run.id, run.status, _events_url(run.id), _output_url(run.id))


@get("/runs", sync_to_thread=True)
def api_list_runs(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    report: FromQuery[int | None] = None,
) -> list[RunOut]:
    """Runs, newest first; `report` keeps one report's."""
    return [_out(r, run_manager, manifest=False) for r in runs.list_runs(session, report)]


@get("/runs/{run_id:int}", sync_to_thread=True)
def api_get_run(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> RunOut:
    """A run: its status and figures, its live progress while active, the manifest once done."""
    return _out(runs.get_run(session, run_id), run_manager, manifest=True)


@get("/runs/{run_id:int}/events")
async def api_run_events(
    run_store: NamedDependency[RunStore],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> ServerSentEvent:
    """Server-sent events, data JSON: `progress` (at most 10 a second, at least every 250 ms
    while running), then one of `done`, `failed`, `cancelled` (or `interrupted`). An unknown
    run gives one `failed` event whose error kind is `not_found`."""

    async def messages() -> AsyncIterator[ServerSentEventMessage]:
        async for event in runs.watch(run_manager, run_store, run_id):
            if event is PING:
                yield ServerSentEventMessage(comment="ping", data=None)
            else:
                data = json.dumps(event, default=str, separators=(",", ":"))
                yield ServerSentEventMessage(data=data, event=event["type"], id=event.get("seq"))

    return ServerSentEvent(messages())


@post("/runs/{run_id:int}/pause", status_code=202, sync_to_thread=True)
def api_pause_run(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> RunOut:
    """Pause at the next batch (202); 409 unless running."""
    runs.control_run(session, run_manager, run_id, "pause")
    return _out(runs.get_run(session, run_id), run_manager, manifest=False)


@post("/runs/{run_id:int}/resume", status_code=202, sync_to_thread=True)
def api_resume_run(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> RunOut:
    """Resume a paused run (202); 409 unless paused."""
    runs.control_run(session, run_manager, run_id, "resume")
    return _out(runs.get_run(session, run_id), run_manager, manifest=False)


@post("/runs/{run_id:int}/cancel", status_code=202, sync_to_thread=True)
def api_cancel_run(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> RunOut:
    """Cancel at the next batch (202); 409 for a finished run. It leaves no output."""
    runs.control_run(session, run_manager, run_id, "cancel")
    return _out(runs.get_run(session, run_id), run_manager, manifest=False)


@get("/runs/{run_id:int}/output", sync_to_thread=True)
def api_run_output(session: NamedDependency[Session], run_id: FromPath[int]) -> File:
    """The output (PNG/SVG pages as a zip): 409 before the run is done, 404 for an unknown
    or removed run, 410 when its file is gone."""
    path, media_type, filename = runs.output_file(session, run_id)
    return File(path, filename=filename, media_type=media_type)


@delete("/runs/{run_id:int}", sync_to_thread=True)
def api_delete_run(
    session: NamedDependency[Session],
    run_store: NamedDependency[RunStore],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> None:
    """Delete a finished run and its output; 409 while it is active."""
    runs.delete_run(session, run_store, run_manager, run_id)


def _out(run: Run, manager: RunManager, *, manifest: bool) -> RunOut:
    view = manager.status(run.id)
    return RunOut(
        id=run.id,
        report=run.report_id,
        status=view.status if view is not None else run.status,
        format=run.format,
        params=dict(run.parameters),
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        rows=run.rows,
        pages=run.pages,
        bytes=run.bytes,
        strategy=run.strategy,
        error=run.error,
        definition_version=run.definition_version,
        definition_hash=run.definition_hash,
        events_url=_events_url(run.id),
        output_url=_output_url(run.id),
        position=view.position if view is not None else None,
        progress=view.last if view is not None else None,
        manifest=run.manifest if manifest else None,
    )


def _events_url(run_id: int) -> str:
    return f"/api/runs/{run_id}/events"


def _output_url(run_id: int) -> str:
    return f"/api/runs/{run_id}/output"
