"""Drawing charts: a Vega-Lite spec built with Altair, rendered to SVG by vl-convert.

The spec uses the report's font (registered with vl-convert from the package's own font
folder) and its theme's colours, so the PDF and the screen show the same chart. SVGs are
cached by a hash of spec and data. vl-convert runs in a helper process of its own
(`engine.chart_worker`), started once and kept warm: a crash in its native code fails the
chart, not the process. Every text of a spec is cleaned as XML requires first (control
characters made vl-convert panic).
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import threading
from collections import OrderedDict
from typing import Any

import altair as alt

from engine.chart_query import ChartRows
from engine.chart_worker import ChartDrawer
from engine.definition import Channel, ChartElement, Theme
from engine.layout import FONT_DIR, FONT_FAMILY
from engine.xml_text import xml_text

__all__ = ("DRAWER", "chart_spec", "render_svg", "warm_up")

_LOCK = threading.Lock()
_CACHE: OrderedDict[str, str] = OrderedDict()
_CACHE_SIZE = 512
DRAWER = ChartDrawer(FONT_DIR)  # the process's one helper, started on first use
atexit.register(DRAWER.close)  # its stdin closes, and it ends


def warm_up() -> None:
    """Start the chart helper and let it draw once (about a second, once per process)."""
    DRAWER.start()


def render_svg(spec: dict[str, Any]) -> str:
    """The SVG of a Vega-Lite spec, from the cache when the same spec was drawn before.

    Raises:
        ChartEngineFailed: vl-convert refused the spec, or crashed or hung drawing it.
    """
    spec = _cleaned(spec)
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    svg = DRAWER.draw(spec)
    with _LOCK:
        _CACHE[key] = svg
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return svg


def _cleaned(node: Any) -> Any:
    """The spec with every text (titles, categories, formats) as XML can hold it."""
    if isinstance(node, str):
        return xml_text(node)
    if isinstance(node, dict):
        return {_cleaned(key): _cleaned(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_cleaned(value) for value in node]
    return node


def chart_spec(
    element: ChartElement,
    points: ChartRows,
    theme: Theme,
    size_pt: tuple[float, float],
    *,
    font_size: float,
) -> dict[str, Any]:
    """The Vega-Lite spec of a chart over its points, sized to its cell."""
    chart = _chart(element, points)
    legend = None if element.legend == "none" else {"orient": element.legend}
    width_pt, height_pt = size_pt
    chart = chart.properties(
        width=round(width_pt),
        height=round(height_pt),
        autosize={"type": "fit", "contains": "padding"},
    )
    if element.title:
        chart = chart.properties(title=element.title)
    spec: dict[str, Any] = chart.configure(
        font=FONT_FAMILY,
        background="transparent",
        range={"category": theme.colors},
        mark={"color": theme.colors[0]} if theme.colors else {},  # one series: first colour
        axis={"labelFontSize": font_size * 0.9, "titleFontSize": font_size, "grid": True,
              "gridColor": "#e5e7eb", "domainColor": "#9ca3af", "tickColor": "#9ca3af"},
        legend={"labelFontSize": font_size * 0.9, "titleFontSize": font_size, **(legend or {})},
        title={"fontSize": font_size * 1.2, "anchor": "start"},
        view={"stroke": None},
    ).to_dict(validate=False)  # fmt: skip
    if legend is None:
        spec.setdefault("config", {})["legend"] = {"disable": True}
    return spec


def _chart(element: ChartElement, points: ChartRows) -> Any:
    data = alt.Data(values=points)
    kind = element.kind
    if kind == "boxplot":
        return _boxplot(element, data)
    base = alt.Chart(data)
    encode: dict[str, Any] = {}
    x, y = element.x, element.y
    if kind in ("pie", "donut"):
        mark = base.mark_arc(innerRadius=0 if kind == "pie" else 40)
        category = "color" if element.color is not None else "x"
        category_channel = element.color if element.color is not None else x
        return mark.encode(
            theta=alt.Theta("y:Q", title=_title(y, "y")),
            color=alt.Color(
                f"{category}:N", title=_title(category_channel, category), sort="-theta"
            ),
            tooltip=[f"{category}:N", "y:Q"],
        )
    if kind == "histogram":
        step = _bin_step(points)
        return (
            base.mark_bar()
            .encode(
                x=alt.X("x:Q", bin=alt.Bin(binned=True, step=step), title=_title(x, "x")),
                x2="x_end:Q",
                y=alt.Y("y:Q", title=_title(y, "count")),
            )
            .transform_calculate(x_end=f"datum.x + {step}")
        )
    encode["x"] = _position("x", x, points, element)
    encode["y"] = _position("y", y, points, element)
    if element.color is not None:
        encode["color"] = alt.Color(
            f"color:{_type(element.color, points, 'color')}", title=_title(element.color, "color")
        )
    if element.size is not None:
        encode["size"] = alt.Size("size:Q", title=_title(element.size, "size"))
    marks = {
        "bar": base.mark_bar(width={"band": 0.85}) if _timed(x) else base.mark_bar(),
        "line": base.mark_line(point=True),
        "area": base.mark_area(opacity=0.85),
        "scatter": base.mark_circle(opacity=0.8),
        "heatmap": base.mark_rect(),
    }
    chart = marks[kind]
    if kind in ("bar", "area") and element.color is not None:
        stack = {"zero": "zero", "normalize": "normalize", "none": None}[element.stack or "zero"]
        value_axis = "x" if element.horizontal else "y"
        encode[value_axis]["stack"] = stack
        if stack is None and kind == "bar":
            offset = "yOffset" if element.horizontal else "xOffset"
            encode[offset] = (
                alt.XOffset("color:N") if offset == "xOffset" else alt.YOffset("color:N")
            )
    if element.horizontal:
        encode["x"], encode["y"] = encode["y"], encode["x"]
    encoded: alt.Chart = chart.encode(**encode)
    return encoded


_SWAPPED = {"x": "y", "-x": "-y", "y": "x", "-y": "-x"}
_TYPES = {"Q": "quantitative", "O": "ordinal", "N": "nominal", "T": "temporal"}
_AXIS_FORMATS = {
    "year": "%Y",
    "quarter": "%b %Y",
    "month": "%b %Y",
    "week": "%d %b",
    "day": "%d %b",
}
_TIME_UNITS = {
    "year": "year", "quarter": "yearquarter", "month": "yearmonth",
    "week": "yearmonthdate", "day": "yearmonthdate", "hour": "yearmonthdatehours",
}  # fmt: skip


def _position(
    name: str, channel: Channel | None, points: ChartRows, element: ChartElement
) -> dict[str, Any]:
    kind = _type(channel, points, name)
    discrete = element.kind in ("bar", "heatmap") and channel is not None
    if discrete and kind == "Q" and channel is not None and channel.aggregate is None:
        kind = "O"  # a bar per value, not a continuous axis
    # Time buckets stay on a time axis, bars spanning their bucket: Vega labels a few ticks,
    # where an ordinal axis would measure a label per bar (measured: 2-3x slower to draw).
    encoding: dict[str, Any] = {"field": name, "type": _TYPES[kind], "title": _title(channel, name)}
    if channel is None:
        return encoding
    unit = channel.time_unit
    if channel.format:
        encoding["axis"] = {"format": channel.format}
    elif kind == "T" and unit in _AXIS_FORMATS:
        encoding["axis"] = {"format": _AXIS_FORMATS[unit]}
    if channel.sort:
        # The sort names the channels as written; a horizontal chart swaps them after this.
        encoding["sort"] = (
            _SWAPPED.get(channel.sort, channel.sort) if element.horizontal else channel.sort
        )
    if kind == "T" and unit is not None:
        encoding["timeUnit"] = _TIME_UNITS[unit]
    return encoding


def _type(channel: Channel | None, points: ChartRows, name: str) -> str:
    if channel is None:
        return "Q"
    if channel.aggregate is not None or channel.bin is not None:
        return "Q"
    if channel.time_unit is not None:
        return "T"
    sample = next((p[name] for p in points if p.get(name) is not None), None)
    if isinstance(sample, bool | str):
        return "N"
    return "Q" if isinstance(sample, int | float) else "N"


def _title(channel: Channel | None, name: str) -> str:
    if channel is None:
        return name
    if channel.title is not None:
        return channel.title
    expression = channel.expression or "rows"
    return f"{channel.aggregate}({expression})" if channel.aggregate else expression


def _bin_step(points: ChartRows) -> float:
    starts = sorted({float(p["x"]) for p in points if p.get("x") is not None})
    steps = [b - a for a, b in itertools.pairwise(starts) if b > a]
    return min(steps) if steps else 1.0


def _boxplot(element: ChartElement, data: alt.Data) -> Any:
    x = alt.X("x:N", title=_title(element.x, "x"))
    base = alt.Chart(data).encode(x=x)
    whisker = base.mark_rule(color="#6b7280").encode(
        y=alt.Y("min:Q", title=_title(element.y, "y")), y2="max:Q"
    )
    box = base.mark_bar(size=18).encode(y="q1:Q", y2="q3:Q", color=alt.Color("x:N", legend=None))
    median = base.mark_tick(color="white", size=18, thickness=2).encode(y="median:Q")
    return alt.layer(whisker, box, median)


def _timed(channel: Channel | None) -> bool:
    """A channel bucketed by time: its bars span a bucket, with a gap between them."""
    return channel is not None and channel.time_unit is not None
