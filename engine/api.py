"""Quire's engine as the web app and every other caller see it: one module, a few calls.

- `validate(definition, source, params)`: every problem of a definition at once.
- `describe_source(source, table)`: a JSON-ready catalogue of a data source.
- `preview(definition, source, params, pages=N)`: the first pages, as SVG, and a thumbnail.
- `estimate(definition, source, params)`: rows, pages, bytes and seconds of a run.
- `start_run(definition, source, params, formats, output_dir)`: a run that streams
  numbered, JSON-ready events ending in one terminal event; `get_run`, `list_runs`.

A `source` is a SQLAlchemy URL or an `sa.Engine`; engines made from URLs are kept, one per
URL. A `definition` is YAML or JSON text, plain data or a `ReportDefinition`.

Errors: every call raises only `engine.errors.QuireError` subclasses, each with a kind, a
path and a message (`to_dict()` is their one JSON form): a definition that does not parse
or does not fit its source (`DefinitionError`), parameters of the wrong type
(`ParameterError`, at `params.NAME`), a source that cannot be reached or a query that fails
(`DataSourceError`), a query past its time limit (`QueryTimeout`), a newer preview for
the same designer (`Superseded`). Anything else is a bug: it becomes `InternalError`
naming the exception's type, and its traceback goes to the log. The rest of `engine` is
this module's implementation (`docs/architecture.md` draws the map).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.catalogue import describe_source as _describe
from engine.catalogue import source_schema
from engine.definition import ReportDefinition
from engine.errors import (
    DataSourceError,
    InternalError,
    Issue,
    OutputError,
    ParameterError,
    QuireError,
)
from engine.estimate import RATES, RunEstimate
from engine.estimate import estimate as _estimate
from engine.pipeline import RunResult, run_pipeline
from engine.plan import QueryPlan
from engine.preview import PREVIEW_PAGES, Preview, Previewer
from engine.render import FORMATS, PAGED, Format, check_writable, connect, make_sink
from engine.runs import Listener, Run, RunRegistry
from engine.schema import SourceSchema
from engine.validation import Document, Validated
from engine.validation import validate as _validate

__all__ = (
    "FORMATS",
    "Preview",
    "Run",
    "RunEstimate",
    "Source",
    "Validated",
    "configure",
    "describe_source",
    "estimate",
    "get_run",
    "list_runs",
    "open_source",
    "output_name",
    "preview",
    "record_rates",
    "start_run",
    "validate",
)

log = logging.getLogger("quire.engine")

Source = str | sa.Engine
P = ParamSpec("P")
T = TypeVar("T")

PREVIEW_TIMEOUT_S = 5.0  # a preview's queries: a slow one must not hold the previewer
_ENGINES_KEPT = 16


def _guarded(call: Callable[P, T]) -> Callable[P, T]:
    """Only `QuireError`s leave the API: database errors become `DataSourceError`s naming
    their first line; anything else is a bug, logged with its traceback."""

    @functools.wraps(call)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return call(*args, **kwargs)
        except QuireError:
            raise
        except SQLAlchemyError as error:
            raise DataSourceError(_first_line(error), "source") from None
        except Exception as error:
            log.exception("engine.api.%s failed", call.__name__)
            raise InternalError(f"unexpected {type(error).__name__}: {error}") from None

    return guarded


# -- sources ------------------------------------------------------------------------------------

_engines: OrderedDict[str, sa.Engine] = OrderedDict()
_engines_lock = threading.Lock()


@_guarded
def open_source(source: Source) -> sa.Engine:
    """The engine of a source; a URL's engine is made, and its connection checked, once.

    Raises:
        DataSourceError: the URL is not usable or the database cannot be reached (the
            message never holds the password).
    """
    if isinstance(source, sa.Engine):
        return source
    with _engines_lock:
        engine = _engines.get(source)
        if engine is not None:
            _engines.move_to_end(source)
            return engine
    engine = connect(source)  # outside the lock: a slow server holds only its caller
    with _engines_lock:
        _engines[source] = engine
        while len(_engines) > _ENGINES_KEPT:
            _, old = _engines.popitem(last=False)
            old.dispose()
    return engine


# -- validation and the catalogue ---------------------------------------------------------------


@_guarded
def validate(
    definition: Document, source: Source | None = None, params: Mapping[str, Any] | None = None
) -> Validated:
    """Every problem of a definition, in document order, in one pass.

    Without a source only the document itself is checked (syntax, structure, names,
    parameter defaults); with one, every expression, join, chart and layout too. A source
    that cannot be reached is one more issue, at path `source`, beside the document's own.

    Returns:
        `Validated`: `issues` (each with `path`, `message`, `hint`, and for expressions
        `position` and `excerpt`), and when there is none the parsed `definition`, its
        `plan` (with a source) and typed `parameters` (with params).
    """
    if source is None:
        return _validate(definition, None, params)
    try:
        schema = source_schema(open_source(source))
    except DataSourceError as error:
        found = _validate(definition, None, params)
        return Validated((*error.issues, *found.issues))
    return _validate(definition, schema, params)


@_guarded
def describe_source(source: Source, table: str | None = None) -> dict[str, Any]:
    """The source's tables, columns (type, kind, nullable, primary key) and relationships
    both ways, JSON-ready; with `table`, also the dotted field paths an expression can use
    from it (`fields`). Reflected at most once a minute per source, under a time limit."""
    return _describe(open_source(source), table)


# -- preview and estimate -----------------------------------------------------------------------

_previewer: Previewer | None = None
_previewer_lock = threading.Lock()


def _the_previewer() -> Previewer:
    """One previewer for the process: one warm Typst process serves every designer."""
    global _previewer  # noqa: PLW0603 - made on first use, then shared
    with _previewer_lock:
        if _previewer is None:
            _previewer = Previewer()
        return _previewer


@_guarded
def preview(
    definition: Document,
    source: Source,
    params: Mapping[str, Any] | None = None,
    *,
    pages: int = PREVIEW_PAGES,
    designer: str | None = None,
    timeout_s: float | None = PREVIEW_TIMEOUT_S,
) -> Preview:
    """The first `pages` pages of the report as SVG, and a PNG thumbnail of page 1.

    Only the rows those pages need are read. `Preview.complete` says whether every row is
    in it; `rows` and `total_rows` say how many are shown of how many ("first 192 of
    92,635 rows"); a partial preview never prints a page total it does not know.

    Args:
        designer: whose preview this is; a newer request with the same key makes this one
            raise `Superseded` (before it typesets, at the latest).
        timeout_s: the time limit of each of the preview's queries.
    """
    engine = open_source(source)
    schema = source_schema(engine)
    model = _definition(definition, schema, params)
    return _the_previewer().render(
        model, engine, params, pages=pages, schema=schema, designer=designer, timeout_s=timeout_s
    )


@_guarded
def estimate(
    definition: Document,
    source: Source,
    params: Mapping[str, Any] | None = None,
    *,
    exact: bool = True,
) -> RunEstimate:
    """How big a run will be before it starts: rows (a COUNT; with `exact=False` the
    planner's estimate where the database has one), groups, pages (from the band heights),
    bytes and seconds (from the rates of this process's finished runs)."""
    engine = open_source(source)
    model, plan, parameters = _checked(definition, source_schema(engine), params)
    return _estimate(model, engine, plan, parameters, exact=exact)


def record_rates(rows: int, pages: int, seconds: float, pdf_bytes: int) -> None:
    """Teach `estimate` from a PDF run that ran in another process (a web app's run
    worker): its rows, pages, seconds and bytes. Runs started here teach it themselves."""
    RATES.record(rows, pages, seconds, pdf_bytes)


# -- runs ---------------------------------------------------------------------------------------

_registry: RunRegistry | None = None
_registry_lock = threading.Lock()


def configure(*, workers: int | None = None, retention_s: float | None = None) -> None:
    """Set the run registry's size (runs at once) and how long finished runs are kept.
    Runs already started keep the registry they started in."""
    global _registry  # noqa: PLW0603 - the process's one registry
    with _registry_lock:
        old = _registry
        _registry = RunRegistry(
            workers=workers or 2, retention_s=3600.0 if retention_s is None else retention_s
        )
    if old is not None:
        threading.Thread(target=old.shutdown, name="quire-registry-end", daemon=True).start()


def _the_registry() -> RunRegistry:
    global _registry  # noqa: PLW0603 - made on first use
    with _registry_lock:
        if _registry is None:
            _registry = RunRegistry()
        return _registry


def output_name(title: str, fmt: str, day: date | None = None) -> str:
    """A file name like `sales-by-region-2026-12-05.pdf` (a folder name for PNG/SVG)."""
    slug = "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())
    stem = f"{slug[:60] or 'report'}-{(day or date.today()).isoformat()}"
    return f"{stem}-{fmt}" if fmt in PAGED else f"{stem}.{fmt}"


@_guarded
def start_run(
    definition: Document,
    source: Source,
    params: Mapping[str, Any] | None = None,
    *,
    formats: Iterable[str] = ("pdf",),
    output_dir: Path,
    listener: Listener | None = None,
    memory_limit_bytes: int | None = None,
    statement_timeout_s: float | None = None,
    time_limit_s: float | None = None,
) -> Run:
    """Queue a run of the report; it writes one output per format into `output_dir`.

    The definition and the parameters are checked before the run is queued, so bad input
    raises here; what fails later (the database, typesetting, a full disk) ends the run
    with a `failed` event. Each output appears only once complete.

    Returns:
        The `Run`: `listen(listener, after=seq) -> Subscription`, `events_since(seq)`,
        `snapshot()`, `pause()`, `resume()`, `cancel()`. Its events are JSON-ready dicts
        numbered from 1 (`seq`), in order: `progress` events through the phases planning,
        charts, loading, typesetting (pages as segments are kept) and writing, then
        exactly one of `done` (outputs, rows, pages, manifest), `failed` (error: kind,
        message, path, issues) or `cancelled`. Its clock starts when it leaves the queue;
        `queued_s` reports the wait apart.

    Limits (None: none): `memory_limit_bytes` of the process's resident memory
    (`MemoryLimitExceeded`), `statement_timeout_s` for each query (`QueryTimeout`),
    `time_limit_s` for the whole run from when it leaves the queue (`TimeLimitExceeded`).
    A run whose charts would draw more than `engine.limits.MAX_CHART_DRAWS` charts fails
    with a `DefinitionError` at the chart's path.
    """
    for name, limit in (("memory_limit_bytes", memory_limit_bytes),
                        ("statement_timeout_s", statement_timeout_s),
                        ("time_limit_s", time_limit_s)):  # fmt: skip
        if limit is not None and limit <= 0:
            raise ParameterError(f"must be more than 0, not {limit}", name)
    fmts = _formats(formats)
    engine = open_source(source)
    model, plan, parameters = _checked(definition, source_schema(engine), params)
    targets = [output_dir / output_name(model.title, fmt) for fmt in fmts]
    for fmt, target in zip(fmts, targets, strict=True):
        check_writable(target, fmt)

    def job(run: Run) -> RunResult:
        run.report("planning")
        sinks = [make_sink(model, plan, fmt, t) for fmt, t in zip(fmts, targets, strict=True)]
        result = run_pipeline(
            model, engine, plan, parameters, sinks, control=run,
            memory_limit_bytes=memory_limit_bytes, statement_timeout_s=statement_timeout_s,
            time_limit_s=time_limit_s,
        )  # fmt: skip
        _record_rates(result)
        return result

    run = _the_registry().submit(job)
    if listener is not None:
        run.listen(listener, after=0)  # the events so far first, then each as it comes
    return run


def get_run(run_id: str) -> Run | None:
    """A run of this process by id, until its retention time has passed."""
    return _the_registry().get(run_id)


def list_runs() -> list[Run]:
    """The runs of this process still kept, oldest first."""
    return _the_registry().runs()


# -- helpers ------------------------------------------------------------------------------------


def _checked(
    definition: Document, schema: SourceSchema, params: Mapping[str, Any] | None
) -> tuple[ReportDefinition, QueryPlan, dict[str, Any]]:
    """The definition, its plan and its typed parameters; raise the validation's error."""
    validated = _validate(definition, schema, params or {})
    error = validated.error()
    if error is not None:
        raise error
    if validated.definition is None or validated.plan is None or validated.parameters is None:
        raise InternalError("validation found no problem but returned no plan")
    return validated.definition, validated.plan, validated.parameters


def _definition(
    definition: Document, schema: SourceSchema, params: Mapping[str, Any] | None
) -> ReportDefinition:
    if isinstance(definition, ReportDefinition):
        return definition
    return _checked(definition, schema, params)[0]


def _formats(formats: Iterable[str]) -> list[Format]:
    chosen: list[Format] = []
    for i, fmt in enumerate(formats):
        if fmt not in FORMATS:
            raise OutputError(
                [Issue(f"formats[{i}]", f"unknown format '{fmt}'", "one of " + ", ".join(FORMATS))]
            )
        if fmt not in chosen:
            chosen.append(fmt)
    if not chosen:
        raise OutputError([Issue("formats", "choose at least one format")])
    return chosen


def _record_rates(result: RunResult) -> None:
    seconds = result.timings.get("total_s", 0.0)
    pdfs = [p for p in result.outputs if p.suffix == ".pdf" and p.is_file()]
    if result.rows and seconds > 0 and pdfs:
        RATES.record(result.rows, result.pages, seconds, sum(p.stat().st_size for p in pdfs))


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
