"""Every example report renders on the demo data with its defaults, and reads right.

Each `examples/*.yaml` (globbed, so a new example is tested as soon as it is added) is
rendered with its parameters' defaults against one demo SQLite database (2,000 orders),
and the PDF's text is read back with pypdf. Then, for every example: pages exist, the
title is there, every label of every band is printed (column headings on every page, page
header and footer labels on every page), each page carries "Page i of N" with the true N,
and the no-data band is not printed. Two examples have checks of their own: the product
list (column header at the top of every page, counts and averages against SQL, the price
parameter) and the invoices (one invoice per page, totals against SQL).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
import sqlalchemy as sa

from engine.definition import Band, ChartElement, LabelElement, PageNumberElement, ReportDefinition
from engine.demo_data import generate_demo
from engine.document import load_definition
from engine.render import render_report

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ORDERS = 2000
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rendered:
    definition: ReportDefinition
    rows: int  # rows read from the database
    pages: list[str]  # the text of each page, whitespace runs folded to one space


Render = Callable[..., Rendered]


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('examples') / 'demo.db'}"
    generate_demo(url, orders=ORDERS)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def render(demo_engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> Render:
    """Render an example (once per set of parameters) and read its pages' text."""
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], Rendered] = {}
    folder = tmp_path_factory.mktemp("examples-pdf")

    def run(name: str, **given: str) -> Rendered:
        key = (name, tuple(sorted(given.items())))
        if key not in cache:
            definition = load_definition(ROOT / "examples" / f"{name}.yaml")
            output = folder / f"{name}-{len(cache)}.pdf"
            result = render_report(definition, demo_engine, output, given=given)
            reader = pypdf.PdfReader(output)
            assert reader.metadata is not None
            assert reader.metadata.title == definition.title
            pages = [_fold(page.extract_text()) for page in reader.pages]
            assert result.pages == len(pages)
            cache[key] = Rendered(definition, result.rows, pages)
        return cache[key]

    return run


def _fold(text: str) -> str:
    return " ".join(text.split())


def _labels(band: Band | None) -> list[str]:
    """The visible label texts of a band (spacer labels of blanks left out)."""
    if band is None:
        return []
    return [_fold(e.text) for e in band.elements if isinstance(e, LabelElement) and e.text.strip()]


def _page_number_texts(definition: ReportDefinition, page: int, pages: int) -> list[str]:
    bands = [definition.bands.page_header, definition.bands.page_footer]
    texts = [
        e.text for band in bands if band is not None for e in band.elements
        if isinstance(e, PageNumberElement)
    ]  # fmt: skip
    if definition.bands.page_footer is None:
        texts.append("Page {page} of {pages}")  # the engine's default footer
    return [_fold(t.replace("{pages}", str(pages)).replace("{page}", str(page))) for t in texts]


def _content_bands(definition: ReportDefinition) -> list[tuple[str, Band]]:
    """Bands printed at least once when there is data (everything but no_data and page bands)."""
    bands = definition.bands
    named = [("title", bands.title), ("column_header", bands.column_header)]
    named += [("detail", bands.detail), ("summary", bands.summary)]
    for group in definition.groups:
        named += [(f"{group.name} header", group.header), (f"{group.name} footer", group.footer)]
    return [(name, band) for name, band in named if band is not None]


def _defaults(definition: ReportDefinition) -> Mapping[str, Any]:
    return {p.name: p.default for p in definition.parameters}


def _cents(exact: Decimal) -> Decimal:
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return format(value, ",.2f")


def _printed_as(exact: Decimal, printed: str) -> bool:
    """`printed` is `exact` rounded half up to the cent."""
    return printed == _money(_cents(exact))


# Exact line amounts in SQL, in units of 1/10,000 (two-decimal prices and discounts).
UNITS_GROSS = "l.quantity * CAST(ROUND(l.unit_price * 100) AS INTEGER) * 100"
# Invoice lines are rounded half up to the cent before they are summed.
UNITS_NET = (
    "((l.quantity * CAST(ROUND(l.unit_price * 100) AS INTEGER)"
    " * (100 - CAST(ROUND(COALESCE(l.discount, 0) * 100) AS INTEGER)) + 50) / 100) * 100"
)
UNITS_DISCOUNT = f"{UNITS_GROSS} - {UNITS_NET}"


def _units(value: int) -> Decimal:
    return Decimal(value).scaleb(-4)


# -- every example ---------------------------------------------------------------------------


def test_there_are_examples() -> None:
    assert {"sales_by_region", "invoices", "product_list"} <= {p.stem for p in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_renders_with_defaults(example: Path, render: Render) -> None:
    report = render(example.stem)
    definition, pages = report.definition, report.pages
    everything = " ".join(pages)
    assert report.rows > 0, "the defaults select no rows on the demo data"
    assert len(pages) > 0

    # The title: the title band's labels on page 1; without a title band, what opens the
    # first group (an invoice's heading). The PDF's own title is checked in `render`.
    opening = definition.bands.title or (definition.groups[0].header if definition.groups else None)
    for label in _labels(opening):
        assert label in pages[0], f"title text {label!r} not on page 1"

    # Column labels on every page; page header and footer labels on every page.
    every_page = [
        *_labels(definition.bands.column_header),
        *_labels(definition.bands.page_header),
        *_labels(definition.bands.page_footer),
    ]
    for number, text in enumerate(pages, start=1):
        for label in every_page:
            assert label in text, f"{label!r} missing on page {number}"

    # Every other label is printed somewhere (every band prints at least once with data).
    for name, band in _content_bands(definition):
        for label in _labels(band):
            assert label in everything, f"{name} label {label!r} never printed"
    for label in _labels(definition.bands.no_data):
        assert label not in everything, "the no-data band printed although there are rows"

    # Page i of N on every page, with the true N.
    for number, text in enumerate(pages, start=1):
        for expected in _page_number_texts(definition, number, len(pages)):
            assert expected in text, f"{expected!r} not on page {number}"
    assert f"Page {len(pages) + 1} of" not in everything


# -- product list ----------------------------------------------------------------------------


def test_product_list_repeats_column_header_at_top_of_every_page(render: Render) -> None:
    report = render("product_list")
    heading = " ".join(_labels(report.definition.bands.column_header))
    page_header = " ".join(_labels(report.definition.bands.page_header))
    assert heading == "SKU Product List price"
    assert len(report.pages) >= 3, "expected a catalogue of several pages"
    for number, text in enumerate(report.pages, start=1):
        assert text.count(heading) == 1, f"column header not once on page {number}"
        if number > 1:  # in the page header area: right after the page header's labels
            assert text.startswith(f"{page_header} {heading} "), f"page {number}: {text[:120]}"


def _body(report: Rendered) -> str:
    """The report's text without what repeats on every page (headers, footers)."""
    definition = report.definition
    furniture = [
        " ".join(_labels(definition.bands.page_header)),
        " ".join(_labels(definition.bands.column_header)),
        " ".join(_labels(definition.bands.page_footer)),
    ]
    pages = []
    for number, page in enumerate(report.pages, start=1):
        text = page
        for piece in [*furniture, *_page_number_texts(definition, number, len(report.pages))]:
            text = text.replace(piece, " ")
        pages.append(_fold(text))
    return " ".join(pages)


CATEGORY = re.compile(r"(?:^|Average list price [\d,]+\.\d\d )(\D+?) [A-Z]{3}-\d{5} ")
CATEGORY_FOOTER = re.compile(r"Products in category ([\d,]+) Average list price ([\d,]+\.\d\d)")
CATALOGUE_SUMMARY = re.compile(r"All products ([\d,]+) Average list price ([\d,]+\.\d\d)")


def _catalogue_figures(report: Rendered) -> tuple[list[tuple[str, int, str]], int, str]:
    """(category, count, average) of every category, in order; the summary's count, average."""
    body = _body(report)
    title = " ".join(_labels(report.definition.bands.title))
    assert body.startswith(title)
    body = body[len(title) :].strip()
    names = CATEGORY.findall(body)
    footers = CATEGORY_FOOTER.findall(body)
    summary = CATALOGUE_SUMMARY.search(body)
    assert summary is not None
    assert len(names) == len(footers), (names, footers)
    per_category = [
        (name, int(count.replace(",", "")), average)
        for name, (count, average) in zip(names, footers, strict=True)
    ]
    return per_category, int(summary[1].replace(",", "")), summary[2]


@pytest.mark.parametrize("min_price", [None, "100"])
def test_product_list_counts_and_averages_match_sql(
    render: Render, demo_engine: sa.Engine, min_price: str | None
) -> None:
    report = render("product_list", **({"min_price": min_price} if min_price else {}))
    floor = Decimal(min_price or _defaults(report.definition)["min_price"])
    with demo_engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """SELECT COALESCE(c.name, 'Uncategorised'), COUNT(*),
                          SUM(CAST(ROUND(p.list_price * 100) AS INTEGER))
                   FROM products p LEFT JOIN categories c ON c.id = p.category_id
                   WHERE p.list_price >= :floor
                   GROUP BY c.name ORDER BY c.name IS NULL, c.name"""
            ),
            {"floor": float(floor)},
        ).all()
    per_category, total, average = _catalogue_figures(report)
    assert [(name, count) for name, count, _ in per_category] == [(n, c) for n, c, _ in rows]
    for (name, count, printed), (_, _, cents) in zip(per_category, rows, strict=True):
        exact = Decimal(cents).scaleb(-2) / count
        assert _printed_as(exact, printed), f"{name}: average {printed}, exact {exact}"
    assert total == sum(count for _, count, _ in rows)
    exact = Decimal(sum(cents for _, _, cents in rows)).scaleb(-2) / total
    assert _printed_as(exact, average), f"average {average}, exact {exact}"
    if min_price:
        assert total < render("product_list").rows


# -- invoices --------------------------------------------------------------------------------

INVOICE_TOP = re.compile(r"INVOICE Invoice no\. INV-(\d+) ")


def test_each_invoice_starts_a_page_and_its_totals_match_sql(
    render: Render, demo_engine: sa.Engine
) -> None:
    report = render("invoices")
    defaults = _defaults(report.definition)
    with demo_engine.connect() as conn:
        orders = conn.execute(
            sa.text(
                f"""SELECT l.order_id, c.name, COUNT(*), SUM({UNITS_GROSS}),
                           SUM({UNITS_DISCOUNT}), SUM({UNITS_NET})
                    FROM order_lines l
                    JOIN orders o ON o.id = l.order_id
                    JOIN customers c ON c.id = o.customer_id
                    WHERE l.order_id BETWEEN :low AND :high
                    GROUP BY l.order_id, c.name ORDER BY l.order_id"""
            ),
            {"low": defaults["from_order"], "high": defaults["to_order"]},
        ).all()
    assert len(orders) >= 10, "the default order range should give a good number of invoices"

    # Each invoice opens a page: its heading is at the top, right after the letterhead.
    letterhead = " ".join(_labels(report.definition.bands.page_header))
    starts: dict[int, int] = {}  # order id -> index of the page the invoice starts on
    for index, text in enumerate(report.pages):
        assert text.startswith(letterhead + " "), f"page {index + 1} has no letterhead"
        top = INVOICE_TOP.match(text, len(letterhead) + 1)
        if top is not None:
            starts[int(top[1])] = index
        assert text.count("INVOICE ") <= 1, f"two invoices on page {index + 1}"
    assert list(starts) == [order_id for order_id, *_ in orders]
    assert report.rows == sum(lines for _, _, lines, *_ in orders)

    bounds = [*starts.values(), len(report.pages)]
    for (order_id, customer, lines, gross, discount, net), begin, end in zip(
        orders, bounds, bounds[1:], strict=False
    ):
        text = " ".join(report.pages[begin:end])
        assert customer in text
        numbers = re.findall(r"(?:Amount|\.\d\d) (\d+) (?=[A-Z])", text)  # "#" of each line
        assert numbers == [str(n) for n in range(1, lines + 1)], f"INV-{order_id}: {numbers}"
        figures = re.search(
            r"Subtotal ([\d,]+\.\d\d) Less discount ([\d,]+\.\d\d) "
            r"Total due \(EUR\) ([\d,]+\.\d\d)",
            text,
        )
        assert figures is not None, f"INV-{order_id}: no totals"
        exacts = [_units(gross), _units(discount), _units(net)]
        for what, exact, printed in zip(
            ("subtotal", "discount", "total"), exacts, figures.groups(), strict=True
        ):
            assert _printed_as(exact, printed), f"INV-{order_id} {what}: {printed}, exact {exact}"


def test_dashboard_charts_are_vector_graphics_in_pdf_and_html(
    render: Render, demo_engine: sa.Engine, tmp_path: Path
) -> None:
    """Each chart is drawn as vectors in the PDF and inlined as SVG, in the report's font,
    in the HTML; the table under the charts is there too."""
    report = render("sales_dashboard")
    title = report.definition.bands.title
    charts = [e for e in title.elements if isinstance(e, ChartElement)] if title else []
    assert len(charts) == 5
    assert "Sales by month and region" in report.pages[0]  # chart titles are real text
    html = tmp_path / "dashboard.html"
    render_report(report.definition, demo_engine, html, fmt="html")
    page = html.read_text("utf-8")
    assert page.count("<svg") == len(charts)
    assert "<img" not in page and "<script" not in page.lower()
    assert page.count("@font-face{font-family:Inter") == 3
    for chart in charts:
        assert chart.title is not None and chart.title in page
