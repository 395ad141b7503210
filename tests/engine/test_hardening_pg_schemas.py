"""PostgreSQL schemas: only the connection's current schema is read, its tables qualified
(issue 20, item 7)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import api
from engine.catalogue import Catalogue
from engine.errors import DataSourceError, Issue
from engine.schema import reflect_schema

SETUP = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id integer PRIMARY KEY, name text, secret text);
CREATE TABLE auth.tokens (id integer PRIMARY KEY);
CREATE TABLE users (id integer PRIMARY KEY, name text);
CREATE TABLE sessions (id integer PRIMARY KEY,
    user_id integer REFERENCES auth.users (id), owner_id integer REFERENCES users (id));
INSERT INTO auth.users VALUES (1, 'hash', 'pbkdf2$...');
INSERT INTO users VALUES (1, 'alice');
INSERT INTO sessions VALUES (1, 1, 1);
"""

LISTING = """
title: Users
source: {table: users}
bands: {detail: {elements: [{type: field, expression: name}]}}
"""


@pytest.fixture
def two_schemas(postgres_url: str) -> str:
    """`public.users` and `auth.users`, and `public.sessions` referring to both."""
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        for statement in SETUP.split(";"):
            if statement.strip():
                connection.exec_driver_sql(statement)
    engine.dispose()
    return postgres_url


def _search_path(url: str, path: str) -> str:
    return f"{url}?options=-csearch_path%3D{path}"


def _names(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        result = api.validate(LISTING, engine)
        assert result.ok, result.issues
        assert result.plan is not None
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(result.plan.ordered)]
    finally:
        engine.dispose()


def test_the_current_schema_alone_is_read_and_qualified(two_schemas: str) -> None:
    engine = sa.create_engine(two_schemas)
    schema = reflect_schema(engine)
    engine.dispose()
    assert schema.schema == "public"
    assert sorted(schema.tables) == ["sessions", "users"]
    assert {t.fullname for t in schema.tables.values()} == {"public.sessions", "public.users"}
    # the key into auth.users is not a relationship: it would read the other schema
    assert list(schema.relationships["sessions"]) == ["owner"]


def test_source_table_users_reads_public_users(two_schemas: str) -> None:
    assert _names(two_schemas) == ["alice"]


def test_a_url_names_another_schema(two_schemas: str) -> None:
    assert _names(_search_path(two_schemas, "auth")) == ["hash"]


def test_queries_name_the_schema_whatever_the_search_path(two_schemas: str) -> None:
    """Read with search_path public, run with auth first: still public.users."""
    engine = sa.create_engine(two_schemas)
    result = api.validate(LISTING, engine)
    engine.dispose()
    assert result.plan is not None
    other = sa.create_engine(_search_path(two_schemas, "auth,public"))
    with other.connect() as connection:
        assert [row[0] for row in connection.execute(result.plan.ordered)] == ["alice"]
    other.dispose()
    assert "public.users" in str(result.plan.select.compile(dialect=other.dialect))


def test_a_search_path_without_a_schema_is_refused(two_schemas: str) -> None:
    engine = sa.create_engine(_search_path(two_schemas, "nowhere"))
    with pytest.raises(DataSourceError, match="no current schema"):
        reflect_schema(engine)
    engine.dispose()


def test_the_catalogue_keeps_each_schema_apart(two_schemas: str) -> None:
    catalogue = Catalogue()
    public = sa.create_engine(two_schemas)
    auth = sa.create_engine(_search_path(two_schemas, "auth"))
    try:
        tables = {
            name: [t["name"] for t in catalogue.describe(engine)["tables"]]
            for name, engine in (("public", public), ("auth", auth))
        }
        assert tables == {"public": ["sessions", "users"], "auth": ["tokens", "users"]}
        columns = [c["name"] for c in catalogue.describe(auth)["tables"][1]["columns"]]
        assert columns == ["id", "name", "secret"]
        assert catalogue.schema(public).tables["users"].schema == "public"
    finally:
        public.dispose()
        auth.dispose()


def _table_issues(url: str, table: str) -> list[Issue]:
    engine = sa.create_engine(url)
    try:
        return list(api.validate(LISTING.replace("table: users", f"table: {table}"), engine).issues)
    finally:
        engine.dispose()


def test_a_table_of_another_schema_is_refused_saying_where_it_is(two_schemas: str) -> None:
    for table in ("auth.users", "tokens", "auth.tokens"):
        (issue,) = _table_issues(two_schemas, table)
        bare = table.rpartition(".")[2]
        assert issue.path == "source.table"
        assert issue.message == (
            f"table '{bare}' is in schema 'auth'; only schema 'public', "
            "the connection's current schema, is read"
        )
        assert issue.hint == (
            "to read schema 'auth', add ?options=-csearch_path%3Dauth to the source URL"
        )
    (issue,) = _table_issues(two_schemas, "public.users")
    assert issue.message == "write the table without its schema: 'users'"
    (issue,) = _table_issues(two_schemas, "nowhere.users")
    assert issue.message == "unknown table 'nowhere.users'"


def test_a_declared_relationship_into_another_schema_is_refused(two_schemas: str) -> None:
    declared = "{name: account, columns: [user_id], table: auth.users}"
    text = LISTING.replace("table: users}", f"table: sessions}}\nrelationships: [{declared}]")
    text = text.replace("expression: name", "expression: id")
    engine = sa.create_engine(two_schemas)
    (issue,) = api.validate(text, engine).issues
    engine.dispose()
    assert issue.path == "relationships[0].table"
    assert "is in schema 'auth'" in issue.message
