"""Faults: a worker process killed mid-run, a server restarted with a run active, outputs
past retention, a client that disconnects from a real server mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from litestar.testing import TestClient

from engine.demo_data import generate_demo
from tests.web.runs.conftest import BASE_URL
from tests.web.runs.run_helpers import ALL_DATES, add_big_report, follow, report_id, start, wait_for
from web.app import create_app
from web.db import Database, Run
from web.db.models import utcnow
from web.run_manager import CRASHED
from web.settings import Settings

Client = TestClient  # type: ignore[type-arg]
POSTGRES_ADMIN_URL = os.environ.get(  # as tests/conftest.py's postgres_url fixture uses
    "QUIRE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def test_a_worker_killed_mid_run_fails_the_run_and_the_next_run_is_served(
    app_client: Client, big_database: str
) -> None:
    big = add_big_report(app_client, big_database)
    run_id = start(app_client, big, ALL_DATES)
    wait_for(app_client, run_id, lambda r: (r["progress"] or {}).get("rows_done", 0) > 0)
    manager = app_client.app.state.run_manager
    (worker,) = manager._workers
    os.kill(worker.process.pid, signal.SIGKILL)
    events = follow(app_client, run_id)
    assert events[-1]["type"] == "failed"
    assert events[-1]["error"]["message"].startswith(CRASHED)
    run = app_client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert "ended unexpectedly" in run["error"]["message"]
    assert app_client.get(f"/api/runs/{run_id}/output").status_code == 409

    after = start(app_client, report_id(app_client))
    assert follow(app_client, after)[-1]["type"] == "done"


def test_a_restart_with_an_active_run_marks_it_interrupted(
    run_settings: Settings, big_database: str
) -> None:
    with TestClient(create_app(run_settings), base_url=BASE_URL) as client:
        big = add_big_report(client, big_database)
        run_id = start(client, big, ALL_DATES)
        wait_for(client, run_id, lambda r: r["status"] == "running")
    # the server stopped with the run active; the next one finds it
    with TestClient(create_app(run_settings), base_url=BASE_URL) as client:
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "interrupted"
        assert "server stopped" in run["error"]["message"]
        assert [e["type"] for e in follow(client, run_id)] == ["interrupted"]
        assert not (Path(run_settings.data_dir) / "runs" / str(run_id)).exists()
        assert 'id="run-error"' in client.get(f"/runs/{run_id}").text


def test_runs_a_crashed_server_left_active_are_interrupted_on_start(
    run_settings: Settings,
) -> None:
    with TestClient(create_app(run_settings), base_url=BASE_URL) as client:
        report = report_id(client)
    database = Database(run_settings.app_database_url)
    with database.session() as session:  # what a killed server leaves behind
        for status in ("queued", "running", "paused", "done"):
            session.add(Run(report_id=report, status=status, parameters={}))
        session.commit()
    database.dispose()
    folder = Path(run_settings.data_dir) / "runs" / "2"
    folder.mkdir(parents=True)
    (folder / "half-written.pdf.tmp").write_bytes(b"%PDF")
    with TestClient(create_app(run_settings), base_url=BASE_URL) as client:
        statuses = [r["status"] for r in reversed(client.get("/api/runs").json())]
        assert statuses == ["interrupted", "interrupted", "interrupted", "done"]
        assert not folder.exists()  # nothing left half-written
        assert [e["type"] for e in follow(client, 2)] == ["interrupted"]


def test_retention_removes_old_runs_with_their_outputs(run_settings: Settings) -> None:
    settings = replace(run_settings, keep_runs=1, keep_days=1)
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        report = report_id(client)
        first = start(client, report)
        follow(client, first)
        folder = Path(settings.data_dir) / "runs" / str(first)
        assert folder.is_dir()
        second = start(client, report)
        follow(client, second)
        assert not folder.exists()
        assert client.get(f"/api/runs/{first}/output").status_code == 404
        assert client.get(f"/api/runs/{second}/output").status_code == 200

    database = Database(settings.app_database_url)  # a run past the age limit
    with database.session() as session:
        run = session.get(Run, second)
        assert run is not None
        run.created_at = utcnow() - timedelta(days=2)
        session.commit()
    database.dispose()
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.get(f"/api/runs/{second}").status_code == 404
        assert not (Path(settings.data_dir) / "runs" / str(second)).exists()


def test_a_removed_output_file_is_410(app_client: Client, run_settings: Settings) -> None:
    run_id = start(app_client, report_id(app_client), format="csv")
    follow(app_client, run_id)
    for file in (Path(run_settings.data_dir) / "runs" / str(run_id)).iterdir():
        file.unlink()
    answer = app_client.get(f"/api/runs/{run_id}/output")
    assert answer.status_code == 410
    assert "removed" in answer.json()["error"]


@pytest.fixture
def live_server(run_settings: Settings) -> Iterator[tuple[str, object]]:
    """The app under a real uvicorn in a thread of this process, on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(replace(run_settings, port=port))  # the allowed hosts name the port
    config = uvicorn.Config(app, port=port, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", app.state.run_manager
    server.should_exit = True
    thread.join(10)


def test_a_client_that_disconnects_mid_stream_costs_nothing(
    live_server: tuple[str, object], big_database: str
) -> None:
    base, manager = live_server
    with httpx.Client(base_url=base, timeout=60) as client:
        source = client.post("/api/sources", json={"name": "big", "url": big_database}).json()
        text = (
            Path(__file__)
            .resolve()
            .parents[3]
            .joinpath("examples/sales_by_region.yaml")
            .read_text()
        )
        report = client.post(
            "/api/reports", json={"definition": text, "source_id": source["id"]}
        ).json()
        run_id = client.post(
            "/api/runs", json={"report": report["id"], "params": ALL_DATES}
        ).json()["id"]
        with client.stream("GET", f"/api/runs/{run_id}/events") as response:
            lines = response.iter_lines()
            assert next(lines).startswith(("event:", "id:", "data:"))
            assert len(manager._streams) == 1  # type: ignore[attr-defined]
        deadline = time.monotonic() + 3
        while manager._streams and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        assert manager._streams == []  # type: ignore[attr-defined]

        async def watch() -> list[str]:
            kinds = []
            async with (
                httpx.AsyncClient(base_url=base, timeout=60) as http,
                http.stream("GET", f"/api/runs/{run_id}/events") as response,
            ):
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        kinds.append(line[6:].strip())
            return kinds

        kinds = asyncio.run(watch())  # a later client: current state, then to the end
        assert kinds[-1] == "done"
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "done"


def test_a_database_that_goes_away_mid_run_resumes_or_fails_and_the_page_says_which(
    app_client: Client, postgres_url: str
) -> None:
    generate_demo(postgres_url, orders=4_000)
    source = app_client.post("/api/sources", json={"name": "pg", "url": postgres_url})
    assert source.status_code == 201, source.text
    text = Path(__file__).resolve().parents[3].joinpath("examples/sales_by_region.yaml").read_text()
    body = {"definition": text, "source_id": source.json()["id"]}
    report = app_client.post("/api/reports", json=body).json()["id"]
    run_id = start(app_client, report, ALL_DATES)
    wait_for(app_client, run_id, lambda r: (r["progress"] or {}).get("rows_done", 0) > 0)
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # every connection of the run's database goes
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": sa.engine.make_url(postgres_url).database},
        )
    admin.dispose()
    end = follow(app_client, run_id)[-1]
    page = app_client.get(f"/runs/{run_id}").text
    if end["type"] == "done":
        retries = app_client.get(f"/api/runs/{run_id}").json()["manifest"]["load"]["retries"]
        assert (retries > 0) == ('id="run-resumed"' in page)
    else:
        assert end["type"] == "failed"
        assert end["error"]["kind"] in ("data_source", "timeout")
        assert 'id="run-error"' in page
        assert app_client.get(f"/api/runs/{run_id}/output").status_code == 409
