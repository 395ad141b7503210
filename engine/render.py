"""One entry point to run a report: definition + source + parameters in, files out.

Outputs are written under a temporary name and renamed into place only when complete,
so a failed run never leaves a file that looks like a good one.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import pypdf
import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from engine.definition import ReportDefinition
from engine.errors import DataSourceError, DefinitionError, Issue, OutputError, QuireError
from engine.fill import fill
from engine.loader import DEFAULT_BATCH_SIZE, stream_batches
from engine.parameters import resolve_parameters
from engine.plan import QueryPlan, build_plan
from engine.schema import SourceSchema, reflect_schema
from engine.sinks.base import write_atomically
from engine.typst_writer import OutputFormat, TypstLayout, compile_typst, write_typst_input

__all__ = ("RenderResult", "check_report", "connect", "render_report")


@dataclass
class RenderResult:
    outputs: list[Path]
    rows: int = 0
    pages: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def connect(url: str) -> sa.Engine:
    """An engine for the source URL, checked by opening one connection."""
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
    except (ArgumentError, NoSuchModuleError) as error:
        raise DataSourceError(f"not a usable database URL: {error}", "source") from None
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise DataSourceError(
            f"cannot connect: {reason[0] if reason else type(error).__name__}", "source"
        ) from None
    return engine


def check_report(
    definition: ReportDefinition, engine: sa.Engine, given: Mapping[str, Any] | None = None
) -> tuple[QueryPlan, dict[str, Any], SourceSchema]:
    """Everything that can be checked before reading rows; all problems at once."""
    issues: list[Issue] = []
    parameters: dict[str, Any] = {}
    try:
        parameters = resolve_parameters(definition, given)
    except QuireError as error:
        issues.extend(error.issues)
    schema = reflect_schema(engine)
    try:
        plan = build_plan(definition, schema)
        TypstLayout(definition, plan)
    except DefinitionError as error:
        issues.extend(error.issues)
    if issues:
        raise DefinitionError(issues)
    return plan, parameters, schema


def render_report(
    definition: ReportDefinition,
    engine: sa.Engine,
    output: Path,
    *,
    given: Mapping[str, Any] | None = None,
    fmt: OutputFormat = "pdf",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RenderResult:
    """Render the report to `output` (a file for PDF, a folder of pages for PNG/SVG)."""
    started = time.perf_counter()
    plan, parameters, _ = check_report(definition, engine, given)
    _check_writable(output, fmt)
    layout = TypstLayout(definition, plan)
    result = RenderResult(outputs=[])
    with tempfile.TemporaryDirectory(prefix="quire-run-") as tmp:
        run_dir = Path(tmp)
        with engine.connect() as connection:
            batches = _counted(stream_batches(connection, plan, parameters, batch_size), result)
            write_typst_input(layout, fill(definition, plan, batches), run_dir)
        result.timings["load_fill_s"] = time.perf_counter() - started
        typeset_start = time.perf_counter()
        pages = compile_typst(run_dir, fmt)
        result.timings["typeset_s"] = time.perf_counter() - typeset_start
    result.pages = _page_count(pages, fmt)
    result.outputs = _publish(pages, output, fmt)
    result.timings["total_s"] = time.perf_counter() - started
    return result


def _counted(batches: Iterator[Sequence[Any]], result: RenderResult) -> Iterator[Sequence[Any]]:
    for batch in batches:
        result.rows += len(batch)
        yield batch


def _page_count(pages: list[bytes], fmt: OutputFormat) -> int:
    if fmt != "pdf":
        return len(pages)
    return len(pypdf.PdfReader(BytesIO(pages[0])).pages)


def _check_writable(output: Path, fmt: OutputFormat) -> None:
    """Fail before the work if the output cannot be written."""
    folder = output if fmt != "pdf" else output.parent
    target = folder if folder.exists() else _existing_parent(folder)
    if fmt == "pdf" and output.is_dir():
        raise OutputError(f"'{output}' is a folder; give a file name like report.pdf", "output")
    if fmt != "pdf" and output.exists() and not output.is_dir():
        raise OutputError(f"'{output}' is a file; {fmt} pages need a folder", "output")
    if not target.is_dir():
        raise OutputError(f"cannot write to '{output}': '{target}' is not a folder", "output")
    if not os.access(target, os.W_OK):
        raise OutputError(f"cannot write to '{target}'", "output")


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _publish(pages: list[bytes], output: Path, fmt: OutputFormat) -> list[Path]:
    """Write each file under a temporary name, then rename it into place."""
    try:
        if fmt == "pdf":
            output.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(output, pages[0])
            return [output]
        output.mkdir(parents=True, exist_ok=True)
        for stale in output.glob(f"page-*.{fmt}"):
            stale.unlink()
        width = max(3, len(str(len(pages))))
        paths = [output / f"page-{i:0{width}d}.{fmt}" for i in range(1, len(pages) + 1)]
        for path, data in zip(paths, pages, strict=True):
            write_atomically(path, data)
        return paths
    except OSError as error:
        raise OutputError(f"cannot write '{output}': {error.strerror}", "output") from None
