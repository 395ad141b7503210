"""The engine's entry points: connect to a source, check a report, render it to files.

`render_report` is what the CLI and the web layer call: definition, source, parameters,
outputs, progress and cancel in; files out, each written under a temporary name and
renamed only when complete, so a failed run never leaves a file that looks finished.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from engine.charts import ChartData
from engine.definition import ReportDefinition
from engine.errors import DataSourceError, OutputError
from engine.loader import DEFAULT_BATCH_SIZE
from engine.pipeline import RunResult, run_pipeline
from engine.plan import QueryPlan
from engine.runs import RunControl
from engine.schema import SourceSchema, reflect_schema
from engine.sinks.base import Sink
from engine.source_url import MASK, parse_source_url
from engine.validation import validate

__all__ = (
    "FORMATS",
    "Format",
    "RunResult",
    "check_report",
    "connect",
    "make_sink",
    "render_report",
)

Format = Literal["pdf", "png", "svg", "html", "json", "csv", "xlsx"]
FORMATS: tuple[Format, ...] = get_args(Format)
PAGED: tuple[Format, ...] = ("png", "svg")  # one file per page, in a folder


def connect(url: str) -> sa.Engine:
    """An engine for the source URL, checked by opening one connection; errors never show
    the password, nor a tail of it (`engine.source_url`)."""
    parsed = parse_source_url(url)
    secret = parsed.password
    try:
        engine = sa.create_engine(parsed)
        with engine.connect():
            pass
    except (ArgumentError, NoSuchModuleError) as error:
        raise DataSourceError(
            f"not a usable database URL: {_masked(error, secret)}", "source"
        ) from None
    except SQLAlchemyError as error:
        raise DataSourceError(f"cannot connect: {_masked(error, secret)}", "source") from None
    return engine


def _masked(error: BaseException, secret: str | None) -> str:
    """The first line of a driver's error, without the password should it quote it."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    reason = lines[0] if lines else type(error).__name__
    return reason.replace(secret, MASK) if secret else reason


def check_report(
    definition: ReportDefinition,
    engine: sa.Engine,
    given: Mapping[str, Any] | None = None,
    *,
    schema: SourceSchema | None = None,
) -> tuple[QueryPlan, dict[str, Any], SourceSchema]:
    """Everything that can be checked before reading rows (`engine.validation.validate`);
    raise one error listing every problem. Pass the source's `schema` when the caller keeps
    one (reflected once); otherwise it is reflected here. Plans come from the plan cache."""
    schema = schema if schema is not None else reflect_schema(engine)
    result = validate(definition, schema, given or {})
    error = result.error()
    if error is not None:
        raise error
    assert result.plan is not None  # valid, and a schema was given
    assert result.parameters is not None
    return result.plan, result.parameters, schema


def make_sink(
    definition: ReportDefinition,
    plan: QueryPlan,
    fmt: Format,
    output: Path,
    charts: ChartData | None = None,
) -> Sink:
    """The sink that writes `fmt` to `output`. Sinks that draw charts draw them from
    `charts`, or from chart data of their own that `run_pipeline` loads for the run."""
    if fmt in ("pdf", "png", "svg"):
        from engine.sinks.typst_sink import TypstSink

        return TypstSink(definition, plan, output, fmt, charts=charts)
    if fmt == "html":
        from engine.sinks.html_sink import HtmlSink

        return HtmlSink(definition, plan, output, charts)
    if fmt == "json":
        from engine.sinks.json_sink import JsonSink

        return JsonSink(definition, plan, output)
    if fmt == "csv":
        from engine.sinks.csv_sink import CsvSink

        return CsvSink(definition, plan, output)
    if fmt == "xlsx":
        from engine.sinks.xlsx_sink import XlsxSink

        return XlsxSink(definition, plan, output)
    raise OutputError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}", "format")


def render_report(
    definition: ReportDefinition,
    engine: sa.Engine,
    output: Path,
    *,
    given: Mapping[str, Any] | None = None,
    fmt: Format = "pdf",
    batch_size: int = DEFAULT_BATCH_SIZE,
    control: RunControl | None = None,
    memory_limit_bytes: int | None = None,
    schema: SourceSchema | None = None,
    time_limit_s: float | None = None,
) -> RunResult:
    """Render the report to `output` (a file, or a folder of pages for PNG/SVG); given the
    source's `schema`, with a cached plan (see `check_report`)."""
    plan, parameters, _ = check_report(definition, engine, given, schema=schema)
    check_writable(output, fmt)
    sink = make_sink(definition, plan, fmt, output)
    return run_pipeline(
        definition,
        engine,
        plan,
        parameters,
        [sink],
        control=control,
        batch_size=batch_size,
        memory_limit_bytes=memory_limit_bytes,
        time_limit_s=time_limit_s,
    )


def check_writable(output: Path, fmt: Format) -> None:
    """Fail before the work if the output cannot be written."""
    paged = fmt in PAGED
    folder = output if paged else output.parent
    target = folder if folder.exists() else _existing_parent(folder)
    if not paged and output.is_dir():
        raise OutputError(f"'{output}' is a folder; give a file name like report.{fmt}", "output")
    if paged and output.exists() and not output.is_dir():
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
