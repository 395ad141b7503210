"""Charts cannot take the process down (issue 20, item 1).

Control characters in any text of a chart (a category, a legend value, a chart or an axis
title) are cleaned before the chart engine sees them: they made vl-convert panic and
abort the process. The engine draws in a helper process: when it crashes anyway, the
chart fails with a `RenderError` at its path, the caller lives on and the next chart is
drawn by a new helper.
"""

from __future__ import annotations

import queue
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import api
from engine.chart_render import DRAWER
from engine.document import parse_definition
from engine.errors import DefinitionError, RenderError
from engine.render import render_report
from engine.xml_text import xml_text
from tests.engine.items_table import create_items

CHART = "bands.title.elements[0]"
HOSTILE = ["plain", "bell\x07", "unit\x1fsep", "nonchar\ufffe", "tab\tok", "esc\x1b[0m"]


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    """A table of items whose names hold control characters, on SQLite and PostgreSQL."""
    url = str(request.getfixturevalue(request.param))
    create_items(url, lambda i: HOSTILE[i % len(HOSTILE)])
    (Path(request.getfixturevalue("tmp_path")) / "out").mkdir()  # where the tests write
    return url


def _chart_report(title: str = "Sales\x07 by name\x00", axis: str = "Name\x01") -> str:
    return (
        "title: Hostile text\nsource: {table: items}\nbands:\n  title:\n    elements:\n"
        f"      - {{type: chart, kind: bar, title: {_quoted(title)}, height: 40mm,\n"
        f"         x: {{expression: name, title: {_quoted(axis)}}},\n"
        "         y: {expression: qty, aggregate: sum},\n"
        "         color: {expression: name}}\n"
    )


def _quoted(text: str) -> str:
    return '"' + "".join(f"\\x{ord(c):02x}" if ord(c) < 32 else c for c in text) + '"'


def _wait(run: api.Run) -> dict[str, Any]:
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    subscription = run.listen(got.put, after=0)
    try:
        while (event := got.get(timeout=120))["type"] == "progress":
            pass
    finally:
        subscription.close()
    return event


def test_xml_text_replaces_what_xml_forbids_and_keeps_the_rest() -> None:
    assert xml_text("a\x00b\x08c\x0b\x0c\x1f\ufffe\uffff\ud800") == "a\ufffdb\ufffdc" + "\ufffd" * 6
    assert xml_text("tab\t nl\n cr\r é € 𝄞") == "tab\t nl\n cr\r é € 𝄞"


def test_control_characters_in_every_chart_text_draw_a_chart(url: str, tmp_path: Path) -> None:
    """Through the API: the run is done, its PDF written, no partial file left, and the
    process that served it alive (it could not be, had vl-convert panicked in it)."""
    out = tmp_path / "out"
    engine = sa.create_engine(url)
    run = api.start_run(_chart_report(), engine, formats=("pdf", "html"), output_dir=out)
    done = _wait(run)
    engine.dispose()
    assert done["type"] == "done", done
    assert sorted(p.suffix for p in out.iterdir()) == [".html", ".pdf"]
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed XML: no character XML forbids
    assert "bell\ufffd" in svg or "bell&#65533;" in svg


def test_a_crash_of_the_chart_engine_fails_the_chart_not_the_process(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cleaning bypassed, a control character makes vl-convert abort its process:
    the run fails with a RenderError naming the chart, leaves no file, and the next chart
    is drawn by a new helper."""
    engine = sa.create_engine(url)
    definition = parse_definition(_chart_report(title="Crash me", axis="Name"))
    monkeypatch.setattr("engine.chart_render.xml_text", lambda text: text)
    monkeypatch.setattr("engine.chart_query.xml_text", lambda text: text)
    DRAWER.start()
    crashed_pid = DRAWER.pid()
    with pytest.raises(RenderError) as caught:
        render_report(definition, engine, tmp_path / "out" / "crash.pdf")
    [issue] = caught.value.issues
    assert issue.path == CHART
    assert "the chart engine crashed" in issue.message
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.undo()
    again = parse_definition(_chart_report(title=f"After {tmp_path.name}", axis="Name"))
    result = render_report(again, engine, tmp_path / "out" / "after.pdf")
    assert result.outputs == [tmp_path / "out" / "after.pdf"]
    assert DRAWER.pid() not in (None, crashed_pid)
    engine.dispose()


def test_a_refused_spec_is_an_error_of_its_chart(url: str, tmp_path: Path) -> None:
    """An axis format the chart engine rejects fails the chart: refused when the definition
    is checked (the formats d3 knows), else by the chart engine, at the chart's path."""
    text = _chart_report(title="Bad format", axis="Name").replace(
        "aggregate: sum}", "aggregate: sum, format: '%Q%'}"
    )
    engine = sa.create_engine(url)
    with pytest.raises((DefinitionError, RenderError)) as caught:
        render_report(parse_definition(text), engine, tmp_path / "bad.pdf")
    assert caught.value.issues[0].path.startswith(CHART)
    assert not (tmp_path / "bad.pdf").exists()
    engine.dispose()
