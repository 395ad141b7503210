"""Thumbnails of reports' first pages for the gallery, rendered in the background.

A thumbnail shows a report's newest saved version on its data source, so it is cached on
disk by the hash of the two (`thumbnail_key`): an unchanged report is never rendered
again, a changed one gets a new file, and two identical reports share one. Rendering
goes through `engine.api.preview` (one page, a PNG from Typst) on one background thread,
one report at a time, so a gallery of 200 new reports never competes with the user's
own previews for more than one compile at once. A report that cannot be previewed
(a bad source, say) has no thumbnail; the card shows none.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from engine import api
from engine.errors import QuireError
from web.db import Database
from web.db.models import DataSource, Report, ReportVersion
from web.sources import source_engine

__all__ = ("Thumbnails", "thumbnail_key")

log = logging.getLogger("quire.web")


def thumbnail_key(text: str, source_url: str) -> str:
    """The cache key of a report's thumbnail: what it shows, and where its rows come from."""
    return hashlib.sha256(f"{source_url}\0{text}".encode()).hexdigest()


class Thumbnails:
    """PNG files in `folder`, one per key, made on request by a background thread."""

    def __init__(self, folder: Path, database: Database) -> None:
        self.folder = folder
        self._database = database
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quire-thumbnail")
        self._pending: set[int] = set()
        self._failed: set[str] = set()  # keys that could not be rendered
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.png"

    def url(self, report_id: int, key: str) -> str | None:
        """The card's image URL if the thumbnail exists (versioned, so browsers may keep
        it); otherwise None, and the thumbnail is asked for."""
        if self.path(key).is_file():
            return f"/reports/{report_id}/thumbnail.png?v={key[:16]}"
        self.request(report_id)
        return None

    def state(self, report_id: int, key: str) -> str:
        """`ready` (the file exists), `failed` (the report cannot be previewed), or
        `pending`: then the thumbnail is asked for, if it is not on its way already."""
        if self.path(key).is_file():
            return "ready"
        with self._lock:
            if key in self._failed:
                return "failed"
        self.request(report_id)
        return "pending"

    def request(self, report_id: int) -> None:
        """Render the report's thumbnail in the background unless it is on its way."""
        with self._lock:
            if report_id in self._pending:
                return
            self._pending.add(report_id)
        try:
            self._pool.submit(self._make, report_id)
        except RuntimeError:  # shut down: the server is stopping
            with self._lock:
                self._pending.discard(report_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _make(self, report_id: int) -> None:
        try:
            found = _newest(self._database, report_id)
            if found is None:
                return
            text, source = found
            key = thumbnail_key(text, source.url)
            target = self.path(key)
            if target.is_file():
                return
            try:
                shown = api.preview(text, source_engine(source), pages=1)
                _write(target, shown.thumbnail)
            except Exception:  # noted for the gallery's waiting cards, then logged below
                with self._lock:
                    self._failed.add(key)
                raise
        except QuireError as error:
            log.info("no thumbnail for report %s: %s", report_id, error.summary(limit=1))
        except Exception:  # a bug must not kill the thread that serves every thumbnail
            log.exception("thumbnail of report %s failed", report_id)
        finally:
            with self._lock:
                self._pending.discard(report_id)


def _newest(database: Database, report_id: int) -> tuple[str, DataSource] | None:
    """The newest version's text and its source, or None for a report without them."""
    with database.session() as session:
        row = session.execute(
            sa.select(ReportVersion.text, DataSource)
            .join(Report, Report.id == ReportVersion.report_id)
            .join(DataSource, DataSource.id == Report.source_id)
            .where(ReportVersion.report_id == report_id)
            .order_by(ReportVersion.number.desc())
            .limit(1)
        ).first()
    return None if row is None else (row[0], row[1])


def _write(target: Path, data: bytes) -> None:
    """Written under a temporary name and renamed: a card never shows half a PNG."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".thumb-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
