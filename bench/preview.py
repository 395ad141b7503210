"""Designer previews: a warm Typst process against a fresh one, in one run.

    python -m bench.preview --rows 100000 --json

Builds a demo database with about N order lines and previews examples/sales_by_region.yaml
(its first PREVIEW_PAGES pages) the way a designer would, with the source's schema
reflected once as the API keeps it: once cold, then again unchanged, then with one label
edited, each in the same warm process; the baseline is the same preview in a fresh process
every time. Each figure is the best of a few tries.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import print_figures

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sales_by_region.yaml"
TRIES = 3


def run(rows: int) -> dict[str, Any]:
    from engine.demo_data import generate_demo
    from engine.document import load_definition, parse_definition
    from engine.preview import Previewer
    from engine.render import connect
    from engine.schema import reflect_schema

    definition = load_definition(EXAMPLE)
    text = EXAMPLE.read_text(encoding="utf-8")
    edited = parse_definition(text.replace('text: "Product"', 'text: "Product name"'))
    with tempfile.TemporaryDirectory(prefix="quire-bench-") as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        stats = generate_demo(url, orders=max(1, rows // 5))
        engine = connect(url)
        schema = reflect_schema(engine)

        def timed(previewer: Previewer, shown: Any) -> float:
            started = time.perf_counter()
            previewer.render(shown, engine, schema=schema)
            return 1000 * (time.perf_counter() - started)

        fresh = []
        for _ in range(TRIES):
            with Previewer() as cold:
                fresh.append(timed(cold, definition))
        with Previewer() as warm:
            first = timed(warm, definition)
            again = min(timed(warm, definition) for _ in range(TRIES))
            changed = min(timed(warm, d) for d in [edited, definition, edited][:TRIES])
            preview = warm.render(definition, engine, schema=schema)
    return {
        "order_lines": stats.order_lines,
        "preview_rows": preview.rows,
        "total_rows": preview.total_rows,
        "complete": preview.complete,
        "pages": len(preview.pages),
        "svg_kb": round(sum(len(page) for page in preview.pages) / 1024),
        "thumbnail_kb": round(len(preview.thumbnail) / 1024, 1),
        "first_ms": round(first),
        "warm_ms": round(again),
        "edited_ms": round(changed),
        "baseline_fresh_process_ms": round(min(fresh)),
        "speedup_warm_vs_fresh": round(min(fresh) / again, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="order lines (approximate)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    print_figures(run(args.rows), args.json)


if __name__ == "__main__":
    main()
