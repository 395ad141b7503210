"""runs: duration, rows, pages, bytes, strategy, manifest, definition version and hash

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("rows", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pages", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("bytes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("strategy", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("manifest", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("definition_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("definition_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_status"))
        for name in (
            "definition_hash",
            "definition_version",
            "manifest",
            "strategy",
            "bytes",
            "pages",
            "rows",
            "duration_s",
        ):
            batch_op.drop_column(name)
