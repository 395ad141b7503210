"""How records reach the template: grouped into runs of lines, marked records, the rest."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from engine.document import load_definition
from engine.render import check_report
from engine.typst_writer import LINES_PER_RUN, TypstLayout

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_records_are_grouped_into_runs_that_marks_bands_and_long_values_end(
    small_demo: sa.Engine, tmp_path: Path
) -> None:
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    plan, _, _ = check_report(definition, small_demo, {})
    layout = TypstLayout(definition, plan)
    detail, header = layout.band_index("detail"), layout.band_index("group_header:1")
    assert detail is not None and header is not None

    def line(product: str) -> list[object]:
        return [detail, ["7", "2024-01-08", product, "1", "7.49", "", "7.49"]]

    customer = [header, ["Mei Peeters", "Consumer"]]
    wrapping = line("A product name far too long to fit its column on one line " * 3)
    records = [customer, *[line(f"P{i}") for i in range(LINES_PER_RUN + 6)], customer]
    records += [line("Q1"), line("Q2"), wrapping, line("Q3"), line("Q4")]
    marked = [False] * len(records)
    marked[70] = True  # the 70th detail record: the last of a page, say

    layout.write_folder(tmp_path, records, marked=marked)
    items = json.loads((tmp_path / "data.json").read_text())["items"]

    running = layout.page_totals.texts(layout.start_state()["running"])
    assert (
        items
        == [
            customer,  # a group header is a block of its own
            {"r": detail, "e": records[1 : 1 + LINES_PER_RUN]},  # a run is full
            {"r": detail, "e": records[1 + LINES_PER_RUN : 70]},
            {"m": 70, "e": [*records[70], running]},  # a marked record ends a run
            customer,
            {"r": detail, "e": [line("Q1"), line("Q2")]},
            wrapping,  # may wrap: never a line of a run
            {"r": detail, "e": [line("Q3"), line("Q4")]},
        ]
    )
