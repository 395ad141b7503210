"""Data sources: add one by SQLAlchemy URL, test it, browse its tables.

The URL's password is stored but never shown: every URL leaving this module is rendered
with the password hidden, and every error message has the password scrubbed out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine import api
from engine.errors import DataSourceError
from web.db.models import DataSource, Report
from web.errors import Conflict, NotFound

__all__ = (
    "ColumnInfo",
    "ForeignKeyInfo",
    "SourceSummary",
    "TableInfo",
    "add_source",
    "describe_source",
    "get_source",
    "list_sources",
    "safe_url",
    "source_engine",
    "test_source",
)

CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class SourceSummary:
    """What may be shown of a source: its URL without the password."""

    id: int
    name: str
    url: str
    dialect: str
    reports: int


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    primary_key: bool


@dataclass(frozen=True)
class ForeignKeyInfo:
    name: str
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    foreign_keys: tuple[ForeignKeyInfo, ...]


def list_sources(session: Session) -> list[SourceSummary]:
    rows = session.execute(sa.select(Report.source_id, sa.func.count()).group_by(Report.source_id))
    counts: dict[int | None, int] = dict(rows.all())
    sources = session.scalars(sa.select(DataSource).order_by(DataSource.name))
    return [_summary(source, counts.get(source.id, 0)) for source in sources]


def get_source(session: Session, source_id: int) -> DataSource:
    source = session.get(DataSource, source_id)
    if source is None:
        raise NotFound(f"no data source with id {source_id}", "source_id")
    return source


def summarize(session: Session, source: DataSource) -> SourceSummary:
    count = session.scalar(
        sa.select(sa.func.count()).select_from(Report).where(Report.source_id == source.id)
    )
    return _summary(source, count or 0)


def add_source(session: Session, name: str, url: str) -> DataSource:
    """Store a source after a successful test connection; nothing is stored otherwise."""
    name = name.strip()
    if not name:
        raise DataSourceError("a data source needs a name", "name")
    if len(name) > 200:
        raise DataSourceError("a name has at most 200 characters", "name")
    if session.scalar(sa.select(DataSource.id).where(DataSource.name == name)) is not None:
        raise Conflict(f"a data source named '{name}' exists already", "name")
    test_source(url.strip())
    source = DataSource(name=name, url=url.strip())
    session.add(source)
    session.commit()
    return source


def test_source(url: str) -> str:
    """Open one connection to `url`; return the server's dialect, or raise a clear error."""
    parsed = _parse(url)
    _refuse_missing_sqlite_file(parsed)
    engine = sa.create_engine(parsed, poolclass=NullPool, connect_args=_connect_args(parsed))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as error:
        raise DataSourceError(f"cannot connect: {_reason(error, parsed)}", "url") from None
    finally:
        engine.dispose()
    return parsed.get_backend_name()


def describe_source(source: DataSource) -> list[TableInfo]:
    """The source's tables, columns, types and foreign keys, from the engine's catalogue
    (reflected at most once a minute per source, under a time limit)."""
    catalogue = api.describe_source(source_engine(source))
    return [
        TableInfo(
            table["name"],
            tuple(
                ColumnInfo(c["name"], c["type"], c["nullable"], c["primary_key"])
                for c in table["columns"]
            ),
            tuple(
                ForeignKeyInfo(
                    r["name"], tuple(r["columns"]), r["target"], tuple(r["target_columns"])
                )
                for r in table["relationships"]
            ),
        )
        for table in sorted(catalogue["tables"], key=lambda t: str(t["name"]))
    ]


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def source_engine(source: DataSource) -> sa.Engine:
    """A pooled engine for the source, one per URL for the life of the process."""
    with _engines_lock:
        engine = _engines.get(source.url)
        if engine is None:
            parsed = _parse(source.url)
            engine = sa.create_engine(parsed, connect_args=_connect_args(parsed))
            _engines[source.url] = engine
        return engine


def safe_url(url: str) -> str:
    """The URL with its password hidden; never the raw text of an unparsable URL."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a database URL>"


def _summary(source: DataSource, reports: int) -> SourceSummary:
    try:
        dialect = make_url(source.url).get_backend_name()
    except ArgumentError:
        dialect = "?"
    return SourceSummary(source.id, source.name, safe_url(source.url), dialect, reports)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except NoSuchModuleError:  # an ArgumentError too: catch it first
        driver = url.split("://", 1)[0]
        raise DataSourceError(
            f"unknown database driver '{driver}': expected e.g. sqlite or postgresql+psycopg",
            "url",
        ) from None
    except ArgumentError:
        raise DataSourceError(
            "not a database URL: expected e.g. postgresql+psycopg://user:password@host/db "
            "or sqlite:///path/to/file.db",
            "url",
        ) from None
    return parsed


def _refuse_missing_sqlite_file(url: URL) -> None:
    # SQLite would create an empty file and report success: a typo must fail instead.
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_file():
            raise DataSourceError(f"no SQLite database file at {path}", "url")


def _connect_args(url: URL) -> dict[str, object]:
    if url.get_backend_name() == "postgresql":
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    if url.get_backend_name() == "sqlite":
        return {"check_same_thread": False}
    return {}


def _reason(error: SQLAlchemyError, url: URL) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    reason = " ".join(lines[:2]) if lines else type(error).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason
