"""What a data source holds, for a designer's field picker and a data-source browser.

`describe_source` gives JSON-ready tables (columns with a readable type and a coarse kind,
keys, relationships both ways) and, for the base table asked for, the dotted paths an
expression can use. `source_schema` gives the `SourceSchema` that plans and previews
check against. Both come from one reflection per source, cached for a short time (key: the
URL with its password, never shown), so a designer's many requests read the schema once;
reflection runs under a time limit, so a database that hangs gives an error, not a stuck
request.

Field paths are given for one base table on request, not for every table: a schema of
200 tables whose foreign keys fan out has millions of paths four relationships deep. A
table's paths are also capped (`MAX_PATHS`, the answer says when they were cut).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from engine.errors import DataSourceError, Issue, QuireError, did_you_mean
from engine.expressions import MAX_JOIN_DEPTH
from engine.schema import SourceSchema, reflect_schema

__all__ = (
    "DEFAULT_CATALOGUE",
    "DEFAULT_REFLECT_TIMEOUT_S",
    "DEFAULT_TTL_S",
    "MAX_PATHS",
    "Catalogue",
    "column_kind",
    "describe_source",
    "field_paths",
    "invalidate",
    "source_schema",
)

DEFAULT_TTL_S = 60.0
DEFAULT_REFLECT_TIMEOUT_S = 10.0
MAX_PATHS = 2000  # paths from one base table; a picker shows a few dozen at once
_PATHS_KEPT = 16  # base tables whose paths a source's entry keeps
Reflect = Callable[[sa.Engine], SourceSchema]


def column_kind(type_: sa.types.TypeEngine[Any]) -> str:
    """`number`, `text`, `date`, `datetime`, `boolean` or `other`: what a picker groups by."""
    if isinstance(type_, sa.Boolean):
        return "boolean"
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Integer | sa.Numeric):  # Float is a Numeric
        return "number"
    if isinstance(type_, sa.String):  # Text, Enum and the national types too
        return "text"
    return "other"


def field_paths(
    schema: SourceSchema, table: str, depth: int = MAX_JOIN_DEPTH, limit: int = MAX_PATHS
) -> list[dict[str, Any]]:
    """Every column reachable from `table` along at most `depth` relationships.

    Breadth first, so the base table's own columns come first and a cut (at `limit`
    paths) drops the longest paths. Each: path, type, kind, nullable.
    """
    if table not in schema.tables:
        hint = did_you_mean(table, schema.tables)
        raise DataSourceError([Issue("table", f"no table '{table}' in the source", hint)])
    depth = min(max(depth, 0), MAX_JOIN_DEPTH)
    paths: list[dict[str, Any]] = []
    level: list[tuple[str, str]] = [("", table)]  # (prefix, table) reached at this depth
    for steps in range(depth + 1):
        following: list[tuple[str, str]] = []
        for prefix, name in level:
            for column in schema.tables[name].columns:
                if len(paths) >= limit:
                    return paths
                paths.append(
                    {
                        "path": prefix + column.name,
                        "type": _type_name(column.type),
                        "kind": column_kind(column.type),
                        "nullable": bool(column.nullable),
                    }
                )
            if steps < depth and len(paths) < limit:
                for relationship in schema.relationships.get(name, {}).values():
                    following.append((f"{prefix}{relationship.name}.", relationship.target))
        level = following
    return paths


@dataclass
class _Entry:
    expires: float
    schema: SourceSchema
    description: dict[str, Any] | None = None
    paths: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class Catalogue:
    """Reflected schemas per source, each kept `ttl_s` seconds; safe to share between threads.

    A source being reflected is reflected once: other requests for it wait for that
    reflection rather than start their own, even one that outlasted an earlier request's
    time limit. The catalogue dicts returned are shared between callers: read them only.
    """

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        timeout_s: float = DEFAULT_REFLECT_TIMEOUT_S,
        *,
        reflect: Reflect = reflect_schema,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._reflect = reflect
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._running: dict[str, Future[SourceSchema]] = {}  # reflections not yet awaited
        self._lock = threading.Lock()

    def schema(self, engine: sa.Engine) -> SourceSchema:
        """The source's schema, reflected at most once per `ttl_s`."""
        return self._entry(engine).schema

    def describe(self, engine: sa.Engine, table: str | None = None) -> dict[str, Any]:
        """The JSON-ready catalogue; with `table`, also its field paths (`fields`)."""
        entry = self._entry(engine)
        if entry.description is None:
            entry.description = _describe(engine, entry.schema)
        if table is None:
            return entry.description
        paths = entry.paths.get(table)
        if paths is None:
            paths = field_paths(entry.schema, table, limit=MAX_PATHS + 1)
            if len(entry.paths) >= _PATHS_KEPT:  # a browser going through every table
                entry.paths.pop(next(iter(entry.paths)))
            entry.paths[table] = paths
        return {
            **entry.description,
            "base_table": table,
            "fields": paths[:MAX_PATHS],
            "fields_truncated": len(paths) > MAX_PATHS,
        }

    def invalidate(self, engine: sa.Engine) -> None:
        """Forget the source's schema: the next request reflects it again."""
        with self._lock:
            self._entries.pop(_key(engine), None)
            self._running.pop(_key(engine), None)

    def _entry(self, engine: sa.Engine) -> _Entry:
        key = _key(engine)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires > self._clock():
                return entry
            running = self._running.get(key)
            if running is None:
                running = self._running[key] = self._start(engine)
            try:
                schema = running.result(timeout=self.timeout_s)
            except TimeoutError:
                # Left running: the next request waits for this reflection, not a new one.
                raise DataSourceError(
                    f"reading the schema took longer than {self.timeout_s:g} s", "source"
                ) from None
            except Exception as error:
                self._running.pop(key, None)
                raise _without_password(error, engine) from None
            self._running.pop(key, None)
            entry = _Entry(self._clock() + self.ttl_s, schema)
            with self._lock:
                self._entries[key] = entry
            return entry

    def _start(self, engine: sa.Engine) -> Future[SourceSchema]:
        """Reflect in a daemon thread: one that hangs (a lock, a server that stopped
        answering) is left to end on its own while requests get their answer in time."""
        future: Future[SourceSchema] = Future()

        def reflect() -> None:
            try:
                future.set_result(self._reflect(engine))
            except BaseException as error:  # handed to the waiting request
                future.set_exception(error)

        threading.Thread(target=reflect, name="quire-reflect", daemon=True).start()
        return future


DEFAULT_CATALOGUE = Catalogue()


def source_schema(engine: sa.Engine, catalogue: Catalogue = DEFAULT_CATALOGUE) -> SourceSchema:
    """The source's `SourceSchema`, from the cache when reflected in the last minute."""
    return catalogue.schema(engine)


def describe_source(
    engine: sa.Engine, table: str | None = None, catalogue: Catalogue = DEFAULT_CATALOGUE
) -> dict[str, Any]:
    """The source's tables, columns and relationships, JSON-ready; with `table`, the
    dotted field paths from it too (`fields`, and `fields_truncated`)."""
    return catalogue.describe(engine, table)


def invalidate(engine: sa.Engine, catalogue: Catalogue = DEFAULT_CATALOGUE) -> None:
    """Forget what was read of the source (after its schema changed, say)."""
    catalogue.invalidate(engine)


def _describe(engine: sa.Engine, schema: SourceSchema) -> dict[str, Any]:
    incoming: dict[str, list[dict[str, Any]]] = {name: [] for name in schema.tables}
    for name, relationships in schema.relationships.items():
        for relationship in relationships.values():
            incoming.setdefault(relationship.target, []).append(
                {
                    "table": name,
                    "relationship": relationship.name,
                    "columns": list(relationship.columns),
                    "target_columns": list(relationship.target_columns),
                }
            )
    tables = []
    for name in sorted(schema.tables):
        table = schema.tables[name]
        primary = [column.name for column in table.primary_key.columns]
        tables.append(
            {
                "name": name,
                "primary_key": primary,
                "columns": [
                    {
                        "name": column.name,
                        "type": _type_name(column.type, engine.dialect),
                        "kind": column_kind(column.type),
                        "nullable": bool(column.nullable),
                        "primary_key": column.name in primary,
                    }
                    for column in table.columns
                ],
                "relationships": [
                    {
                        "name": r.name,
                        "columns": list(r.columns),
                        "target": r.target,
                        "target_columns": list(r.target_columns),
                    }
                    for r in schema.relationships.get(name, {}).values()
                ],
                "referenced_by": incoming.get(name, []),
            }
        )
    return {
        "source": engine.url.render_as_string(hide_password=True),
        "dialect": engine.dialect.name,
        "max_join_depth": MAX_JOIN_DEPTH,
        "tables": tables,
    }


def _type_name(type_: sa.types.TypeEngine[Any], dialect: sa.Dialect | None = None) -> str:
    """`INTEGER`, `VARCHAR(80)`, `NUMERIC(12, 2)`: the type as the database writes it."""
    try:
        return type_.compile(dialect=dialect)
    except sa.exc.CompileError:  # a type this dialect cannot write still gets a name
        return type(type_).__name__.upper()


def _key(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _without_password(error: BaseException, engine: sa.Engine) -> QuireError:
    """The error as a `DataSourceError` at path `source`, any trace of the password removed."""
    password = engine.url.password
    issues = (
        error.issues
        if isinstance(error, QuireError)
        else (Issue("source", f"cannot read the schema: {type(error).__name__}: {error}"),)
    )
    cleaned = []
    for issue in issues:
        message = issue.message
        if password:
            for secret in {str(password), quote(str(password), safe="")}:
                message = message.replace(secret, "***")
        cleaned.append(Issue(issue.path or "source", message, issue.hint))
    return DataSourceError(cleaned)
