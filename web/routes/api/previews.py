"""/api previews: of a report's newest version, and of a posted definition; JSON, no HTML."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.orm import Session

from web import previews
from web.previews import ShownPreview

__all__ = ("api_preview_definition", "api_preview_report")


@dataclass
class PreviewIn:
    """A definition (YAML/JSON text or an object) to preview on the source `source`."""

    definition: str | dict[str, Any]
    source: int
    params: dict[str, Any] = field(default_factory=dict)
    pages: int = previews.PAGES


@dataclass
class PreviewOut:
    """The first pages as SVG text (and their URLs), page 1 as a base64 PNG, and the rows."""

    pages: list[str]
    page_urls: list[str]
    thumbnail: str
    rows: int
    total_rows: int | None
    complete: bool


@get("/reports/{report_id:int}/preview", sync_to_thread=True)
def api_preview_report(
    session: NamedDependency[Session],
    report_id: FromPath[int],
    pages: FromQuery[int] = previews.PAGES,
) -> PreviewOut:
    """The first `pages` pages (1 to 10) of the report's newest version."""
    return _out(previews.preview_report(session, report_id, pages))


@post("/preview", status_code=200, sync_to_thread=True)
def api_preview_definition(
    session: NamedDependency[Session], data: JSONBody[PreviewIn]
) -> PreviewOut:
    """The first pages of a definition that is not stored; 422 with every problem if invalid."""
    return _out(
        previews.preview_definition(session, data.definition, data.source, data.params, data.pages)
    )


def _out(shown: ShownPreview) -> PreviewOut:
    preview = shown.preview
    return PreviewOut(
        pages=list(preview.pages),
        page_urls=[f"/previews/{key}.svg" for key in shown.keys],
        thumbnail=base64.b64encode(preview.thumbnail).decode("ascii"),
        rows=preview.rows,
        total_rows=preview.total_rows,
        complete=preview.complete,
    )
