"""Runs in the browser's pages: the run form, its errors, pre-flight, the live panel's
stream, history, rerun, delete, downloads."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from litestar.testing import TestClient

from tests.web.runs.conftest import BASE_URL
from tests.web.runs.run_helpers import follow, report_id, sse_events, start
from web.app import create_app
from web.settings import Settings

Client = TestClient  # type: ignore[type-arg]


def _csrf(client: Client) -> dict[str, str]:
    client.get("/login")
    return {"x-csrftoken": client.cookies["csrftoken"]}


def test_the_report_page_has_a_run_form_from_the_typed_parameters(app_client: Client) -> None:
    html = app_client.get(f"/reports/{report_id(app_client)}").text
    assert 'id="run-form"' in html
    assert re.search(r'<input type="date" id="param-start" name="start" value="2025-10-01"', html)
    assert re.search(r'<input type="date" id="param-end" name="end" value="2026-01-01"', html)
    assert 'id="param-start-error"' in html
    assert '<option value="xlsx">XLSX</option>' in html
    assert 'id="run-start"' in html
    assert 'id="run-estimate"' in html


def test_a_bad_parameter_is_422_with_the_message_beside_its_input(app_client: Client) -> None:
    report = report_id(app_client)
    answer = app_client.post(
        f"/reports/{report}/runs",
        data={"start": "yesterday", "end": "2026-01-01", "format": "pdf"},
        headers=_csrf(app_client),
    )
    assert answer.status_code == 422
    error = re.search(r'<p id="param-start-error"[^>]*hx-swap-oob="true">([^<]+)</p>', answer.text)
    assert error is not None
    assert "date" in error.group(1)
    assert re.search(r'<p id="param-end-error"[^>]*hx-swap-oob="true"></p>', answer.text)
    assert app_client.get("/api/runs").json() == []


def test_a_run_from_the_form_streams_html_to_the_download_link(app_client: Client) -> None:
    report = report_id(app_client)
    answer = app_client.post(
        f"/reports/{report}/runs",
        data={"start": "2000-01-01", "end": "2100-01-01", "format": "pdf"},
        headers=_csrf(app_client),
    )
    assert answer.status_code == 200, answer.text
    run_id = int(re.search(r'id="run-(\d+)"', answer.text).group(1))  # type: ignore[union-attr]
    assert f'sse-connect="/runs/{run_id}/events"' in answer.text
    assert 'sse-close="end"' in answer.text
    assert 'id="run-pause"' in answer.text
    assert 'id="param-start-error" class="field-error" hx-swap-oob="true"></p>' in answer.text

    stream = app_client.get(f"/runs/{run_id}/events")
    events = sse_events(stream.text)
    names = [name for name, _ in events]
    assert names[-2:] == ["done", "end"]
    assert set(names[:-2]) == {"progress"}
    done = events[-2][1]
    assert f'href="/runs/{run_id}/output"' in done
    assert 'id="run-download"' in done
    assert 'value="100"' in done
    assert '<div id="run-controls" hx-swap-oob="true"></div>' in done
    assert any('id="run-progress"' in data for name, data in events if name == "progress")

    page = app_client.get(f"/runs/{run_id}").text
    assert 'id="run-download"' in page
    runs_page = app_client.get("/runs").text
    assert f'id="run-row-{run_id}" data-status="done"' in runs_page
    assert "start=2000-01-01" in runs_page
    history = app_client.get(f"/reports/{report}/runs").text
    assert f'id="run-row-{run_id}"' in history
    download = app_client.get(f"/runs/{run_id}/output")
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF")


def test_an_unknown_run_streams_one_failed_event_then_end(app_client: Client) -> None:
    events = sse_events(app_client.get("/runs/777/events").text)
    assert [name for name, _ in events] == ["failed", "end"]
    assert "there is no run 777" in events[0][1]
    assert app_client.get("/runs/777").status_code == 404


def test_pngs_download_as_a_zip(app_client: Client) -> None:
    run_id = start(app_client, report_id(app_client, "Product catalogue"), format="png")
    assert follow(app_client, run_id)[-1]["type"] == "done"
    answer = app_client.get(f"/runs/{run_id}/output")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert re.search(
        r'filename="product-catalogue-\d{4}-\d\d-\d\d-png\.zip"',
        answer.headers["content-disposition"],
    )
    assert answer.content.startswith(b"PK")


def test_rerun_uses_the_same_parameters_and_delete_removes_the_output(
    app_client: Client, run_settings: Settings
) -> None:
    first = start(app_client, report_id(app_client), {"start": "2025-11-01"}, format="csv")
    follow(app_client, first)
    answer = app_client.post(
        f"/runs/{first}/rerun", headers=_csrf(app_client), follow_redirects=False
    )
    assert answer.status_code == 303
    second = int(answer.headers["location"].rsplit("/", 1)[1])
    follow(app_client, second)
    again = app_client.get(f"/api/runs/{second}").json()
    assert again["params"] == {"start": "2025-11-01", "end": "2026-01-01"}  # the default, kept
    assert again["format"] == "csv"
    assert again["status"] == "done"

    folder = Path(run_settings.data_dir) / "runs" / str(first)
    assert folder.is_dir()
    deleted = app_client.post(f"/runs/{first}/delete", headers=_csrf(app_client))
    assert deleted.status_code == 200
    assert not folder.exists()
    assert app_client.get(f"/api/runs/{first}").status_code == 404
    assert app_client.get(f"/runs/{first}/output").status_code == 404


def test_estimate_and_the_confirmation_above_the_configured_size(
    run_settings: Settings,
) -> None:
    settings = replace(run_settings, confirm_rows=10)
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        report = report_id(client)
        form = {"start": "2000-01-01", "end": "2100-01-01", "format": "pdf"}
        estimate = client.post(f"/reports/{report}/estimate", data=form, headers=_csrf(client))
        assert estimate.status_code == 200
        rows = int(
            re.search(r'id="preflight-rows">([\d,]+)<', estimate.text).group(1).replace(",", "")
        )  # type: ignore[union-attr]
        assert rows > 10
        assert 'id="preflight-pages"' in estimate.text
        assert 'id="run-confirm"' not in estimate.text

        asked = client.post(f"/reports/{report}/runs", data=form, headers=_csrf(client))
        assert asked.status_code == 200
        assert 'id="run-confirm"' in asked.text
        assert "Run it anyway?" in asked.text
        assert asked.headers["HX-Retarget"] == "#preflight"  # replaces the estimate shown
        assert client.get("/api/runs").json() == []  # nothing started before the answer

        confirmed = client.post(
            f"/reports/{report}/runs?confirmed=1", data=form, headers=_csrf(client)
        )
        assert confirmed.status_code == 200
        assert "sse-connect" in confirmed.text
        assert '<div id="preflight" hx-swap-oob="true"></div>' in confirmed.text  # question gone
        assert len(client.get("/api/runs").json()) == 1


def test_the_form_needs_the_csrf_token(app_client: Client) -> None:
    report = report_id(app_client)
    answer = app_client.post(f"/reports/{report}/runs", data={"format": "pdf"})
    assert answer.status_code == 403


def test_a_run_of_a_report_without_parameters_clears_the_forms_messages(
    app_client: Client,
) -> None:
    text = (
        "title: Plain\nsource: {table: products}\n"
        "bands: {detail: {elements: [{type: field, expression: name}]}}\n"
    )
    source = app_client.get("/api/sources").json()[0]["id"]
    report = app_client.post("/api/reports", json={"definition": text, "source_id": source})
    assert report.status_code == 201, report.text
    answer = app_client.post(
        f"/reports/{report.json()['id']}/runs", data={"format": "pdf"}, headers=_csrf(app_client)
    )
    assert answer.status_code == 200, answer.text
    assert '<div id="preflight" hx-swap-oob="true"></div>' in answer.text
    assert '<p id="run-form-error" class="field-error" hx-swap-oob="true"></p>' in answer.text
    follow(app_client, int(re.search(r'id="run-(\d+)"', answer.text).group(1)))  # type: ignore[union-attr]
