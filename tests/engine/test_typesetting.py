"""Segmented typesetting gives the same PDF text, page for page, as one document."""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pikepdf
import pypdf
import pytest
import sqlalchemy as sa

from engine import pipeline, typesetting
from engine.definition import ReportDefinition
from engine.document import load_definition, parse_definition
from engine.page_stamps import PageStamps
from engine.pdf_join import PdfJoiner
from engine.pipeline import run_pipeline
from engine.render import check_report
from engine.sinks import typst_sink
from engine.sinks.typst_sink import TypstSink
from engine.typst_worker import TypstFailed, WorkerPool, run_pool
from engine.typst_writer import TypstLayout, compile_source

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def demo(small_demo: sa.Engine) -> sa.Engine:
    return small_demo


def _render(
    engine: sa.Engine,
    definition: ReportDefinition,
    given: dict[str, Any],
    out: Path,
    segment: int | None,
) -> tuple[TypstSink, list[str], list[tuple[int, str, int]]]:
    plan, params, _ = check_report(definition, engine, given)
    sink = TypstSink(definition, plan, out, "pdf", segment_records=segment)
    run_pipeline(definition, engine, plan, params, [sink], batch_size=300)
    # Whitespace normalised: page numbers laid over a page are extracted after a line break.
    pages = [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(out).pages]
    return sink, pages, _bookmarks(out)


def _bookmarks(path: Path) -> list[tuple[int, str, int]]:
    found: list[tuple[int, str, int]] = []
    with pikepdf.open(path) as pdf:
        pages = {page.objgen: i for i, page in enumerate(pdf.pages)}
        with pdf.open_outline() as outline:

            def walk(items: list[Any], level: int) -> None:
                for item in items:
                    target = item.destination[0] if item.destination is not None else None
                    found.append((level, item.title, pages.get(target.objgen, -1)))
                    walk(item.children, level + 1)

            walk(outline.root, 0)
    return found


def _placed(path: Path) -> list[list[tuple[float, float, str]]]:
    """Each page's texts with where they start (points from the bottom left), overlays
    included, in reading order of position."""
    pages = []
    for page in pypdf.PdfReader(path).pages:
        found: list[tuple[float, float, str]] = []

        def visit(
            text: str, cm: list[float], tm: list[float], *_: Any, found: list[Any] = found
        ) -> None:
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                found.append((round(x, 2), round(y, 2), text.strip()))

        page.extract_text(visitor_text=visit)
        pages.append(sorted(found))
    return pages


def _same_as_one_document(
    engine: sa.Engine, definition: ReportDefinition, given: dict[str, Any], tmp: Path, segment: int
) -> TypstSink:
    sink, segmented, marks = _render(engine, definition, given, tmp / "segmented.pdf", segment)
    whole_sink, whole, whole_marks = _render(engine, definition, given, tmp / "whole.pdf", None)
    assert whole_sink.segments == 0
    assert sink.segments >= 4, "the report must span several segments"
    assert len(segmented) == len(whole)
    placed = _placed(tmp / "whole.pdf")  # the same texts, each where one document puts it
    pairs = zip(_placed(tmp / "segmented.pdf"), placed, strict=True)
    for number, (got, want) in enumerate(pairs, start=1):
        assert got == want, f"page {number} differs"
    assert marks == whole_marks
    return sink


@pytest.mark.parametrize("numbers", ["stamped", "typeset"])
def test_grouped_report_matches_page_for_page(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, numbers: str
) -> None:
    """Page numbers stamped from specimens, or (where specimens cannot stand for every
    page) typeset page by page: either way where one document puts them."""
    typeset: list[int] = []
    overlay = PdfJoiner.overlay

    def typeset_chunk(joiner: PdfJoiner, path: Path, first: int) -> None:
        typeset.append(first)
        overlay(joiner, path, first)

    monkeypatch.setattr(PdfJoiner, "overlay", typeset_chunk)
    if numbers == "typeset":
        monkeypatch.setattr(PageStamps, "learn", classmethod(lambda *_: None))
        monkeypatch.setattr(typesetting, "SEGMENT_PAGES", 7)  # page numbers in several chunks
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    sink = _same_as_one_document(demo, definition, {"start": "2025-06-01"}, tmp_path, 400)
    assert sink.pages > 20
    text = pypdf.PdfReader(tmp_path / "segmented.pdf").pages[-1].extract_text()
    assert f"Page {sink.pages} of {sink.pages}" in text
    assert typeset == ([] if numbers == "stamped" else list(range(0, sink.pages, 7)))
    assert _bookmarks(tmp_path / "segmented.pdf")[0][0] == 0  # regions, with customers inside
    for name in ("segmented.pdf", "whole.pdf"):  # page numbers too, on every chunk's first page
        assert {font.split("+")[-1] for font in _fonts(tmp_path / name)} == {
            "Inter-Regular-Identity-H",
            "Inter-Bold-Identity-H",
            "Inter-Italic-Identity-H",
        }, name


def _colours(path: Path) -> set[str]:
    """The RGB colours text and strokes are drawn in on every page, as '#rrggbb'."""
    found: set[str] = set()
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) in ("scn", "SCN") and len(operands) == 3:
                    found.add("#" + "".join(f"{round(float(v) * 255):02x}" for v in operands))
    return found


def _fonts(path: Path) -> set[str]:
    """The fonts drawn with on any page, its overlay and other form XObjects included."""
    found: set[str] = set()

    def visit(resources: Any) -> None:
        for font in resources.get("/Font", {}).values():
            found.add(str(font.BaseFont))
        for xobject in resources.get("/XObject", {}).values():
            if "/Resources" in xobject:
                visit(xobject.Resources)

    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            visit(page.obj.Resources)
    return found


@pytest.mark.parametrize("guess", ["right", "wrong"])
def test_page_stamp_specimens_are_typeset_ahead_and_used_only_if_the_guess_held(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guess: str
) -> None:
    """The specimens are typeset beside the last segments, from the pages as predicted;
    when the pages came out otherwise (here: a guess made wrong on purpose) they are
    typeset again from the pages as kept, and the PDF is the one-document PDF either way."""
    typeset: list[str] = []
    specimens = typesetting.SegmentedTypesetter._typeset_specimens
    guess_specimens = typesetting.SegmentedTypesetter._guess_specimens

    def recorded(self: Any, total: int, shown: Any, fields: int, name: str) -> Path:
        typeset.append(name)
        return specimens(self, total, shown, fields, name)

    def guessed(self: Any) -> None:
        guess_specimens(self)
        if guess == "wrong" and self._guess is not None:
            (total, shown), future = self._guess
            self._guess = ((total + 1, shown), future)

    monkeypatch.setattr(typesetting.SegmentedTypesetter, "_typeset_specimens", recorded)
    monkeypatch.setattr(typesetting.SegmentedTypesetter, "_guess_specimens", guessed)
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    _same_as_one_document(demo, definition, {"start": "2025-06-01"}, tmp_path, 400)
    assert typeset == (["guess"] if guess == "right" else ["guess", "specimens"])


def test_group_headers_are_reprinted_on_every_page_their_group_continues_on(
    demo: sa.Engine, tmp_path: Path
) -> None:
    """Every page opens with a region header: reprinted while the region goes on, the
    region's own header where a new one starts; the same in segments as in one document."""
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    assert definition.groups[0].reprint_header
    sink = _same_as_one_document(demo, definition, {"start": "2025-06-01"}, tmp_path, 400)
    reader = pypdf.PdfReader(tmp_path / "segmented.pdf")
    regions: list[str] = []
    for page in reader.pages[1:-1]:  # the first has the title; the last may open with totals
        lines = page.extract_text().splitlines()
        assert lines[2].startswith("Region"), lines[:4]  # page header, column header, region
        regions.append(lines[2])
    reprinted = sum(1 for a, b in itertools.pairwise(regions) if a == b)
    assert reprinted > sink.pages // 2  # most pages continue a region


def test_page_numbers_in_the_page_header_sit_where_one_document_puts_them(
    demo: sa.Engine, tmp_path: Path
) -> None:
    """The header grows with the group headers it reprints; the overlay that lays "Page X
    of Y" over each page has the same ones, so the number is not drawn over the column
    header."""
    text = (EXAMPLES / "sales_by_region.yaml").read_text()
    page_number = '      - {type: page_number, text: "Page {page} of {pages}", align: right}\n'
    assert page_number in text
    text = text.replace(page_number, "").replace(
        '      - {type: label, text: "Quire demo: sales by region"}\n',
        '      - {type: label, text: "Quire demo: sales by region", width: 60mm}\n'
        '      - {type: page_number, text: "Page {page} of {pages}"}\n',
    )
    definition = parse_definition(text)
    _same_as_one_document(demo, definition, {"start": "2025-06-01"}, tmp_path, 400)
    pages = _placed(tmp_path / "segmented.pdf")
    numbers = [(x, y) for page in pages for x, y, text in page if re.match(r"Page \d+ of", text)]
    assert len(numbers) == len(pages)
    assert len(set(numbers)) == 1, "the page number moved between pages"


def test_page_numbers_in_header_and_footer_are_both_stamped(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two numbers a page, one centred: each digit of each is stamped where Typst puts it,
    and no page of numbers is typeset."""

    def typeset(*_: Any) -> None:
        raise AssertionError("the numbers were typeset, not stamped")

    monkeypatch.setattr(PdfJoiner, "overlay", typeset)
    text = (
        (EXAMPLES / "sales_by_region.yaml")
        .read_text()
        .replace(
            '      - {type: label, text: "Quire demo: sales by region"}\n',
            '      - {type: label, text: "Quire demo: sales by region", width: 60mm}\n'
            '      - {type: page_number, text: "{page}/{pages}", align: center}\n',
        )
    )
    sink = _same_as_one_document(
        demo, parse_definition(text), {"start": "2025-06-01"}, tmp_path, 400
    )
    last = pypdf.PdfReader(tmp_path / "segmented.pdf").pages[-1].extract_text()
    assert f"{sink.pages}/{sink.pages}" in last and f"Page {sink.pages} of" in last


PAGE_TOTALS = """
title: Page totals of every kind
source: {table: order_lines, filter: "id <= 900"}
sort: [{expression: id}]
variables:
  - {name: rows, function: count}
  - {name: page_rows, function: count, reset: page}
  - {name: page_change, function: sum, expression: CHANGE, reset: page}
  - {name: change, function: sum, expression: CHANGE}
bands:
  page_header:
    elements:
      - {type: label, text: "Before this page", width: 40mm}
      - {type: aggregate, variable: rows, format: "{,.0f} rows", width: 40mm, bold: true}
      - {type: aggregate, variable: change, format: "{+,.2f}", align: center}
  detail:
    elements:
      - {type: field, expression: id, width: 30mm}
      - {type: field, expression: CHANGE, format: money, width: 30mm, align: right}
  page_footer:
    elements:
      - {type: aggregate, variable: page_rows, format: "{,.0f} on this page", width: 50mm}
      - type: aggregate
        variable: page_change
        format: "Change {,.2f} EUR"
        width: 50mm
        align: right
        italic: true
      - {type: page_number, text: "{page}", align: right}
""".replace("CHANGE", '"case when id % 150 < 75 then unit_price else -unit_price end"')  # pages
# of 75 rows: the pages' totals change sign


@pytest.mark.parametrize("footer", ["numbered", "unnumbered", "labelled below", "filled"])
def test_page_totals_of_every_format_are_stamped_where_one_document_puts_them(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, footer: str
) -> None:
    """Counts and sums, negative ones too, with text around them, bold, italic and
    centred, in the header and the footer: stamped, each where one document puts it;
    also below a row of nothing but stamped texts, which segments leave blank."""

    def typeset(*_: Any) -> None:
        raise AssertionError("the page texts were typeset, not stamped")

    monkeypatch.setattr(PdfJoiner, "overlay", typeset)
    text = PAGE_TOTALS
    number = '      - {type: page_number, text: "{page}", align: right}\n'
    assert number in text
    if footer == "unnumbered":
        text = text.replace(number, "")
    elif footer == "labelled below":
        text = text.replace(number, number + "      - {type: row_break}\n"
                            '      - {type: label, text: "Below the totals"}\n')  # fmt: skip
    elif footer == "filled":  # a fill as tall as the row of stamped texts
        text = text.replace("  page_footer:\n", '  page_footer:\n    fill: "#eeeeee"\n')
    _same_as_one_document(demo, parse_definition(text), {}, tmp_path, 100)
    assert _rules(tmp_path / "segmented.pdf") == _rules(tmp_path / "whole.pdf")  # and fills
    texts = [page.extract_text() for page in pypdf.PdfReader(tmp_path / "segmented.pdf").pages]
    assert all("on this page" in text for text in texts)
    assert any(re.search(r"Change -\d", text) for text in texts), "a negative page total"
    assert any(re.search(r"Change \d", text) for text in texts), "a positive one"
    lines = [line for line in texts[0].splitlines() if re.fullmatch(r"\d+ -?[\d,]+\.\d\d", line)]
    assert re.search(rf"\b{len(lines)} rows \+[\d,]+\.\d\d\b", texts[1])  # from page 1


VALUES_ONLY = """
title: Values only
source: {table: products}
bands:
  detail:
    elements:
      - {type: field, expression: sku, width: 30mm}
      - {type: label, text: "#", width: 5mm, color: "#9ca3af"}
      - {type: field, expression: name, width: 70mm, align: center, italic: true, color: "#4b5563"}
      - {type: field, expression: list_price, width: 28mm, align: right, bold: true}
      - {type: field, expression: sku, LAST}  # the rest of the line
"""


@pytest.mark.parametrize("last", ["align: left", "align: right", "align: center, bold: true"])
def test_bands_of_values_are_laid_out_by_written_out_loops_as_the_template_would(
    small_demo: sa.Engine, tmp_path: Path, last: str
) -> None:
    """rows.typ lays the lines out where the template's own loop does, every alignment
    included, the last value (unboxed: it ends with the line) too; the values stay
    text, whatever markup they hold, and never enter it."""
    definition = parse_definition(VALUES_ONLY.replace("LAST", last))
    plan, _, _ = check_report(definition, small_demo, {})
    layout = TypstLayout(definition, plan)
    detail = layout.band_index("detail")
    odd = ['#panic("no")', "*not bold* $x$", "] [", "\\ // <label> @ref", "_ ` ~"]
    records = [[detail, [odd[i % 5], odd[(i + 2) % 5], f"{i}.99", odd[(i + 4) % 5]]]
               for i in range(40)]  # fmt: skip
    placed = []
    for name in ("unrolled", "looped"):
        folder = tmp_path / name
        folder.mkdir()
        layout.write_folder(folder, records)
        rows = (folder / "rows.typ").read_text()
        assert f'unrolled.insert("{detail}"' in rows and f'hairs.insert("{detail}"' in rows
        assert not any(value in rows for value in odd) and "#4b5563" not in rows
        if name == "looped":  # the template's own loop, as for bands rows.typ leaves out
            (folder / "rows.typ").write_text("#let unrolled = (:)\n#let hairs = (:)\n")
        (folder / "out.pdf").write_bytes(compile_source(folder)[0])
        placed.append(_placed(folder / "out.pdf"))
        styles = _fonts(folder / "out.pdf"), _colours(folder / "out.pdf")
        assert {"Inter-Italic-Identity-H", "Inter-Bold-Identity-H"} <= {
            font.split("+")[-1] for font in styles[0]
        }
        assert {"#4b5563", "#9ca3af"} <= styles[1]
    unrolled, looped = placed
    assert unrolled == looped
    texts = [text for _, _, text in unrolled[0]]
    assert texts.count('#panic("no")') == 24 and texts.count("] [") == 24  # 40 lines, 3 cells
    assert texts.count("#") == 40  # the label, on every line
    columns = {x for x, _, text in unrolled[0] if text == "*not bold* $x$"}
    assert len(columns) == 3  # once in each column but the price's


def _rules(path: Path) -> list[list[tuple[float, ...]]]:
    """Each page's straight strokes, as (x0, y0, x1, y1) in points from the bottom left."""
    pages = []
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            found: list[tuple[float, ...]] = []
            matrix, saved = pikepdf.Matrix(), []
            start = (0.0, 0.0)
            for operands, operator in pikepdf.parse_content_stream(page):
                op = str(operator)
                if op == "q":
                    saved.append(matrix)
                elif op == "Q":
                    matrix = saved.pop()
                elif op == "cm":
                    matrix = pikepdf.Matrix(*map(float, operands)) @ matrix
                elif op in ("m", "l"):
                    point = matrix.transform((float(operands[0]), float(operands[1])))
                    if op == "l":
                        found.append(tuple(round(v, 3) for v in (*start, *point)))
                    start = point
            pages.append(sorted(found))
    return pages


@pytest.mark.parametrize("last", ["align: left", "align: right", "align: center, bold: true"])
def test_ruled_records_are_laid_out_as_lines_where_blocks_of_their_own_would_be(
    small_demo: sa.Engine, tmp_path: Path, last: str
) -> None:
    """A detail band ruled off below is laid out as the lines of one paragraph, each rule
    drawn from its line: every text and every rule lands where a block per record (the
    layout of a marked record, its last value boxed) puts it, across page breaks too."""
    definition = parse_definition(
        VALUES_ONLY.replace("LAST", last)
        + "      - {type: line, thickness: 0.3, color: '#e5e7eb'}\n"
    )
    plan, _, _ = check_report(definition, small_demo, {})
    layout = TypstLayout(definition, plan)
    detail = layout.band_index("detail")
    records = [[detail, [f"S-{i}", f"Name {i % 7}", f"{i}.99", "x"]] for i in range(150)]
    assert "rule" in layout._rows_module
    drawn = []
    for marked in (None, [True] * len(records)):
        folder = tmp_path / ("blocks" if marked else "lines")
        folder.mkdir()
        layout.write_folder(folder, records, marked=marked)
        items = json.loads((folder / "data.json").read_text())["items"]
        assert any("r" in item for item in items if isinstance(item, dict)) == (marked is None)
        pdf = folder / "out.pdf"
        pdf.write_bytes(compile_source(folder, {"mode": "segment"})[0])
        drawn.append((_placed(pdf), _rules(pdf)))
    (lines_text, lines_rules), (blocks_text, blocks_rules) = drawn
    assert len(lines_text) >= 2, "the records must run over a page break"
    assert lines_text == blocks_text
    assert lines_rules == blocks_rules
    assert sum(map(len, lines_rules)) == len(records)


def test_page_breaks_per_group_match(demo: sa.Engine, tmp_path: Path) -> None:
    definition = load_definition(EXAMPLES / "invoices.yaml")
    _same_as_one_document(demo, definition, {"from_order": 1, "to_order": 120}, tmp_path, 100)


WRAPPING = """
title: Wrapping cells
source: {table: order_lines, filter: "id <= 700"}
groups:
  - name: category
    expression: coalesce(product.category.name, 'none')
    header:
      bold: true
      elements: [{type: field, expression: "coalesce(product.category.name, 'none')"}]
sort: [{expression: id}]
bands:
  detail:
    elements:
      - {type: field, expression: id, width: 30mm}
      - type: field
        expression: >-
          case when id % 23 = 0 then product.name || ' ' || product.name else product.name end
        width: 22mm
      - {type: field, expression: unit_price, format: money, width: 25mm, align: right}
"""


def test_a_segment_is_kept_only_if_each_page_starts_with_the_record_predicted_for_it() -> None:
    """Each predicted page's first record, the last record and the probe are marked;
    the layout is as predicted only if each is on its predicted page and each that
    starts a page is at the page's top."""
    top, line = 96.9, 12.0
    predicted = [1, 1, 1, 2, 2]  # records 0-4; the probe, record 5, should start page 3
    marked = typesetting._page_starts(predicted, 6)
    assert marked == [True, False, False, True, True, True]

    def mark(record: int, page: int, lines_down: int = 0) -> typesetting._Mark:
        return typesetting._Mark(record, page, top + lines_down * line)

    def check(*marks: typesetting._Mark) -> bool:
        return typesetting._as_predicted(predicted, marks, top)

    assert check(mark(0, 1), mark(3, 2), mark(4, 2, 1), mark(5, 3))
    # record 2 went over to page 2: record 3 is on page 2, but not at its top
    assert not check(mark(0, 1), mark(3, 2, 1), mark(4, 2, 2), mark(5, 3))
    # record 3 would have fit on page 1
    assert not check(mark(0, 1), mark(3, 1, 3), mark(4, 2), mark(5, 3))
    # the last record went over to a page of its own (no probe to tell)
    assert not check(mark(0, 1), mark(3, 2), mark(4, 3))
    # the probe does not start page 3
    assert not check(mark(0, 1), mark(3, 2), mark(4, 2, 1), mark(5, 3, 1))


def test_wrapped_cells_are_repaired_to_the_continuous_layout(
    demo: sa.Engine, tmp_path: Path
) -> None:
    definition = parse_definition(WRAPPING)
    sink = _same_as_one_document(demo, definition, {}, tmp_path, 25)
    assert sink.repairs > 0  # predictions failed on wrapped cells, and were put right


def test_small_reports_are_typeset_in_one_piece(demo: sa.Engine, tmp_path: Path) -> None:
    definition = load_definition(EXAMPLES / "product_list.yaml")
    sink, pages, _ = _render(demo, definition, {}, tmp_path / "list.pdf", 1000)
    assert sink.segments == 0
    assert pages


def test_a_report_of_less_than_a_segment_a_process_is_typeset_in_a_share_each(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From SPLIT_ROWS rows, a small report is cut in one share per process, typeset side
    by side (no third piece for the groups' records), and is the one-document PDF."""
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    given = {"start": "2025-06-01"}
    monkeypatch.setattr(typst_sink, "SPLIT_ROWS", 100)
    whole_sink, whole, _ = _render(demo, definition, given, tmp_path / "whole.pdf", None)
    sink, shared, _ = _render(demo, definition, given, tmp_path / "shared.pdf", 10**6)
    assert whole_sink.segments == 0
    assert sink.segments == 2 and sink.repairs == 0
    forker = run_pool()._forker
    assert forker is not None and not forker.ended  # kept for the next run, not restarted
    _render(demo, definition, given, tmp_path / "again.pdf", 10**6)
    assert run_pool()._forker is forker
    assert len(shared) == len(whole) > 2
    assert _placed(tmp_path / "shared.pdf") == _placed(tmp_path / "whole.pdf")


def test_a_whole_document_is_typeset_in_a_child_never_in_the_running_process(
    demo: sa.Engine, tmp_path: Path
) -> None:
    """Typst keeps memory in the process that compiled (for its last ten compiles): a small
    report is typeset in a child of the run pool, which exits, so a long-lived process
    running report after report never even loads typst."""
    script = (
        "import sys, pathlib\n"
        "from engine.document import load_definition\n"
        "from engine.render import connect, render_report\n"
        f"definition = load_definition(pathlib.Path({str(EXAMPLES / 'product_list.yaml')!r}))\n"
        f"source = connect({demo.url.render_as_string()!r})\n"
        f"render_report(definition, source, pathlib.Path({str(tmp_path / 'list.pdf')!r}))\n"
        "print('typst' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert len(pypdf.PdfReader(tmp_path / "list.pdf").pages) >= 1


def test_more_rows_than_expected_go_on_in_full_segments_after_the_first_shares(
    demo: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count far below the rows that come (a stale cache, rows added meanwhile) cuts
    only the first segment of each process small; then segments are full size."""
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    given = {"start": "2025-06-01"}
    _render(demo, definition, given, tmp_path / "whole.pdf", None)
    plan, params, _ = check_report(definition, demo, given)
    monkeypatch.setattr(typst_sink, "SPLIT_ROWS", 100)
    monkeypatch.setattr(pipeline, "estimate_rows", lambda *_args, **_kw: 300)
    sizes: list[int] = []
    submit = typesetting.SegmentedTypesetter._submit

    def recorded(self: Any, records: list[Any], *args: Any) -> None:
        sizes.append(len(records))
        submit(self, records, *args)

    monkeypatch.setattr(typesetting.SegmentedTypesetter, "_submit", recorded)
    sink = TypstSink(definition, plan, tmp_path / "more.pdf", "pdf", segment_records=1000)
    result = run_pipeline(definition, demo, plan, params, [sink], batch_size=300)
    assert result.rows > 1500
    assert max(sizes[:2]) < 300  # shares of the 300 rows expected (cut where a page starts)
    assert max(sizes[2:]) >= 900  # then full segments, not shares of 165 records
    assert len(sizes) <= 2 + -(-result.rows * 11 // 10 // 900) + 2
    assert _placed(tmp_path / "more.pdf") == _placed(tmp_path / "whole.pdf")


@pytest.mark.parametrize("given", [{}, {"min_price": 10**9}], ids=["rows", "no rows"])
def test_a_report_expected_big_that_is_not_comes_out_as_one_document_would(
    demo: sa.Engine, tmp_path: Path, given: dict[str, Any]
) -> None:
    """The row estimate only starts the typesetter early: when fewer rows come (or
    none), the segmented PDF is still the one-document PDF."""
    definition = load_definition(EXAMPLES / "product_list.yaml")
    plan, params, _ = check_report(definition, demo, given)
    sink = TypstSink(definition, plan, tmp_path / "expected.pdf", "pdf", segment_records=1000)
    sink.expect(10**6)  # an estimate far above what comes
    run_pipeline(definition, demo, plan, params, [sink], batch_size=300)
    assert sink.segments >= 1
    _, whole, _ = _render(demo, definition, given, tmp_path / "whole.pdf", None)
    assert _placed(tmp_path / "expected.pdf") == _placed(tmp_path / "whole.pdf")
    assert whole  # the no-data band, without rows


def test_a_report_expected_big_that_prints_nothing_is_one_blank_page(
    demo: sa.Engine, tmp_path: Path
) -> None:
    definition = parse_definition(
        "title: Only details\nsource: {table: products, filter: 'list_price < 0'}\n"
        "bands: {detail: {elements: [{type: field, expression: sku}]}}\n"
    )
    plan, params, _ = check_report(definition, demo, {})
    sink = TypstSink(definition, plan, tmp_path / "nothing.pdf", "pdf", segment_records=100)
    sink.expect(10**6)
    result = run_pipeline(definition, demo, plan, params, [sink])
    assert result.rows == 0 and sink.segments == 0
    assert len(pypdf.PdfReader(tmp_path / "nothing.pdf").pages) == sink.pages == 1


def test_a_report_without_detail_rows_is_not_segmented_for_its_row_count(
    demo: sa.Engine, tmp_path: Path
) -> None:
    definition = load_definition(EXAMPLES / "sales_dashboard.yaml")
    plan, params, _ = check_report(definition, demo, {})
    sink = TypstSink(definition, plan, tmp_path / "dashboard.pdf", "pdf", segment_records=1000)
    sink.expect(10**6)  # a summary of a million rows is still a page or two
    run_pipeline(definition, demo, plan, params, [sink], batch_size=300)
    assert sink.segments == 0
    assert sink.pages >= 1


def test_typst_workers_report_errors_and_replace_a_dead_process(tmp_path: Path) -> None:
    """A compile error comes back as text; a killed compiling child fails its task, not
    the pool; a child is replaced after its share of tasks; the forking process, killed,
    fails the tasks in flight and is replaced."""
    pool = WorkerPool(1, compiles_per_child=3)
    try:
        (tmp_path / "report.typ").write_text("#let x = (")
        with pytest.raises(TypstFailed, match="unclosed delimiter"):
            pool.compile_pdf(tmp_path, {}, tmp_path / "out.pdf")
        (tmp_path / "report.typ").write_text("Hello")
        pool.compile_pdf(tmp_path, {}, tmp_path / "out.pdf")
        assert pypdf.PdfReader(tmp_path / "out.pdf").pages[0].extract_text() == "Hello"

        forker = pool._forker  # a compile error did not cost it its process
        assert forker is not None
        first = pool.serving_pid()
        while (child := pool.serving_pid()) == first:
            pass  # until a new child answers: it has served one task of its share
        assert child != forker.process.pid
        os.kill(child, signal.SIGKILL)
        with pytest.raises(TypstFailed, match="process ended"):
            pool.compile_pdf(tmp_path, {}, tmp_path / "out.pdf")
        served = [pool.serving_pid() for _ in range(4)]
        assert child not in served
        assert served[0] == served[-2] != served[-1]  # replaced after its share
        assert pool._forker is forker  # the forking process itself stayed

        stopped = served[-1]  # a task in flight when the forking process ends fails
        os.kill(stopped, signal.SIGSTOP)
        with concurrent.futures.ThreadPoolExecutor(1) as threads:
            waiting = threads.submit(pool.compile_pdf, tmp_path, {}, tmp_path / "out.pdf")
            deadline = time.monotonic() + 30
            while not forker._waiting and time.monotonic() < deadline:
                pass  # until it is asked of this process: then it cannot go to a new one
            forker.process.kill()
            with pytest.raises(TypstFailed, match="process ended"):
                waiting.result(timeout=30)
        os.kill(stopped, signal.SIGKILL)
        pool.compile_pdf(tmp_path, {}, tmp_path / "out.pdf")  # a new one took its place
        assert pool._forker is not forker
    finally:
        pool.close()


def test_tasks_at_once_run_in_children_of_one_process(tmp_path: Path) -> None:
    """While one task waits in a child, a pool of two answers the next in another child
    of the same process: one process holds typst and the fonts, not one per slot."""
    pool = WorkerPool(2, compiles_per_child=2)
    try:
        assert pool._forker is not None
        forker = pool._forker.process.pid
        first = pool.serving_pid()  # it has a task of its share left, and waits for it
        parents = [_parent(first)]
        os.kill(first, signal.SIGSTOP)
        try:
            with concurrent.futures.ThreadPoolExecutor(2) as threads:
                asked = [threads.submit(pool.serving_pid) for _ in range(2)]
                done, _ = concurrent.futures.wait(
                    asked, timeout=30, return_when=concurrent.futures.FIRST_COMPLETED
                )
                (second,) = [future.result() for future in done]  # not the stopped child
                parents.append(_parent(second))
                os.kill(first, signal.SIGCONT)
                assert sorted(future.result(timeout=30) for future in asked) == sorted(
                    [first, second]
                )
        finally:  # never left stopped, whatever failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(first, signal.SIGCONT)
        assert second != first
        assert parents == [forker, forker]
    finally:
        pool.close()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_compiling_children_ask_malloc_for_huge_pages_keeping_the_callers_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker is started with the setting (its forked children inherit it); glibc
    rewrites the variable in place as it reads it, so /proc/PID/environ cannot tell."""
    started: list[dict[str, str]] = []
    real_popen = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> Any:
        started.append(kwargs["env"])
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    ours = "glibc.malloc.hugetlb=1"
    for given, expected in (
        (None, ours),
        ("glibc.malloc.hugetlb=0", f"{ours}:glibc.malloc.hugetlb=0"),
    ):
        if given is None:
            monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
        else:
            monkeypatch.setenv("GLIBC_TUNABLES", given)
        pool = WorkerPool(1)
        try:
            assert pool.serving_pid() > 0  # it runs
        finally:
            pool.close()
        assert started[-1]["GLIBC_TUNABLES"] == expected  # the caller's comes last: it wins
        assert started[-1]["PATH"] == os.environ["PATH"]  # the rest is passed on


def test_join_writes_pages_outline_and_title_that_readers_accept(tmp_path: Path) -> None:
    """The streaming join: pages in order (only the counted ones), nested bookmarks with
    any text, the title; and a PDF that pikepdf finds nothing wrong with."""
    parts = []
    for name, words in (("a", ["one", "two", "extra"]), ("b", ["three"])):
        (tmp_path / "report.typ").write_text("#pagebreak()\n".join(words))
        pool = WorkerPool(1)
        try:
            pool.compile_pdf(tmp_path, {}, tmp_path / f"{name}.pdf")
        finally:
            pool.close()
        parts.append((tmp_path / f"{name}.pdf", 2 if name == "a" else 1))
    marks = [(0, "Région (1)", 0), (1, "Ünïcode \\ ) (", 1), (0, "Third", 2)]
    target = tmp_path / "joined.pdf"
    with PdfJoiner(target) as joiner:
        for path, count in parts:
            joiner.add(path, count)
        assert joiner.finish("Jöined", marks) == 3
    reader = pypdf.PdfReader(target)
    assert [page.extract_text() for page in reader.pages] == ["one", "two", "three"]
    assert reader.metadata is not None and reader.metadata.title == "Jöined"
    assert _bookmarks(target) == marks
    with pikepdf.open(target) as pdf:
        assert pdf.check_pdf_syntax() == []


def test_overlays_are_drawn_over_the_joined_pages_they_were_reserved_for(tmp_path: Path) -> None:
    """Pages are written before their overlay exists; each overlay page lands on its page,
    its own content untouched, and the fonts of an overlay file are copied once."""
    pool = WorkerPool(1)
    try:
        for name, source in (
            ("a", "one #pagebreak() two"),
            ("b", "three"),
            ("numbers", "#set page(numbering: none)\n"
             + "#pagebreak()\n".join(f"#place(bottom)[N{i}]" for i in (1, 2, 3))),
        ):  # fmt: skip
            (tmp_path / "report.typ").write_text(source)
            pool.compile_pdf(tmp_path, {}, tmp_path / f"{name}.pdf")
    finally:
        pool.close()
    target = tmp_path / "joined.pdf"
    with PdfJoiner(target, overlays=True) as joiner:
        joiner.add(tmp_path / "a.pdf", 2)
        joiner.add(tmp_path / "b.pdf", 1)
        joiner.overlay(tmp_path / "numbers.pdf", 0)
        assert joiner.finish("Overlaid", []) == 3
    texts = [" ".join(p.extract_text().split()) for p in pypdf.PdfReader(target).pages]
    assert texts == ["one N1", "two N2", "three N3"]
    with pikepdf.open(target) as pdf:
        assert pdf.check_pdf_syntax() == []
        fonts = {
            obj.objgen
            for page in pdf.pages
            for obj in page.obj.Resources.XObject["/QuireOverlay"].Resources.Font.values()
        }
        assert len(fonts) == 1


def test_join_renumbers_references_but_not_strings_that_look_like_them(tmp_path: Path) -> None:
    """Copied values are written as qpdf unparses them, references renumbered: a string
    holding "3 0 R", parentheses and backslashes comes through as it was."""
    tricky = "see 3 0 R and (12 0 R) \\ 4 0 R) ("
    with pikepdf.new() as pdf:
        for n in (1, 2):
            pdf.add_blank_page()
            note = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Text, Rect=[0, 0, 10, 10], Contents=pikepdf.String(tricky),
                NM=pikepdf.String(f"note {n}")))  # fmt: skip
            pdf.pages[-1].obj.Annots = pikepdf.Array([note])
        pdf.save(tmp_path / "part.pdf")
    target = tmp_path / "joined.pdf"
    with PdfJoiner(target) as joiner:
        joiner.add(tmp_path / "part.pdf", 2)
        joiner.add(tmp_path / "part.pdf", 1)
        joiner.finish("Strings", [])
    with pikepdf.open(target) as pdf:
        assert pdf.check_pdf_syntax() == []
        notes = [page.obj.Annots[0] for page in pdf.pages]
        assert [str(note.Contents) for note in notes] == [tricky] * 3
        assert [str(note.NM) for note in notes] == ["note 1", "note 2", "note 1"]
        assert len({note.objgen for note in notes}) == 3  # each page its own copy
