"""Limits of a run (issue 20, item 12): a wall-time limit and a memory limit, settable
from `quire render --timeout 60 --memory-limit 2GB` and as `engine.api.start_run`
arguments, and a cap on the charts a run draws (a chart in a group band draws once a
group), counted from the groups its query returns and refused saying how to aggregate.
Every limit stops the run with a clear error and leaves no output behind.
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import api
from engine.cli import main
from engine.document import parse_definition
from engine.errors import DefinitionError, ParameterError, TimeLimitExceeded
from engine.limits import MAX_CHART_DRAWS
from engine.pipeline import run_pipeline
from engine.render import check_report, make_sink, render_report
from engine.runs import Run
from tests.engine.items_table import create_items

GROUP_CHART = "groups[0].header.elements[0]"
REPORT = """
title: Limits
source: {table: items}
bands:
  detail:
    elements:
      - {type: field, expression: name}
      - {type: field, expression: qty}
"""


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = str(request.getfixturevalue(request.param))
    create_items(url, lambda i: f"n{i % 7}")
    (tmp_path / "out").mkdir()
    return url


# -- the wall-time limit ----------------------------------------------------------------------


def test_a_run_past_its_time_limit_stops_with_a_clear_error_and_no_output(
    url: str, tmp_path: Path
) -> None:
    """A run held (paused) past its limit: the limit's timer stops it at its checkpoint."""
    engine = sa.create_engine(url)
    definition = parse_definition(REPORT)
    plan, parameters, _ = check_report(definition, engine)
    sink = make_sink(definition, plan, "pdf", tmp_path / "out" / "late.pdf")
    control = Run()
    control.start()
    control.pause()
    with pytest.raises(TimeLimitExceeded) as caught:
        run_pipeline(definition, engine, plan, parameters, [sink], control=control,
                     time_limit_s=0.3)  # fmt: skip
    assert caught.value.to_dict()["kind"] == "time_limit"
    assert caught.value.issues[0].path == "timeout"
    assert "longer than its time limit of 0.3 s" in caught.value.issues[0].message
    assert list((tmp_path / "out").iterdir()) == []
    engine.dispose()


def test_a_run_within_its_time_limit_is_done(url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(url)
    result = render_report(parse_definition(REPORT), engine, tmp_path / "out" / "r.csv",
                           fmt="csv", time_limit_s=120)  # fmt: skip
    assert result.rows == 24
    engine.dispose()


def test_start_run_takes_a_time_limit_and_fails_the_run_past_it(url: str, tmp_path: Path) -> None:
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    held: list[Run] = []

    def hold(event: dict[str, Any]) -> None:  # pause the run as soon as it runs
        got.put(event)
        run = api.get_run(event["run_id"])
        if event["type"] == "progress" and run is not None and not held:
            held.append(run)
            run.pause()

    engine = sa.create_engine(url)
    api.start_run(REPORT, engine, output_dir=tmp_path / "out", listener=hold, time_limit_s=0.5)
    while (event := got.get(timeout=60))["type"] == "progress":
        pass
    engine.dispose()
    assert event["type"] == "failed"
    assert event["error"]["kind"] == "time_limit"
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name", ["time_limit_s", "memory_limit_bytes", "statement_timeout_s"])
def test_start_run_refuses_a_limit_of_zero(url: str, tmp_path: Path, name: str) -> None:
    engine = sa.create_engine(url)
    with pytest.raises(ParameterError) as caught:
        api.start_run(REPORT, engine, output_dir=tmp_path / "out", **{name: 0})
    engine.dispose()
    assert caught.value.issues[0].path == name


# -- the command line ---------------------------------------------------------------------------


def _render(tmp_path: Path, url: str, *options: str) -> int:
    (tmp_path / "report.yaml").write_text(REPORT, encoding="utf-8")
    return main(["render", str(tmp_path / "report.yaml"), "--source", url, "--format", "csv",
                 "-o", str(tmp_path / "out" / "r.csv"), *options])  # fmt: skip


def test_the_cli_sets_a_memory_limit(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _render(tmp_path, url, "--memory-limit", "1KB") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: memory: memory limit of 0 MB exceeded")
    assert list((tmp_path / "out").iterdir()) == []
    assert _render(tmp_path, url, "--memory-limit", "64GB", "--timeout", "120") == 0
    assert (tmp_path / "out" / "r.csv").exists()


def test_the_cli_sets_a_time_limit(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _render(tmp_path, url, "--timeout", "0.000001") == 1
    err = capsys.readouterr().err
    assert "error: timeout: the run took longer than its time limit of 1e-06 s" in err
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--timeout", "0", "'0' must be more than 0 seconds"),
        ("--timeout", "soon", "'soon' is not a number of seconds"),
        ("--memory-limit", "2XB", "'2XB' is not a size like 2GB or 512MB"),
        ("--memory-limit", "0", "'0' is not a size like 2GB or 512MB"),
    ],
)
def test_the_cli_refuses_a_limit_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        _render(tmp_path, "sqlite://", option, value)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


# -- the cap on charts a run draws ------------------------------------------------------------


def _per_group_report(expression: str) -> str:
    return (
        "title: Per group\nsource: {table: items}\n"
        f"groups:\n  - name: g\n    expression: {expression}\n    header:\n      elements:\n"
        "        - {type: chart, kind: bar, height: 30mm, x: {expression: name},"
        " y: {expression: qty, aggregate: sum}}\n"
    )


def test_a_run_drawing_more_charts_than_the_cap_is_refused_saying_how_to_aggregate(
    url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(url)
    definition = parse_definition(_per_group_report("bucket"))
    plan, parameters, _ = check_report(definition, engine)
    sink = make_sink(definition, plan, "pdf", tmp_path / "out" / "groups.pdf")
    with pytest.raises(DefinitionError) as caught:
        run_pipeline(definition, engine, plan, parameters, [sink], max_chart_draws=3)
    [issue] = caught.value.issues
    assert issue.path == GROUP_CHART
    assert "would draw 4 charts, more than 3" in issue.message
    assert "move the chart to the summary band" in issue.hint
    assert list((tmp_path / "out").iterdir()) == []
    sink = make_sink(definition, plan, "pdf", tmp_path / "out" / "groups.pdf")
    result = run_pipeline(definition, engine, plan, parameters, [sink], max_chart_draws=4)
    assert result.outputs == [tmp_path / "out" / "groups.pdf"]
    engine.dispose()


def test_the_default_cap_counts_groups_before_drawing_any(url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO items (id, name, qty, bucket) VALUES (:id, 'x', 1, 0)"),
            [{"id": i} for i in range(100, 100 + MAX_CHART_DRAWS)],
        )
    definition = parse_definition(_per_group_report("id"))
    with pytest.raises(DefinitionError) as caught:
        render_report(definition, engine, tmp_path / "many.pdf")
    message = caught.value.issues[0].message
    assert f"would draw {MAX_CHART_DRAWS + 24:,} charts, more than {MAX_CHART_DRAWS}" in message
    engine.dispose()
