"""What several end-to-end tests do: find reports, set up and follow runs over the JSON API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TERMINAL = ("done", "failed", "cancelled", "interrupted")


def report_id(api: httpx.Client, title: str) -> int:
    """The id of the gallery's first report with this title (the examples are there)."""
    found = [r["id"] for r in api.get("/api/reports").json() if r["title"] == title]
    assert found, f"no report titled {title!r} in the gallery"
    return int(found[-1])


def add_example_report(api: httpx.Client, database: Path, example: str, title: str) -> int:
    """A source of the SQLite file `database` (named after it) and the example `example`
    (a file of examples/) on it, retitled `title`: the report's id."""
    url = f"sqlite:///{database}"
    source = api.post("/api/sources", json={"name": f"{title} ({database.name})", "url": url})
    assert source.status_code == 201, source.text
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    text = re.sub(r"^title: .*$", f"title: {title}", text, count=1, flags=re.MULTILINE)
    report = api.post("/api/reports", json={"definition": text, "source_id": source.json()["id"]})
    assert report.status_code == 201, report.text
    return int(report.json()["id"])


def start_run(api: httpx.Client, report: int, params: dict[str, Any], fmt: str = "pdf") -> int:
    answer = api.post("/api/runs", json={"report": report, "params": params, "format": fmt})
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def follow_run(api: httpx.Client, run_id: int) -> dict[str, Any]:
    """The run's JSON events read to its terminal one (the stream ends there): the last."""
    last: dict[str, Any] = {}
    with api.stream("GET", f"/api/runs/{run_id}/events", timeout=120) as answer:
        assert answer.status_code == 200, answer.read()
        for line in answer.iter_lines():
            if line.startswith("data:"):
                last = json.loads(line[5:])
    assert last.get("type") in TERMINAL, f"run {run_id}'s stream ended without its end: {last}"
    return last
