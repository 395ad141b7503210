"""The first column of a table: a new element's starting expression.

The field picker's paths come from the engine's catalogue (`engine.api.describe_source`,
`fields`), the one implementation of the dotted paths an expression can name.
"""

from __future__ import annotations

from engine.schema import SourceSchema

__all__ = ("first_column",)


def first_column(schema: SourceSchema, table: str) -> str | None:
    """The first column of the table, a new field element's starting expression."""
    if table not in schema.tables:
        return None
    columns = list(schema.tables[table].columns)
    return str(columns[0].name) if columns else None
