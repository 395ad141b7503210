"""The Typst sink: band events become data for the static template, typeset to PDF/PNG/SVG.

The layout of every band (widths resolved to points, alignments, styles, label texts) and
the formatted cells of every event are written as JSON next to a copy of
`templates/report.typ`; Typst reads them as data. Beside them, `rows.typ` holds the loop
that lays out the records of each band of values and labels, written out from the band's
widths and alignments (names, numbers and keywords this module makes, never a text or a
style from a definition or a row). Fonts come only from the package's own folder, so a report
looks the same on every machine.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import orjson

from engine.bands import CellSpec, report_bands
from engine.chart_query import MIN_CHART_PT
from engine.charts import ChartData
from engine.definition import (
    AggregateElement,
    Band,
    ChartElement,
    FieldElement,
    LabelElement,
    LineElement,
    PageNumberElement,
    ReportDefinition,
    RowBreakElement,
    Style,
)
from engine.errors import DefinitionError, Issue, RenderError
from engine.fill import BandEvent
from engine.layout import (
    FONT_DIR,
    FONT_FAMILY,
    HAIR_PT,
    PAPER_MM,
    content_width_pt,
    fits_one_line,
    length_pt,
    resolve_widths,
)
from engine.page_totals import PageTotals
from engine.plan import QueryPlan, band_slots
from engine.typst_worker import TypstFailed, run_pool, typst_fonts, typst_message

__all__ = ("FONT_DIR", "TEMPLATE", "TypstLayout", "compile_source", "typst_fonts", "typst_message")

TEMPLATE = Path(__file__).parent / "templates" / "report.typ"
OutputFormat = Literal["pdf", "png", "svg"]
LINES_PER_RUN = 64  # records the template lays out as the lines of one paragraph, at most
_GAP = 4.0  # points between the page header/footer and the body


@dataclass
class _BandSpec:
    index: int
    cells: list[CellSpec] = field(default_factory=list)

    @cached_property
    def row_only(self) -> bool:
        """All cells come from the row: no variables to look up."""
        return all(cell.column is not None for cell in self.cells)

    @cached_property
    def row_cells(self) -> list[tuple[int, Any]]:
        return [(cell.column, cell.format) for cell in self.cells if cell.column is not None]


class TypstLayout:
    """The template's view of a definition: band layouts, and how to turn events into cells."""

    def __init__(
        self, definition: ReportDefinition, plan: QueryPlan, charts: ChartData | None = None
    ) -> None:
        self.definition = definition
        self.plan = plan
        # The run's charts: the layout gives them their sizes, records draw them.
        self.charts = charts if charts is not None else ChartData(plan.charts)
        self.bands: list[dict[str, Any]] = []
        self._specs: dict[str, _BandSpec] = {}
        self._cells = report_bands(definition, plan, self.charts)
        self.page_totals = PageTotals(definition, band_slots(definition))
        page = definition.page
        self._width = content_width_pt(page)
        issues: list[Issue] = []
        bands = definition.bands
        named: list[tuple[str, str, Band | None]] = [
            ("title", "bands.title", bands.title),
            ("page_header", "bands.page_header", bands.page_header),
            ("column_header", "bands.column_header", bands.column_header),
            ("detail", "bands.detail", bands.detail),
            ("summary", "bands.summary", bands.summary),
            ("page_footer", "bands.page_footer", bands.page_footer or _default_footer()),
            ("no_data", "bands.no_data", bands.no_data),
        ]
        for i, group in enumerate(definition.groups):
            named.append((f"group_header:{i}", f"groups[{i}].header", group.header))
            footer = group.footer
            if footer is None and group.reprint_header and group.header is not None:
                footer = Band(elements=[])  # prints nothing; marks where the group ends
            named.append((f"group_footer:{i}", f"groups[{i}].footer", footer))
        for key, path, band in named:
            if band is not None:
                try:
                    self._add(key, path, band)
                except DefinitionError as error:
                    issues.extend(error.issues)
        if issues:
            raise DefinitionError(issues)

    # -- layout ------------------------------------------------------------------------------

    def _add(self, key: str, path: str, band: Band) -> None:
        spec = _BandSpec(len(self.bands))
        values = iter(self._cells[key].cells if key in self._cells else ())
        size = self.definition.page.font_size
        rows: list[dict[str, Any]] = []
        pending: list[tuple[int, Any]] = []

        def flush() -> None:
            if not pending:
                return
            try:
                widths = resolve_widths([e.width for _, e in pending], self._width, size)
            except ValueError as error:
                raise DefinitionError(
                    [Issue(f"{path}.elements[{pending[0][0]}]", str(error))]
                ) from None
            cells = [
                self._cell(spec, values, e, w) for (_, e), w in zip(pending, widths, strict=True)
            ]
            rows.append({"kind": "cells", "cells": cells})
            pending.clear()

        for j, element in enumerate(band.elements):
            if isinstance(element, LineElement):
                flush()
                rows.append(
                    {"kind": "line", "thickness": element.thickness, "color": element.color}
                )
            elif isinstance(element, RowBreakElement):
                flush()
            else:
                pending.append((j, element))
        flush()
        # Below the last row nothing moves, and without a fill nothing shrinks: the
        # default footer, say, needs no hidden text.
        for row in rows if band.fill is not None else rows[:-1]:
            if row["kind"] == "cells":
                _mark_strut(row["cells"], (_style(band) or {}).get("size") or size)
        kind, _, level = key.partition(":")
        reprinted = bool(level) and self.definition.groups[int(level)].reprint_header
        data: dict[str, Any] = {
            "rows": rows,
            "fill": band.fill,
            "pad": length_pt(band.padding, size),
            "page_break": band.page_break_before,
            "level": int(level) if kind == "group_header" else None,
            "reprint": reprinted and kind == "group_header",
            "close": int(level) if reprinted and kind == "group_footer" else None,
            "style": _style(band),
        }
        data["simple"] = _simple(data)
        self.bands.append(data)
        self._specs[key] = spec

    def _cell(
        self, spec: _BandSpec, values: Iterator[CellSpec], element: Any, width: float
    ) -> dict[str, Any]:
        style = _style(element) if isinstance(element, Style) else None
        cell: dict[str, Any] = {"w": round(width, 3), "a": element.align, "style": style}
        if isinstance(element, LabelElement):
            cell.update(k="text", t=element.text)
        elif isinstance(element, PageNumberElement):
            cell.update(k="page", parts=_page_parts(element.text))
        elif id(element) in self.page_totals.cells:  # computed by the typesetter
            next(values)
            cell.update(self.page_totals.cells[id(element)])
        elif isinstance(element, FieldElement | AggregateElement):
            cell.update(k="value", i=len(spec.cells))
            spec.cells.append(next(values))
        elif isinstance(element, ChartElement):
            chart = next(values)
            if width < MIN_CHART_PT:  # known only here, once fr and % widths are resolved
                message = f"the chart is {width:.0f}pt wide, less than {MIN_CHART_PT:g}pt (7mm)"
                raise DefinitionError([Issue(f"{chart.name}.width", message, "make it wider")])
            height = length_pt(element.height, self.definition.page.font_size)
            cell.update(k="chart", i=len(spec.cells), h=round(height, 3))
            spec.cells.append(chart)
            self.charts.set_size(chart.name, width, height)
        return cell

    # -- data --------------------------------------------------------------------------------

    @property
    def group_header_levels(self) -> dict[int, int]:
        """Band index of each group header, with its group level (for bookmarks)."""
        return {i: band["level"] for i, band in enumerate(self.bands) if band["level"] is not None}

    def write_folder(
        self,
        folder: Path,
        events: Sequence[list[Any]],
        open_groups: list[list[Any]] | None = None,
        *,
        marked: Sequence[bool] | None = None,
        bands: list[dict[str, Any]] | None = None,
        overlay: Sequence[Sequence[str | None]] = (),
    ) -> None:
        """Put the template and its data.json in `folder`: the layout, the groups open
        where the events start (reprinted on each page), and the events. The records
        `marked` says carry markers: those of a segment, which leaves page totals to be
        stamped (a state update per row costs Typst about a fifth of its time, and even
        one per page 7% of a segment's work). `overlay`: the texts of each overlay page
        (the template's numbers mode)."""
        data = {
            "title": self.definition.title,
            "page": self.page_data(),
            "bands": self.bands if bands is None else bands,
            "open": open_groups or [],
            "running": self.page_totals.texts(self.page_totals.start()),
            "items": self._items(events, marked),
            "overlay": overlay,
        }
        shutil.copyfile(TEMPLATE, folder / "report.typ")
        (folder / "rows.typ").write_text(self._rows_module, encoding="utf-8")
        # orjson: 5x as fast as the standard library's C encoder (a 100K-row report: 0.17
        # -> 0.035 s of CPU, which the Typst workers share), and it writes UTF-8 itself.
        (folder / "data.json").write_bytes(orjson.dumps(data))

    @cached_property
    def _rows_module(self) -> str:
        """`rows.typ`: for each band of one row of values and labels (most detail bands),
        perhaps ruled off below, a function that, given the band's rule and prepared cells
        (their text styles, the labels' ready boxes), makes the one laying out records as
        lines.
        Written out per band, each cell costs Typst two operations (about 2,500
        instructions each) instead of six in a loop over the cells, and a value at the
        left needs no `align`; one aligned otherwise is pushed by fractional spacing,
        which lays out faster than `align` and to the same place. Measured on a
        2,059-record segment: 6% fewer instructions (valgrind). A value in the last cell
        of a band as wide as the page needs no box either: the line ends where the box
        would, and a box costs Typst a layout of its own (3% of a segment's instructions,
        the texts where they were). Only names, numbers and keywords this module makes
        are written here, never a text or a style."""
        lines = [
            "// Written by engine/typst_writer.py from the report's band layout: see there.",
            "#let push = h(1fr)",
            "#let br = linebreak()",
            "#let unrolled = (:)",
            "#let hairs = (:)",
        ]
        for index, band in enumerate(self.bands):
            rows = band["rows"]
            if not band["simple"] or not rows[0]["cells"]:
                continue  # the template lays out only simple bands as lines
            cells = rows[0]["cells"]
            values = [c["i"] for c in cells if c["k"] == "value"]
            if any(c["k"] not in ("value", "text") for c in cells) or values != list(
                range(len(values))
            ):
                continue
            boxed = sum(float(f"{cell['w']:.3f}") for cell in cells)  # as Typst reads them
            full_width = abs(boxed - self._width) < 2 * HAIR_PT  # a row with fr columns
            if full_width:  # the line ends where the last box would
                lines.append(f'#hairs.insert("{index}", {self._width - boxed!r}pt)')
            lines.append(f'#unrolled.insert("{index}", (rule, cells) => {{')
            for k, cell in enumerate(cells):  # looked up once, not once a record
                if cell["k"] == "text":
                    lines.append(f"  let f{k} = cells.at({k}).fixed")
                elif cell["style"]:
                    lines.append(f"  let s{k} = cells.at({k}).style")
            names = "".join(f"v{i}, " for i in values)
            loop = f"for ({names}) in events" if values else "for _ in events"
            lines.append(f"  events => {loop} {{")
            if len(rows) == 2:  # the rule below, drawn from the line's start
                lines.append("    rule")
            for k, cell in enumerate(cells):
                if cell["k"] == "text":
                    lines.append(f"    f{k}")
                    continue
                v = f"v{cell['i']}"
                if cell["style"]:
                    v = f"text(..s{k}, {v})"
                body = {"left": v, "right": f"[#push#{v}]", "center": f"[#push#{v}#push]"}
                if full_width and k == len(cells) - 1:  # it ends where the line does
                    lines.append(f"    {body[cell['a']]}")
                else:
                    lines.append(f"    box(width: {cell['w']:.3f}pt, {body[cell['a']]})")
            lines.append("    br\n  }\n})")
        return "\n".join(lines) + "\n"

    @cached_property
    def _join_limits(self) -> dict[int, list[tuple[int, Callable[[str], bool]]]]:
        """Bands whose records may be joined into runs, the lines of one paragraph (the
        template's main loop): simple bands with no fill, no page break, labels that fit
        on one line; for each value cell, its index and the test of its text."""
        size = self.definition.page.font_size
        limits: dict[int, list[tuple[int, Callable[[str], bool]]]] = {}
        for index, band in enumerate(self.bands):
            rows = band["rows"]
            if not band["simple"] or band["fill"] or band["page_break"]:
                continue
            fits: list[tuple[int, Callable[[str], bool]]] = []
            for cell in rows[0]["cells"]:
                em = (cell["style"] or {}).get("size") or size
                if cell["k"] == "value":
                    fits.append((cell["i"], fits_one_line(cell["w"], em)))
                elif cell["k"] != "text" or not fits_one_line(cell["w"], em)(cell["t"]):
                    break  # a chart, say: never joined
            else:
                limits[index] = fits
        return limits

    def _joins(self, record: list[Any]) -> bool:
        fits = self._join_limits.get(record[0])
        if fits is None:
            return False
        cells = record[1]
        return all(fit(cells[i]) for i, fit in fits)

    def _items(self, events: Sequence[list[Any]], marked: Sequence[bool] | None) -> list[Any]:
        """The records as the template reads them, in one pass: runs of records it lays out
        as the lines of one paragraph (`{"r": band, "e": [values, ...]}`, and `"u":
        [running texts, ...]` when they carry them), marked records (`{"m": number, "e":
        record}`) and the other records as they are. Grouped here, so that the template
        spends no operation per record on deciding. A detail record's variables become the
        texts page bands show, unless the records are marked (a segment's)."""
        texts = self.page_totals.texts if self.page_totals else None
        items: list[Any] = []
        run: dict[str, Any] | None = None
        for number, event in enumerate(events):
            record = event
            if texts is not None and len(event) > 2:  # a detail record and its variables
                record = event[:2] if marked is not None else [*event[:2], texts(event[2])]
            if marked is not None and marked[number]:
                items.append({"m": number, "e": record})
                run = None
            elif self._joins(record):
                if run is None or run["r"] != record[0] or len(run["e"]) == LINES_PER_RUN:
                    run = {"r": record[0], "e": []}
                    if len(record) > 2:
                        run["u"] = []
                    items.append(run)
                run["e"].append(record[1])
                if len(record) > 2:
                    run["u"].append(record[2])
            else:
                items.append(record)
                run = None
        return items

    def carry(self, open_groups: list[list[Any]], records: Iterable[list[Any]]) -> list[list[Any]]:
        """The group headers reprinted on each page (`[level, band index, cells]`,
        outermost first) open after `records`, given those open before them."""
        if not self.reprints:
            return open_groups
        bands = self.bands
        for record in records:
            band = bands[record[0]]
            if band["reprint"]:
                level = band["level"]
                kept = (g for g in open_groups if g[0] < level)
                open_groups = [*kept, [level, record[0], record[1]]]
            elif band["close"] is not None:
                open_groups = [g for g in open_groups if g[0] < band["close"]]
        return open_groups

    @cached_property
    def reprints(self) -> bool:
        return any(band["reprint"] for band in self.bands)

    @property
    def has_detail(self) -> bool:
        """Whether the report prints a record for each row (most do; a summary may not)."""
        return "detail" in self._specs

    @property
    def has_page_numbers(self) -> bool:
        return any(self._stamps(i, ("page",)) for i in range(len(self.bands)))

    @property
    def has_stamps(self) -> bool:
        """Whether page bands show what segments leave to be laid over their pages."""
        return any(self._stamps(i) for i in range(len(self.bands)))

    def _stamps(self, index: int | None, kinds: tuple[str, ...] = ("page", "total")) -> bool:
        if index is None:
            return False
        rows = self.bands[index]["rows"]
        return any(cell.get("k") in kinds for row in rows for cell in row.get("cells", ()))

    def page_data(self) -> dict[str, Any]:
        page = self.definition.page
        size = page.font_size
        header = [self._specs.get(k) for k in ("page_header", "column_header")]
        header += [s for k, s in self._specs.items() if self.bands[s.index]["reprint"]]
        footer = self._specs.get("page_footer")
        header_height = sum(self._height(s.index) for s in header if s is not None)
        footer_height = self._height(footer.index) if footer else 0.0
        header_top = length_pt(page.margins.top, size)  # where the page band starts
        top = header_top + header_height + (_GAP if header_height else 0)
        bottom = (
            length_pt(page.margins.bottom, size) + footer_height + (_GAP if footer_height else 0)
        )
        column_header = self._specs.get("column_header")
        return {
            "paper": page.size,
            "flipped": page.orientation == "landscape",
            "font": FONT_FAMILY,
            "font_size": size,
            "margin": {
                "top": top,
                "bottom": bottom,
                "left": length_pt(page.margins.left, size),
                "right": length_pt(page.margins.right, size),
            },
            "header_top": header_top,
            "header_gap": _GAP,
            "footer_gap": _GAP,
            "content_width": self._width,
            "page_header": self.band_index("page_header"),
            "page_footer": self.band_index("page_footer"),
            "column_header": column_header.index if column_header else None,
            "column_header_in_body": "title" in self._specs and column_header is not None,
            "stamps_in_header": self._stamps(self.band_index("page_header")),
            "stamps_in_footer": self._stamps(self.band_index("page_footer")),
        }

    def records_per_page(self) -> float:
        """About how many records of the body's bands (detail, group headers and footers)
        a page holds: the body's height over the lowest such band's. Band heights are
        upper estimates, so pages hold somewhat more (a preview reads from this how many
        rows its pages need)."""
        page = self.definition.page
        width, height = PAPER_MM[page.size]
        tall = (width if page.orientation == "landscape" else height) * 72 / 25.4
        margin = self.page_data()["margin"]
        body: float = tall - margin["top"] - margin["bottom"]
        heights = [
            self._height(spec.index)
            for key, spec in self._specs.items()
            if key == "detail" or key.startswith("group_")
        ]
        lowest = min((h for h in heights if h > 0), default=body)
        return max(1.0, body / lowest)

    def band_index(self, key: str) -> int | None:
        """The index in `bands` of the band with this key (`detail`, `group_header:0` ...)."""
        spec = self._specs.get(key)
        return spec.index if spec else None

    def _height(self, index: int) -> float:
        """An upper estimate of a band's height, to reserve room for it in the margin."""
        band = self.bands[index]
        size = self.definition.page.font_size
        height = 0.0
        for row in band["rows"]:
            if row["kind"] == "line":
                height += row["thickness"] + 2
            else:
                sizes = [size] + [
                    c["style"]["size"]
                    for c in row["cells"]
                    if c["style"] and c["style"].get("size")
                ]
                if band["style"] and band["style"].get("size"):
                    sizes.append(band["style"]["size"])
                height += max(sizes) * 1.25 + 2 * band["pad"]
        return height

    def records(self, events: Iterable[BandEvent]) -> Iterable[list[Any]]:
        """`[band index, cells]` for every event whose band the definition has."""
        specs = self._specs
        column_header = specs.get("column_header") if "title" in specs else None
        totals = self.page_totals if self.page_totals else None
        for event in events:
            spec = specs.get(event.band)
            if spec is None:
                continue
            row = event.row
            if row is not None and spec.row_only:  # the common case, kept tight: detail rows
                cells = [fmt(row[i]) for i, fmt in spec.row_cells]
            else:
                cells = [cell.text(event) for cell in spec.cells]
            if totals is not None and event.band == "detail":  # carries the running values
                yield [spec.index, cells, event.variables]
            else:
                yield [spec.index, cells]
            if event.band == "title" and column_header is not None:
                yield [column_header.index, []]


def compile_source(
    folder: Path,
    inputs: dict[str, str] | None = None,
    fmt: OutputFormat = "pdf",
    *,
    tags: bool = True,
) -> list[bytes]:
    """Typeset `folder/report.typ` (its data beside it); one PDF or one image per page.

    In a child of the process's run pool, never here: the memory Typst keeps after a
    compile (measured: 15 MB a 500-row report, kept for its last ten compiles) goes back
    when the child exits, so a long-lived server does not grow with each report it runs."""
    try:
        paths = run_pool().compile_pages(folder, inputs or {}, fmt, tags)
    except TypstFailed as error:
        raise RenderError(f"typesetting failed: {error}") from None
    pages = [path.read_bytes() for path in paths]
    for path in paths:
        path.unlink()
    return pages


def _mark_strut(cells: list[dict[str, Any]], size: float) -> None:
    """Segments leave page numbers and totals blank (they are stamped over the pages),
    and a row of nothing else would have no height: the row below it moved up, a fill
    would shrink. The tallest such cell, if no label is as tall, is marked to be hidden
    text there."""

    def height(cell: dict[str, Any]) -> float:
        return float((cell["style"] or {}).get("size") or size)

    stamped = [cell for cell in cells if cell["k"] in ("page", "total")]
    labels = [height(cell) for cell in cells if cell["k"] == "text" and cell["t"]]
    tallest = max(stamped, key=height, default=None)
    if tallest is not None and height(tallest) > max(labels, default=0.0):
        tallest["strut"] = True


def _simple(band: Mapping[str, Any]) -> bool:
    """One row of cells, perhaps ruled off below, no style of its own, not a group's
    header or footer: a band the template lays out as lines of one paragraph (the rule
    drawn from each line), alone or in runs."""
    kinds = [row["kind"] for row in band["rows"]]
    plain = band["style"] is None and band["level"] is None and band["close"] is None
    return plain and kinds in (["cells"], ["cells", "line"])


def _style(style: Style) -> dict[str, Any] | None:
    values = {k: getattr(style, k) for k in ("bold", "italic", "size", "color")}
    values = {k: v for k, v in values.items() if v is not None}
    return values or None


def _page_parts(text: str) -> list[list[str]]:
    parts: list[list[str]] = []
    for piece in re.split(r"(\{page\}|\{pages\})", text):
        if piece == "{page}":
            parts.append(["page"])
        elif piece == "{pages}":
            parts.append(["pages"])
        elif piece:
            parts.append(["text", piece])
    return parts


def _default_footer() -> Band:
    return Band(elements=[PageNumberElement(type="page_number", align="right")], size=7.5)
