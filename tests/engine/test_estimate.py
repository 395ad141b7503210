"""Estimates of a run before it starts: rows (exact or planned), groups, pages, bytes, time."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.cache import QueryCache
from engine.demo_data import generate_demo
from engine.document import load_definition, parse_definition
from engine.errors import QueryTimeout
from engine.estimate import RateBook, estimate
from engine.pipeline import run_pipeline
from engine.plan import QueryPlan, build_plan
from engine.render import check_report
from engine.schema import reflect_schema
from engine.sinks.typst_sink import TypstSink

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sales_by_region.yaml"
ALL_ROWS = {"start": "2020-01-01"}
WHERE = "o.status <> 'cancelled' AND o.ordered_at < '2026-01-01'"  # the example's, ALL_ROWS
SLOW = """
title: Slow
source: {table: slow}
groups: [{name: g, expression: v, header: {elements: [{type: field, expression: v}]}}]
bands:
  detail:
    elements: [{type: field, expression: id}]
"""


@pytest.fixture
def postgres_demo(postgres_url: str) -> Iterator[sa.Engine]:
    generate_demo(postgres_url, orders=800, seed=5)
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(sql).scalar_one())


def test_pages_are_within_a_fifth_of_a_real_render(small_demo: sa.Engine, tmp_path: Path) -> None:
    definition = load_definition(EXAMPLE)
    for given in ({}, ALL_ROWS):
        plan, parameters, _ = check_report(definition, small_demo, given)
        rates = RateBook()
        guess = estimate(definition, small_demo, plan, parameters, rates=rates, cache=QueryCache())
        output = tmp_path / f"report-{len(given)}.pdf"
        plan, parameters, _ = check_report(definition, small_demo, given)
        sink = TypstSink(definition, plan, output, "pdf")
        result = run_pipeline(definition, small_demo, plan, parameters, [sink])
        assert guess.rows == result.rows
        assert guess.rows_exact is True
        assert result.pages > 5
        assert abs(guess.pages - result.pages) <= 0.2 * result.pages, (guess, result.pages)
        assert guess.bytes == round(guess.pages * rates.bytes_per_page())
        assert guess.rates_measured is False


def test_groups_are_counted_per_level(small_demo: sa.Engine) -> None:
    definition = load_definition(EXAMPLE)
    plan, parameters, _ = check_report(definition, small_demo, ALL_ROWS)
    guess = estimate(definition, small_demo, plan, parameters, cache=QueryCache())
    regions = _count(
        small_demo,
        "SELECT count(*) FROM (SELECT DISTINCT r.name FROM order_lines l "  # NULL is a group
        "JOIN orders o ON o.id = l.order_id JOIN customers c ON c.id = o.customer_id "
        f"LEFT JOIN regions r ON r.id = c.region_id WHERE {WHERE})",
    )
    customers = _count(
        small_demo,
        "SELECT count(*) FROM (SELECT DISTINCT r.name, c.name FROM order_lines l "
        "JOIN orders o ON o.id = l.order_id JOIN customers c ON c.id = o.customer_id "
        f"LEFT JOIN regions r ON r.id = c.region_id WHERE {WHERE})",
    )
    assert guess.groups == (regions, customers)
    assert guess.rows == _count(
        small_demo,
        f"SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE {WHERE}",
    )


def test_estimate_is_json_ready(small_demo: sa.Engine) -> None:
    definition = load_definition(EXAMPLE)
    plan, parameters, _ = check_report(definition, small_demo, {})
    data = estimate(definition, small_demo, plan, parameters, cache=QueryCache()).to_dict()
    assert set(data) == {
        "rows", "rows_exact", "groups", "pages", "bytes", "seconds", "rates_measured",
    }  # fmt: skip
    assert json.loads(json.dumps(data)) == data


def test_no_rows_is_one_page(small_demo: sa.Engine) -> None:
    definition = load_definition(EXAMPLE)
    plan, parameters, _ = check_report(
        definition, small_demo, {"start": "2001-01-01", "end": "2001-02-01"}
    )
    guess = estimate(definition, small_demo, plan, parameters, cache=QueryCache())
    assert (guess.rows, guess.groups, guess.pages) == (0, (0, 0), 1)


def test_rate_book_uses_defaults_then_recorded_runs() -> None:
    rates = RateBook(rows_per_s=1000, bytes_per_page=5000, startup_s=0.5)
    assert not rates.measured
    assert rates.seconds(2000) == pytest.approx(2.5)
    assert rates.bytes_per_page() == 5000
    rates.record(rows=0, pages=0, seconds=0.1, bytes=0)  # an empty run teaches nothing
    assert not rates.measured
    rates.record(rows=10_000, pages=100, seconds=2.5, bytes=700_000)
    rates.record(rows=30_000, pages=300, seconds=6.5, bytes=1_700_000)
    assert rates.measured
    assert rates.rows_per_s() == pytest.approx(40_000 / 8.0)
    assert rates.bytes_per_page() == pytest.approx(6000)
    assert rates.seconds(5000) == pytest.approx(1.5)


def test_rate_book_is_safe_between_threads() -> None:
    rates = RateBook(startup_s=0.0)
    rates_seen: list[float] = []

    def work() -> None:
        for _ in range(500):
            rates.record(rows=100, pages=2, seconds=0.1, bytes=10_000)
            rates_seen.append(rates.rows_per_s())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rates_seen
    assert all(rate == pytest.approx(1000) for rate in rates_seen)
    assert rates.bytes_per_page() == pytest.approx(5000)


def test_recorded_rates_feed_the_estimate(small_demo: sa.Engine) -> None:
    definition = load_definition(EXAMPLE)
    plan, parameters, _ = check_report(definition, small_demo, {})
    rates = RateBook(startup_s=0.0)
    rates.record(rows=1000, pages=10, seconds=2.0, bytes=100_000)
    guess = estimate(definition, small_demo, plan, parameters, rates=rates, cache=QueryCache())
    assert guess.rates_measured
    assert guess.seconds == round(guess.rows / 500, 1)
    assert guess.bytes == guess.pages * 10_000


def test_sqlite_count_past_its_limit_has_no_planner_to_fall_back_on(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    plan = _slow_plan(
        engine,
        "WITH d(x) AS (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) "
        "SELECT a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x + 100000 * g.x "
        "+ 1000000 * h.x AS id, a.x AS v FROM d a, d b, d c, d e, d f, d g, d h ORDER BY v",
    )
    with pytest.raises(QueryTimeout):
        estimate(parse_definition(SLOW), engine, plan, {}, count_timeout_s=0.2, cache=QueryCache())
    engine.dispose()


# -- PostgreSQL --------------------------------------------------------------------------------


def test_postgres_rows_exact_and_from_the_planner(postgres_demo: sa.Engine) -> None:
    definition = load_definition(EXAMPLE)
    plan, parameters, _ = check_report(definition, postgres_demo, {})
    exact = estimate(definition, postgres_demo, plan, parameters, cache=QueryCache())
    statements: list[str] = []
    sa.event.listen(postgres_demo, "before_cursor_execute", lambda *a: statements.append(a[2]))
    planned = estimate(definition, postgres_demo, plan, parameters, exact=False, cache=QueryCache())
    assert statements
    assert all(s.startswith("EXPLAIN (FORMAT JSON) SELECT") for s in statements)
    assert "%(" in statements[0]  # the dates are bound, not written into the SQL
    assert exact.rows_exact is True
    assert planned.rows_exact is False
    assert exact.rows > 500
    # The planner's guess, with the dates bound: the right order of magnitude.
    assert exact.rows / 3 < planned.rows < exact.rows * 3
    assert 1 <= planned.groups[0] <= planned.groups[1] <= planned.rows


def test_postgres_count_past_its_limit_falls_back_to_the_planner(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    view = (
        "SELECT g AS id, mod(g, 10) AS v FROM generate_series(1, 5000) g, (SELECT pg_sleep(10)) s"
    )
    plan = _slow_plan(engine, view)
    guess = estimate(
        parse_definition(SLOW), engine, plan, {}, count_timeout_s=0.3, cache=QueryCache()
    )
    assert guess.rows_exact is False
    assert guess.rows > 0
    assert 1 <= guess.groups[0] <= guess.rows
    engine.dispose()


def _slow_plan(engine: sa.Engine, view: str) -> QueryPlan:
    """A plan over table `slow`, then replaced by a slow view of the same shape."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE slow (id INTEGER PRIMARY KEY, v INTEGER)")
    plan = build_plan(parse_definition(SLOW), reflect_schema(engine))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE slow")
        conn.exec_driver_sql(f"CREATE VIEW slow AS {view}")
    return plan
