"""Page numbers and page totals stamped from glyphs typeset once, not a page typeset for each.

"Page X of Y" can be drawn only once the last segment is typeset, and a page's total only
once the engine knows which rows the page holds. Typesetting a page of them for every
page cost about 3M instructions a page, and typesetting the totals inside the segments
(a running state Typst updates and queries) 7% of a segment's work. But with tabular
figures every digit is as wide as any other, so "$12,345.67" is "$98,765.43" with other
digit glyphs in the same places: texts of the same shape (`shape`: their digits made 0)
are drawn alike. Each page's texts come in fields: the page numbers (every cell showing
one), then each page total cell. Typst typesets a few specimens of each shape a field
takes (`specimens`), a page each, showing that field alone; their content streams show
where the digits are drawn and the glyph code of each digit. Every specimen is then
stamped and compared with what Typst drew. If any differs (a kerning that depends on
the digit, say), the specimens cannot stand for every page: `learn` returns None, and
the caller typesets the texts page by page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pikepdf

__all__ = ("PageStamps", "Texts", "shape", "specimens")

Texts = Sequence[str | None]  # a page's text in each field; None: the field shows nothing
_UNIT = 2  # bytes a glyph code takes in the strings of Typst's fonts (Identity-H)
_Place = tuple[int, int, int | None]  # instruction, operand, item of an array operand
_DIGIT = re.compile(r"\d")
_ORDER = "1234567890"
# What a content stream names from its resources (the marked-content tags it names are
# not among them).
_RESOURCES = ("/Font", "/ColorSpace", "/ExtGState", "/XObject", "/Pattern", "/Shading")


def shape(text: str) -> str:
    """What a text has in common with every text drawn alike: its digits made 0."""
    return _DIGIT.sub("0", text)


def specimens(shapes: Sequence[Iterable[str]]) -> list[tuple[int, str]]:
    """The specimens to typeset, (field, text) a page, for fields taking these shapes.

    For each shape with digits, its digits all 1 and all 2 (where they differ, the
    digits are), and in order, 1234567890 repeated (every digit next to another); for
    the first shape of each field, also its digits all 3, ..., all 0 (each digit's
    glyph). A shape without digits is drawn as it is.
    """
    found: list[tuple[int, str]] = []
    for field, taken in enumerate(shapes):
        first = True
        for form in sorted(set(taken) - {""}):
            places = form.count("0")
            if places == 0:
                found.append((field, form))
                continue
            digits = _ORDER if first else _ORDER[:2]
            found += [(field, form.replace("0", digit)) for digit in digits]
            if places > 1:
                found.append((field, _digits_in_order(form)))
            first = False
    return found


def _digits_in_order(form: str) -> str:
    order = iter(_ORDER * (len(form) // len(_ORDER) + 1))
    return "".join(next(order) if c == "0" else c for c in form)


@dataclass(eq=False)
class _Form:
    """How every text of one shape in one field is drawn."""

    number: int  # its resource names are prefixed "Q<number>"
    pieces: list[bytes]  # its content stream, cut where each digit's glyph code goes
    slots: list[tuple[_Place, int]]  # where the digits go: string, code unit; in order
    resources: dict[str, dict[str, pikepdf.Object]]  # by kind, under the names it uses

    @property
    def prefix(self) -> str:
        return f"Q{self.number}"


class PageStamps:
    """Content streams that draw any page's texts, from the specimens' glyphs."""

    def __init__(
        self, forms: dict[tuple[int, str], _Form], codes: dict[int, dict[str, bytes]]
    ) -> None:
        self._forms = forms  # (field, shape) -> its form
        self._by_number = sorted(forms.values(), key=lambda form: form.number)
        self._codes = codes  # field -> digit -> glyph code, in hex

    @classmethod
    def learn(cls, pdf: pikepdf.Pdf, shown: Sequence[tuple[int, str]]) -> PageStamps | None:
        """From the specimens in `pdf` (page i shows shown[i], as `specimens` gives them);
        None if they do not all come out as Typst drew them."""
        drawn: dict[tuple[int, str], tuple[list[Any], pikepdf.Page]] = {}
        for index, specimen in enumerate(shown):
            found = _instructions(pdf.pages[index])
            if found is None:
                return None
            drawn[specimen] = (found, pdf.pages[index])
        forms: dict[tuple[int, str], _Form] = {}
        codes: dict[int, dict[str, bytes]] = {}
        try:
            for field, text in shown:
                form = shape(text)
                if (field, form) in forms:
                    continue
                model = drawn[field, form.replace("0", "1")]  # the form itself, if no digits
                slots: list[tuple[_Place, int]] = []
                if "0" in form:
                    slots = _differences(model[0], drawn[field, form.replace("0", "2")][0])
                    if field not in codes:  # the first shape: a specimen for each digit
                        codes[field] = {
                            digit: _unit(drawn[field, form.replace("0", digit)][0], slots[0])
                            for digit in _ORDER
                        }
                made = _Form(len(forms), [], slots, {})
                instructions, made.resources = _own_names(*model, made.prefix)
                made.pieces = _cut(instructions, slots)[0]
                forms[field, form] = made
            stamps = cls(forms, codes)
            for (field, text), (found, page) in drawn.items():
                learnt = forms[field, shape(text)]
                expected, resources = _own_names(found, page, learnt.prefix)
                if _identity(resources) != _identity(learnt.resources):
                    return None
                pieces, digits = _cut(expected, learnt.slots)
                if stamps._content(field, text)[0] != _joined(pieces, digits):
                    return None
        except (IndexError, KeyError, ValueError):  # the specimens differ in their shape
            return None
        return stamps

    def content(self, texts: Texts) -> tuple[bytes, tuple[int, ...]]:
        """The content stream that draws a page's texts, and the forms it draws with
        (for `resources`)."""
        streams: list[bytes] = []
        used: list[int] = []
        for field, text in enumerate(texts):
            if text:
                content, form = self._content(field, text)
                streams.append(b"q\n%s\nQ" % content)
                used.append(form)
        return b"\n".join(streams), tuple(used)

    def resources(self, used: tuple[int, ...]) -> dict[str, dict[str, pikepdf.Object]]:
        """What a page's texts drawn with these forms name, by kind of resource."""
        merged: dict[str, dict[str, pikepdf.Object]] = {}
        for number in used:
            for kind, named in self._by_number[number].resources.items():
                merged.setdefault(kind, {}).update(named)
        return merged

    def _content(self, field: int, text: str) -> tuple[bytes, int]:
        """What draws `text` in `field`, and the number of the form it is drawn with."""
        form = self._forms[field, shape(text)]
        digits = _DIGIT.findall(text)
        if form.slots and len(form.slots) % len(digits):  # each digit, once per cell
            raise ValueError("the digits drawn are not the text's")
        codes = self._codes.get(field, {})
        drawn = [codes[digits[k % len(digits)]] for k in range(len(form.slots))]
        return _joined(form.pieces, drawn), form.number


def _cut(
    instructions: Sequence[pikepdf.ContentStreamInstruction], slots: Sequence[tuple[_Place, int]]
) -> tuple[list[bytes], list[bytes]]:
    """The instructions as content stream text, cut where the glyph codes `slots` name
    are written (strings holding them written in hex); the codes found there, in hex.
    Stamping a page then joins bytes: remaking and writing out instructions cost 0.15 ms
    a text."""
    cuts: dict[_Place, set[int]] = {}
    for place, unit in slots:
        cuts.setdefault(place, set()).add(unit)
    pieces: list[bytes] = []
    found: list[bytes] = []
    text = bytearray()

    def string(value: bytes, place: _Place) -> None:
        nonlocal text
        units = cuts.get(place, set())
        text += b"<"
        for unit in range(len(value) // _UNIT):
            code = value[unit * _UNIT : (unit + 1) * _UNIT]
            if unit in units:
                pieces.append(bytes(text))
                found.append(code.hex().encode())
                text = bytearray()
            else:
                text += code.hex().encode()
        text += value[len(value) // _UNIT * _UNIT :].hex().encode() + b">"

    places = {place[0] for place in cuts}
    for index, instruction in enumerate(instructions):
        if index not in places:
            text += pikepdf.unparse_content_stream([instruction]) + b"\n"
            continue
        for position, operand in enumerate(instruction.operands):
            if isinstance(operand, pikepdf.Array):
                text += b"["
                for item, value in enumerate(operand):
                    text += b" "
                    if isinstance(value, pikepdf.String):
                        string(bytes(value), (index, position, item))
                    else:
                        text += _number(value)
                text += b" ] "
            elif isinstance(operand, pikepdf.String):
                string(bytes(operand), (index, position, None))
                text += b" "
            else:
                raise ValueError("a digit is drawn by an instruction not showing text")
        text += bytes(instruction.operator) + b"\n"
    if len(found) != len(slots):
        raise ValueError("the specimens differ in their strings")
    return [*pieces, bytes(text)], found


def _number(value: Any) -> bytes:
    """A number in a TJ array (a glyph's displacement), as content stream text."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise ValueError(f"not a displacement: {value!r}")
    return format(Decimal(value), "f").encode()


def _joined(pieces: Sequence[bytes], codes: Sequence[bytes]) -> bytes:
    """Content stream text cut by `_cut`, with these glyph codes (in hex) where it was cut."""
    out = [pieces[0]]
    for code, piece in zip(codes, pieces[1:], strict=True):
        out += (code, piece)
    return b"".join(out)


def _own_names(
    instructions: list[pikepdf.ContentStreamInstruction], page: pikepdf.Page, prefix: str
) -> tuple[list[pikepdf.ContentStreamInstruction], dict[str, dict[str, Any]]]:
    """The instructions with each resource they name renamed `prefix` + name, and those
    resources under their new names: the streams of several specimen pages are then
    drawn in one overlay, with one dictionary of resources, and no name means two
    things."""
    given = page.obj.get("/Resources", pikepdf.Dictionary())
    kinds = {kind: given[kind] for kind in _RESOURCES if kind in given}
    renamed: list[pikepdf.ContentStreamInstruction] = []
    used: dict[str, dict[str, Any]] = {}
    for instruction in instructions:
        operands = list(instruction.operands)
        for position, operand in enumerate(operands):
            if not isinstance(operand, pikepdf.Name):
                continue
            for kind, named in kinds.items():
                if str(operand) in named:
                    new = f"/{prefix}{str(operand)[1:]}"
                    used.setdefault(kind, {})[new] = named[str(operand)]
                    operands[position] = pikepdf.Name(new)
                    break
        renamed.append(pikepdf.ContentStreamInstruction(operands, instruction.operator))
    return renamed, used


def _identity(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Resources as comparable values: an object's number, or a direct value's text."""
    return {
        kind: {
            name: obj.objgen if obj.is_indirect else obj.unparse() for name, obj in named.items()
        }
        for kind, named in resources.items()
    }


def _instructions(page: pikepdf.Page) -> list[pikepdf.ContentStreamInstruction] | None:
    found = pikepdf.parse_content_stream(page)
    if not all(isinstance(i, pikepdf.ContentStreamInstruction) for i in found):
        return None  # an inline image: not something a text draws
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


def _unit(
    instructions: Sequence[pikepdf.ContentStreamInstruction], slot: tuple[_Place, int]
) -> bytes:
    (index, operand, item), unit = slot
    value = instructions[index].operands[operand]
    string = bytes(value if item is None else value[item])
    if len(string) < (unit + 1) * _UNIT:
        raise ValueError("the specimens differ in length")
    return string[unit * _UNIT : (unit + 1) * _UNIT].hex().encode()
