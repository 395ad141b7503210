"""Joining segment PDFs into one, written object by object as each segment is added.

A library join (pikepdf's pages.extend, qpdf's --pages) keeps every copied page in
memory until it writes the result: measured, about 33 KB a page, 450 MB at 13,406 pages.
Here each segment's objects are renumbered and written out as soon as the segment is
added, while later segments are still being typeset, so memory holds one segment and a
list of object offsets. The page tree, the outline and the document information are
written at the end, then the cross-reference table. Stream data is copied as it is
stored (still compressed).

Page numbers "of Y" are known only at the end, and so are page totals (the engine
computes them as pages are kept). With `overlays`, every page is written with a
reference to a form XObject whose number is reserved, not yet written; `overlay` later
writes each page's texts (a page typeset by Typst) into those reserved objects, or
`stamp` writes them all from a few specimens (engine.page_stamps). No page is read or
stamped twice.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pikepdf

from engine.page_stamps import PageStamps, Texts

__all__ = ("PdfJoiner",)

Bookmark = tuple[int, str, int]  # (level from 0, title, page index from 0)
_STREAM_KEYS = ("/Length", "/Filter", "/DecodeParms")  # what a stream's own data decides
_OVERLAY = "/QuireOverlay"  # the form XObject's name in each page's resources
# A string literal (qpdf escapes the parentheses in one), or a reference: "12 0 R".
_REFERENCE = re.compile(rb"\((?:\\.|[^\\()])*\)|(\d+) (\d+) R\b", re.DOTALL)


class PdfJoiner:
    """One PDF file, written as parts are added; `finish` completes it."""

    def __init__(self, target: Path, *, overlays: bool = False) -> None:
        self._file = target.open("wb")
        self._writer = _Writer(self._file)
        self._root = self._writer.reserve()  # the page tree, written last
        self._pages: list[int] = []
        self._overlays: list[int] | None = [] if overlays else None  # reserved, per page
        self._wrap: tuple[int, int] | None = None  # the content streams around a page's own

    @property
    def pages(self) -> int:
        return len(self._pages)

    def add(self, path: Path, count: int) -> None:
        """Copy the first `count` pages of the PDF at `path` to the end."""
        if count <= 0:
            return
        with pikepdf.open(path) as pdf:
            copier = _Copier(self._writer, pdf)
            pages = list(pdf.pages[:count])
            numbers = [copier.claim(page.obj) for page in pages]  # links to them stay inside
            for page, number in zip(pages, numbers, strict=True):
                entries = {k: v for k, v in page.obj.items() if k != "/Parent"}
                extra = b"/Parent %d 0 R" % self._root
                if self._overlays is not None:
                    entries.update(self._overlaid(entries, copier))
                self._writer.write(number, _dictionary(entries, copier, extra=extra))
                copier.flush()
            self._pages += numbers

    def overlay(self, path: Path, first: int) -> None:
        """Lay page i of the PDF at `path` over page `first + i` of those added."""
        assert self._overlays is not None, "the joiner was made without overlays"
        with pikepdf.open(path) as pdf:
            copier = _Copier(self._writer, pdf)  # shared by its pages: fonts are copied once
            for index, page in enumerate(pdf.pages):
                form = page.as_form_xobject()
                self._writer.write(self._overlays[first + index], _body(form, copier))
                copier.flush()

    def stamp(self, path: Path, shown: Sequence[tuple[int, str]], texts: Sequence[Texts]) -> bool:
        """Lay its texts over every page (texts[i] over page i), stamped from the specimens
        in the PDF at `path` (page i shows shown[i]); False, with nothing written, if they
        cannot stand for every page."""
        assert self._overlays is not None, "the joiner was made without overlays"
        assert len(texts) == len(self._overlays), "a page's texts are missing"
        with pikepdf.open(path) as pdf:
            stamps = PageStamps.learn(pdf, shown)
            if stamps is None:
                return False
            copier = _Copier(self._writer, pdf)
            first = pdf.pages[0].as_form_xobject().stream_dict.items()
            head: dict[str, Any] = {
                k: v for k, v in first if k not in (*_STREAM_KEYS, "/Resources")
            }
            head["/Filter"] = pikepdf.Name.FlateDecode
            heads: dict[tuple[int, ...], bytes] = {}  # with one dictionary per set of forms
            for form, shown_texts in zip(self._overlays, texts, strict=True):
                data, used = stamps.content(shown_texts)
                if used not in heads:
                    named = _dictionary(stamps.resources(used), copier)
                    resources = _Raw(b"%d 0 R" % self._writer.add(named))
                    heads[used] = _dictionary({**head, "/Resources": resources}, copier)
                self._writer.write(form, _framed(heads[used], zlib.compress(data)))
            copier.flush()
        return True

    def finish(self, title: str, bookmarks: Sequence[Bookmark]) -> int:
        """Write the page tree, outline, information and cross-references; the page count."""
        writer, pages = self._writer, self._pages
        kids = b" ".join(b"%d 0 R" % page for page in pages)
        writer.write(self._root, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(pages), kids))
        outlines = _outline(writer, bookmarks, pages)
        info = writer.add(b"<< /Title %s >>" % pikepdf.String(title).unparse())
        catalog = b"<< /Type /Catalog /Pages %d 0 R" % self._root
        if outlines is not None:
            catalog += b" /Outlines %d 0 R /PageMode /UseOutlines" % outlines
        writer.finish(writer.add(catalog + b" >>"), info)
        self._file.close()
        return len(pages)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PdfJoiner:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _overlaid(self, entries: dict[str, Any], copier: _Copier) -> dict[str, Any]:
        """A page's /Contents and /Resources, drawing its overlay last, over everything."""
        assert self._overlays is not None
        if self._wrap is None:  # shared by every page: save the state, then restore it
            self._wrap = (
                self._writer.add(_stream(b"q\n")),
                self._writer.add(_stream(b"\nQ\nq %s Do Q\n" % _OVERLAY.encode())),
            )
        before, after = self._wrap
        form = self._writer.reserve()
        self._overlays.append(form)
        contents = entries.get("/Contents")
        own = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
        own = [stream for stream in own if stream is not None]  # a blank page has none
        resources = entries.get("/Resources")
        merged = dict(resources.items()) if resources is not None else {}
        xobjects = merged.get("/XObject")
        merged["/XObject"] = {
            **(dict(xobjects.items()) if xobjects is not None else {}),
            _OVERLAY: _Raw(b"%d 0 R" % form),
        }
        return {
            "/Contents": [_Raw(b"%d 0 R" % before), *own, _Raw(b"%d 0 R" % after)],
            "/Resources": merged,
        }


class _Raw(bytes):
    """PDF text written as it is: a reference to an object of the joined file."""


class _Writer:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.offsets: list[int] = [0]  # object n at offsets[n]; 0 is the free list head
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    def reserve(self) -> int:
        self.offsets.append(-1)
        return len(self.offsets) - 1

    def write(self, number: int, body: bytes) -> None:
        self.offsets[number] = self.out.tell()
        self.out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))

    def add(self, body: bytes) -> int:
        number = self.reserve()
        self.write(number, body)
        return number

    def finish(self, catalog: int, info: int) -> None:
        start = self.out.tell()
        self.out.write(b"xref\n0 %d\n0000000000 65535 f \n" % len(self.offsets))
        self.out.writelines(b"%010d 00000 n \n" % offset for offset in self.offsets[1:])
        self.out.write(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self.offsets), catalog, info, start)
        )


class _Copier:
    """Copies the objects of one source PDF into the writer, each once, renumbered.

    Values are written as qpdf unparses them (in C++), with each reference to an object
    of the source replaced by one to its copy: walking every value in Python cost about
    as much as the rest of the join.
    """

    def __init__(self, writer: _Writer, source: pikepdf.Pdf) -> None:
        self._writer = writer
        self._source = source
        self._numbers: dict[tuple[int, int], int] = {}
        self._pending: list[pikepdf.Object] = []

    def claim(self, obj: pikepdf.Object) -> int:
        """A number for an object the caller writes itself (a page)."""
        number = self._numbers[obj.objgen] = self._writer.reserve()
        return number

    def ref(self, obj: pikepdf.Object) -> bytes:
        key = obj.objgen
        if key not in self._numbers:
            self._numbers[key] = self._writer.reserve()
            self._pending.append(obj)
        return b"%d 0 R" % self._numbers[key]

    def rewrite(self, text: bytes) -> bytes:
        """Unparsed PDF text with its references renumbered; strings are left as they are."""
        return _REFERENCE.sub(self._renumber, text)

    def _renumber(self, match: re.Match[bytes]) -> bytes:
        if match[1] is None:
            return match[0]  # a string
        key = (int(match[1]), int(match[2]))
        number = self._numbers.get(key)
        if number is None:
            obj = self._source.get_object(key)
            if obj is None:
                return b"null"  # what a reference to a missing object means
            number = self._numbers[key] = self._writer.reserve()
            self._pending.append(obj)
        return b"%d 0 R" % number

    def flush(self) -> None:
        """Write every object referred to so far, and what they refer to."""
        while self._pending:
            obj = self._pending.pop()
            self._writer.write(self._numbers[obj.objgen], _body(obj, self))


def _stream(data: bytes) -> bytes:
    return _framed(b"<< >>", data)


def _framed(head: bytes, data: bytes) -> bytes:
    """A stream object: its dictionary as written (`<< ... >>`), /Length added, and data."""
    return b"%s /Length %d >>\nstream\n%s\nendstream" % (head[:-3], len(data), data)


def _body(obj: pikepdf.Object, copier: _Copier) -> bytes:
    """An indirect object's own text: a stream with its raw data, or a value."""
    if isinstance(obj, pikepdf.Stream):
        entries = {k: v for k, v in obj.stream_dict.items() if k != "/Length"}
        return _stream_object(entries, obj.read_raw_bytes(), copier)
    return copier.rewrite(obj.unparse(resolved=True))


def _stream_object(entries: dict[str, Any], data: bytes, copier: _Copier) -> bytes:
    """A stream of `data` as stored (filters given in `entries`), its length added."""
    return _framed(_dictionary(entries, copier), data)


def _dictionary(entries: dict[str, Any], copier: _Copier, extra: bytes = b"") -> bytes:
    parts = [
        pikepdf.Name(key).unparse() + b" " + _value(value, copier) for key, value in entries.items()
    ]
    return b"<< " + b" ".join([*parts, extra] if extra else parts) + b" >>"


def _value(value: Any, copier: _Copier) -> bytes:
    if isinstance(value, _Raw):
        return bytes(value)
    if isinstance(value, pikepdf.Object):
        return copier.ref(value) if value.is_indirect else copier.rewrite(value.unparse())
    if isinstance(value, dict):
        return _dictionary(value, copier)
    if isinstance(value, list):
        return b"[" + b" ".join(_value(item, copier) for item in value) + b"]"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, Decimal | float):
        return format(Decimal(value).normalize(), "f").encode()
    if value is None:
        return b"null"
    raise TypeError(f"cannot write {type(value).__name__} into a PDF")


def _outline(writer: _Writer, bookmarks: Sequence[Bookmark], pages: list[int]) -> int | None:
    """The outline tree of the bookmarks; its root object's number, or None."""
    if not bookmarks:
        return None
    root = writer.reserve()
    numbers = [writer.reserve() for _ in bookmarks]
    parents: list[int | None] = []
    children: dict[int, list[int]] = {}  # index of a parent (-1: the root) -> its items
    position: list[int] = []  # where each item stands among its siblings
    stack: list[int] = []
    for index, (level, _, _) in enumerate(bookmarks):
        del stack[min(level, len(stack)) :]
        parent = stack[-1] if stack else -1
        parents.append(parent if parent >= 0 else None)
        siblings = children.setdefault(parent, [])
        position.append(len(siblings))
        siblings.append(index)
        stack.append(index)
    for index, (_, title, page) in enumerate(bookmarks):
        up = parents[index]
        siblings = children[up if up is not None else -1]
        at = position[index]
        entries = [
            b"/Title " + pikepdf.String(title).unparse(),
            b"/Parent %d 0 R" % (numbers[up] if up is not None else root),
            b"/Dest [%d 0 R /Fit]" % pages[page],
        ]
        if at > 0:
            entries.append(b"/Prev %d 0 R" % numbers[siblings[at - 1]])
        if at + 1 < len(siblings):
            entries.append(b"/Next %d 0 R" % numbers[siblings[at + 1]])
        kids = children.get(index, [])
        if kids:
            entries.append(b"/First %d 0 R /Last %d 0 R" % (numbers[kids[0]], numbers[kids[-1]]))
            entries.append(b"/Count -%d" % len(kids))  # closed: a reader opens what it needs
        writer.write(numbers[index], b"<< " + b" ".join(entries) + b" >>")
    top = children[-1]
    writer.write(
        root,
        b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>"
        % (numbers[top[0]], numbers[top[-1]], len(top)),
    )
    return root
