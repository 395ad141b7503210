"""The field picker's data: every dotted path an expression can name from the report's table.

Paths follow foreign keys as the expression compiler does (`order.customer.region.name`),
up to its join depth. `engine.catalogue.field_paths` is to take this function's place
once it lands; keep this module the only one that builds paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.expressions import MAX_JOIN_DEPTH
from engine.schema import SourceSchema

__all__ = ("FieldPath", "field_paths", "first_column")


@dataclass(frozen=True)
class FieldPath:
    """A column reachable from the base table: `product.name`, its table and its SQL type."""

    path: str
    table: str
    sql_type: str


def field_paths(schema: SourceSchema, table: str, depth: int = MAX_JOIN_DEPTH) -> list[FieldPath]:
    """The base table's columns first, then those of each relationship, breadth first.

    A path follows at most `depth` relationships, the limit the expression compiler allows.
    An unknown table gives no paths (the definition's own validation reports it).
    """
    paths: list[FieldPath] = []
    frontier: list[tuple[str, str]] = [("", table)] if table in schema.tables else []
    for level in range(depth + 1):
        following: list[tuple[str, str]] = []
        for prefix, name in frontier:
            paths.extend(
                FieldPath(prefix + str(column.name), name, str(column.type))
                for column in schema.tables[name].columns
            )
            if level < depth:
                following.extend(
                    (f"{prefix}{relation.name}.", relation.target)
                    for relation in schema.relationships.get(name, {}).values()
                    if relation.target in schema.tables
                )
        frontier = following
    return paths


def first_column(schema: SourceSchema, table: str) -> str | None:
    """The first column of the table, a new field element's starting expression."""
    if table not in schema.tables:
        return None
    columns = list(schema.tables[table].columns)
    return str(columns[0].name) if columns else None
