"""What an HTML page needs to look like the PDF: the report's fonts, and charts as safe SVG.

The fonts are embedded as data URLs, so the page looks the same on a machine without them.
Charts are inlined rather than put in an `<img>` so that their text uses those fonts; the
SVG comes from vl-convert, which escapes every text it draws, and is checked once more here
for anything that could run.
"""

from __future__ import annotations

import base64
import re
from functools import cache

from engine.layout import FONT_DIR, FONT_FAMILY

__all__ = ("font_faces", "inline_svg")

_FACES = (
    ("Regular", "normal", "normal"),
    ("Bold", "bold", "normal"),
    ("Italic", "normal", "italic"),
)
_ACTIVE = re.compile(
    r"<\s*(script|foreignObject|iframe|object|embed)|\son\w+\s*=|javascript:", re.IGNORECASE
)


@cache
def font_faces() -> str:
    """`@font-face` rules for the report font, its files embedded."""
    rules = []
    for name, weight, style in _FACES:
        data = base64.b64encode((FONT_DIR / f"{FONT_FAMILY}-{name}.otf").read_bytes()).decode()
        rules.append(
            f"@font-face{{font-family:{FONT_FAMILY};font-weight:{weight};font-style:{style};"
            f"src:url(data:font/otf;base64,{data}) format('opentype')}}\n"
        )
    return "".join(rules)


def inline_svg(svg: str) -> str:
    """The chart's SVG markup for inlining; refused if anything in it could run."""
    start = svg.find("<svg")
    if start < 0 or _ACTIVE.search(svg):
        return '<p class="chart-error">chart not shown: unexpected SVG content</p>'
    return svg[start:]
