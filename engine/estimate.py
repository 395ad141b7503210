"""How big a run will be before it starts: rows, groups, pages, output bytes and seconds.

Rows are an exact COUNT (cached), or the planner's estimate where the database has one
(PostgreSQL's `EXPLAIN`) when asked for or when the COUNT runs past its time limit. Pages
come from the band heights the layout reserves: detail rows, the headers and footers of
each group (a COUNT DISTINCT of the group keys), the title and the summary, laid on the
page's body height. Bytes and seconds come from the rates of the runs this process has
recorded in `RATES`, or from rates measured on this machine until one has.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from engine.cache import DEFAULT_CACHE, QueryCache, query_key
from engine.definition import ReportDefinition
from engine.errors import QueryTimeout
from engine.layout import PAPER_MM
from engine.pipeline import estimate_rows
from engine.plan import QueryPlan
from engine.timeouts import statement_timeout
from engine.typst_writer import TypstLayout

__all__ = ("DEFAULT_COUNT_TIMEOUT_S", "RATES", "RateBook", "RunEstimate", "estimate")

DEFAULT_COUNT_TIMEOUT_S = 5.0
# Measured on this machine (2 cores, shared with four other builds: load average near 5)
# by rendering examples/sales_by_region.yaml to PDF over a demo of 10K order lines (9,302
# rows, 135 pages, 839,423 bytes) twice: 9.0 and 9.8 s; 40 rows took 0.40 s. The
# DESIGN's quiet-machine figure for the same report is about 20 times the rows a second:
# recorded runs replace these as soon as there are some.
DEFAULT_ROWS_PER_S = 1_000.0
DEFAULT_BYTES_PER_PAGE = 6_200.0
DEFAULT_STARTUP_S = 0.4
_MM = 72 / 25.4
_CAP_HEIGHT_EM = 1490 / 2048  # Inter's, the one font reports use


@dataclass(frozen=True)
class RunEstimate:
    """What a run is expected to produce. `rows_exact`: a COUNT, not the planner's guess;
    `groups`: the groups at each level, outermost first; `rates_measured`: bytes and
    seconds come from runs recorded in this process, not from the defaults."""

    rows: int
    rows_exact: bool
    groups: tuple[int, ...]
    pages: int
    bytes: int
    seconds: float
    rates_measured: bool

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["groups"] = list(self.groups)
        return data


class RateBook:
    """The rates of the last runs (rows a second, PDF bytes a page); safe between threads."""

    def __init__(
        self,
        rows_per_s: float = DEFAULT_ROWS_PER_S,
        bytes_per_page: float = DEFAULT_BYTES_PER_PAGE,
        startup_s: float = DEFAULT_STARTUP_S,
        keep: int = 20,
    ) -> None:
        self.default_rows_per_s = rows_per_s
        self.default_bytes_per_page = bytes_per_page
        self.startup_s = startup_s
        self._runs: deque[tuple[int, int, float, int]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, rows: int, pages: int, seconds: float, bytes: int) -> None:
        """Note a finished PDF run; runs with nothing in them teach nothing and are skipped."""
        if rows > 0 and pages > 0 and seconds > 0 and bytes > 0:
            with self._lock:
                self._runs.append((rows, pages, seconds, bytes))

    @property
    def measured(self) -> bool:
        with self._lock:
            return bool(self._runs)

    def rows_per_s(self) -> float:
        """Rows a second past the fixed start-up cost, over the recorded runs."""
        with self._lock:
            runs = list(self._runs)
        if not runs:
            return self.default_rows_per_s
        working = sum(max(seconds - self.startup_s, 0.01) for _, _, seconds, _ in runs)
        return sum(rows for rows, _, _, _ in runs) / working

    def bytes_per_page(self) -> float:
        with self._lock:
            runs = list(self._runs)
        if not runs:
            return self.default_bytes_per_page
        return sum(b for _, _, _, b in runs) / sum(pages for _, pages, _, _ in runs)

    def seconds(self, rows: int) -> float:
        return self.startup_s + rows / self.rows_per_s()


RATES = RateBook()


def estimate(
    definition: ReportDefinition,
    engine: sa.Engine,
    plan: QueryPlan,
    parameters: Mapping[str, Any],
    *,
    exact: bool = True,
    count_timeout_s: float | None = DEFAULT_COUNT_TIMEOUT_S,
    rates: RateBook = RATES,
    cache: QueryCache = DEFAULT_CACHE,
) -> RunEstimate:
    """Rows, pages, bytes and seconds of the run, before it starts.

    With `exact=False` the planner's estimates are used where the database has them
    (PostgreSQL); a COUNT that runs past `count_timeout_s` falls back to them too.

    Raises:
        QueryTimeout: the COUNT ran past its limit and the database has no planner estimate.
    """
    counter = _Counter(engine, parameters, exact, count_timeout_s, cache)
    rows, rows_exact = counter.rows(plan)
    groups = tuple(counter.groups(plan, level, rows) for level in range(len(plan.group_columns)))
    pages = estimate_pages(definition, TypstLayout(definition, plan), rows, groups)
    return RunEstimate(
        rows=rows,
        rows_exact=rows_exact,
        groups=groups,
        pages=pages,
        bytes=round(pages * rates.bytes_per_page()),
        seconds=round(rates.seconds(rows), 1),
        rates_measured=rates.measured,
    )


def estimate_pages(
    definition: ReportDefinition, layout: TypstLayout, rows: int, groups: tuple[int, ...]
) -> int:
    """Pages from the height of each band, laid on the page's body.

    Bands are not split across pages, so a page ends on average half a detail row short.
    """
    if rows == 0:
        return 1
    page = layout.page_data()
    paper_width, paper_height = PAPER_MM[page["paper"]]
    capacity: float = (paper_width if page["flipped"] else paper_height) * _MM
    capacity -= page["margin"]["top"] + page["margin"]["bottom"]

    def height(key: str) -> float:
        return band_height(layout, key)

    detail = height("detail")
    body = rows * detail + height("title") + height("summary")
    if page["column_header_in_body"]:
        body += height("column_header")
    breaks = 0
    for level, count in enumerate(groups):
        body += count * (height(f"group_header:{level}") + height(f"group_footer:{level}"))
        header = definition.groups[level].header
        if header is not None and header.page_break_before:
            breaks = max(breaks, count)
    usable = max(capacity - detail / 2, detail, 1.0)
    return max(1, math.ceil(body / usable), breaks)


def band_height(layout: TypstLayout, key: str) -> float:
    """The height Typst gives the band with this key (0 for a band the report lacks).

    A row of cells is as tall as the capital letters of its largest text (Typst's lines
    run from cap height to baseline) plus the band's padding above and below; a rule
    takes its thickness and 2 points. Matches, to a thousandth of a point, the heights
    the typesetter measures in Typst for every band of examples/sales_by_region.yaml.
    """
    index = layout.band_index(key)
    if index is None:
        return 0.0
    band = layout.bands[index]
    size = (band["style"] or {}).get("size") or layout.definition.page.font_size
    height = 0.0
    for row in band["rows"]:
        if row["kind"] == "line":
            height += row["thickness"] + 2
        else:
            sizes = [(cell["style"] or {}).get("size") or size for cell in row["cells"]]
            height += _CAP_HEIGHT_EM * max(sizes, default=size) + 2 * band["pad"]
    return height


class _Counter:
    """Counts of the run's rows and groups: exact COUNTs, or the planner's estimates."""

    def __init__(
        self,
        engine: sa.Engine,
        parameters: Mapping[str, Any],
        exact: bool,
        timeout_s: float | None,
        cache: QueryCache,
    ) -> None:
        self.engine = engine
        self.parameters = dict(parameters)
        self.timeout_s = timeout_s
        self.cache = cache
        self.planner = engine.dialect.name == "postgresql"
        self.use_planner = self.planner and not exact

    def rows(self, plan: QueryPlan) -> tuple[int, bool]:
        if self.use_planner:
            return self._planned(plan.select), False
        try:
            return estimate_rows(
                self.engine, plan, self.parameters, self.cache, self.timeout_s
            ), True
        except QueryTimeout:
            if not self.planner:
                raise
            self.use_planner = True  # the groups are not counted exactly either
            return self._planned(plan.select), False

    def groups(self, plan: QueryPlan, level: int, rows: int) -> int:
        """Groups at `level`: distinct values of its key and the keys of the groups around it."""
        inner = plan.select.subquery()
        keys = [inner.c[f"c{index}"] for index in plan.group_columns[: level + 1]]
        distinct = sa.select(*keys).distinct()
        if self.use_planner:
            return min(rows, self._planned(distinct))
        query = sa.select(sa.func.count()).select_from(distinct.subquery())
        try:
            counted: int = self.cache.get_or_compute(
                query_key(self.engine, query, self.parameters), lambda: self._count(query)
            )
        except QueryTimeout:
            # No planner to ask: a guess that spreads the rows evenly over the levels.
            levels = len(plan.group_columns)
            return int(rows ** ((level + 1) / (levels + 1)) + 0.5)
        return counted

    def _count(self, query: sa.Select[Any]) -> int:
        with self.engine.connect() as connection, statement_timeout(connection, self.timeout_s):
            return int(connection.execute(query, self.parameters).scalar_one())

    def _planned(self, query: sa.Select[Any]) -> int:
        """The planner's row estimate for `query`, its parameters bound."""
        with self.engine.connect() as connection:
            explained = connection.execute(_Explain(query), self.parameters).scalar_one()
        return max(0, int(explained[0]["Plan"]["Plan Rows"]))


class _Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a SELECT, compiled and bound as the SELECT itself is."""

    inherit_cache = False

    def __init__(self, query: sa.Select[Any]) -> None:
        self.query = query


@compiles(_Explain, "postgresql")
def _explain(element: _Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.query, **kw)
