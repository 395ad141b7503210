"""The XLSX sink: the report as a spreadsheet, numbers as numbers, written row by row.

xlsxwriter's constant_memory mode flushes each row as the next begins, so memory stays flat
however long the report; rows must therefore be written in order, as events arrive. Every
band's cells go in consecutive columns from A, labels included, so a footer reads "Region
total | 286 | 104,409.39". Values keep their type, shown through an Excel number format
derived from the element's Quire format. A report longer than a sheet fails loudly.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]  # ships no type information

from engine.bands import CellSpec, report_bands
from engine.definition import (
    AggregateElement,
    Band,
    FieldElement,
    LabelElement,
    LineElement,
    ReportDefinition,
    RowBreakElement,
)
from engine.errors import OutputError
from engine.fill import BandEvent
from engine.formats import format_parts
from engine.plan import QueryPlan
from engine.sinks.base import AtomicFile

__all__ = ("MAX_ROWS", "XlsxSink", "excel_format")

MAX_ROWS = 1_048_576  # rows in an Excel sheet
_MEASURED_ROWS = 2000  # column widths come from the first rows, not from every row


_Style = tuple[tuple[str, Any], ...]  # xlsxwriter format properties, hashable


@dataclass(frozen=True)
class _Cell:
    text: str | None  # a label's text, or
    spec: CellSpec | None  # a value
    style: _Style  # font and fill, without the number format
    format: Any  # xlsxwriter.format.Format: the style and the number format
    is_date: bool  # the number format shows dates: ISO text is parsed to a datetime
    as_text: bool  # a format Excel cannot express: the formatted text is written


class XlsxSink:
    """One sheet: title, column header (frozen), group headers, details, footers, summary."""

    def __init__(self, definition: ReportDefinition, plan: QueryPlan, output: Path) -> None:
        self.definition = definition
        self.output = output
        self._bands = report_bands(definition, plan)
        self._book: Any = None  # xlsxwriter.Workbook, opened on the first write
        self._out: AtomicFile | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._rows: dict[str, list[list[_Cell]]] = {}
        self._widths: dict[int, int] = {}
        self._formats: dict[_Style, Any] = {}
        self._row = 0
        self._span = 1  # columns of the widest row: a band's fill reaches across them

    def write(self, events: Sequence[BandEvent]) -> None:
        sheet = self._sheet()
        for event in events:
            if event.band in self._rows:
                self._band(event.band, event)
            if event.band == "title" and "column_header" in self._rows:
                self._band("column_header", event)
                sheet.freeze_panes(self._row, 0)

    def finish(self) -> list[Path]:
        sheet = self._sheet()
        for column, width in self._widths.items():
            sheet.set_column(column, column, min(max(width + 2, 8), 60))
        try:
            self._book.close()
        except (OSError, xlsxwriter.exceptions.XlsxWriterException) as error:
            self.discard()
            raise OutputError(f"cannot write '{self.output}': {error}", "output") from None
        assert self._out is not None
        path = self._out.commit()
        self._cleanup()
        return [path]

    def discard(self) -> None:
        if self._book is not None:
            for sheet in self._book.worksheets():
                sheet._opt_close()  # no public way to drop an unclosed constant_memory book
        if self._out is not None:
            self._out.discard()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
        self._book = self._out = self._scratch = None
        self._formats = {}

    def _sheet(self) -> Any:
        """The sheet, with the workbook and the bands' cell layouts made on first use."""
        if self._book is None:
            self._out = AtomicFile(self.output)
            self._scratch = tempfile.TemporaryDirectory(prefix="quire-xlsx-")
            options = {"constant_memory": True, "tmpdir": self._scratch.name}
            self._book = xlsxwriter.Workbook(self._out.file, options | {"remove_timezone": True})
            self._book.add_worksheet("Report")
            self._rows = {key: self._layout(key) for key in self._bands}
            self._span = max(
                (len(r) for k, v in self._rows.items() if k != "title" for r in v), default=1
            )
        return self._book.worksheets()[0]

    def _layout(self, key: str) -> list[list[_Cell]]:
        """The band's cells, a spreadsheet row for each row of the band (lines end rows)."""
        cells = self._bands[key]
        specs = {id(spec.element): spec for spec in cells.cells}
        scale = 11 / self.definition.page.font_size  # Excel's default size is 11pt
        rows: list[list[_Cell]] = [[]]
        for element in cells.band.elements:
            if isinstance(element, LineElement | RowBreakElement):
                rows.append([])
                continue
            if not isinstance(element, LabelElement | FieldElement | AggregateElement):
                continue  # charts and page numbers have no place in a sheet
            style = _style(key, cells.band, element, scale)
            text = element.text if isinstance(element, LabelElement) else None
            quire = None if isinstance(element, LabelElement) else element.format
            try:
                number, is_date, as_text = *excel_format(quire), False
            except ValueError:
                number, is_date, as_text = None, False, True
            fmt = self._format(style + ((("num_format", number),) if number else ()))
            rows[-1].append(_Cell(text, specs.get(id(element)), style, fmt, is_date, as_text))
        return [row for row in rows if row]

    def _format(self, style: _Style) -> Any:
        """One xlsxwriter format per distinct style: a workbook holds at most 64,000."""
        if style not in self._formats:
            self._formats[style] = self._book.add_format(dict(style))
        return self._formats[style]

    def _band(self, key: str, event: BandEvent) -> None:
        sheet = self._sheet()
        for cells in self._rows[key]:
            if self._row >= MAX_ROWS:
                raise OutputError(
                    f"the report needs more than {MAX_ROWS:,} rows, the most an Excel sheet "
                    "holds; narrow it with a filter or a parameter, or export CSV instead",
                    "output",
                )
            for column, cell in enumerate(cells):
                text = self._put(sheet, column, cell, event)
                if self._row < _MEASURED_ROWS and key != "title":
                    self._widths[column] = max(self._widths.get(column, 0), len(text))
            fill = dict(cells[-1].style).get("bg_color")
            for column in range(len(cells), self._span if fill else 0):  # the band's fill
                sheet.write_blank(self._row, column, None, self._format((("bg_color", fill),)))
            self._row += 1

    def _put(self, sheet: Any, column: int, cell: _Cell, event: BandEvent) -> str:
        """Write one cell; return its text as printed, to size the column."""
        row, fmt, spec = self._row, cell.format, cell.spec
        if spec is None:
            sheet.write_string(row, column, cell.text or "", fmt)
            return cell.text or ""
        value = spec.value(event)
        if cell.is_date and isinstance(value, str):
            value = _datetime(value)
        if value is None:
            sheet.write_blank(row, column, None, fmt)
        elif cell.as_text:
            sheet.write_string(row, column, spec.format(value), fmt)
        elif isinstance(value, bool):
            sheet.write_boolean(row, column, value, fmt)
        elif isinstance(value, int | float | Decimal) and _representable(value):
            sheet.write_number(row, column, float(value), fmt)
        elif isinstance(value, date) and value.year >= 1900:  # Excel's calendar starts in 1900
            if not cell.is_date:
                dated = "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else "yyyy-mm-dd"
                fmt = self._format((*cell.style, ("num_format", dated)))
            sheet.write_datetime(row, column, value, fmt)
        else:
            text = value if isinstance(value, str) else spec.format(value)
            sheet.write_string(row, column, text, fmt)
        return "" if self._row >= _MEASURED_ROWS else spec.format(value)


def _datetime(text: str) -> datetime | str:
    """SQLite's ISO date text as a datetime; other text as it is."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def _representable(value: float | Decimal) -> bool:
    """A number Excel can hold: finite, and an integer only while a double keeps it exact."""
    if isinstance(value, int):
        return abs(value) < 2**53
    return math.isfinite(value)


_BOLD_BANDS = ("title", "column_header", "group_header", "group_footer", "summary")
_GROUP_FILL = "#f3f4f6"  # for group headers the definition gives no fill


def _style(
    key: str, band: Band, element: LabelElement | FieldElement | AggregateElement, scale: float
) -> _Style:
    """Font and fill: the element's style over its band's; headers and totals bold."""
    kind = key.partition(":")[0]
    bold = next((b for b in (element.bold, band.bold) if b is not None), kind in _BOLD_BANDS)
    size = element.size or band.size
    props: dict[str, Any] = {
        "bold": bold,
        "italic": bool(element.italic if element.italic is not None else band.italic),
        "font_color": element.color or band.color,
        "font_size": round(size * scale, 1) if size else None,
        "bg_color": band.fill or (_GROUP_FILL if kind == "group_header" else None),
        "align": None if element.align == "left" else element.align,
    }
    return tuple((k, v) for k, v in props.items() if v)


_NUMBER = re.compile(r"^[+\- ]?(?P<group>[,_]?)(?:\.(?P<places>\d+))?(?P<type>[fe%]?)$")
_DATE_CODES = {
    "%Y": "yyyy", "%y": "yy", "%m": "mm", "%d": "dd", "%b": "mmm", "%B": "mmmm", "%a": "ddd",
    "%A": "dddd", "%H": "hh", "%I": "hh", "%M": "mm", "%S": "ss", "%p": "AM/PM", "%%": '"%"',
}  # fmt: skip


def excel_format(fmt: str | None) -> tuple[str | None, bool]:
    """Excel's number format for a Quire format, and whether it shows dates.

    Raises ValueError for a date pattern Excel cannot express (week numbers, time zones).
    """
    found = format_parts(fmt) if fmt else None
    if found is None:
        return None, False
    prefix, spec, suffix = _literal(found[0]), found[1], _literal(found[2])
    if re.search(r"%[A-Za-z]", spec):
        parts = re.split(r"(%.)", spec)
        unknown = [p for p in parts if p.startswith("%") and p not in _DATE_CODES]
        if unknown:
            raise ValueError(f"Excel has no date code like {unknown[0]}")
        codes = [_DATE_CODES[p] if p.startswith("%") else _literal(p, " -/:.,") for p in parts]
        return prefix + "".join(codes) + suffix, True
    number = _NUMBER.match(spec)
    if number is None:
        return None, False
    kind, places = number["type"], number["places"]
    digits = int(places) if places else (6 if kind == "e" else 0)
    fraction = "." + "0" * digits if digits else ""
    if kind == "e":
        body = f"0{fraction}E+00"
    elif places is None and not kind:
        body = "General"  # Python prints every digit there is: Excel's closest
    else:
        body = ("#,##0" if number["group"] else "0") + fraction + ("%" if kind == "%" else "")
    return prefix + body + suffix, False


def _literal(text: str, plain: str = "") -> str:
    """Text shown as it is inside an Excel number format; `plain` characters need no quotes."""
    if all(c in plain for c in text):
        return text
    return f'"{text}"' if '"' not in text else "".join(f"\\{c}" for c in text)
