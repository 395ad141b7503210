"""The app database: migrations on SQLite and PostgreSQL, models that match them, first start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from litestar.testing import TestClient

from web import reports
from web.app import create_app
from web.bootstrap import DEMO_SOURCE_NAME, prepare
from web.db import Base, Database, DataSource, Report, upgrade
from web.settings import Settings

TABLES = {"alembic_version", "data_sources", "reports", "report_versions", "runs"}


def _migrate_and_compare(url: str) -> None:
    database = Database(url)
    try:
        upgrade(database.engine)
        upgrade(database.engine)  # a second start is a no-op
        assert set(sa.inspect(database.engine).get_table_names()) == TABLES
        with database.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []  # the models are exactly what the migrations build
    finally:
        database.dispose()


def test_migrations_on_sqlite(sqlite_url: str) -> None:
    _migrate_and_compare(sqlite_url)


def test_migrations_on_postgresql(postgres_url: str) -> None:
    _migrate_and_compare(postgres_url)


def test_the_app_on_a_postgresql_app_database(
    postgres_url: str, prepared_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(prepared_dir / "demo.db", data_dir / "demo.db")
    settings = Settings(data_dir=data_dir, database_url=postgres_url, secret="s")
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        assert len(client.get("/api/reports").json()) == 5
        text = "title: Products\nsource:\n  table: products\n"
        assert client.put("/api/reports/2", json={"definition": text}).json()["version"] == 2
        diff = client.get("/api/reports/2/diff", params={"old": 1, "new": 2}).json()["diff"]
        assert "+title: Products" in diff
        assert client.get("/", params={"q": "product", "tag": "products"}).status_code == 200
        assert client.delete("/api/reports/2").status_code == 204
    assert not (data_dir / "quire.db").exists()  # the app database really was PostgreSQL


def test_first_start_then_later_starts_change_nothing(prepared_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(prepared_dir, data_dir)
    settings = Settings(data_dir=data_dir, secret="s", demo_orders=300)
    database = Database(settings.app_database_url)
    with database.session() as session:
        sources = session.scalars(sa.select(DataSource)).all()
        assert [s.name for s in sources] == [DEMO_SOURCE_NAME]
        session.delete(sources[0])
        session.commit()
    prepare(settings, database)  # a later start
    with database.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(DataSource)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Report)) == 5
    database.dispose()


def test_every_example_is_imported_bound_to_the_demo_source(prepared_dir: Path) -> None:
    database = Database(f"sqlite:///{prepared_dir / 'quire.db'}")
    with database.session() as session:
        titles = {card.title for card in reports.list_reports(session)}
        examples = reports.list_examples(Settings().examples_dir)
        assert titles == {e.title for e in examples}
        for report in session.scalars(sa.select(Report)):
            assert report.source is not None
            assert report.source.name == DEMO_SOURCE_NAME
            assert report.tags[0] == "example"
    database.dispose()


def test_an_interrupted_demo_generation_leaves_no_half_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(url: str, orders: int) -> None:
        Path(url.removeprefix("sqlite:///")).write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr("web.bootstrap.generate_demo", fail)
    settings = Settings(data_dir=tmp_path / "data", secret="s", demo_orders=100)
    database = Database(settings.app_database_url)
    with pytest.raises(KeyboardInterrupt):
        prepare(settings, database)
    assert not (tmp_path / "data" / "demo.db").exists()
    monkeypatch.undo()
    prepare(settings, database)  # the next start finishes the first one
    assert (tmp_path / "data" / "demo.db").exists()
    with database.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Report)) == 5
    database.dispose()
