"""Value formats: how a field or aggregate value becomes the text printed in a cell.

A format is a preset name (`integer`, `number`, `money`, `percent`, `date`, `datetime`) or
a pattern with one placeholder: text around `{spec}`, where spec is a Python number spec
(`{,.2f}` gives 1,234.50) or a strftime pattern (`{%d.%m.%Y}`). Patterns are parsed once,
with a strict grammar: no attribute access, no nested fields, nothing evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from engine.limits import MAX_FORMAT_LENGTH, MAX_PRECISION

__all__ = ("PRESETS", "Formatter", "exact", "format_parts", "make_formatter")

Formatter = Callable[[Any], str]

PRESETS: dict[str, str] = {
    "integer": "{,.0f}",
    "number": "{,.2f}",
    "money": "{,.2f}",
    "percent": "{.1%}",
    "date": "{%Y-%m-%d}",
    "datetime": "{%Y-%m-%d %H:%M}",
}

_PATTERN = re.compile(r"^(?P<prefix>[^{}]*)\{(?P<spec>[^{}]*)\}(?P<suffix>[^{}]*)$")
_NUMBER_SPEC = re.compile(r"^[+\- ]?[,_]?(\.(?P<precision>\d+))?[fe%]?$")
_DATE_SPEC = re.compile(r"^([^%]|%[aAbBdHImMpSyYjUWzZ%])*$")


def make_formatter(fmt: str | None) -> Formatter:
    """A function turning one value into text; raise ValueError naming what is wrong."""
    if fmt is None:
        return default_text
    if len(fmt) > MAX_FORMAT_LENGTH:
        raise ValueError(
            f"a format may have at most {MAX_FORMAT_LENGTH} characters, not {len(fmt):,}"
        )
    parts = format_parts(fmt)
    if parts is None:
        presets = ", ".join(PRESETS)
        raise ValueError(
            f"format '{fmt}' is not a preset ({presets}) nor a pattern like '{{,.2f}}' or "
            "'{%d.%m.%Y}'"
        )
    prefix, spec, suffix = parts
    if re.search(r"%[A-Za-z]", spec):
        if not _DATE_SPEC.match(spec):
            raise ValueError(f"format '{fmt}': '{spec}' is not a date pattern like '%Y-%m-%d'")
        return _remembering(_date_formatter(prefix, spec, suffix))
    number = _NUMBER_SPEC.match(spec)
    if number is None:
        raise ValueError(f"format '{fmt}': '{spec}' is not a number pattern like ',.2f'")
    precision = number["precision"]
    if precision is not None and (len(precision) > 3 or int(precision) > MAX_PRECISION):
        raise ValueError(
            f"format '{_shown(fmt)}': a precision of {_shown(precision)} digits is more than "
            f"the {MAX_PRECISION} a format may show"
        )
    return _remembering(_number_formatter(prefix, spec, suffix))


_REMEMBERED = 4096  # texts kept per formatter; the memory is then cleared, not grown


def _remembering(fmt: Formatter) -> Formatter:
    """`fmt`, remembering the text of recent values: a report repeats prices, quantities
    and dates on many rows, and exact decimal formatting costs microseconds a value.

    Keys carry the value's type (1, 1.0 and True format differently). Decimals are not
    remembered: Decimal("1.0") equals Decimal("1.00") but may print differently.
    """
    texts: dict[tuple[type, Any], str] = {}

    def remembered(value: Any) -> str:
        kind = value.__class__
        if kind is Decimal:
            return fmt(value)
        key = (kind, value)
        try:
            text = texts.get(key)
        except TypeError:  # an unhashable value (an array, say)
            return fmt(value)
        if text is None:
            if len(texts) >= _REMEMBERED:
                texts.clear()
            text = texts[key] = fmt(value)
        return text

    return remembered


def format_parts(fmt: str) -> tuple[str, str, str] | None:
    """A preset or pattern as (text before, spec, text after); None if it is neither."""
    match = _PATTERN.match(PRESETS.get(fmt, fmt))
    return (match["prefix"], match["spec"], match["suffix"]) if match else None


def default_text(value: Any) -> str:
    """Text for a value with no format: dates in ISO form, numbers as they are."""
    kind = value.__class__
    if kind is str:  # the most common, first
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}" if value != int(value) else f"{value:.0f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


_NOT_NUMBERS = (bool, date)  # printed as they are by a number format


def _number_formatter(prefix: str, spec: str, suffix: str) -> Formatter:
    places = _decimal_places(spec)
    step = None if places is None else Decimal(1).scaleb(-places)  # made once: 6% a value

    def fmt(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, _NOT_NUMBERS):
            return default_text(value)
        try:
            number = exact(value)
        except ArithmeticError:
            return str(value)
        if step is not None:  # commercial rounding: half away from zero, not half-even
            number = _rounded(number, step)
        if number.is_zero():  # -0.0, or -0.001 at two places: no sign, as a person writes it
            number = number.copy_abs()
        return f"{prefix}{format(number, spec)}{suffix}"

    return fmt


def _rounded(number: Decimal, step: Decimal) -> Decimal:
    """`number` rounded half up to `step`; a big number at many places needs more digits
    than the default context's 28, so it is rounded again in a context wide enough."""
    try:
        return number.quantize(step, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        if not number.is_finite():
            return number
        with localcontext() as wide:
            wide.prec = max(number.adjusted(), 0) + MAX_PRECISION + 3
            return number.quantize(step, rounding=ROUND_HALF_UP)


def _shown(text: str, limit: int = 40) -> str:
    """Text quoted in a message, cut short: a message must not repeat a huge value."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def exact(value: Any) -> Decimal:
    """A number as the decimal it was meant to be; a float to 15 significant digits.

    SQLite computes in binary floats: 3 * 12.99 * 0.95 arrives as 37.021499999999996.
    Fifteen significant digits is what a double holds faithfully, so rounding there gives
    back 37.0215, the value a person would sum and round half up.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(f"{value:.15g}")
    return Decimal(value if isinstance(value, int) else str(value))


def _decimal_places(spec: str) -> int | None:
    """Digits kept by a number spec: '.2f' keeps 2, '.1%' keeps 3 of the fraction."""
    match = re.search(r"\.(\d+)([f%]?)$", spec)
    if match is None:
        return 0 if spec.endswith(("f", "%")) and "e" not in spec else None
    digits = int(match[1])
    return digits + 2 if match[2] == "%" else digits


def _date_formatter(prefix: str, spec: str, suffix: str) -> Formatter:
    def fmt(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):  # SQLite returns dates as ISO text
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return str(value)
        if not isinstance(value, date):
            return default_text(value)
        return prefix + value.strftime(spec) + suffix

    return fmt
