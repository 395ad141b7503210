"""Keyset streaming must deliver exactly the rows of a plain full read, in the same order."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.document import parse_definition
from engine.loader import STRATEGIES, Loader
from engine.plan import build_plan
from engine.schema import reflect_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    """Engines made by a test, disposed when it ends so no connection outlives it."""
    made: list[sa.Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def _messy_table(engines: list[sa.Engine], url: str, rows: int = 600) -> sa.Engine:
    """NULLs in every key, many duplicates, and ties broken only by the primary key."""
    engine = sa.create_engine(url)
    engines.append(engine)
    metadata = sa.MetaData()
    table = sa.Table(
        "messy",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a", sa.Integer, nullable=True),
        sa.Column("b", sa.String(10), nullable=True),
        sa.Column("c", sa.Numeric(8, 2), nullable=True),
        sa.Column("d", sa.DateTime, nullable=True),
    )
    metadata.create_all(engine)
    rng = random.Random(7)
    stamps = [
        None,
        datetime(2024, 1, 1, 10),
        datetime(2024, 1, 1, 10, 0, 0, 500),
        datetime(2024, 2, 29),
    ]
    values = [
        {
            "id": i,
            "a": rng.choice([None, None, 1, 2, 2, 3]),
            "b": rng.choice([None, "x", "y", "", "x"]),
            "c": rng.choice([None, Decimal("1.50"), Decimal("-2.00"), Decimal("1.50")]),
            "d": rng.choice(stamps),
        }
        for i in rng.sample(range(1, rows * 3), rows)
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), values)
    return engine


DEFINITION = """
title: Messy
source: {table: messy}
groups:
  - {name: ga, expression: a}
  - {name: gb, expression: b, direction: desc}
sort:
  - {expression: c}
  - {expression: d, direction: desc}
  - {expression: "a + c"}
bands:
  detail:
    elements: [{type: field, expression: id}]
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("batch_size", [1, 7, 100, 10_000])
def test_every_strategy_matches_a_full_read_row_for_row(
    engines: list[sa.Engine], db_url: str, batch_size: int, strategy: str
) -> None:
    engine = _messy_table(engines, db_url)
    definition = parse_definition(DEFINITION)
    plan = build_plan(definition, reflect_schema(engine))
    with engine.connect() as conn:
        full = [tuple(r) for r in conn.execute(plan.ordered)]
    loader = Loader(engine, plan, {}, strategy=strategy, batch_size=batch_size)
    streamed = [tuple(r) for batch in loader.batches() for r in batch]
    assert loader.stats.strategy == strategy
    assert len(full) == 600
    assert streamed == full
    ids = [r[plan.expression_columns["id"]] for r in streamed]
    assert len(set(ids)) == len(ids)


def test_order_puts_nulls_last_and_follows_directions(
    engines: list[sa.Engine], db_url: str
) -> None:
    engine = _messy_table(engines, db_url, rows=200)
    plan = build_plan(parse_definition(DEFINITION), reflect_schema(engine))
    rows = [r for batch in Loader(engine, plan, {}, batch_size=13).batches() for r in batch]
    a, b = plan.expression_columns["a"], plan.expression_columns["b"]

    # Python's stable sort, least significant key first: b desc (NULLs last), then a asc.
    expected = sorted(rows, key=lambda r: r[b] or "", reverse=True)
    expected = sorted(expected, key=lambda r: r[b] is None)
    expected = sorted(expected, key=lambda r: (r[a] is None, r[a] or 0))
    assert [(r[a], r[b]) for r in rows] == [(r[a], r[b]) for r in expected]
    assert rows[-1][a] is None and rows[0][a] == 1


def test_batches_never_exceed_the_batch_size(engines: list[sa.Engine], sqlite_url: str) -> None:
    engine = _messy_table(engines, sqlite_url, rows=100)
    plan = build_plan(parse_definition(DEFINITION), reflect_schema(engine))
    loader = Loader(engine, plan, {}, strategy="keyset", batch_size=30)
    assert [len(b) for b in loader.batches()] == [30, 30, 30, 10]
