"""Issue 20, item 10: errors that escaped as tracebacks are one line naming what and where.

Each case goes through `engine.api` (a `QuireError` with a path, or a run's `failed` event)
and, where a command line shows it, through `quire render`/`quire check` (one line on
stderr, exit 1). Cases that depend on the database run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import queue
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import api
from engine.chart_formats import axis_format_issue
from engine.charts import _drawing_failed
from engine.cli import main
from engine.definition import ChartElement
from engine.demo_data import generate_demo
from engine.errors import DataSourceError, DefinitionError, ParameterError, RenderError
from engine.formats import make_formatter
from engine.plan import MAX_COLUMNS


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> str:
    """A small demo database on each engine."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    generate_demo(url, orders=40, seed=3)
    return url


@pytest.fixture
def pg(postgres_url: str) -> str:
    generate_demo(postgres_url, orders=40, seed=3)
    return postgres_url


@pytest.fixture
def lite(sqlite_url: str) -> str:
    generate_demo(sqlite_url, orders=40, seed=3)
    return sqlite_url


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "title": "Hardening",
        "source": {"table": "order_lines"},
        "bands": {"detail": {"elements": [{"type": "field", "expression": "quantity"}]}},
    }
    report.update(changes)
    return report


def _chart(**changes: Any) -> dict[str, Any]:
    chart: dict[str, Any] = {
        "type": "chart",
        "kind": "bar",
        "x": {"expression": "product.name"},
        "y": {"expression": "quantity", "aggregate": "sum"},
    }
    chart.update(changes)
    return chart


def _run(
    report: Any, url: str, out: Path, params: dict[str, Any] | None = None, fmt: str = "json"
) -> dict[str, Any]:
    """The terminal event of a run of the report (JSON: charts are not drawn)."""
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    run = api.start_run(report, url, params, formats=[fmt], output_dir=out, listener=got.put)
    while True:
        event = got.get(timeout=120)
        if event["type"] != "progress":
            assert run.snapshot()["status"] in ("done", "failed")
            return event


def _values(event: dict[str, Any]) -> str:
    assert event["type"] == "done", event
    (output,) = event["outputs"]
    return Path(output).read_text()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    _, err = capsys.readouterr()
    return code, err


def _write(tmp_path: Path, report: dict[str, Any]) -> Path:
    path = tmp_path / "report.yaml"
    path.write_text(yaml.safe_dump(report))
    return path


# -- database errors of the row count and of chart queries -------------------------------------


def test_a_non_boolean_filter_is_refused_at_validation(
    lite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _report(source={"table": "order_lines", "filter": "quantity"})
    (issue,) = api.validate(report, lite).issues
    assert issue.path == "source.filter"
    assert "must be a condition" in issue.message
    assert "an integer" in issue.message
    code, err = _cli(capsys, "check", str(_write(tmp_path, report)), "--source", lite)
    assert code == 1
    assert err.splitlines() == [f"error: {issue}"]


@pytest.mark.parametrize(
    "condition", ["quantity > 0", "product_id IS NOT NULL", "NOT (quantity < 1)", "true"]
)
def test_conditions_stay_valid_filters(lite: str, condition: str) -> None:
    assert api.validate(_report(source={"table": "order_lines", "filter": condition}), lite).ok


def test_a_division_by_zero_in_the_rows_query_is_a_data_source_error(
    pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _report(source={"table": "order_lines", "filter": "quantity / 0 > 1"})
    event = _run(report, pg, tmp_path)
    assert event["type"] == "failed"
    assert event["error"]["kind"] == "data_source"
    assert event["error"]["path"] == "source"
    assert event["error"]["message"] == "the report's query failed: division by zero"
    code, err = _cli(capsys, "render", str(_write(tmp_path, report)), "--source", pg,
                     "--format", "json", "-o", str(tmp_path / "r.json"))  # fmt: skip
    assert code == 1
    assert err == "error: source: the report's query failed: division by zero\n"


def test_a_numeric_overflow_is_a_data_source_error(pg: str, tmp_path: Path) -> None:
    report = _report(
        source={"table": "order_lines", "filter": "quantity * 9223372036854775807 > 0"}
    )
    event = _run(report, pg, tmp_path)
    assert event["error"]["kind"] == "data_source"
    assert "out of range" in event["error"]["message"]
    assert "\n" not in event["error"]["message"]


def test_a_chart_query_that_fails_names_the_chart(
    pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = _chart(y={"expression": "quantity / 0", "aggregate": "sum"})
    report = _report(bands={"summary": {"elements": [chart]}})
    event = _run(report, pg, tmp_path, fmt="pdf")
    assert event["error"]["kind"] == "data_source"
    assert event["error"]["path"] == "bands.summary.elements[0]"
    assert event["error"]["message"] == "the chart's query failed: division by zero"
    code, err = _cli(capsys, "render", str(_write(tmp_path, report)), "--source", pg,
                     "-o", str(tmp_path / "r.pdf"))  # fmt: skip
    assert code == 1
    assert err == ("error: bands.summary.elements[0]: the chart's query failed: division by zero\n")


# -- bare decimal literals and parameters shown and compared ----------------------------------


def test_a_bare_decimal_literal_works_everywhere(db: str, tmp_path: Path) -> None:
    report = _report(
        source={"table": "order_lines", "filter": "quantity * 1.5 > 0.5"},
        groups=[{"name": "g", "expression": "2.5", "footer": {"elements": [
            {"type": "aggregate", "variable": "v"}]}}],
        variables=[{"name": "v", "function": "sum", "expression": "1.5", "reset": "g"}],
        bands={
            "detail": {"elements": [{"type": "field", "expression": "1.5"}]},
            "summary": {"elements": [_chart(x={"expression": "0.5"})]},
        },
    )  # fmt: skip
    assert _run(report, db, tmp_path / "pdf", fmt="pdf")["type"] == "done"  # draws the chart
    bands = json.loads(_values(_run(report, db, tmp_path)))["bands"]
    details = [b["values"]["1.5"] for b in bands if b["band"] == "detail"]
    assert details and all(float(v) == 1.5 for v in details)
    (footer,) = [b for b in bands if b["band"] == "group_footer"]  # one group: the key is 2.5
    assert float(footer["values"]["v"]) == 1.5 * len(details)


def test_a_parameter_shown_and_compared_works(db: str, tmp_path: Path) -> None:
    report = _report(
        parameters=[
            {"name": "least", "type": "integer", "default": 2},
            {"name": "rate", "type": "decimal", "default": "0.25"},
            {"name": "since", "type": "date", "default": "2020-01-01"},
        ],
        source={
            "table": "order_lines",
            "filter": "quantity >= :least and order.ordered_at >= :since and :rate < 1",
        },
        bands={"detail": {"elements": [
            {"type": "field", "expression": ":least"},
            {"type": "field", "expression": ":rate"},
            {"type": "field", "expression": ":since"},
            {"type": "field", "expression": "quantity * :rate"},
        ]}},
    )  # fmt: skip
    text = _values(_run(report, db, tmp_path, {"least": "3"}))
    assert "0.25" in text
    assert "2020-01-01" in text


# -- numbers out of range: parameters and literals ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("integer", "9223372036854775808"),
        ("integer", "-99999999999999999999999"),
        ("decimal", "NaN"),
        ("decimal", "Infinity"),
        ("decimal", "-Infinity"),
        ("decimal", "sNaN"),
        ("decimal", "1e999999999"),
    ],
)
def test_parameters_out_of_range_are_parameter_errors(lite: str, kind: str, value: str) -> None:
    report = _report(
        parameters=[{"name": "p", "type": kind}],
        source={"table": "order_lines", "filter": "quantity > :p"},
    )
    with pytest.raises(ParameterError) as caught:
        api.start_run(report, lite, {"p": value}, output_dir=Path("unused"))
    (issue,) = caught.value.issues
    assert issue.path == "params.p"
    assert value in issue.message


@pytest.mark.parametrize(
    "literal", ["1e999999999", "1e400", "1e-400", "0." + "0" * 400 + "1", "99999999999999999999"]
)
def test_number_literals_out_of_range_are_definition_errors(lite: str, literal: str) -> None:
    report = _report(bands={"detail": {"elements": [
        {"type": "field", "expression": f"quantity * {literal}"}]}})  # fmt: skip
    (issue,) = api.validate(report, lite).issues
    assert issue.path == "bands.detail.elements[0].expression"
    assert "out of range" in issue.message or "too large" in issue.message


def test_a_literal_at_the_edge_of_the_range_still_works(db: str, tmp_path: Path) -> None:
    report = _report(bands={"detail": {"elements": [
        {"type": "field", "expression": "quantity * 1e-300 * 1e300"}]}})  # fmt: skip
    assert _run(report, db, tmp_path)["type"] == "done"


# -- formats --------------------------------------------------------------------------------


def test_a_format_precision_past_the_limit_is_refused(lite: str) -> None:
    report = _report(bands={"detail": {"elements": [
        {"type": "field", "expression": "quantity", "format": "{,.40f}"}]}})  # fmt: skip
    (issue,) = api.validate(report, lite).issues
    assert issue.path == "bands.detail.elements[0].format"
    assert "more than the 20 a format may show" in issue.message


def test_the_largest_precision_formats_any_number() -> None:
    fmt = make_formatter("{,.20f}")
    assert fmt(Decimal("1234567890123456789.5")).startswith("1,234,567,890,123,456,789.5")
    huge = fmt(1e300)  # 301 digits and 20 places: past what a decimal rounds, still printed
    assert huge.startswith("1,000,000,000,000")
    assert huge.endswith("." + "0" * 20)


@pytest.mark.parametrize(
    ("channel", "fmt", "message"),
    [
        ("y", "%Q%", "is not a number format"),
        ("y", ",.2x2", "is not a number format"),
        ("y", ".40f", "precision 40 is too large"),
        ("y", "0>5000f", "width 5000 is too wide"),
        ("x", "%b %Y", "is not a number format"),  # a date format without time_unit
    ],
)
def test_an_axis_format_the_chart_engine_rejects_is_refused_at_validation(
    lite: str, channel: str, fmt: str, message: str
) -> None:
    chart = _chart()
    chart[channel] = {**chart[channel], "format": fmt}
    (issue,) = api.validate(_report(bands={"summary": {"elements": [chart]}}), lite).issues
    assert issue.path == f"bands.summary.elements[0].{channel}.format"
    assert message in issue.message


def test_axis_formats_of_both_kinds_are_accepted(lite: str, tmp_path: Path) -> None:
    chart = _chart(
        x={"expression": "order.ordered_at", "time_unit": "month", "format": "%b %Y"},
        y={"expression": "quantity", "aggregate": "sum", "format": "~s"},
    )
    report = _report(bands={"summary": {"elements": [chart]}})
    assert api.validate(report, lite).ok
    assert axis_format_issue("%-d.%m.%Y", timed=True) is None
    assert axis_format_issue("%K", timed=True) is not None
    for good in (",.0f", ".1%", "$,.2f", "+.3e", "~s", "d", "08.2f", "*^10,d"):
        assert axis_format_issue(good, timed=False) is None, good


def test_a_chart_the_engine_cannot_draw_is_one_render_error_at_its_format() -> None:
    element = ChartElement.model_validate(_chart(y={"aggregate": "count", "format": "d"}))
    engine_error = ValueError("Vega-Lite to SVG conversion failed:\nTypeError: bad\n    at x (y:1)")
    error = _drawing_failed(element, "bands.summary.elements[0]", engine_error)
    assert isinstance(error, RenderError)
    (issue,) = error.issues
    assert issue.path == "bands.summary.elements[0].y.format"
    assert issue.message == "the chart could not be drawn: TypeError: bad"


# -- chart sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path"),
    [({"height": "0mm"}, "height"), ({"height": "0.5mm"}, "height"),
     ({"width": "0mm"}, "width"), ({"width": "0%"}, "width")],
)  # fmt: skip
def test_a_chart_without_size_is_refused_at_validation(
    lite: str, change: dict[str, str], path: str
) -> None:
    report = _report(bands={"summary": {"elements": [_chart(**change)]}})
    (issue,) = api.validate(report, lite).issues
    assert issue.path == f"bands.summary.elements[0].{path}"
    assert "20pt" in issue.message or "must be more than 0" in issue.message


# -- the column limit -------------------------------------------------------------------------


def test_more_distinct_expressions_than_the_column_limit_are_refused_once(
    lite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = [{"type": "field", "expression": f"quantity + {i}"} for i in range(2100)]
    report = _report(bands={"detail": {"elements": fields}})
    (issue,) = api.validate(report, lite).issues
    assert issue.path == f"bands.detail.elements[{MAX_COLUMNS}].expression"
    assert f"more than {MAX_COLUMNS:,} distinct expressions" in issue.message
    code, err = _cli(capsys, "check", str(_write(tmp_path, report)), "--source", lite)
    assert code == 1
    assert len(err.splitlines()) == 1


def test_repeated_expressions_do_not_count_against_the_limit(lite: str) -> None:
    fields = [{"type": "field", "expression": "quantity"} for _ in range(MAX_COLUMNS + 50)]
    assert api.validate(_report(bands={"detail": {"elements": fields}}), lite).ok


# -- source URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+psycopg://me:secret@localhost:port/db", "the port must be a number"),
        ("postgresql+psycopg://me:secret@[::1/db", "an IPv6 host needs its closing ']'"),
        ("postgresql+psycopg://me:secret@[::1]:x5/db", "the port must be a number"),
    ],
)
def test_a_broken_source_url_is_one_data_source_error(
    url: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DataSourceError) as caught:
        api.open_source(url)
    (issue,) = caught.value.issues
    assert issue.path == "source"
    assert issue.message.startswith(f"not a usable database URL: {reason}")
    assert "secret" not in str(caught.value)
    code, err = _cli(capsys, "check", str(_write(tmp_path, _report())), "--source", url)
    assert code == 1
    assert err.startswith(f"error: source: not a usable database URL: {reason}")
    assert len(err.splitlines()) == 1
    assert "secret" not in err


def test_definition_errors_of_the_api_stay_definition_errors(lite: str, tmp_path: Path) -> None:
    report = _report(source={"table": "order_lines", "filter": "quantity + 1"})
    with pytest.raises(DefinitionError) as caught:
        api.start_run(report, lite, output_dir=tmp_path)
    assert [i.path for i in caught.value.issues] == ["source.filter"]
