"""Relationship names: after the referencing column, the same in every process, and
relationships a definition declares itself (issue 20, item 6)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.schema import SourceSchema, reflect_schema
from engine.validation import validate

AIRPORTS = {"JFK": "John F Kennedy Intl", "LGA": "La Guardia", "ORD": "Chicago Ohare Intl"}
FLIGHTS = [(1, "JFK", "ORD"), (2, "LGA", "JFK"), (3, "ORD", "LGA"), (4, "JFK", "LGA")]


def _create(url: str, *, foreign_keys: bool = True) -> sa.Engine:
    """airports(faa, name), planes(id, model) and flights(origin, dest -> airports;
    plane_id -> planes), with or without the foreign-key constraints."""
    metadata = sa.MetaData()

    def key(target: str) -> list[Any]:
        return [sa.ForeignKey(target)] if foreign_keys else []

    airports = sa.Table(
        "airports", metadata, sa.Column("faa", sa.String(3), primary_key=True),
        sa.Column("name", sa.String(60)),
    )  # fmt: skip
    planes = sa.Table(
        "planes", metadata, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(20)),
    )  # fmt: skip
    flights = sa.Table(
        "flights", metadata, sa.Column("id", sa.Integer, primary_key=True),
        # dest first: a name that came from column order would be wrong here
        sa.Column("dest", sa.String(3), *key("airports.faa")),
        sa.Column("origin", sa.String(3), *key("airports.faa")),
        sa.Column("plane_id", sa.Integer, *key("planes.id")),
    )  # fmt: skip
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(airports.insert(), [{"faa": k, "name": v} for k, v in AIRPORTS.items()])
        connection.execute(planes.insert(), [{"id": 1, "model": "A320"}])
        connection.execute(
            flights.insert(),
            [{"id": i, "origin": o, "dest": d, "plane_id": 1} for i, o, d in FLIGHTS],
        )
    return engine


@pytest.fixture(params=["sqlite", "postgres"])
def flights_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    _create(url).dispose()
    return url


def _names(schema: SourceSchema) -> dict[str, str]:
    return {
        r.name: f"{'.'.join(r.columns)}->{r.target}"
        for r in schema.relationships["flights"].values()
    }


def _rows(url: str, definition: dict[str, Any], schema: SourceSchema | None = None) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        result = validate(definition, schema or reflect_schema(engine))
        assert result.ok, result.issues
        assert result.plan is not None
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(result.plan.ordered)]
    finally:
        engine.dispose()


def _listing(*expressions: str, relationships: Any = None) -> dict[str, Any]:
    listing: dict[str, Any] = {
        "title": "Flights",
        "source": {"table": "flights"},
        "bands": {
            "detail": {"elements": [{"type": "field", "expression": e} for e in expressions]}
        },
    }
    if relationships is not None:
        listing["relationships"] = relationships
    return listing


def test_relationships_are_named_after_their_column(flights_url: str) -> None:
    engine = sa.create_engine(flights_url)
    schema = reflect_schema(engine)
    engine.dispose()
    assert _names(schema) == {
        "dest": "dest->airports",
        "origin": "origin->airports",
        "plane": "plane_id->planes",
    }


def test_origin_and_dest_print_their_own_airports(flights_url: str) -> None:
    rows = _rows(flights_url, _listing("origin", "origin.name", "dest", "dest.name"))
    assert [row[:4] for row in rows] == [(o, AIRPORTS[o], d, AIRPORTS[d]) for _, o, d in FLIGHTS]


_PRINT_NAMES = """
import json, sys
import sqlalchemy as sa
from engine.schema import reflect_schema
schema = reflect_schema(sa.create_engine(sys.argv[1]))
named = schema.relationships["flights"]
print(json.dumps({n: [list(r.columns), r.target] for n, r in named.items()}))
"""


def test_names_are_the_same_in_every_process(flights_url: str) -> None:
    """A set's order changes with the hash seed: five processes, five seeds, one answer."""
    answers = set()
    for seed in range(5):
        done = subprocess.run(
            [sys.executable, "-c", _PRINT_NAMES, flights_url],
            capture_output=True, text=True, check=True, timeout=60,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        )  # fmt: skip
        answers.add(done.stdout.strip())
    assert len(answers) == 1
    assert json.loads(answers.pop())["origin"] == [["origin"], "airports"]


def test_quire_render_prints_the_right_airports_in_every_process(
    flights_url: str, tmp_path: Path
) -> None:
    """The CLI in three processes, three hash seeds: each CSV line's names match its codes."""
    definition = tmp_path / "flights.yaml"
    definition.write_text(json.dumps(_listing("origin", "origin.name", "dest", "dest.name")))
    expected = [["origin", "origin.name", "dest", "dest.name"]]
    expected += [[o, AIRPORTS[o], d, AIRPORTS[d]] for _, o, d in FLIGHTS]
    for seed in range(3):
        output = tmp_path / f"flights-{seed}.csv"
        subprocess.run(
            [sys.executable, "-m", "engine.cli", "render", str(definition),
             "--source", flights_url, "--format", "csv", "-o", str(output)],
            capture_output=True, text=True, check=True, timeout=120,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        )  # fmt: skip
        with output.open(encoding="utf-8", newline="") as file:
            assert list(csv.reader(file)) == expected


def _schema_of(tables: dict[str, list[tuple[tuple[str, ...], str]]]) -> SourceSchema:
    """A schema whose tables have the given foreign keys ((columns), target)."""
    metadata = sa.MetaData()
    sa.Table("airports", metadata, sa.Column("faa", sa.String, primary_key=True),
             sa.Column("code", sa.String), sa.Column("name", sa.String))  # fmt: skip
    for name, keys in tables.items():
        columns = {c for cols, _ in keys for c in cols}
        table = sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True),
                         *(sa.Column(c, sa.String) for c in sorted(columns)))  # fmt: skip
        for cols, target in keys:
            refs = ["faa", "code"][: len(cols)]
            table.append_constraint(sa.ForeignKeyConstraint(cols, [f"{target}.{r}" for r in refs]))
    return SourceSchema.from_metadata(metadata)


def test_clashing_names_fall_back_in_column_order() -> None:
    schema = _schema_of(
        {
            "legs": [
                (("origin_id",), "airports"),
                (("origin",), "airports"),
                (("a", "b"), "airports"),
                (("c", "d"), "airports"),
            ]
        }
    )
    names = {n: r.columns for n, r in schema.relationships["legs"].items()}
    # sorted by columns: (a, b), (c, d), (origin,), (origin_id,)
    assert names == {
        "airports": ("a", "b"),
        "c_d": ("c", "d"),
        "origin": ("origin",),
        "origin_id": ("origin_id",),
    }


# -- declared relationships ----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def no_keys_url(request: pytest.FixtureRequest) -> str:
    """The flights schema without any foreign-key constraint (common in real databases)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    _create(url, foreign_keys=False).dispose()
    return url


def test_a_definition_declares_the_relationships_a_database_lacks(no_keys_url: str) -> None:
    declared = [
        {"name": "origin", "columns": ["origin"], "table": "airports"},
        {"name": "dest", "columns": ["dest"], "table": "airports", "target_columns": ["faa"]},
    ]
    rows = _rows(no_keys_url, _listing("origin.name", "dest.name", relationships=declared))
    assert [row[:2] for row in rows] == [(AIRPORTS[o], AIRPORTS[d]) for _, o, d in FLIGHTS]


def test_without_keys_or_declarations_the_path_is_refused(no_keys_url: str) -> None:
    engine = sa.create_engine(no_keys_url)
    result = validate(_listing("origin.name"), reflect_schema(engine))
    engine.dispose()
    assert [i.path for i in result.issues] == ["bands.detail.elements[0].expression"]
    assert "'origin' is not a relationship of table 'flights'" in result.issues[0].message


def test_a_declared_relationship_renames_a_reflected_one(flights_url: str) -> None:
    declared = [{"name": "departure", "columns": ["origin"], "table": "airports"}]
    rows = _rows(flights_url, _listing("departure.name", "dest.name", relationships=declared))
    assert [row[:2] for row in rows] == [(AIRPORTS[o], AIRPORTS[d]) for _, o, d in FLIGHTS]
    engine = sa.create_engine(flights_url)
    result = validate(_listing("origin.name", relationships=declared), reflect_schema(engine))
    engine.dispose()
    assert "'origin' is not a relationship" in result.issues[0].message
    assert "departure" in result.issues[0].hint


def test_a_declared_relationship_can_start_from_a_joined_table(sqlite_url: str) -> None:
    engine = _create(sqlite_url, foreign_keys=False)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE cities (code TEXT PRIMARY KEY, label TEXT)")
        connection.exec_driver_sql("ALTER TABLE airports ADD COLUMN city TEXT")
        connection.exec_driver_sql("INSERT INTO cities VALUES ('NYC', 'New York')")
        connection.exec_driver_sql("UPDATE airports SET city = 'NYC'")
    engine.dispose()
    declared = [
        {"name": "origin", "columns": ["origin"], "table": "airports"},
        {"name": "town", "from_table": "airports", "columns": ["city"], "table": "cities"},
    ]
    rows = _rows(sqlite_url, _listing("origin.town.label", relationships=declared))
    assert {row[0] for row in rows} == {"New York"}


def test_declared_relationships_are_checked_against_the_schema(flights_url: str) -> None:
    declared: list[dict[str, Any]] = [
        {"name": "a", "columns": ["orign"], "table": "airports"},
        {"name": "b", "columns": ["origin"], "table": "airport"},
        {"name": "c", "columns": ["origin"], "table": "airports", "target_columns": ["nam"]},
        {"name": "d", "columns": ["origin", "dest"], "table": "airports"},
        {"name": "e", "columns": ["origin"], "table": "airports", "from_table": "nowhere"},
        {"name": "a", "columns": ["dest"], "table": "airports"},
        {"name": "f", "columns": ["origin"]},
    ]
    engine = sa.create_engine(flights_url)
    result = validate(_listing("origin.name", relationships=declared), reflect_schema(engine))
    engine.dispose()
    found = {(i.path, i.message, i.hint) for i in result.issues}
    assert found == {
        ("relationships[0].columns[0]", "unknown column 'orign' in table 'flights'",
         "did you mean 'origin'?"),
        ("relationships[1].table", "unknown table 'airport'", "did you mean 'airports'?"),
        ("relationships[2].target_columns[0]", "unknown column 'nam' in table 'airports'",
         "did you mean 'name'?"),
        ("relationships[3].columns",
         "2 column(s) cannot refer to 1 column(s) of table 'airports'", ""),
        ("relationships[4].from_table", "unknown table 'nowhere'",
         "expected one of: airports, flights, planes"),
        ("relationships[5].name", "duplicate relationship 'a'", ""),
        ("relationships[6].table", "required", ""),
    }  # fmt: skip


def test_a_column_and_a_relationship_of_one_name_stay_apart(flights_url: str) -> None:
    """`origin` is the column (a code), `origin.name` the relationship: no ambiguity."""
    rows = _rows(flights_url, _listing("origin || '/' || origin.name"))
    assert rows[0][0] == "JFK/John F Kennedy Intl"


def test_a_relationship_written_as_a_column_says_what_to_write(sqlite_url: str) -> None:
    engine = _create(sqlite_url)
    result = validate(_listing("plane"), reflect_schema(engine))
    engine.dispose()
    (issue,) = result.issues
    assert issue.message == "'plane' is a relationship of table 'flights', not a column"
    assert issue.hint == "name one of its columns: plane.id"
