"""`quire serve` stopped with a stream open: the stream ends cleanly at once (the signal
hook), not cut by uvicorn's grace timeout, and the run it watched is recorded interrupted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.web.runs.run_helpers import ALL_DATES, EXAMPLE
from web.db import Database, Run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_ends_open_streams_cleanly(
    data_dir: Path, big_database: str, tmp_path: Path
) -> None:
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    env = {**os.environ, "QUIRE_RUN_WORKERS": "1", "QUIRE_SECRET": "test-secret"}
    command = [sys.executable, "-m", "engine.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts slowly
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                httpx.get(base + "/api/runs", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30) as client:
            source = client.post("/api/sources", json={"name": "big", "url": big_database})
            text = EXAMPLE.read_text(encoding="utf-8")
            body = {"definition": text, "source_id": source.json()["id"]}
            report = client.post("/api/reports", json=body).json()["id"]
            run = {"report": report, "params": ALL_DATES}
            running = client.post("/api/runs", json=run).json()["id"]
            queued = client.post("/api/runs", json=run).json()["id"]
            with client.stream("GET", f"/api/runs/{queued}/events") as response:
                lines = response.iter_lines()
                assert next(lines) == "id: 0"
                server.send_signal(signal.SIGTERM)
                sent = time.monotonic()
                rest = list(lines)  # ends without a protocol error: the stream was closed
                ended_s = time.monotonic() - sent
            assert ended_s < 2.5, rest
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    statuses = {}
    database = Database(f"sqlite:///{data_dir / 'quire.db'}")
    with database.session() as session:
        for run_id in (running, queued):
            found = session.get(Run, run_id)
            assert found is not None
            statuses[run_id] = found.status
    database.dispose()
    assert statuses == {running: "interrupted", queued: "interrupted"}
