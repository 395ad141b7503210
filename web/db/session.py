"""One engine and session factory per app database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

__all__ = ("Database",)


class Database:
    """The app database: `session()` opens a unit of work; `dispose()` closes the pool."""

    def __init__(self, url: str) -> None:
        # Handlers run in worker threads; each request has its own session and connection.
        connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        self.engine = sa.create_engine(url, connect_args=connect_args)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    def dispose(self) -> None:
        self.engine.dispose()
