"""The data source's schema as the expression checker sees it: tables, columns and relationships.

A relationship is a foreign key seen from the referencing table, named after its column
without the `_id` suffix (`orders.customer_id` gives `customer`), so that an expression
can follow it with a dotted path: `order.customer.region.name`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import NoReferencedTableError, SQLAlchemyError

from engine.errors import DataSourceError

__all__ = ("Relationship", "SourceSchema", "reflect_schema")


@dataclass(frozen=True)
class Relationship:
    name: str
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


@dataclass
class SourceSchema:
    """Reflected tables, with the relationships that leave each one."""

    tables: dict[str, sa.Table]
    relationships: dict[str, dict[str, Relationship]] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, metadata: sa.MetaData) -> SourceSchema:
        tables = {table.name: table for table in metadata.tables.values()}
        relationships: dict[str, dict[str, Relationship]] = {}
        for table in tables.values():
            named: dict[str, Relationship] = {}
            for fk in table.foreign_key_constraints:
                try:
                    target = fk.referred_table.name
                except NoReferencedTableError:  # in another schema: not reflected
                    continue
                columns = tuple(c.name for c in fk.columns)
                name = _relationship_name(columns, target)
                if name in named or name in table.c:
                    name = f"{name}_{target}"
                named[name] = Relationship(
                    name, columns, target, tuple(e.column.name for e in fk.elements)
                )
            relationships[table.name] = named
        return cls(tables, relationships)


def _relationship_name(columns: tuple[str, ...], target: str) -> str:
    if len(columns) == 1 and columns[0].endswith("_id") and len(columns[0]) > 3:
        return columns[0][:-3]
    return target


def reflect_schema(engine: sa.Engine) -> SourceSchema:
    """Reflect every table of the source's default schema."""
    metadata = sa.MetaData()
    try:
        # Every table is reflected anyway; following each foreign key to its table as it
        # is met recursed once per key and overflowed the stack on a long chain of them
        # (200 tables, each referring to the next).
        metadata.reflect(bind=engine, resolve_fks=False)
    except SQLAlchemyError as error:
        raise DataSourceError(f"cannot read the schema: {_first_line(error)}") from None
    return SourceSchema.from_metadata(metadata)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
