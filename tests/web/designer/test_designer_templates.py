"""Each designer fragment rendered with its context dataclass: structure, htmx wiring,
no script (the pages' Content-Security-Policy forbids it), and user text escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from engine.catalogue import field_paths
from engine.errors import DefinitionError, Issue
from engine.schema import SourceSchema
from web.designer.contexts import (
    ErrorsContext,
    FieldPickerContext,
    PropertiesContext,
    PropertiesUrls,
    TreeContext,
    TreeUrls,
    errors_context,
    field_picker_context,
    properties_context,
    tree_context,
)
from web.designer.edits import apply_form, check
from web.designer.forms import build_form

TEMPLATES = Path(__file__).resolve().parents[3] / "web" / "templates"
EVIL = "<script>alert(1)</script>"
TREE_URLS = TreeUrls(
    select="/d/1/select",
    add_element="/d/1/elements/add",
    remove="/d/1/remove",
    move="/d/1/move",
    add_band="/d/1/bands/add",
    remove_band="/d/1/bands/remove",
    add_item="/d/1/items/add",
)
PROPERTY_URLS = PropertiesUrls(save="/d/1/properties", field_picker="/d/1/fields")

Context = TreeContext | PropertiesContext | ErrorsContext | FieldPickerContext


@pytest.fixture(scope="module")
def env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )


def render(env: Environment, context: Context) -> str:
    html = env.get_template(context.template).render(**context.variables())
    assert "<script" not in html.lower()
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    return html


class Elements(HTMLParser):
    """The start tags of a fragment, as (tag, attributes)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def having(self, attribute: str) -> list[tuple[str, dict[str, str | None]]]:
        return [(t, a) for t, a in self.tags if attribute in a]


def evil_document(sales: dict[str, Any]) -> dict[str, Any]:
    """The example with user text that must never reach the page as markup."""
    document = apply_form(sales, "bands.detail.elements[0]", {"type": "field", "expression": EVIL})
    document = apply_form(document, "bands.title.elements[0]", {"type": "label", "text": EVIL})
    return apply_form(document, "", {"title": EVIL, "source.table": "order_lines"})


def test_tree_buttons_post_paths_and_mark_the_selected_node(
    env: Environment, sales: dict[str, Any]
) -> None:
    html = render(env, tree_context(sales, "bands.detail.elements[1]", TREE_URLS))
    tags = Elements(html)
    actions = tags.having("hx-post") + tags.having("hx-get")
    assert actions
    assert {t for t, _ in actions} <= {"button", "form"}  # every action a real control
    current = [a for _, a in tags.having("aria-current")]
    assert len(current) == 1
    assert current[0]["hx-vals"] == '{"path": "bands.detail.elements[1]"}'
    moves = [a["hx-vals"] for _, a in tags.having("hx-post") if a["hx-post"] == TREE_URLS.move]
    assert '{"offset": -1, "path": "groups[1].footer.elements[2]"}' in moves
    assert 'aria-label="Move field · order_id up" disabled' in html  # the first cannot go up
    assert "Group &#39;region&#39; — header" in html
    assert all(a.get("type") == "button" for t, a in tags.tags if t == "button" and "hx-post" in a)


def test_tree_offers_absent_bands_and_every_element_type(env: Environment) -> None:
    document = {"title": "T", "source": {"table": "t"}, "bands": {"detail": {}}}
    html = render(env, tree_context(document, "", TREE_URLS))
    tags = Elements(html)
    add_band = [
        a["hx-vals"] for _, a in tags.having("hx-post") if a["hx-post"] == TREE_URLS.add_band
    ]
    assert '{"path": "bands.summary"}' in add_band
    assert len(add_band) == 6
    options = [a["value"] for t, a in tags.tags if t == "option"]
    assert {"label", "field", "chart", "row_break"} <= set(options)


def test_tree_escapes_user_text(env: Environment, sales: dict[str, Any]) -> None:
    html = render(env, tree_context(evil_document(sales), "", TREE_URLS))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_properties_give_each_input_an_id_and_an_error_slot(
    env: Environment, charts: dict[str, Any]
) -> None:
    context = properties_context(charts, "groups[0].header.elements[3]", PROPERTY_URLS)
    html = render(env, context)
    tags = Elements(html)
    names = {
        a["name"]: (t, a)
        for t, a in tags.tags
        if a.get("name") and t in ("input", "select", "textarea")
    }
    slots = {a["id"] for t, a in tags.tags if t == "span" and a.get("class") == "field-error"}
    for leaf in context.form.leaves():
        _, attributes = names[leaf.name]
        assert attributes["id"] == leaf.id
        if leaf.kind != "hidden":
            assert f"err-{leaf.id}" in slots
    assert names["path"][1]["value"] == "groups[0].header.elements[3]"
    assert names["x.expression"][1]["value"] == "order.ordered_at"
    assert names["max_points"][1]["min"] == "1"
    assert names["horizontal"][1]["type"] == "checkbox"
    assert names["kind"][0] == "select"
    pickers = [
        a["hx-vals"] for _, a in tags.having("hx-get") if a["hx-get"] == PROPERTY_URLS.field_picker
    ]
    assert '{"target": "prop-x-expression"}' in pickers
    form = next(a for t, a in tags.tags if t == "form")
    assert form["hx-post"] == PROPERTY_URLS.save


def test_properties_show_errors_beside_their_fields_and_a_draft(
    env: Environment, sales: dict[str, Any]
) -> None:
    draft = apply_form(sales, "page", {"font_size": "large"})
    with pytest.raises(DefinitionError) as caught:
        check(draft)
    html = render(env, properties_context(draft, "page", PROPERTY_URLS, caught.value))
    assert re.search(r'id="err-prop-font_size"[^>]*>[^<]*valid number', html)
    assert "Draft with problems" in html
    assert 'value="large"' in html


def test_properties_escape_user_text(env: Environment, sales: dict[str, Any]) -> None:
    document = evil_document(sales)
    for path in ("", "bands.detail.elements[0]", "bands.title.elements[0]"):
        html = render(env, properties_context(document, path, PROPERTY_URLS))
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_errors_fill_and_clear_every_slot_out_of_band(
    env: Environment, charts: dict[str, Any]
) -> None:
    form = build_form(charts, "groups[0].header.elements[3]")
    error = DefinitionError(
        [
            Issue("groups[0].header.elements[3].x.expression", f"unknown column {EVIL}"),
            Issue("variables[0].reset", "unknown group 'regoin'", "did you mean 'region'?"),
        ]
    )
    html = render(env, errors_context(error, form))
    tags = Elements(html)
    oob = {a["id"]: a for _, a in tags.having("hx-swap-oob")}
    shown = [leaf for leaf in form.leaves() if leaf.kind != "hidden"]
    assert set(oob) == {f"err-{leaf.id}" for leaf in shown} | {"designer-errors"}
    assert "err-prop-type" not in oob  # a hidden input has no slot: htmx would find no target
    assert "unknown column &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.search(r'id="err-prop-kind" hx-swap-oob="true"[^>]*></span>', html)  # cleared
    summary = "unknown group &#39;regoin&#39; (did you mean &#39;region&#39;?)"
    assert f"<code>variables[0].reset</code>: {summary}" in html


def test_field_picker_lists_paths_for_its_input(
    env: Environment, demo_schema: SourceSchema
) -> None:
    fields = field_paths(demo_schema, "order_lines")
    html = render(env, field_picker_context("order_lines", fields, "prop-expression"))
    tags = Elements(html)
    paths = [a["data-insert-path"] for _, a in tags.having("data-insert-path")]
    assert "order.customer.region.name" in paths
    assert all(t == "button" for t, _ in tags.having("data-insert-path"))
    assert tags.having("data-field-picker")[0][1]["data-target"] == "prop-expression"


def test_field_picker_escapes_and_says_when_empty(env: Environment) -> None:
    html = render(env, field_picker_context(EVIL, [], "prop-expression"))
    assert "No columns" in html
    assert "&lt;script&gt;" in html


def test_the_picker_script_is_a_static_file_with_no_framework() -> None:
    script = (TEMPLATES.parents[1] / "static" / "designer.js").read_text(encoding="utf-8")
    assert "data-insert-path" in script
    assert "data-field-filter" in script
    assert "import " not in script
