"""Chart axis formats, checked before a chart is drawn.

A channel's `format` goes to the chart engine as it is: a d3 number format (`,.0f`, `~s`)
for numbers, a d3 time format (`%b %Y`) for a channel bucketed by a `time_unit`. The
chart engine fails on a number format it cannot read with a JavaScript error that names
neither the chart nor the format; here the same grammar is checked at validation.
"""

from __future__ import annotations

import re

__all__ = ("MAX_FORMAT_PRECISION", "MAX_FORMAT_WIDTH", "axis_format_issue")

MAX_FORMAT_WIDTH = 60  # characters of padding a label may ask for
MAX_FORMAT_PRECISION = 20  # the most digits d3 prints

# d3-format's specifier: [[fill]align][sign][symbol][0][width][,][.precision][~][type]
_NUMBER = re.compile(
    r"^(?:(?P<fill>.)?[<>=^])?[-+( ]?[$#]?0?(?P<width>\d+)?,?(?:\.(?P<precision>\d+))?~?"
    r"(?P<type>[efgnrs%pbocdxX])?$",
    re.DOTALL,
)
_TIME_DIRECTIVE = re.compile(r"%[-_0]?(.?)", re.DOTALL)
_TIME_LETTERS = set("aAbBcdefgGHIjLmMpqQsSuUVwWxXyYZ%")


def axis_format_issue(fmt: str, *, timed: bool) -> tuple[str, str] | None:
    """(message, hint) if the chart engine cannot use `fmt` on this axis; None if it can.

    Args:
        fmt: the channel's format.
        timed: whether the channel is bucketed by a time unit (a time axis).
    """
    if timed:
        for directive in _TIME_DIRECTIVE.finditer(fmt):
            if directive[1] not in _TIME_LETTERS:
                return (
                    f"'{directive[0]}' is not a time format directive",
                    "e.g. '%b %Y' (Jan 2025), '%d.%m.%Y', '%Y-W%V'; '%%' prints a %",
                )
        return None
    found = _NUMBER.match(fmt)
    if found is None:
        hint = "e.g. ',.0f' (1,234), '.1%' (12.5%), '~s' (1.2k)"
        if re.search(r"%[A-Za-z]", fmt):
            hint = "a time format like '%b %Y' needs the channel's time_unit"
        return (f"'{fmt}' is not a number format", hint)
    if found["width"] and int(found["width"]) > MAX_FORMAT_WIDTH:
        return (f"width {int(found['width'])} is too wide", f"at most {MAX_FORMAT_WIDTH}")
    if found["precision"] and int(found["precision"]) > MAX_FORMAT_PRECISION:
        return (
            f"precision {int(found['precision'])} is too large",
            f"at most {MAX_FORMAT_PRECISION} digits",
        )
    return None
