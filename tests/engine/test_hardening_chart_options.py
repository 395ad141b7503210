"""Charts: a horizontal chart sorts by value as asked, and top: N need not show an "Other"
that dwarfs every bar (issue 20, item 8)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine.cache import QueryCache
from engine.chart_render import chart_spec, render_svg
from engine.definition import ChartElement, ReportDefinition, Theme
from engine.errors import DefinitionError
from engine.render import check_report

POINTS = [{"x": "apple", "y": 1}, {"x": "banana", "y": 30}, {"x": "cherry", "y": 7}]
_LABEL = re.compile(
    r'<text[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)[^"]*"[^>]*>([^<]*)</text>'
)


def _bar(sort: str, *, horizontal: bool) -> ChartElement:
    return ChartElement.model_validate(
        {
            "type": "chart",
            "kind": "bar",
            "horizontal": horizontal,
            "x": {"expression": "fruit", "sort": sort},
            "y": {"expression": "amount", "aggregate": "sum"},
        }
    )


def _drawn_order(element: ChartElement) -> list[str]:
    """The category labels as the SVG places them: top to bottom, or left to right."""
    spec = chart_spec(element, POINTS, Theme(), (300, 200), font_size=9)
    names = {p["x"] for p in POINTS}
    labels = [(float(x), float(y), text) for x, y, text in _LABEL.findall(render_svg(spec))]
    along = 1 if element.horizontal else 0
    return [label[2] for label in sorted(labels, key=lambda t: t[along]) if label[2] in names]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-y", ["banana", "cherry", "apple"]),  # by value, largest first
        ("y", ["apple", "cherry", "banana"]),
        ("x", ["apple", "banana", "cherry"]),  # by name
        ("descending", ["cherry", "banana", "apple"]),
    ],
)
@pytest.mark.parametrize("horizontal", [False, True])
def test_sort_means_the_same_sideways(sort: str, expected: list[str], horizontal: bool) -> None:
    assert _drawn_order(_bar(sort, horizontal=horizontal)) == expected


def test_a_horizontal_spec_sorts_the_categories_by_the_value_axis() -> None:
    spec = chart_spec(_bar("-y", horizontal=True), POINTS, Theme(), (300, 200), font_size=9)
    assert spec["encoding"]["y"] == {**spec["encoding"]["y"], "field": "x", "sort": "-x"}
    assert spec["encoding"]["x"]["field"] == "y"


# -- top N and "Other" -------------------------------------------------------------------------

SALES = {"a": 50, "b": 40, "c": 30, **{f"z{i:02}": 10 for i in range(30)}}  # the rest: 300


@pytest.fixture(params=["sqlite", "postgres"])
def sales(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = sa.Table(
        "sales", metadata, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("product", sa.String(10)), sa.Column("amount", sa.Integer),
    )  # fmt: skip
    metadata.create_all(engine)
    with engine.begin() as connection:
        rows = [{"product": p, "amount": a} for p, a in SALES.items()]
        connection.execute(table.insert(), rows)
    yield engine
    engine.dispose()


def _points(engine: sa.Engine, **chart: Any) -> list[dict[str, Any]]:
    element = {"type": "chart", "x": {"expression": "product"}, "top": 3, **chart}
    element.setdefault("y", {"expression": "amount", "aggregate": "sum"})
    definition = ReportDefinition.model_validate(
        {
            "title": "Sales",
            "source": {"table": "sales"},
            "bands": {"title": {"elements": [element]}},
        }
    )
    plan, parameters, _ = check_report(definition, engine)
    assert plan.charts is not None
    return plan.charts.load(engine, parameters, QueryCache()).points["bands.title.elements[0]"][()]


def test_a_bar_chart_leaves_the_rest_out_by_default(sales: sa.Engine) -> None:
    points = _points(sales, kind="bar")
    assert {p["x"]: p["y"] for p in points} == {"a": 50, "b": 40, "c": 30}


def test_other_true_folds_the_rest_into_one_bar(sales: sa.Engine) -> None:
    points = _points(sales, kind="bar", other=True)
    assert {p["x"]: p["y"] for p in points} == {"a": 50, "b": 40, "c": 30, "Other": 300}


def test_a_pie_keeps_other_unless_told(sales: sa.Engine) -> None:
    assert {p["x"] for p in _points(sales, kind="pie")} == {"a", "b", "c", "Other"}
    assert {p["x"] for p in _points(sales, kind="pie", other=False)} == {"a", "b", "c"}


def test_other_false_allows_an_average(sales: sa.Engine) -> None:
    points = _points(sales, kind="bar", other=False, y={"expression": "amount", "aggregate": "max"})
    assert {p["x"]: p["y"] for p in points} == {"a": 50, "b": 40, "c": 30}


def test_other_is_checked_with_its_path(sales: sa.Engine) -> None:
    with pytest.raises(DefinitionError) as caught:
        _points(sales, kind="bar", top=None, other=True)
    assert [(i.path, i.message) for i in caught.value.issues] == [
        ("bands.title.elements[0].other", "'other' only applies with top: N")
    ]
    with pytest.raises(DefinitionError) as caught:
        _points(sales, kind="pie", y={"expression": "amount", "aggregate": "avg"})
    issue = caught.value.issues[0]
    assert (issue.path, issue.hint) == (
        "bands.title.elements[0].top",
        "set other: false to leave the rest out",
    )
