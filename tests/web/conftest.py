"""Web fixtures: one prepared data dir per session (migrated, demo source, examples),
copied for every test so that each test changes only its own app database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from web.app import create_app
from web.bootstrap import prepare
from web.db import Database
from web.settings import Settings

BASE_URL = "http://127.0.0.1:8000"
DEMO_ORDERS = 300


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir after a first start, with a small demo database."""
    data_dir = tmp_path_factory.mktemp("prepared") / "data"
    settings = Settings(data_dir=data_dir, demo_orders=DEMO_ORDERS, secret="test-secret")
    database = Database(settings.app_database_url)
    prepare(settings, database)
    database.dispose()
    return data_dir


@pytest.fixture
def data_dir(prepared_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(prepared_dir, target)
    return target


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    # The copied app database names the demo source by the prepared dir's path; that file
    # is never written by tests, so sharing it for reads is safe.
    return Settings(data_dir=data_dir, demo_orders=DEMO_ORDERS, secret="test-secret")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def csrf(client: TestClient) -> dict[str, str]:  # type: ignore[type-arg]
    """The CSRF header for unsafe form requests (the cookie is set by any page)."""
    client.get("/login")
    return {"x-csrftoken": client.cookies["csrftoken"]}
