"""Page numbers stamped from glyphs typeset once, not a page typeset for every number.

"Page X of Y" can be drawn only once the last segment is typeset. Typesetting a page of
numbers for every page cost about 3M instructions a page, 6% of the Typst work of a
large report. But with tabular figures every digit is as wide as any other, so the
numbers of page 1,204 are those of page 1,111 with other digit glyphs in the same places.
Typst typesets a few specimens: for every count of digits, 11..1 to 99..9, 10..0 and
12..; their content streams show where the page number's digits are drawn and the glyph
code of each digit. Every specimen is then stamped and compared with what Typst drew.
If any differs (a kerning that depends on the digit, say), the specimens cannot stand
for every page: `learn` returns None, and the caller typesets the numbers page by page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pikepdf

__all__ = ("PageStamps", "specimen_numbers")

_UNIT = 2  # bytes a glyph code takes in the strings of Typst's fonts (Identity-H)
_Place = tuple[int, int, int | None]  # instruction, operand, item of an array operand


def specimen_numbers(total: int) -> list[int]:
    """The page numbers to typeset as specimens for a report of `total` pages."""
    shown: list[int] = []
    for digits in range(1, len(str(total)) + 1):
        shown += [int(str(digit) * digits) for digit in range(1, 10)]
        if digits > 1:  # a zero, and digits in order (each next to another)
            shown += [10 ** (digits - 1), int(("1234567890" * digits)[:digits])]
    return shown


@dataclass(frozen=True)
class _Form:
    """The numbers of every page with a given count of digits."""

    page: int  # the specimen page drawn from (its resources go with it)
    instructions: list[pikepdf.ContentStreamInstruction]
    slots: list[tuple[_Place, int]]  # where the digits go: string, code unit; in order
    codes: dict[int, bytes]  # digit -> glyph code


class PageStamps:
    """Content streams of the page numbers of any page, from the specimens' glyphs."""

    def __init__(self, forms: dict[int, _Form]) -> None:
        self._forms = forms

    @classmethod
    def learn(cls, pdf: pikepdf.Pdf, shown: Sequence[int]) -> PageStamps | None:
        """From the specimens in `pdf` (page i shows number shown[i]); None if they do
        not all come out as Typst drew them."""
        drawn: dict[int, list[pikepdf.ContentStreamInstruction]] = {}
        for index, number in enumerate(shown):
            found = _instructions(pdf.pages[index])
            if found is None:
                return None
            drawn[number] = found
        try:
            stamps = cls({
                digits: _form(drawn, shown, digits)
                for digits in sorted({len(str(number)) for number in shown})
            })  # fmt: skip
            for number, found in drawn.items():
                if stamps.content(number) != pikepdf.unparse_content_stream(found):
                    return None
        except (IndexError, KeyError, ValueError):  # the specimens differ in their shape
            return None
        return stamps

    def page(self, number: int) -> int:
        """The specimen page whose resources the numbers of page `number` are drawn with."""
        return self._forms[len(str(number))].page

    def content(self, number: int) -> bytes:
        """The content stream that draws the page numbers of page `number`."""
        form = self._forms[len(str(number))]
        digits = str(number)
        strings: dict[_Place, bytearray] = {}
        for order, (place, unit) in enumerate(form.slots):
            string = strings.get(place)
            if string is None:
                string = strings[place] = bytearray(_string(form.instructions, place))
            code = form.codes[int(digits[order % len(digits)])]
            string[unit * _UNIT : (unit + 1) * _UNIT] = code
        instructions = list(form.instructions)
        for (index, operand, item), string in strings.items():
            operands = list(instructions[index].operands)
            value = pikepdf.String(bytes(string))
            if item is None:
                operands[operand] = value
            else:
                operands[operand] = pikepdf.Array(
                    [*operands[operand][:item], value, *operands[operand][item + 1 :]]
                )
            instructions[index] = pikepdf.ContentStreamInstruction(
                operands, instructions[index].operator
            )
        return pikepdf.unparse_content_stream(instructions)


def _form(
    drawn: dict[int, list[pikepdf.ContentStreamInstruction]], shown: Sequence[int], digits: int
) -> _Form:
    ones = int("1" * digits)
    slots = _differences(drawn[ones], drawn[int("2" * digits)])
    codes: dict[int, bytes] = {}
    if slots:
        for digit in range(1, 10):
            codes[digit] = _unit(drawn[int(str(digit) * digits)], slots[0])
        if digits > 1:
            codes[0] = _unit(drawn[10 ** (digits - 1)], slots[1])
    return _Form(shown.index(ones), drawn[ones], slots, codes)


def _instructions(page: pikepdf.Page) -> list[pikepdf.ContentStreamInstruction] | None:
    found = pikepdf.parse_content_stream(page)
    if not all(isinstance(i, pikepdf.ContentStreamInstruction) for i in found):
        return None  # an inline image: not something a page number draws
    return [i for i in found if isinstance(i, pikepdf.ContentStreamInstruction)]


def _strings(
    instructions: Sequence[pikepdf.ContentStreamInstruction],
) -> list[tuple[_Place, bytes]]:
    """Every string operand, also inside arrays (TJ), in the order they are drawn."""
    found: list[tuple[_Place, bytes]] = []
    for index, instruction in enumerate(instructions):
        for position, operand in enumerate(instruction.operands):
            if isinstance(operand, pikepdf.String):
                found.append(((index, position, None), bytes(operand)))
            elif isinstance(operand, pikepdf.Array):
                for item, value in enumerate(operand):
                    if isinstance(value, pikepdf.String):
                        found.append(((index, position, item), bytes(value)))
    return found


def _differences(
    one: Sequence[pikepdf.ContentStreamInstruction],
    other: Sequence[pikepdf.ContentStreamInstruction],
) -> list[tuple[_Place, int]]:
    """The code units in which the strings of two drawings differ, in order."""
    found: list[tuple[_Place, int]] = []
    for (place, a), (_, b) in zip(_strings(one), _strings(other), strict=False):
        units = min(len(a), len(b)) // _UNIT
        found += [
            (place, u)
            for u in range(units)
            if a[u * _UNIT : (u + 1) * _UNIT] != b[u * _UNIT : (u + 1) * _UNIT]
        ]
    return found


def _string(instructions: Sequence[pikepdf.ContentStreamInstruction], place: _Place) -> bytes:
    index, operand, item = place
    value = instructions[index].operands[operand]
    return bytes(value if item is None else value[item])


def _unit(
    instructions: Sequence[pikepdf.ContentStreamInstruction], slot: tuple[_Place, int]
) -> bytes:
    place, unit = slot
    string = _string(instructions, place)
    if len(string) < (unit + 1) * _UNIT:
        raise ValueError("the specimens differ in length")
    return string[unit * _UNIT : (unit + 1) * _UNIT]
