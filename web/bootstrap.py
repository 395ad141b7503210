"""First start: the data dir, the app database, the demo source and the example reports.

Every step looks before it acts, so later starts change nothing that exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.demo_data import generate_demo
from engine.document import parse_definition
from web import reports
from web.db import Database, DataSource, upgrade
from web.settings import Settings

__all__ = ("DEMO_SOURCE_NAME", "FIRST_START_MARKER", "prepare")

DEMO_SOURCE_NAME = "Demo sales (SQLite)"
FIRST_START_MARKER = "first-start.done"
log = logging.getLogger("quire.web")


def prepare(settings: Settings, database: Database) -> None:
    """Migrate the app database; on the very first start add the demo source and examples.

    The first start is done once its marker file exists; a start interrupted before that
    is finished by the next one. Deleting the demo source later does not bring it back.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(database.engine)
    marker = settings.data_dir / FIRST_START_MARKER
    if marker.exists():
        return
    with database.session() as session:
        if not session.scalar(sa.select(sa.func.count()).select_from(DataSource)):
            _add_demo(settings, session)
    marker.write_text("the demo source and the examples were added on the first start\n")


def _add_demo(settings: Settings, session: Session) -> None:
    demo_file = settings.data_dir / "demo.db"
    if not demo_file.exists():
        log.info("creating the demo database %s (first start)", demo_file)
        _generate(demo_file, settings.demo_orders)
    source = DataSource(name=DEMO_SOURCE_NAME, url=settings.demo_database_url)
    session.add(source)
    session.commit()
    for example in reports.list_examples(settings.examples_dir):
        text = reports.example_text(settings.examples_dir, example.name)
        table = parse_definition(text).source.table
        reports.create_report(session, text, source.id, ["example", table])


def _generate(file: Path, orders: int) -> None:
    # Written under another name first, so an interrupted start leaves no half database.
    partial = file.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    generate_demo(f"sqlite:///{partial}", orders=orders)
    partial.rename(file)
