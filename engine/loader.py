"""Streaming the plan's rows in batches: strategies, fallbacks, retries and resume.

Strategies, best first:
- keyset: each batch asks for the rows after the last one delivered. Cheap when the
  order is the primary key (an index range scan); when the order is made of expressions
  every batch re-sorts the rows left, so `auto` prefers a cursor there.
- cursor: one query read through a server-side cursor (`stream_results`; the SQLite driver
  streams on its own), sorted once.
- offset: LIMIT/OFFSET; re-reads every skipped row, O(n²) over a report: a last resort.
- full_read: one fetch of everything; memory grows with the result.

NULLs cannot be compared with `>`, so each nullable key is ordered by a NULL flag first
(NULLs last) and the "after this row" predicate treats NULL explicitly; the primary key
ends the order, so it is total and a run can resume exactly after the last delivered row
when a transient error (a dropped connection, a serialization failure) is retried.
Values are read raw, so the key bound into the next query is exactly what the database
returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from engine.errors import DataSourceError, DefinitionError, Issue
from engine.memory import MemoryGuard
from engine.plan import QueryPlan
from engine.runs import RunControl
from engine.timeouts import StatementLimit, is_timeout

__all__ = (
    "DEFAULT_BATCH_SIZE",
    "STRATEGIES",
    "LoadStats",
    "Loader",
    "is_transient",
    "keyset_after",
)

DEFAULT_BATCH_SIZE = 5000
FIRST_BATCH_SIZE = 500  # small, so the first rows reach the writer quickly
Row = Sequence[Any]
Strategy = Literal["keyset", "cursor", "offset", "full_read"]
STRATEGIES: tuple[Strategy, ...] = ("keyset", "cursor", "offset", "full_read")
_TRANSIENT_STATES = {"40001", "40P01", "57P01", "57P02", "57P03", "53300"}
_TRANSIENT_TEXT = ("database is locked", "server closed the connection", "connection")


@dataclass
class LoadStats:
    """What served the run: recorded so a user can see why a run was slow or degraded."""

    strategy: str = ""
    reason: str = ""
    rows: int = 0
    batches: int = 0
    retries: int = 0
    fallbacks: list[str] = field(default_factory=list)


class Loader:
    """Yields the plan's rows in order, batch by batch, whatever happens to the connection."""

    def __init__(
        self,
        engine: sa.Engine,
        plan: QueryPlan,
        parameters: Mapping[str, Any],
        *,
        strategy: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        control: RunControl | None = None,
        guard: MemoryGuard | None = None,
        retries: int = 5,
        backoff_s: float = 0.05,
        statement_timeout_s: float | None = None,
    ) -> None:
        self.engine = engine
        self.statement_timeout_s = statement_timeout_s
        self.plan = plan
        self.parameters = dict(parameters)
        self.batch_size = max(1, batch_size)
        self.control = control
        self.guard = guard
        self.stats = LoadStats()
        self.candidates, self.stats.reason = choose_strategies(plan, strategy)
        self._retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=backoff_s, max=5.0),
            stop=stop_after_attempt(retries + 1),
            before_sleep=self._count_retry,
            reraise=True,
        )
        self._reader: _Reader | None = None
        self._limit: StatementLimit | None = None  # the newest reader's, set as it opens
        self._last: Row | None = None

    def batches(self) -> Iterator[list[Row]]:
        index = 0
        target = min(FIRST_BATCH_SIZE, self.batch_size)
        try:
            while True:
                if self.control is not None:
                    self.control.checkpoint()
                if self.guard is not None:
                    target = self.guard.next_batch_size(target)
                strategy = self.candidates[index]
                self.stats.strategy = strategy
                try:
                    batch = self._retrying(self._fetch, strategy, target)
                except SQLAlchemyError as error:
                    self._close()
                    if is_transient(error) or index + 1 >= len(self.candidates):
                        raise DataSourceError(_failure(error, self.stats), "source") from None
                    if self.stats.rows and not self.plan.total_order:
                        raise DataSourceError(_failure(error, self.stats), "source") from None
                    index += 1
                    self.stats.fallbacks.append(
                        f"{strategy} failed ({_reason(error)}); fell back to "
                        f"{self.candidates[index]}"
                    )
                    continue
                if not batch:
                    return
                self.stats.rows += len(batch)
                self.stats.batches += 1
                self._last = batch[-1]
                yield batch
                if len(batch) < target:
                    return
                degraded = self.guard is not None and self.guard.degraded
                target = target if degraded else min(target * 2, self.batch_size)
        finally:
            self._close()

    # -- internals ----------------------------------------------------------------------------

    def _fetch(self, strategy: Strategy, size: int) -> list[Row]:
        try:
            if self._reader is None:
                self._reader = _READERS[strategy](self, self._resume_query())
            self._reader.limit.restart()
            return self._reader.fetch(size)
        except SQLAlchemyError as error:
            limit, self._limit = self._limit, None  # the limit of the reader that failed
            self._close()
            if limit is not None:  # a reader that failed while opening is closed here too
                limit.release()
                with contextlib.suppress(SQLAlchemyError):
                    limit.connection.close()
                if limit.stopped(error):
                    raise limit.timeout() from None  # neither retried nor tried another way
            raise
        except BaseException:
            self._close()
            raise

    def _resume_query(self) -> tuple[sa.Select[Any], int]:
        """The ordered query from where the last delivered row left off, and rows to skip."""
        ordered = self.plan.ordered
        if self._last is None:
            return ordered, 0
        if self.plan.total_order:
            columns = list(self.plan.select.selected_columns)
            return ordered.where(keyset_after(self.plan, columns, self._last)), 0
        return ordered, self.stats.rows

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _count_retry(self, _state: object) -> None:
        self.stats.retries += 1


def choose_strategies(plan: QueryPlan, requested: str) -> tuple[list[Strategy], str]:
    """The strategies to try, best first, and why the first one was chosen."""
    allowed: list[Strategy] = list(STRATEGIES)
    if not plan.total_order:
        allowed = ["cursor", "full_read"]
    if requested != "auto":
        if requested not in allowed:
            why = "it needs a total order (a primary key)" if requested in STRATEGIES else ""
            raise DefinitionError(
                [Issue("source.strategy", f"strategy '{requested}' cannot be used: {why}")]
            )
        return [requested], "requested by the definition"
    if not plan.total_order:
        return allowed, "no primary key: keyset and offset need a total order"
    if plan.index_ordered:
        return allowed, "ordered by the primary key: each keyset batch is an index range scan"
    cursor_first: list[Strategy] = ["cursor", "keyset", "offset", "full_read"]
    return (
        cursor_first,
        "ordered by expressions: a cursor sorts once, keyset would re-sort per batch",
    )


class _Reader:
    def __init__(self, loader: Loader, start: tuple[sa.Select[Any], int]) -> None:
        self.loader = loader
        self.query, self.skip = start
        self.connection = loader.engine.connect()
        self.limit = loader._limit = StatementLimit(self.connection, loader.statement_timeout_s)
        try:
            self.limit.arm()
        except BaseException:
            self.connection.close()
            raise

    def fetch(self, size: int) -> list[Row]:
        raise NotImplementedError

    def close(self) -> None:
        self.limit.release()
        try:
            self.connection.close()
        except SQLAlchemyError:
            self.connection.invalidate()


class _KeysetReader(_Reader):
    def fetch(self, size: int) -> list[Row]:
        plan, last = self.loader.plan, self.loader._last
        query = plan.ordered
        if last is not None:
            query = query.where(keyset_after(plan, list(plan.select.selected_columns), last))
        result = self.connection.execute(query.limit(size), self.loader.parameters)
        return _raw(result).fetchall()


class _CursorReader(_Reader):
    def __init__(self, loader: Loader, start: tuple[sa.Select[Any], int]) -> None:
        super().__init__(loader, start)
        # SQLite's driver streams on its own; elsewhere ask for a server-side cursor, whose
        # result buffers rows ahead, so it is read through SQLAlchemy rather than raw.
        self.server_side = self.connection.dialect.name != "sqlite"
        connection = self.connection
        if self.server_side:
            connection = connection.execution_options(
                stream_results=True, max_row_buffer=loader.batch_size
            )
        self.result = connection.execute(self.query, loader.parameters)
        _skip(self, self.skip)

    def fetch(self, size: int) -> list[Row]:
        if self.server_side:
            return list(self.result.fetchmany(size))
        return _raw(self.result).fetchmany(size)

    def close(self) -> None:
        with contextlib.suppress(SQLAlchemyError):
            self.result.close()  # a server-side cursor is closed before its connection
        super().close()


class _OffsetReader(_Reader):
    def fetch(self, size: int) -> list[Row]:
        query = self.query.limit(size).offset(self.skip)
        rows = _raw(self.connection.execute(query, self.loader.parameters)).fetchall()
        self.skip += len(rows)
        return rows


class _FullReader(_Reader):
    def __init__(self, loader: Loader, start: tuple[sa.Select[Any], int]) -> None:
        super().__init__(loader, start)
        self.rows = _raw(self.connection.execute(self.query, loader.parameters)).fetchall()
        self.position = self.skip

    def fetch(self, size: int) -> list[Row]:
        rows = self.rows[self.position : self.position + size]
        self.position += len(rows)
        return rows


_READERS: dict[Strategy, type[_Reader]] = {
    "keyset": _KeysetReader,
    "cursor": _CursorReader,
    "offset": _OffsetReader,
    "full_read": _FullReader,
}


class _DriverCursor(Protocol):
    def fetchmany(self, size: int) -> list[Row]: ...
    def fetchall(self) -> list[Row]: ...


def _raw(result: sa.CursorResult[Any]) -> _DriverCursor:
    """The driver's own cursor: rows as plain tuples, without building SQLAlchemy Rows.

    Columns are selected untyped, so SQLAlchemy would not convert anything anyway; its Row
    objects cost about a third of the bare driver's speed.
    """
    cursor: _DriverCursor = result.cursor  # type: ignore[assignment]
    return cursor


def _skip(reader: _CursorReader, rows: int) -> None:
    while rows > 0:
        chunk = reader.fetch(min(rows, 10_000))
        if not chunk:
            return
        rows -= len(chunk)


def keyset_after(plan: QueryPlan, columns: list[Any], last: Row) -> sa.ColumnElement[bool]:
    """True for rows that come after `last` in the plan's order."""
    terms: list[sa.ColumnElement[bool]] = []
    equal_so_far: list[sa.ColumnElement[bool]] = []
    for key in plan.order_keys:
        column = columns[key.index]
        value = last[key.index]
        if value is None:
            # NULLs sort last within a key: nothing of this key comes after a NULL.
            equal_so_far.append(column.is_(None))
            continue
        bound = sa.literal(value, sa.types.NULLTYPE)
        later = column < bound if key.descending else column > bound
        if key.nullable:
            later = sa.or_(column.is_(None), later)
        terms.append(sa.and_(*equal_so_far, later))
        equal_so_far.append(column == bound)
    return sa.or_(*terms)


def is_transient(error: BaseException) -> bool:
    """A dropped connection, a serialization failure or a lock: worth retrying."""
    if not isinstance(error, SQLAlchemyError) or is_timeout(error):
        return False
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    original = getattr(error, "orig", None)
    state = getattr(original, "sqlstate", None)
    if isinstance(state, str) and state:
        return state.startswith("08") or state in _TRANSIENT_STATES
    text = str(original or error).lower()
    return isinstance(error, OperationalError) and any(t in text for t in _TRANSIENT_TEXT)


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _failure(error: BaseException, stats: LoadStats) -> str:
    tried = [stats.strategy] if not stats.fallbacks else [f.split()[0] for f in stats.fallbacks]
    if stats.fallbacks:
        tried.append(stats.strategy)
    after = f" after {stats.retries} retries" if stats.retries else ""
    return f"query failed{after} ({', '.join(tried)}): {_reason(error)}"
