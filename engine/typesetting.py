"""Typesetting large reports in bounded segments, compiled in parallel, joined without seams.

One Typst document holding a whole large report costs memory in proportion to its pages.
Here the band records are cut into segments of about `SEGMENT_RECORDS` that end exactly
at a page boundary, so each segment can be typeset on its own, two at a time by children
of one Typst process (engine.typst_worker), while later rows are still being loaded.

Where pages break is predicted from band heights measured before any row came, and again
wherever a prediction failed (a marker gives a record's page and position). Each segment
is typeset with one extra record, the first of the next segment, as a probe: the segment
is right when each predicted page's first record, and the probe, start the page predicted
for them at its top. When a prediction fails (a cell wrapped onto two lines, say), the
segment's last page is dropped, its records are carried to the front of what follows, and
later segments are typeset again: the result is always the one continuous layout would
give. Each kept segment is written into the one PDF at once (engine.pdf_join); page
numbers count on across segments. What only the whole report knows is laid over every
page at the end: "of Y", and the page totals, which segments leave blank and the engine
computes from the rows of each kept page.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RenderError
from engine.layout import PAPER_MM
from engine.page_stamps import Texts, shape, specimens
from engine.pdf_join import PdfJoiner
from engine.typst_worker import TypstFailed, run_pool
from engine.typst_writer import TypstLayout

__all__ = ("SEGMENT_RECORDS", "SegmentedTypesetter")

# Bigger costs less per record (a compile's fixed costs, about 13 ms, are shared by more,
# and repeated values hit Typst's layout cache more often); each compiling process takes
# about 17 MB more per 1,000 records: at 4,000, all processes together peaked at 286-378 MB
# in every run measured, 10K to 1M rows.
SEGMENT_RECORDS = 4000
_TAIL_RECORDS = 200  # the records left at the end are shared by the workers, down to this
SEGMENT_PAGES = 100  # texts laid over pages are typeset in chunks of this many pages
_EPSILON = 0.01  # points; below Typst's own layout tolerance
_MAX_REPAIRS = 20  # then stop predicting: carry every segment (always right, not parallel)
_MM = 72 / 25.4
Record = list[Any]


@dataclass(frozen=True)
class _Mark:
    record: int  # index within the segment
    page: int  # page within the segment, from 1
    y: float  # points from the top of the page


@dataclass
class _Segment:
    number: int
    records: list[Record]
    offset: int  # pages before this segment
    predicted: list[int] | None  # page of each record, or None: carry its last page
    probe: Record | None  # the next segment's first record, typeset to check the break
    open_groups: list[Record] = field(default_factory=list)  # reprinted, from its start
    full_marks: bool = False  # mark every record, not only where each page starts
    future: Future[tuple[Path, list[_Mark]]] | None = None


@dataclass
class _HeightModel:
    """Heights of bands, learnt from where their markers landed."""

    capacity: float
    heights: dict[int, float] = field(default_factory=dict)
    body_top: float | None = None

    def learn(self, records: Sequence[Record], marks: Sequence[_Mark]) -> None:
        seen: dict[int, Counter[float]] = {}
        exact: dict[tuple[int, float], float] = {}
        for mark, following in itertools.pairwise(marks):
            if mark.page == following.page and following.record == mark.record + 1:
                band = records[mark.record][0]
                height = following.y - mark.y
                key = round(height, 3)  # the usual height, kept exact: a page sums ~70 of them
                seen.setdefault(band, Counter())[key] += 1
                exact.setdefault((band, key), height)
            elif self.body_top is None:
                self.body_top = following.y
        for band, counts in seen.items():
            self.heights[band] = exact[band, counts.most_common(1)[0][0]]

    def paginate(
        self, bands: Sequence[dict[str, Any]], records: Sequence[Record]
    ) -> list[int] | None:
        """The page (from 1) each record would start on, from a page top; None if unknown."""
        pages: list[int] = []
        page, used = 1, 0.0
        for record in records:
            height = self.heights.get(record[0])
            if height is None:
                return None
            if used > 0 and (
                bands[record[0]]["page_break"] or used + height > self.capacity + _EPSILON
            ):
                page, used = page + 1, 0.0
            pages.append(page)
            used += height
        return pages


class SegmentedTypesetter:
    """Accepts band records in order; produces one PDF typeset segment by segment."""

    def __init__(
        self,
        layout: TypstLayout,
        threads: int = 2,
        segment_records: int = SEGMENT_RECORDS,
        on_kept: Callable[[int], None] | None = None,
        first_records: int | None = None,
    ) -> None:
        """`on_kept(pages)`: called with the pages kept so far as each segment is kept,
        and once as the last records start typesetting (for a run's progress).
        `first_records`: the size of the first segment of each process (a share of a small
        report); later segments, should more records come than expected, are full size."""
        self.layout = layout
        self._on_kept = on_kept
        self.segment_records = segment_records
        self.folder = Path(_temporary_folder())
        page = layout.page_data()
        width, height = PAPER_MM[page["paper"]]
        paper_height = (width if page["flipped"] else height) * _MM
        self.model = _HeightModel(paper_height - page["margin"]["top"] - page["margin"]["bottom"])
        self._top = page["margin"]["top"]  # where a page's first record starts
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="quire-typeset")
        self._workers = run_pool()  # the compiles themselves, in processes
        self._threads = threads
        self._pending: deque[Record] = deque()
        self._open: list[Record] = []  # the group headers open before _pending
        self._flight: deque[_Segment] = deque()
        self._joiner = PdfJoiner(self.folder / "report.pdf", overlays=layout.has_stamps)
        self._totals: list[list[str]] = []  # the page totals' texts of each page kept
        self._variables: dict[str, Any] = dict(layout.page_totals.start())  # after them
        self._bookmarks: list[tuple[int, str, int]] = []  # (level, title, page from 0)
        self._pages = 0
        self._segments = 0
        self.repairs = 0
        self.compiled_segments = 0
        self._input_done = False
        self._tail = first_records or segment_records  # records a segment (see _submit)
        # The page stamps' specimens typeset ahead, and the (total, specimens) they are for.
        self._guess: tuple[tuple[int, list[tuple[int, str]]], Future[Path]] | None = None
        # While the first rows are still being loaded: cutting waits for it (see _cut).
        self._calibration: Future[None] | None = self._pool.submit(self._calibrate)

    def _calibrate(self) -> None:
        """Measure every band once, with one-line sample values, before any row arrives."""
        folder = self.folder / "calibration"
        folder.mkdir()
        bands = [{**band, "page_break": False} for band in self.layout.bands]
        samples = [[i, _samples(band)] for i, band in enumerate(bands)]
        events = [*samples, samples[0]] if samples else []
        self.layout.write_folder(folder, events, marked=[True] * len(events), bands=bands)
        marks = self._marked(folder, {"mode": "segment"})
        self.model.learn(events, sorted(marks, key=lambda m: m.record))

    # -- feeding -----------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        """Whether no record has come yet."""
        return self._segments == 0 and not self._pending

    def add(self, records: Sequence[Record]) -> None:
        self._pending.extend(records)
        self._cut()

    def finish(self) -> tuple[Path, int]:
        """Typeset what is left, number the pages, complete the joined PDF; it and its pages."""
        self._input_done = True
        # What is left is cut in one piece per worker that is free (per worker when none
        # is), so that none waits for the last.
        idle = self._threads - len(self._flight)
        share = -(-len(self._pending) // (idle if idle > 0 else self._threads))
        self._tail = min(self.segment_records, max(share, _TAIL_RECORDS))
        self._kept()
        try:
            self._cut()
            if self.layout.has_stamps:
                self._guess_specimens()
            while self._flight or self._pending:
                if self._flight:
                    self._settle(self._flight.popleft())
                self._cut()
            if self.layout.has_stamps:
                self._stamp_pages()
            self._joiner.finish(self.layout.definition.title, self._bookmarks)
            return self.folder / "report.pdf", self._pages
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def discard(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._joiner.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- cutting -----------------------------------------------------------------------------

    def _cut(self) -> None:
        """Cut segments from the pending records while it is known where they may start."""
        if self._pending and self._calibration is not None:
            self._calibration.result()
            self._calibration = None
        while self._pending:
            if self._flight and self._flight[-1].predicted is None:
                # a segment that carries its last page decides where the next one starts
                while self._flight:
                    self._settle(self._flight.popleft())
                continue
            records = list(self._pending)
            predicted = None
            if self.repairs <= _MAX_REPAIRS:
                predicted = self.model.paginate(self.layout.bands, records)
            offset = self._pages + sum(s.predicted[-1] for s in self._flight if s.predicted)
            if predicted is None:  # nothing known yet: cut anywhere, carry the last page
                if len(records) < self._tail and not self._input_done:
                    return
                self._submit(records[: self._tail], offset, None, None)
                continue
            cut = _page_boundary(predicted, self._tail)
            if cut is None:
                if not self._input_done:
                    return
                self._submit(records, offset, predicted, None)
            else:
                self._submit(records[:cut], offset, predicted[:cut], records[cut])

    def _submit(
        self, records: list[Record], offset: int, predicted: list[int] | None, probe: Record | None
    ) -> None:
        for _ in records:
            self._pending.popleft()
        segment = _Segment(self._segments, records, offset, predicted, probe, self._open)
        self._open = self.layout.carry(self._open, records)
        self._segments += 1
        if self._segments >= self._threads and not self._input_done:
            self._tail = self.segment_records  # the first shares are out: full size from here
        segment.future = self._pool.submit(self._typeset, segment)
        self._flight.append(segment)
        while len(self._flight) > self._threads:  # backpressure: bounded work in flight
            self._settle(self._flight.popleft())

    # -- typesetting -------------------------------------------------------------------------

    def _typeset(self, segment: _Segment) -> tuple[Path, list[_Mark]]:
        folder = self.folder / f"segment-{segment.number:05d}"
        folder.mkdir()
        events = segment.records + ([segment.probe] if segment.probe is not None else [])
        marked = [True] * len(events)
        if segment.predicted is not None and not segment.full_marks:
            marked = _page_starts(segment.predicted, len(events))
        self.layout.write_folder(folder, events, segment.open_groups, marked=marked)
        inputs = {"mode": "segment", "offset": str(segment.offset)}
        marks = self._marked(folder, inputs)
        (folder / "data.json").unlink()
        return folder / "segment.pdf", marks

    def _settle(self, segment: _Segment) -> None:
        """Keep the pages a segment got right; carry the rest into what follows."""
        assert segment.future is not None
        path, marks = segment.future.result()
        self.compiled_segments += 1
        count = len(segment.records)
        real = sorted((m for m in marks if m.record < count), key=lambda m: m.record)
        self.model.learn(segment.records, real)
        predicted = segment.predicted
        probed = segment.probe is None or any(m.record == count for m in marks)
        if predicted is not None and probed and _as_predicted(predicted, marks, self._top):
            self._keep(segment.records, path, predicted[-1], predicted)
            return
        if not segment.full_marks and predicted is not None:  # find where pages really broke
            self.repairs += 1
            again = _Segment(self._segments, segment.records, segment.offset, predicted,
                             segment.probe, segment.open_groups, full_marks=True)  # fmt: skip
            self._segments += 1
            path, marks = self._typeset(again)
            real = sorted((m for m in marks if m.record < count), key=lambda m: m.record)
        pages = [m.page for m in real]
        last = pages[-1] if pages else 0
        if segment.probe is None and self._input_done and not self._pending and not self._flight:
            self._keep(segment.records, path, last, pages)  # the very end: keep everything
            return
        carried = [r for r, page in zip(segment.records, pages, strict=True) if page == last]
        kept = segment.records[: len(segment.records) - len(carried)]
        self._open = self.layout.carry(segment.open_groups, kept)
        self._keep(segment.records, path, last - 1, pages)
        later = [r for s in self._flight for r in s.records]
        self._flight.clear()  # typeset from a wrong start: their results are dropped
        self._pending.extendleft(reversed(carried + later))

    def _keep(
        self, records: Sequence[Record], path: Path, pages: int, page_of: Sequence[int]
    ) -> None:
        """Keep the first `pages` pages of a segment; note the bookmarks and totals on them."""
        self._joiner.add(path, pages)  # written out now, while later segments typeset
        path.unlink()
        levels = self.layout.group_header_levels
        for record, page in zip(records, page_of, strict=True):
            if page > pages:
                break
            if record[0] in levels:
                title = " ".join(str(c) for c in record[1] if c) or "-"
                self._bookmarks.append((levels[record[0]], title, self._pages + page - 1))
        texts, self._variables = self._page_totals(records, page_of, pages, self._variables)
        self._totals += texts
        self._pages += pages
        self._kept()

    def _page_totals(
        self,
        records: Sequence[Record],
        page_of: Sequence[int],
        pages: int,
        variables: dict[str, Any],
    ) -> tuple[list[list[str]], dict[str, Any]]:
        """The page totals' texts of the first `pages` pages of these records (`variables`:
        before them), and the variables after them."""
        totals = self.layout.page_totals
        if not totals:
            return [], variables
        page_ends: list[dict[str, Any]] = []  # the variables after each page's last row
        after = variables
        for record, page in zip(records, page_of, strict=True):
            if page > pages:
                break
            while len(page_ends) < page - 1:
                page_ends.append(after)
            if len(record) > 2:  # a detail record, with the variables after it
                after = record[2]
        page_ends += [after] * (pages - len(page_ends))
        texts = []
        for end in page_ends:
            texts.append(totals.page_texts(variables, end))
            variables = end
        return texts, variables

    def _kept(self) -> None:
        if self._on_kept is not None:
            self._on_kept(self._pages)

    def _marked(self, folder: Path, inputs: dict[str, str]) -> list[_Mark]:
        """Typeset `folder` to its segment.pdf in a worker; the markers read back."""
        found = self._run(self._workers.typeset_marked, folder, inputs, folder / "segment.pdf")
        return [_Mark(*mark) for mark in found]

    def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except TypstFailed as error:
            raise RenderError(f"typesetting failed: {error}") from None

    # -- stamping ----------------------------------------------------------------------------

    def _stamp_pages(self) -> None:
        """Lay the page numbers and totals over the joined pages, now that all are known.

        They are stamped from specimens typeset once (engine.page_stamps): typeset ahead
        by `_guess_specimens` where the guess was right. If the specimens cannot stand for
        every page, the texts are typeset SEGMENT_PAGES pages at a time, by both workers at
        once, and each chunk is written into the joined PDF when ready.
        """
        total = self._pages
        texts, shown, fields = self._stamp_texts(self._totals, total)
        guess, self._guess = self._guess, None
        if guess is not None and guess[0] == (total, shown):
            path = guess[1].result()
        else:
            path = self._typeset_specimens(total, shown, fields, "specimens")
        if self._joiner.stamp(path, shown, texts):
            return
        inputs = {"mode": "numbers", "total": str(total)}
        compile_pdf = self._workers.compile_pdf
        chunks: list[tuple[int, Path, Future[Any]]] = []
        for start in range(0, total, SEGMENT_PAGES):
            folder = self.folder / f"overlay-{start:06d}"
            folder.mkdir()
            self.layout.write_folder(folder, [], overlay=texts[start : start + SEGMENT_PAGES])
            path = folder / "overlay.pdf"
            chunks.append(
                (start, path, self._pool.submit(self._run, compile_pdf, folder, inputs, path))
            )
        for start, path, future in chunks:
            future.result()
            self._joiner.overlay(path, start)
            path.unlink()

    def _guess_specimens(self) -> None:
        """Once every record is in a segment whose pages are predicted, the texts laid over
        the pages are known as the predictions stand: their specimens are typeset at once,
        beside the last segments, rather than after them. `_stamp_pages` uses them only if
        the pages came out as predicted (the same total, the same specimens)."""
        if self._pending or any(s.predicted is None for s in self._flight):
            return
        totals, variables, total = list(self._totals), self._variables, self._pages
        for segment in self._flight:
            assert segment.predicted is not None
            pages = segment.predicted[-1]
            texts, variables = self._page_totals(
                segment.records, segment.predicted, pages, variables
            )
            totals += texts
            total += pages
        _, shown, fields = self._stamp_texts(totals, total)
        future = self._pool.submit(self._typeset_specimens, total, shown, fields, "guess")
        self._guess = ((total, shown), future)

    def _stamp_texts(
        self, totals: list[list[str]], total: int
    ) -> tuple[list[Texts], list[tuple[int, str]], int]:
        """Each page's texts (its number, then its totals), the specimens they need, and
        how many fields a page has."""
        numbered = self.layout.has_page_numbers
        texts: list[Texts] = [
            [str(page) if numbered else None, *page_totals]
            for page, page_totals in enumerate(totals or [[]] * total, start=1)
        ]
        fields = len(texts[0]) if texts else 1
        shapes = [{shape(page[field] or "") for page in texts} for field in range(fields)]
        return texts, specimens(shapes), fields

    def _typeset_specimens(
        self, total: int, shown: list[tuple[int, str]], fields: int, name: str
    ) -> Path:
        """Typeset the specimens `shown` ((field, text) a page) into a folder `name`."""
        overlay = [[text if f == field else None for f in range(fields)] for field, text in shown]
        folder = self.folder / name
        folder.mkdir()
        self.layout.write_folder(folder, [], overlay=overlay or [[None] * fields])
        path = folder / "specimens.pdf"
        inputs = {"mode": "numbers", "total": str(total)}
        self._run(self._workers.compile_pdf, folder, inputs, path)
        return path


def _page_starts(predicted: Sequence[int], events: int) -> list[bool]:
    """Mark the first record of each predicted page, the last record (without a probe
    after it, nothing else would tell if it went over to a new page) and the probe.

    Records are laid out in order, so if each page's first record starts the page it was
    predicted on, every record before the next one is on that page: none went over
    (the next would not start its page) and none more would have fit (the next would
    be on the page before). A page's last record need not be marked (measured: half
    the markers, 1.5% of a segment's work).
    """
    marked = [False] * events
    for index, page in enumerate(predicted):
        marked[index] = index == 0 or predicted[index - 1] != page
    marked[len(predicted) - 1 :] = [True] * (events - len(predicted) + 1)
    return marked


def _as_predicted(predicted: Sequence[int], marks: Iterable[_Mark], top: float) -> bool:
    """Whether the marked records are on the pages predicted for them, and each that
    starts a page (the probe starts the next) at its top, `top` points down: then every
    record between them is on the page predicted for it, as one continuous layout would
    put it."""
    pages = [0, *predicted, predicted[-1] + 1]  # from 1: a page 0 before, the probe's
    return all(
        pages[m.record + 1] == m.page and (pages[m.record] == m.page or abs(m.y - top) <= _EPSILON)
        for m in marks
    )


def _page_boundary(predicted: Sequence[int], at_least: int) -> int | None:
    """The first record, from `at_least` on, that starts a new page."""
    for index in range(max(at_least, 1), len(predicted)):
        if predicted[index] != predicted[index - 1]:
            return index
    return None


_EMPTY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


def _samples(band: dict[str, Any]) -> list[str]:
    """One-line values for a band's cells, in cell order; charts get an empty drawing."""
    cells = sorted(
        (cell["i"], cell["k"]) for row in band["rows"] for cell in row.get("cells", ())
        if cell["k"] in ("value", "chart")
    )  # fmt: skip
    return [_EMPTY_SVG if kind == "chart" else "0" for _, kind in cells]


def _temporary_folder() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="quire-segments-")
