"""The report definition: pydantic models that round-trip YAML/JSON and export JSON Schema.

The definition is data. The CLI, the designer, the API and the database all speak this one
document. Structure is checked here; names and expressions are checked against each other
and against the data source by `engine.validation`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from engine.limits import MAX_FR, MAX_LENGTH_MM
from engine.parameters import coerce_value

__all__ = (
    "AggregateElement",
    "Band",
    "Bands",
    "Channel",
    "ChartElement",
    "Element",
    "FieldElement",
    "Group",
    "LabelElement",
    "LineElement",
    "PageNumberElement",
    "PageSetup",
    "Parameter",
    "ReportDefinition",
    "RowBreakElement",
    "SortKey",
    "Source",
    "SourceRelationship",
    "Variable",
)

_LENGTH = re.compile(r"^\d+(\.\d+)?(mm|cm|pt|in|em)$")
_WIDTH = re.compile(r"^\d+(\.\d+)?(mm|cm|pt|in|em|%|fr)$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

Name = Annotated[str, Field(pattern=_NAME, max_length=64)]
Direction = Literal["asc", "desc"]
Align = Literal["left", "center", "right"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _checked(value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
    if value is not None and not pattern.match(value):
        raise ValueError(f"'{value[:40]}' is not a {what}")
    return value


_MM_PER = {"mm": 1.0, "cm": 10.0, "pt": 25.4 / 72, "in": 25.4, "em": 24 * 25.4 / 72}


def _bounded(value: str, pattern: re.Pattern[str], what: str, *, positive: bool = False) -> str:
    """A length or width that a page can hold: at most MAX_LENGTH_MM (the longest side of
    a3), a percentage of at most 100, a share of at most MAX_FR; above 0 if `positive`."""
    _checked(value, pattern, what)
    number, unit = float(value.rstrip("%acdefimnprt")), value.lstrip("0123456789.")
    if positive and number <= 0:
        raise ValueError(f"'{value}' must be more than 0")
    if unit == "%" and number > 100:
        raise ValueError(f"'{value}' is more than 100%")
    if unit == "fr" and number > MAX_FR:
        raise ValueError(f"'{value[:40]}' is more than {MAX_FR}fr")
    if unit in _MM_PER and number * _MM_PER[unit] > MAX_LENGTH_MM:
        raise ValueError(
            f"'{value[:40]}' is longer than the largest page: at most {MAX_LENGTH_MM:.0f}mm "
            f"(the long side of a3)"
        )
    return value


class Style(_Model):
    """Text style shared by bands and elements; an element's style overrides its band's."""

    bold: bool | None = None
    italic: bool | None = None
    size: float | None = Field(default=None, gt=3, le=72, description="Font size in points.")
    color: str | None = Field(default=None, description="Text colour, '#rrggbb'.")

    @field_validator("color")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        return _checked(value, _COLOR, "colour like '#1f2937'")


class _Box(_Model):
    """Where an element sits in its row."""

    width: str = Field(default="1fr", description="Column width: '1fr', '30%', '40mm'.")
    align: Align = "left"

    @field_validator("width")
    @classmethod
    def _width(cls, value: str) -> str:
        return _bounded(value, _WIDTH, "width like '1fr', '25%' or '40mm'")


class _Cell(_Box, Style):
    """A cell of text."""


class LabelElement(_Cell):
    """Fixed text."""

    type: Literal["label"]
    text: str = Field(max_length=2000)


class FieldElement(_Cell):
    """A value computed by the database for the current row."""

    type: Literal["field"]
    expression: str = Field(min_length=1, max_length=2000)
    format: str | None = Field(default=None, description="See engine.formats.")


class AggregateElement(_Cell):
    """The current value of a variable (a sum, count, average ... with a reset scope)."""

    type: Literal["aggregate"]
    variable: Name
    format: str | None = None


class PageNumberElement(_Cell):
    """Page numbering; `{page}` and `{pages}` are replaced by Typst at layout time."""

    type: Literal["page_number"]
    text: str = Field(default="Page {page} of {pages}", max_length=200)


class LineElement(_Model):
    """A horizontal rule across the band; it also ends the current row of cells."""

    type: Literal["line"]
    thickness: float = Field(default=0.5, gt=0, le=10, description="Points.")
    color: str = "#9ca3af"

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        return _checked(value, _COLOR, "colour like '#1f2937'") or value


class RowBreakElement(_Model):
    """Ends the current row of cells: the next elements start a new row."""

    type: Literal["row_break"]


ChartKind = Literal[
    "bar", "line", "area", "pie", "donut", "scatter", "heatmap", "histogram", "boxplot"
]
ChartAggregate = Literal["sum", "avg", "count", "min", "max", "median"]
TimeUnit = Literal["year", "quarter", "month", "week", "day", "hour"]


class Channel(_Model):
    """One encoding of a chart: what a position, colour or size shows."""

    expression: str | None = Field(
        default=None, max_length=2000, description="A SQL expression; optional for count."
    )
    aggregate: ChartAggregate | None = None
    time_unit: TimeUnit | None = Field(default=None, description="Bucket dates by this unit.")
    bin: int | None = Field(default=None, ge=2, le=200, description="Bin numbers into N bins.")
    title: str | None = Field(default=None, max_length=200)
    format: str | None = Field(
        default=None, max_length=40, description="Axis label format (d3), e.g. ',.0f', '%b %Y'."
    )
    sort: Literal["ascending", "descending", "x", "-x", "y", "-y"] | None = None


class ChartElement(_Box):
    """A chart: its data is one aggregate query in the database, drawn as vector graphics."""

    type: Literal["chart"]
    kind: ChartKind
    x: Channel | None = None
    y: Channel | None = None
    color: Channel | None = None
    size: Channel | None = None
    stack: Literal["zero", "normalize", "none"] | None = Field(
        default=None, description="For bar and area charts with a colour: stacked or side by side."
    )
    horizontal: bool = False
    top: int | None = Field(
        default=None, ge=1, le=100, description="Keep the N largest categories, fold the rest."
    )
    other: bool | None = Field(
        default=None,
        description="With top: show the rest as one 'Other' category. By default only pie "
        "and donut charts do (the rest is part of the whole); on a bar chart it would set the "
        "scale and dwarf the bars shown.",
    )
    title: str | None = Field(default=None, max_length=300)
    height: str = Field(default="60mm", description="Height of the chart: '60mm', '2in'.")
    legend: Literal["right", "bottom", "top", "left", "none"] = "right"
    max_points: int = Field(default=500, ge=1, le=5000)

    @field_validator("height")
    @classmethod
    def _height(cls, value: str) -> str:
        return _bounded(value, _LENGTH, "length like '60mm'", positive=True)


Element = Annotated[
    LabelElement
    | FieldElement
    | AggregateElement
    | PageNumberElement
    | LineElement
    | RowBreakElement
    | ChartElement,
    Field(discriminator="type"),
]


class Theme(_Model):
    """Colours charts use, in order, for their series."""

    colors: list[str] = Field(
        default_factory=lambda: [
            "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6",
            "#06b6d4", "#ec4899", "#84cc16", "#f97316", "#64748b",
        ]
    )  # fmt: skip

    @field_validator("colors")
    @classmethod
    def _colors(cls, values: list[str]) -> list[str]:
        for value in values:
            _checked(value, _COLOR, "colour like '#2563eb'")
        return values


class Band(Style):
    """A horizontal strip of elements, printed when its event occurs."""

    elements: list[Element] = Field(default_factory=list)
    page_break_before: bool = False
    fill: str | None = Field(default=None, description="Background colour, '#rrggbb'.")
    padding: str = Field(default="1.5pt", description="Vertical padding of each row.")

    @field_validator("fill")
    @classmethod
    def _fill(cls, value: str | None) -> str | None:
        return _checked(value, _COLOR, "colour like '#f3f4f6'")

    @field_validator("padding")
    @classmethod
    def _padding(cls, value: str) -> str:
        return _bounded(value, _LENGTH, "length like '2pt' or '1mm'")


class Bands(_Model):
    """Bands that are not tied to a group. Group bands live on their group."""

    title: Band | None = None
    page_header: Band | None = None
    column_header: Band | None = None
    detail: Band | None = None
    summary: Band | None = None
    page_footer: Band | None = None
    no_data: Band | None = None


class Group(_Model):
    """A grouping level: a break occurs whenever the expression's value changes."""

    name: Name
    expression: str = Field(min_length=1, max_length=2000)
    direction: Direction = "asc"
    header: Band | None = None
    footer: Band | None = None
    reprint_header: bool = Field(
        default=False,
        description="Print the header again at the top of every page the group continues on.",
    )


class SortKey(_Model):
    expression: str = Field(min_length=1, max_length=2000)
    direction: Direction = "asc"


VariableFunction = Literal["count", "sum", "avg", "min", "max", "first", "last", "distinct_count"]


class Variable(_Model):
    """An accumulator over detail rows, reset at the end of the report or of a group."""

    name: Name
    function: VariableFunction
    expression: str | None = Field(
        default=None, max_length=2000, description="Optional for count (counts rows)."
    )
    reset: str = Field(
        default="report",
        description="'report', 'page' (a page total, for page_footer) or the name of a group.",
    )


ParameterType = Literal["string", "integer", "decimal", "date", "datetime", "boolean", "choice"]
ParameterValue = bool | int | Decimal | date | datetime | str


class Parameter(_Model):
    """A typed run parameter, referenced in expressions as `:name` and always bound."""

    name: Name
    type: ParameterType = "string"
    label: str | None = None
    default: ParameterValue | None = None
    required: bool = False
    choices: list[str] | None = Field(default=None, description="Allowed values for 'choice'.")

    @field_validator("default", mode="after")
    @classmethod
    def _typed_default(cls, value: Any, info: ValidationInfo) -> Any:
        """The default in the parameter's own type, so documents round-trip exactly."""
        if value is None or "type" not in info.data:
            return value
        return coerce_value(info.data["type"], value, None)


class SourceRelationship(_Model):
    """A relationship the database has no foreign key for, or a new name for one it has:
    `origin.name` then follows `columns` of `from_table` to `target_columns` of `table`."""

    name: Name
    columns: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1, max_length=16, description="The referencing columns."
    )
    table: str = Field(min_length=1, max_length=128, description="The table referred to.")
    target_columns: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="The columns referred to; by default the table's primary key.",
    )
    from_table: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The referencing table; by default the source's table.",
    )


class Source(_Model):
    table: str = Field(min_length=1, max_length=128)
    filter: str | None = Field(default=None, max_length=4000)
    strategy: Literal["auto", "keyset", "cursor", "offset", "full_read"] = Field(
        default="auto", description="How rows are streamed; auto picks the best allowed."
    )


PageSize = Literal["a3", "a4", "a5", "us-letter", "us-legal"]


class Margins(_Model):
    top: str = "15mm"
    right: str = "15mm"
    bottom: str = "15mm"
    left: str = "15mm"

    @field_validator("top", "right", "bottom", "left")
    @classmethod
    def _length(cls, value: str) -> str:
        return _bounded(value, _LENGTH, "length like '15mm'")


class PageSetup(_Model):
    size: PageSize = "a4"
    orientation: Literal["portrait", "landscape"] = "portrait"
    margins: Margins = Field(default_factory=Margins)
    font_size: float = Field(default=9, gt=4, le=24)


class ReportDefinition(_Model):
    """A whole report: where its rows come from, how they group, and what each band shows."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"title": "Quire report definition"}
    )

    title: str = Field(min_length=1, max_length=300)
    description: str | None = None
    source: Source
    relationships: list[SourceRelationship] = Field(
        default_factory=list,
        max_length=200,
        description="Relationships the source lacks, or new names for its own.",
    )
    parameters: list[Parameter] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list, max_length=10)
    sort: list[SortKey] = Field(default_factory=list)
    variables: list[Variable] = Field(default_factory=list)
    bands: Bands = Field(default_factory=Bands)
    page: PageSetup = Field(default_factory=PageSetup)
    theme: Theme = Field(default_factory=Theme)

    def to_data(self) -> dict[str, Any]:
        """Plain data for YAML/JSON, without the defaults nobody wrote."""
        return self.model_dump(mode="json", exclude_defaults=True)
