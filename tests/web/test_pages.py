"""Each page's context is its dataclass: every template renders from exactly that.

The Jinja environment is strict (StrictUndefined), so a template that reads a field its
dataclass lacks fails here instead of rendering a blank.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest

from engine.errors import DefinitionError, Issue
from web import pages
from web.app import TEMPLATES_DIR, _jinja
from web.designer.contexts import (
    PropertiesUrls,
    TreeUrls,
    errors_context,
    properties_context,
    tree_context,
)
from web.designer.forms import build_form
from web.reports import Example, ReportCard
from web.runs import ParamField
from web.sources import ColumnInfo, ForeignKeyInfo, SourceSummary, TableInfo

SOURCE = SourceSummary(1, "Shop <db>", "postgresql://u:***@h/db", "postgresql", 2)
CARD = ReportCard(7, "Sales & <b>more</b>", "By region", ("finance",), None, True, 3)
ISSUE = Issue("source.table", "unknown table 'x'", "did you mean 'y'?")
VERSION = pages.VersionRow(2, datetime(2026, 1, 2, 3, 4, 5), "saved")
TABLE = TableInfo(
    "orders",
    (ColumnInfo("id", "INTEGER", False, True),),
    (ForeignKeyInfo("customer", ("customer_id",), "customers", ("id",)),),
)
RUN_STATE = pages.RunState(3, "running", "loading", 40, 4_000, 9_302, 57, 2_100.0, 2.5, 1.9)
RUN_FAILED = pages.RunState(
    3, "failed", error="database gone <x>", error_issues=[{"path": "p", "message": "m"}] * 2
)
RUN_ROW = pages.RunRow(
    3, 7, "Sales & more", "done", "pdf", {"start": "2025-10-01"}, datetime(2026, 1, 2),
    1.5, 9_302, 135, 839_423, "keyset", "",
)  # fmt: skip

DOCUMENT = {
    "title": "T",
    "source": {"table": "orders"},
    "bands": {"detail": {"elements": [{"type": "field", "expression": "id"}]}},
}
ELEMENT = "bands.detail.elements[0]"
TREE = tree_context(DOCUMENT, ELEMENT, TreeUrls("/s", "/ae", "/r", "/m", "/ab", "/rb", "/ai"))
PROPERTIES = properties_context(DOCUMENT, ELEMENT, PropertiesUrls("/p", "/f"))
STATUS = pages.DraftStatus(7, 2, True, 3, "Saved <now>", oob=True)
WORKSPACE = pages.DesignerWorkspace(TREE, PROPERTIES, STATUS)
ERRORS = errors_context(DefinitionError([ISSUE]), build_form(DOCUMENT, ELEMENT))
# The designer's own fragments render the dataclasses of web.designer.contexts, checked in
# tests/web/designer/test_designer_templates.py; the pages include them.
DESIGNER_CORE = {
    f"designer/_{n}.html" for n in ("tree", "properties", "errors", "field_picker", "macros")
}

# template -> a context; each field's value must show up in the rendered page
CONTEXTS: dict[str, Any] = {
    "gallery.html": pages.GalleryPage(
        [CARD], ["finance"], "sal", "finance", [Example("inv", "Invoices", "")], [SOURCE], "oops"
    ),
    "_cards.html": pages.GalleryPage([CARD], ["finance"]),
    "report.html": pages.ReportPage(
        7,
        "Sales & more",
        "By region",
        ["finance"],
        SOURCE,
        "title: x\n",
        2,
        [ISSUE],
        [VERSION],
        [
            ParamField("start", "From", "date", "2025-10-01"),
            ParamField("ok", "OK", "checkbox", "true"),
            ParamField("region", "Region", "select", "West", ("West", "East")),
        ],
        ("pdf", "csv"),
    ),
    "_save_result.html": pages.SaveResult(False, None, [ISSUE]),
    "versions.html": pages.VersionsPage(7, "Sales & more", [VERSION, VERSION]),
    "diff.html": pages.DiffPage(7, "Sales & more", 1, 2, ["+a", "-b"]),
    "sources.html": pages.SourcesPage([SOURCE], "n", "", "bad url", "url"),
    "source.html": pages.SourcePage(SOURCE, [TABLE], "slow"),
    "_source_test.html": pages.SourceTest(False, "cannot connect"),
    "_thumb.html": pages.Thumbnail(7, url="/reports/7/thumbnail.png?v=0123"),
    "login.html": pages.LoginPage("/x", "that is not the token"),
    "error.html": pages.ErrorPage(422, "bad", (ISSUE, ISSUE)),
    "design.html": pages.DesignerPage(
        7, "Sales & more", "yaml", WORKSPACE, "title: x", "k3y", True
    ),
    "designer/_workspace.html": WORKSPACE,
    "designer/_status.html": STATUS,
    "designer/_applied.html": pages.AppliedEdit(ERRORS, TREE, STATUS),
    "designer/_problem.html": pages.EditProblem("no element at <x>"),
    "designer/_yaml_result.html": pages.YamlResult(STATUS, True, [ISSUE]),
    "designer/_preview.html": pages.PreviewPane(["/previews/a.svg"], 5, 9, False),
    "_preflight.html": pages.Preflight(7, 92_635, 1_333, 4.4, 8_000_000, True, 50_000),
    "_run_errors.html": pages.RunFormErrors(["start", "end"], {"start": "not a date <x>"}, "bad"),
    "_run_state.html": RUN_FAILED,
    "_run.html": pages.RunPanel(3, 7, "Sales & more", "pdf", RUN_STATE, ["start"]),
    "run.html": pages.RunPanel(3, 7, "Sales & more", "csv", RUN_FAILED),
    "runs.html": pages.RunsPage("Runs of Sales & more", 7, [RUN_ROW]),
}
PAGE_TYPES = pages.TEMPLATES


def _render(name: str, page: Any) -> str:
    env = _jinja()
    env.globals["csrf_token"] = lambda: "TOKEN"
    request = type("R", (), {"cookies": {}})()
    return env.get_template(name).render(page=page, csrf_input="<input>", request=request)


def test_every_template_has_a_context() -> None:
    found = {str(p.relative_to(TEMPLATES_DIR)) for p in Path(TEMPLATES_DIR).rglob("*.html")}
    templates = found - {"base.html"} - DESIGNER_CORE
    assert templates == set(CONTEXTS) == set(pages.TEMPLATES)
    for name, context in CONTEXTS.items():
        assert isinstance(context, pages.TEMPLATES[name])


def test_a_thumbnail_still_rendering_is_a_box_that_polls_for_it() -> None:
    html = _render("_thumb.html", pages.Thumbnail(7, pending=True))
    assert "<img" not in html
    assert 'hx-get="/reports/7/thumbnail-slot" hx-trigger="every 1s"' in html
    assert _render("_thumb.html", pages.Thumbnail(7)).strip() == ""  # none coming


def test_render_refuses_the_wrong_dataclass() -> None:
    from web.routes._render import render

    with pytest.raises(TypeError, match=r"report\.html renders a ReportPage, not LoginPage"):
        render("report.html", pages.LoginPage())


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_template_renders_its_dataclass(name: str) -> None:
    html = _render(name, CONTEXTS[name])
    assert "Shop <db>" not in html  # autoescaped
    assert "<db>" not in html
    for field in dataclasses.fields(PAGE_TYPES[name]):
        value = getattr(CONTEXTS[name], field.name)
        if isinstance(value, str) and value and field.name not in ("url", "error_field", "text"):
            assert jinja2.filters.escape(value) in html, field.name


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_template_fails_on_a_context_that_lacks_fields(name: str) -> None:
    @dataclasses.dataclass
    class Empty:
        pass

    with pytest.raises(jinja2.UndefinedError):
        _render(name, Empty())


def test_the_designer_pages_show_their_state() -> None:
    html = _render("designer/_status.html", STATUS)
    assert "Draft — not saved: 3 problems" in html
    assert 'hx-swap-oob="true"' in html
    assert 'hx-post="/reports/7/design/save"' in html and " disabled" in html  # invalid: no save
    html = _render("designer/_preview.html", CONTEXTS["designer/_preview.html"])
    assert "First 5 of 9 rows" in html
    assert '<img class="preview-page" src="/previews/a.svg"' in html
    error = _render("designer/_preview.html", pages.PreviewPane([], error="<b>down</b>"))
    assert "&lt;b&gt;down&lt;/b&gt;" in error and "<img" not in error
    page = _render("design.html", CONTEXTS["design.html"])
    assert 'id="definition"' in page and "title: x" in page  # the YAML tab
    assert "k3y" in page and "The draft's YAML does not parse" in page


def test_values_are_escaped() -> None:
    html = _render("_cards.html", CONTEXTS["_cards.html"])
    assert "Sales &amp; &lt;b&gt;more&lt;/b&gt;" in html
    assert "<b>more</b>" not in html
