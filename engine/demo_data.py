"""A realistic, deterministic sales database for demos, tutorials and benchmarks.

Every value comes from `random.Random` streams derived from the caller's seed, so one seed
gives the same rows on SQLite and on PostgreSQL, run after run. The data deliberately
carries what real reports trip over: NULLs in optional columns, customers sharing a name
and orders sharing a timestamp (so sorting and grouping must be stable and NULL-aware).
"""

from __future__ import annotations

import bisect
import itertools
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import DataSourceError

__all__ = ("DemoStats", "demo_metadata", "generate_demo")

Row = tuple[Any, ...]

CHUNK_ROWS = 50_000
START = datetime(2023, 1, 1)
MINUTES = (datetime(2026, 1, 1) - START) // timedelta(minutes=1)
CUSTOMER_DAYS = (-730, MINUTES // 1440)  # customers sign up from 2021 to the end of 2025

REGIONS = (
    ("North", "Germany"), ("South", "Italy"), ("East", "Poland"), ("West", "France"),
    ("Central", "Austria"), ("Nordic", "Sweden"), ("Iberia", "Spain"), ("Benelux", "Netherlands"),
)  # fmt: skip
REGION_WEIGHTS = (18, 14, 12, 16, 10, 10, 12, 8)
CATEGORIES = {  # name: (sku prefix, lowest and highest list price, product nouns)
    "Electronics": ("ELE", 15, 1500, ("Headphones", "Monitor", "Keyboard", "Speaker", "Charger")),
    "Office Supplies": ("OFF", 2, 60, ("Stapler", "Notebook", "Pen Set", "Binder", "Label Maker")),
    "Furniture": ("FUR", 40, 900, ("Desk", "Chair", "Bookcase", "Filing Cabinet", "Lamp")),
    "Books": ("BOO", 8, 80, ("Cookbook", "Atlas", "Novel", "Field Guide", "Workbook")),
    "Clothing": ("CLO", 10, 250, ("Jacket", "Sweater", "T-Shirt", "Raincoat", "Scarf")),
    "Kitchen": ("KIT", 5, 400, ("Kettle", "Blender", "Knife Set", "Pan", "Coffee Grinder")),
    "Garden": ("GAR", 5, 300, ("Hose", "Planter", "Pruner", "Watering Can", "Bench")),
    "Toys": ("TOY", 5, 120, ("Puzzle", "Kite", "Building Set", "Board Game", "Robot")),
}
ADJECTIVES = ("Compact", "Deluxe", "Classic", "Pro", "Eco", "Smart", "Ultra", "Basic", "Premium",
    "Travel", "Nordic", "Urban")  # fmt: skip
FIRST_NAMES = ("Ada", "Alan", "Alice", "Amir", "Anna", "Ben", "Carla", "Chen", "David", "Elena",
    "Emma", "Farid", "Fatima", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jack", "Jana",
    "Jonas", "Julia", "Karim", "Kofi", "Lara", "Leon", "Lina", "Luca", "Maria", "Marta", "Max",
    "Mei", "Mila", "Nadia", "Noah", "Nora", "Olga", "Omar", "Oscar", "Paula", "Pedro", "Priya",
    "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Tom", "Uma", "Vera", "Victor", "Wen", "Yara",
    "Yusuf", "Zoe", "Ravi", "Ingrid", "Tomas", "Leila")  # fmt: skip
LAST_NAMES = ("Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen",
    "Ivanova", "Jensen", "Kowalski", "Larsen", "Meyer", "Novak", "Olsen", "Petrov", "Quinn",
    "Rossi", "Schmidt", "Tanaka", "Urban", "Varga", "Weber", "Xu", "Young", "Zimmermann", "Bauer",
    "Conti", "Dahl", "Engel", "Ferrari", "Gruber", "Horvat", "Ito", "Janssen", "Keller", "Lang",
    "Moreau", "Nielsen", "Ortiz", "Peeters", "Ricci", "Silva", "Torres", "Vogel", "Wagner",
    "Yilmaz", "Zeller", "Andersson", "Brown", "Cruz", "Daniels", "Evans", "Fontaine", "Gomez",
    "Haas", "Ibrahim", "Jovanovic", "Klein", "Lopez")  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
SEGMENTS = ("Consumer", "Corporate", "Small Business")
STATUSES = ("pending", "shipped", "delivered", "cancelled", "returned")
STATUS_WEIGHTS = (3, 7, 78, 7, 5)
RECENT_STATUS_WEIGHTS = (45, 45, 5, 5, 0)  # orders of the last fortnight are mostly in transit
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 12, 12, 11, 10, 9, 9, 10, 11, 12, 11, 8, 5, 2)
MONTH_WEIGHTS = (0.8, 0.7, 0.8, 0.8, 0.9, 0.8, 0.8, 0.8, 0.9, 1.0, 1.3, 1.5)
LINE_COUNTS = range(1, 10)
LINE_CUM = tuple(itertools.accumulate((3, 6, 10, 13, 16, 13, 10, 6, 3)))  # symmetric: mean 5
QUANTITIES = range(1, 21)
QUANTITY_CUM = tuple(itertools.accumulate(1 / q**1.5 for q in QUANTITIES))
DISCOUNTS = tuple(Decimal(d) for d in ("0.05", "0.10", "0.15", "0.20"))
DISCOUNT_CUM = (4, 7, 9, 10)


@dataclass(frozen=True)
class DemoStats:
    """Row counts written and the wall time taken, for the CLI to report."""

    regions: int
    customers: int
    categories: int
    products: int
    orders: int
    order_lines: int
    seconds: float


def demo_metadata() -> sa.MetaData:
    """The demo schema; tables are created in dependency order, so FKs always resolve."""
    md = sa.MetaData()
    sa.Table(
        "regions", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("country", sa.String(60)),
    )  # fmt: skip
    sa.Table(
        "customers", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(120)),
        sa.Column("segment", sa.String(20)),
        sa.Column("region_id", sa.ForeignKey("regions.id"), index=True),
        sa.Column("created_at", sa.Date, nullable=False),
    )  # fmt: skip
    sa.Table(
        "categories", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
    )  # fmt: skip
    sa.Table(
        "products", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("category_id", sa.ForeignKey("categories.id"), index=True),
        sa.Column("list_price", sa.Numeric(10, 2), nullable=False),
    )  # fmt: skip
    sa.Table(
        "orders", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.ForeignKey("customers.id"), nullable=False, index=True),
        sa.Column("ordered_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("shipped_at", sa.DateTime),
    )  # fmt: skip
    sa.Table(
        "order_lines", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("product_id", sa.ForeignKey("products.id"), nullable=False, index=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(10, 2), nullable=False),
        sa.Column("discount", sa.Numeric(4, 2)),
    )  # fmt: skip
    return md


def _money(cents: int) -> Decimal:
    """Exact two-decimal value; Decimal so no binary rounding creeps in before the driver."""
    return Decimal(cents).scaleb(-2)


def _customer_days(rng: random.Random, count: int) -> list[int]:
    """Sign-up days (relative to 2023-01-01), sorted so customer ids follow sign-up order."""
    return sorted(rng.randrange(*CUSTOMER_DAYS) for _ in range(count))


def _customers(rng: random.Random, days: list[int]) -> Iterator[Row]:
    """Customers; about 3% reuse an earlier name so that name-keyed reports meet ties."""
    seen: set[str] = set()
    taken: list[tuple[str, str, str]] = []
    for number, day in enumerate(days, start=1):
        if taken and rng.random() < 0.03:
            first, last, name = rng.choice(taken)
        else:
            for _ in range(20):  # retry, then a middle initial, until the name is new
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                name = f"{first} {last}"
                if name in seen:
                    name = f"{first} {chr(rng.randrange(65, 91))}. {last}"
                if name not in seen:
                    break
            seen.add(name)
            taken.append((first, last, name))
        domain = rng.choice(EMAIL_DOMAINS)
        email = None if rng.random() < 0.05 else f"{first}.{last}{number}@{domain}".lower()
        segment = None if rng.random() < 0.03 else rng.choices(SEGMENTS, (60, 25, 15))[0]
        region = None if rng.random() < 0.02 else rng.choices(range(1, 9), REGION_WEIGHTS)[0]
        yield number, name, email, segment, region, START.date() + timedelta(days=day)


def _products(rng: random.Random, count: int) -> list[Row]:
    """Products with log-uniform list prices ending in .99, .49 or .00, as shops price them."""
    rows: list[Row] = []
    for number in range(1, count + 1):
        category = rng.randrange(len(CATEGORIES))
        prefix, low, high, nouns = list(CATEGORIES.values())[category]
        units = int(low * (high / low) ** rng.random())  # whole currency units
        cents = max(99, units * 100 - rng.choice((1, 1, 51, 0)))  # 11.99, 11.49 or 12.00
        category_id: int | None = category + 1
        if rng.random() < 0.02:
            category_id, prefix = None, "GEN"
        model = f"{rng.choice('ABCSX')}{rng.randrange(100, 1000)}"
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)} {model}"
        rows.append((number, f"{prefix}-{number:05d}", title, category_id, _money(cents)))
    return rows


def _order_minute(rng: random.Random) -> int:
    """Minutes after 2023-01-01: growing business, a busy year end, daytime peaks."""
    while True:
        day = int((MINUTES // 1440) * ((1 + 3 * rng.random()) ** 0.5 - 1))  # density ~ 1 + t
        if rng.random() * 1.5 < MONTH_WEIGHTS[(START + timedelta(days=day)).month - 1]:
            hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
            return day * 1440 + hour * 60 + rng.randrange(60)


def _orders(rng: random.Random, count: int, customer_days: list[int]) -> Iterator[Row]:
    """Orders in time order, drawn from a pool of fewer timestamps than orders, so ties abound.

    Each order goes to a customer who had signed up by then, earlier customers more often.
    """
    pool = sorted(_order_minute(rng) for _ in range(max(1, count * 2 // 3)))
    picks = sorted(rng.randrange(len(pool)) for _ in range(count))
    for number, pick in enumerate(picks, start=1):
        minute = pool[pick]
        signed_up = max(1, bisect.bisect_right(customer_days, minute // 1440))
        customer = int(signed_up * rng.random() ** 1.5) + 1
        recent = minute > MINUTES - 14 * 1440
        status = rng.choices(STATUSES, RECENT_STATUS_WEIGHTS if recent else STATUS_WEIGHTS)[0]
        ordered_at = START + timedelta(minutes=minute)
        shipped_at = None
        if status not in ("pending", "cancelled"):
            shipped_at = ordered_at + timedelta(minutes=rng.randrange(180, 4 * 1440))
        yield number, customer, ordered_at, status, shipped_at


def _order_lines(rng: random.Random, orders: int, products: list[Row]) -> Iterator[Row]:
    """One to nine lines per order (five on average), distinct products, popular ones first."""
    prices = {row[0]: row[4] for row in products}
    cents = {product: int(price.scaleb(2)) for product, price in prices.items()}
    popular = list(prices)
    rng.shuffle(popular)
    popularity = tuple(itertools.accumulate(1 / rank**0.8 for rank in range(1, len(popular) + 1)))
    number = 0
    for order in range(1, orders + 1):
        wanted = rng.choices(LINE_COUNTS, cum_weights=LINE_CUM)[0]
        chosen: dict[int, None] = {}
        while len(chosen) < wanted:
            more = rng.choices(popular, cum_weights=popularity, k=wanted - len(chosen))
            chosen.update(dict.fromkeys(more))
        for product in chosen:
            number += 1
            quantity = rng.choices(QUANTITIES, cum_weights=QUANTITY_CUM)[0]
            price = prices[product]
            if rng.random() < 0.25:  # a negotiated or promotional price, within 5% of list
                price = _money(max(1, round(cents[product] * rng.uniform(0.95, 1.05))))
            discount = None
            if rng.random() >= 0.6:
                discount = rng.choices(DISCOUNTS, cum_weights=DISCOUNT_CUM)[0]
            yield number, order, product, quantity, price, discount


def _for_driver(table: sa.Table, dialect: sa.Dialect, rows: Iterable[Row]) -> Iterator[Row]:
    """Apply SQLAlchemy's own bind conversions (e.g. SQLite's datetime strings and floats)."""
    processors = [
        (index, proc)
        for index, column in enumerate(table.columns)
        if (proc := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    if not processors:
        yield from rows
        return
    for row in rows:
        values = list(row)
        for index, proc in processors:
            values[index] = proc(values[index])
        yield tuple(values)


def _load(conn: sa.Connection, table: sa.Table, rows: Iterable[Row]) -> int:
    """Bulk-insert through the fastest path the driver offers: COPY, executemany, or Core."""
    driver = conn.connection.driver_connection
    if isinstance(driver, psycopg.Connection):
        columns = sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name), columns)
        count = 0
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in _for_driver(table, conn.dialect, rows):
                copy.write_row(row)
                count += 1
        return count
    insert = table.insert()
    insert_sql = str(insert.compile(dialect=conn.dialect))
    stream = iter(_for_driver(table, conn.dialect, rows))
    count = 0
    while chunk := list(itertools.islice(stream, CHUNK_ROWS)):
        if isinstance(driver, sqlite3.Connection):
            driver.executemany(insert_sql, chunk)
        else:
            names = [column.name for column in table.columns]
            conn.execute(insert, [dict(zip(names, row, strict=True)) for row in chunk])
        count += len(chunk)
    return count


def generate_demo(
    url: str, orders: int = 20_000, seed: int = 42, *, replace: bool = True
) -> DemoStats:
    """Create the six demo tables at `url` and fill them; replace=False refuses to overwrite."""
    if orders < 1:
        raise ValueError("orders must be at least 1")
    began = time.perf_counter()
    metadata = demo_metadata()
    table = metadata.tables

    def stream(name: str) -> random.Random:
        # One independent stream per table; S311 is about secrets, this is sample data.
        return random.Random(f"quire-demo/{seed}/{name}")  # noqa: S311

    customer_days = _customer_days(stream("sign-ups"), max(50, orders // 20))
    products = _products(stream("products"), 200 if orders >= 2000 else max(20, orders // 10))
    sources: list[tuple[str, Iterable[Row]]] = [
        ("regions", [(i, *region) for i, region in enumerate(REGIONS, start=1)]),
        ("categories", [(i, name) for i, name in enumerate(CATEGORIES, start=1)]),
        ("customers", _customers(stream("customers"), customer_days)),
        ("products", products),
        ("orders", _orders(stream("orders"), orders, customer_days)),
        ("order_lines", _order_lines(stream("order_lines"), orders, products)),
    ]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            inspector = sa.inspect(conn)
            existing = [name for name in table if inspector.has_table(name)]
            if existing and not replace:
                raise DataSourceError(f"tables already exist: {', '.join(existing)}")
            metadata.drop_all(conn)
            metadata.create_all(conn)
            counts = {name: _load(conn, table[name], rows) for name, rows in sources}
            if conn.dialect.name == "postgresql":  # explicit ids bypass the id sequences
                for name, count in counts.items():
                    sequence = sa.func.pg_get_serial_sequence(name, "id")
                    conn.execute(sa.select(sa.func.setval(sequence, max(count, 1))))
                conn.exec_driver_sql("ANALYZE regions, customers, categories, products, orders")
                conn.exec_driver_sql("ANALYZE order_lines")
    except (SQLAlchemyError, psycopg.Error, sqlite3.Error) as exc:
        where = sa.make_url(url).render_as_string(hide_password=True)
        raise DataSourceError(f"cannot write demo data to {where}: {exc}") from exc
    finally:
        engine.dispose()
    return DemoStats(**counts, seconds=round(time.perf_counter() - began, 3))
