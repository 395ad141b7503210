"""CSV and JSON follow the bands the report prints: a report without a detail band writes a
CSV line per band with values, and JSON group bands carry their keys (issue 20, item 9)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.document import parse_definition
from engine.render import Format, render_report

SALES = [
    ("East", "pens", 3), ("East", "pens", 4), ("East", "ink", 10),
    ("West", "pens", 1), ("West", "paper", 20), ("West", "paper", 5),
]  # fmt: skip

SUMMARY = """
title: Sales by region
source: {table: sales}
variables:
  - {name: region_total, function: sum, expression: amount, reset: region}
  - {name: region_lines, function: count, reset: region}
  - {name: grand_total, function: sum, expression: amount}
groups:
  - name: region
    expression: region
    footer:
      elements:
        - {type: field, expression: region}
        - {type: aggregate, variable: region_total}
        - {type: aggregate, variable: region_lines}
bands:
  summary:
    elements:
      - {type: label, text: Total}
      - {type: aggregate, variable: grand_total}
"""

NESTED = """
title: Sales by region and product
source: {table: sales}
variables:
  - {name: product_total, function: sum, expression: amount, reset: product}
  - {name: region_total, function: sum, expression: amount, reset: region}
groups:
  - name: region
    expression: region
    header: {elements: [{type: field, expression: region}]}
    footer: {elements: [{type: aggregate, variable: region_total}]}
  - name: product
    expression: product
    footer: {elements: [{type: aggregate, variable: product_total}]}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def sales(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = sa.Table(
        "sales", metadata, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region", sa.String(10)), sa.Column("product", sa.String(10)),
        sa.Column("amount", sa.Integer),
    )  # fmt: skip
    metadata.create_all(engine)
    with engine.begin() as connection:
        rows = [{"region": r, "product": p, "amount": a} for r, p, a in SALES]
        connection.execute(table.insert(), rows)
    yield engine
    engine.dispose()


def _render(engine: sa.Engine, text: str, fmt: Format, tmp_path: Path) -> Path:
    output = tmp_path / f"report.{fmt}"
    render_report(parse_definition(text), engine, output, fmt=fmt)
    return output


def _csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def test_csv_without_detail_writes_a_line_per_band_with_values(
    sales: sa.Engine, tmp_path: Path
) -> None:
    assert _csv(_render(sales, SUMMARY, "csv", tmp_path)) == [
        ["band", "region", "region_total", "region_lines", "grand_total"],
        ["footer:region", "East", "17", "3", ""],
        ["footer:region", "West", "26", "3", ""],
        ["summary", "", "", "", "43"],
    ]


def test_csv_of_one_kind_of_band_has_no_band_column(sales: sa.Engine, tmp_path: Path) -> None:
    text = SUMMARY[: SUMMARY.index("bands:")]
    assert _csv(_render(sales, text, "csv", tmp_path)) == [
        ["region", "region_total", "region_lines"],
        ["East", "17", "3"],
        ["West", "26", "3"],
    ]


def test_csv_of_nested_groups_gives_each_footer_its_keys(sales: sa.Engine, tmp_path: Path) -> None:
    assert _csv(_render(sales, NESTED, "csv", tmp_path)) == [
        ["band", "region", "product", "product_total", "region_total"],
        ["footer:product", "East", "ink", "10", ""],
        ["footer:product", "East", "pens", "7", ""],
        ["footer:region", "East", "", "", "17"],
        ["footer:product", "West", "paper", "25", ""],
        ["footer:product", "West", "pens", "1", ""],
        ["footer:region", "West", "", "", "26"],
    ]  # the region header shows only its key: nothing more to write


def test_csv_with_a_detail_band_keeps_one_line_per_row(sales: sa.Engine, tmp_path: Path) -> None:
    text = SUMMARY.replace(
        "bands:\n", "bands:\n  detail: {elements: [{type: field, expression: amount}]}\n"
    )
    rows = _csv(_render(sales, text, "csv", tmp_path))
    assert rows[0] == ["region", "amount"]
    assert sorted(rows[1:]) == sorted([r, str(a)] for r, _, a in SALES)


def _bands(path: Path) -> list[dict[str, Any]]:
    bands: list[dict[str, Any]] = json.loads(path.read_text("utf-8"))["bands"]
    return bands


def test_json_group_bands_carry_their_keys(sales: sa.Engine, tmp_path: Path) -> None:
    bands = _bands(_render(sales, NESTED, "json", tmp_path))
    footers = [(b["band"], b["level"], b["keys"], b["values"]) for b in bands if "level" in b]
    assert footers == [
        ("group_header", 0, {"region": "East"}, {"region": "East"}),
        ("group_footer", 1, {"region": "East", "product": "ink"}, {"product_total": 10}),
        ("group_footer", 1, {"region": "East", "product": "pens"}, {"product_total": 7}),
        ("group_footer", 0, {"region": "East"}, {"region_total": 17}),
        ("group_header", 0, {"region": "West"}, {"region": "West"}),
        ("group_footer", 1, {"region": "West", "product": "paper"}, {"product_total": 25}),
        ("group_footer", 1, {"region": "West", "product": "pens"}, {"product_total": 1}),
        ("group_footer", 0, {"region": "West"}, {"region_total": 26}),
    ]


def test_json_keys_keep_their_types(sales: sa.Engine, tmp_path: Path) -> None:
    text = SUMMARY.replace("expression: region\n", "expression: length(region) * 10\n", 1)
    bands = _bands(_render(sales, text, "json", tmp_path))
    assert [b["keys"] for b in bands if b["band"] == "group_footer"] == [{"region": 40}]
    assert "keys" not in bands[-1]  # the summary belongs to no group
