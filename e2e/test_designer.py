"""The designer: a field added through the band tree and the field picker changes the
preview's pages; a bad expression is answered with its error beside the field."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

PREVIEW_TIMEOUT_MS = 45_000  # a Typst compile on a loaded machine


def _new_report_in_designer(page: Page, example: str) -> None:
    """Create a report from an example in the gallery's New report form: it opens in the
    designer, with its first pages in the preview pane."""
    page.goto("/")
    page.get_by_label("Start from").select_option(label=f"Example: {example}")
    page.get_by_role("button", name="Create report").click()
    expect(page).to_have_url(re.compile(r"/reports/\d+/design$"))
    expect(page.get_by_role("heading", name="Design", level=1)).to_be_visible()
    expect(_first_page(page)).to_be_visible(timeout=PREVIEW_TIMEOUT_MS)


def _first_page(page: Page) -> Locator:
    return page.locator("#preview-pane img.preview-page").first


def _apply(page: Page) -> int:
    """Press the property form's Apply: the status of the designer's answer."""
    with page.expect_response(lambda r: r.url.endswith("/design/properties")) as answer:
        page.locator("form.property-form").get_by_role("button", name="Apply").click()
    return answer.value.status


def _tree_element(page: Page, summary: str) -> Locator:
    return (
        page.locator(".tree-element")
        .filter(has_text=summary)
        .get_by_role("button", name=summary, exact=True)
    )


def test_a_field_added_in_the_tree_and_picked_from_the_source_changes_the_preview(
    page: Page,
) -> None:
    _new_report_in_designer(page, "Product catalogue")
    before = _first_page(page).get_attribute("src")
    assert before and before.endswith(".svg")

    # The detail band's "+ element" adds a field (the default type), selected at once.
    add = page.locator("form.tree-add-element").filter(has=page.locator("#add-bands-detail"))
    expect(add.get_by_role("combobox")).to_have_value("field")
    add.get_by_role("button", name="+ element").click()
    heading = page.locator("#properties-title")
    expect(heading).to_contain_text("bands.detail.elements[4]")
    expect(_first_page(page)).not_to_have_attribute("src", before, timeout=PREVIEW_TIMEOUT_MS)
    added = _first_page(page).get_attribute("src")

    # Its expression, from the field picker: select the starting one, filter the source's
    # paths, pick one (it replaces the selection), apply.
    expression = page.locator("#prop-expression")
    expect(expression).not_to_have_value("")
    expression.select_text()
    page.locator(".expression-input").filter(has=expression).get_by_role(
        "button", name="Fields…"
    ).click()
    picker = page.locator("#field-picker [data-field-picker]")
    picker.get_by_role("searchbox").fill("category na")
    expect(picker.locator("li[data-path]:visible")).to_have_count(1)
    expect(picker.locator('li[data-path="sku"]')).to_be_hidden()
    picker.get_by_role("button", name="category.name", exact=True).click()
    expect(expression).to_have_value("category.name")
    assert _apply(page) == 200

    expect(_tree_element(page, "field · category.name")).to_be_visible()
    expect(page.locator("#err-prop-expression")).to_be_empty()
    expect(_first_page(page)).not_to_have_attribute("src", added, timeout=PREVIEW_TIMEOUT_MS)
    expect(page.locator("#draft-status")).to_contain_text("Unsaved changes")
    expect(page.locator("#preview-pane .preview-error")).to_have_count(0)


def test_a_bad_expression_shows_its_error_beside_the_field(page: Page) -> None:
    _new_report_in_designer(page, "Product catalogue")
    _tree_element(page, "field · list_price").click()
    expect(page.locator("#properties-title")).to_contain_text("bands.detail.elements[2]")
    expression, error = page.locator("#prop-expression"), page.locator("#err-prop-expression")
    expect(expression).to_have_value("list_price")
    expect(error).to_be_empty()

    status = page.locator("#draft-status")
    save = status.get_by_role("button", name="Save version")

    expression.fill("list_price *")
    assert _apply(page) == 422
    expect(error).to_contain_text(re.compile(r"\S"))
    # Beside that field only: every other field's error slot stays empty.
    expect(page.locator("form.property-form .field-error:not(:empty)")).to_have_count(1)
    expect(status).to_contain_text("not saved: 1 problem")
    expect(save).to_be_disabled()

    # Corrected, the message goes and the draft is valid again.
    expression.fill("list_price * 2")
    assert _apply(page) == 200
    expect(error).to_be_empty()
    expect(status).to_contain_text("Unsaved changes")
    expect(save).to_be_enabled()
