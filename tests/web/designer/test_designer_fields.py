"""A new element's starting expression: the first column of the report's table.

The field picker's paths are the engine's (`engine.catalogue.field_paths`, tested in
tests/engine/test_catalogue.py); the designer keeps no second implementation.
"""

from __future__ import annotations

from engine.schema import SourceSchema
from web.designer import fields
from web.designer.fields import first_column


def test_first_column_of_a_table(demo_schema: SourceSchema) -> None:
    assert first_column(demo_schema, "products") == "id"
    assert first_column(demo_schema, "nope") is None


def test_the_designer_builds_no_field_paths_of_its_own() -> None:
    assert not hasattr(fields, "field_paths")
