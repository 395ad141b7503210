"""Previews for a designer: the first pages of a report, quick to render again and again.

A designer renders the report anew on every edit. Those renders go to one warm Typst
process (a worker pool of one whose child serves many tasks), so what Typst memoized for
the last preview (the template, the fonts, every cell laid out before) is reused: a
preview of an unchanged or slightly changed report is laid out mostly from memory
(`python -m bench.preview` prints the figures). Only the first rows are read and typeset;
a preview says how many it shows and whether that is all of them, so a partial preview is
never taken for the whole report.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.definition import ReportDefinition
from engine.errors import RenderError
from engine.fill import fill_batches
from engine.loader import Loader, Row
from engine.render import check_report
from engine.typst_worker import TypstFailed, WorkerPool
from engine.typst_writer import TypstLayout

__all__ = ("PREVIEW_ROWS", "Preview", "Previewer")

PREVIEW_ROWS = 500  # about seven pages of the grouped example
_TASKS_PER_PROCESS = 50  # then a fresh process: typst-py keeps ~10 compiles' memory anyway


@dataclass(frozen=True)
class Preview:
    """SVG pages of the report's beginning."""

    pages: list[str]
    rows: int  # rows typeset
    complete: bool  # every row of the report is in it


class Previewer:
    """Renders previews in one warm Typst process; one preview at a time."""

    def __init__(self, rows: int = PREVIEW_ROWS) -> None:
        self.rows = rows
        self._pool = WorkerPool(1, compiles_per_child=_TASKS_PER_PROCESS)
        self._folder = Path(tempfile.mkdtemp(prefix="quire-preview-"))  # the same each time
        self._lock = threading.Lock()

    def render(
        self,
        definition: ReportDefinition,
        engine: sa.Engine,
        given: Mapping[str, Any] | None = None,
    ) -> Preview:
        """The first pages: at most `rows` rows, with their group headers and footers."""
        plan, parameters, _ = check_report(definition, engine, given)
        loader = Loader(engine, plan, parameters, batch_size=self.rows + 1)
        rows, complete = _first(loader.batches(), self.rows)
        layout = TypstLayout(definition, plan)
        filled = list(fill_batches(definition, plan, [rows]))  # the rows', then the closing
        shown = filled if complete else filled[:1]  # the report goes on: nothing closes yet
        events = itertools.chain.from_iterable(shown)
        with self._lock:
            layout.write_folder(self._folder, list(layout.records(events)))
            try:
                pages = self._pool.compile_svg(self._folder, {})
            except TypstFailed as error:
                raise RenderError(f"typesetting failed: {error}") from None
        return Preview(pages, len(rows), complete)

    def close(self) -> None:
        self._pool.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Previewer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _first(batches: Iterator[list[Row]], count: int) -> tuple[list[Row], bool]:
    """Up to `count` rows, and whether they are all there are (one more is asked for)."""
    rows: list[Row] = []
    try:
        for batch in batches:
            rows.extend(batch)
            if len(rows) > count:
                return rows[:count], False
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return rows, True
