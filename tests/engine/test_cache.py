"""The query cache: TTL, LRU, size bound, keys, and hit/miss counts in run results."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.cache import QueryCache, query_key
from engine.demo_data import generate_demo
from engine.document import load_definition
from engine.pipeline import run_pipeline
from engine.render import check_report


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_hits_misses_and_ttl() -> None:
    clock = _Clock()
    cache = QueryCache(ttl_s=10, clock=clock)
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return 42

    assert cache.get_or_compute("k", compute) == 42
    assert cache.get_or_compute("k", compute) == 42
    clock.now = 11
    assert cache.get_or_compute("k", compute) == 42
    assert len(computed) == 2
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 2, 1)


def test_least_recently_used_goes_first() -> None:
    cache = QueryCache(max_entries=2)
    cache.get_or_compute("a", lambda: 1)
    cache.get_or_compute("b", lambda: 2)
    cache.get_or_compute("a", lambda: 0)  # a is now the most recent
    cache.get_or_compute("c", lambda: 3)  # evicts b
    assert cache.get_or_compute("a", lambda: -1) == 1
    assert cache.get_or_compute("b", lambda: -2) == -2


def test_size_bound_evicts_and_refuses_oversized_values() -> None:
    cache = QueryCache(max_bytes=20_000)
    big = [(i, "x" * 50) for i in range(100)]
    cache.get_or_compute("big", lambda: big)
    assert cache.stats().entries == 1
    cache.get_or_compute("huge", lambda: [(i, "y" * 50) for i in range(1000)])
    assert cache.stats().bytes <= 20_000
    assert cache.get_or_compute("huge", lambda: "recomputed") == "recomputed"


def test_keys_differ_by_sql_parameters_and_source() -> None:
    one = sa.create_engine("sqlite:///one.db")
    two = sa.create_engine("sqlite:///two.db")
    query = sa.select(sa.literal(1)).where(sa.bindparam("x") > 0)
    assert query_key(one, query, {"x": 1}) == query_key(one, query, {"x": 1})
    assert query_key(one, query, {"x": 1}) != query_key(one, query, {"x": 2})
    assert query_key(one, query, {"x": 1}) != query_key(two, query, {"x": 1})
    other = sa.select(sa.literal(2)).where(sa.bindparam("x") > 0)
    assert query_key(one, query, {"x": 1}) != query_key(one, other, {"x": 1})


def test_run_results_count_cache_hits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    generate_demo(url, orders=100)
    engine = sa.create_engine(url)
    definition = load_definition(Path(__file__).parents[2] / "examples" / "sales_by_region.yaml")
    plan, params, _ = check_report(definition, engine, {"start": "2023-01-01"})
    cache = QueryCache()
    first = run_pipeline(definition, engine, plan, params, [], cache=cache)
    second = run_pipeline(definition, engine, plan, params, [], cache=cache)
    assert (first.cache_hits, first.cache_misses) == (0, 1)  # the row estimate
    assert (second.cache_hits, second.cache_misses) == (1, 0)
    assert first.rows == second.rows > 0
    engine.dispose()
