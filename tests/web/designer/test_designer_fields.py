"""The field picker's paths: columns reachable through foreign keys, up to the join depth."""

from __future__ import annotations

from engine.expressions import MAX_JOIN_DEPTH
from engine.schema import SourceSchema
from web.designer.fields import field_paths, first_column


def test_paths_follow_foreign_keys_from_the_base_table(demo_schema: SourceSchema) -> None:
    paths = {p.path: p for p in field_paths(demo_schema, "order_lines")}
    assert {"quantity", "product.name", "order.customer.region.name"} <= set(paths)
    assert paths["quantity"].sql_type == "INTEGER"
    assert paths["order.customer.region.name"].table == "regions"
    assert paths["order.customer.region.name"].sql_type.startswith("VARCHAR")
    assert next(iter(paths)) == "id"  # the base table's own columns come first


def test_depth_limits_the_relationships_followed(demo_schema: SourceSchema) -> None:
    one = {p.path for p in field_paths(demo_schema, "order_lines", depth=1)}
    assert "order.status" in one
    assert "order.customer.name" not in one
    deepest = max(p.path.count(".") for p in field_paths(demo_schema, "order_lines"))
    assert deepest <= MAX_JOIN_DEPTH


def test_a_cycle_of_foreign_keys_stops_at_the_depth_limit() -> None:
    import sqlalchemy as sa

    metadata = sa.MetaData()
    sa.Table(
        "employees",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("manager_id", sa.ForeignKey("employees.id")),
    )
    paths = [p.path for p in field_paths(SourceSchema.from_metadata(metadata), "employees")]
    assert paths[-1] == "manager." * MAX_JOIN_DEPTH + "manager_id"
    assert len(paths) == 2 * (MAX_JOIN_DEPTH + 1)


def test_an_unknown_table_has_no_paths(demo_schema: SourceSchema) -> None:
    assert field_paths(demo_schema, "nope") == []
    assert first_column(demo_schema, "nope") is None
    assert first_column(demo_schema, "products") == "id"
