"""The Typst sink: band events become the template's data, typeset to PDF or PNG/SVG pages.

A report of fewer than `SPLIT_ROWS` rows is typeset in one piece, with no segmenting
overhead. A larger PDF goes through `SegmentedTypesetter`: bounded segments typeset in
parallel while rows still arrive (a share per process when the whole report makes less
than a segment each), joined without seams. PNG and SVG pages are typeset in one piece.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import pikepdf

from engine.charts import ChartData
from engine.definition import ReportDefinition
from engine.errors import OutputError
from engine.fill import BandEvent
from engine.plan import QueryPlan
from engine.runs import Run
from engine.sinks.base import AtomicFile, write_atomically
from engine.typesetting import SEGMENT_RECORDS, SegmentedTypesetter
from engine.typst_writer import OutputFormat, TypstLayout, compile_source

__all__ = ("SPLIT_ROWS", "TypstSink")

SPLIT_ROWS = 1500  # below it one compile is faster than two halves (measured: docs/benchmarks.md)


class TypstSink:
    """PDF (one file) or PNG/SVG (one file per page, in a folder). `segment_records`: the
    records a segment; None, one document whatever the size (a baseline to compare with)."""

    def __init__(
        self,
        definition: ReportDefinition,
        plan: QueryPlan,
        output: Path,
        fmt: OutputFormat,
        *,
        segment_records: int | None = SEGMENT_RECORDS,
        threads: int = 2,
        charts: ChartData | None = None,
    ) -> None:
        self.layout = TypstLayout(definition, plan, charts)
        self.charts = self.layout.charts  # loaded by the pipeline if not yet
        self.output = output
        self.fmt = fmt
        self.pages = 0
        self.segments = 0
        self.repairs = 0
        self._one_document = segment_records is None
        self._segment_records = segment_records or SEGMENT_RECORDS
        # The first segments' size (one per process): a share of a small report (`expect`).
        self._first_records = self._segment_records
        self._threads = threads
        self._buffer: list[list[Any]] = []
        self._typesetter: SegmentedTypesetter | None = None
        self._run: Run | None = None

    def follow(self, run: Run) -> None:
        """Report typesetting (pages as they are kept) and writing to `run`."""
        self._run = run

    def _report(self, phase: str, pages: int | None = None) -> None:
        if self._run is not None:
            self._run.report(phase, pages=pages)

    def _kept(self, pages: int) -> None:
        if self._run is not None:
            self._run.count_pages(pages)

    def expect(self, rows: int) -> None:
        """About this many rows will come: if their detail records alone make more than a
        segment, the typesetter starts now, its processes and band measurements ready
        by the time the first segment's records are (0.1 s sooner at 100K rows).

        From `SPLIT_ROWS` rows on, a report of less than a segment per process is cut in
        equal shares, one per process, typeset side by side: 5,000 rows in two halves
        rather than 4,000 and then the rest (the time a small report takes is the time
        its largest segment does)."""
        if not self.layout.has_detail or self._one_document:
            return
        if rows >= SPLIT_ROWS:  # a share, and room for the groups' records beside the rows
            self._first_records = min(self._segment_records, -(-rows * 11 // (10 * self._threads)))
        if rows > self._first_records:
            self._segmented()

    def write(self, events: Sequence[BandEvent]) -> None:
        records = list(self.layout.records(events))
        if self._typesetter is not None:
            self._typesetter.add(records)
            return
        self._buffer.extend(records)
        if len(self._buffer) > self._first_records and not self._one_document:
            self._segmented()

    def _segmented(self) -> None:
        """Go on in segments (PDF only): from here on, records go to the typesetter."""
        if self.fmt != "pdf" or self._typesetter is not None:
            return
        self._typesetter = SegmentedTypesetter(
            self.layout, self._threads, self._segment_records, on_kept=self._kept,
            first_records=self._first_records,
        )  # fmt: skip
        self._typesetter.add(self._buffer)
        self._buffer = []

    def finish(self) -> list[Path]:
        self._report("typesetting")
        if self._typesetter is not None and self._typesetter.empty:  # expected, none came
            self._typesetter.discard()
            self._typesetter = None
        if self._typesetter is not None:
            try:
                joined, self.pages = self._typesetter.finish()
                self.segments = self._typesetter.compiled_segments
                self.repairs = self._typesetter.repairs
                self._report("writing", self.pages)
                with AtomicFile(self.output) as out, joined.open("rb") as source:
                    shutil.copyfileobj(source, out.file)  # type: ignore[misc]
                return [self.output]
            finally:
                self._typesetter.discard()
        return self._publish(self._whole())

    def discard(self) -> None:
        if self._typesetter is not None:
            self._typesetter.discard()
        self._buffer = []

    def _whole(self) -> list[bytes]:
        """Typeset the buffered records as one document."""
        with tempfile.TemporaryDirectory(prefix="quire-typst-") as tmp:
            folder = Path(tmp)
            self.layout.write_folder(folder, self._buffer)
            self._buffer = []
            return compile_source(folder, fmt=self.fmt)

    def _publish(self, pages: list[bytes]) -> list[Path]:
        if self.fmt == "pdf":
            self.pages = len(pikepdf.open(BytesIO(pages[0])).pages)
            self._report("writing", self.pages)
            return [write_atomically(self.output, pages[0])]
        self.pages = len(pages)
        self._report("writing", self.pages)
        try:
            self.output.mkdir(parents=True, exist_ok=True)
            for stale in self.output.glob(f"page-*.{self.fmt}"):
                stale.unlink()
        except OSError as error:
            raise OutputError(f"cannot write '{self.output}': {error.strerror}", "output") from None
        width = max(3, len(str(len(pages))))
        return [
            write_atomically(self.output / f"page-{i:0{width}d}.{self.fmt}", data)
            for i, data in enumerate(pages, start=1)
        ]
