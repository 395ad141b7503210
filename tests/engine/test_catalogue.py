"""The catalogue of a source: tables, keys, relationships both ways, field paths, the cache."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.catalogue import MAX_PATHS, Catalogue, describe_source, field_paths, source_schema
from engine.demo_data import generate_demo
from engine.errors import DataSourceError
from engine.schema import SourceSchema, reflect_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[sa.Engine]:
    """The demo tables, small, in a SQLite file or a PostgreSQL database of the test's own."""
    url = sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    generate_demo(url, orders=60, seed=3)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """The same small demo in SQLite alone, for the tests that need no PostgreSQL twin."""
    url = f"sqlite:///{tmp_path_factory.mktemp('catalogue') / 'demo.db'}"
    generate_demo(url, orders=60, seed=3)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


class Counting:
    """`reflect_schema`, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, engine: sa.Engine) -> SourceSchema:
        self.calls += 1
        return reflect_schema(engine)


def _table(catalogue: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in catalogue["tables"] if t["name"] == name)


def test_tables_columns_types_and_keys(demo: sa.Engine) -> None:
    described = Catalogue().describe(demo)
    assert [t["name"] for t in described["tables"]] == [
        "categories", "customers", "order_lines", "orders", "products", "regions",
    ]  # fmt: skip
    lines = _table(described, "order_lines")
    assert lines["primary_key"] == ["id"]
    columns = {c["name"]: c for c in lines["columns"]}
    assert columns["id"] == {
        "name": "id", "type": "INTEGER", "kind": "number", "nullable": False, "primary_key": True,
    }  # fmt: skip
    assert columns["unit_price"]["type"] == "NUMERIC(10, 2)"
    assert columns["unit_price"]["kind"] == "number"
    assert columns["discount"]["nullable"] is True
    assert columns["discount"]["primary_key"] is False
    customers = {c["name"]: c for c in _table(described, "customers")["columns"]}
    assert customers["name"]["type"] == "VARCHAR(100)"
    assert customers["name"]["kind"] == "text"
    assert customers["created_at"] == {
        "name": "created_at", "type": "DATE", "kind": "date", "nullable": False,
        "primary_key": False,
    }  # fmt: skip
    ordered_at = next(
        c for c in _table(described, "orders")["columns"] if c["name"] == "ordered_at"
    )
    assert ordered_at["kind"] == "datetime"
    assert ordered_at["type"] in ("DATETIME", "TIMESTAMP WITHOUT TIME ZONE")
    assert described["dialect"] == demo.dialect.name
    assert described["max_join_depth"] == 4
    json.dumps(described)  # JSON-ready as it is


def test_relationships_both_ways(demo: sa.Engine) -> None:
    described = Catalogue().describe(demo)
    orders = _table(described, "orders")
    assert orders["relationships"] == [
        {"name": "customer", "columns": ["customer_id"], "target": "customers",
         "target_columns": ["id"]},
    ]  # fmt: skip
    assert orders["referenced_by"] == [
        {"table": "order_lines", "relationship": "order", "columns": ["order_id"],
         "target_columns": ["id"]},
    ]  # fmt: skip
    lines = _table(described, "order_lines")
    assert {r["name"]: r["target"] for r in lines["relationships"]} == {
        "order": "orders",
        "product": "products",
    }
    assert lines["referenced_by"] == []
    assert [r["table"] for r in _table(described, "regions")["referenced_by"]] == ["customers"]


def test_field_paths_from_a_base_table(demo: sa.Engine) -> None:
    described = Catalogue().describe(demo, "order_lines")
    fields = {f["path"]: f for f in described["fields"]}
    assert described["base_table"] == "order_lines"
    assert described["fields_truncated"] is False
    assert fields["quantity"] == {
        "path": "quantity", "type": "INTEGER", "kind": "number", "nullable": False,
    }  # fmt: skip
    assert fields["product.name"]["kind"] == "text"
    assert fields["order.customer.region.name"] == {
        "path": "order.customer.region.name", "type": "VARCHAR(40)", "kind": "text",
        "nullable": False,
    }  # fmt: skip
    assert fields["product.category.name"]["type"] == "VARCHAR(40)"
    assert "order_lines.quantity" not in fields
    paths = [f["path"] for f in described["fields"]]
    assert (
        paths.index("quantity") < paths.index("product.name") < paths.index("order.customer.name")
    )
    assert len(paths) == len(set(paths))


def test_field_paths_stop_at_the_depth_asked(demo_sqlite: sa.Engine) -> None:
    schema = reflect_schema(demo_sqlite)
    one = {f["path"] for f in field_paths(schema, "order_lines", depth=1)}
    assert "order.status" in one
    assert "order.customer.name" not in one
    none = {f["path"] for f in field_paths(schema, "order_lines", depth=0)}
    assert none == {"id", "order_id", "product_id", "quantity", "unit_price", "discount"}
    deep = {f["path"] for f in field_paths(schema, "order_lines", depth=99)}
    assert deep == {f["path"] for f in field_paths(schema, "order_lines")}  # capped at 4


def test_unknown_base_table_is_named_with_a_hint(demo_sqlite: sa.Engine) -> None:
    with pytest.raises(DataSourceError) as caught:
        Catalogue().describe(demo_sqlite, "order_line")
    issue = caught.value.issues[0]
    assert issue.path == "table"
    assert "no table 'order_line'" in issue.message
    assert "order_lines" in issue.hint


def test_one_reflection_serves_describe_and_schema_until_the_ttl(demo_sqlite: sa.Engine) -> None:
    engine = demo_sqlite
    now = [100.0]
    counting = Counting()
    catalogue = Catalogue(ttl_s=60, reflect=counting, clock=lambda: now[0])
    first = catalogue.describe(engine)
    schema = source_schema(engine, catalogue)
    assert catalogue.describe(engine, "orders")["fields"]
    assert counting.calls == 1
    assert "order_lines" in schema.tables
    assert catalogue.describe(engine) is first
    now[0] += 59
    catalogue.schema(engine)
    assert counting.calls == 1
    now[0] += 2  # past the TTL
    catalogue.schema(engine)
    assert counting.calls == 2
    catalogue.invalidate(engine)
    describe_source(engine, catalogue=catalogue)
    assert counting.calls == 3


def test_sources_are_cached_apart(tmp_path: Path) -> None:
    counting = Counting()
    catalogue = Catalogue(reflect=counting)
    first = sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    second = sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with first.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE a (id INTEGER PRIMARY KEY)")
    assert [t["name"] for t in catalogue.describe(first)["tables"]] == ["a"]
    assert catalogue.describe(second)["tables"] == []
    assert counting.calls == 2


def test_demo_reflection_is_fast(demo_sqlite: sa.Engine) -> None:
    engine = demo_sqlite
    started = time.perf_counter()
    Catalogue().describe(engine, "order_lines")
    assert time.perf_counter() - started < 1.0


def test_a_source_that_hangs_while_reflected_gives_an_error_in_time(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    holder.execute("BEGIN EXCLUSIVE")  # every reader waits, here up to 5 s each time
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 5})
    try:
        started = time.monotonic()
        with pytest.raises(DataSourceError) as caught:
            Catalogue(timeout_s=0.3).describe(engine)
        assert time.monotonic() - started < 2.0
        assert caught.value.issues[0].message == "reading the schema took longer than 0.3 s"
        assert caught.value.issues[0].path == "source"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def test_a_hanging_reflection_is_not_started_again(demo_sqlite: sa.Engine) -> None:
    release = threading.Event()
    counting = Counting()

    def hanging(engine: sa.Engine) -> SourceSchema:
        release.wait(10)
        return counting(engine)

    catalogue = Catalogue(timeout_s=0.1, reflect=hanging)
    for _ in range(3):
        with pytest.raises(DataSourceError, match=r"longer than 0\.1 s"):
            catalogue.schema(demo_sqlite)
    assert threading.active_count() < 20
    release.set()
    catalogue.timeout_s = 30  # the real reflection now runs: give a loaded machine its time
    assert "orders" in catalogue.schema(demo_sqlite).tables  # the first one, finished
    catalogue.schema(demo_sqlite)
    assert counting.calls == 1


def test_password_is_kept_out_of_errors() -> None:
    engine = sa.create_engine("postgresql+psycopg://reader:s3cr%40t@127.0.0.1:1/nowhere")

    def echoing(engine: sa.Engine) -> SourceSchema:
        url = engine.url.render_as_string(hide_password=False)
        raise RuntimeError(f"could not use {url} (password s3cr@t)")

    with pytest.raises(DataSourceError) as caught:
        Catalogue(reflect=echoing).describe(engine)
    text = json.dumps(caught.value.to_dict()) + str(caught.value)
    assert "s3cr" not in text
    assert "***" in text
    assert caught.value.issues[0].path == "source"


def test_wrong_password_on_postgres_is_not_shown(postgres_url: str) -> None:
    url = sa.make_url(postgres_url).set(password="hunter2-secret")
    # This server trusts local connections: the wrong password reads, and is not shown.
    trusted = sa.create_engine(url)
    described = Catalogue().describe(trusted)
    assert "hunter2" not in json.dumps(described)
    assert described["source"].startswith("postgresql+psycopg://postgres:***@")
    trusted.dispose()
    for refused in (url.set(database="no_such_database_here"), url.set(username="no_such_role")):
        engine = sa.create_engine(refused)
        with pytest.raises(DataSourceError) as caught:
            Catalogue().describe(engine)
        engine.dispose()
        text = json.dumps(caught.value.to_dict()) + str(caught.value)
        assert "cannot read the schema" in text
        assert "no_such" in text  # the driver's reason is kept
        assert "hunter2" not in text
        assert caught.value.issues[0].path == "source"


def test_catalogue_of_200_tables_stays_small(tmp_path: Path) -> None:
    """200 tables of 12 columns, each with foreign keys to five others: the catalogue
    without paths is about 2 KB a table (424 KB); paths are given per base table, and
    capped."""
    metadata = sa.MetaData()
    for i in range(200):
        columns = [sa.Column("id", sa.Integer, primary_key=True)]
        columns += [sa.Column(f"c{j}", sa.String(30)) for j in range(6)]
        columns += [
            sa.Column(f"t{(i + k) % 200}_id", sa.ForeignKey(f"t{(i + k) % 200}.id"))
            for k in (1, 7, 31, 53, 97)
        ]
        sa.Table(f"t{i}", metadata, *columns)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wide.db'}")
    metadata.create_all(engine, checkfirst=False)
    catalogue = Catalogue()
    described = catalogue.describe(engine)
    size = len(json.dumps(described))
    assert len(described["tables"]) == 200
    assert size < 500_000
    with_paths = catalogue.describe(engine, "t0")
    assert with_paths["fields_truncated"] is True  # 5**4 tables four steps away
    assert len(with_paths["fields"]) == MAX_PATHS
    assert len(json.dumps(with_paths)) < size + 250_000
    engine.dispose()
