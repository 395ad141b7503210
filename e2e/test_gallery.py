"""The gallery as a new user first sees it: the examples as cards with thumbnails, and a
search box that filters them as one types."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

EXAMPLES = (
    "Invoices",
    "Product catalogue",
    "Sales by region",
    "Sales by region, with charts",
    "Sales dashboard",
)


def _card(page: Page, title: str) -> Locator:
    link = page.get_by_role("link", name=title, exact=True)
    return page.locator("#cards li.card").filter(has=link).first


def test_the_examples_are_cards_with_thumbnails(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    for title in EXAMPLES:
        card = _card(page, title)
        expect(card).to_be_visible()
        # The thumbnail is rendered in the background on the first visit: it must come
        # without a reload, as a real image (decoded, not a broken one).
        thumb = card.locator("img.thumb")
        expect(thumb).to_be_visible(timeout=60_000)
        expect(thumb).to_have_js_property("complete", True)
        assert thumb.evaluate("img => img.naturalWidth") > 0, f"{title}: broken thumbnail"
        expect(card.get_by_role("link", name="Export")).to_have_attribute("download", "")


def test_search_filters_the_cards_as_one_types(page: Page) -> None:
    page.goto("/")
    cards = page.locator("#cards li.card")
    expect(cards).not_to_have_count(0)
    search = page.get_by_role("searchbox", name="Search")

    search.press_sequentially("invo", delay=40)  # no Enter: the list follows the typing
    expect(cards).to_have_count(1)
    expect(cards.get_by_role("heading")).to_have_text("Invoices")
    expect(page).to_have_url(re.compile(r"[?&]q=invo"))  # in the address, to share or reload

    search.fill("sales")
    for title in ("Sales by region", "Sales by region, with charts", "Sales dashboard"):
        expect(_card(page, title)).to_be_visible()
    expect(_card(page, "Invoices")).to_have_count(0)
    expect(_card(page, "Product catalogue")).to_have_count(0)

    search.fill("no report is called this")
    expect(cards).to_have_count(0)
    expect(page.locator("#cards .empty")).to_contain_text("No report matches")

    search.fill("")
    for title in EXAMPLES:
        expect(_card(page, title)).to_be_visible()
