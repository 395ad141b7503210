"""Designer previews: the first pages, said to be partial when they are, from a warm process;
charts drawn with their data, as the run draws them; one immutable plan for many runs."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pikepdf
import pypdf
import pytest
import sqlalchemy as sa
from PIL import Image

from engine.charts import chart_elements
from engine.document import load_definition, parse_definition
from engine.errors import (
    DefinitionError,
    InternalError,
    ParameterError,
    QuireError,
    RenderError,
    Superseded,
)
from engine.plan import QueryPlan
from engine.plan_cache import DEFAULT_PLANS, PlanCache
from engine.preview import Preview, Previewer
from engine.render import render_report
from engine.schema import SourceSchema, reflect_schema
from engine.typst_worker import TypstFailed
from engine.typst_writer import TypstLayout, compile_source

EXAMPLES = Path(__file__).parents[2] / "examples"
ORDERS = """
title: One line per order
source: {table: order_lines}
groups:
  - name: order
    expression: order_id
    footer:
      elements:
        - {type: field, expression: order_id, format: integer}
        - {type: aggregate, variable: lines, format: integer, width: 30mm}
variables:
  - {name: lines, function: count, reset: order}
bands: {}
"""


@pytest.fixture(scope="module")
def demo(small_demo: sa.Engine) -> sa.Engine:
    return small_demo


@pytest.fixture(scope="module")
def schema(demo: sa.Engine) -> SourceSchema:
    return reflect_schema(demo)


@pytest.fixture(scope="module")
def shared() -> Iterator[Previewer]:
    """One previewer for the tests that need no cap: a warm process, as the API keeps."""
    with Previewer() as previewer:
        yield previewer


@pytest.fixture
def previewer() -> Iterator[Previewer]:
    with Previewer(rows=150) as previewer:
        yield previewer


def chart_svgs(page: str) -> list[str]:
    """The charts (SVG images) a Typst SVG page embeds, in order."""
    found = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page)
    return [base64.b64decode(data).decode("utf-8") for data in found]


def has_marks(chart: str) -> bool:
    """Whether a Vega chart draws marks: a mark container with a shape in it (a chart
    without data has its axes but an empty, self-closed container)."""
    return (
        re.search(r'<g class="mark-\w+ role-mark[^"]*"[^>]*[^/]>\s*<(path|line)', chart) is not None
    )


class Typeset:
    """Records what the previewer hands Typst: the records and, typeset again to PDF with
    the same inputs, the text of each page."""

    def __init__(self, previewer: Previewer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.records: list[Any] = []
        self.layouts: list[TypstLayout] = []
        self.texts: list[list[str]] = []
        write, compile_preview = TypstLayout.write_folder, previewer._pool.compile_preview

        def write_folder(layout: TypstLayout, folder: Path, events: Any, *a: Any, **k: Any) -> None:
            self.layouts.append(layout)
            self.records.append(list(events))
            write(layout, folder, events, *a, **k)

        def typeset(folder: Path, inputs: dict[str, str], *args: Any) -> tuple[list[str], bytes]:
            pdf = compile_source(folder, inputs, "pdf")[0]
            self.texts.append([p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages])
            return compile_preview(folder, inputs, *args)

        monkeypatch.setattr(TypstLayout, "write_folder", write_folder)
        monkeypatch.setattr(previewer._pool, "compile_preview", typeset)

    def band(self, key: str) -> list[list[str]]:
        """The cells of every record of the band `key` in the last preview."""
        index = self.layouts[-1].band_index(key)
        return [record[1] for record in self.records[-1] if record[0] == index]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_is_previewed_with_its_charts_drawn(
    demo: sa.Engine, schema: SourceSchema, shared: Previewer, name: str
) -> None:
    definition = load_definition(EXAMPLES / name)
    preview = shared.render(definition, demo, schema=schema)
    assert 1 <= len(preview.pages) <= 3
    assert all(page.startswith("<svg") for page in preview.pages)
    charts = [chart for page in preview.pages for chart in chart_svgs(page)]
    if any(chart_elements(definition)):
        assert charts, "the report's charts are not on its first pages"
        assert all(has_marks(chart) for chart in charts), "a chart drawn without its data"
    else:
        assert charts == []


def test_a_chart_without_data_is_told_from_one_with_data() -> None:
    """The check above can fail: an empty chart has no marks."""
    from engine.chart_render import chart_spec, render_svg
    from engine.definition import ChartElement, Theme

    element = ChartElement.model_validate(
        {"type": "chart", "kind": "bar", "x": {"expression": "a"}, "y": {"aggregate": "count"}}
    )
    empty = render_svg(chart_spec(element, [], Theme(), (400, 150), font_size=9))
    drawn = render_svg(chart_spec(element, [{"a": "x", "y": 3}], Theme(), (400, 150), font_size=9))
    assert not has_marks(empty)
    assert has_marks(drawn)


def test_a_long_report_is_previewed_by_its_first_rows_and_says_so(
    demo: sa.Engine, previewer: Previewer
) -> None:
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    given = {"start": "2020-01-01"}
    preview = previewer.render(definition, demo, given)
    assert (preview.rows, preview.complete) == (150, False)
    with demo.connect() as connection:
        lines = connection.execute(
            sa.text(
                "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id "
                "WHERE o.status <> 'cancelled' "
                "AND o.ordered_at >= '2020-01-01' AND o.ordered_at < '2026-01-01'"
            )
        ).scalar_one()
    assert preview.total_rows == lines > 150  # counted: "150 of 6,976 rows"
    assert 1 < len(preview.pages) <= 3
    given_total = previewer.render(definition, demo, given, total_rows=lambda: 12_345)
    assert given_total.total_rows == 12_345


def test_a_short_report_is_previewed_whole_with_the_pages_of_its_pdf(
    demo: sa.Engine, previewer: Previewer, tmp_path: Path
) -> None:
    definition = load_definition(EXAMPLES / "invoices.yaml")
    given = {"from_order": 1, "to_order": 4}
    preview = previewer.render(definition, demo, given, pages=10)
    assert preview.complete and 0 < preview.rows == preview.total_rows < 150
    render_report(definition, demo, tmp_path / "invoices.pdf", given=given)
    with pikepdf.open(tmp_path / "invoices.pdf") as pdf:
        assert len(preview.pages) == len(pdf.pages) > 1
    assert len(previewer.render(definition, demo, given, pages=1).pages) == 1


def test_only_the_pages_asked_for_and_a_thumbnail_of_page_one(
    demo: sa.Engine, shared: Previewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    typeset = Typeset(shared, monkeypatch)
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    preview = shared.render(definition, demo, {"start": "2020-01-01"}, pages=2)
    assert len(preview.pages) == 2 and not preview.complete
    assert len(typeset.texts[-1]) <= 4, "typeset far more pages than the two asked for"
    image = Image.open(io.BytesIO(preview.thumbnail))
    assert image.format == "PNG"
    width, height = image.size
    assert 295 <= width <= 305
    assert height == pytest.approx(width * 297 / 210, abs=3)  # an A4 page
    one = shared.render(definition, demo, {"start": "2020-01-01"}, pages=1)
    assert len(one.pages) == 1
    assert one.pages[0] == preview.pages[0]
    with pytest.raises(ParameterError, match="at least one page"):
        shared.render(definition, demo, pages=0)


def test_a_partial_preview_prints_no_page_total_it_does_not_know(
    demo: sa.Engine, shared: Previewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    typeset = Typeset(shared, monkeypatch)
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    partial = shared.render(definition, demo, {"start": "2020-01-01"})
    assert not partial.complete
    texts = typeset.texts[-1]
    assert "Page 1 of …" in texts[0]
    assert not re.search(r"Page \d+ of \d", " ".join(texts))

    whole = shared.render(
        load_definition(EXAMPLES / "invoices.yaml"), demo, {"from_order": 1, "to_order": 4}
    )
    assert whole.complete
    texts = typeset.texts[-1]
    assert f"Page 1 of {len(texts)}" in texts[0]


def expected_orders(demo: sa.Engine) -> list[list[str]]:
    with demo.connect() as connection:
        counts = connection.execute(
            sa.text("SELECT order_id, COUNT(*) FROM order_lines GROUP BY order_id ORDER BY 1")
        ).all()
    return [[f"{order:,}", f"{lines:,}"] for order, lines in counts]


def test_a_partial_preview_of_group_footers_only_closes_the_groups_it_shows(
    demo: sa.Engine, shared: Previewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No detail band: the preview reads on until the last group it shows ends, so every
    footer it prints is that group's whole count."""
    typeset = Typeset(shared, monkeypatch)
    expected = expected_orders(demo)
    preview = shared.render(parse_definition(ORDERS), demo)
    footers = typeset.band("group_footer:0")
    assert not preview.complete and preview.total_rows == sum(int(n) for _, n in expected)
    assert 40 < len(footers) < len(expected)
    assert footers == expected[: len(footers)]  # the last one included: it is complete
    assert preview.rows == sum(int(n.replace(",", "")) for _, n in footers)


def test_at_its_row_cap_a_footers_only_preview_leaves_the_open_group_out(
    demo: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = expected_orders(demo)
    read, complete_groups = 0, 0
    for _, lines in expected:
        if read + int(lines) > 100:
            break
        read += int(lines)
        complete_groups += 1
    with Previewer(rows=100) as capped:
        typeset = Typeset(capped, monkeypatch)
        preview = capped.render(parse_definition(ORDERS), demo)
    assert (preview.rows, preview.complete) == (read, False)  # whole groups only
    assert typeset.band("group_footer:0") == expected[:complete_groups]


def test_a_newer_preview_for_the_same_designer_supersedes_the_older(demo: sa.Engine) -> None:
    definition = load_definition(EXAMPLES / "product_list.yaml")
    outcomes: dict[str, Preview | QuireError] = {}

    def render(name: str, designer: str) -> None:
        try:
            outcomes[name] = previewer.render(definition, demo, designer=designer)
        except QuireError as error:
            outcomes[name] = error

    with Previewer(rows=50) as previewer:
        previewer._lock.acquire()  # the Typst process busy with someone else's preview
        older = threading.Thread(target=render, args=("older", "ann"))
        older.start()
        while previewer._latest.get("ann") is None:
            time.sleep(0.005)
        other = threading.Thread(target=render, args=("other", "bob"))
        other.start()
        newer = threading.Thread(target=render, args=("newer", "ann"))
        newer.start()
        older.join(timeout=30)  # it gives up while still waiting for the process
        assert isinstance(outcomes.get("older"), Superseded)
        previewer._lock.release()
        newer.join(timeout=60)
        other.join(timeout=60)
    assert isinstance(outcomes["newer"], Preview)
    assert isinstance(outcomes["other"], Preview)
    error = outcomes["older"]
    assert isinstance(error, Superseded)
    assert error.to_dict()["kind"] == "superseded"


def plan_snapshot(plan: QueryPlan) -> Any:
    """Everything a plan holds, as plain values."""
    assert plan.charts is not None
    charts = {
        path: (
            chart.level,
            chart.query.element.model_dump_json(),
            str(chart.query.source),
            [str(key) for key in chart.query.keys],
            [(n, str(c), b) for n, c, b in chart.query.dimensions],
            [(n, ch.model_dump_json(), str(c)) for n, ch, c in chart.query.measures],
        )
        for path, chart in plan.charts.charts.items()
    }
    return (
        str(plan.select),
        str(plan.ordered),
        plan.order_keys,
        plan.group_columns,
        dict(plan.variable_columns),
        dict(plan.expression_columns),
        plan.total_order,
        plan.index_ordered,
        plan.charts.definition.model_dump_json(),
        plan.charts.group_columns,
        charts,
    )


def test_one_plan_serves_two_runs_at_once_and_is_left_unchanged(
    demo: sa.Engine, schema: SourceSchema, tmp_path: Path
) -> None:
    definition = load_definition(EXAMPLES / "sales_by_region_charts.yaml")
    plan = DEFAULT_PLANS.plan(definition, schema)
    before = plan_snapshot(plan)
    halves = {
        "first": {"start": "2025-01-01", "end": "2025-07-01"},
        "second": {"start": "2025-07-01", "end": "2026-01-01"},
    }

    def run(name: str) -> str:
        output = tmp_path / f"{name}.html"
        render_report(definition, demo, output, given=halves[name], fmt="html", schema=schema)
        return output.read_text(encoding="utf-8")

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(run, halves)
    assert DEFAULT_PLANS.plan(definition, schema) is plan  # the runs' plan, from the cache
    assert plan_snapshot(plan) == before
    # Each run's charts show its own months, not the other run's.
    assert "Feb 25" in first and "May 25" in first and "Oct 25" not in first
    assert "Oct 25" in second and "Dec 25" in second and "Feb 25" not in second
    for html, (start, end) in (
        (first, ("2025-01-01", "2025-07-01")),
        (second, ("2025-07-01", "2026-01-01")),
    ):
        with demo.connect() as connection:
            lines = connection.execute(
                sa.text(
                    "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id "
                    "WHERE o.status <> 'cancelled' AND o.ordered_at >= :s AND o.ordered_at < :e"
                ),
                {"s": start, "e": end},
            ).scalar_one()
        assert f">{lines:,}<" in html  # the grand total's lines
    with pytest.raises(TypeError):
        plan.variable_columns["x"] = 1  # type: ignore[index]
    assert plan.charts is not None
    with pytest.raises(TypeError):
        plan.charts.charts["x"] = plan.charts.charts[next(iter(plan.charts.charts))]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        next(iter(plan.charts.charts.values())).level = 3  # type: ignore[misc]


def test_the_preview_draws_the_charts_the_run_draws(
    demo: sa.Engine, schema: SourceSchema, shared: Previewer, tmp_path: Path
) -> None:
    definition = load_definition(EXAMPLES / "sales_by_region_charts.yaml")
    preview = shared.render(definition, demo, schema=schema, pages=1)
    render_report(definition, demo, tmp_path / "pages", fmt="svg", schema=schema)
    run_page = (tmp_path / "pages" / "page-001.svg").read_text(encoding="utf-8")
    shown = chart_svgs(preview.pages[0])
    assert shown and all(has_marks(chart) for chart in shown)
    assert shown == chart_svgs(run_page)


def test_previews_reuse_the_schema_and_the_plan(
    demo: sa.Engine, schema: SourceSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reflection(engine: sa.Engine) -> SourceSchema:
        raise AssertionError("reflected for a preview given its schema")

    monkeypatch.setattr("engine.preview.reflect_schema", no_reflection)
    plans = PlanCache()
    definition = load_definition(EXAMPLES / "product_list.yaml")
    with Previewer(rows=20, plans=plans) as previewer:
        previewer.render(definition, demo, schema=schema)
        previewer.render(load_definition(EXAMPLES / "product_list.yaml"), demo, schema=schema)
    assert (plans.misses, plans.hits) == (1, 1)  # an equal definition: the same plan


def test_the_plan_cache_keeps_the_latest_plans_per_schema(
    demo: sa.Engine, schema: SourceSchema
) -> None:
    plans = PlanCache(max_entries=2)
    names = ("product_list.yaml", "invoices.yaml", "sales_by_region.yaml")
    definitions = [load_definition(EXAMPLES / name) for name in names]
    first = plans.plan(definitions[0], schema)
    assert plans.plan(load_definition(EXAMPLES / names[0]), schema) is first
    assert plans.plan(definitions[0], reflect_schema(demo)) is not first  # another schema
    plans.plan(definitions[1], schema)
    plans.plan(definitions[2], schema)
    assert len(plans) == 2
    assert plans.plan(definitions[0], schema) is not first  # the oldest was dropped


def test_previews_are_typeset_by_one_warm_process(demo: sa.Engine, previewer: Previewer) -> None:
    """Typst's memory of the last preview is worth keeping: the same process serves the
    next one, whatever report it is."""
    first = previewer._pool.serving_pid()
    for name in ("product_list.yaml", "sales_by_region.yaml", "product_list.yaml"):
        previewer.render(load_definition(EXAMPLES / name), demo)
    assert previewer._pool.serving_pid() == first


def test_a_bad_definition_is_refused_before_any_typesetting(
    demo: sa.Engine, previewer: Previewer
) -> None:
    bad = parse_definition(
        "title: x\nsource: {table: products}\nbands:\n"
        "  detail: {elements: [{type: field, expression: nme}]}\n"
    )
    with pytest.raises(DefinitionError, match="nme"):
        previewer.render(bad, demo)


def test_a_chart_that_cannot_be_drawn_is_a_render_error_naming_it(
    demo: sa.Engine, previewer: Previewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(spec: dict[str, Any]) -> str:
        raise ValueError("no such mark")

    monkeypatch.setattr("engine.chart_render.render_svg", broken)
    text = (EXAMPLES / "sales_by_region_charts.yaml").read_text(encoding="utf-8")
    definition = parse_definition(text.replace("Monthly sales", "Not drawn before"))
    with pytest.raises(RenderError, match="no such mark") as raised:
        previewer.render(definition, demo)
    assert raised.value.to_dict()["path"] == "groups[0].header.elements[3]"


def test_a_typesetting_failure_is_a_render_error(
    demo: sa.Engine, previewer: Previewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(folder: Path, inputs: dict[str, str], *args: Any) -> tuple[list[str], bytes]:
        raise TypstFailed("unknown variable: oops")

    monkeypatch.setattr(previewer._pool, "compile_preview", failing)
    with pytest.raises(RenderError, match="typesetting failed: unknown variable"):
        previewer.render(load_definition(EXAMPLES / "product_list.yaml"), demo)


def test_an_unforeseen_failure_is_an_internal_error(
    demo: sa.Engine, previewer: Previewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise KeyError("c7")

    monkeypatch.setattr("engine.preview.fill_batches", broken)
    with pytest.raises(InternalError, match="KeyError"):
        previewer.render(load_definition(EXAMPLES / "product_list.yaml"), demo)
