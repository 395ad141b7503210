"""Runs through the web app: latency of a warm server, concurrent runs, many watchers.

    python -m bench.runs --json
    python -m bench.runs --orders 500 --concurrent 2 --watchers 10 --json   # CI, small

Starts `quire serve` on a free port with a fresh data dir (its demo source is the small
database, about 5,000 grouped rows of examples/sales_by_region.yaml), adds a second
source of `--orders` orders (about 100,000 rows at the default), and measures, over the
JSON API and its SSE stream:
- `small_run_ms`: POST /api/runs to the `done` event for the small report (median of a
  few, after one warm-up run), beside `small_run_engine_ms` (the run's own clock) and
  `baseline_cold_cli_ms` (the same report from a cold `quire render`);
- `first_event_ms`: POST to the first engine `progress` event at the client;
- `concurrent_runs` of the big report at once: how many ended `done` (`concurrent_ok`),
  the wall time, and the peak RSS of the server and all its children together;
- `watchers` SSE clients of one big run: how many got its terminal event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import print_figures

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sales_by_region.yaml"
SMALL_ORDERS = 1_150  # about 5,000 rows of the grouped example
ALL_DATES = {"start": "2000-01-01", "end": "2100-01-01"}
TRIES = 5


def run(orders: int, concurrent: int, watchers: int, workers: int | None) -> dict[str, Any]:
    from engine.demo_data import generate_demo

    with tempfile.TemporaryDirectory(prefix="quire-bench-runs-") as tmp:
        big = Path(tmp) / "big.db"
        generate_demo(f"sqlite:///{big}", orders=orders)
        port = _free_port()
        env = {**os.environ, "QUIRE_DEMO_ORDERS": str(SMALL_ORDERS)}
        if workers:
            env["QUIRE_RUN_WORKERS"] = str(workers)
        command = [sys.executable, "-m", "engine.cli", "serve", "--port", str(port)]
        command += ["--data-dir", str(Path(tmp) / "data")]
        log = (Path(tmp) / "server.log").open("w")
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, server)
            with httpx.Client(base_url=base, timeout=600) as client:
                small = _report_id(client, "Sales by region")
                big_report = _add_report(client, big)
                figures = asyncio.run(
                    _measure(base, client, small, big_report, concurrent, watchers, server.pid)
                )
            figures["baseline_cold_cli_ms"] = _cold_cli_ms(Path(tmp) / "data" / "demo.db", tmp)
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    return {"orders": orders, **figures}


async def _measure(
    base: str,
    client: httpx.Client,
    small: int,
    big: int,
    concurrent: int,
    watchers: int,
    server_pid: int,
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=600) as http:
        await _run_to_end(http, small)  # warm-up: the workers' first run
        small_ms, first_ms, engine_ms, rows = [], [], [], 0
        for _ in range(TRIES):
            outcome = await _run_to_end(http, small)
            small_ms.append(outcome["done_ms"])
            first_ms.append(outcome["first_event_ms"])
            engine_ms.append(1000 * outcome["elapsed_s"])
            rows = outcome["rows"]
        peak = _PeakRss(server_pid)
        peak.start()
        started = time.perf_counter()
        ends = await asyncio.gather(*(_run_to_end(http, big) for _ in range(concurrent)))
        concurrent_s = time.perf_counter() - started
        peak.stop()
        watched = await _watch_one_run(http, big, watchers)
    return {
        "small_run_rows": rows,
        "small_run_ms": round(statistics.median(small_ms)),
        "small_run_engine_ms": round(statistics.median(engine_ms)),
        "first_event_ms": round(statistics.median(first_ms)),
        "concurrent_runs": concurrent,
        "concurrent_rows": ends[0]["rows"] if ends else 0,
        "concurrent_ok": sum(1 for e in ends if e["type"] == "done"),
        "concurrent_s": round(concurrent_s, 2),
        "concurrent_peak_rss_mb": round(peak.peak_kb / 1024),
        "watchers": watchers,
        "watchers_done": watched,
    }


async def _run_to_end(http: httpx.AsyncClient, report: int) -> dict[str, Any]:
    """POST a run, follow its events to the end: the outcome and its timings."""
    started = time.perf_counter()
    answer = await http.post("/api/runs", json={"report": report, "params": ALL_DATES})
    answer.raise_for_status()
    first_ms = None
    async for event in _events(http, answer.json()["events_url"]):
        if event["type"] == "progress" and event.get("seq", 0) >= 1 and first_ms is None:
            first_ms = 1000 * (time.perf_counter() - started)
        if event["type"] in ("done", "failed", "cancelled", "interrupted"):
            if event["type"] != "done":
                print(f"run ended {event['type']}: {event.get('error')}", file=sys.stderr)
            done_ms = 1000 * (time.perf_counter() - started)
            return {**event, "done_ms": done_ms, "first_event_ms": first_ms or done_ms}
    raise RuntimeError("the stream ended without a terminal event")


async def _watch_one_run(http: httpx.AsyncClient, report: int, watchers: int) -> int:
    answer = await http.post("/api/runs", json={"report": report, "params": ALL_DATES})
    answer.raise_for_status()
    url = answer.json()["events_url"]

    async def watch() -> bool:
        async for event in _events(http, url):
            if event["type"] in ("done", "failed", "cancelled", "interrupted"):
                return bool(event["type"] == "done")
        return False

    return sum(await asyncio.gather(*(watch() for _ in range(watchers))))


async def _events(http: httpx.AsyncClient, url: str) -> Any:
    """The JSON events of an SSE stream."""
    async with http.stream("GET", url) as response:
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind:
                yield json.loads(line[5:])


class _PeakRss:
    """Samples the RSS of a process and all its descendants every 100 ms (from /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))


def _tree_rss_kb(root: int) -> int:
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def _cold_cli_ms(database: Path, tmp: str) -> int:
    """The same small run from a cold command line (imports included): the fixed costs a
    warm server removes."""
    command = [sys.executable, "-m", "engine.cli", "render", str(EXAMPLE), "--quiet"]
    command += ["--source", f"sqlite:///{database}", "-o", str(Path(tmp) / "cli.pdf")]
    command += [f"--param={name}={value}" for name, value in ALL_DATES.items()]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times))


def _report_id(client: httpx.Client, title: str) -> int:
    found = [r for r in client.get("/api/reports").json() if r["title"] == title]
    return int(found[0]["id"])


def _add_report(client: httpx.Client, database: Path) -> int:
    source = client.post("/api/sources", json={"name": "big", "url": f"sqlite:///{database}"})
    source.raise_for_status()
    definition = EXAMPLE.read_text(encoding="utf-8").replace(
        "title: Sales by region", "title: Sales by region (big)"
    )
    body = {"definition": definition, "source_id": source.json()["id"]}
    report = client.post("/api/reports", json=body)
    report.raise_for_status()
    return int(report.json()["id"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            httpx.get(base + "/api/reports", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the server did not come up in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=21_700, help="orders of the big source")
    parser.add_argument("--concurrent", type=int, default=20, help="big runs at once")
    parser.add_argument("--watchers", type=int, default=100, help="SSE clients of one run")
    parser.add_argument("--workers", type=int, help="the server's run workers (QUIRE_RUN_WORKERS)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = run(args.orders, args.concurrent, args.watchers, args.workers)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
