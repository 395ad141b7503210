"""engine.api: the one module the web layer calls, used as the web layer will use it.

Each call takes a URL (or an engine) and a definition as text, data or a model, and
raises only QuireErrors; runs stream numbered events ending in exactly one terminal one.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from pypdf import PdfReader

from engine import api
from engine.errors import (
    DataSourceError,
    DefinitionError,
    InternalError,
    OutputError,
    ParameterError,
    QueryTimeout,
)

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
REGION = (EXAMPLES / "sales_by_region.yaml").read_text()


@pytest.fixture(scope="module")
def demo_url(small_demo: sa.Engine) -> str:
    return small_demo.url.render_as_string(hide_password=False)


def _terminal(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    terminal = [e for e in events if e["type"] != "progress"]
    assert len(terminal) == 1, terminal
    assert events[-1] is terminal[0]
    return terminal[0]


def _wait(run: api.Run, timeout: float = 60) -> list[dict[str, Any]]:
    """Every event of the run, through a listener, until the terminal one."""
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    subscription = run.listen(got.put, after=0)
    events: list[dict[str, Any]] = []
    try:
        while not events or events[-1]["type"] == "progress":
            events.append(got.get(timeout=timeout))
    finally:
        subscription.close()
    json.dumps(events)  # plain data, ready to cross a process or a queue
    return events


# -- validate ---------------------------------------------------------------------------------


def test_validate_reports_structure_and_expressions_at_once(demo_url: str) -> None:
    data = yaml.safe_load(REGION)
    data["bands"]["detail"]["elements"][0]["expression"] = "product.nme"
    data["page"] = {"size": "a9"}
    found = api.validate(yaml.safe_dump(data), demo_url)
    paths = [issue.path for issue in found.issues]
    assert "page.size" in paths
    assert "bands.detail.elements[0].expression" in paths
    bad = next(i for i in found.issues if i.path == "bands.detail.elements[0].expression")
    assert "nme" in bad.message
    assert bad.hint == "did you mean 'name'?"
    assert bad.position is not None
    assert "nme" in bad.excerpt


def test_validate_a_good_definition_gives_it_with_its_plan(demo_url: str) -> None:
    found = api.validate(REGION, demo_url, {"start": "2025-11-01"})
    assert found.ok
    assert found.definition is not None
    assert found.definition.title == "Sales by region"
    assert found.plan is not None
    assert found.parameters is not None
    assert str(found.parameters["start"]) == "2025-11-01"


def test_validate_with_a_source_that_is_down_says_so_beside_the_documents_problems(
    tmp_path: Path,
) -> None:
    down = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    found = api.validate("title: x\nsource: {table: t}\nbands: {detial: {}}\n", down)
    assert [i.path for i in found.issues] == ["source", "bands.detial"]
    assert "cannot connect" in found.issues[0].message


# -- describe_source --------------------------------------------------------------------------


def test_describe_source_is_json_ready_with_field_paths(demo_url: str) -> None:
    catalogue = api.describe_source(demo_url, "order_lines")
    json.dumps(catalogue)
    tables = {t["name"]: t for t in catalogue["tables"]}
    assert {"orders", "order_lines", "customers"} <= tables.keys()
    paths = {f["path"] for f in catalogue["fields"]}
    assert {"quantity", "product.name", "order.customer.region.name"} <= paths


def test_describe_source_of_an_unusable_url_is_a_data_source_error() -> None:
    with pytest.raises(DataSourceError) as caught:
        api.describe_source("nosuchdriver://user:secret@host/db")
    assert caught.value.issues[0].path == "source"
    assert "secret" not in str(caught.value)


# -- preview and estimate ---------------------------------------------------------------------


def test_preview_gives_pages_a_thumbnail_and_how_much_it_shows(demo_url: str) -> None:
    shown = api.preview(REGION, demo_url, {"start": "2025-01-01"}, pages=2, designer="t1")
    assert len(shown.pages) == 2
    assert all(page.lstrip().startswith("<svg") for page in shown.pages)
    assert shown.thumbnail.startswith(b"\x89PNG")
    assert not shown.complete
    count = api.estimate(REGION, demo_url, {"start": "2025-01-01"}).rows
    assert shown.total_rows == count
    assert 0 < shown.rows < count


def test_preview_of_a_query_past_its_time_limit_is_a_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE slow (id INTEGER PRIMARY KEY, v INTEGER)")
    definition = {
        "title": "Slow",
        "source": {"table": "slow"},
        "sort": [{"expression": "v"}],
        "bands": {"detail": {"elements": [{"type": "field", "expression": "v"}]}},
    }
    api.describe_source(url)  # the schema is read now and kept: then the table turns slow
    digits = "WITH d(x) AS (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) "
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE slow")
        conn.exec_driver_sql(
            "CREATE VIEW slow AS " + digits + "SELECT a.x + 10 * b.x + 100 * c.x + 1000 * e.x"
            " + 10000 * f.x + 100000 * g.x AS id, (a.x * 7919 + b.x) % 1000 AS v"
            " FROM d a, d b, d c, d e, d f, d g"
        )
    with pytest.raises(QueryTimeout):
        api.preview(definition, url, timeout_s=0.2)
    engine.dispose()


def test_estimate_counts_rows_and_pages(demo_url: str) -> None:
    found = api.estimate(REGION, demo_url, {"start": "2025-06-01"})
    engine = sa.create_engine(demo_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id "
            "WHERE o.status <> 'cancelled' AND o.ordered_at >= '2025-06-01' "
            "AND o.ordered_at < '2026-01-01'"
        ).scalar_one()
    engine.dispose()
    assert found.rows == rows
    assert found.rows_exact
    assert found.pages > 1
    json.dumps(found.to_dict())


# -- runs -------------------------------------------------------------------------------------


def test_a_run_streams_its_phases_and_ends_done_with_its_output(
    demo_url: str, tmp_path: Path
) -> None:
    run = api.start_run(REGION, demo_url, {"start": "2025-12-01"}, output_dir=tmp_path)
    events = _wait(run)
    done = _terminal(events)
    assert done["type"] == "done"
    phases = [e["phase"] for e in events if e["type"] == "progress"]
    assert phases[0] == "planning"
    assert "loading" in phases
    assert phases.index("loading") < phases.index("writing")
    [output] = done["outputs"]
    assert Path(output).name.startswith("sales-by-region-")
    assert Path(output).suffix == ".pdf"
    assert "Region total" in "".join(p.extract_text() for p in PdfReader(output).pages)
    assert done["manifest"]["rows"] == done["rows"] > 0
    assert api.get_run(run.id) is run


def test_a_run_in_several_formats_writes_each(demo_url: str, tmp_path: Path) -> None:
    run = api.start_run(
        REGION, demo_url, {"start": "2025-12-01"}, formats=["csv", "json"], output_dir=tmp_path
    )
    done = _terminal(_wait(run))
    assert sorted(Path(p).suffix for p in done["outputs"]) == [".csv", ".json"]


def test_a_cancelled_run_ends_cancelled_and_leaves_no_file(demo_url: str, tmp_path: Path) -> None:
    started = threading.Event()

    def stop_at_loading(event: dict[str, Any]) -> None:
        if event.get("phase") == "loading":
            started.set()

    run = api.start_run(
        REGION, demo_url, {"start": "2020-01-01"}, output_dir=tmp_path, listener=stop_at_loading
    )
    run.pause()  # if it has not started yet, pause does nothing; cancel works either way
    assert run.cancel()
    events = _wait(run)
    assert _terminal(events)["type"] == "cancelled"
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_fails_ends_failed_with_a_structured_error(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER)")
        conn.exec_driver_sql("INSERT INTO t SELECT g, g, 0 FROM generate_series(1, 50) g")
    engine.dispose()
    definition = {
        "title": "Ratio",
        "source": {"table": "t"},
        "bands": {"detail": {"elements": [{"type": "field", "expression": "a / b"}]}},
    }
    failed = _terminal(_wait(api.start_run(definition, postgres_url, output_dir=tmp_path)))
    assert failed["type"] == "failed"
    assert failed["error"]["kind"] == "data_source"
    assert "division by zero" in failed["error"]["message"]
    assert list(tmp_path.iterdir()) == []


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "path"),
    [
        (lambda url, out: api.preview("title: [", url), DefinitionError, ""),  # the document
        (
            lambda url, out: api.start_run(REGION, url, {"start": "soon"}, output_dir=out),
            ParameterError,
            "params.start",
        ),
        (
            lambda url, out: api.start_run(REGION, url, {"nope": 1}, output_dir=out),
            ParameterError,
            "params.nope",
        ),
        (
            lambda url, out: api.start_run(REGION, url, formats=["docx"], output_dir=out),
            OutputError,
            "formats[0]",
        ),
        (lambda url, out: api.estimate(REGION, "sqlite:////no/such/dir/x.db"), DataSourceError,
         "source"),
    ],
)  # fmt: skip
def test_bad_input_is_an_error_value_with_a_path(
    demo_url: str, tmp_path: Path, call: Any, error: type[Exception], path: str
) -> None:
    with pytest.raises(error) as caught:
        call(demo_url, tmp_path)
    data = caught.value.to_dict()  # type: ignore[attr-defined]
    assert data["path"] == path
    assert data["message"]


def test_a_bug_inside_a_call_becomes_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, demo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> Iterator[int]:
        raise KeyError("surprise")

    monkeypatch.setattr(api, "_estimate", broken)
    with pytest.raises(InternalError, match="unexpected KeyError"):
        api.estimate(REGION, demo_url)
    assert "Traceback" in caplog.text


def test_output_names_are_slugs_with_the_day() -> None:
    from datetime import date

    day = date(2026, 12, 5)
    assert api.output_name("Sales by region", "pdf", day) == "sales-by-region-2026-12-05.pdf"
    assert api.output_name("Ventes (été) / 2026", "csv", day) == "ventes-été-2026-2026-12-05.csv"
    assert api.output_name("../..", "png", day) == "report-2026-12-05-png"
