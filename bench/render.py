"""Typesetting the grouped example at scale: segmented, against one document, in one run.

    python -m bench.render --rows 100000 --json

Builds a demo database with about N order lines and renders examples/sales_by_region.yaml
over all of them to PDF, each measurement in a fresh process (so memory and Typst's
memoization do not leak between them):
- segmented: what `quire render` does (bounded segments typeset in parallel, joined);
  first_batch_ms is how long the first batch took from its first row to the writer;
  peak_rss_mb is the main process's peak, worker_peak_rss_mb the largest Typst process's,
  all_peak_rss_mb the peak of all of them together (sampled every 100 ms), and
  all_peak_pss_mb the same with shared pages counted once (PSS);
- baseline: the same report typeset as one document; skipped above BASELINE_MAX_ROWS
  (it needs about 2.5 GB per 100K rows), and then reported as null.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import print_figures
from engine.memory import resident_bytes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sales_by_region.yaml"
ALL_ROWS = {"start": "2023-01-01"}  # the example's default shows one quarter
BASELINE_MAX_ROWS = 200_000


class _TreeMemory:
    """Samples the memory of a process and all its descendants (the Typst workers and
    the children they fork) together, every 100 ms: the peak the machine sees, not a sum
    of separate peaks. It runs in the parent of the measured process, not in it: there
    its thread would take the GIL from the threads being measured. RSS counts a page
    shared by several processes (the interpreter, typst's library, what a forked child
    shares with its worker) once per process; PSS divides it among them, so the sum of
    PSS is what the processes take together (read at each new peak of RSS)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_rss_mb = 0.0
        self.peak_pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        return self.peak_rss_mb, self.peak_pss_mb

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            pids = _tree(self.root)
            rss = sum(resident_bytes(pid) or 0 for pid in pids) / 2**20
            if rss > self.peak_rss_mb:  # PSS only then: reading it walks every page table
                self.peak_rss_mb = rss  # (at every sample, 0.6 s of CPU in a 100K run)
                self.peak_pss_mb = max(self.peak_pss_mb, sum(map(_pss_kb, pids)) / 1024)


def _tree(root: int) -> list[int]:
    """`root` and every process descended from it."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:  # children are listed per thread (workers are started by several threads)
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def _pss_kb(pid: int) -> int:
    """PSS of a process in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _measure(mode: str, url: str, out: str) -> dict[str, Any]:
    """In a fresh process: render once, report rows, pages, time and peak memory."""
    from engine.document import load_definition
    from engine.pipeline import run_pipeline
    from engine.render import check_report, connect
    from engine.sinks.typst_sink import TypstSink
    from engine.typst_worker import run_pool

    definition = load_definition(EXAMPLE)
    engine = connect(url)
    started = time.perf_counter()
    plan, params, _ = check_report(definition, engine, ALL_ROWS)
    options: dict[str, Any] = {"segment_records": None} if mode == "baseline" else {}
    sink = TypstSink(definition, plan, Path(out), "pdf", **options)
    result = run_pipeline(definition, engine, plan, params, [sink])
    seconds = time.perf_counter() - started
    run_pool().close()  # the Typst processes end, so their peak counts in RUSAGE_CHILDREN
    return {
        "rows": result.rows,
        "pages": result.pages,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "segments": sink.segments,
        "repairs": sink.repairs,
        "strategy": result.load.strategy,
        "first_batch_ms": 1000 * (result.first_batch_latency_s or 0.0),
    }


def _child(mode: str, url: str, out: str) -> dict[str, Any]:
    """`_measure` in a fresh process, its memory and its workers' sampled from here."""
    command = [sys.executable, "-m", "bench.render", "--child", mode, url, out]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    ) as child:
        memory = _TreeMemory(child.pid)
        stdout, stderr = child.communicate()
        peaks = memory.stop()
    if child.returncode != 0:
        raise RuntimeError(f"the {mode} measurement failed: {stderr.strip()}")
    result: dict[str, Any] = json.loads(stdout)
    result.update(zip(("all_peak_rss_mb", "all_peak_pss_mb"), peaks, strict=True))
    return result


def run(rows: int) -> dict[str, Any]:
    from engine.demo_data import generate_demo

    with tempfile.TemporaryDirectory(prefix="quire-bench-") as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        stats = generate_demo(url, orders=max(1, rows // 5))
        # The new database on disk before anything is timed: otherwise the kernel writes
        # it back during the first measurement only (measured: 0.1 s of a 6.4 s run).
        os.sync()
        segmented = _child("segmented", url, f"{tmp}/segmented.pdf")
        baseline = None
        if rows <= BASELINE_MAX_ROWS:
            baseline = _child("baseline", url, f"{tmp}/baseline.pdf")
    figures = {
        "order_lines": stats.order_lines,
        "rows": segmented["rows"],
        "pages": segmented["pages"],
        "seconds": round(segmented["seconds"], 3),
        "rows_per_s": round(segmented["rows"] / segmented["seconds"]),
        "pages_per_s": round(segmented["pages"] / segmented["seconds"], 1),
        "peak_rss_mb": round(segmented["peak_rss_mb"]),
        "worker_peak_rss_mb": round(segmented["worker_peak_rss_mb"]),
        "all_peak_rss_mb": round(segmented["all_peak_rss_mb"]),
        "all_peak_pss_mb": round(segmented["all_peak_pss_mb"]),
        "segments": segmented["segments"],
        "repairs": segmented["repairs"],
        "strategy": segmented["strategy"],
        "first_batch_ms": round(segmented["first_batch_ms"], 1),
        "baseline_seconds": None,
        "baseline_peak_rss_mb": None,
        "speedup_vs_baseline": None,
    }
    if baseline is not None:
        assert baseline["pages"] == segmented["pages"], "segmented and whole page counts differ"
        figures.update(
            baseline_seconds=round(baseline["seconds"], 3),
            baseline_peak_rss_mb=round(baseline["all_peak_rss_mb"]),
            speedup_vs_baseline=round(baseline["seconds"] / segmented["seconds"], 2),
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="order lines (approximate)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(*args.child)))
        return
    figures = run(args.rows)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
