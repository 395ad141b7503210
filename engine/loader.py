"""Streaming rows from the database in batches, with keyset pagination.

Offset pagination re-reads every skipped row (O(n²) over a report). Keyset pagination asks
for the rows after the last one delivered, using the plan's total order. NULLs cannot be
compared with `>`, so each nullable key is ordered by a NULL flag first (NULLs last) and
the "after this row" predicate treats NULL explicitly; ties are broken by the primary key.
Values are read raw (no SQLAlchemy type processing), so the key bound into the next query
is exactly what the database returned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import DataSourceError
from engine.plan import QueryPlan

__all__ = ("DEFAULT_BATCH_SIZE", "keyset_after", "stream_batches")

DEFAULT_BATCH_SIZE = 5000
Row = Sequence[Any]


def stream_batches(
    connection: sa.Connection,
    plan: QueryPlan,
    parameters: Mapping[str, Any],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[list[Row]]:
    """Yield the plan's rows in order, `batch_size` at a time, one query per batch."""
    columns = list(plan.select.selected_columns)
    ordered = plan.ordered
    last: Row | None = None
    while True:
        query = ordered if last is None else ordered.where(keyset_after(plan, columns, last))
        try:
            result = connection.execute(query.limit(batch_size), dict(parameters))
            batch: list[Row] = list(result.fetchall())
        except SQLAlchemyError as error:
            raise DataSourceError(f"query failed: {_reason(error)}") from None
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        last = batch[-1]


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


def _reason(error: SQLAlchemyError) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
