"""/api/reports: list, create, get, replace, delete, validate, versions, diff, elements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.orm import Session

from web import reports
from web.db.models import Report
from web.http_errors import error_body
from web.reports import SaveOutcome

__all__ = (
    "api_create_report",
    "api_delete_report",
    "api_diff",
    "api_element",
    "api_get_report",
    "api_get_version",
    "api_list_reports",
    "api_replace_report",
    "api_restore_version",
    "api_validate",
    "api_versions",
)


@dataclass
class ReportOut:
    id: int
    title: str
    description: str
    tags: list[str]
    source_id: int | None
    version: int | None
    has_draft: bool
    updated_at: datetime


@dataclass
class ReportDetail(ReportOut):
    definition: str
    draft: str | None
    draft_errors: list[dict[str, Any]]


@dataclass
class ReportIn:
    definition: str
    source_id: int
    tags: list[str] = field(default_factory=list)


@dataclass
class DefinitionIn:
    definition: str


@dataclass
class SaveOut:
    ok: bool
    saved: bool
    version: int | None


@dataclass
class VersionOut:
    number: int
    note: str
    created_at: datetime


@dataclass
class VersionDetail(VersionOut):
    definition: str


@get("/reports", sync_to_thread=True)
def api_list_reports(
    session: NamedDependency[Session], q: FromQuery[str] = "", tag: FromQuery[str] = ""
) -> list[ReportOut]:
    cards = reports.list_reports(session, q, tag)
    return [_out(reports.get_report(session, card.id)) for card in cards]


@post("/reports", sync_to_thread=True)
def api_create_report(session: NamedDependency[Session], data: JSONBody[ReportIn]) -> ReportDetail:
    """Create a report; 422 with every problem if the definition does not validate."""
    return _detail(reports.create_report(session, data.definition, data.source_id, data.tags))


@get("/reports/{report_id:int}", sync_to_thread=True)
def api_get_report(session: NamedDependency[Session], report_id: FromPath[int]) -> ReportDetail:
    return _detail(reports.get_report(session, report_id))


@put("/reports/{report_id:int}", sync_to_thread=True)
def api_replace_report(
    session: NamedDependency[Session], report_id: FromPath[int], data: JSONBody[DefinitionIn]
) -> Any:
    """Save a new version; an invalid definition is kept as the draft and answered with 422."""
    return _save(reports.save_definition(session, report_id, data.definition))


@delete("/reports/{report_id:int}", sync_to_thread=True)
def api_delete_report(session: NamedDependency[Session], report_id: FromPath[int]) -> None:
    reports.delete_report(session, report_id)


@post("/reports/{report_id:int}/validate", status_code=200, sync_to_thread=True)
def api_validate(
    session: NamedDependency[Session], report_id: FromPath[int], data: JSONBody[DefinitionIn]
) -> SaveOut:
    """Check a definition against the report's source without storing anything."""
    report = reports.get_report(session, report_id)
    reports.validate_definition(data.definition, report.source)
    return SaveOut(ok=True, saved=False, version=None)


@get("/reports/{report_id:int}/versions", sync_to_thread=True)
def api_versions(session: NamedDependency[Session], report_id: FromPath[int]) -> list[VersionOut]:
    report = reports.get_report(session, report_id)
    return [VersionOut(v.number, v.note, v.created_at) for v in report.versions]


@get("/reports/{report_id:int}/versions/{number:int}", sync_to_thread=True)
def api_get_version(
    session: NamedDependency[Session], report_id: FromPath[int], number: FromPath[int]
) -> VersionDetail:
    v = reports.get_version(session, report_id, number)
    return VersionDetail(v.number, v.note, v.created_at, v.text)


@post(
    "/reports/{report_id:int}/versions/{number:int}/restore", status_code=200, sync_to_thread=True
)
def api_restore_version(
    session: NamedDependency[Session], report_id: FromPath[int], number: FromPath[int]
) -> Any:
    return _save(reports.restore_version(session, report_id, number))


@get("/reports/{report_id:int}/diff", sync_to_thread=True)
def api_diff(
    session: NamedDependency[Session],
    report_id: FromPath[int],
    old: FromQuery[int],
    new: FromQuery[int],
) -> dict[str, Any]:
    return {"old": old, "new": new, "diff": reports.diff_versions(session, report_id, old, new)}


@get("/reports/{report_id:int}/element", sync_to_thread=True)
def api_element(
    session: NamedDependency[Session], report_id: FromPath[int], path: FromQuery[str]
) -> dict[str, Any]:
    """The piece of the newest definition at `path`, e.g. `bands.detail.elements[2]`."""
    return {"path": path, "element": reports.element_at(session, report_id, path)}


def _save(outcome: SaveOutcome) -> Any:
    from litestar import Response

    if outcome.saved:
        return SaveOut(ok=True, saved=True, version=outcome.version)
    body = error_body(422, "the definition does not validate; kept as the draft", outcome.issues)
    return Response(body, status_code=422)


def _out(report: Report) -> ReportOut:
    latest = reports.latest_version(report)
    return ReportOut(
        report.id,
        report.title,
        report.description,
        list(report.tags),
        report.source_id,
        latest.number if latest else None,
        report.draft_text is not None,
        report.updated_at,
    )


def _detail(report: Report) -> ReportDetail:
    latest = reports.latest_version(report)
    return ReportDetail(
        **vars(_out(report)),
        definition=latest.text if latest else "",
        draft=report.draft_text,
        draft_errors=list(report.draft_errors or []),
    )
