"""Fill: group breaks at every level, variables with their reset scopes, no-data, flat memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from engine.document import parse_definition
from engine.fill import BandEvent, fill
from engine.plan import QueryPlan, build_plan
from engine.schema import SourceSchema

DEFINITION = """
title: Fill
source: {table: sales}
groups:
  - {name: region, expression: region}
  - {name: city, expression: city}
variables:
  - {name: city_sum, function: sum, expression: amount, reset: city}
  - {name: city_count, function: count, reset: city}
  - {name: region_sum, function: sum, expression: amount, reset: region}
  - {name: region_avg, function: avg, expression: amount, reset: region}
  - {name: region_min, function: min, expression: amount, reset: region}
  - {name: region_max, function: max, expression: amount, reset: region}
  - {name: region_first, function: first, expression: amount, reset: region}
  - {name: region_last, function: last, expression: amount, reset: region}
  - {name: total, function: sum, expression: amount}
  - {name: amounts, function: count, expression: amount}
  - {name: cities, function: distinct_count, expression: city}
bands:
  detail:
    elements: [{type: field, expression: amount}, {type: aggregate, variable: total}]
"""


def _plan(definition_text: str = DEFINITION) -> tuple[Any, QueryPlan]:
    metadata = sa.MetaData()
    sa.Table(
        "sales",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region", sa.String),
        sa.Column("city", sa.String),
        sa.Column("amount", sa.Numeric),
    )
    definition = parse_definition(definition_text)
    return definition, build_plan(definition, SourceSchema.from_metadata(metadata))


def _rows(plan: QueryPlan, data: list[tuple[Any, Any, Any]]) -> list[list[Any]]:
    """Rows shaped like the plan's SELECT, from (region, city, amount) triples."""
    columns = plan.expression_columns
    width = len(plan.select.selected_columns)
    out = []
    for i, (region, city, amount) in enumerate(data):
        row: list[Any] = [None] * width
        row[columns["region"]], row[columns["city"]], row[columns["amount"]] = region, city, amount
        row[-1] = i
        out.append(row)
    return out


DATA = [
    ("East", "Bonn", Decimal("10")),
    ("East", "Bonn", Decimal("5")),
    ("East", "Köln", None),
    ("East", "Köln", Decimal("1")),
    ("West", "Bonn", Decimal("7")),
    (None, None, Decimal("2")),
]


def _events() -> list[BandEvent]:
    definition, plan = _plan()
    rows = _rows(plan, DATA)
    return list(fill(definition, plan, [rows[:4], rows[4:]]))


def test_group_breaks_at_every_level_in_print_order() -> None:
    assert [e.band for e in _events()] == [
        "title",
        "group_header:0", "group_header:1", "detail", "detail",
        "group_footer:1", "group_header:1", "detail", "detail",
        "group_footer:1", "group_footer:0",
        "group_header:0", "group_header:1", "detail",
        "group_footer:1", "group_footer:0",
        "group_header:0", "group_header:1", "detail",
        "group_footer:1", "group_footer:0",
        "summary",
    ]  # fmt: skip


def test_an_outer_break_closes_inner_groups_even_when_inner_key_repeats() -> None:
    # ("West", "Bonn") follows ("East", "Köln"); ("East","Bonn") -> ("West","Bonn") must break city.
    footers = [e for e in _events() if e.band == "group_footer:1"]
    assert [e.variables["city_sum"] for e in footers] == [15, 1, 7, 2]
    assert [e.variables["city_count"] for e in footers] == [2, 2, 1, 1]


def test_variables_reset_per_scope() -> None:
    footers = [e for e in _events() if e.band == "group_footer:0"]
    values = [
        {k: e.variables[k] for k in ("region_sum", "region_avg", "region_min", "region_max")}
        for e in footers
    ]
    assert values == [
        {"region_sum": 16, "region_avg": Decimal(16) / 3, "region_min": 1, "region_max": 10},
        {"region_sum": 7, "region_avg": 7, "region_min": 7, "region_max": 7},
        {"region_sum": 2, "region_avg": 2, "region_min": 2, "region_max": 2},
    ]
    assert [(e.variables["region_first"], e.variables["region_last"]) for e in footers] == [
        (10, 1),
        (7, 7),
        (2, 2),
    ]


def test_report_variables_and_summary() -> None:
    summary = _events()[-1]
    assert summary.band == "summary"
    assert summary.variables["total"] == 25
    assert summary.variables["amounts"] == 5  # count of an expression skips NULLs
    assert summary.variables["cities"] == 2  # NULL is not a value
    assert summary.row is not None and summary.row[-1] == 5  # the last row


def test_headers_show_the_first_row_of_their_group_and_footers_the_last() -> None:
    events = _events()
    header = next(e for e in events if e.band == "group_header:1")
    footer = next(e for e in events if e.band == "group_footer:1")
    assert header.row is not None and header.row[-1] == 0
    assert footer.row is not None and footer.row[-1] == 1
    assert header.variables["city_sum"] == 0  # nothing accumulated yet


def test_running_values_in_detail() -> None:
    details = [e for e in _events() if e.band == "detail"]
    assert [e.variables["total"] for e in details] == [10, 15, 15, 16, 23, 25]


def test_no_rows_gives_title_and_no_data() -> None:
    definition, plan = _plan()
    events = list(fill(definition, plan, []))
    assert [e.band for e in events] == ["title", "no_data"]
    assert events[1].variables["total"] == 0


def _synthetic(plan: QueryPlan, n: int, batch: int = 5000) -> Iterator[list[list[Any]]]:
    template = _rows(plan, [("R", "C", Decimal("1.25"))])[0]
    region, city = plan.expression_columns["region"], plan.expression_columns["city"]
    for start in range(0, n, batch):
        rows = []
        for i in range(start, min(n, start + batch)):
            row = list(template)
            row[region] = f"region {i // 50_000}"
            row[city] = f"city {i // 100}"
            row[-1] = i
            rows.append(row)
        yield rows


def _peak_bytes(n: int) -> tuple[int, int]:
    definition, plan = _plan()
    tracemalloc.start()
    count = 0
    for _ in fill(definition, plan, _synthetic(plan, n)):
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, count


@pytest.mark.slow
def test_memory_does_not_grow_with_rows() -> None:
    small, small_events = _peak_bytes(10_000)
    large, large_events = _peak_bytes(200_000)
    assert large_events > 19 * small_events
    # The batch being built dominates both; 20x the rows must not cost 2x the memory.
    assert large < 2 * small, (small, large)
