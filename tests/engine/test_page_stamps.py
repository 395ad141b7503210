"""Page texts stamped from specimens: learnt from a few pages, refused when unsure."""

from __future__ import annotations

import re

import pikepdf
import pytest

from engine.page_stamps import PageStamps, shape, specimens

_GLYPHS = {c: b"%04x" % (i + 1) for i, c in enumerate("Pof $,.-0123456789")}


def _drawn(text: str, font: str = "/F1", kern_after: str | None = None) -> bytes:
    """How Typst would draw `text` right-aligned at x = 500: a glyph code per character;
    with `kern_after`, the glyph after that character kerned."""
    codes = [_GLYPHS[c] for c in text]
    strings = b"<%s>" % b" ".join(codes)
    if kern_after is not None and kern_after in text:
        at = text.index(kern_after) + 1
        strings = b"<%s> -20 <%s>" % (b" ".join(codes[:at]), b" ".join(codes[at:]))
    x = 500 - 5 * len(codes)
    return b"BT %s 9 Tf 1 0 0 1 %d 50 Tm [%s] TJ ET" % (font.encode(), x, strings)


def _page_number(text: str) -> bytes:
    return _drawn(f"P {text} of 99")


def _specimens(
    shown: list[tuple[int, str]], kern_after: str | None = None, other_font: str | None = None
) -> pikepdf.Pdf:
    """Field 0 draws "P <n> of 99" in font F1, field 1 a money text in F2 (with
    `other_font`, that specimen in F1)."""
    pdf = pikepdf.new()
    fonts = {
        name: pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, BaseFont=base))
        for name, base in (("/F1", pikepdf.Name.Regular), ("/F2", pikepdf.Name.Bold))
    }
    for field, text in shown:
        pdf.add_blank_page()
        page = pdf.pages[-1]
        if field == 0:
            content = _drawn(f"P {text} of 99", kern_after=kern_after)
        else:
            font = "/F1" if text == other_font else "/F2"
            content = _drawn(text, font=font, kern_after=kern_after)
        page.Contents = pdf.make_stream(content)
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(fonts))
    return pdf


def _normal(content: bytes) -> bytes:
    """`content` as qpdf writes a content stream out: what it draws, however written."""
    pdf = pikepdf.new()
    return pikepdf.unparse_content_stream(pikepdf.parse_content_stream(pdf.make_stream(content)))


_PAGES = [(str(n), f"${n * 7919 / 100:,.2f}") for n in (1, 7, 10, 90, 305, 999, 1000, 1333)]


def _learnt(**kwargs: str) -> tuple[PageStamps | None, pikepdf.Pdf]:
    """Stamps learnt from specimens of _PAGES, and the specimens (their fonts live there)."""
    shapes = [{shape(n) for n, _ in _PAGES}, {shape(t) for _, t in _PAGES}]
    shown = specimens(shapes)
    pdf = _specimens(shown, **kwargs)
    return PageStamps.learn(pdf, shown), pdf


def test_every_page_text_is_stamped_as_it_would_be_drawn() -> None:
    stamps, _pdf = _learnt()
    assert stamps is not None
    for number, money in [*_PAGES, ("1204", "$8,642.05")]:  # shapes seen, other digits
        content, used = stamps.content([number, money])
        resources = stamps.resources(used)["/Font"]
        names = re.findall(rb"/(Q\d+F\d) 9 Tf", content)
        assert len(names) == 2 and names[0] != names[1]  # each form its own names
        assert [str(resources["/" + n.decode()].BaseFont) for n in names] == ["/Regular", "/Bold"]
        plain = re.sub(rb"/Q\d+(F\d)", rb"/\1", content)
        drawn = b"q\n%s\nQ\nq\n%s\nQ" % (_page_number(number), _drawn(money, font="/F2"))
        assert _normal(plain) == _normal(drawn), (number, money)


def test_a_field_with_no_text_draws_nothing() -> None:
    stamps, _pdf = _learnt()
    assert stamps is not None
    content, used = stamps.content(["12", None])
    fonts = stamps.resources(used)["/Font"]
    assert content.count(b"Tf") == 1 and [str(f.BaseFont) for f in fonts.values()] == ["/Regular"]
    assert stamps.content([None, ""]) == (b"", ())


def test_specimens_that_differ_in_more_than_their_digits_are_refused() -> None:
    assert _learnt(kern_after="7")[0] is None


def test_a_specimen_drawn_in_another_font_than_its_shape_is_refused() -> None:
    assert _learnt(other_font="$2,222.22")[0] is None


def test_specimens_show_every_digit_of_each_field_and_every_digit_pair_of_each_shape() -> None:
    shown = specimens([{"0", "000", "00"}, {"$0.00", "$00.00", "n/a", ""}])
    fields: dict[int, list[str]] = {0: [], 1: []}
    for field, text in shown:
        fields[field].append(text)
    assert fields[0][:10] == [str(d) for d in "1234567890"]  # the first shape: every digit
    assert fields[0][10:] == ["11", "22", "12", "111", "222", "123"]
    assert "n/a" in fields[1] and "" not in fields[1]  # drawn as it is; nothing to draw
    assert [t for t in fields[1] if shape(t) == "$00.00"] == ["$11.11", "$22.22", "$12.34"]
    assert {t for t in fields[1] if shape(t) == "$0.00"} >= {f"${d}.{d}{d}" for d in "0123456789"}


@pytest.mark.parametrize("text", ["1", "12,345.67", "-$0.50", "1,234 lines"])
def test_a_shape_is_the_text_with_its_digits_made_zero(text: str) -> None:
    assert shape(text) == re.sub(r"\d", "0", text) and shape(shape(text)) == shape(text)
