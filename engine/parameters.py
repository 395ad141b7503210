"""Run parameters: text from a command line or a form, turned into typed, checked values.

Every problem is reported at once, at `params.NAME` (a value given for a run) or at
`parameters[i].default`; values are only ever bound. How a value is given (a command-line
option, a form field) is the caller's to say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.errors import Issue, ParameterError, did_you_mean

if TYPE_CHECKING:
    from engine.definition import ParameterType, ReportDefinition

__all__ = ("PARAMETER_SQL_TYPES", "coerce_value", "parameter_types", "resolve_parameters")

PARAMETER_SQL_TYPES: dict[ParameterType, sa.types.TypeEngine[Any]] = {
    "string": sa.String(),
    "choice": sa.String(),
    "integer": sa.Integer(),
    "decimal": sa.Numeric(),
    "date": sa.Date(),
    "datetime": sa.DateTime(),
    "boolean": sa.Boolean(),
}

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def resolve_parameters(
    definition: ReportDefinition, given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Typed values for every declared parameter: given, else default, else None."""
    given = dict(given or {})
    issues: list[Issue] = []
    declared = {p.name: p for p in definition.parameters}
    for name in given:
        if name not in declared:
            issues.append(
                Issue(f"params.{name}", "not declared by the report", did_you_mean(name, declared))
            )
    values: dict[str, Any] = {}
    for i, parameter in enumerate(definition.parameters):
        is_given = given.get(parameter.name) not in (None, "")
        raw = given[parameter.name] if is_given else parameter.default
        where = f"params.{parameter.name}" if is_given else f"parameters[{i}].default"
        if raw is None or raw == "":
            if parameter.required:
                issues.append(Issue(f"params.{parameter.name}", "required"))
            values[parameter.name] = None
            continue
        try:
            values[parameter.name] = coerce_value(parameter.type, raw, parameter.choices)
        except ValueError as error:
            issues.append(Issue(where, str(error)))
    if issues:
        raise ParameterError(issues)
    return values


def coerce_value(kind: str, raw: Any, choices: Sequence[str] | None = None) -> Any:
    """One value of the parameter's type; raise ValueError saying what was expected."""
    text = raw.strip() if isinstance(raw, str) else raw
    try:
        if kind in ("string", "choice"):
            value = str(text)
            if len(value) > MAX_STRING_LENGTH:
                raise ValueError(
                    f"{_shown(value)} is too long ({len(value):,} characters; "
                    f"at most {MAX_STRING_LENGTH:,})"
                )
            if kind == "choice" and choices and value not in choices:
                raise ValueError(f"{_shown(value)} is not one of: {', '.join(choices)}")
            return value
        if kind == "integer":
            if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
                raise ValueError
            number = int(text)
            if not -(2**63) <= number < 2**63:
                raise ValueError(f"{_shown(raw)} is too large for an integer (at most 64 bits)")
            return number
        if kind == "decimal":
            if isinstance(text, bool):
                raise ValueError
            return _decimal(raw, Decimal(str(text)))
        if kind == "boolean":
            return _boolean(text)
        if kind == "date":
            if isinstance(text, datetime):
                return text.date()
            return text if isinstance(text, date) else date.fromisoformat(str(text))
        if isinstance(text, datetime):
            return text
        if isinstance(text, date):
            return datetime(text.year, text.month, text.day)
        return datetime.fromisoformat(str(text))
    except (ValueError, TypeError, ArithmeticError) as error:
        if str(error).startswith("'"):
            raise
        raise ValueError(f"{_shown(raw)} is not a valid {kind}{_EXAMPLES.get(kind, '')}") from None


_EXAMPLES = {
    "date": " (expected YYYY-MM-DD)",
    "datetime": " (expected YYYY-MM-DD HH:MM)",
    "integer": " (expected a whole number)",
    "decimal": " (expected a number like 12.50)",
    "boolean": " (expected true or false)",
}


MAX_DECIMAL_EXPONENT = 1000  # beyond this a "number" is a mistake, and costly to compute with
MAX_STRING_LENGTH = 10_000  # characters of a string parameter: a filter value, not a document
_SHOWN = 40  # characters of a bad value an error message repeats


def _shown(raw: Any) -> str:
    """The value a message names, quoted, cut short: a message must not repeat a megabyte."""
    text = str(raw)
    return f"'{text[:_SHOWN]}…'" if len(text) > _SHOWN else f"'{text}'"


def _decimal(raw: Any, value: Decimal) -> Decimal:
    """A finite decimal of sensible size: NaN, infinities and 1e999999999 are refused."""
    if not value.is_finite():
        raise ValueError(
            f"{_shown(raw)} is not a number a report can use (expected a finite number)"
        )
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if abs(exponent) > MAX_DECIMAL_EXPONENT or abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ValueError(f"{_shown(raw)} is out of range (at most {MAX_DECIMAL_EXPONENT} digits)")
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


def parameter_types(definition: ReportDefinition) -> dict[str, sa.types.TypeEngine[Any]]:
    return {p.name: PARAMETER_SQL_TYPES[p.type] for p in definition.parameters}
