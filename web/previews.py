"""Previews for the designer and the API: the first pages of a draft, a report or a definition.

Every preview goes through `engine.api.preview`, whose one previewer (one warm Typst
process) serves the whole server. Its pages are kept here, by the SHA-256 of their SVG,
in a bounded store, so the designer shows each page as `<img src="/previews/<hash>.svg">`:
an SVG shown as an image runs no script and loads nothing, whatever text it holds, and a
page that did not change between two edits is one the browser already has.
No HTTP types here; the calls block (queries, fill, Typst), so handlers run them in a thread.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine import api
from engine.errors import DefinitionError, ParameterError
from web import drafts, reports
from web.db.models import DataSource
from web.errors import NotFound, TooLarge
from web.sources import get_source, source_engine

__all__ = (
    "MAX_PAGES",
    "PAGES",
    "PageStore",
    "ShownPreview",
    "page_store",
    "preview_definition",
    "preview_draft",
    "preview_report",
)

PAGES = 3  # what the designer shows
MAX_PAGES = 10  # what a request may ask for: a preview is a glance, a run is for the rest
_STORE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ShownPreview:
    """A preview and the store keys of its pages (`/previews/<key>.svg`)."""

    preview: api.Preview
    keys: tuple[str, ...]


class PageStore:
    """SVG pages by the SHA-256 of their text, the least recently used dropped past a size."""

    def __init__(self, max_bytes: int = _STORE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, svg: str) -> str:
        data = svg.encode("utf-8")
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return key
            self._pages[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes and len(self._pages) > 1:
                _, old = self._pages.popitem(last=False)
                self._bytes -= len(old)
        return key

    def get(self, key: str) -> bytes:
        with self._lock:
            data = self._pages.get(key)
            if data is not None:
                self._pages.move_to_end(key)
        if data is None:
            raise NotFound("no such preview page (it expired: render the preview again)", key)
        return data


page_store = PageStore()


def preview_draft(
    session: Session, report_id: int, designer: str, pages: int = PAGES
) -> ShownPreview:
    """The designer's preview of the report's draft; a newer one for `designer` supersedes it."""
    draft = drafts.open_draft(session, report_id)
    report = reports.get_report(session, report_id)
    source = _source_of(report.source)
    preview = api.preview(draft.document, source, pages=_pages(pages), designer=designer)
    return _shown(preview)


def preview_report(session: Session, report_id: int, pages: int = PAGES) -> ShownPreview:
    """The preview of the report's newest version."""
    report = reports.get_report(session, report_id)
    latest = reports.latest_version(report)
    if latest is None:
        raise NotFound(f"report {report_id} has no saved version", "report_id")
    return _shown(api.preview(latest.text, _source_of(report.source), pages=_pages(pages)))


def preview_definition(
    session: Session,
    definition: str | Mapping[str, Any],
    source_id: int,
    params: Mapping[str, Any] | None = None,
    pages: int = PAGES,
) -> ShownPreview:
    """The preview of a definition that is not stored, on the source `source_id`."""
    if (
        isinstance(definition, str)
        and len(definition.encode("utf-8")) > reports.MAX_DEFINITION_BYTES
    ):
        raise TooLarge(
            f"the definition is over the limit of {reports.MAX_DEFINITION_BYTES:,} bytes",
            "definition",
        )
    engine = source_engine(get_source(session, source_id))
    return _shown(api.preview(definition, engine, params, pages=_pages(pages)))


def _source_of(source: DataSource | None) -> sa.Engine:
    if source is None:
        raise DefinitionError("the report has no data source: choose one first", "source")
    return source_engine(source)


def _pages(pages: int) -> int:
    if not 1 <= pages <= MAX_PAGES:
        raise ParameterError(f"pages must be 1 to {MAX_PAGES}, not {pages}", "pages")
    return pages


def _shown(preview: api.Preview) -> ShownPreview:
    return ShownPreview(preview, tuple(page_store.put(svg) for svg in preview.pages))
