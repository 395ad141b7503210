"""Every bound the engine puts on a definition and on a run, in one place.

A definition comes from anyone who can use the designer or the API, and one process serves
every report: a value that is absurd for a report (a 99,999,999 mm chart, a format with a
billion digits, a document of a million labels) must be refused with a message naming the
limit, not be tried until memory or time runs out. `docs/definitions.md` lists them.
"""

from __future__ import annotations

__all__ = (
    "MAX_CHART_DRAWS",
    "MAX_DEFINITION_BYTES",
    "MAX_ELEMENTS",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_FORMAT_LENGTH",
    "MAX_FR",
    "MAX_LENGTH_MM",
    "MAX_NESTING",
    "MAX_PRECISION",
    "MAX_VALUES",
)

# The document.
MAX_DEFINITION_BYTES = 1_000_000  # of YAML or JSON text, as UTF-8
MAX_ELEMENTS = 5_000  # band elements, groups, variables, sort keys and parameters together
MAX_NESTING = 50  # mappings and lists inside each other; a report needs about 8
MAX_VALUES = 100_000  # keys, values and items in all (an alias counts as often as it is used)

# Expressions (fields, filters, groups, sort keys, variables, chart channels).
MAX_EXPRESSION_LENGTH = 2_000  # characters
MAX_EXPRESSION_DEPTH = 100  # operators and brackets inside each other (`a + b + c` is 2)

# Formats.
MAX_PRECISION = 20  # digits after the point (of the mantissa, for `e`)
MAX_FORMAT_LENGTH = 200  # characters of a format, text around the placeholder included

# Lengths: the longest side of the largest page (a3, 420 mm). `em` counts at 24 pt, the
# largest font size a page may have.
MAX_LENGTH_MM = 420.0
MAX_FR = 1_000  # a share of a row's free width: `1fr` to `1000fr`

# A run.
MAX_CHART_DRAWS = 500  # charts a run draws (a chart in a group band draws once a group)
