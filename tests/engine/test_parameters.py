"""Parameters: typed, checked, every problem at once."""

from __future__ import annotations

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
        "parameter 'strat': not declared by the report (did you mean 'start'?)",
        "parameter 'start': required (pass --param start=VALUE)",
        "parameter 'limit': 'ten' is not a valid integer (expected a whole number)",
        "parameter 'rate': '1,5' is not a valid decimal (expected a number like 12.50)",
        "parameter 'status': 'pending' is not one of: open, closed",
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
