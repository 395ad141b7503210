"""The data source's schema as the expression checker sees it: tables, columns and relationships.

A relationship is a foreign key seen from the referencing table, named after its column so
that an expression can follow it with a dotted path (`order.customer.region.name`):

- one column ending in `_id` drops the suffix (`customer_id` gives `customer`);
- any other single column keeps its name (`origin` gives `origin`: the bare name is the
  column, `origin.name` follows the relationship, since a column has no fields);
- a key of several columns is named after the table it refers to;
- a name already taken by an earlier key of the table becomes the column names joined
  with `_`, then that followed by `_<table>`, then a number.

Foreign keys are taken in the order of their column names, so the names never depend on
the order the database or Python lists them in. A definition may declare relationships
the database lacks (no foreign-key constraint) or rename one (`with_declared`).

On PostgreSQL only the connection's current schema (`current_schema()`, the first schema
of its `search_path` that exists) is reflected, its tables qualified with it, so a table
of another schema is never read by mistake; a foreign key into another schema is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import NoReferencedTableError, SQLAlchemyError

from engine.errors import DataSourceError, Issue, did_you_mean

__all__ = ("DeclaredRelationship", "Relationship", "SourceSchema", "reflect_schema")


@dataclass(frozen=True)
class Relationship:
    name: str
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


class DeclaredRelationship(Protocol):
    """A relationship as a definition declares it (`engine.definition.Relationship`)."""

    @property
    def name(self) -> str: ...
    @property
    def from_table(self) -> str | None: ...
    @property
    def columns(self) -> Sequence[str]: ...
    @property
    def table(self) -> str: ...
    @property
    def target_columns(self) -> Sequence[str] | None: ...


@dataclass
class SourceSchema:
    """Reflected tables, with the relationships that leave each one."""

    tables: dict[str, sa.Table]
    relationships: dict[str, dict[str, Relationship]] = field(default_factory=dict)
    schema: str | None = None  # the database schema the tables were read from
    elsewhere: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> schemas

    def unknown_table(self, name: str, path: str) -> Issue | None:
        """The issue of a table name this schema lacks, saying where it is when it is in
        another schema (`auth.users`, or `users` of `auth` only); None when it is here."""
        if name in self.tables:
            return None
        qualified, _, bare = name.rpartition(".")
        if qualified and qualified == self.schema and bare in self.tables:
            return Issue(path, f"write the table without its schema: '{bare}'")
        schemas = self.elsewhere.get(bare, ())
        other = (
            (qualified if qualified in schemas else None)
            if qualified
            else next(iter(schemas), None)
        )
        if other is not None:
            return Issue(
                path,
                f"table '{bare}' is in schema '{other}'; only schema '{self.schema}', "
                "the connection's current schema, is read",
                f"to read schema '{other}', add ?options=-csearch_path%3D{other} to the source URL",
            )
        return Issue(path, f"unknown table '{name}'", did_you_mean(name, self.tables))

    @classmethod
    def from_metadata(
        cls,
        metadata: sa.MetaData,
        schema: str | None = None,
        elsewhere: dict[str, tuple[str, ...]] | None = None,
    ) -> SourceSchema:
        tables = {t.name: t for t in metadata.tables.values() if t.schema == schema}
        relationships: dict[str, dict[str, Relationship]] = {}
        for name, table in tables.items():
            named: dict[str, Relationship] = {}
            for relationship in _foreign_keys(table, tables):
                free = _free_name(relationship, named)
                named[free] = Relationship(
                    free, relationship.columns, relationship.target, relationship.target_columns
                )
            relationships[name] = named
        return cls(tables, relationships, schema, dict(elsewhere or {}))

    def with_declared(
        self, declared: Sequence[DeclaredRelationship], base_table: str, path: str
    ) -> tuple[SourceSchema, list[Issue]]:
        """This schema with the definition's own relationships added, and their problems.

        A declared relationship replaces a reflected one of the same name, or over the same
        columns to the same table (which is how one is renamed). Each problem is an issue
        at `path[i]`; a declared relationship with a problem is left out.
        """
        if not declared:
            return self, []
        relationships = {name: dict(named) for name, named in self.relationships.items()}
        issues: list[Issue] = []
        seen: set[tuple[str, str]] = set()
        for i, item in enumerate(declared):
            where = f"{path}[{i}]"
            found = list(self._declared_issues(item, base_table, where))
            owner = item.from_table or base_table
            if (owner, item.name) in seen:
                found.append(Issue(f"{where}.name", f"duplicate relationship '{item.name}'"))
            seen.add((owner, item.name))
            if found:
                issues.extend(found)
                continue
            target = self.tables[item.table]
            target_columns = tuple(
                item.target_columns or (c.name for c in target.primary_key.columns)
            )
            relationship = Relationship(item.name, tuple(item.columns), item.table, target_columns)
            named = relationships.setdefault(owner, {})
            for old in list(named.values()):
                same = (old.columns, old.target, old.target_columns) == (
                    relationship.columns,
                    relationship.target,
                    relationship.target_columns,
                )
                if same or old.name == relationship.name:
                    del named[old.name]
            named[relationship.name] = relationship
        return SourceSchema(self.tables, relationships, self.schema, self.elsewhere), issues

    def _declared_issues(
        self, item: DeclaredRelationship, base_table: str, where: str
    ) -> Iterator[Issue]:
        owner = item.from_table or base_table
        unknown = self.unknown_table(
            owner, f"{where}.from_table" if item.from_table else "source.table"
        )
        if unknown is not None:
            yield unknown
            return
        yield from _unknown_columns(self.tables[owner], item.columns, f"{where}.columns")
        unknown = self.unknown_table(item.table, f"{where}.table")
        if unknown is not None:
            yield unknown
            return
        target = self.tables[item.table]
        if item.target_columns:
            yield from _unknown_columns(target, item.target_columns, f"{where}.target_columns")
            count = len(item.target_columns)
        else:
            count = len(target.primary_key.columns)
            if not count:
                yield Issue(
                    f"{where}.target_columns",
                    f"table '{item.table}' has no primary key",
                    "name the columns the relationship refers to",
                )
                return
        if count != len(item.columns):
            yield Issue(
                f"{where}.columns",
                f"{len(item.columns)} column(s) cannot refer to {count} column(s) "
                f"of table '{item.table}'",
            )


def _unknown_columns(table: sa.Table, columns: Iterable[str], path: str) -> Iterator[Issue]:
    for j, column in enumerate(columns):
        if column not in table.c:
            yield Issue(
                f"{path}[{j}]",
                f"unknown column '{column}' in table '{table.name}'",
                did_you_mean(column, table.c.keys()),
            )


def _foreign_keys(table: sa.Table, tables: dict[str, sa.Table]) -> list[Relationship]:
    """The table's foreign keys into `tables`, in the order of their columns (then target),
    each under its preferred name."""
    keys: list[Relationship] = []
    for fk in table.foreign_key_constraints:
        try:
            target = fk.referred_table
        except NoReferencedTableError:  # a table not reflected (another schema)
            continue
        if tables.get(target.name) is not target:
            continue
        columns = tuple(c.name for c in fk.columns)
        target_columns = tuple(e.column.name for e in fk.elements)
        keys.append(
            Relationship(
                _preferred_name(columns, target.name), columns, target.name, target_columns
            )
        )
    return sorted(keys, key=lambda r: (r.columns, r.target, r.target_columns))


def _preferred_name(columns: tuple[str, ...], target: str) -> str:
    if len(columns) > 1:
        return target
    column = columns[0]
    return column[:-3] if column.endswith("_id") and len(column) > 3 else column


def _free_name(relationship: Relationship, taken: dict[str, Relationship]) -> str:
    """The relationship's preferred name, or the first fallback no earlier key has."""
    joined = "_".join(relationship.columns)
    candidates = [relationship.name, joined, f"{joined}_{relationship.target}"]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    number = 2
    while f"{candidates[-1]}_{number}" in taken:
        number += 1
    return f"{candidates[-1]}_{number}"


def reflect_schema(engine: sa.Engine) -> SourceSchema:
    """Reflect every table of the source's default schema (PostgreSQL: `current_schema()`)."""
    try:
        schema = _current_schema(engine)
        metadata = sa.MetaData()
        # Every table is reflected anyway; following each foreign key to its table as it
        # is met recursed once per key and overflowed the stack on a long chain of them
        # (200 tables, each referring to the next). Foreign keys are read schema-qualified
        # (ignore_search_path): otherwise PostgreSQL writes a target visible on the
        # search_path without its schema, and a `users` of another schema could pass for
        # this one's.
        options: dict[str, Any] = {"postgresql_ignore_search_path": True} if schema else {}
        metadata.reflect(bind=engine, schema=schema, resolve_fks=False, **options)
        elsewhere = _other_schemas(engine, schema) if schema else {}
    except SQLAlchemyError as error:
        raise DataSourceError(f"cannot read the schema: {_first_line(error)}") from None
    return SourceSchema.from_metadata(metadata, schema, elsewhere)


def _current_schema(engine: sa.Engine) -> str | None:
    """PostgreSQL's current schema, to reflect and qualify names with; None elsewhere."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    if not schema:
        raise DataSourceError(
            "the connection has no current schema: no schema of its search_path exists",
            "source",
        )
    return str(schema)


def _other_schemas(engine: sa.Engine, schema: str) -> dict[str, tuple[str, ...]]:
    """Tables and views of the other schemas the connection may read, by name: only to
    say where a table is when it is not in the schema read."""
    query = sa.text(
        "SELECT table_name, table_schema FROM information_schema.tables "
        "WHERE table_schema <> :schema AND table_schema NOT IN ('pg_catalog', "
        "'information_schema') AND table_schema NOT LIKE 'pg\\_%' "
        "ORDER BY table_schema"
    )
    found: dict[str, tuple[str, ...]] = {}
    with engine.connect() as connection:
        for table, where in connection.execute(query, {"schema": schema}):
            found[table] = (*found.get(table, ()), where)
    return found


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
