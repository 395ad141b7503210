"""Page geometry: paper sizes, margins and column widths resolved to points.

Rows are typeset as fixed-width boxes (measured about 3x faster than a grid per row), so
every width the definition states in mm, %, em or fr is resolved here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.definition import PageSetup

__all__ = (
    "ADVANCES",
    "FONT_DIR",
    "FONT_FAMILY",
    "HAIR_PT",
    "PAPER_MM",
    "content_width_pt",
    "fits_one_line",
    "length_pt",
    "resolve_widths",
)

FONT_DIR = Path(__file__).parent / "fonts"  # the only fonts reports use, on every machine
FONT_FAMILY = "Inter"

PAPER_MM: dict[str, tuple[float, float]] = {
    "a3": (297, 420),
    "a4": (210, 297),
    "a5": (148, 210),
    "us-letter": (215.9, 279.4),
    "us-legal": (215.9, 355.6),
}
_PT_PER = {"pt": 1.0, "mm": 72 / 25.4, "cm": 72 / 2.54, "in": 72.0}
_SPLIT = re.compile(r"^(\d+(?:\.\d+)?)([a-z%]+)$")


def length_pt(text: str, font_size: float) -> float:
    """An absolute length ('15mm', '2pt', '1.5em') in points."""
    number, unit = _parts(text)
    if unit == "em":
        return number * font_size
    return number * _PT_PER[unit]


def content_width_pt(page: PageSetup) -> float:
    width, height = PAPER_MM[page.size]
    if page.orientation == "landscape":
        width = height
    margins = length_pt(page.margins.left, page.font_size) + length_pt(
        page.margins.right, page.font_size
    )
    return width * _PT_PER["mm"] - margins


HAIR_PT = 0.05  # left free by rows with fr columns: boxes that fill a line exactly can
# wrap on a rounding error


def resolve_widths(widths: Sequence[str], available: float, font_size: float) -> list[float]:
    """Column widths in points; `fr` columns share what fixed and % columns leave.

    Raises ValueError when the fixed widths alone exceed the available width.
    """
    fixed = 0.0
    fractions = 0.0
    for text in widths:
        number, unit = _parts(text)
        if unit == "fr":
            fractions += number
        elif unit == "%":
            fixed += available * number / 100
        else:
            fixed += length_pt(text, font_size)
    if fixed > available + 0.5:
        raise ValueError(
            f"the row is {fixed / _PT_PER['mm']:.0f}mm wide but the page leaves "
            f"{available / _PT_PER['mm']:.0f}mm"
        )
    rest = max(available - fixed - HAIR_PT, 0.0)
    out = []
    for text in widths:
        number, unit = _parts(text)
        if unit == "fr":
            out.append(rest * number / fractions)
        elif unit == "%":
            out.append(available * number / 100)
        else:
            out.append(length_pt(text, font_size))
    return out


# The advance of each printable ASCII character (space to ~), in thousandths of an em: the
# widest of the shipped fonts' four styles, measured with Typst (tests/engine/test_layout.py
# measures them again). Kerning and contextual forms move a string's width by about 1%.
ADVANCES = (
    282, 325, 404, 650, 655, 860, 675, 222, 410, 410, 565, 680, 299, 469, 298, 390,
    682, 682, 682, 682, 681, 682, 682, 682, 682, 682, 298, 298, 680, 680, 680, 563,
    1031, 748, 661, 753, 728, 613, 587, 761, 747, 281, 570, 690, 568, 915, 753, 782,
    648, 788, 663, 655, 669, 742, 748, 1036, 715, 725, 667, 410, 390, 410, 488, 477,
    498, 581, 636, 588, 636, 599, 387, 634, 625, 273, 273, 582, 273, 912, 622, 614,
    634, 633, 410, 562, 389, 622, 586, 851, 574, 586, 574, 410, 374, 410, 680,
)  # fmt: skip
_UNIT = 5  # thousandths of an em in a byte of _ADVANCE_BYTES (the widest, 1036, is 208)
_ADVANCE_BYTES = bytes(
    [255] * 32 + [-(-a // _UNIT) for a in ADVANCES] + [255] * 129
)  # rounded up; what is not printable ASCII is refused before it is looked up
_WIDEST = max(ADVANCES)


def fits_one_line(width: float, size: float) -> Callable[[str], bool]:
    """A test of whether a text at `size` points surely fits on one line `width` points
    wide: only printable ASCII (no line breaks, no glyph wider than measured), with room
    to spare for kerning (2% and a tenth of an em; measured, it moved widths by 1% at
    most). Made once per cell: it runs for every cell of every row."""
    room = (width * 1000 / size - 100) / 1.02 / _UNIT  # in units of _ADVANCE_BYTES
    short = int(room * _UNIT / _WIDEST)  # no longer than this: no need to add widths up

    def fits(text: str) -> bool:
        if not (text.isascii() and text.isprintable()):
            return False
        return len(text) <= short or sum(text.encode("ascii").translate(_ADVANCE_BYTES)) <= room

    return fits


def _parts(text: str) -> tuple[float, str]:
    match = _SPLIT.match(text)
    if match is None:
        raise ValueError(f"'{text}' is not a length")
    return float(match[1]), match[2]
