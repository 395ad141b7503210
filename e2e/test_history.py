"""The history page /runs lists every run with the state it ended in."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from e2e.conftest import LiveServer
from e2e.helpers import add_example_report, follow_run, report_id, start_run


def _report_on_a_lost_database(api: httpx.Client, server: LiveServer, tmp_path: Path) -> int:
    """The invoices on a copy of the demo database, which is then emptied: runs fail."""
    copy = tmp_path / "lost.db"
    shutil.copyfile(server.data_dir / "demo.db", copy)
    report = add_example_report(api, copy, "invoices.yaml", "Orders of a lost database")
    copy.write_bytes(b"")  # its tables are gone
    return report


def test_the_history_lists_each_run_with_its_state(
    page: Page, api: httpx.Client, big_report: int, live_server: LiveServer, tmp_path: Path
) -> None:
    done = start_run(api, report_id(api, "Invoices"), {"from_order": 1001, "to_order": 1002})
    cancelled = start_run(api, big_report, {"start": "2000-01-01", "end": "2100-01-01"})
    assert api.post(f"/api/runs/{cancelled}/cancel").status_code == 202
    failed = start_run(api, _report_on_a_lost_database(api, live_server, tmp_path), {})
    assert follow_run(api, done)["type"] == "done"
    assert follow_run(api, cancelled)["type"] == "cancelled"
    assert follow_run(api, failed)["type"] == "failed"

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    expect(page).to_have_url("/runs")
    table = page.locator("table#runs")
    for run, status in ((done, "done"), (cancelled, "cancelled"), (failed, "failed")):
        row = table.locator(f"#run-row-{run}")
        expect(row).to_have_attribute("data-status", status)
        expect(row.locator(".run-status")).to_have_text(status)
        expect(row.get_by_role("link", name=str(run), exact=True)).to_have_attribute(
            "href", f"/runs/{run}"
        )
    expect(table.locator(f"#run-row-{done} a.run-download")).to_be_visible()
    expect(table.locator(f"#run-row-{done} td.run-params")).to_contain_text("from_order=1001")
    for run in (cancelled, failed):
        expect(table.locator(f"#run-row-{run} a.run-download")).to_have_count(0)
    expect(table.locator(f"#run-row-{failed} .run-error")).not_to_be_empty()
    # Newest first: the failed run was started last.
    ids = [
        int(i.removeprefix("run-row-"))
        for i in table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.id)")
    ]
    assert ids.index(failed) < ids.index(cancelled) < ids.index(done)
