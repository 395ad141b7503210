"""Every length in a definition fits a page (issue 20, item 3).

A chart of 99,999,999 mm ran the chart engine out of memory; margins wider than the page
gave "the row is 0mm wide" once per row without naming the margins, and top and bottom
margins taller than the page passed. Lengths are now bounded by the largest page (a3,
420 mm), chart heights are more than 0, and the margins must leave room on the page,
with the margins' paths in the message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.document import parse_definition
from engine.errors import DefinitionError
from engine.render import render_report
from engine.schema import SourceSchema, reflect_schema
from engine.validation import validate


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    engine = sa.create_engine(str(request.getfixturevalue(request.param)))
    metadata = sa.MetaData()
    items = sa.Table("items", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.Text), sa.Column("qty", sa.Integer))  # fmt: skip
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(items.insert(), [{"id": 1, "name": "a", "qty": 2}])
    yield engine
    engine.dispose()


@pytest.fixture
def schema(engine: sa.Engine) -> SourceSchema:
    return reflect_schema(engine)


def _report(chart_height: str = "60mm", page: str = "{}", width: str = "1fr",
            padding: str = "1.5pt") -> str:  # fmt: skip
    return f"""
title: Lengths
source: {{table: items}}
page: {page}
bands:
  title:
    elements:
      - {{type: chart, kind: bar, height: {chart_height}, x: {{expression: name}},
          y: {{expression: qty, aggregate: sum}}}}
  detail:
    padding: {padding}
    elements:
      - {{type: field, expression: name, width: {width}}}
      - {{type: field, expression: qty}}
"""


CHART_HEIGHT = "bands.title.elements[0].height"


@pytest.mark.parametrize("height", ["99999999mm", "999999mm", "421mm", "43cm", "17in", "50em"])
def test_a_chart_taller_than_any_page_is_refused_at_once(schema: SourceSchema, height: str) -> None:
    started = time.perf_counter()
    [issue] = validate(_report(chart_height=height), schema).issues
    assert time.perf_counter() - started < 5
    assert issue.path == CHART_HEIGHT
    assert "longer than the largest page: at most 420mm" in issue.message


@pytest.mark.parametrize("height", ["0mm", "0.0pt", "0em"])
def test_a_chart_of_no_height_is_refused(schema: SourceSchema, height: str) -> None:
    [issue] = validate(_report(chart_height=height), schema).issues
    assert (issue.path, issue.message) == (CHART_HEIGHT, f"'{height}' must be more than 0")


def test_a_chart_taller_than_the_room_between_the_margins_is_refused(
    schema: SourceSchema,
) -> None:
    [issue] = validate(_report(chart_height="290mm"), schema).issues  # a4: 297 - 30 mm
    assert issue.path == CHART_HEIGHT
    assert "taller than the 267mm the page leaves between its margins" in issue.message
    assert validate(_report(chart_height="260mm"), schema).ok


@pytest.mark.parametrize(
    ("where", "text", "path", "message"),
    [
        ("width", "5000mm", "bands.detail.elements[0].width", "at most 420mm"),
        ("width", "101%", "bands.detail.elements[0].width", "more than 100%"),
        ("width", "99999fr", "bands.detail.elements[0].width", "more than 1000fr"),
        ("padding", "999999mm", "bands.detail.padding", "at most 420mm"),
        ("page", "{margins: {top: 500mm}}", "page.margins.top", "at most 420mm"),
        ("page", "{margins: {left: " + "9" * 400 + "mm}}", "page.margins.left", "at most 420mm"),
    ],
)
def test_every_length_is_bounded_by_the_largest_page(
    schema: SourceSchema, where: str, text: str, path: str, message: str
) -> None:
    [issue] = validate(_report(**{where: text}), schema).issues
    assert issue.path == path
    assert message in issue.message
    assert len(issue.message) < 200  # a huge value is not repeated whole


def test_margins_wider_than_the_page_are_one_issue_naming_them(schema: SourceSchema) -> None:
    """Not "the row is 0mm wide" once per row: one issue, at the margins."""
    found = validate(_report(page="{margins: {left: 110mm, right: 100mm}}"), schema).issues
    assert [(i.path, i.message, i.hint) for i in found] == [
        ("page.margins.left",
         "page.margins.left and page.margins.right add up to 210mm, leaving no room on "
         "a4 portrait (210 x 297mm)", "make them add up to less than 210mm"),
    ]  # fmt: skip


def test_top_and_bottom_margins_taller_than_the_page_are_refused(schema: SourceSchema) -> None:
    page = "{size: a5, orientation: landscape, margins: {top: 100mm, bottom: 48mm}}"
    [issue] = validate(_report(page=page), schema).issues
    assert issue.path == "page.margins.top"
    assert "page.margins.top and page.margins.bottom add up to 148mm" in issue.message
    assert "a5 landscape (210 x 148mm)" in issue.message


def test_margins_are_checked_without_a_source_too() -> None:
    found = validate(_report(page="{margins: {top: 200mm, bottom: 100mm}}")).issues
    assert [i.path for i in found] == ["page.margins.top"]


def test_the_largest_lengths_allowed_still_render(engine: sa.Engine, tmp_path: Path) -> None:
    """An a3 landscape page with a chart as tall as its margins allow renders."""
    page = "{size: a3, orientation: landscape, margins: {top: 10mm, bottom: 10mm}}"
    definition = parse_definition(_report(chart_height="270mm", page=page, width="380mm"))
    result = render_report(definition, engine, tmp_path / "big.pdf")
    assert result.outputs == [tmp_path / "big.pdf"]
    assert result.pages >= 1
    with pytest.raises(DefinitionError):
        render_report(parse_definition(_report(chart_height="0mm")), engine, tmp_path / "x.pdf")
