"""The `quire` command line: render, check, schema, demo-data, demo.

`quire render` draws a progress bar on stderr when it is a terminal (not with `--quiet`).

Every failure prints one line per problem, naming what and where, and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from engine.document import load_definition, read_definition_text, report_schema
from engine.errors import Issue, QuireError
from engine.render import FORMATS, PAGED

__all__ = ("ProgressBar", "format_progress", "main")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_REPORT = EXAMPLES / "sales_by_region.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except QuireError as error:
        for issue in error.issues:
            print(f"error: {_with_option(issue)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug or a database error no stage named: one line, no trace
        lines = str(getattr(error, "orig", None) or error).strip().splitlines()
        reason = f": {lines[0]}" if lines else ""
        print(f"error: unexpected {type(error).__name__}{reason}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quire", description="Paginated reports from SQL data.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    render = commands.add_parser(
        "render", help="render a report to PDF, PNG or SVG pages, HTML, JSON, CSV or XLSX"
    )
    render.add_argument("definition", type=Path, help="report definition (YAML or JSON)")
    _add_source(render, required=True)
    render.add_argument("-o", "--output", type=Path, help="output file, or folder for PNG/SVG")
    render.add_argument("--format", choices=FORMATS, default="pdf")
    render.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    render.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS", help="stop the run after this long"
    )
    render.add_argument(
        "--memory-limit", type=_bytes, metavar="SIZE",
        help="stop the run above this much memory, e.g. 2GB or 512MB",
    )  # fmt: skip
    render.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar (none when not a terminal)"
    )
    render.set_defaults(run=_render)

    check = commands.add_parser("check", help="validate a definition, print every problem")
    check.add_argument("definition", type=Path)
    _add_source(check, required=False)
    check.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    check.set_defaults(run=_check)

    schema = commands.add_parser("schema", help="print the JSON Schema of definitions")
    schema.set_defaults(run=_schema)

    demo_data = commands.add_parser("demo-data", help="create the demo sales database")
    demo_data.add_argument("--url", default="sqlite:///demo.db", help="database URL")
    demo_data.add_argument("--orders", type=int, default=20_000, help="number of orders")
    demo_data.add_argument("--seed", type=int, default=42)
    demo_data.set_defaults(run=_demo_data)

    demo = commands.add_parser("demo", help="render the demo report on the demo database")
    demo.add_argument("--db", type=Path, default=Path("demo.db"))
    demo.add_argument("-o", "--output", type=Path, default=Path("out/sales_by_region.pdf"))
    demo.set_defaults(run=_demo)
    _add_plugin_commands(commands)
    return parser


def _add_source(command: argparse.ArgumentParser, *, required: bool) -> None:
    """--source URL, or where to read it: a URL on the command line is visible to every
    user of the machine (`ps`), an environment variable or a file is not."""
    source = command.add_mutually_exclusive_group(required=required)
    source.add_argument("--source", help="database URL, e.g. sqlite:///demo.db")
    source.add_argument(
        "--source-env", metavar="NAME", help="read the database URL from this environment variable"
    )
    source.add_argument(
        "--source-file", type=Path, metavar="PATH", help="read the database URL from this file"
    )


def _source(args: argparse.Namespace) -> str | None:
    """The database URL given by --source, --source-env or --source-file (None: none)."""
    if args.source_env is not None:
        url = os.environ.get(args.source_env, "").strip()
        if not url:
            message = f"the environment variable {args.source_env} is not set"
            raise QuireError(message, "--source-env")
        return url
    if args.source_file is not None:
        try:
            lines = args.source_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise QuireError(f"cannot read {args.source_file}: {reason}", "--source-file") from None
        url = next((line.strip() for line in lines if line.strip()), "")
        if not url:
            raise QuireError(f"{args.source_file} holds no database URL", "--source-file")
        return url
    source: str | None = args.source
    return source


def _with_option(issue: Issue) -> Issue:
    """A missing run parameter, with how to give it on this command line."""
    name = issue.path.removeprefix("params.")
    if name != issue.path and issue.message == "required" and not issue.hint:
        return replace(issue, hint=f"pass --param {name}=VALUE")
    return issue


def _add_plugin_commands(commands: Any) -> None:
    """Subcommands other packages register under the `quire.commands` entry point group
    (the web app's `serve`), so the engine never imports them by name."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="quire.commands"):
        entry.load()(commands)


def _params(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise QuireError(f"'{pair}' is not NAME=VALUE", "--param")
        values[name.strip()] = value
    return values


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse prints the error)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' must be more than 0 seconds")
    return seconds


_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "M": 2**20, "MB": 2**20, "G": 2**30,
          "GB": 2**30, "T": 2**40, "TB": 2**40}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def _bytes(text: str) -> int:
    """A memory size such as 2GB, 512MB or 1.5G (binary units); argparse prints the error."""
    match = _SIZE.match(text)
    unit = match[2].upper() if match else ""
    if match is None or unit not in _UNITS or float(match[1]) * _UNITS[unit] < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 2GB or 512MB")
    return int(float(match[1]) * _UNITS[unit])


def _render(args: argparse.Namespace) -> int:
    from engine.render import connect, render_report
    from engine.runs import Run

    definition = load_definition(args.definition)
    paged = args.format in PAGED
    output = args.output or Path(args.definition.stem + ("-pages" if paged else f".{args.format}"))
    engine = connect(_source(args) or "")
    run = Run()
    bar = None if args.quiet or not sys.stderr.isatty() else ProgressBar(sys.stderr)
    subscription = run.listen(bar.show) if bar else None
    try:
        result = render_report(
            definition, engine, output, given=_params(args.param), fmt=args.format,
            control=run, time_limit_s=args.timeout, memory_limit_bytes=args.memory_limit,
        )  # fmt: skip
    finally:
        if subscription is not None and bar is not None:
            subscription.close()
            bar.close()
        engine.dispose()  # a run stopped by a limit must not leave its connections open
    for note in result.notes:
        print(note)
    _report(result.outputs, result.rows, result.pages, result.timings)
    return 0


_BAR_GAP_S = 0.1


def format_progress(event: dict[str, Any], width: int = 80) -> str:
    """One line for a progress event, cut to `width`:
    `loading [####------]  43% 4,000/9,302 rows 57 pages 2,100 rows/s ETA 2.5s`."""
    rows = int(event.get("rows_done") or 0)
    expected = event.get("rows_expected")
    phase = str(event.get("phase") or "")
    if event.get("status") == "paused":
        phase = "paused"
    parts = [f"{phase:<11}"]
    if expected:
        fraction = min(rows / expected, 1.0)
        bar = 10
        filled = int(bar * fraction)
        parts.append("[" + "#" * filled + "-" * (bar - filled) + f"] {fraction:4.0%}")
        parts.append(f"{rows:,}/{expected:,} rows")
    else:
        parts.append(f"{rows:,} rows")
    if event.get("pages"):
        parts.append(f"{event['pages']:,} pages")
    if event.get("rate"):
        parts.append(f"{event['rate']:,.0f} rows/s")
    if event.get("eta_s") is not None:
        parts.append(f"ETA {event['eta_s']:.1f}s")
    return " ".join(parts)[: max(width - 1, 10)]


class ProgressBar:
    """Draws a run's progress events on one line of `stream`; `close()` clears it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown_at = 0.0
        self._drawn = False

    def show(self, event: dict[str, Any]) -> None:
        """A run listener: draw a progress event (at most 10 a second)."""
        if event.get("type") != "progress":
            return
        now = time.monotonic()
        if now - self._shown_at < _BAR_GAP_S and event.get("phase") != "writing":
            return
        self._shown_at = now
        width = shutil.get_terminal_size((80, 24)).columns
        self._stream.write("\r" + format_progress(event, width).ljust(width - 1))
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            width = shutil.get_terminal_size((80, 24)).columns
            self._stream.write("\r" + " " * (width - 1) + "\r")
            self._stream.flush()


def _report(outputs: list[Path], rows: int, pages: int, timings: dict[str, float]) -> None:
    seconds = timings.get("total_s", 0.0)
    rate = rows / seconds if seconds else 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    where = outputs[0] if len(outputs) == 1 else f"{outputs[0].parent}/ ({len(outputs)} files)"
    typeset = f", typeset {timings.get('finish_s', 0):.2f}s" if pages else ""
    print(
        f"wrote {where}: {f'{pages} pages, ' if pages else ''}{rows} rows in {seconds:.2f}s "
        f"({rate:,.0f} rows/s; load+fill {timings.get('load_fill_s', 0):.2f}s{typeset}; "
        f"peak RSS {peak:.0f} MB)"
    )


def _check(args: argparse.Namespace) -> int:
    from engine.validation import validate

    text = read_definition_text(args.definition)
    schema = None
    url = _source(args)
    if url:
        from engine.render import connect
        from engine.schema import reflect_schema

        engine = connect(url)
        try:
            schema = reflect_schema(engine)
        finally:
            engine.dispose()
    error = validate(text, schema, _params(args.param)).error()
    if error is not None:
        raise error
    print(f"{args.definition}: ok")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    json.dump(report_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from engine.demo_data import generate_demo

    if args.orders < 1:
        raise QuireError("must be at least 1", "--orders")
    stats = generate_demo(args.url, orders=args.orders, seed=args.seed)
    print(
        f"demo data in {_safe_url(args.url)}: {stats.orders} orders, {stats.order_lines} order "
        f"lines, {stats.customers} customers, {stats.products} products in {stats.seconds:.1f}s"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from engine.demo_data import generate_demo
    from engine.render import connect, render_report

    url = f"sqlite:///{args.db}"
    if not args.db.exists():
        print(f"creating the demo database {args.db} (first use) ...")
        generate_demo(url)
    started = time.perf_counter()
    result = render_report(load_definition(DEMO_REPORT), connect(url), args.output)
    result.timings["total_s"] = time.perf_counter() - started
    _report(result.outputs, result.rows, result.pages, result.timings)
    return 0


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from engine.source_url import masked_url

    return masked_url(url)


if __name__ == "__main__":
    raise SystemExit(main())
