"""The JSON API of runs, each handler with good and bad input, through a real worker process."""

from __future__ import annotations

import datetime
import io
import time
from pathlib import Path

from litestar.testing import TestClient
from pypdf import PdfReader

from engine.estimate import RATES
from tests.web.runs.run_helpers import ALL_DATES, add_big_report, follow, report_id, start, wait_for

Client = TestClient  # type: ignore[type-arg]


def test_a_run_streams_progress_then_done_and_its_output_downloads(app_client: Client) -> None:
    report = report_id(app_client)
    answer = app_client.post("/api/runs", json={"report": report, "params": ALL_DATES})
    assert answer.status_code == 202
    body = answer.json()
    assert set(body) == {"id", "status", "events_url", "output_url"}
    assert body["events_url"] == f"/api/runs/{body['id']}/events"

    events = follow(app_client, body["id"])
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done"
    assert kinds.count("done") == 1
    assert set(kinds[:-1]) == {"progress"}
    phases = {e["phase"] for e in events if e["type"] == "progress"}
    assert phases <= {"queued", "planning", "charts", "loading", "typesetting", "writing"}
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)  # coalesced, never reordered
    done = events[-1]
    assert done["rows"] > 100

    output = app_client.get(body["output_url"])
    assert output.status_code == 200
    assert output.headers["content-type"] == "application/pdf"
    today = datetime.date.today().isoformat()
    assert f'filename="sales-by-region-{today}.pdf"' in output.headers["content-disposition"]
    text = PdfReader(io.BytesIO(output.content)).pages[0].extract_text()
    assert "Sales by region" in text

    run = app_client.get(f"/api/runs/{body['id']}").json()
    assert run["status"] == "done"
    assert run["rows"] == done["rows"]
    assert run["pages"] == done["pages"] >= 1
    assert run["bytes"] == len(output.content)
    assert run["strategy"] == run["manifest"]["load"]["strategy"]
    assert run["params"] == ALL_DATES
    assert run["duration_s"] > 0


def test_the_manifest_records_what_makes_the_run_reproducible(app_client: Client) -> None:
    run_id = start(app_client, report_id(app_client), ALL_DATES)
    follow(app_client, run_id)
    run = app_client.get(f"/api/runs/{run_id}").json()
    manifest = run["manifest"]
    version = app_client.get(f"/api/reports/{run['report']}").json()["version"]
    assert manifest["definition"]["version"] == version == run["definition_version"]
    assert manifest["definition"]["sha256"] == run["definition_hash"]
    assert len(run["definition_hash"]) == 64
    assert manifest["parameters"] == ALL_DATES
    assert "SELECT" in manifest["sql"]
    assert "order_lines" in manifest["sql"]
    assert ":start" not in manifest["sql"]  # bound, never spliced: placeholders only
    assert manifest["load"]["strategy"] in ("keyset", "cursor", "offset", "full_read")
    assert isinstance(manifest["load"]["fallbacks"], list)
    assert manifest["rows_by_phase"]["loading"] == run["rows"]
    assert {"loading", "writing"} <= set(manifest["phases_s"])
    assert manifest["versions"]["quire"]
    assert manifest["versions"]["typst"]
    assert manifest["versions"]["database"].startswith("sqlite 3.")
    html_manifest = app_client.get(f"/runs/{run_id}/manifest.json").json()
    assert html_manifest == manifest


def test_a_run_finished_in_a_worker_teaches_the_servers_estimates(app_client: Client) -> None:
    """Runs execute in worker processes; the run form's time estimate is made here."""
    run_id = start(app_client, report_id(app_client), ALL_DATES)
    follow(app_client, run_id)
    run = app_client.get(f"/api/runs/{run_id}").json()
    assert RATES.measured
    rows, pages, seconds, size = RATES._runs[-1]
    assert (rows, pages, size) == (run["rows"], run["pages"], run["bytes"])
    assert 0 < seconds <= run["duration_s"]


def test_runs_are_listed_newest_first_and_by_report(app_client: Client) -> None:
    report = report_id(app_client)
    first = start(app_client, report)
    follow(app_client, first)
    second = start(app_client, report)
    follow(app_client, second)
    listed = app_client.get("/api/runs").json()
    assert [r["id"] for r in listed][:2] == [second, first]
    assert all(r["manifest"] is None for r in listed)
    other = report_id(app_client, "Product catalogue")
    assert app_client.get(f"/api/runs?report={other}").json() == []
    assert len(app_client.get(f"/api/runs?report={report}").json()) == 2
    assert app_client.get("/api/runs?report=9999").status_code == 404


def test_an_unknown_report_is_404(app_client: Client) -> None:
    answer = app_client.post("/api/runs", json={"report": 9999, "params": {}})
    assert answer.status_code == 404
    assert answer.json()["ok"] is False
    assert "9999" in answer.json()["error"]


def test_parameters_of_the_wrong_type_or_undeclared_are_422_at_their_name(
    app_client: Client,
) -> None:
    report = report_id(app_client)
    answer = app_client.post(
        "/api/runs", json={"report": report, "params": {"start": "not a date", "regoin": "x"}}
    )
    assert answer.status_code == 422
    errors = {e["path"]: e for e in answer.json()["errors"]}
    assert set(errors) == {"params.start", "params.regoin"}
    assert "not declared" in errors["params.regoin"]["message"]
    assert app_client.get("/api/runs").json() == []  # nothing recorded, nothing queued


def test_an_unknown_format_and_a_malformed_body_are_refused(app_client: Client) -> None:
    report = report_id(app_client)
    answer = app_client.post("/api/runs", json={"report": report, "format": "docx"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["path"] == "format"
    assert app_client.post("/api/runs", json={"params": {}}).status_code == 400
    assert app_client.post("/api/runs", json={"report": report, "params": [1]}).status_code == 400


def test_an_unknown_run_id(app_client: Client) -> None:
    assert app_client.get("/api/runs/4242").status_code == 404
    assert app_client.get("/api/runs/4242/output").status_code == 404
    for action in ("pause", "resume", "cancel"):
        answer = app_client.post(f"/api/runs/4242/{action}")
        assert answer.status_code == 404, action
    assert app_client.delete("/api/runs/4242").status_code == 404
    # The stream answers with one terminal event, never an error an EventSource retries.
    events = follow(app_client, 4242)
    assert len(events) == 1
    assert events[0]["type"] == "failed"
    assert events[0]["error"]["kind"] == "not_found"


def test_control_of_a_finished_run_is_409(app_client: Client) -> None:
    run_id = start(app_client, report_id(app_client))
    follow(app_client, run_id)
    for action in ("pause", "resume", "cancel"):
        answer = app_client.post(f"/api/runs/{run_id}/{action}")
        assert answer.status_code == 409, action
        assert "already finished (done)" in answer.json()["error"]
    # A finished run's stream is its terminal event at once.
    assert [e["type"] for e in follow(app_client, run_id)] == ["done"]


def test_a_queued_run_shows_its_position_has_no_output_and_cancels_at_once(
    app_client: Client, big_database: str
) -> None:

    big = add_big_report(app_client, big_database)
    running = start(app_client, big, ALL_DATES)
    queued = start(app_client, big, ALL_DATES)
    run = app_client.get(f"/api/runs/{queued}").json()
    assert run["status"] == "queued"
    assert run["position"] == 1
    answer = app_client.get(f"/api/runs/{queued}/output")
    assert answer.status_code == 409
    assert "not done" in answer.json()["error"]
    assert app_client.post(f"/api/runs/{queued}/pause").status_code == 409
    assert app_client.delete(f"/api/runs/{queued}").status_code == 409
    assert app_client.post(f"/api/runs/{queued}/cancel").status_code == 202
    assert [e["type"] for e in follow(app_client, queued)] == ["cancelled"]
    assert app_client.post(f"/api/runs/{running}/cancel").status_code == 202
    assert follow(app_client, running)[-1]["type"] == "cancelled"


def test_pause_resume_and_cancel_a_running_run(
    app_client: Client, big_database: str, run_settings: object
) -> None:

    big = add_big_report(app_client, big_database)
    run_id = start(app_client, big, ALL_DATES)
    wait_for(app_client, run_id, lambda r: (r["progress"] or {}).get("rows_done", 0) > 0)
    assert app_client.post(f"/api/runs/{run_id}/resume").status_code == 409  # not paused
    assert app_client.post(f"/api/runs/{run_id}/pause").status_code == 202
    paused = wait_for(app_client, run_id, lambda r: r["status"] == "paused")
    assert paused["progress"]["status"] == "paused"
    time.sleep(0.3)  # batches already read may still be written: within one batch
    rows = app_client.get(f"/api/runs/{run_id}").json()["progress"]["rows_done"]
    time.sleep(0.5)
    still = app_client.get(f"/api/runs/{run_id}").json()
    assert still["status"] == "paused"
    assert still["progress"]["rows_done"] == rows  # held within one batch
    assert app_client.post(f"/api/runs/{run_id}/resume").status_code == 202
    wait_for(app_client, run_id, lambda r: r["status"] == "running")
    assert app_client.post(f"/api/runs/{run_id}/cancel").status_code == 202
    events = follow(app_client, run_id)
    assert events[-1]["type"] == "cancelled"
    run = app_client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "cancelled"
    assert app_client.get(f"/api/runs/{run_id}/output").status_code == 409
    data_dir = Path(run_settings.data_dir)  # type: ignore[attr-defined]
    assert not (data_dir / "runs" / str(run_id)).exists()  # a cancelled run leaves nothing


def test_the_openapi_document_lists_the_runs_api(app_client: Client) -> None:
    paths = app_client.get("/api/schema/openapi.json").json()["paths"]
    for path in (
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/events",
        "/api/runs/{run_id}/pause",
        "/api/runs/{run_id}/resume",
        "/api/runs/{run_id}/cancel",
        "/api/runs/{run_id}/output",
    ):
        assert path in paths, path
    assert "post" in paths["/api/runs"]
    assert "get" in paths["/api/runs"]


def test_text_outputs_name_their_charset_once(app_client: Client) -> None:
    report = report_id(app_client)
    for fmt, media in (("csv", "text/csv"), ("html", "text/html")):
        run_id = start(app_client, report, ALL_DATES, format=fmt)
        assert follow(app_client, run_id)[-1]["type"] == "done"
        output = app_client.get(f"/api/runs/{run_id}/output")
        assert output.headers["content-type"] == f"{media}; charset=utf-8"


def test_a_run_records_every_parameter_it_used_defaults_included(app_client: Client) -> None:
    """What the run used, shown in its history and manifest, and what a rerun uses even if
    the report's defaults change."""
    run_id = start(app_client, report_id(app_client), {"start": "2025-11-01"})
    follow(app_client, run_id)
    run = app_client.get(f"/api/runs/{run_id}").json()
    assert run["params"] == {"start": "2025-11-01", "end": "2026-01-01"}  # end: its default
    assert run["manifest"]["parameters"] == run["params"]
