"""Charts at scale: the aggregate query in the database, then the SVG, warm and cold.

    python -m bench.charts --rows 1000000 --json
    python -m bench.charts --rows 1000000 --db postgresql --json

Builds a demo database with about N order lines, then measures:
- sql_ms: the chart "monthly sales by region" (one GROUP BY over every order line), warm,
  median of a few runs, each with an empty query cache so that it really hits the database;
- svg_ms: vl-convert drawing that chart, warm (engine started, SVG cache missed), median;
- first_svg_ms: the first chart a fresh process draws, vl-convert's engine start and font
  registration included (import_ms is importing the chart modules, before that);
- per_group_total_ms: a report grouped into `per_group_charts` groups (50), a monthly chart
  in each group's header: its one query plus every group's SVG, as a run does it.

Targets: monthly sales by region over 1M lines, SQL + SVG under 1 s warm (sql_ms + svg_ms);
50 per-group charts under 3 s (per_group_total_ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import print_figures
from bench.loader import demo_database

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
GROUPS = 50
AMOUNT = "quantity * unit_price * (1 - coalesce(discount, 0))"
MONTHLY_BY_REGION = f"""
title: Monthly sales by region
source: {{table: order_lines, filter: "order.status <> 'cancelled'"}}
bands:
  title:
    elements:
      - type: chart
        kind: bar
        title: Sales by month and region
        height: 70mm
        x: {{expression: order.ordered_at, time_unit: month, title: Month}}
        y: {{expression: "{AMOUNT}", aggregate: sum, title: Sales, format: "~s"}}
        color: {{expression: "coalesce(order.customer.region.name, 'No region')", title: Region}}
"""
PER_GROUP = f"""
title: Monthly sales per customer group
source: {{table: order_lines, filter: "order.status <> 'cancelled'"}}
groups:
  - name: bucket
    expression: "order.customer_id % {GROUPS}"
    header:
      elements:
        - {{type: field, expression: "order.customer_id % {GROUPS}"}}
        - {{type: row_break}}
        - type: chart
          kind: bar
          title: Monthly sales
          height: 45mm
          legend: none
          x: {{expression: order.ordered_at, time_unit: month}}
          y: {{expression: "{AMOUNT}", aggregate: sum, format: "~s"}}
"""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _median_ms(times: list[float]) -> float:
    return _ms(statistics.median(times))


def _charts(engine: sa.Engine, text: str) -> tuple[Any, dict[str, Any]]:
    from engine.document import parse_definition
    from engine.render import check_report

    plan, parameters, _ = check_report(parse_definition(text), engine)
    assert plan.charts is not None
    assert len(plan.charts.charts) == 1
    return plan.charts, parameters


def monthly(engine: sa.Engine) -> dict[str, Any]:
    """Query and draw the monthly sales by region: warm timings, medians of RUNS runs."""
    from engine.cache import QueryCache
    from engine.chart_render import chart_spec, render_svg, warm_up
    from engine.charts import DEFAULT_SIZE_PT

    charts, parameters = _charts(engine, MONTHLY_BY_REGION)
    ((path, chart),) = charts.charts.items()
    chart.query.run(engine, parameters, QueryCache())  # warm the database's own caches
    sql_times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        points = chart.query.run(engine, parameters, QueryCache())[()]  # never from the cache
        sql_times.append(time.perf_counter() - started)
    warm_up()
    definition = charts.definition
    svg_times = []
    for run in range(RUNS):
        element = chart.query.element.model_copy(update={"title": f"Sales by month #{run}"})
        spec = chart_spec(element, points, definition.theme, DEFAULT_SIZE_PT,
                          font_size=definition.page.font_size)  # fmt: skip
        started = time.perf_counter()
        svg = render_svg(spec)  # a title of its own each run: never from the SVG cache
        svg_times.append(time.perf_counter() - started)
    assert "Sales by month" in svg
    return {
        "path": path,
        "points": len(points),
        "spec": spec,
        "sql_ms": _median_ms(sql_times),
        "svg_ms": _median_ms(svg_times),
    }


def per_group(engine: sa.Engine) -> dict[str, Any]:
    """One query for every group's chart, then each group's SVG, as a run draws them."""
    from engine.cache import QueryCache
    from engine.chart_render import warm_up
    from engine.fill import BandEvent

    charts, parameters = _charts(engine, PER_GROUP)
    (path,) = charts.charts
    warm_up()
    started = time.perf_counter()
    data = charts.load(engine, parameters, QueryCache())
    queried = time.perf_counter()
    groups = data.points[path]
    column = charts.group_columns[0]
    for key in groups:
        row = [None] * (column + 1)
        row[column] = key[0]
        svg = data.svg(path, BandEvent("group_header:0", row, {}))
        assert "Monthly sales" in svg
    finished = time.perf_counter()
    return {
        "per_group_charts": len(groups),
        "per_group_points": sum(len(points) for points in groups.values()),
        "per_group_sql_ms": _ms(queried - started),
        "per_group_svg_ms": _ms(finished - queried),
        "per_group_total_ms": _ms(finished - started),
    }


def first_svg_child(spec_file: str) -> dict[str, Any]:
    """In a fresh process: import the chart modules, then draw one chart (engine start)."""
    started = time.perf_counter()
    from engine.chart_render import render_svg

    imported = time.perf_counter()
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    svg = render_svg(spec)
    drawn = time.perf_counter()
    assert "<svg" in svg
    return {"import_ms": _ms(imported - started), "first_svg_ms": _ms(drawn - imported)}


def _first_svg(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as file:
        json.dump(spec, file)
        file.flush()
        command = [sys.executable, "-m", "bench.charts", "--child", file.name]
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run(rows: int, db: str) -> dict[str, Any]:
    with demo_database(db, rows) as url:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                lines = conn.execute(sa.text("SELECT COUNT(*) FROM order_lines")).scalar_one()
            chart = monthly(engine)
            groups = per_group(engine)
        finally:
            engine.dispose()
    cold = _first_svg(chart["spec"])
    return {
        "db": db,
        "rows": lines,
        "points": chart["points"],
        "sql_ms": chart["sql_ms"],
        "svg_ms": chart["svg_ms"],
        "sql_svg_ms": round(chart["sql_ms"] + chart["svg_ms"], 1),
        "first_svg_ms": cold["first_svg_ms"],
        "import_ms": cold["import_ms"],
        **groups,
        "target_sql_svg_under_1s": chart["sql_ms"] + chart["svg_ms"] < 1000,
        "target_per_group_under_3s": groups["per_group_total_ms"] < 3000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="order lines (approximate)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(first_svg_child(args.child)))
        return
    figures = run(args.rows, args.db)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
