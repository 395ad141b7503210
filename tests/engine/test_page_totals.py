"""Page totals: what page bands may show, and the number formats the template can print.

Their values are checked against the printed lines in tests/test_grouped_totals.py and,
segmented against one document, in tests/engine/test_typesetting.py.
"""

from __future__ import annotations

import pytest

from engine.document import parse_definition
from engine.page_totals import number_format
from engine.plan import check_names

REPORT = """
title: Page totals
source: {table: order_lines}
groups:
  - {name: region, expression: order.customer.region.name}
variables:
  - {name: on_page, function: sum, expression: quantity, reset: page}
  - {name: lines_on_page, function: count, reset: page}
  - {name: so_far, function: sum, expression: quantity}
  - {name: in_region, function: sum, expression: quantity, reset: region}
  - {name: page_average, function: avg, expression: quantity, reset: page}
bands:
  page_header:
    elements:
      - {type: aggregate, variable: so_far}
      - {type: aggregate, variable: on_page}
  detail:
    elements:
      - {type: aggregate, variable: lines_on_page}
  page_footer:
    elements:
      - {type: aggregate, variable: on_page, format: money}
      - {type: aggregate, variable: so_far, format: "{%Y}"}
      - {type: aggregate, variable: in_region}
      - {type: aggregate, variable: lines_on_page, format: percent}
      - {type: field, expression: quantity}
"""


def test_page_bands_show_page_totals_and_report_values_only() -> None:
    issues = [str(issue) for issue in check_names(parse_definition(REPORT))]
    assert issues == [
        "variables[4].function: a page total is a sum or a count, not avg",
        "bands.page_header.elements[1]: 'on_page' is a page total: it is known only in "
        "bands.page_footer",
        "bands.detail.elements[0]: 'lines_on_page' is a page total: it is known only in "
        "bands.page_footer",
        "bands.page_footer.elements[2]: 'in_region' is reset per group; a page band can show "
        "page totals (reset: page) and report values (reset: report)",
        "bands.page_footer.elements[3].format: a page total is shown with a number format "
        "like '{,.2f}', not 'percent'",
        "bands.page_footer.elements[4]: a field cannot be placed in a page band (page bands "
        "are laid out by the typesetter; use labels, page numbers and aggregates of page or "
        "report variables)",
    ]


def test_a_group_cannot_take_the_name_of_a_reset_scope() -> None:
    text = REPORT.replace("name: region,", "name: page,")
    issues = [str(issue) for issue in check_names(parse_definition(text))]
    assert "groups[0].name: 'page' is a reset scope; name it otherwise" in issues


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (None, {"prefix": "", "suffix": "", "group": False, "places": None}),
        ("money", {"prefix": "", "suffix": "", "group": True, "places": 2}),
        ("integer", {"prefix": "", "suffix": "", "group": True, "places": 0}),
        ("EUR {,.2f}", {"prefix": "EUR ", "suffix": "", "group": True, "places": 2}),
        ("{.3f} kg", {"prefix": "", "suffix": " kg", "group": False, "places": 3}),
        ("percent", None),
        ("date", None),
        ("{e}", None),
    ],
)
def test_number_formats_the_template_prints(fmt: str | None, expected: object) -> None:
    assert number_format(fmt) == expected
