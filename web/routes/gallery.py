"""The gallery: report cards, search as you type, tag filter, new, import."""

from __future__ import annotations

from dataclasses import dataclass, replace

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromQuery, MultipartBody, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from engine.errors import DefinitionError, QuireError
from web import reports, sources
from web.http_errors import status_of
from web.pages import GalleryPage
from web.routes._render import render
from web.settings import Settings
from web.thumbnails import Thumbnails

__all__ = ("gallery", "import_report", "new_report")


@get("/", sync_to_thread=True)
def gallery(
    request: Request,  # type: ignore[type-arg]
    *,
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    thumbnails: NamedDependency[Thumbnails],
    q: FromQuery[str] = "",
    tag: FromQuery[str] = "",
) -> Template:
    """The whole page, or only the cards when htmx asks while the user types. Cards whose
    thumbnail is not rendered yet ask for it (in the background) and show none meanwhile."""
    page = _gallery(session, settings, q, tag)
    page = replace(page, cards=[_with_thumbnail(card, thumbnails) for card in page.cards])
    response = render("_cards.html" if request.headers.get("hx-request") else "gallery.html", page)
    response.headers["Vary"] = "HX-Request"
    return response


@dataclass
class NewReportForm:
    source_id: int
    example: str = ""


@post("/reports", sync_to_thread=True)
def new_report(
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    data: URLEncodedBody[NewReportForm],
) -> Redirect | Template:
    """A blank report, or one from an example, on the chosen source: opened in the designer."""
    try:
        if data.example:
            text = reports.example_text(settings.examples_dir, data.example)
        else:
            text = reports.blank_definition(session, data.source_id)
        report = reports.create_report(session, text, data.source_id)
    except QuireError as error:
        return render(
            "gallery.html", _gallery(session, settings, error=str(error)), status_of(error)
        )
    return Redirect(f"/reports/{report.id}/design", status_code=303)  # build it there


@dataclass
class ImportForm:
    file: UploadFile
    source_id: int
    tags: str = ""


@post("/reports/import", sync_to_thread=True)
def import_report(
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    data: MultipartBody[ImportForm],
) -> Redirect | Template:
    """A report from an uploaded YAML file; nothing is stored unless it validates."""
    try:
        raw = data.file.file.read(reports.MAX_DEFINITION_BYTES + 1)
        text = _decode(raw, data.file.filename)
        report = reports.create_report(session, text, data.source_id, data.tags.split(","))
    except QuireError as error:
        page = _gallery(session, settings, error=f"{data.file.filename}: {error}")
        return render("gallery.html", page, status_of(error))
    return Redirect(f"/reports/{report.id}", status_code=303)


def _with_thumbnail(card: reports.ReportCard, thumbnails: Thumbnails) -> reports.ReportCard:
    if card.thumbnail_key is None:
        return card
    return replace(card, thumbnail_url=thumbnails.url(card.id, card.thumbnail_key))


def _decode(raw: bytes, filename: str) -> str:
    from web.errors import TooLarge

    if len(raw) > reports.MAX_DEFINITION_BYTES:
        raise TooLarge(f"over the limit of {reports.MAX_DEFINITION_BYTES:,} bytes", filename)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DefinitionError("not a UTF-8 text file", filename) from None


def _gallery(
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    query: str = "",
    tag: str = "",
    error: str = "",
) -> GalleryPage:
    return GalleryPage(
        cards=reports.list_reports(session, query, tag),
        tags=reports.all_tags(session),
        query=query,
        tag=tag,
        examples=reports.list_examples(settings.examples_dir),
        sources=sources.list_sources(session),
        error=error,
    )
