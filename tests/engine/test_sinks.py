"""The data and HTML sinks (JSON, CSV, XLSX, HTML) on examples/sales_by_region.yaml.

A small demo database is filled once; the report is planned, its rows streamed and filled
into band events once, and the same batches are fed to every sink. What each output holds
is compared with independent SQL over the same rows and filter: detail lines as a multiset,
totals per group. Amounts are computed exactly in SQL, in integer units of 1/10,000
(prices and discounts have 2 decimals), so the reference is free of binary floating point.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa

from engine.definition import ReportDefinition
from engine.demo_data import generate_demo
from engine.document import parse_definition
from engine.errors import OutputError
from engine.fill import BandEvent, fill_batches
from engine.html_assets import inline_svg
from engine.loader import Loader
from engine.plan import QueryPlan
from engine.render import check_report
from engine.sinks import xlsx_sink
from engine.sinks.base import Sink
from engine.sinks.csv_sink import CsvSink, csv_value
from engine.sinks.html_sink import HtmlSink
from engine.sinks.json_sink import JsonSink, json_value
from engine.sinks.xlsx_sink import XlsxSink, excel_format

ROOT = Path(__file__).resolve().parents[2]
REPORT_TEXT = (ROOT / "examples" / "sales_by_region.yaml").read_text(encoding="utf-8")
GIVEN = {"start": "2023-01-01"}  # and the default end, 2026-01-01
SQL_PARAMS = {"start": "2023-01-01", "end": "2026-01-01"}
MARKUP = " <i>&</i>"  # appended to some product names: data may hold markup
SCRIPT = "<script>alert(1)</script>"
SinkClass = Callable[[ReportDefinition, QueryPlan, Path], Sink]
SINKS: dict[SinkClass, str] = {JsonSink: "json", CsvSink: "csv", XlsxSink: "xlsx", HtmlSink: "html"}

AMOUNT = (  # a line's amount in units of 1/10,000, exactly
    "l.quantity * CAST(ROUND(l.unit_price * 100) AS INTEGER)"
    " * (100 - CAST(ROUND(COALESCE(l.discount, 0) * 100) AS INTEGER))"
)
FROM_WHERE = """
    FROM order_lines l
    JOIN orders o ON o.id = l.order_id
    JOIN customers c ON c.id = o.customer_id
    JOIN products p ON p.id = l.product_id
    LEFT JOIN regions r ON r.id = c.region_id
    WHERE o.status <> 'cancelled' AND o.ordered_at >= :start AND o.ordered_at < :end
"""


@dataclass(frozen=True)
class Report:
    definition: ReportDefinition
    plan: QueryPlan
    batches: list[list[BandEvent]]


@dataclass(frozen=True)
class Expected:
    """The SQL reference: detail lines, and (lines, amount) per region, customer and report."""

    details: Counter[tuple[Any, ...]]
    regions: dict[str | None, tuple[int, Decimal]]
    customers: dict[tuple[str | None, str], tuple[int, Decimal]]
    customer_count: int
    lines: int
    amount: Decimal


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sinks') / 'demo.db'}"
    generate_demo(url, orders=200)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE products SET name = name || :m WHERE id % 5 = 0"), {"m": MARKUP}
        )
    yield engine
    engine.dispose()


def _report(engine: sa.Engine, text: str = REPORT_TEXT, given: dict[str, str] = GIVEN) -> Report:
    definition = parse_definition(text)
    plan, parameters, _ = check_report(definition, engine, given)
    rows = Loader(engine, plan, parameters, batch_size=100).batches()
    return Report(definition, plan, list(fill_batches(definition, plan, rows)))


@pytest.fixture(scope="module")
def sales(engine: sa.Engine) -> Report:
    report = _report(engine)
    assert len(report.batches) > 3  # the sinks really see several batches
    return report


@pytest.fixture(scope="module")
def expected(engine: sa.Engine) -> Expected:
    with engine.connect() as conn:

        def query(sql: str) -> list[Any]:
            return list(conn.execute(sa.text(sql), SQL_PARAMS).all())

        details = query(
            f"""SELECT l.order_id, p.name, l.quantity, CAST(ROUND(l.unit_price * 100) AS INTEGER),
                CAST(ROUND(l.discount * 100) AS INTEGER), {AMOUNT} {FROM_WHERE}"""
        )
        regions = query(f"SELECT r.name, COUNT(*), SUM({AMOUNT}) {FROM_WHERE} GROUP BY r.name")
        customers = query(
            f"SELECT r.name, c.name, COUNT(*), SUM({AMOUNT}) {FROM_WHERE} GROUP BY r.name, c.name"
        )
        ((customer_count, lines, amount),) = query(
            f"SELECT COUNT(DISTINCT c.id), COUNT(*), SUM({AMOUNT}) {FROM_WHERE}"
        )
    assert any(MARKUP in row[1] for row in details)
    return Expected(
        Counter(tuple(row) for row in details),
        {name: (n, _exact(a)) for name, n, a in regions},
        {(r, c): (n, _exact(a)) for r, c, n, a in customers},
        customer_count,
        lines,
        _exact(amount),
    )


def _exact(units: int) -> Decimal:
    return Decimal(units) / 10_000


def _units(value: Any, scale: int) -> int | None:
    """A raw number from an output, in integer units of 1/scale."""
    return None if value in (None, "") else round(Decimal(str(value)) * scale)


def _render(sink_class: SinkClass, report: Report, path: Path) -> Path:
    sink = sink_class(report.definition, report.plan, path)
    for batch in report.batches:
        sink.write(batch)
    assert sink.finish() == [path]
    return path


def _variant(old: str, new: str) -> str:
    assert old in REPORT_TEXT
    return REPORT_TEXT.replace(old, new)


# -- JSON --------------------------------------------------------------------------------------


def test_json_holds_every_band_with_typed_values(
    sales: Report, expected: Expected, tmp_path: Path
) -> None:
    document = json.loads(
        _render(JsonSink, sales, tmp_path / "r.json").read_text("utf-8"), parse_float=Decimal
    )
    assert document["title"] == "Sales by region"
    bands = document["bands"]
    assert bands[0] == {"band": "title", "values": {}}
    details: Counter[tuple[Any, ...]] = Counter()
    regions: dict[str | None, tuple[int, Decimal]] = {}
    customers: dict[tuple[str | None, str], tuple[int, Decimal]] = {}
    region: str | None = None
    customer = ""
    for band in bands:
        values = band["values"]
        kind = (band["band"], band.get("level"))
        if kind == ("group_header", 0):
            region = values["coalesce(order.customer.region.name, 'No region')"]
            region = None if region == "No region" else region  # customers without one
        elif kind == ("group_header", 1):
            customer = values["order.customer.name"]
        elif kind == ("detail", None):
            datetime.fromisoformat(values["order.ordered_at"])  # SQLite's ISO text, kept
            details[
                values["order_id"], values["product.name"], values["quantity"],
                _units(values["unit_price"], 100), _units(values["discount"], 100),
                _units(values["quantity * unit_price * (1 - coalesce(discount, 0))"], 10_000),
            ] += 1  # fmt: skip
        elif kind == ("group_footer", 1):
            customers[region, customer] = (values["customer_lines"], values["customer_amount"])
        elif kind == ("group_footer", 0):
            regions[region] = (values["region_lines"], values["region_amount"])
    assert details == expected.details
    assert customers == expected.customers
    assert regions == expected.regions
    assert bands[-1] == {
        "band": "summary",
        "values": {
            "total_customers": expected.customer_count,
            "total_lines": expected.lines,
            "line_amount_total": expected.amount,  # a number with every digit, not a string
        },
    }


def test_json_values_keep_their_type_and_digits() -> None:
    digits = Decimal("12345678901234567890.123456789")
    assert json.loads(json_value(digits), parse_float=Decimal) == digits
    assert json.loads(json_value(Decimal("1E+3"))) == 1000
    assert json_value(float("nan")) == json_value(Decimal("Infinity")) == "null"
    assert json_value(datetime(2025, 1, 2, 3, 4)) == '"2025-01-02T03:04:00"'
    assert json_value(True) == "true"
    assert json.loads(json_value('a "quoted"\n<text>')) == 'a "quoted"\n<text>'


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_has_a_row_per_detail_line_with_raw_numbers(
    sales: Report, expected: Expected, tmp_path: Path
) -> None:
    path = _render(CsvSink, sales, tmp_path / "r.csv")
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert reader.fieldnames == [
        "region", "customer", "Order", "Date", "Product", "Qty", "Unit price", "Disc.", "Amount",
    ]  # fmt: skip
    assert len(rows) == expected.lines
    details = Counter(
        (
            int(row["Order"]), row["Product"], int(row["Qty"]),
            _units(float(row["Unit price"]), 100),
            _units(float(row["Disc."]), 100) if row["Disc."] else None,
            _units(float(row["Amount"]), 10_000),
        )
        for row in rows
    )  # fmt: skip
    assert details == expected.details
    assert {row["region"] or None for row in rows} == set(expected.regions)
    assert all(datetime.fromisoformat(row["Date"]) for row in rows)
    assert b"\r\n" in path.read_bytes()  # RFC 4180 line ends


def test_csv_names_columns_after_cells_when_the_labels_do_not_match(
    engine: sa.Engine, tmp_path: Path
) -> None:
    report = _report(
        engine, _variant('      - {type: label, text: "Amount", width: 24mm, align: right}\n', "")
    )
    with _render(CsvSink, report, tmp_path / "r.csv").open(encoding="utf-8", newline="") as file:
        header = next(csv.reader(file))
    assert header[:3] == ["region", "customer", "order_id"]
    assert header[-1] == "quantity * unit_price * (1 - coalesce(discount, 0))"


def test_csv_values_are_plain() -> None:
    assert csv_value(Decimal("1E+3")) == "1000"
    assert csv_value(Decimal("-0.50")) == "-0.50"
    assert csv_value(0.1) == "0.1"
    assert csv_value(1e-05) == "0.00001"
    assert csv_value(1e16) == "10000000000000000"
    assert csv_value(None) == csv_value(float("inf")) == ""
    assert csv_value(datetime(2025, 1, 2)) == "2025-01-02T00:00:00"


# -- XLSX --------------------------------------------------------------------------------------


def test_xlsx_stores_numbers_as_numbers_with_formats(
    sales: Report, expected: Expected, tmp_path: Path
) -> None:
    book = openpyxl.load_workbook(_render(XlsxSink, sales, tmp_path / "r.xlsx"))
    sheet = book.active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows()]
    groups = len(expected.regions) + len(expected.customers)
    assert len(rows) == 2 + 1 + 2 * groups + expected.lines + 1  # title, header, groups ...
    assert [c.value for c in rows[0] if c.value] == ["Sales by region"]
    header = rows[2]
    assert [c.value for c in header] == [
        "Order",
        "Date",
        "Product",
        "Qty",
        "Unit price",
        "Disc.",
        "Amount",
    ]
    assert all(c.font.b for c in header)
    assert sheet.freeze_panes == "A4"
    for row in rows:
        for cell in row:
            if isinstance(cell.value, str):  # no number written as text
                assert not re.fullmatch(r"-?[\d,]+(\.\d+)?%?", cell.value), cell.coordinate
    details = [row for row in rows if isinstance(row[0].value, int)]
    assert len(details) == expected.lines
    for row in details:
        _, date, _, _, price, discount, amount = row
        assert isinstance(date.value, datetime)
        assert date.number_format == "yyyy-mm-dd"
        assert isinstance(price.value, int | float)
        assert price.number_format == amount.number_format == "#,##0.00"
        assert discount.value is None or discount.number_format == "0%"
    regions = [row for row in rows if row[0].value == "Region total"]
    assert len(regions) == len(expected.regions)
    for row in regions:
        assert isinstance(row[1].value, int)
        assert (row[1].number_format, row[2].number_format) == ("#,##0", "#,##0.00")
    totals = sorted((r[1].value, round(Decimal(str(r[2].value)), 4)) for r in regions)
    assert totals == sorted(expected.regions.values())
    summary = [c.value for c in rows[-1]]
    assert summary[:3] == ["Grand total", expected.customer_count, expected.lines]
    assert round(Decimal(str(summary[3])), 4) == expected.amount
    assert rows[-1][1].number_format == '#,##0" customers"'
    region_header = rows[3]
    assert region_header[0].value == "Region"
    assert region_header[0].font.b
    assert region_header[-1].fill.fgColor.rgb == "FFE5E7EB"  # the band's fill, across the row


def test_xlsx_over_the_row_limit_fails_instead_of_truncating(
    sales: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needed = openpyxl.load_workbook(_render(XlsxSink, sales, tmp_path / "all.xlsx"), read_only=True)
    rows = needed.active.max_row
    needed.close()
    monkeypatch.setattr(xlsx_sink, "MAX_ROWS", rows)
    _render(XlsxSink, sales, tmp_path / "exact.xlsx")  # exactly full: fine
    monkeypatch.setattr(xlsx_sink, "MAX_ROWS", rows - 1)
    sink = XlsxSink(sales.definition, sales.plan, tmp_path / "over.xlsx")
    with pytest.raises(OutputError, match=rf"more than {rows - 1:,} rows.*Excel sheet"):
        sink.write([event for batch in sales.batches for event in batch])
    sink.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.xlsx", "exact.xlsx"]


@pytest.mark.parametrize(
    ("quire", "excel"),
    [
        ("money", ("#,##0.00", False)),
        ("number", ("#,##0.00", False)),
        ("integer", ("#,##0", False)),
        ("percent", ("0.0%", False)),
        ("{,.2f}", ("#,##0.00", False)),
        ("{.0%}", ("0%", False)),
        ("EUR {,.2f}", ('"EUR "#,##0.00', False)),
        ("date", ("yyyy-mm-dd", True)),
        ("datetime", ("yyyy-mm-dd hh:mm", True)),
        ("{%d.%m.%Y}", ("dd.mm.yyyy", True)),
        (None, (None, False)),
    ],
)
def test_excel_number_formats(quire: str | None, excel: tuple[str | None, bool]) -> None:
    assert excel_format(quire) == excel


def test_excel_cannot_show_week_numbers() -> None:
    with pytest.raises(ValueError, match="%W"):
        excel_format("{%W}")


# -- HTML --------------------------------------------------------------------------------------


def test_html_escapes_labels_and_data(
    engine: sa.Engine, expected: Expected, tmp_path: Path
) -> None:
    report = _report(engine, _variant('text: "Region total"', f'text: "{SCRIPT}"'))
    page = _render(HtmlSink, report, tmp_path / "r.html").read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == len(expected.regions)
    assert "<script" not in page.lower()
    assert "&lt;i&gt;&amp;&lt;/i&gt;" in page and "<i>" not in page  # markup in the data
    assert "http" not in page  # nothing loaded from elsewhere
    assert page.count("<thead>") == 1
    assert (
        page.count("<tr")
        == 3 + 2 * (len(expected.regions) + len(expected.customers)) + expected.lines + 1
    )
    total = expected.amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert f">{total:,}</td>" in page  # formatted text, as printed
    assert "border-top:0.8pt solid #374151" in page  # the region footer's line
    assert "background:#e5e7eb" in page  # the region header's fill


# -- every sink ----------------------------------------------------------------------------


@pytest.mark.parametrize("sink_class", SINKS)
def test_discard_leaves_no_file_and_the_old_target(
    sink_class: SinkClass, sales: Report, tmp_path: Path
) -> None:
    target = tmp_path / "report.out"
    target.write_bytes(b"previous run")
    sink = sink_class(sales.definition, sales.plan, target)
    for batch in sales.batches:
        sink.write(batch)
        assert target.read_bytes() == b"previous run"  # nothing appears before finish
    sink.discard()
    assert target.read_bytes() == b"previous run"
    assert list(tmp_path.iterdir()) == [target]
    fresh = sink_class(sales.definition, sales.plan, tmp_path / "new.out")
    fresh.write(sales.batches[0])
    fresh.discard()
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("sink_class", SINKS)
def test_a_report_without_rows(sink_class: SinkClass, engine: sa.Engine, tmp_path: Path) -> None:
    report = _report(engine, given={"start": "2030-01-01"})
    path = _render(sink_class, report, tmp_path / f"empty.{SINKS[sink_class]}")
    if sink_class is JsonSink:
        assert [b["band"] for b in json.loads(path.read_text("utf-8"))["bands"]] == [
            "title",
            "no_data",
        ]
    elif sink_class is CsvSink:
        assert len(path.read_text("utf-8").splitlines()) == 1
    elif sink_class is XlsxSink:
        values = [r[0] for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]
        assert values[-1] == "No order lines in this period."
    else:
        assert "No order lines in this period." in path.read_text("utf-8")


def test_csv_text_that_looks_like_a_formula_stays_text() -> None:
    """A customer named '=HYPERLINK(...)' must not become a live formula in a spreadsheet."""
    assert csv_value('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert csv_value("@SUM(A1)") == "'@SUM(A1)"
    assert csv_value("+1") == "'+1"
    assert csv_value("plain") == "plain"
    assert csv_value(-5) == "-5"  # numbers are numbers


def test_csv_floats_round_like_the_pdf() -> None:
    """SQLite's binary arithmetic noise is not data: 3 * 74.99 is 224.97."""
    assert csv_value(3 * 74.99) == "224.97"
    assert json_value(3 * 74.99) == "224.97"


def test_inline_svg_refuses_anything_that_could_run() -> None:
    chart = '<svg xmlns="http://www.w3.org/2000/svg"><text>&lt;script&gt;</text></svg>'
    assert inline_svg('<?xml version="1.0"?>' + chart) == chart
    for bad in ("<script>alert(1)</script>", '<a href="javascript:x">', '<g onload="x()">'):
        assert "<svg" not in inline_svg(chart.replace("<text>", bad + "<text>"))
