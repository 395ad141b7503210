"""Shared fixtures: a throwaway SQLite file and a throwaway PostgreSQL database per test.

PostgreSQL tests get a database of their own (created and dropped here) so that they can
run next to each other, and next to anything else using the server, without clashing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

# The database to connect to while creating and dropping the per-test databases.
POSTGRES_ADMIN_URL = os.environ.get(
    "QUIRE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the server, so `-m "not postgres"` leaves them all out."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file that does not exist yet, in the test's own temporary folder."""
    return f"sqlite:///{tmp_path / 'quire.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test.

    Skips when the server is unreachable, unless QUIRE_REQUIRE_POSTGRES=1 (as in CI),
    where a missing server must fail loudly rather than pass silently.
    """
    admin = sa.create_engine(
        POSTGRES_ADMIN_URL,
        isolation_level="AUTOCOMMIT",  # CREATE/DROP DATABASE refuse to run in a transaction
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        where = admin.url.render_as_string(hide_password=True)
        reason = f"PostgreSQL unreachable at {where}: {' '.join(str(exc.orig).split())}"
        if os.environ.get("QUIRE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (QUIRE_REQUIRE_POSTGRES=1 requires it)")
        pytest.skip(reason)
    name = f"quire_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:  # FORCE: a leaked connection must not leak the database
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """A demo database of 1,500 orders (about 7,500 order lines), one per test module."""
    from engine.demo_data import generate_demo

    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    generate_demo(url, orders=1500, seed=5)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()
