"""Parameters: typed, checked, every problem at once."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest

from engine.document import parse_definition
from engine.errors import ParameterError
from engine.parameters import coerce_value, resolve_parameters

DEFINITION = parse_definition(
    """
title: Params
source: {table: t}
parameters:
  - {name: start, type: date, required: true}
  - {name: limit, type: integer, default: 10}
  - {name: rate, type: decimal}
  - {name: at, type: datetime}
  - {name: active, type: boolean, default: true}
  - {name: status, type: choice, choices: [open, closed], default: open}
  - {name: name, type: string}
"""
)


def test_text_values_become_typed_values() -> None:
    values = resolve_parameters(
        DEFINITION,
        {"start": "2024-03-01", "rate": "0.25", "at": "2024-03-01 10:30", "active": "no"},
    )
    assert values == {
        "start": date(2024, 3, 1),
        "limit": 10,
        "rate": Decimal("0.25"),
        "at": datetime(2024, 3, 1, 10, 30),
        "active": False,
        "status": "open",
        "name": None,
    }


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ParameterError) as caught:
        resolve_parameters(
            DEFINITION, {"limit": "ten", "status": "pending", "rate": "1,5", "strat": "x"}
        )
    assert [str(i) for i in caught.value.issues] == [
        "params.strat: not declared by the report (did you mean 'start'?)",
        "params.start: required",
        "params.limit: 'ten' is not a valid integer (expected a whole number)",
        "params.rate: '1,5' is not a valid decimal (expected a number like 12.50)",
        "params.status: 'pending' is not one of: open, closed",
    ]


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("integer", 3.0, 3),
        ("integer", " 42 ", 42),
        ("decimal", 1.5, Decimal("1.5")),
        ("boolean", "ON", True),
        ("date", datetime(2024, 1, 2, 3, 4), date(2024, 1, 2)),
        ("datetime", date(2024, 1, 2), datetime(2024, 1, 2)),
    ],
)
def test_coercion(kind: str, raw: object, expected: object) -> None:
    assert coerce_value(kind, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("integer", 2.5), ("integer", True), ("boolean", "maybe"), ("date", "13/01/2024")],
)
def test_refused_values(kind: str, raw: object) -> None:
    with pytest.raises(ValueError, match=f"is not a valid {kind}"):
        coerce_value(kind, raw)


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("decimal", "NaN", "'NaN' is not a number a report can use"),
        ("decimal", "sNaN", "'sNaN' is not a number a report can use"),
        ("decimal", "Infinity", "'Infinity' is not a number a report can use"),
        ("decimal", float("-inf"), "'-inf' is not a number a report can use"),
        ("decimal", "1e999999999", "'1e999999999' is out of range"),
        ("decimal", "1e-999999999", "'1e-999999999' is out of range"),
        ("integer", str(2**63), f"'{2**63}' is too large for an integer (at most 64 bits)"),
        ("integer", 1e300, "'1e+300' is too large for an integer"),
        ("integer", float("inf"), "'inf' is not a valid integer"),
    ],
)
def test_absurd_numbers_are_refused(kind: str, raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        coerce_value(kind, raw)


def test_largest_values_still_accepted() -> None:
    assert coerce_value("integer", str(2**63 - 1)) == 2**63 - 1
    assert coerce_value("integer", str(-(2**63))) == -(2**63)
    assert coerce_value("decimal", "1e999") == Decimal("1e999")


def test_a_huge_value_is_refused_and_the_message_repeats_only_its_start() -> None:
    with pytest.raises(ValueError) as refused:
        coerce_value("date", "x" * 100_000)
    assert str(refused.value) == f"'{'x' * 40}…' is not a valid date (expected YYYY-MM-DD)"
    with pytest.raises(ValueError, match=r"is too long \(10,001 characters; at most 10,000\)"):
        coerce_value("string", "y" * 10_001)
    assert coerce_value("string", "y" * 10_000) == "y" * 10_000
