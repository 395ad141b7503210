"""Validation: every problem of a definition in one call, each at its path, in document order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import DefinitionError, Issue, ParameterError
from engine.schema import SourceSchema, reflect_schema
from engine.validation import validate

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))

HEAD = """
title: Sales
source: {table: sales}
"""


def _tables(metadata: sa.MetaData) -> None:
    sa.Table("regions", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(40)))  # fmt: skip
    sa.Table(
        "sales",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region_id", sa.ForeignKey("regions.id")),
        sa.Column("product", sa.String(40)),
        sa.Column("quantity", sa.Integer),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("sold_on", sa.Date),
        sa.Column("sold_at", sa.DateTime),
    )


def _reflected(url: str) -> SourceSchema:
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    _tables(metadata)
    metadata.create_all(engine)
    try:
        return reflect_schema(engine)
    finally:
        engine.dispose()


@pytest.fixture
def schema(sqlite_url: str) -> SourceSchema:
    return _reflected(sqlite_url)


@pytest.fixture
def pg_schema(postgres_url: str) -> SourceSchema:
    return _reflected(postgres_url)


def _lines(issues: tuple[Issue, ...]) -> list[str]:
    return [str(issue) for issue in issues]


# -- one pass ----------------------------------------------------------------------------------


def test_structural_and_expression_errors_come_in_one_call(schema: SourceSchema) -> None:
    result = validate(
        HEAD
        + """
groups:
  - {name: region, expression: region.nme, colour: red}
bands:
  detail:
    elements:
      - {type: field, expression: product, width: wide}
      - {type: field, expression: quantity * amont}
"""
    )
    # Without a schema only the structure and the names are checked.
    assert _lines(result.issues) == [
        "groups[0].colour: unknown key 'colour' (expected one of: direction, expression, "
        "footer, header, name, reprint_header)",
        "bands.detail.elements[0].width: 'wide' is not a width like '1fr', '25%' or '40mm'",
    ]
    text = HEAD + (
        "groups:\n  - {name: region, expression: region.nme, colour: red}\n"
        "bands:\n  detail:\n    elements:\n"
        "      - {type: field, expression: product, width: wide}\n"
        "      - {type: field, expression: quantity * amont}\n"
    )
    checked = validate(text, schema)
    assert _lines(checked.issues) == [
        "groups[0].expression: unknown column 'nme' in table 'regions' (did you mean 'name'?)",
        "groups[0].colour: unknown key 'colour' (expected one of: direction, expression, "
        "footer, header, name, reprint_header)",
        "bands.detail.elements[0].width: 'wide' is not a width like '1fr', '25%' or '40mm'",
        "bands.detail.elements[1].expression: unknown column 'amont' in table 'sales' "
        "(did you mean 'amount'?)",
    ]
    assert checked.definition is None
    assert checked.plan is None
    assert isinstance(checked.error(), DefinitionError)


def test_a_valid_definition_comes_back_with_its_plan_and_parameters(schema: SourceSchema) -> None:
    text = HEAD + (
        "parameters:\n  - {name: least, type: integer, default: 2}\n"
        "source: {table: sales, filter: 'quantity >= :least'}\n"
        "bands: {detail: {elements: [{type: field, expression: product}]}}\n"
    )
    result = validate(text, schema, {})
    assert result.ok
    assert result.error() is None
    assert result.definition is not None
    assert result.definition.title == "Sales"
    assert result.plan is not None
    assert result.parameters == {"least": 2}
    assert validate(result.definition, schema, {"least": "5"}).parameters == {"least": 5}
    assert validate(result.definition.to_data()).ok  # plain data too


def test_problems_inside_a_placeholder_are_not_reported(schema: SourceSchema) -> None:
    # The broken element and group are replaced by inert ones: neither their own
    # expressions nor the names they held give issues of their own.
    text = HEAD + (
        "groups:\n  - {name: region, expression: nope_a, direction: sideways}\n"
        "variables:\n  - {name: n, function: count, reset: region}\n"
        "bands:\n  detail:\n    elements:\n"
        "      - {type: field, expression: nope_b, size: 1000}\n"
        "  summary: {elements: [{type: aggregate, variable: n}]}\n"
    )
    columns = "amount, id, product, quantity, region, region_id, sold_at, sold_on"
    assert _lines(validate(text, schema).issues) == [  # in the order of the keys
        f"groups[0].expression: unknown column 'nope_a' in table 'sales' (expected one of: "
        f"{columns})",
        "groups[0].direction: Input should be 'asc' or 'desc'",
        f"bands.detail.elements[0].expression: unknown column 'nope_b' in table 'sales' "
        f"(expected one of: {columns})",
        "bands.detail.elements[0].size: Input should be less than or equal to 72",
    ]
    missing = validate("source: {table: sales}\nbands: {detail: {elements: [{type: fild}]}}")
    assert _lines(missing.issues) == [
        "bands.detail.elements[0]: unknown element type 'fild' (expected one of: 'label', "
        "'field', 'aggregate', 'page_number', 'line', 'row_break', 'chart')",
        "title: required",
    ]


def test_issues_are_in_document_order_and_each_once(schema: SourceSchema) -> None:
    text = (
        "bands:\n  detail: {elements: [{type: aggregate, variable: nothing}]}\n"
        "variables:\n  - {name: total, function: sum, expression: amont}\n"
        "source: {table: sales}\ntitle: Out of order\n"
        "sort:\n  - {expression: amont}\n  - {expression: amont}\n"
    )
    lines = _lines(validate(text, schema).issues)
    assert [line.split(":")[0] for line in lines] == [
        "bands.detail.elements[0].variable",
        "variables[0].expression",
        "sort[0].expression",
        "sort[1].expression",
    ]


# -- paths for every kind of problem -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("title: [unclosed", "", "not valid YAML at line 1, column 17"),
        ("- just\n- a list", "", "a definition must be a mapping"),
        (HEAD + "page: {size: a9}", "page.size", "Input should be"),
        (HEAD + "groups: [{name: g, expression: product}, {name: g, expression: id}]",
         "groups[1].name", "duplicate name 'g'"),
        (HEAD + "variables: [{name: v, function: count, reset: regoin}]",
         "variables[0].reset", "unknown group 'regoin'"),
        (HEAD + "parameters: [{name: p, type: integer, default: ten}]",
         "parameters[0].default", "'ten' is not a valid integer"),
        (HEAD + "parameters: [{name: p, type: decimal, default: NaN}]",
         "parameters[0].default", "'NaN' is not a number a report can use"),
        (HEAD + "parameters: [{name: p, type: choice}]", "parameters[0].choices",
         "a choice parameter needs choices"),
        (HEAD + "source: {table: sale}", "source.table", "unknown table 'sale'"),
        (HEAD + "source: {table: sales, filter: 'quantity >'}", "source.filter", "syntax error"),
        (HEAD + "sort: [{expression: regin.name}]", "sort[0].expression",
         "'regin' is not a relationship of table 'sales'"),
        (HEAD + "bands: {page_footer: {elements: [{type: field, expression: id}]}}",
         "bands.page_footer.elements[0]", "a field cannot be placed in a page band"),
        (HEAD + "bands: {detail: {elements: [{type: field, expression: id, format: zz}]}}",
         "bands.detail.elements[0].format", "'zz' is not a preset"),
        (HEAD + "bands: {detail: {elements: [{type: field, expression: id, width: 300mm}]}}",
         "bands.detail.elements[0]", "300mm wide but the page leaves 180mm"),
        (HEAD + "bands: {summary: {elements: [{type: chart, kind: bar, x: {expression: product},"
         " y: {expression: product, aggregate: sum}}]}}",
         "bands.summary.elements[0].y.aggregate", "cannot sum a non-numeric expression"),
    ],
)  # fmt: skip
def test_every_kind_of_problem_has_its_path(
    schema: SourceSchema, text: str, path: str, message: str
) -> None:
    issues = validate(text, schema).issues
    assert [i.path for i in issues] == [path], issues
    assert message in issues[0].message


def test_expression_issues_carry_position_and_excerpt(schema: SourceSchema) -> None:
    expression = "quantity * amount + coalesce(discount, 0) * quantity"
    text = HEAD + f"bands: {{detail: {{elements: [{{type: field, expression: '{expression}'}}]}}}}"
    (issue,) = validate(text, schema).issues
    assert issue.path == "bands.detail.elements[0].expression"
    assert issue.position == expression.index("discount")
    assert issue.excerpt == "… coalesce(discount, 0) * quant…"
    assert issue.to_dict() == {
        "path": "bands.detail.elements[0].expression",
        "message": "unknown column 'discount' in table 'sales'",
        "hint": issue.hint,
        "position": 29,
        "excerpt": "… coalesce(discount, 0) * quant…",
    }
    syntax = HEAD + "sort: [{expression: 'quantity * (amount +'}]"
    (error,) = validate(syntax, schema).issues
    assert error.message.startswith("syntax error")
    assert error.position == len("quantity * (amount +") - 1
    assert error.excerpt == "quantity * (amount +"
    function = HEAD + "sort: [{expression: 'product || shout(product)'}]"
    (refused,) = validate(function, schema).issues
    assert (refused.message, refused.position) == ("function 'shout' is not allowed", 11)


# -- parameters --------------------------------------------------------------------------------

PARAMETERS = (
    HEAD
    + """
parameters:
  - {name: start, type: date, required: true}
  - {name: limit, type: integer, default: 10}
  - {name: rate, type: decimal}
"""
)


def test_parameter_problems_are_at_params_and_speak_of_no_command_line() -> None:
    result = validate(
        PARAMETERS, given={"strat": "2024-01-01", "limit": str(2**64), "rate": "Infinity"}
    )
    assert _lines(result.issues) == [
        "params.strat: not declared by the report (did you mean 'start'?)",
        "params.start: required",
        f"params.limit: '{2**64}' is too large for an integer (at most 64 bits)",
        "params.rate: 'Infinity' is not a number a report can use (expected a finite number)",
    ]
    assert isinstance(result.error(), ParameterError)
    assert not any("--param" in str(issue) for issue in result.issues)
    assert validate(PARAMETERS, given={"rate": "1e999999999", "start": "2024-01-01"}).issues == (
        Issue("params.rate", "'1e999999999' is out of range (at most 1000 digits)"),
    )


def test_without_given_values_only_defaults_are_checked() -> None:
    assert validate(PARAMETERS).ok  # start is required, but no run is asked for
    result = validate(PARAMETERS, given={"start": "2024-02-30"})
    assert _lines(result.issues) == [
        "params.start: '2024-02-30' is not a valid date (expected YYYY-MM-DD)"
    ]


# -- aggregates printed before their variable accumulated anything ----------------------------

SCOPES = (
    HEAD
    + """
groups:
  - name: region
    expression: region.name
    header: {elements: [HEADER0]}
    footer: {elements: [{type: aggregate, variable: region_amount}]}
  - name: product
    expression: product
    header: {elements: [HEADER1]}
variables:
  - {name: region_amount, function: sum, expression: amount, reset: region}
  - {name: product_amount, function: sum, expression: amount, reset: product}
  - {name: total, function: sum, expression: amount}
bands:
  title: {elements: [TITLE]}
  detail: {elements: [{type: field, expression: amount}]}
  summary: {elements: [{type: aggregate, variable: total}]}
"""
)
LABEL = "{type: label, text: x}"


def _scopes(header0: str = LABEL, header1: str = LABEL, title: str = LABEL) -> str:
    return SCOPES.replace("HEADER0", header0).replace("HEADER1", header1).replace("TITLE", title)


def _aggregate(variable: str) -> str:
    return f"{{type: aggregate, variable: {variable}}}"


@pytest.mark.parametrize(
    ("where", "variable", "message"),
    [
        ("header0", "region_amount", "'region_amount' is only complete at the end of group "
         "'region': place it in groups[0].footer or the summary"),
        ("header0", "product_amount", "'product_amount' is only complete at the end of group "
         "'product': place it in groups[1].footer or the summary"),
        ("header1", "product_amount", "'product_amount' is only complete at the end of group "
         "'product': place it in groups[1].footer or the summary"),
        ("title", "total", "'total' has accumulated nothing in bands.title, which is printed "
         "before any row: place it in the summary"),
    ],
)  # fmt: skip
def test_aggregates_before_their_rows_are_refused(
    schema: SourceSchema, where: str, variable: str, message: str
) -> None:
    text = _scopes(**{where: _aggregate(variable)})
    paths = {"header0": "groups[0].header", "header1": "groups[1].header", "title": "bands.title"}
    for checked in (validate(text), validate(text, schema)):
        assert checked.issues == (
            Issue(
                f"{paths[where]}.elements[0]",
                message,
                ""
                if where == "title"
                else "a group header is printed before the group's rows are read",
            ),
        )


def test_aggregates_in_no_data_are_refused() -> None:
    text = _scopes().replace(
        "  summary:", f"  no_data: {{elements: [{_aggregate('total')}]}}\n  summary:"
    )
    (issue,) = validate(text).issues
    assert issue.path == "bands.no_data.elements[0]"
    assert "printed only when there are no rows" in issue.message


def test_running_values_in_inner_headers_are_fine(schema: SourceSchema) -> None:
    text = _scopes(header1=f"{_aggregate('region_amount')}, {_aggregate('total')}")
    assert validate(text, schema).ok
    assert validate(_scopes(header0=_aggregate("total")), schema).ok


# -- time_unit on something that is not a date --------------------------------------------------

CHART = (
    HEAD
    + """
bands:
  summary:
    elements:
      - {type: label, text: Sales}
      - type: chart
        kind: line
        x: {expression: X, time_unit: month}
        y: {expression: amount, aggregate: sum}
"""
)


def _time_unit_checks(schema: SourceSchema) -> None:
    (issue,) = validate(CHART.replace("X", "quantity"), schema).issues
    assert issue.path == "bands.summary.elements[1].x.time_unit"
    assert issue.message == (
        "only dates and timestamps can be bucketed by month (this expression is INTEGER)"
    )
    assert "cast(expression as date)" in issue.hint
    for fine in ("sold_on", "sold_at", "cast(product as date)", "'date_trunc(''day'', sold_at)'"):
        assert validate(CHART.replace("X", fine), schema).ok, fine


def test_time_unit_needs_a_date_on_sqlite(schema: SourceSchema) -> None:
    _time_unit_checks(schema)


def test_time_unit_needs_a_date_on_postgres(pg_schema: SourceSchema) -> None:
    _time_unit_checks(pg_schema)


# -- examples and the JSON shape -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_schema(small_demo: sa.Engine) -> SourceSchema:
    return reflect_schema(small_demo)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_validates_clean(demo_schema: SourceSchema, path: Path) -> None:
    result = validate(path.read_text(), demo_schema, {})
    assert result.issues == ()
    assert result.plan is not None


def test_the_json_shape_of_an_error_is_pinned(schema: SourceSchema) -> None:
    text = HEAD + "title: ''\nsort: [{expression: 'amont + 1'}]"
    error = validate(text, schema).error()
    assert error is not None
    data = json.loads(json.dumps(error.to_dict()))
    assert list(data) == ["kind", "message", "path", "issues"]
    assert data["kind"] == "definition"
    assert (data["path"], data["message"]) == ("title", "String should have at least 1 character")
    assert [list(issue) for issue in data["issues"]] == [
        ["path", "message", "hint"],
        ["path", "message", "hint", "position", "excerpt"],
    ]
    assert data["issues"][1] == {
        "path": "sort[0].expression",
        "message": "unknown column 'amont' in table 'sales'",
        "hint": "did you mean 'amount'?",
        "position": 0,
        "excerpt": "amont + 1",
    }


# -- never anything but issues or a definition ------------------------------------------------

_KEYS = st.sampled_from(
    ["title", "source", "table", "filter", "bands", "detail", "summary", "title", "elements",
     "type", "field", "expression", "groups", "name", "variables", "reset", "function",
     "parameters", "default", "x", "time_unit", "aggregate", "variable", "kind", "chart"]
)  # fmt: skip
_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["sum", "count", "field", "aggregate", "chart", "bar", "orders", "region",
                     "decimal", "NaN", "1e999999", "amount * 2", "month"]),
)  # fmt: skip
_TREES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


def _never_raises(document: Any, schema: SourceSchema) -> None:
    result = validate(document, schema, {"start": "x"})
    assert result.issues or result.definition is not None
    for issue in result.issues:
        assert isinstance(issue.path, str)
        assert isinstance(issue.message, str)


@pytest.fixture(scope="module")
def memory_schema() -> SourceSchema:
    metadata = sa.MetaData()
    _tables(metadata)
    return SourceSchema.from_metadata(metadata)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200))
def test_random_text_gives_issues_not_exceptions(memory_schema: SourceSchema, text: str) -> None:
    _never_raises(text, memory_schema)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=st.dictionaries(_KEYS, _TREES, max_size=6))
def test_random_data_gives_issues_not_exceptions(
    memory_schema: SourceSchema, tree: dict[str, Any]
) -> None:
    _never_raises({"title": "t", "source": {"table": "sales"}, **tree}, memory_schema)
    _never_raises(tree, memory_schema)
