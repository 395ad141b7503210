"""A statement time limit stops a slow query with QueryTimeout, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from engine.cache import QueryCache
from engine.document import parse_definition
from engine.errors import QueryTimeout
from engine.loader import STRATEGIES, Loader, is_transient
from engine.pipeline import estimate_rows
from engine.plan import QueryPlan, build_plan
from engine.schema import reflect_schema
from engine.timeouts import statement_timeout

# Counts to a billion: minutes of work for SQLite, stopped long before.
SLOW_SQLITE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) "
    "SELECT count(*) FROM n"
)
DEFINITION = """
title: Slow
source: {table: slow}
sort: [{expression: v}]
bands:
  detail:
    elements: [{type: field, expression: id}, {type: field, expression: v}]
"""


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def _slow_source(engine: sa.Engine, view: str) -> QueryPlan:
    """A plan over table `slow`, which is then replaced by a slow view of the same shape:
    expressions cannot make a slow query, a source table can."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE slow (id INTEGER PRIMARY KEY, v INTEGER)")
    plan = build_plan(parse_definition(DEFINITION), reflect_schema(engine))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE slow")
        conn.exec_driver_sql(f"CREATE VIEW slow AS {view}")
    return plan


# -- SQLite ------------------------------------------------------------------------------------


def test_sqlite_slow_statement_is_stopped_at_the_limit(sqlite_engine: sa.Engine) -> None:
    started = time.monotonic()
    with (
        sqlite_engine.connect() as conn,
        pytest.raises(QueryTimeout) as caught,
        statement_timeout(conn, 0.2),
    ):
        conn.exec_driver_sql(SLOW_SQLITE).scalar()
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2.0
    assert caught.value.to_dict()["message"] == "the query ran longer than 0.2 s"
    assert caught.value.to_dict()["path"] == "source"
    assert caught.value.kind == "timeout"


def test_sqlite_handler_is_removed_after_the_block(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as conn:
        with statement_timeout(conn, 0.05):
            assert conn.exec_driver_sql("SELECT 41 + 1").scalar() == 42
        time.sleep(0.1)  # past the deadline: a handler left behind would stop the next query
        quick = SLOW_SQLITE.replace("1000000000", "300000")
        assert conn.exec_driver_sql(quick).scalar() == 300000
        raw = conn.connection.driver_connection
        assert raw is not None
        assert raw.execute(quick).fetchone() == (300000,)


def test_no_limit_changes_nothing(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as conn, statement_timeout(conn, None):
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def test_other_errors_pass_through_unchanged(sqlite_engine: sa.Engine) -> None:
    with (
        sqlite_engine.connect() as conn,
        pytest.raises(sa.exc.OperationalError, match="no such table"),
        statement_timeout(conn, 5),
    ):
        conn.exec_driver_sql("SELECT * FROM missing")


# Ten digits crossed seven times: ten million rows, sorted by v before the first one.
SQLITE_CROSS_JOIN = (
    "WITH d(x) AS (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) "
    "SELECT a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x + 100000 * g.x "
    "+ 1000000 * h.x AS id, (a.x * 7919 + b.x * 104729 + h.x) % 1000 AS v "
    "FROM d a, d b, d c, d e, d f, d g, d h"
)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sqlite_loader_stops_a_slow_source_without_retry_or_fallback(
    sqlite_engine: sa.Engine, strategy: str
) -> None:
    plan = _slow_source(sqlite_engine, SQLITE_CROSS_JOIN)
    loader = Loader(sqlite_engine, plan, {}, strategy=strategy, statement_timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"ran longer than 0\.3 s"):
        next(iter(loader.batches()))
    assert time.monotonic() - started < 3.0
    assert loader.stats.retries == 0
    assert loader.stats.fallbacks == []
    # The pooled connection comes back without the handler.
    with sqlite_engine.connect() as conn:
        time.sleep(0.35)
        assert conn.exec_driver_sql(SLOW_SQLITE.replace("1000000000", "300000")).scalar()


def test_sqlite_loader_with_a_limit_reads_a_quick_source_whole(sqlite_engine: sa.Engine) -> None:
    view = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) "
    plan = _slow_source(sqlite_engine, view + "SELECT i AS id, i % 7 AS v FROM n")
    loader = Loader(sqlite_engine, plan, {}, batch_size=100, statement_timeout_s=2.0)
    rows = [row for batch in loader.batches() for row in batch]
    assert len(rows) == 2500


def test_sqlite_count_takes_the_limit(sqlite_engine: sa.Engine) -> None:
    plan = _slow_source(sqlite_engine, SQLITE_CROSS_JOIN + " ORDER BY v")
    with pytest.raises(QueryTimeout):
        estimate_rows(sqlite_engine, plan, {}, QueryCache(), statement_timeout_s=0.2)


# -- PostgreSQL --------------------------------------------------------------------------------


def test_postgres_slow_statement_is_stopped_at_the_limit(postgres_engine: sa.Engine) -> None:
    started = time.monotonic()
    with postgres_engine.connect() as conn:
        with (
            pytest.raises(QueryTimeout, match=r"ran longer than 0\.3 s"),
            statement_timeout(conn, 0.3),
        ):
            conn.exec_driver_sql("SELECT pg_sleep(10)")
        conn.rollback()
        # SET LOCAL: the limit ended with the transaction.
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    assert time.monotonic() - started < 3.0


def test_postgres_autocommit_connection_is_limited_and_reset(postgres_engine: sa.Engine) -> None:
    autocommit = postgres_engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        with pytest.raises(QueryTimeout), statement_timeout(conn, 0.3):
            conn.exec_driver_sql("SELECT pg_sleep(10)")
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"


def test_postgres_timeout_is_not_transient(postgres_engine: sa.Engine) -> None:
    with postgres_engine.connect() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 50")
        with pytest.raises(sa.exc.OperationalError) as caught:
            conn.exec_driver_sql("SELECT pg_sleep(5)")
    assert not is_transient(caught.value)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_postgres_loader_stops_a_sleeping_view(postgres_engine: sa.Engine, strategy: str) -> None:
    view = "SELECT g AS id, mod(g, 7) AS v FROM generate_series(1, 10) g, (SELECT pg_sleep(10)) s"
    plan = _slow_source(postgres_engine, view)
    loader = Loader(postgres_engine, plan, {}, strategy=strategy, statement_timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"ran longer than 0\.3 s"):
        next(iter(loader.batches()))
    assert time.monotonic() - started < 3.0
    assert loader.stats.retries == 0
    assert loader.stats.fallbacks == []


def test_postgres_count_takes_the_limit(postgres_engine: sa.Engine) -> None:
    view = "SELECT g AS id, g AS v FROM generate_series(1, 10) g, (SELECT pg_sleep(10)) s"
    plan = _slow_source(postgres_engine, view)
    with pytest.raises(QueryTimeout):
        estimate_rows(postgres_engine, plan, {}, QueryCache(), statement_timeout_s=0.3)
