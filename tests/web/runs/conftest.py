"""Fixtures for runs: an app with one run worker, and a database for longer runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from litestar.testing import TestClient

from engine.demo_data import generate_demo
from web.app import create_app
from web.settings import Settings

BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def run_settings(settings: Settings) -> Settings:
    return replace(settings, run_workers=1)


@pytest.fixture
def app_client(run_settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(run_settings), base_url=BASE_URL) as client:
        yield client


@pytest.fixture(scope="session")
def big_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A demo database big enough for a run that lasts a few seconds (about 20K rows)."""
    path = tmp_path_factory.mktemp("big") / "big.db"
    generate_demo(f"sqlite:///{path}", orders=4_000)
    return f"sqlite:///{path}"
