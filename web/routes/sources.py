"""Data sources: the list with the add form, one source's schema, a test connection."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from engine.errors import QuireError
from web import sources
from web.http_errors import status_of
from web.pages import SourcePage, SourcesPage, SourceTest
from web.routes._render import render

__all__ = ("add_source", "source_page", "sources_page", "test_source")


@get("/sources", sync_to_thread=True)
def sources_page(session: NamedDependency[Session]) -> Template:
    return render("sources.html", SourcesPage(sources.list_sources(session)))


@dataclass
class SourceForm:
    name: str
    url: str


@post("/sources", sync_to_thread=True)
def add_source(
    session: NamedDependency[Session],
    data: URLEncodedBody[SourceForm],
) -> Redirect | Template:
    """Add a source after a test connection; on failure, the form again with the reason."""
    try:
        source = sources.add_source(session, data.name, data.url)
    except QuireError as error:
        issue = error.issues[0]
        page = SourcesPage(
            sources.list_sources(session),
            name=data.name,
            url="",  # never echo a URL back: it may hold a password
            error=issue.message,
            error_field=issue.path,
        )
        return render("sources.html", page, status_of(error))
    return Redirect(f"/sources/{source.id}", status_code=303)


@get("/sources/{source_id:int}", sync_to_thread=True)
def source_page(session: NamedDependency[Session], source_id: FromPath[int]) -> Template:
    """The source's tables; if it cannot be read, the page says why (and still renders)."""
    source = sources.get_source(session, source_id)
    summary = sources.summarize(session, source)
    try:
        tables = sources.describe_source(source)
    except QuireError as error:
        return render("source.html", SourcePage(summary, [], error=str(error)), status_of(error))
    return render("source.html", SourcePage(summary, tables))


@post("/sources/{source_id:int}/test", sync_to_thread=True)
def test_source(session: NamedDependency[Session], source_id: FromPath[int]) -> Template:
    source = sources.get_source(session, source_id)
    try:
        dialect = sources.test_source(source.url)
    except QuireError as error:
        return render("_source_test.html", SourceTest(False, str(error)), 422)
    return render("_source_test.html", SourceTest(True, f"connected ({dialect})"))
