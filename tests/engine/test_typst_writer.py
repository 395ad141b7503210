"""How records reach the template: grouped into runs of lines, marked records, the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.definition import ReportDefinition
from engine.document import load_definition, parse_definition
from engine.render import check_report
from engine.typst_writer import LINES_PER_RUN, TypstLayout

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def layout(small_demo: sa.Engine) -> TypstLayout:
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    plan, _, _ = check_report(definition, small_demo, {})
    return TypstLayout(definition, plan)


def test_records_are_grouped_into_runs_that_marks_bands_and_long_values_end(
    layout: TypstLayout, tmp_path: Path
) -> None:
    detail, header = layout.band_index("detail"), layout.band_index("group_header:1")
    assert detail is not None and header is not None

    def line(product: str) -> list[object]:  # with its variables: segments drop them
        cells = ["7", "2024-01-08", product, "1", "7.49", "", "7.49"]
        return [detail, cells, {"line_amount_total": 7.49, "page_amount": 7.49}]

    customer = [header, ["Mei Peeters", "Consumer"]]
    wrapping = line("A product name far too long to fit its column on one line " * 3)
    records = [customer, *[line(f"P{i}") for i in range(LINES_PER_RUN + 6)], customer]
    records += [line("Q1"), line("Q2"), wrapping, line("Q3"), line("Q4")]
    marked = [False] * len(records)
    marked[70] = True  # the 70th detail record: the last of a page, say

    layout.write_folder(tmp_path, records, marked=marked)
    items = json.loads((tmp_path / "data.json").read_text())["items"]

    def run(lines: list[list[object]]) -> dict[str, object]:
        return {"r": detail, "e": [values for _, values, *_ in lines]}

    assert (
        items
        == [
            customer,  # a group header is a block of its own
            run(records[1 : 1 + LINES_PER_RUN]),  # a run is full
            run(records[1 + LINES_PER_RUN : 70]),
            {"m": 70, "e": records[70][:2]},  # a marked record ends a run
            customer,
            run([line("Q1"), line("Q2")]),
            wrapping[:2],  # may wrap: never a line of a run
            run([line("Q3"), line("Q4")]),
        ]
    )


def test_runs_of_a_whole_document_carry_the_running_values_of_each_line(
    layout: TypstLayout, tmp_path: Path
) -> None:
    detail = layout.band_index("detail")
    totals = layout.page_totals
    variables = [{slot.variable: i for slot in totals.slots} for i in range(3)]
    records = [
        [detail, [str(i), "2024-01-08", "P", "1", "7.49", "", "7.49"], variables[i]]
        for i in range(3)
    ]

    layout.write_folder(tmp_path, records)  # no marks: one document
    items = json.loads((tmp_path / "data.json").read_text())["items"]

    assert items == [
        {"r": detail, "e": [r[1] for r in records], "u": [totals.texts(v) for v in variables]}
    ]


@pytest.mark.parametrize(
    ("footer", "strut"),
    [
        ('{type: label, text: "Page total"}, {type: aggregate, variable: n}', None),
        ("{type: aggregate, variable: n}, {type: page_number}", 0),
        ('{type: label, text: ""}, {type: page_number}', 1),  # an empty label has no height
        ('{type: label, text: "n", size: 8}, {type: aggregate, variable: n, size: 12}', 1),
        ('{type: label, text: "n", size: 12}, {type: aggregate, variable: n, size: 12}', None),
    ],
)
def test_a_stamped_cell_that_alone_gives_its_row_a_height_is_marked(
    small_demo: sa.Engine, footer: str, strut: int | None
) -> None:
    """Segments leave page numbers and totals blank: where nothing else in the row is as
    tall, one of them must still hold the row's height (the template hides text there)."""
    definition = parse_definition(
        "title: T\nsource: {table: products}\n"
        "variables: [{name: n, function: count, reset: page}]\n"
        f"bands: {{detail: {{elements: [{{type: field, expression: sku}}]}}, "
        f"page_footer: {{elements: [{footer}, {{type: row_break}}, {{type: label, text: x}}]}}}}\n"
    )
    cells = _footer_cells(small_demo, definition)[0]
    assert [i for i, c in enumerate(cells) if c.get("strut")] == ([] if strut is None else [strut])


@pytest.mark.parametrize("fill", [None, "#eeeeee"])
def test_a_last_row_of_stamped_cells_is_held_only_under_a_fill(
    small_demo: sa.Engine, fill: str | None
) -> None:
    """Below the last row nothing moves; only a fill would shrink with it."""
    colour = f'"{fill}"' if fill else "null"
    definition = parse_definition(
        "title: T\nsource: {table: products}\n"
        "bands: {detail: {elements: [{type: field, expression: sku}]}, "
        f"page_footer: {{fill: {colour}, elements: [{{type: page_number}}]}}}}\n"
    )
    [cells] = _footer_cells(small_demo, definition)
    assert bool(cells[0].get("strut")) == (fill is not None)


def _footer_cells(engine: sa.Engine, definition: ReportDefinition) -> list[list[dict[str, Any]]]:
    plan, _, _ = check_report(definition, engine, {})
    layout = TypstLayout(definition, plan)
    index = layout.band_index("page_footer")
    assert index is not None
    return [row["cells"] for row in layout.bands[index]["rows"] if row["kind"] == "cells"]
