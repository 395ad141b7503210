"""The HTML sink: the report as one standalone page, streamed row by row to its file.

A table row for each row of a band, with the formatted texts the PDF shows, labels
included; lines become borders, styles inline CSS. The column header is the table's
`<thead>`, so a browser repeats it on every printed page. Every text is escaped: a report
shows data, and data may hold markup. Nothing is loaded from elsewhere: the report's fonts
are embedded, and charts are inline SVG drawn in them, as in the PDF.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from engine.bands import BandCells, CellSpec, report_bands
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
from engine.fill import BandEvent
from engine.html_assets import font_faces, inline_svg
from engine.plan import QueryPlan
from engine.sinks.base import TextFileSink

__all__ = ("HtmlSink",)

_CSS = """body{font-family:Inter,sans-serif;color:#111827;margin:15mm;font-size:%spt}
table{border-collapse:collapse;width:100%%}
td,th{padding:2pt 5pt;text-align:left;vertical-align:top;font-weight:inherit}
table.title{margin-bottom:8pt}
svg{max-width:100%%;height:auto}
@media print{body{margin:0}}"""

_Cell = tuple[str, str | CellSpec, str]  # opening tag, label HTML or a value's spec, closing


@dataclass(frozen=True)
class _Row:
    start: str  # the <tr> with the band's style and its lines as borders
    cells: list[_Cell]


class HtmlSink(TextFileSink):
    """A `<table>` of the report's bands, in print order."""

    def __init__(
        self,
        definition: ReportDefinition,
        plan: QueryPlan,
        output: Path,
        charts: ChartData | None = None,
    ) -> None:
        self.definition = definition
        self.output = output
        self.charts = charts if charts is not None else ChartData(plan.charts)
        if plan.charts is not None and plan.charts.charts:
            from engine.typst_writer import TypstLayout  # only where there are charts

            TypstLayout(definition, plan, self.charts)  # sizes the charts as the PDF does
        bands = report_bands(definition, plan, self.charts)
        rows = {key: _split(cells.band) for key, cells in bands.items()}
        widest = max((len(r) for k, v in rows.items() if k != "title" for r, _ in v), default=1)
        self._rows = {
            key: _layout(bands[key], split, _width(split) if key == "title" else widest)
            for key, split in rows.items()
        }
        self._table = False

    def write(self, events: Sequence[BandEvent]) -> None:
        parts: list[str] = []
        for event in events:
            if event.band == "title":
                if "title" in self._rows:
                    parts += ['<table class="title">\n', *self._band("title", event), "</table>\n"]
                parts.append(self._open_table(event))
            elif event.band in self._rows:
                parts.extend(self._band(event.band, event))
        self.file().write("".join(parts))

    def head(self) -> str:
        return (
            f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(self.definition.title)}</title>\n"
            f"<style>\n{font_faces()}{_CSS % self.definition.page.font_size}\n</style>\n"
            "</head>\n<body>\n"
        )

    def tail(self) -> str:
        opening = "" if self._table else self._open_table(None)
        return opening + "</tbody>\n</table>\n</body>\n</html>\n"

    def _open_table(self, event: BandEvent | None) -> str:
        """The report's table, headed by the column header."""
        self._table = True
        head = "".join(self._band("column_header", event)) if event else ""
        return (
            '<table class="report">\n'
            + (f"<thead>\n{head}</thead>\n" if head else "")
            + "<tbody>\n"
        )

    def _band(self, key: str, event: BandEvent) -> Iterator[str]:
        for row in self._rows.get(key, ()):
            yield row.start
            for start, content, end in row.cells:
                yield start
                yield content if isinstance(content, str) else _value(content, event)
                yield end
            yield "</tr>\n"


_Element = LabelElement | FieldElement | AggregateElement | ChartElement
_Split = list[tuple[list[_Element], list[LineElement]]]


def _split(band: Band) -> _Split:
    """The band's rows of cells (a line or a row break ends a row), each with the lines above
    it; a last entry without cells holds the lines below the last row."""
    rows: _Split = [([], [])]
    for element in band.elements:
        if isinstance(element, LineElement | RowBreakElement):
            if rows[-1][0]:
                rows.append(([], []))
            if isinstance(element, LineElement):
                rows[-1][1].append(element)
        elif not isinstance(element, PageNumberElement):
            rows[-1][0].append(element)
    return rows if rows[-1] != ([], []) else rows[:-1]


def _layout(cells: BandCells, rows: _Split, columns: int) -> list[_Row]:
    """Table rows for the band: its style on each row, its lines as the rows' borders."""
    band = cells.band
    specs = {id(spec.element): spec for spec in cells.cells}
    tag = "th" if cells.key == "column_header" else "td"
    style = _css(band) + ([f"background:{band.fill}"] if band.fill else [])
    out: list[tuple[list[str], list[_Element]]] = []
    for elements, lines in rows:
        rule = f"{lines[-1].thickness}pt solid {lines[-1].color}" if lines else None
        if not elements and out:  # the lines below the last row
            out[-1][0].append(f"border-bottom:{rule}")
        else:
            out.append(([f"border-top:{rule}"] if rule else [], elements))
    return [_Row(_tag("tr", style + css), _cells(row, specs, columns, tag)) for css, row in out]


def _cells(
    elements: list[_Element], specs: dict[int, CellSpec], columns: int, tag: str
) -> list[_Cell]:
    """The row's cells; right-aligned cells at its end take the table's last columns."""
    if not elements:
        return [(_tag(tag, [], columns), "", f"</{tag}>")]
    right = len(elements)
    while right > 0 and elements[right - 1].align == "right":
        right -= 1
    wide = max(right - 1, 0)  # the cell that spans the columns this row has no cells for
    cells: list[_Cell] = []
    for i, element in enumerate(elements):
        css = [f"text-align:{element.align}"] if element.align != "left" else []
        css += _css(element) if isinstance(element, Style) else []
        span = columns - len(elements) + 1 if i == wide else 1
        text = element.text if isinstance(element, LabelElement) else None
        content = escape(text) if text is not None else specs.get(id(element), "")
        cells.append((_tag(tag, css, span), content, f"</{tag}>"))
    return cells


def _tag(name: str, css: list[str], span: int = 1) -> str:
    attributes = f' colspan="{span}"' if span > 1 else ""
    attributes += f' style="{escape(";".join(css))}"' if css else ""
    return f"<{name}{attributes}>"


def _value(spec: CellSpec, event: BandEvent) -> str:
    if spec.kind == "chart":  # inline, so that it is drawn in the page's (the report's) font
        return inline_svg(spec.value(event))
    return escape(spec.text(event))


def _width(rows: _Split) -> int:
    return max((len(cells) for cells, _ in rows), default=1)


def _css(style: Style) -> list[str]:
    """A style as CSS declarations."""
    css: list[str] = []
    if style.bold is not None:
        css.append(f"font-weight:{'bold' if style.bold else 'normal'}")
    if style.italic is not None:
        css.append(f"font-style:{'italic' if style.italic else 'normal'}")
    if style.color:
        css.append(f"color:{style.color}")
    if style.size:
        css.append(f"font-size:{style.size}pt")
    return css
