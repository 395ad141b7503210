"""Runs in the browser: the run form's answers, the live panel (SSE), controls, history,
downloads and manifests. The JSON API's twins are in `web.routes.api.runs`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import File, Redirect, ServerSentEvent, ServerSentEventMessage, Template
from sqlalchemy.orm import Session

from engine.errors import QuireError
from web import runs
from web.db.models import Run
from web.pages import Preflight, RunFormErrors, RunPanel, RunRow, RunsPage, RunState
from web.reports import get_report
from web.routes._render import render
from web.run_manager import PING, TERMINAL, Event, RunManager
from web.run_records import RunStore
from web.settings import Settings

__all__ = (
    "cancel",
    "delete_run",
    "estimate_run",
    "events",
    "manifest",
    "output",
    "pause",
    "report_runs",
    "rerun",
    "resume",
    "run_page",
    "runs_page",
    "start_run",
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
_NOT_PARAMS = ("_csrf_token", "format", "confirmed")
# Where each phase puts the progress bar: loading fills most of it, by rows.
_PHASE_PERCENT = {"queued": 0, "planning": 2, "charts": 5, "loading": 5, "typesetting": 85}
_PHASE_PERCENT.update(writing=95)


@post("/reports/{report_id:int}/runs", status_code=200, sync_to_thread=True)
def start_run(
    *,
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    run_store: NamedDependency[RunStore],
    run_manager: NamedDependency[RunManager],
    report_id: FromPath[int],
    data: Form,
    confirmed: FromQuery[bool] = False,
) -> Template:
    """Start a run from the form: the live panel; 422 with the errors beside the inputs;
    or, for a run estimated above the configured size, the question first."""
    fmt, params = _form(data)
    report = get_report(session, report_id)
    names = [f.name for f in runs.param_fields(_definition(report))]
    try:
        if not confirmed:
            estimate = runs.preflight(session, report_id, params)
            if estimate.rows > settings.confirm_rows:
                asked = render("_preflight.html", _preflight(report_id, estimate, settings, True))
                asked.headers["HX-Retarget"] = "#preflight"  # in place of an earlier estimate
                return asked
        run = runs.start_run(session, run_store, run_manager, report_id, params=params, fmt=fmt)
    except QuireError as error:
        return render("_run_errors.html", _form_errors(names, error), 422)
    return render("_run.html", _panel(run, run_manager, clear=names))


@post("/reports/{report_id:int}/estimate", status_code=200, sync_to_thread=True)
def estimate_run(
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    report_id: FromPath[int],
    data: Form,
) -> Template:
    """The pre-flight figures for the form's parameters (or 422 with the errors)."""
    _, params = _form(data)
    report = get_report(session, report_id)
    names = [f.name for f in runs.param_fields(_definition(report))]
    try:
        estimate = runs.preflight(session, report_id, params)
    except QuireError as error:
        return render("_run_errors.html", _form_errors(names, error), 422)
    return render("_preflight.html", _preflight(report_id, estimate, settings, False))


@get("/runs", sync_to_thread=True)
def runs_page(session: NamedDependency[Session]) -> Template:
    return render("runs.html", RunsPage("All runs", None, _rows(runs.list_runs(session))))


@get("/reports/{report_id:int}/runs", sync_to_thread=True)
def report_runs(session: NamedDependency[Session], report_id: FromPath[int]) -> Template:
    title = get_report(session, report_id).title
    rows = _rows(runs.list_runs(session, report_id))
    return render("runs.html", RunsPage(f"Runs of {title}", report_id, rows))


@get("/runs/{run_id:int}", sync_to_thread=True)
def run_page(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> Template:
    return render("run.html", _panel(runs.get_run(session, run_id), run_manager))


@get("/runs/{run_id:int}/events")
async def events(
    request: Request[Any, Any, Any],
    run_store: NamedDependency[RunStore],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> ServerSentEvent:
    """The run's state as HTML fragments: `progress`, then its terminal event (`done`,
    `failed`, `cancelled` or `interrupted`) and `end`, which closes the browser's stream."""
    engine = request.app.template_engine
    assert engine is not None  # create_app configures Jinja
    template = engine.get_template("_run_state.html")

    async def fragments() -> AsyncIterator[ServerSentEventMessage]:
        async for event in runs.watch(run_manager, run_store, run_id):
            if event is PING:
                yield ServerSentEventMessage(comment="ping", data=None)
                continue
            html = template.render(page=state_of(event, run_id), request=request)
            yield ServerSentEventMessage(data=html, event=event["type"], id=event.get("seq"))
            if event["type"] in TERMINAL:
                yield ServerSentEventMessage(data="", event="end")

    return ServerSentEvent(fragments())


@post("/runs/{run_id:int}/pause", status_code=204, sync_to_thread=True)
def pause(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> None:
    """Pause (204; the stream shows it); 409 unless running."""
    runs.control_run(session, run_manager, run_id, "pause")


@post("/runs/{run_id:int}/resume", status_code=204, sync_to_thread=True)
def resume(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> None:
    """Resume (204); 409 unless paused."""
    runs.control_run(session, run_manager, run_id, "resume")


@post("/runs/{run_id:int}/cancel", status_code=204, sync_to_thread=True)
def cancel(
    session: NamedDependency[Session],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> None:
    """Cancel (204); 409 for a finished run. A cancelled run leaves no output."""
    runs.control_run(session, run_manager, run_id, "cancel")


@post("/runs/{run_id:int}/rerun", sync_to_thread=True)
def rerun(
    session: NamedDependency[Session],
    run_store: NamedDependency[RunStore],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> Redirect:
    run = runs.rerun(session, run_store, run_manager, run_id)
    return Redirect(f"/runs/{run.id}", status_code=303)


@post("/runs/{run_id:int}/delete", status_code=200, sync_to_thread=True)
def delete_run(
    session: NamedDependency[Session],
    run_store: NamedDependency[RunStore],
    run_manager: NamedDependency[RunManager],
    run_id: FromPath[int],
) -> Response[str]:
    """Delete a finished run and its output; its history row swaps to nothing."""
    runs.delete_run(session, run_store, run_manager, run_id)
    return Response("", media_type="text/html")


@get("/runs/{run_id:int}/output", sync_to_thread=True)
def output(session: NamedDependency[Session], run_id: FromPath[int]) -> File:
    path, media_type, filename = runs.output_file(session, run_id)
    return File(path, filename=filename, media_type=media_type)


@get("/runs/{run_id:int}/manifest.json", sync_to_thread=True)
def manifest(session: NamedDependency[Session], run_id: FromPath[int]) -> Response[Any]:
    run = runs.get_run(session, run_id)
    return Response(run.manifest or {}, media_type="application/json")


# -- helpers ------------------------------------------------------------------------------------


def state_of(event: Event, run_id: int) -> RunState:
    """What a run's event shows: the progress bar's percent, counts, the outcome."""
    status = str(event.get("status") or event["type"])
    phase = str(event.get("phase") or "")
    rows, expected = (
        int(event.get("rows_done") or event.get("rows") or 0),
        event.get("rows_expected"),
    )
    percent = _PHASE_PERCENT.get(phase, 0)
    if phase == "loading" and expected:
        percent = 5 + int(80 * min(rows / expected, 1.0))
    if status == "done":
        percent = 100
    error = event.get("error") or {}
    manifest = event.get("manifest") or {}
    return RunState(
        run_id=run_id,
        status=status,
        phase=phase,
        percent=percent,
        rows_done=rows,
        rows_expected=expected,
        pages=event.get("pages"),
        rate=float(event.get("rate") or 0.0),
        eta_s=event.get("eta_s"),
        elapsed_s=float(event.get("elapsed_s") or 0.0),
        position=event.get("position"),
        error=str(error.get("message", "")),
        error_issues=list(error.get("issues") or []),
        notes=list(manifest.get("notes") or []),
        retries=int((manifest.get("load") or {}).get("retries") or 0),
    )


def _panel(run: Run, manager: RunManager, clear: list[str] | None = None) -> RunPanel:
    view = manager.status(run.id)
    event = view.last if view is not None and view.last else _recorded(run)
    state = state_of(event, run.id)
    return RunPanel(run.id, run.report_id, run.report.title, run.format, state, clear)


def _recorded(run: Run) -> Event:
    event: Event = {"type": run.status, "status": run.status, "rows": run.rows}
    event.update(pages=run.pages, elapsed_s=run.duration_s, error=run.error, manifest=run.manifest)
    return event


def _rows(found: list[Run]) -> list[RunRow]:
    return [
        RunRow(
            id=r.id,
            report_id=r.report_id,
            report_title=r.report.title,
            status=r.status,
            format=r.format,
            parameters=dict(r.parameters),
            created_at=r.created_at,
            duration_s=r.duration_s,
            rows=r.rows,
            pages=r.pages,
            bytes=r.bytes,
            strategy=r.strategy,
            error=str((r.error or {}).get("message", "")),
        )
        for r in found
    ]


def _form(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The format and the parameters of a run form (a checkbox's last value wins)."""
    values = {k: (v[-1] if isinstance(v, list) else v) for k, v in data.items()}
    params = {k: v for k, v in values.items() if k not in _NOT_PARAMS}
    return str(values.get("format") or "pdf"), params


def _form_errors(names: list[str], error: QuireError) -> RunFormErrors:
    errors: dict[str, str] = {}
    rest: list[str] = []
    for issue in error.issues:
        name = issue.path.removeprefix("params.")
        if name in names and name != issue.path:
            errors[name] = issue.message + (f" ({issue.hint})" if issue.hint else "")
        else:
            rest.append(f"{issue.path}: {issue.message}" if issue.path else issue.message)
    return RunFormErrors(names, errors, "; ".join(rest))


def _preflight(report_id: int, estimate: Any, settings: Settings, confirm: bool) -> Preflight:
    return Preflight(
        report_id,
        estimate.rows,
        estimate.pages,
        estimate.seconds,
        estimate.bytes,
        confirm,
        settings.confirm_rows,
    )


def _definition(report: Any) -> Any:
    from engine.document import parse_definition

    text, _ = runs.definition_of(report)
    return parse_definition(text)
