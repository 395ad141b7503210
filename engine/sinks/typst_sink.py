"""The Typst sink: band events become the template's data, typeset to PDF or PNG/SVG pages.

Records are streamed into `data.json` in a private run folder as events arrive; `finish`
typesets and moves the result into place (a PDF file, or a folder of page files).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import TextIO

import pypdf

from engine.definition import ReportDefinition
from engine.errors import OutputError
from engine.fill import BandEvent
from engine.plan import QueryPlan
from engine.sinks.base import write_atomically
from engine.typst_writer import TEMPLATE, OutputFormat, TypstLayout, compile_typst

__all__ = ("TypstSink",)


class TypstSink:
    """PDF (one file) or PNG/SVG (one file per page, in a folder)."""

    def __init__(
        self, definition: ReportDefinition, plan: QueryPlan, output: Path, fmt: OutputFormat
    ) -> None:
        self.layout = TypstLayout(definition, plan)
        self.output = output
        self.fmt = fmt
        self.pages = 0
        self.records = 0
        self._dir = Path(tempfile.mkdtemp(prefix="quire-typst-"))
        shutil.copyfile(TEMPLATE, self._dir / "report.typ")
        self._data: TextIO = (self._dir / "data.json").open("w", encoding="utf-8")
        head = {
            "title": definition.title,
            "page": self.layout.page_data(),
            "bands": self.layout.bands,
        }
        self._data.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "events": [')
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def write(self, events: Sequence[BandEvent]) -> None:
        out, encode = self._data, self._encode
        for record in self.layout.records(events):
            if self.records:
                out.write(",\n")
            out.write(encode(record))
            self.records += 1

    def finish(self) -> list[Path]:
        try:
            self._data.write("]}\n")
            self._data.close()
            pages = compile_typst(self._dir, self.fmt)
            return self._publish(pages)
        finally:
            self.discard()

    def discard(self) -> None:
        self._data.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _publish(self, pages: list[bytes]) -> list[Path]:
        if self.fmt == "pdf":
            self.pages = len(pypdf.PdfReader(BytesIO(pages[0])).pages)
            return [write_atomically(self.output, pages[0])]
        self.pages = len(pages)
        try:
            self.output.mkdir(parents=True, exist_ok=True)
            for stale in self.output.glob(f"page-*.{self.fmt}"):
                stale.unlink()
        except OSError as error:
            raise OutputError(f"cannot write '{self.output}': {error.strerror}", "output") from None
        width = max(3, len(str(len(pages))))
        return [
            write_atomically(self.output / f"page-{i:0{width}d}.{self.fmt}", data)
            for i, data in enumerate(pages, start=1)
        ]
