"""A small table the hardening tests build on SQLite and PostgreSQL alike: `items`, 24 rows
of id, name, qty (the id) and bucket (id mod 4)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa


def create_items(url: str, name: Callable[[int], str]) -> None:
    """Create `items` at `url`, the name of item i being `name(i)`."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    items = sa.Table(
        "items", metadata,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text),
        sa.Column("qty", sa.Integer), sa.Column("bucket", sa.Integer),
    )  # fmt: skip
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            items.insert(),
            [{"id": i, "name": name(i), "qty": i, "bucket": i % 4} for i in range(1, 25)],
        )
    engine.dispose()
