"""Runs of reports: the run form's fields, pre-flight estimates, starting, controlling,
history, outputs and deletion. No HTTP types here; errors are `QuireError`s."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import api
from engine.definition import ReportDefinition
from engine.errors import Issue, ParameterError
from web.db.models import Report, Run
from web.errors import Conflict, Gone, NotFound
from web.reports import get_report, latest_version
from web.run_manager import Action, Event, RunManager
from web.run_records import ACTIVE, RunStore
from web.run_worker import RunJob, definition_hash

__all__ = (
    "MEDIA_TYPES",
    "ParamField",
    "control_run",
    "delete_run",
    "get_run",
    "list_runs",
    "output_file",
    "param_fields",
    "preflight",
    "recorded_event",
    "rerun",
    "start_run",
    "watch",
)

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html",  # the response adds "; charset=utf-8"
    "json": "application/json",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "application/zip",
    "svg": "application/zip",
}
_INPUT_TYPES = {
    "string": "text",
    "integer": "number",
    "decimal": "number",
    "date": "date",
    "datetime": "datetime-local",
    "boolean": "checkbox",
    "choice": "select",
}


@dataclass(frozen=True)
class ParamField:
    """One input of the run form, from one of the report's typed parameters."""

    name: str
    label: str
    input: str  # text, number, date, datetime-local, checkbox or select
    value: str
    choices: tuple[str, ...] = ()
    required: bool = False
    step: str = ""  # "any" for decimals


def param_fields(
    definition: ReportDefinition, given: dict[str, Any] | None = None
) -> list[ParamField]:
    """The form's inputs with the given values, else the defaults, filled in."""
    fields = []
    for p in definition.parameters:
        raw = (given or {}).get(p.name, p.default)
        value = "" if raw is None else _form_value(raw)
        fields.append(
            ParamField(
                name=p.name,
                label=p.label or p.name,
                input=_INPUT_TYPES.get(p.type, "text"),
                value=value,
                choices=tuple(p.choices or ()),
                required=p.required,
                step="any" if p.type == "decimal" else "",
            )
        )
    return fields


def definition_of(report: Report) -> tuple[str, int]:
    """The text and number of the report's newest version; a report without one cannot run."""
    latest = latest_version(report)
    if latest is None:
        raise Conflict("the report has no saved version to run; save a valid definition", "report")
    return latest.text, latest.number


def preflight(session: Session, report_id: int, params: dict[str, Any]) -> api.RunEstimate:
    """How big the run would be: rows (COUNT), groups, pages, bytes, seconds."""
    report = get_report(session, report_id)
    text, _ = definition_of(report)
    return api.estimate(text, _source_url(report), params)


def start_run(
    session: Session,
    store: RunStore,
    manager: RunManager,
    report_id: int,
    *,
    params: dict[str, Any],
    fmt: str = "pdf",
) -> Run:
    """Record and queue a run of the report's newest version with `params`.

    Raises:
        NotFound: no such report. Conflict: it has no version or no data source.
        ParameterError: a parameter undeclared or of the wrong type (at `params.NAME`).
        ParameterError: an unknown format (at `format`).
    """
    report = get_report(session, report_id)
    text, number = definition_of(report)
    if fmt not in api.FORMATS:
        hint = "one of " + ", ".join(api.FORMATS)
        raise ParameterError([Issue("format", f"unknown format '{fmt}'", hint)])
    if not isinstance(params, dict):
        raise ParameterError([Issue("params", "must be an object of NAME: value")])
    checked = api.validate(text, None, params)
    error = checked.error()
    if error is not None:
        raise error
    # Every parameter's value, defaults filled in: what the run used, shown in its history
    # and its manifest, and what a rerun uses even if the report's defaults change.
    params = {name: _plain(value) for name, value in (checked.parameters or {}).items()}
    source = _source_url(report)
    run = Run(
        report_id=report.id,
        version_id=latest_version(report).id,  # type: ignore[union-attr]
        format=fmt,
        parameters=params,
        definition_version=number,
        definition_hash=definition_hash(text),
    )
    session.add(run)
    session.commit()
    job = RunJob(
        definition=text,
        source=source,
        params=params,
        format=fmt,
        output_dir=str(store.output_dir(run.id)),
        version=number,
    )
    store.output_dir(run.id).mkdir(parents=True, exist_ok=True)
    manager.submit(run.id, job)
    return run


def rerun(session: Session, store: RunStore, manager: RunManager, run_id: int) -> Run:
    """The same report again, with the same parameters and format (its newest version)."""
    old = get_run(session, run_id)
    return start_run(
        session, store, manager, old.report_id, params=dict(old.parameters), fmt=old.format
    )


def get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"there is no run {run_id} (it may have been deleted)", "run_id")
    return run


def list_runs(session: Session, report_id: int | None = None, limit: int = 200) -> list[Run]:
    """Runs, newest first; of one report when `report_id` is given."""
    statement = sa.select(Run).order_by(Run.created_at.desc(), Run.id.desc()).limit(limit)
    if report_id is not None:
        get_report(session, report_id)
        statement = statement.where(Run.report_id == report_id)
    return list(session.scalars(statement))


def control_run(session: Session, manager: RunManager, run_id: int, action: Action) -> None:
    """Pause, resume or cancel a run.

    Raises:
        NotFound: no such run. Conflict: its status does not allow it (a finished run,
            a resume of a run that is not paused).
    """
    run = get_run(session, run_id)
    if manager.control(run_id, action):
        return
    view = manager.status(run_id)
    status = view.status if view is not None else run.status
    if status not in ACTIVE:
        raise Conflict(
            f"cannot {action} run {run_id}: it has already finished ({status})", "run_id"
        )
    raise Conflict(f"cannot {action} run {run_id} while it is {status}", "run_id")


def delete_run(session: Session, store: RunStore, manager: RunManager, run_id: int) -> None:
    """Remove a finished run and its output; an active run must be cancelled first."""
    run = get_run(session, run_id)
    view = manager.status(run_id)
    if run.status in ACTIVE and view is not None:
        raise Conflict(f"run {run_id} is {view.status}; cancel it before deleting it", "run_id")
    store.delete(session, run_id)
    session.commit()


def output_file(session: Session, run_id: int) -> tuple[Path, str, str]:
    """The run's output to download: (path, media type, file name). PNG and SVG pages come
    as one zip, made on first download.

    Raises:
        NotFound: no such run (or retention removed it). Conflict: not done (yet).
        Gone: the output file is no longer on disk.
    """
    run = get_run(session, run_id)
    if run.status != "done":
        raise Conflict(f"run {run_id} has no output: it is {run.status}, not done", "run_id")
    if run.output_path is None or not Path(run.output_path).exists():
        raise Gone(f"the output of run {run_id} was removed", "run_id")
    path = Path(run.output_path)
    if path.is_dir():
        path = _zipped(path)
    return path, MEDIA_TYPES.get(run.format, "application/octet-stream"), path.name


def _zipped(folder: Path) -> Path:
    target = folder.with_name(folder.name + ".zip")
    if not target.exists():
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
            for page in sorted(folder.iterdir()):
                archive.write(page, page.name)
        partial.rename(target)
    return target


def _source_url(report: Report) -> str:
    if report.source is None:
        raise Conflict("the report has no data source; choose one first", "source")
    return report.source.url


def _plain(value: Any) -> Any:
    """A typed parameter value as JSON holds it, and as the engine reads it back."""
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value


def _form_value(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, date):
        return raw.isoformat()
    return str(raw)


async def watch(manager: RunManager, store: RunStore, run_id: int) -> AsyncIterator[Event]:
    """A run's events for one client: its current state at once, then what happens, ending
    with its terminal event. A run that finished earlier gives its terminal event from the
    record; one that does not exist gives a `failed` event saying so (never an error an
    EventSource would retry forever)."""
    stream = manager.events(run_id)
    if stream is not None:
        async for event in stream:
            yield event
        return
    yield recorded_event(store, run_id)


def recorded_event(store: RunStore, run_id: int) -> Event:
    """The terminal event of a run that is not active here, from its record."""
    with store.database.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            message = f"there is no run {run_id} (it may have been deleted)"
            error = {"kind": "not_found", "message": message, "path": "run_id", "issues": []}
            return {
                "seq": 0,
                "run_id": run_id,
                "type": "failed",
                "status": "failed",
                "error": error,
            }
        status = run.status if run.status not in ACTIVE else "interrupted"
        event: Event = {"seq": 0, "run_id": run_id, "type": status, "status": status}
        event.update(rows=run.rows, pages=run.pages, elapsed_s=run.duration_s)
        if run.error is not None:
            event["error"] = run.error
        if run.manifest is not None:
            event["manifest"] = run.manifest
        return event
