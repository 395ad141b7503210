"""Run parameters: text from a command line or a form, turned into typed, checked values.

Every problem is reported at once, naming the parameter; values are only ever bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
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
                Issue(
                    f"parameter '{name}'",
                    "not declared by the report",
                    did_you_mean(name, declared),
                )
            )
    values: dict[str, Any] = {}
    for parameter in definition.parameters:
        raw = given.get(parameter.name, parameter.default)
        where = f"parameter '{parameter.name}'"
        if raw is None or raw == "":
            if parameter.required:
                issues.append(Issue(where, "required", f"pass --param {parameter.name}=VALUE"))
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
            if kind == "choice" and choices and value not in choices:
                raise ValueError(f"'{value}' is not one of: {', '.join(choices)}")
            return value
        if kind == "integer":
            if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
                raise ValueError
            return int(text)
        if kind == "decimal":
            if isinstance(text, bool):
                raise ValueError
            return Decimal(str(text))
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
    except (ValueError, TypeError, InvalidOperation) as error:
        if str(error).startswith("'"):
            raise
        raise ValueError(f"'{raw}' is not a valid {kind}{_EXAMPLES.get(kind, '')}") from None


_EXAMPLES = {
    "date": " (expected YYYY-MM-DD)",
    "datetime": " (expected YYYY-MM-DD HH:MM)",
    "integer": " (expected a whole number)",
    "decimal": " (expected a number like 12.50)",
    "boolean": " (expected true or false)",
}


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
