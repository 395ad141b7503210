"""A report's page: the YAML editor (saved with htmx), tags, versions, diff, restore, export."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import File, Redirect, Template
from sqlalchemy.orm import Session

from engine import api
from engine.document import parse_definition
from engine.errors import Issue
from web import reports, runs, sources
from web.db.models import Report
from web.errors import NotFound
from web.pages import DiffPage, ReportPage, SaveResult, Thumbnail, VersionRow, VersionsPage
from web.routes._render import render
from web.thumbnails import Thumbnails

__all__ = (
    "delete_report",
    "diff_versions",
    "duplicate_report",
    "export_report",
    "report_page",
    "restore_version",
    "save_definition",
    "set_tags",
    "thumbnail",
    "thumbnail_slot",
    "versions_page",
)


@get("/reports/{report_id:int}", sync_to_thread=True)
def report_page(session: NamedDependency[Session], report_id: FromPath[int]) -> Template:
    return render("report.html", _report_page(session, reports.get_report(session, report_id)))


@dataclass
class DefinitionForm:
    definition: str


@post("/reports/{report_id:int}/definition", sync_to_thread=True)
def save_definition(
    session: NamedDependency[Session],
    thumbnails: NamedDependency[Thumbnails],
    report_id: FromPath[int],
    data: URLEncodedBody[DefinitionForm],
) -> Template:
    """Save the editor's text: 200 with the new version, or 422 with the problems beside it."""
    outcome = reports.save_definition(session, report_id, data.definition)
    if outcome.saved:
        thumbnails.request(report_id)
    result = SaveResult(outcome.saved, outcome.version, list(outcome.issues))
    return render("_save_result.html", result, 200 if outcome.saved else 422)


@dataclass
class TagsForm:
    tags: str = ""


@post("/reports/{report_id:int}/tags", sync_to_thread=True)
def set_tags(
    session: NamedDependency[Session], report_id: FromPath[int], data: URLEncodedBody[TagsForm]
) -> Redirect:
    reports.set_tags(session, report_id, data.tags.split(","))
    return Redirect(f"/reports/{report_id}", status_code=303)


@post("/reports/{report_id:int}/duplicate", sync_to_thread=True)
def duplicate_report(session: NamedDependency[Session], report_id: FromPath[int]) -> Redirect:
    copy = reports.duplicate_report(session, report_id)
    return Redirect(f"/reports/{copy.id}", status_code=303)


@post("/reports/{report_id:int}/delete", status_code=200, sync_to_thread=True)
def delete_report(
    session: NamedDependency[Session], report_id: FromPath[int], then: FromQuery[str] = ""
) -> Response[str]:
    """Delete (the button asks for confirmation first); the gallery's card swaps to nothing."""
    reports.delete_report(session, report_id)
    headers = {"HX-Redirect": "/"} if then == "gallery" else {}
    return Response("", media_type="text/html", headers=headers)


@get("/reports/{report_id:int}/export.yaml", sync_to_thread=True)
def export_report(session: NamedDependency[Session], report_id: FromPath[int]) -> Response[str]:
    filename, text = reports.export_definition(session, report_id)
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@get("/reports/{report_id:int}/versions", sync_to_thread=True)
def versions_page(session: NamedDependency[Session], report_id: FromPath[int]) -> Template:
    report = reports.get_report(session, report_id)
    rows = _version_rows(report)
    return render("versions.html", VersionsPage(report.id, report.title, rows))


@get("/reports/{report_id:int}/diff", sync_to_thread=True)
def diff_versions(
    session: NamedDependency[Session],
    report_id: FromPath[int],
    old: FromQuery[int],
    new: FromQuery[int],
) -> Template:
    lines = reports.diff_versions(session, report_id, old, new)
    title = reports.get_report(session, report_id).title
    return render("diff.html", DiffPage(report_id, title, old, new, lines))


@post("/reports/{report_id:int}/versions/{number:int}/restore", sync_to_thread=True)
def restore_version(
    session: NamedDependency[Session],
    thumbnails: NamedDependency[Thumbnails],
    report_id: FromPath[int],
    number: FromPath[int],
) -> Redirect:
    if reports.restore_version(session, report_id, number).saved:
        thumbnails.request(report_id)
    return Redirect(f"/reports/{report_id}", status_code=303)


@get("/reports/{report_id:int}/thumbnail.png", sync_to_thread=True)
def thumbnail(
    session: NamedDependency[Session],
    thumbnails: NamedDependency[Thumbnails],
    report_id: FromPath[int],
) -> File:
    """The thumbnail of the report's newest version: 404 until it has been rendered."""
    key = reports.thumbnail_key_of(session, report_id)
    path = thumbnails.path(key) if key else None
    if path is None or not path.is_file():
        if key:
            thumbnails.request(report_id)
        raise NotFound("the thumbnail is not rendered yet", "report_id")
    return File(path, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


@get("/reports/{report_id:int}/thumbnail-slot", sync_to_thread=True)
def thumbnail_slot(
    session: NamedDependency[Session],
    thumbnails: NamedDependency[Thumbnails],
    report_id: FromPath[int],
) -> Response[str] | Template:
    """What a gallery card waiting for its thumbnail polls: 204 while it is being rendered,
    then the image (200); 286 (htmx: stop polling) with nothing when there will be none."""
    key = reports.thumbnail_key_of(session, report_id)
    state = thumbnails.state(report_id, key) if key else "failed"
    if state == "pending":
        return Response("", status_code=204)
    if state == "failed" or key is None:
        return Response("", media_type="text/html", status_code=286)
    return render("_thumb.html", Thumbnail(report_id, url=thumbnails.url(report_id, key)))


def _report_page(session: NamedDependency[Session], report: Report) -> ReportPage:
    latest = reports.latest_version(report)
    draft = report.draft_text is not None
    issues = [Issue(e["path"], e["message"], e.get("hint", "")) for e in report.draft_errors or []]
    return ReportPage(
        id=report.id,
        title=report.title,
        description=report.description,
        tags=list(report.tags),
        source=sources.summarize(session, report.source) if report.source else None,
        text=report.draft_text if draft and report.draft_text else (latest.text if latest else ""),
        version=latest.number if latest else None,
        draft_issues=issues,
        versions=_version_rows(report),
        run_fields=runs.param_fields(parse_definition(latest.text)) if latest else [],
        formats=tuple(api.FORMATS),
    )


def _version_rows(report: Report) -> list[VersionRow]:
    return [VersionRow(v.number, v.created_at, v.note) for v in reversed(report.versions)]
