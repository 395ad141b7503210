"""Documents and a source schema for the designer's tests: the examples, parsed as plain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.demo_data import demo_metadata
from engine.schema import SourceSchema

ROOT = Path(__file__).resolve().parents[3]


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def sales() -> dict[str, Any]:
    """Sales by region: two groups, every band, parameters, variables, a sort key."""
    return load(ROOT / "examples" / "sales_by_region.yaml")


@pytest.fixture
def charts() -> dict[str, Any]:
    """Sales by region with a chart in the region header."""
    return load(ROOT / "examples" / "sales_by_region_charts.yaml")


@pytest.fixture(scope="session")
def demo_schema() -> SourceSchema:
    """The demo database's schema, without a database: from its SQLAlchemy metadata."""
    return SourceSchema.from_metadata(demo_metadata())
