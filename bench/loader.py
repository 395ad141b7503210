"""Loader strategies against the bare database driver, on the same SELECT, in one run.

    python -m bench.loader --rows 1000000 --db sqlite --json
    python -m bench.loader --rows 1000000 --db postgresql --json

The query is a listing of order lines ordered by primary key (where keyset pagination is
an index range scan). `grouped_*` figures use the grouped example (ordered by expressions),
which is why `strategy: auto` reads it with a cursor (grouped keyset is only measured up to
200K rows). Offset pagination is stopped after a
time budget and extrapolated from a linear fit of its per-batch times (it says so).
Peak RSS of loader + fill is measured in fresh processes at 10K rows and at N rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import print_figures

ROOT = Path(__file__).resolve().parent.parent
LISTING = """
title: Order lines
source: {table: order_lines, filter: "id <= :max_id"}
parameters: [{name: max_id, type: integer, default: 1000000000}]
variables:
  - {name: amount, function: sum, expression: "quantity * unit_price"}
bands:
  detail:
    elements:
      - {type: field, expression: id}
      - {type: field, expression: order_id}
      - {type: field, expression: product_id}
      - {type: field, expression: quantity}
      - {type: field, expression: unit_price}
      - {type: field, expression: discount}
"""
OFFSET_BUDGET_S = 8.0
GROUPED_KEYSET_MAX_ROWS = 200_000  # above this, grouped keyset is skipped (null): too slow
POSTGRES_ADMIN = os.environ.get(
    "QUIRE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _plan(url: str, grouped: bool, max_id: int | None = None) -> tuple[Any, Any, Any, Any]:
    from engine.document import load_definition, parse_definition
    from engine.render import check_report, connect

    engine = connect(url)
    if grouped:
        definition = load_definition(ROOT / "examples" / "sales_by_region.yaml")
        given: dict[str, Any] = {"start": "2023-01-01"}
    else:
        definition = parse_definition(LISTING)
        given = {} if max_id is None else {"max_id": max_id}
    plan, params, _ = check_report(definition, engine, given)
    return engine, definition, plan, params


def _rate(rows: int, seconds: float) -> int:
    return round(rows / seconds) if seconds > 0 else 0


def raw_driver(url: str, grouped: bool = False) -> tuple[int, float]:
    """The bare DBAPI driver reading the same compiled SELECT, fetchmany in 5,000s."""
    engine, _, plan, params = _plan(url, grouped)
    compiled = plan.ordered.compile(dialect=engine.dialect)
    values = compiled.construct_params(params)
    started = time.perf_counter()
    rows = 0
    if engine.dialect.name == "sqlite":
        import sqlite3

        positional = [values[name] for name in compiled.positiontup or []]
        positional = [v.isoformat() if hasattr(v, "isoformat") else v for v in positional]
        lite = sqlite3.connect(engine.url.database or "")
        cursor = lite.execute(str(compiled), positional)
        while chunk := cursor.fetchmany(5000):
            rows += len(chunk)
        lite.close()
    else:
        import psycopg

        with (
            psycopg.connect(_psycopg_dsn(engine)) as pg,
            pg.cursor(name="bench") as named,  # server-side, like the loader
        ):
            named.execute(str(compiled), values)
            while rows_read := named.fetchmany(5000):
                rows += len(rows_read)
    engine.dispose()
    return rows, time.perf_counter() - started


def strategy_rate(url: str, strategy: str, grouped: bool = False) -> tuple[int, float]:
    from engine.loader import Loader

    engine, _, plan, params = _plan(url, grouped)
    started = time.perf_counter()
    rows = sum(len(b) for b in Loader(engine, plan, params, strategy=strategy).batches())
    engine.dispose()
    return rows, time.perf_counter() - started


def offset_estimate(url: str, total_rows: int) -> tuple[float, bool]:
    """Seconds offset pagination takes for all rows; extrapolated past the time budget."""
    from engine.loader import Loader

    engine, _, plan, params = _plan(url, grouped=False)
    loader = Loader(engine, plan, params, strategy="offset")
    times: list[float] = []
    rows = 0
    started = last = time.perf_counter()
    for chunk in loader.batches():
        now = time.perf_counter()
        times.append(now - last)
        last = now
        rows += len(chunk)
        if now - started > OFFSET_BUDGET_S:
            break
    engine.dispose()
    elapsed = last - started
    if rows >= total_rows or len(times) < 4:
        return elapsed, False
    # batch i costs about a + b*i (it skips i batches first): fit, then sum over all batches
    batch = loader.batch_size
    xs = list(range(len(times)))[2:]  # the first batches ramp up in size
    ys = times[2:]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / max(
        sum((x - mean_x) ** 2 for x in xs), 1e-9
    )
    intercept = mean_y - slope * mean_x
    batches = -(-total_rows // batch)
    predicted = sum(max(intercept + slope * i, 0.0) for i in range(batches))
    return max(predicted, elapsed), True


def fill_child(url: str, max_id: int | None, grouped: bool) -> dict[str, Any]:
    """In a fresh process: loader + fill to a null writer; rows/s and peak RSS."""
    from engine.fill import fill
    from engine.loader import Loader

    engine, definition, plan, params = _plan(url, grouped, max_id)
    started = time.perf_counter()
    rows = 0
    for event in fill(definition, plan, Loader(engine, plan, params).batches()):
        rows += event.band == "detail"
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(url: str, max_id: int | None, grouped: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.loader", "--child", url, str(max_id or 0)]
    if grouped:
        command.append("--grouped")
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _psycopg_dsn(engine: sa.Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def demo_database(db: str, rows: int) -> Iterator[str]:
    from engine.demo_data import generate_demo

    orders = max(1, rows // 5)
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="quire-bench-") as tmp:
            url = f"sqlite:///{tmp}/demo.db"
            generate_demo(url, orders=orders)
            yield url
        return
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"quire_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        generate_demo(url, orders=orders)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run(rows: int, db: str) -> dict[str, Any]:
    with demo_database(db, rows) as url:
        raw_rows, raw_s = raw_driver(url)
        keyset_rows, keyset_s = strategy_rate(url, "keyset")
        cursor_rows, cursor_s = strategy_rate(url, "cursor")
        offset_s, extrapolated = offset_estimate(url, raw_rows)
        grouped_raw_rows, grouped_raw_s = raw_driver(url, grouped=True)
        grouped_cursor_rows, grouped_cursor_s = strategy_rate(url, "cursor", grouped=True)
        grouped_keyset: tuple[int, float] | None = None
        if rows <= GROUPED_KEYSET_MAX_ROWS:  # O(n²/batch): each batch re-sorts the rest
            grouped_keyset = strategy_rate(url, "keyset", grouped=True)
        small = _child(url, 10_000)
        large = _child(url, None)
        grouped_fill = _child(url, None, grouped=True)
    assert keyset_rows == cursor_rows == raw_rows
    assert grouped_cursor_rows == grouped_raw_rows
    assert grouped_keyset is None or grouped_keyset[0] == grouped_raw_rows
    return {
        "db": db,
        "rows": raw_rows,
        "raw_rows_per_s": _rate(raw_rows, raw_s),
        "keyset_rows_per_s": _rate(keyset_rows, keyset_s),
        "cursor_rows_per_s": _rate(cursor_rows, cursor_s),
        "offset_rows_per_s": _rate(raw_rows, offset_s),
        "offset_extrapolated": extrapolated,
        "keyset_vs_raw": round(raw_s / keyset_s, 3),
        "keyset_vs_offset": round(offset_s / keyset_s, 1),
        "fill_rows_per_s": _rate(large["rows"], large["seconds"]),
        "peak_rss_mb_small": round(small["peak_rss_mb"], 1),
        "peak_rss_mb_large": round(large["peak_rss_mb"], 1),
        "rss_large_vs_small": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
        "grouped_rows": grouped_raw_rows,
        "grouped_raw_rows_per_s": _rate(grouped_raw_rows, grouped_raw_s),
        "grouped_cursor_rows_per_s": _rate(grouped_cursor_rows, grouped_cursor_s),
        "grouped_keyset_rows_per_s": _rate(*grouped_keyset) if grouped_keyset else None,
        "grouped_fill_rows_per_s": _rate(grouped_fill["rows"], grouped_fill["seconds"]),
        "grouped_fill_peak_rss_mb": round(grouped_fill["peak_rss_mb"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="order lines (approximate)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--grouped", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, max_id = args.child
        print(json.dumps(fill_child(url, int(max_id) or None, args.grouped)))
        return
    figures = run(args.rows, args.db)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
