"""/api/sources: list, create (after a test connection), test, schema."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.orm import Session

from web import sources
from web.sources import SourceSummary, TableInfo

__all__ = ("api_create_source", "api_list_sources", "api_source_schema", "api_test_source")


@dataclass
class SourceIn:
    name: str
    url: str


@dataclass
class TestOut:
    ok: bool
    dialect: str


@get("/sources", sync_to_thread=True)
def api_list_sources(session: NamedDependency[Session]) -> list[SourceSummary]:
    return sources.list_sources(session)


@post("/sources", sync_to_thread=True)
def api_create_source(session: NamedDependency[Session], data: JSONBody[SourceIn]) -> SourceSummary:
    """Add a source; 422 naming the problem if it cannot be reached. The password never
    comes back: `url` is shown with it hidden."""
    return sources.summarize(session, sources.add_source(session, data.name, data.url))


@post("/sources/{source_id:int}/test", status_code=200, sync_to_thread=True)
def api_test_source(session: NamedDependency[Session], source_id: FromPath[int]) -> TestOut:
    dialect = sources.test_source(sources.get_source(session, source_id).url)
    return TestOut(ok=True, dialect=dialect)


@get("/sources/{source_id:int}/schema", sync_to_thread=True)
def api_source_schema(
    session: NamedDependency[Session], source_id: FromPath[int]
) -> list[TableInfo]:
    return sources.describe_source(sources.get_source(session, source_id))
