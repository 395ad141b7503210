"""Charts: checked before any data is read, aggregated in the database, drawn as SVG.

Every problem in a chart is reported with the element's path before a row is read; a chart
with too many points is refused with a hint on how to aggregate. A chart's points equal a
hand-written GROUP BY on SQLite and on PostgreSQL (whose time buckets and bins agree), a
chart in a group band costs one query for every group, top-N folds the rest into "Other"
and keeps the totals, histogram counts add up to the rows. The SVG carries the chart's title
and is drawn once per spec; a rendered PDF carries the chart's text.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest
import sqlalchemy as sa

from engine.cache import QueryCache
from engine.chart_query import nice_bins
from engine.chart_render import chart_spec, render_svg
from engine.charts import ChartSet
from engine.definition import ChartElement, ReportDefinition, Theme
from engine.demo_data import generate_demo
from engine.document import parse_definition
from engine.errors import DefinitionError
from engine.plan import build_plan
from engine.render import check_report, render_report
from engine.schema import reflect_schema
from engine.typst_writer import TypstLayout

ORDERS = 400  # about 2,000 order lines, 50 customers, 40 products
AMOUNT = "quantity * unit_price * (1 - coalesce(discount, 0))"
CHART = "bands.title.elements[0]"
REGION_CHART = "groups[0].header.elements[1]"


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A small demo database on SQLite, then on PostgreSQL."""
    url = str(request.getfixturevalue(request.param))
    generate_demo(url, orders=ORDERS)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_demo(sqlite_url: str) -> Iterator[sa.Engine]:
    generate_demo(sqlite_url, orders=ORDERS)
    engine = sa.create_engine(sqlite_url)
    yield engine
    engine.dispose()


def report(*charts: str, grouped: bool = False, source_filter: str | None = None) -> str:
    """A definition whose charts sit in the title band, or in the region header if grouped."""
    elements = "".join(f"\n      - {chart}" for chart in charts)
    where = f', filter: "{source_filter}"' if source_filter else ""
    text = f"title: Charts\nsource: {{table: order_lines{where}}}\n"
    if grouped:
        elements = elements.replace("\n      ", "\n        ")
        text += (
            "groups:\n  - name: region\n    expression: order.customer.region.name\n"
            "    header:\n      elements:\n"
            "        - {type: field, expression: order.customer.region.name}"
            f"{elements}\n"
        )
    else:
        text += f"bands:\n  title:\n    elements:{elements}\n"
    return text


def load_points(
    definition: ReportDefinition, engine: sa.Engine
) -> dict[str, dict[tuple[Any, ...], list[dict[str, Any]]]]:
    """Every chart's points per group key, queried afresh (an empty cache)."""
    plan, parameters, _ = check_report(definition, engine)
    assert plan.charts is not None
    return plan.charts.load(engine, parameters, QueryCache()).points


class Statements:
    """The SQL statements an engine runs while this is open."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sql: list[str] = []

    def __enter__(self) -> list[str]:
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self.sql

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sql.append(statement)


def _month(bucket: str) -> str:
    start = datetime.fromisoformat(bucket)
    assert (start.day, start.hour, start.minute, start.second) == (1, 0, 0, 0), bucket
    return start.strftime("%Y-%m")


# -- (a) problems found before any data is read ----------------------------------------------


def test_every_chart_problem_is_reported_with_its_path_before_any_query(
    sqlite_demo: sa.Engine,
) -> None:
    definition = parse_definition(
        report(
            "{type: chart, kind: bar, x: {expression: quantiy}, "
            "y: {expression: quantity, aggregate: sum}}",
            "{type: chart, kind: bar, x: {expression: quantity}, "
            "y: {expression: product.name, aggregate: sum}}",
            "{type: chart, kind: line, x: {expression: quantity}, "
            "y: {expression: product.sku, aggregate: avg}}",
            "{type: chart, kind: bar, x: {expression: order.ordered_at, time_unit: month}}",
            "{type: chart, kind: bar, x: {expression: order.customer.regin.name}, "
            "y: {aggregate: count}}",
        )
    )
    schema = reflect_schema(sqlite_demo)
    with Statements(sqlite_demo) as sql, pytest.raises(DefinitionError) as caught:
        build_plan(definition, schema)
    assert sql == [], "a definition problem must be found without running a query"
    found = [(i.path, i.message, i.hint) for i in caught.value.issues]
    assert found == [
        ("bands.title.elements[0].x.expression",
         "unknown column 'quantiy' in table 'order_lines'", "did you mean 'quantity'?"),
        ("bands.title.elements[1].y.aggregate",
         "cannot sum a non-numeric expression (VARCHAR(100))", "use count, min or max"),
        ("bands.title.elements[2].y.aggregate",
         "cannot avg a non-numeric expression (VARCHAR(20))", "use count, min or max"),
        ("bands.title.elements[3].y", "a bar chart needs y", ""),
        ("bands.title.elements[4].x.expression",
         "'regin' is not a relationship of table 'customers'", "did you mean 'region'?"),
    ]  # fmt: skip


def test_check_report_lists_chart_problems_with_the_rest(sqlite_demo: sa.Engine) -> None:
    definition = parse_definition(
        report("{type: chart, kind: pie, x: {expression: product.name}, y: {expression: quantity}}")
        + "variables:\n  - {name: total, function: sum, expression: quantty}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        check_report(definition, sqlite_demo)
    paths = {issue.path: issue.message for issue in caught.value.issues}
    assert paths == {
        "variables[0].expression": "unknown column 'quantty' in table 'order_lines'",
        f"{CHART}.y.aggregate": "a pie chart needs an aggregate (sum, count ...)",
    }


def test_an_unknown_chart_kind_is_reported_when_the_document_is_read() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(
            report(
                "{type: label, text: Sales}",
                "{type: chart, kind: bars, x: {expression: quantity}, y: {aggregate: count}}",
                "{type: chart, kind: line, x: {expression: quantity, agregate: sum}}",
            )
        )
    issues = [(i.path, i.message, i.hint) for i in caught.value.issues]
    assert issues == [
        ("bands.title.elements[1].kind",
         "Input should be 'bar', 'line', 'area', 'pie', 'donut', 'scatter', 'heatmap', "
         "'histogram' or 'boxplot'", ""),
        ("bands.title.elements[2].x.agregate", "unknown key 'agregate'",
         "did you mean 'aggregate'?"),
    ]  # fmt: skip


def test_a_chart_in_a_page_band_is_refused(sqlite_demo: sa.Engine) -> None:
    definition = parse_definition(
        "title: T\nsource: {table: order_lines}\nbands:\n  page_header:\n    elements:\n"
        "      - {type: chart, kind: bar, x: {expression: quantity}, y: {aggregate: count}}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        check_report(definition, sqlite_demo)
    assert [i.path for i in caught.value.issues] == ["bands.page_header.elements[0]"]
    assert "page band" in caught.value.issues[0].message


# -- (b) too many points ---------------------------------------------------------------------


def test_too_many_points_are_refused_with_how_to_aggregate(sqlite_demo: sa.Engine) -> None:
    chart = "{type: chart, kind: bar, max_points: 50, x: {expression: id}, y: {aggregate: count}}"
    definition = parse_definition(report(chart))
    with pytest.raises(DefinitionError) as caught:
        load_points(definition, sqlite_demo)
    (issue,) = caught.value.issues
    assert issue.path == CHART
    assert "more than max_points (50)" in issue.message
    assert "time_unit or bin" in issue.hint
    assert "top: N" in issue.hint

    # The same chart bucketed by month fits.
    bucketed = chart.replace("{expression: id}", "{expression: order.ordered_at, time_unit: month}")
    points = load_points(parse_definition(report(bucketed)), sqlite_demo)[CHART][()]
    assert 30 <= len(points) <= 36  # three years of months


def test_a_render_with_too_many_points_fails_and_writes_nothing(
    sqlite_demo: sa.Engine, tmp_path: Path
) -> None:
    chart = (
        "{type: chart, kind: scatter, max_points: 100, "
        "x: {expression: quantity}, y: {expression: unit_price}}"
    )
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(DefinitionError, match=r"more than max_points \(100\)"):
        render_report(parse_definition(report(chart)), sqlite_demo, folder / "report.pdf")
    assert list(folder.iterdir()) == []


# -- (c) the points are a GROUP BY in the database, the same on SQLite and PostgreSQL ---------

MONTHLY_BY_REGION = {
    "sqlite": "strftime('%Y-%m', o.ordered_at)",
    "postgresql": "to_char(o.ordered_at, 'YYYY-MM')",
}


def test_monthly_sales_per_region_equal_a_hand_written_group_by(demo: sa.Engine) -> None:
    chart = (
        "{type: chart, kind: bar, title: Monthly sales, "
        "x: {expression: order.ordered_at, time_unit: month}, "
        f'y: {{expression: "{AMOUNT}", aggregate: sum}}}}'
    )
    definition = parse_definition(
        report(chart, grouped=True, source_filter="order.status <> 'cancelled'")
    )
    points = load_points(definition, demo)[REGION_CHART]
    month = MONTHLY_BY_REGION[demo.dialect.name]
    with demo.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"""SELECT r.name, {month},
                           SUM(l.quantity * l.unit_price * (1 - COALESCE(l.discount, 0)))
                    FROM order_lines l
                    JOIN orders o ON o.id = l.order_id
                    JOIN customers c ON c.id = o.customer_id
                    LEFT JOIN regions r ON r.id = c.region_id
                    WHERE o.status <> 'cancelled'
                    GROUP BY r.name, {month}"""
            )
        ).all()
    expected = {(region, m): float(total) for region, m, total in rows}
    got = {(key[0], _month(p["x"])): p["y"] for key, ps in points.items() for p in ps}
    assert set(got) == set(expected)
    assert got == pytest.approx(expected, rel=1e-9)
    assert (None,) in points, "customers without a region make a group of their own"
    for ps in points.values():  # in time order within each group
        assert [p["x"] for p in ps] == sorted(p["x"] for p in ps)


def _normalised(
    points: dict[str, dict[tuple[Any, ...], list[dict[str, Any]]]],
) -> dict[str, list[dict[str, Any]]]:
    """Points with their time buckets as datetimes (SQLite and PostgreSQL spell them apart)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path, groups in points.items():
        out[path] = [
            {k: datetime.fromisoformat(v) if k == "x" and isinstance(v, str) else v
             for k, v in p.items()}
            for p in groups[()]
        ]  # fmt: skip
    return out


def test_time_buckets_and_bins_agree_on_sqlite_and_postgresql(
    sqlite_url: str, postgres_url: str
) -> None:
    definition = parse_definition(
        report(
            "{type: chart, kind: line, x: {expression: order.ordered_at, time_unit: week}, "
            "y: {aggregate: count}}",
            "{type: chart, kind: line, x: {expression: order.ordered_at, time_unit: month}, "
            f'y: {{expression: "{AMOUNT}", aggregate: avg}}}}',
            "{type: chart, kind: histogram, x: {expression: quantity, bin: 7}}",
            "{type: chart, kind: histogram, x: {expression: unit_price, bin: 9}}",
        )
    )
    results = []
    for url in (sqlite_url, postgres_url):
        generate_demo(url, orders=ORDERS)  # the same rows: one seed
        engine = sa.create_engine(url)
        try:
            results.append(_normalised(load_points(definition, engine)))
            if url == sqlite_url:
                with engine.connect() as conn:
                    stamps = conn.execute(
                        sa.text(
                            "SELECT o.ordered_at FROM order_lines l "
                            "JOIN orders o ON o.id = l.order_id"
                        )
                    ).scalars()
                    ordered = [s if isinstance(s, datetime) else datetime.fromisoformat(s)
                               for s in stamps]  # fmt: skip
        finally:
            engine.dispose()
    on_sqlite, on_postgres = results
    assert on_sqlite.keys() == on_postgres.keys()
    for path in on_sqlite:
        assert len(on_sqlite[path]) == len(on_postgres[path]), path
        for a, b in zip(on_sqlite[path], on_postgres[path], strict=True):
            assert a.keys() == b.keys()
            for name, value in a.items():
                if isinstance(value, float):
                    assert value == pytest.approx(b[name], rel=1e-9), (path, a, b)
                else:
                    assert value == b[name], (path, a, b)

    # Weeks start on Monday, and count what Python counts.
    weekly = {p["x"]: p["y"] for p in on_sqlite[CHART]}
    mondays = Counter(datetime.combine(s.date() - timedelta(days=s.weekday()), datetime.min.time())
                      for s in ordered)  # fmt: skip
    assert weekly == dict(mondays)
    assert all(week.weekday() == 0 for week in weekly)


# -- (d) one query serves every group --------------------------------------------------------


def test_a_chart_in_a_group_band_is_one_query_for_every_group(demo: sa.Engine) -> None:
    chart = (
        "{type: chart, kind: line, x: {expression: order.ordered_at, time_unit: quarter}, "
        "y: {aggregate: count}}"
    )
    definition = parse_definition(report(chart, grouped=True))
    plan, parameters, _ = check_report(definition, demo)
    assert plan.charts is not None
    with Statements(demo) as sql:
        data = plan.charts.load(demo, parameters, QueryCache())
    assert len(sql) == 1, sql
    with demo.connect() as conn:
        regions = conn.execute(
            sa.text(
                "SELECT DISTINCT r.name FROM order_lines l JOIN orders o ON o.id = l.order_id "
                "JOIN customers c ON c.id = o.customer_id LEFT JOIN regions r ON r.id = c.region_id"
            )
        ).scalars()
        lines = conn.execute(sa.text("SELECT COUNT(*) FROM order_lines")).scalar_one()
        region_set = set(regions)
    points = data.points[REGION_CHART]
    assert set(points) == {(region,) for region in region_set}
    assert sum(p["y"] for ps in points.values() for p in ps) == lines

    # The second time, from the cache: no query at all.
    cache = QueryCache()
    plan.charts.load(demo, parameters, cache)
    with Statements(demo) as sql:
        plan.charts.load(demo, parameters, cache)
    assert sql == []


def test_raw_points_of_every_group_are_kept(sqlite_demo: sa.Engine) -> None:
    """Every group may have up to max_points points, though all groups have more together."""
    chart = (
        "{type: chart, kind: scatter, max_points: 1000, "
        "x: {expression: quantity}, y: {expression: unit_price}}"
    )
    points = load_points(parse_definition(report(chart, grouped=True)), sqlite_demo)[REGION_CHART]
    with sqlite_demo.connect() as conn:
        lines = conn.execute(sa.text("SELECT COUNT(*) FROM order_lines")).scalar_one()
    assert lines > 1000
    assert len(points) == 9  # eight regions and the customers without one
    assert sum(len(ps) for ps in points.values()) == lines


# -- (e) top N -------------------------------------------------------------------------------


def test_top_n_folds_the_rest_into_other_and_keeps_the_total(demo: sa.Engine) -> None:
    chart = (
        "{type: chart, kind: bar, top: 5, other: true, x: {expression: product.name}, "
        "y: {expression: quantity, aggregate: sum}}"
    )
    points = load_points(parse_definition(report(chart)), demo)[CHART][()]
    with demo.connect() as conn:
        per_product: dict[str, int] = dict(
            conn.execute(
                sa.text(
                    "SELECT p.name, SUM(l.quantity) FROM order_lines l "
                    "JOIN products p ON p.id = l.product_id GROUP BY p.name"
                )
            ).all()
        )
    assert len(per_product) > 6
    by_name = {p["x"]: p["y"] for p in points}
    assert len(points) == 6
    assert "Other" in by_name
    kept = set(by_name) - {"Other"}
    assert len(kept) == 5
    for name in kept:
        assert by_name[name] == per_product[name]
    folded = [total for name, total in per_product.items() if name not in kept]
    assert min(by_name[name] for name in kept) >= max(folded)
    assert by_name["Other"] == sum(folded)
    assert sum(by_name.values()) == sum(per_product.values())


def test_top_n_of_a_pie_with_colours_folds_per_colour(sqlite_demo: sa.Engine) -> None:
    chart = (
        "{type: chart, kind: donut, top: 3, x: {expression: product.category.name}, "
        "y: {aggregate: count}}"
    )
    points = load_points(parse_definition(report(chart)), sqlite_demo)[CHART][()]
    with sqlite_demo.connect() as conn:
        lines = conn.execute(sa.text("SELECT COUNT(*) FROM order_lines")).scalar_one()
    assert len(points) == 4
    assert sum(p["y"] for p in points) == lines


# -- (f) histograms --------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "bins"), [("quantity", 7), ("unit_price", 12)])
def test_histogram_bins_count_every_row_once(demo: sa.Engine, column: str, bins: int) -> None:
    chart = f"{{type: chart, kind: histogram, x: {{expression: {column}, bin: {bins}}}}}"
    points = load_points(parse_definition(report(chart)), demo)[CHART][()]
    with demo.connect() as conn:
        values = [float(v) for v in conn.execute(sa.text(f"SELECT {column} FROM order_lines"))
                  .scalars()]  # fmt: skip
    assert sum(p["y"] for p in points) == len(values)
    assert len(points) <= bins

    # The same bins, worked out in Python: [start + i * width, start + (i + 1) * width).
    start, width = nice_bins(min(values), max(values), bins)
    assert start <= min(values) and max(values) < start + bins * width
    expected = Counter(math.floor((v - start) / width) for v in values)
    got = {round((p["x"] - start) / width): p["y"] for p in points}
    assert got == dict(expected)


@pytest.mark.parametrize(
    ("low", "high", "bins", "expected"),
    [
        (1, 20, 20, (1, 1)),  # whole quantities get a bin each
        (1, 20, 7, (0, 5)),
        (0.5, 1234, 12, (0, 200)),
        (-3, 7, 4, (-5, 5)),
        (3, 3, 5, (3, 1)),  # a single value
    ],
)
def test_bins_have_round_widths(
    low: float, high: float, bins: int, expected: tuple[float, float]
) -> None:
    start, width = nice_bins(low, high, bins)
    assert (start, width) == expected
    assert start <= low and high < start + bins * width


# -- (g) SVG ---------------------------------------------------------------------------------


def test_render_svg_draws_the_title_in_the_theme_and_caches_by_spec() -> None:
    element = ChartElement.model_validate(
        {
            "type": "chart",
            "kind": "bar",
            "title": "Sales per month (SVG test)",
            "x": {"expression": "order.ordered_at", "time_unit": "month", "title": "Month"},
            "y": {"expression": "quantity", "aggregate": "sum", "title": "Quantity"},
        }
    )
    points = [{"x": f"2025-{m:02d}-01T00:00:00", "y": m * 10.0} for m in range(1, 13)]
    theme = Theme(colors=["#123456", "#abcdef"])
    spec = chart_spec(element, points, theme, (400.0, 160.0), font_size=9)
    started = time.perf_counter()
    svg = render_svg(spec)
    first = time.perf_counter() - started
    assert svg.lstrip().startswith("<svg")
    assert "Sales per month (SVG test)" in svg
    assert "Quantity" in svg
    assert "#123456" in svg, "a chart of one series is drawn in the theme's first colour"

    started = time.perf_counter()
    again = render_svg(chart_spec(element, points, theme, (400.0, 160.0), font_size=9))
    second = time.perf_counter() - started
    assert again is svg
    assert second < first

    other = render_svg(chart_spec(element, points[:6], theme, (400.0, 160.0), font_size=9))
    assert other != svg


# -- (h) in a PDF ----------------------------------------------------------------------------


def test_charts_are_in_the_rendered_pdf(sqlite_demo: sa.Engine, tmp_path: Path) -> None:
    header_chart = (
        "{type: chart, kind: bar, title: Region sales by quarter, legend: none, height: 40mm, "
        "x: {expression: order.ordered_at, time_unit: quarter}, "
        f'y: {{expression: "{AMOUNT}", aggregate: sum}}}}'
    )
    text = report(header_chart, grouped=True) + (
        "bands:\n  title:\n    elements:\n"
        "      - {type: label, text: Chart report}\n"
        "      - type: chart\n        kind: donut\n        title: Lines per category\n"
        "        x: {expression: product.category.name}\n        y: {aggregate: count}\n"
    )
    definition = parse_definition(text)
    output = tmp_path / "charts.pdf"
    result = render_report(definition, sqlite_demo, output)
    assert result.rows > 0
    reader = pypdf.PdfReader(output)
    pages = [page.extract_text() for page in reader.pages]
    everything = "\n".join(pages)
    assert result.pages == len(pages)
    assert "Lines per category" in pages[0]
    assert "Electronics" in pages[0]  # the donut's legend
    assert everything.count("Region sales by quarter") == 9  # one chart per region
    with sqlite_demo.connect() as conn:
        years = conn.execute(sa.text("SELECT DISTINCT strftime('%Y', ordered_at) FROM orders"))
        assert all(year in everything for (year,) in years)  # the axes' labels


def test_chart_sizes_follow_their_cells(sqlite_demo: sa.Engine) -> None:
    chart = (
        "{type: chart, kind: bar, width: 50%, height: 30mm, "
        "x: {expression: quantity}, y: {aggregate: count}}"
    )
    plan, _, _ = check_report(parse_definition(report(chart)), sqlite_demo)
    assert isinstance(plan.charts, ChartSet)
    layout = TypstLayout(parse_definition(report(chart)), plan)
    width, height = layout.charts.size(CHART)
    assert height == pytest.approx(30 * 72 / 25.4, abs=0.01)
    assert 200 < width < 300  # half of an A4 page's 180 mm of content
