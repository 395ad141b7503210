"""Rendering the grouped example end to end, with the database read alone as the baseline.

    python -m bench.render --rows 100000 --json

Builds a demo database with about N order lines, then, each in a fresh process so that
memory and Typst's memoization do not leak between measurements:
- baseline: the bare sqlite3 driver reading the report's SELECT (rows/s);
- load+fill: Quire's keyset loader and fill, events discarded;
- render: `quire render` of examples/sales_by_region.yaml to PDF (rows/s, pages, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sales_by_region.yaml"
ALL_ROWS = {"start": "2023-01-01"}  # the example's default shows one quarter


def _measure(kind: str, url: str, out: str) -> dict[str, Any]:
    """Runs inside the child process: one measurement, printed as JSON."""
    from sqlalchemy.dialects import sqlite

    from engine.document import load_definition
    from engine.fill import fill
    from engine.loader import Loader
    from engine.parameters import resolve_parameters
    from engine.render import check_report, connect, render_report

    definition = load_definition(EXAMPLE)
    engine = connect(url)
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    if kind == "raw":
        import sqlite3

        plan, params, _ = check_report(definition, engine, ALL_ROWS)
        compiled = plan.ordered.compile(dialect=sqlite.dialect())
        values = compiled.construct_params(resolve_parameters(definition, ALL_ROWS))
        positional = [values[name] for name in compiled.positiontup or []]
        positional = [str(v) if hasattr(v, "isoformat") else v for v in positional]
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        cursor = raw.execute(str(compiled), positional)
        rows = 0
        while batch := cursor.fetchmany(5000):
            rows += len(batch)
        figures["rows"] = rows
    elif kind == "fill":
        plan, params, _ = check_report(definition, engine, ALL_ROWS)
        events = 0
        for _ in fill(definition, plan, Loader(engine, plan, params).batches()):
            events += 1
        figures["events"] = events
    else:
        result = render_report(definition, engine, Path(out), given=ALL_ROWS)
        figures.update(
            rows=result.rows,
            pages=result.pages,
            timings=result.timings,
            strategy=result.load.strategy,
        )
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def _child(kind: str, url: str, out: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.render", "--child", kind, url, out]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run(rows: int) -> dict[str, Any]:
    from engine.demo_data import generate_demo

    with tempfile.TemporaryDirectory(prefix="quire-bench-") as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        stats = generate_demo(url, orders=max(1, rows // 5))
        raw = _child("raw", url, "")
        filled = _child("fill", url, "")
        rendered = _child("render", url, f"{tmp}/out.pdf")
    seconds = rendered["seconds"]
    return {
        "order_lines": stats.order_lines,
        "rows": rendered["rows"],
        "pages": rendered["pages"],
        "seconds": round(seconds, 3),
        "rows_per_s": round(rendered["rows"] / seconds),
        "pages_per_s": round(rendered["pages"] / seconds, 1),
        "typeset_s": round(rendered["timings"]["finish_s"], 3),
        "strategy": rendered["strategy"],
        "peak_rss_mb": round(rendered["peak_rss_mb"]),
        "raw_rows_per_s": round(raw["rows"] / raw["seconds"]),
        "load_fill_rows_per_s": round(rendered["rows"] / filled["seconds"]),
        "load_fill_peak_rss_mb": round(filled["peak_rss_mb"]),
        "render_vs_raw": round(raw["seconds"] / seconds, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="order lines (approximate)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(*args.child)))
        return
    figures = run(args.rows)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
