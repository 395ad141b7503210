"""Formats hold bounded numbers (issue 20, item 2): a precision past MAX_PRECISION, or a
format longer than MAX_FORMAT_LENGTH, is refused at the field's `.format` path before a
row is read; every precision allowed prints any value, however large, without error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.formats import exact, make_formatter
from engine.limits import MAX_FORMAT_LENGTH, MAX_PRECISION
from engine.schema import reflect_schema
from engine.validation import validate

FIELD = "bands.detail.elements[0]"


def _definition(fmt: str) -> str:
    return (
        "title: Formats\nsource: {table: items}\nbands:\n  detail:\n    elements:\n"
        f"      - {{type: field, expression: qty, format: '{fmt}'}}\n"
    )


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)])
def items(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    engine = sa.create_engine(str(request.getfixturevalue(request.param)))
    metadata = sa.MetaData()
    sa.Table("items", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("qty", sa.Numeric(30, 2)))  # fmt: skip
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("fmt", ["{.999999999e}", "{,.21f}", "{.100%}", "{.0000000000000021f}"])
def test_a_precision_past_the_limit_is_refused_at_the_format_path(
    items: sa.Engine, fmt: str
) -> None:
    started = time.perf_counter()
    found = validate(_definition(fmt), reflect_schema(items))
    assert time.perf_counter() - started < 5  # refused, not tried
    [issue] = found.issues
    assert issue.path == f"{FIELD}.format"
    assert f"more than the {MAX_PRECISION} a format may show" in issue.message


def test_a_format_longer_than_the_limit_is_refused(items: sa.Engine) -> None:
    fmt = "x" * MAX_FORMAT_LENGTH + "{,.2f}"
    [issue] = validate(_definition(fmt), reflect_schema(items)).issues
    assert issue.path == f"{FIELD}.format"
    assert f"at most {MAX_FORMAT_LENGTH} characters" in issue.message


def test_the_largest_precision_is_accepted(items: sa.Engine) -> None:
    assert validate(_definition(f"{{,.{MAX_PRECISION}f}}"), reflect_schema(items)).ok


@pytest.mark.parametrize(
    "value", [Decimal("123456789012345678901234.5"), 1e300, -(10**40), Decimal("-7.25")]
)
def test_any_value_prints_at_the_largest_precision(value: Decimal | float | int) -> None:
    """Past 28 digits Decimal's default context refused to round (InvalidOperation, a
    traceback); now the value prints whole, to the last place asked for."""
    fixed = make_formatter(f"{{,.{MAX_PRECISION}f}}")(value)
    assert Decimal(fixed.replace(",", "")) == exact(value)
    assert len(fixed.partition(".")[2]) == MAX_PRECISION
    percent = make_formatter(f"{{.{MAX_PRECISION}%}}")(value)
    assert Decimal(percent.removesuffix("%")) == exact(value) * 100
    scientific = make_formatter(f"{{.{MAX_PRECISION}e}}")(value)
    digits = exact(value).as_tuple().digits
    assert Decimal(scientific) == exact(value) or len(digits) > MAX_PRECISION + 1


def test_rounding_stays_half_up_at_many_digits() -> None:
    fmt = make_formatter(f"{{.{MAX_PRECISION}f}}")
    big = Decimal("12345678901234567890.123456789012345678905")
    assert fmt(big) == "12345678901234567890.12345678901234567891"
