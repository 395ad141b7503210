"""The demo database: deterministic, well-formed, and awkward in the ways real data is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.demo_data import DemoStats, demo_metadata, generate_demo
from engine.errors import DataSourceError

TABLES = ("regions", "customers", "categories", "products", "orders", "order_lines")
FOREIGN_KEYS = (  # (table, column, referenced table)
    ("customers", "region_id", "regions"),
    ("products", "category_id", "categories"),
    ("orders", "customer_id", "customers"),
    ("order_lines", "order_id", "orders"),
    ("order_lines", "product_id", "products"),
)
NULLABLE = (
    ("customers", "email"),
    ("customers", "segment"),
    ("customers", "region_id"),
    ("products", "category_id"),
    ("orders", "shipped_at"),
    ("order_lines", "discount"),
)
ORDERS = 4000  # 200 customers: enough for a few shared names


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, typed by the demo schema so backends compare equal."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row) for row in conn.execute(sa.select(table).order_by(table.c.id))
                ]
                for table in demo_metadata().sorted_tables
            }
    finally:
        engine.dispose()


def scalar(url: str, query: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


def check_database(url: str, stats: DemoStats, orders: int) -> None:
    """The checks every backend must pass: counts, integrity, NULLs, ties, value domains."""
    assert stats.orders == orders
    assert (stats.regions, stats.categories) == (8, 8)
    assert stats.customers == max(50, orders // 20)
    assert stats.products == 200
    assert 4.6 * orders < stats.order_lines < 5.4 * orders
    assert stats.seconds > 0
    for table in TABLES:
        assert scalar(url, f"SELECT count(*) FROM {table}") == getattr(stats, table)

    for table, column, target in FOREIGN_KEYS:
        orphans = scalar(
            url,
            f"SELECT count(*) FROM {table} t LEFT JOIN {target} r ON r.id = t.{column}"
            f" WHERE t.{column} IS NOT NULL AND r.id IS NULL",
        )
        assert orphans == 0, f"{table}.{column} has {orphans} orphans"

    for table, column in NULLABLE:
        nulls = scalar(url, f"SELECT count(*) FROM {table} WHERE {column} IS NULL")
        assert 0 < nulls < getattr(stats, table), f"{table}.{column}: {nulls} NULLs"
    no_discount = scalar(url, "SELECT count(*) FROM order_lines WHERE discount IS NULL")
    assert 0.55 < no_discount / stats.order_lines < 0.65

    # Ties: timestamps shared by several orders, names shared by several customers.
    distinct_times = scalar(url, "SELECT count(DISTINCT ordered_at) FROM orders")
    assert distinct_times < 0.8 * orders
    distinct_names = scalar(url, "SELECT count(DISTINCT name) FROM customers")
    assert distinct_names < stats.customers
    assert distinct_names > 0.9 * stats.customers

    # Value domains and internal consistency.
    assert scalar(url, "SELECT count(*) FROM orders WHERE ordered_at < '2023-01-01'") == 0
    assert scalar(url, "SELECT count(*) FROM orders WHERE ordered_at >= '2026-01-01'") == 0
    unshipped = scalar(
        url,
        "SELECT count(*) FROM orders WHERE (shipped_at IS NULL)"
        " <> (status IN ('pending', 'cancelled'))",
    )
    assert unshipped == 0
    assert scalar(url, "SELECT count(*) FROM orders WHERE shipped_at <= ordered_at") == 0
    early = scalar(
        url,
        "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id"
        " WHERE o.ordered_at < c.created_at",
    )
    assert early == 0, "an order placed before its customer signed up"
    statuses = scalar(url, "SELECT count(DISTINCT status) FROM orders")
    assert statuses == 5
    assert scalar(url, "SELECT count(*) FROM order_lines WHERE quantity NOT BETWEEN 1 AND 20") == 0
    discounts = scalar(
        url,
        "SELECT count(*) FROM order_lines WHERE discount IS NOT NULL"
        " AND discount NOT IN (0.05, 0.10, 0.15, 0.20)",
    )
    assert discounts == 0
    lines_per_order = scalar(
        url,
        "SELECT count(*) FROM (SELECT order_id, count(*) AS n FROM order_lines GROUP BY order_id)"
        " AS per_order WHERE n NOT BETWEEN 1 AND 9",
    )
    assert lines_per_order == 0
    assert scalar(url, "SELECT count(DISTINCT order_id) FROM order_lines") == orders
    assert scalar(url, "SELECT min(unit_price) FROM order_lines") > 0


def check_schema(url: str) -> None:
    """Real constraints: primary keys, foreign keys and an index on every FK column."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        for table in TABLES:
            assert inspector.get_pk_constraint(table)["constrained_columns"] == ["id"]
        for table, column, target in FOREIGN_KEYS:
            fks = inspector.get_foreign_keys(table)
            assert any(
                fk["constrained_columns"] == [column] and fk["referred_table"] == target
                for fk in fks
            ), f"no FK {table}.{column} -> {target}"
            indexed = [index["column_names"] for index in inspector.get_indexes(table)]
            assert [column] in indexed, f"{table}.{column} not indexed"
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, DemoStats]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    return url, generate_demo(url, orders=ORDERS, seed=42)


def test_sqlite_database_is_well_formed(demo_sqlite: tuple[str, DemoStats]) -> None:
    url, stats = demo_sqlite
    check_database(url, stats, ORDERS)
    check_schema(url)


def test_money_is_exact_to_the_cent_on_sqlite(demo_sqlite: tuple[str, DemoStats]) -> None:
    engine = sa.create_engine(demo_sqlite[0])
    try:
        with engine.connect() as conn:
            prices = list(conn.exec_driver_sql("SELECT unit_price FROM order_lines").scalars())
            prices += conn.exec_driver_sql("SELECT list_price FROM products").scalars()
    finally:
        engine.dispose()
    assert all(isinstance(p, int | float) for p in prices)  # numbers, not text (NUMERIC affinity)
    assert all(abs(p * 100 - round(p * 100)) < 1e-6 for p in prices)


def test_same_seed_gives_identical_rows(tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    generate_demo(first, orders=500, seed=7)
    generate_demo(second, orders=500, seed=7)
    assert dump(first) == dump(second)


def test_different_seed_gives_different_rows(tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    generate_demo(first, orders=500, seed=7)
    generate_demo(second, orders=500, seed=8)
    rows_a, rows_b = dump(first), dump(second)
    for table in ("customers", "products", "orders", "order_lines"):
        assert rows_a[table] != rows_b[table], table


def test_small_runs_scale_down(sqlite_url: str) -> None:
    stats = generate_demo(sqlite_url, orders=300, seed=1)
    assert (stats.orders, stats.customers, stats.products) == (300, 50, 30)
    assert 1200 < stats.order_lines < 1800


def test_replace_drops_and_recreates(sqlite_url: str) -> None:
    generate_demo(sqlite_url, orders=600, seed=1)
    stats = generate_demo(sqlite_url, orders=300, seed=2)
    assert scalar(sqlite_url, "SELECT count(*) FROM orders") == 300 == stats.orders
    assert dump(sqlite_url)["order_lines"][0][1] == 1


def test_replace_false_refuses_existing_tables(sqlite_url: str) -> None:
    generate_demo(sqlite_url, orders=300, seed=1)
    before = dump(sqlite_url)
    with pytest.raises(DataSourceError, match="already exist"):
        generate_demo(sqlite_url, orders=300, seed=2, replace=False)
    assert dump(sqlite_url) == before


def test_replace_false_creates_missing_tables(sqlite_url: str) -> None:
    assert generate_demo(sqlite_url, orders=300, seed=1, replace=False).orders == 300


def test_unwritable_target_is_a_data_source_error(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="cannot write demo data"):
        generate_demo(f"sqlite:///{tmp_path / 'missing' / 'demo.db'}", orders=300)


def test_orders_must_be_positive(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_demo(sqlite_url, orders=0)


@pytest.mark.postgres
def test_postgres_database_is_well_formed(postgres_url: str) -> None:
    stats = generate_demo(postgres_url, orders=ORDERS, seed=42)
    check_database(postgres_url, stats, ORDERS)
    check_schema(postgres_url)


@pytest.mark.postgres
def test_postgres_rows_equal_sqlite_rows(postgres_url: str, sqlite_url: str) -> None:
    generate_demo(postgres_url, orders=800, seed=3)
    generate_demo(sqlite_url, orders=800, seed=3)
    assert dump(postgres_url) == dump(sqlite_url)
    generate_demo(postgres_url, orders=800, seed=3)  # replace=True over existing tables
    assert dump(postgres_url) == dump(sqlite_url)


@pytest.mark.postgres
def test_postgres_ids_continue_after_the_demo_rows(postgres_url: str) -> None:
    generate_demo(postgres_url, orders=300, seed=1)
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            new_id = conn.execute(
                sa.text("INSERT INTO regions (name) VALUES ('Elsewhere') RETURNING id")
            ).scalar_one()
    finally:
        engine.dispose()
    assert new_id == 9
