"""A time limit on the statements of one connection, so a slow query cannot hold a worker.

PostgreSQL enforces it itself: `statement_timeout` is set for the connection's current
transaction (`set_config(..., true)`, the bindable form of SET LOCAL), so it ends with the
transaction and never leaks to the next user of a pooled connection (a connection in
AUTOCOMMIT has no transaction: there it is set for the session and reset on release).
SQLite has no such setting; a progress handler on the raw connection, called every
thousand virtual machine instructions, aborts the statement once the deadline has passed,
and is removed when the limit is released. A statement stopped by the limit raises
`QueryTimeout`, never a driver error, so it is not mistaken for a transient failure and
retried.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import QueryTimeout

__all__ = ("StatementLimit", "is_timeout", "statement_timeout")

# SQLite virtual machine instructions between two looks at the clock: a look costs about
# a tenth of a microsecond, these instructions a few hundred; the limit overshoots by
# well under a millisecond.
_SQLITE_STEPS = 1000
_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by its timeout


class StatementLimit:
    """A limit of `seconds` on each statement run on `connection` while it is armed.

    On SQLite the deadline runs from `arm()` or the last `restart()`: a caller that reads a
    result in several calls (a cursor fetched batch by batch) restarts it before each one,
    so time spent between calls is not counted, as PostgreSQL counts a statement at a time.
    """

    def __init__(self, connection: sa.Connection, seconds: float | None) -> None:
        self.connection = connection
        self.seconds = seconds
        self.fired = False
        self._deadline = 0.0
        self._raw: sqlite3.Connection | None = None
        self._session = False  # PostgreSQL in AUTOCOMMIT: the limit was set for the session

    def arm(self) -> None:
        """Apply the limit; a `None` limit does nothing."""
        if self.seconds is None:
            return
        if self.seconds <= 0:
            raise ValueError("a statement time limit must be positive")
        dialect = self.connection.dialect.name
        if dialect == "postgresql":
            milliseconds = max(1, round(self.seconds * 1000))
            # Without a transaction (AUTOCOMMIT) a local setting would end with this very
            # statement: set it for the session then, and reset it on release.
            self._session = bool(getattr(self.connection.connection.driver_connection,
                                         "autocommit", False))  # fmt: skip
            self.connection.execute(
                sa.select(
                    sa.func.set_config("statement_timeout", str(milliseconds), not self._session)
                )
            )
        elif dialect == "sqlite":
            raw = self.connection.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                self._raw = raw
                self.restart()
                raw.set_progress_handler(self._past_deadline, _SQLITE_STEPS)

    def restart(self) -> None:
        """Start the SQLite deadline anew, for the next statement or fetch."""
        if self.seconds is not None:
            self.fired = False
            self._deadline = time.monotonic() + self.seconds

    def release(self) -> None:
        """Remove the SQLite handler; PostgreSQL's setting ends with the transaction."""
        if self._session:
            self._session = False
            with contextlib.suppress(SQLAlchemyError):
                self.connection.exec_driver_sql("RESET statement_timeout")
        if self._raw is not None:
            with contextlib.suppress(sqlite3.Error):
                self._raw.set_progress_handler(None, 0)
            self._raw = None

    def stopped(self, error: BaseException) -> bool:
        """Whether `error` is this limit stopping a statement."""
        if self.fired:  # SQLite: the handler stopped it
            return "interrupted" in str(_original(error)).lower()
        return self.seconds is not None and is_timeout(error)

    def timeout(self) -> QueryTimeout:
        return QueryTimeout(f"the query ran longer than {self.seconds:g} s", "source")

    def _past_deadline(self) -> int:
        if time.monotonic() > self._deadline:
            self.fired = True
            return 1  # non-zero: SQLite aborts the statement with "interrupted"
        return 0


@contextlib.contextmanager
def statement_timeout(connection: sa.Connection, seconds: float | None) -> Iterator[None]:
    """Limit each statement run on `connection` inside the block to `seconds`.

    Raises:
        QueryTimeout: a statement ran past the limit (message "the query ran longer than
            5 s", path `source`).
    """
    limit = StatementLimit(connection, seconds)
    limit.arm()
    try:
        yield
    except SQLAlchemyError as error:
        if limit.stopped(error):
            raise limit.timeout() from None
        raise
    finally:
        limit.release()


def is_timeout(error: BaseException) -> bool:
    """Whether `error` is PostgreSQL cancelling a statement for its `statement_timeout`."""
    return getattr(_original(error), "sqlstate", None) == _QUERY_CANCELED


def _original(error: BaseException) -> Any:
    return getattr(error, "orig", None) or error
