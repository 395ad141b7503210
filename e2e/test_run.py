"""Running a report from its page: the run form with its parameters, the estimate, the
live progress to the end, the PDF downloaded; a large run paused, resumed and cancelled."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader

from e2e.conftest import BIG_TITLE, RUN_TIMEOUT_MS, LiveServer


def _open_report(page: Page, title: str) -> None:
    page.goto("/")
    page.locator("#cards").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.locator("#run-form")).to_be_visible()


def _standing_still(page: Page, rows: Locator, within_s: float = 20) -> str:
    """The row count once it has not moved for 1.5 s: what a paused run shows. The engine
    stops at its next batch, which a loaded machine may take a while to reach; only time
    can show that something does not happen, so this one check waits for a time."""
    held, deadline = rows.inner_text(), time.monotonic() + within_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(1_500)
        now = rows.inner_text()
        if now == held:
            return held
        held = now
    raise AssertionError(f"the paused run's rows kept moving for {within_s:.0f} s: {held}")


def test_a_run_with_parameters_reaches_done_and_its_pdf_has_the_pages_asked_for(
    page: Page, tmp_path: Path
) -> None:
    _open_report(page, "Invoices")
    page.locator("#param-from_order").fill("1001")
    page.locator("#param-to_order").fill("1003")
    page.locator("#run-format").select_option("pdf")

    page.locator("#run-estimate").click()
    expect(page.locator("#preflight-pages")).to_have_text("3")  # one invoice a page

    page.locator("#run-start").click()
    state = page.locator("#run-panel #run-state")
    expect(state).to_have_attribute("data-status", "done", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("progress#run-progress")).to_have_attribute("value", "100")
    expect(page.locator("#run-status")).to_have_text("done")
    expect(page.locator("#run-pages")).to_have_text("3 pages")
    expect(page.locator("#run-controls button")).to_have_count(0)  # nothing left to control
    for name in ("from_order", "to_order"):
        expect(page.locator(f"#param-{name}-error")).to_be_empty()

    with page.expect_download() as download:
        page.locator("#run-download").click()
    assert download.value.suggested_filename.endswith(".pdf")
    pdf = tmp_path / "invoices.pdf"
    download.value.save_as(pdf)
    reader = PdfReader(pdf)
    assert len(reader.pages) == 3
    numbers = [re.findall(r"INV-\d+", p.extract_text()) for p in reader.pages]
    assert [set(n) for n in numbers] == [{"INV-1001"}, {"INV-1002"}, {"INV-1003"}]


def test_a_large_run_asks_first_then_pauses_resumes_and_cancels(
    page: Page, big_report: int, live_server: LiveServer
) -> None:
    _open_report(page, BIG_TITLE)
    page.locator("#param-start").fill("2000-01-01")
    page.locator("#param-end").fill("2100-01-01")
    page.locator("#run-estimate").click()
    expect(page.locator("#preflight-rows")).to_have_count(1)
    page.locator("#run-start").click()

    # Above the confirmation size the form asks first, in place of the estimate (not twice).
    expect(page.locator("#preflight #preflight-confirm")).to_contain_text("This run is large")
    expect(page.locator("#preflight-rows")).to_have_count(1)
    expect(page.locator("#run-state")).to_have_count(0)  # nothing started
    page.locator("#run-confirm").click()
    expect(page.locator("#preflight-confirm")).to_have_count(0)  # answered: the question goes

    state, rows = page.locator("#run-state"), page.locator("#run-rows")
    expect(state).to_have_attribute("data-status", "running", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#run-phase")).to_have_text("loading", timeout=RUN_TIMEOUT_MS)
    run_id = int(page.locator("#run-link").inner_text())

    page.locator("#run-pause").click()
    expect(state).to_have_attribute("data-status", "paused")
    expect(page.locator("#run-status")).to_have_text("paused")
    held = _standing_still(page, rows)
    expect(state).to_have_attribute("data-status", "paused")  # not done meanwhile

    page.locator("#run-resume").click()
    expect(state).to_have_attribute("data-status", "running")
    expect(rows).not_to_have_text(held)  # it goes on from where it stood

    page.locator("#run-cancel").click()
    expect(state).to_have_attribute("data-status", "cancelled", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#run-cancelled")).to_have_text("Cancelled.")
    expect(page.locator("#run-download")).to_have_count(0)
    expect(page.locator("#run-controls button")).to_have_count(0)
    assert not any((live_server.data_dir / "runs" / str(run_id)).glob("*.pdf"))
