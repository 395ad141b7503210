"""A report built from a blank page without writing YAML: a table picked from the source's,
a detail band, a field picked from the table's, a title; saved as a version, then run to
a PDF with that field."""

from __future__ import annotations

import io
import re
import sqlite3

import httpx
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader

from e2e.conftest import LiveServer

PREVIEW_TIMEOUT_MS = 45_000  # a Typst compile on a loaded machine
RUN_TIMEOUT_MS = 60_000


def _apply(page: Page) -> int:
    """Press the property form's Apply: the status of the designer's answer."""
    with page.expect_response(lambda r: r.url.endswith("/design/properties")) as answer:
        page.locator("form.property-form").get_by_role("button", name="Apply").click()
    return answer.value.status


def _pick(page: Page, input_: Locator, opener: str, typed: str, choice: str) -> None:
    """Open the picker beside `input_` with its button `opener`, filter it, choose."""
    page.locator(".expression-input").filter(has=input_).get_by_role("button", name=opener).click()
    picker = page.locator("#field-picker [data-field-picker]")
    expect(picker.get_by_role("searchbox")).to_be_focused()  # in view, ready to type in
    expect(picker).to_be_in_viewport()
    page.keyboard.type(typed)
    picker.get_by_role("button", name=choice, exact=True).click()


def test_a_report_from_a_blank_page_is_designed_saved_and_run(
    page: Page, api: httpx.Client, live_server: LiveServer
) -> None:
    page.goto("/")
    expect(page.get_by_label("Start from")).to_have_value("")  # a blank page by default
    page.get_by_role("button", name="Create report").click()
    expect(page).to_have_url(re.compile(r"/reports/\d+/design$"))
    report = int(re.findall(r"\d+", page.url)[-1])

    # The report's own form: a title and the table its rows come from.
    expect(page.locator("#properties-title")).to_have_text("Report")
    page.locator("#prop-title").fill("Product names")
    table = page.locator("#prop-source-table")
    _pick(page, table, "Tables…", "prod", "products")
    expect(table).to_have_value("products")  # the pick replaced the value, not added to it
    assert _apply(page) == 200

    # A detail band, and a field in it whose expression comes from the field picker.
    detail = page.locator(".tree-band").filter(has_text="Detail")
    detail.get_by_role("button", name=re.compile(r"band")).click()
    add = page.locator("form.tree-add-element").filter(has=page.locator("#add-bands-detail"))
    add.get_by_role("button", name="+ element").click()
    expect(page.locator("#properties-title")).to_contain_text("bands.detail.elements[0]")
    expression = page.locator("#prop-expression")
    expression.select_text()  # the pick goes in place of the selection
    _pick(page, expression, "Fields…", "name", "name")
    expect(expression).to_have_value("name")
    assert _apply(page) == 200

    # The preview shows pages of it, and the draft is saved as the next version.
    expect(page.locator("#preview-pane img.preview-page").first).to_be_visible(
        timeout=PREVIEW_TIMEOUT_MS
    )
    expect(page.locator("#preview-pane .preview-error")).to_have_count(0)
    status = page.locator("#draft-status")
    status.get_by_role("button", name="Save version").click()
    expect(status).to_contain_text("Saved as version 2")
    saved = api.get(f"/api/reports/{report}").json()
    assert saved["title"] == "Product names"
    assert "table: products" in saved["definition"]

    # Run from its page: the PDF lists the products' names.
    page.goto(f"/reports/{report}")
    page.locator("#run-start").click()
    expect(page.locator("#run-state")).to_have_attribute(
        "data-status", "done", timeout=RUN_TIMEOUT_MS
    )
    href = page.locator("#run-download").get_attribute("href")
    assert href is not None
    pdf = PdfReader(io.BytesIO(api.get(href).content))
    text = " ".join(" ".join(p.extract_text().split()) for p in pdf.pages)
    assert pdf.metadata is not None and pdf.metadata.title == "Product names"
    with sqlite3.connect(live_server.data_dir / "demo.db") as demo:
        names = [row[0] for row in demo.execute("SELECT name FROM products ORDER BY id")]
    assert names
    assert all(name in text for name in names)  # every row, none cut
