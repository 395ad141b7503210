"""Value formats: presets, patterns, exact rounding, and the texts remembered per format."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine import formats
from engine.formats import make_formatter


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [
        ("money", 1234.5, "1,234.50"),
        ("money", 37.021499999999996, "37.02"),  # 3 * 12.99 * 0.95 in binary floats
        ("money", 0.125, "0.13"),  # half up, not half even
        ("money", -0.125, "-0.13"),
        ("integer", 2.5, "3"),
        ("percent", 0.1, "10.0%"),
        ("{.0%}", 0.15, "15%"),
        ("{,.0f} lines", 1234, "1,234 lines"),
        ("date", "2024-02-11", "2024-02-11"),
        ("{%d.%m.%Y}", date(2024, 2, 11), "11.02.2024"),
        ("money", None, ""),
        ("money", Decimal("2.345"), "2.35"),
    ],
)
def test_formats_give_the_text_a_person_expects(fmt: str, value: object, text: str) -> None:
    assert make_formatter(fmt)(value) == text


@pytest.mark.parametrize("fmt", ["{x}", "{!r}", "{%Q}", "{,.2f}{,.2f}", "nonsense"])
def test_bad_formats_are_refused_with_their_text(fmt: str) -> None:
    with pytest.raises(ValueError, match="format"):
        make_formatter(fmt)


def test_remembered_texts_keep_types_apart() -> None:
    """1, 1.0 and True are equal keys to a dict; their texts differ."""
    fmt = make_formatter("{,.1f}")
    assert [fmt(1.0), fmt(1), fmt(True), fmt(1.0)] == ["1.0", "1.0", "yes", "1.0"]
    bare = make_formatter("{,}")
    assert [bare(Decimal("1.0")), bare(Decimal("1.00"))] == ["1.0", "1.00"]
    assert fmt([1, 2]) == "[1, 2]"  # unhashable values are formatted, not remembered


@pytest.mark.parametrize("first", [0.0, -0.0, -0.001])
def test_zero_has_no_sign_whatever_was_formatted_before(first: float) -> None:
    """-0.0 equals 0.0 as a key, so the text remembered first used to decide both."""
    fmt = make_formatter("money")
    assert [fmt(first), fmt(0.0), fmt(-0.0), fmt(-0.004), fmt(Decimal("-0.00"))] == ["0.00"] * 5
    assert make_formatter("{.0%}")(-0.001) == "0%"


def test_remembered_texts_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_REMEMBERED", 10)
    fmt = make_formatter("money")
    texts = [fmt(i / 100) for i in range(1000)]
    assert texts[123] == "1.23" and texts[-1] == "9.99"
    cells = fmt.__closure__  # type: ignore[attr-defined]
    remembered = next(c.cell_contents for c in cells if isinstance(c.cell_contents, dict))
    assert len(remembered) <= 10
