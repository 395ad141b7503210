"""Grouped totals of examples/sales_by_region.yaml, read back from the PDF, against SQL.

The report is rendered on a demo SQLite database for the last quarter of 2025; every
"Customer total", "Region total" and the "Grand total" line is read from the PDF text, in
print order, and compared with an independent GROUP BY over the same rows and filter.

The SQL mirrors the report's grouping, not the customers table: groups are keyed by region
*name* then customer *name* (two customers sharing a name in one region are one group),
ordered by name with NULLs last (customers without a region form a last group, headed
"No region"). The seed is chosen so that the data has both a shared name within one
region and customers without a region, and the test checks that it does.

Amounts are computed exactly in SQL, in integer units of 1/10,000 (prices have 2 decimals,
discounts 2 decimals), so the reference is not subject to binary floating point.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pypdf
import pytest
import sqlalchemy as sa

from engine.demo_data import SEGMENTS, generate_demo
from engine.document import load_definition
from engine.render import render_report

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "examples" / "sales_by_region.yaml"
START, END = "2025-10-01", "2026-01-01"
ORDERS, SEED = 2000, 6  # seed 6: a name shared by two customers of one region, and NULL regions
CENT = Decimal("0.01")

# Exact line amount in units of 1/10,000: quantity x price in cents x (100 - discount in %).
EXACT_AMOUNT = (
    "l.quantity * CAST(ROUND(l.unit_price * 100) AS INTEGER)"
    " * (100 - CAST(ROUND(COALESCE(l.discount, 0) * 100) AS INTEGER))"
)
FROM_WHERE = """
    FROM order_lines l
    JOIN orders o ON o.id = l.order_id
    JOIN customers c ON c.id = o.customer_id
    LEFT JOIN regions r ON r.id = c.region_id
    WHERE o.status <> 'cancelled' AND o.ordered_at >= :start AND o.ordered_at < :end
"""

CUSTOMER_TOTAL = re.compile(r"^Customer total ([\d,]+) (-?[\d,]+\.\d\d)$")
REGION_TOTAL = re.compile(r"^Region total ([\d,]+) (-?[\d,]+\.\d\d)$")
GRAND_TOTAL = re.compile(r"^Grand total ([\d,]+) customers ([\d,]+) lines (-?[\d,]+\.\d\d)$")
REGION_HEADER = re.compile(r"^Region (?P<name>.+)$")
NO_REGION = "No region"  # what the header shows for customers without one
# One line, or two where the page number is stamped over the page (segmented typesetting).
PAGE_FOOTER = re.compile(
    r"^(Page total (?P<page>-?[\d,]+\.\d\d) Running total (?P<running>-?[\d,]+\.\d\d) ?)?"
    r"(Page \d+ of \d+)?$"
)
PAGE_HEADER = re.compile(r"^Quire demo: sales by region Carried forward(?: (?P<carried>\S+))?$")
COLUMN_HEADER = "Order Date Product Qty Unit price Disc. Amount"
DETAIL = re.compile(
    r"^\d+ \d{4}-\d\d-\d\d .+ (?P<qty>\d+) (?P<price>[\d,]+\.\d\d)(?: (?P<disc>\d+)%)? "
    r"(?P<amount>-?[\d,]+\.\d\d)$"
)


@dataclass(frozen=True)
class Total:
    """One total line: what it totals, its line count and its amount."""

    kind: str  # "customer", "region" or "grand"
    region: str | None
    customer: str | None
    lines: int
    amount: Decimal  # as printed (PDF) or exact (SQL)
    customers: int | None = None  # grand total only


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('grouped') / 'demo.db'}"
    generate_demo(url, orders=ORDERS, seed=SEED)
    return url


@pytest.fixture(scope="module")
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pages(engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """The lines of each page of the rendered PDF."""
    output = tmp_path_factory.mktemp("grouped-pdf") / "sales.pdf"
    result = render_report(
        load_definition(REPORT), engine, output, given={"start": START, "end": END}
    )
    assert result.rows > 0
    reader = pypdf.PdfReader(output)
    assert len(reader.pages) == result.pages > 1  # totals must be read across page breaks
    return [
        [line.strip() for line in page.extract_text().splitlines() if line.strip()]
        for page in reader.pages
    ]


@pytest.fixture(scope="module")
def printed(pages: list[list[str]]) -> list[Total]:
    """Every total line of the rendered PDF, in print order, with the group it closes."""
    return _parse([line for page in pages for line in page])


@pytest.fixture(scope="module")
def expected(engine: sa.Engine) -> list[Total]:
    """The same totals from SQL, in the report's group order (names ascending, NULLs last)."""
    params = {"start": START, "end": END}
    with engine.connect() as conn:
        groups = conn.execute(
            sa.text(
                f"""SELECT r.name, c.name, COUNT(*), SUM({EXACT_AMOUNT}) {FROM_WHERE}
                GROUP BY r.name, c.name
                ORDER BY r.name IS NULL, r.name, c.name IS NULL, c.name"""
            ),
            params,
        ).all()
        regions = conn.execute(
            sa.text(
                f"""SELECT r.name, COUNT(*), SUM({EXACT_AMOUNT}) {FROM_WHERE}
                GROUP BY r.name ORDER BY r.name IS NULL, r.name"""
            ),
            params,
        ).all()
        grand = conn.execute(
            sa.text(f"SELECT COUNT(DISTINCT c.id), COUNT(*), SUM({EXACT_AMOUNT}) {FROM_WHERE}"),
            params,
        ).one()
    totals: list[Total] = []
    for region, lines, amount in regions:
        totals.extend(
            Total("customer", region, customer, n, _exact(a))
            for r, customer, n, a in groups
            if r == region
        )
        totals.append(Total("region", region, None, lines, _exact(amount)))
    totals.append(Total("grand", None, None, grand[1], _exact(grand[2]), customers=grand[0]))
    return totals


def _exact(units: int) -> Decimal:
    return Decimal(units).scaleb(-4)


def _number(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def _customer_name(header: str) -> str:
    """The customer header shows the name, then the segment when there is one."""
    for segment in SEGMENTS:
        if header.endswith(" " + segment):
            return header[: -len(segment) - 1]
    return header


def _parse(lines: list[str]) -> list[Total]:
    """Total lines in order, each tagged with the region and customer header it closes."""
    body = [
        line
        for line in lines
        if line != COLUMN_HEADER and not PAGE_HEADER.match(line) and not PAGE_FOOTER.match(line)
    ]
    totals: list[Total] = []
    region: str | None = None
    customer: str | None = None
    expect_customer = False  # the line after a region header or a customer total
    region_open = False  # a region header is reprinted on each page its region continues on
    for line in body:
        if match := CUSTOMER_TOTAL.match(line):
            totals.append(
                Total("customer", region, customer, int(_number(match[1])), _number(match[2]))
            )
            expect_customer = True
        elif match := REGION_TOTAL.match(line):
            totals.append(Total("region", region, None, int(_number(match[1])), _number(match[2])))
            expect_customer = region_open = False
        elif match := GRAND_TOTAL.match(line):
            totals.append(
                Total(
                    "grand",
                    None,
                    None,
                    int(_number(match[2])),
                    _number(match[3]),
                    customers=int(_number(match[1])),
                )
            )
        elif match := REGION_HEADER.match(line):
            name = None if match["name"] == NO_REGION else match["name"]
            if region_open and name == region:
                continue  # reprinted at the top of a page: the region goes on
            region, expect_customer, region_open = name, True, True
        elif expect_customer:
            customer, expect_customer = _customer_name(line), False
    return totals


def _cents(exact: Decimal) -> Decimal:
    """Commercial rounding to the cent (half up), as an invoice or a ledger rounds."""
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def _is_half_cent(exact: Decimal) -> bool:
    return (exact * 200) % 2 == 1


def _describe(total: Total) -> str:
    who = {"customer": total.customer, "region": total.region, "grand": "grand total"}
    return f"{total.kind} {who[total.kind]!r} (region {total.region!r})"


def test_the_data_has_what_the_grouping_must_handle(expected: list[Total]) -> None:
    """Guard the premise: NULL regions, and two customers sharing a name in one region."""
    customers = [t for t in expected if t.kind == "customer"]
    assert any(t.region is None for t in customers), "no customer without a region"
    assert expected[-2].kind == "region" and expected[-2].region is None, "NULLs must sort last"
    assert len(customers) >= 50
    assert any(_is_half_cent(t.amount) for t in expected), "no total on an exact half cent"


def test_shared_name_is_one_group(engine: sa.Engine, printed: list[Total]) -> None:
    """Two customers with one name in one region: the report sums them in one group."""
    with engine.connect() as conn:
        shared = conn.execute(
            sa.text(
                f"""SELECT r.name, c.name {FROM_WHERE} AND r.name IS NOT NULL
                GROUP BY r.name, c.name HAVING COUNT(DISTINCT c.id) > 1"""
            ),
            {"start": START, "end": END},
        ).all()
    assert shared, "the seed no longer gives a shared customer name within a region"
    keys = [(t.region, t.customer) for t in printed if t.kind == "customer"]
    for region, name in shared:
        assert keys.count((region, name)) == 1, f"{name} in {region} printed as several groups"


def test_every_total_line_matches_sql(printed: list[Total], expected: list[Total]) -> None:
    """All totals, in order, with their group names and line counts; amounts to the cent.

    An amount must be the exact sum rounded half up to the cent, including sums that lie
    exactly on a half cent (SQLite computes them in binary floats, just below or above).
    """
    assert [(t.kind, t.region, t.customer) for t in printed] == [
        (t.kind, t.region, t.customer) for t in expected
    ]
    assert [(t.lines, t.customers) for t in printed] == [(t.lines, t.customers) for t in expected]
    wrong = [
        f"{_describe(want)}: printed {got.amount}, exact {want.amount}"
        for got, want in zip(printed, expected, strict=True)
        if got.amount != _cents(want.amount)
    ]
    assert not wrong, "\n".join(wrong)


def test_region_and_grand_totals_add_up(printed: list[Total]) -> None:
    """Within the PDF itself: line counts of customers add up to regions, regions to the total."""
    regions = [t for t in printed if t.kind == "region"]
    for region in regions:
        customers = [t for t in printed if t.kind == "customer" and t.region == region.region]
        assert sum(t.lines for t in customers) == region.lines
    assert sum(t.lines for t in regions) == printed[-1].lines


def test_page_totals_carry_forward_and_add_up(pages: list[list[str]]) -> None:
    """Each page's footer totals the lines printed on that page (exactly, then rounded),
    the running total is everything so far, and the next page's header carries it."""
    running = Decimal(0)
    carried: str | None = None
    for number, lines in enumerate(pages, start=1):
        header = next(m for line in lines if (m := PAGE_HEADER.match(line)))
        assert header["carried"] == carried, f"page {number}"
        on_page = Decimal(0)
        for line in lines:
            if match := DETAIL.match(line):
                disc = Decimal(match["disc"] or 0) / 100
                amount = int(match["qty"]) * _number(match["price"]) * (1 - disc)
                assert _cents(amount) == _number(match["amount"]), line
                on_page += amount
        footer = next(m for line in lines if (m := PAGE_FOOTER.match(line)) and m["page"])
        assert on_page > 0, f"page {number} has no detail lines"
        assert _number(footer["page"]) == _cents(on_page), f"page {number}"
        running += on_page
        assert _number(footer["running"]) == _cents(running), f"page {number}"
        carried = footer["running"]
