"""Alembic, configured in code: the migrations in `web/db/migrations` applied on start."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ("alembic_config", "upgrade")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: sa.Connection) -> Config:
    """A config with no alembic.ini: the script folder and the connection to migrate."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the app database to the newest schema; a no-op when it is there already."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
