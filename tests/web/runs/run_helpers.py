"""Helpers that follow a run through the JSON API (used by the runs tests)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

ALL_DATES = {"start": "2000-01-01", "end": "2100-01-01"}
TERMINAL = ("done", "failed", "cancelled", "interrupted")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sales_by_region.yaml"


def report_id(client: TestClient, title: str = "Sales by region") -> int:  # type: ignore[type-arg]
    found = [r for r in client.get("/api/reports").json() if r["title"] == title]
    return int(found[0]["id"])


def add_big_report(client: TestClient, url: str) -> int:  # type: ignore[type-arg]
    source = client.post("/api/sources", json={"name": "big", "url": url})
    assert source.status_code == 201, source.text
    text = EXAMPLE.read_text(encoding="utf-8").replace("title: Sales by region", "title: Big")
    report = client.post(
        "/api/reports", json={"definition": text, "source_id": source.json()["id"]}
    )
    assert report.status_code == 201, report.text
    return int(report.json()["id"])


def start(
    client: TestClient, report: int, params: dict[str, Any] | None = None, **body: Any
) -> int:  # type: ignore[type-arg]
    answer = client.post("/api/runs", json={"report": report, "params": params or {}, **body})
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs of an SSE body; comments are left out."""
    found, kind, data = [], None, []
    for line in text.splitlines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and kind is not None:
            found.append((kind, "\n".join(data)))
            kind, data = None, []
    if kind is not None:
        found.append((kind, "\n".join(data)))
    return found


def follow(client: TestClient, run_id: int) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    """The run's JSON events read to the end of its stream (which ends on its terminal event)."""
    answer = client.get(f"/api/runs/{run_id}/events")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    return [json.loads(data) for _, data in sse_events(answer.text)]


def wait_for(client: TestClient, run_id: int, check: Any, timeout: float = 60) -> dict[str, Any]:  # type: ignore[type-arg]
    """Poll GET /api/runs/{id} until `check(run)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}").json()
        if check(run):
            return run  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never got there: {run}")
