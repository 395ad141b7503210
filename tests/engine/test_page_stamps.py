"""Page numbers stamped from specimens: learnt from a few pages, refused when unsure."""

from __future__ import annotations

import pikepdf
import pytest

from engine.page_stamps import PageStamps, specimen_numbers

_PAGE = b"<0001 0002 %s 0002 0003 0009 0009>"  # "P ", the number, " of 99"


def _drawn(number: int, kern_after: int | None = None) -> bytes:
    """How a right-aligned "P <number> of 99" is drawn, a glyph code 00 1d per digit d;
    with `kern_after`, Typst would have kerned the glyph after that digit."""
    codes = [b"001%d" % int(d) for d in str(number)]
    strings = _PAGE % b" ".join(codes)
    if kern_after is not None and str(kern_after) in str(number):
        at = str(number).index(str(kern_after)) + 1
        strings = b"<0001 0002 %s> -20 <%s 0002 0003 0009 0009>" % (
            b" ".join(codes[:at]),
            b" ".join(codes[at:]),
        )
    x = 500 - 5 * len(codes)
    return b"BT /F1 9 Tf 1 0 0 1 %d 50 Tm [%s] TJ ET" % (x, strings)


def _specimens(shown: list[int], kern_after: int | None = None) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    for number in shown:
        pdf.add_blank_page()
        pdf.pages[-1].Contents = pdf.make_stream(_drawn(number, kern_after))
    return pdf


def _normal(content: bytes) -> bytes:
    """`content` as qpdf writes a content stream out."""
    pdf = pikepdf.new()
    return pikepdf.unparse_content_stream(pikepdf.parse_content_stream(pdf.make_stream(content)))


def test_every_page_number_is_stamped_as_it_would_be_drawn() -> None:
    shown = specimen_numbers(1333)
    assert len(str(max(shown))) == 4 and 1000 in shown and 1234 in shown
    stamps = PageStamps.learn(_specimens(shown), shown)
    assert stamps is not None
    for number in (1, 7, 10, 90, 305, 999, 1000, 1204, 1333):
        assert stamps.content(number) == _normal(_drawn(number)), number
        assert shown[stamps.page(number)] == int("1" * len(str(number)))


def test_specimens_that_differ_in_more_than_their_digits_are_refused() -> None:
    shown = specimen_numbers(250)
    assert PageStamps.learn(_specimens(shown, kern_after=7), shown) is None


@pytest.mark.parametrize("total", [1, 9, 10, 99, 100, 12_345])
def test_specimens_cover_every_count_of_digits_with_each_digit(total: int) -> None:
    shown = specimen_numbers(total)
    for digits in range(1, len(str(total)) + 1):
        numbers = {str(n) for n in shown if len(str(n)) == digits}
        seen = {d for n in numbers for d in n}
        assert seen == set("0123456789" if digits > 1 else "123456789")
