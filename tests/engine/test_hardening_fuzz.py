"""Issue 20, fuzz suite: whatever a user writes, the engine answers with a compiled
expression or with issues, never with another exception.

Inputs are random text and, more usefully, structured: SQL-ish token sequences, random
expression trees over the demo schema's columns and paths, and definition-like documents
with every key where it belongs and odd values in it (wrong types, huge numbers, empty
and hostile strings, deep nesting).

Profiles: the everyday run (`max_examples=150` a test, a few seconds) is the default; a
longer search runs by hand:

    HYPOTHESIS_PROFILE=long .venv/bin/pytest -q tests/engine/test_hardening_fuzz.py
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from engine.demo_data import demo_metadata
from engine.errors import DefinitionError
from engine.expressions import ExpressionCompiler
from engine.schema import SourceSchema
from engine.validation import validate

settings.register_profile(
    "everyday",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "everyday"))

PATH = "bands.detail.elements[0].expression"
DIALECTS = (sqlite.dialect(), postgresql.dialect())
PARAMETERS = {"start": sa.Date(), "rate": sa.Numeric(), "n": sa.Integer(), "who": sa.String()}
SCHEMA = SourceSchema.from_metadata(demo_metadata())


# -- expressions --------------------------------------------------------------------------------

COLUMNS = [
    "quantity", "unit_price", "discount", "id", "order_id", "product.name", "product.list_price",
    "product.category.name", "order.ordered_at", "order.status", "order.shipped_at",
    "order.customer.name", "order.customer.created_at", "order.customer.region.name",
    "order_lines.quantity", "nosuch", "order.nosuch", "product.category.name.x",
    "order.customer.region.order.x", '"quantity"', "Quantity",
]  # fmt: skip
NUMBERS = [
    "0", "1", "-1", "1.5", ".5", "5.", "1e10", "1e308", "1e400", "1e-400", "2.5e-3",
    "9223372036854775807", "9223372036854775808", "99999999999999999999999", "0x1F", "1_000",
    "NaN", "Infinity", "00012",
]  # fmt: skip
STRINGS = ["'x'", "''", "'it''s'", "'%'", "'\\'", "E'\\x00'", "$$d$$", "'2025-01-31'", "'é'"]
PARAMS = [":start", ":rate", ":n", ":who", ":nosuch", "?", "$1", ":1", "::", "@x"]
OPERATORS = [
    "+", "-", "*", "/", "%", "||", "=", "<>", "!=", "<", "<=", ">", ">=", "AND", "OR", "NOT",
    "IS", "IS NOT", "IN", "NOT IN", "BETWEEN", "LIKE", "ILIKE", "::", "->>", "#", "~", "^", "&",
    "|", "<<", "COLLATE", "AT TIME ZONE",
]  # fmt: skip
KEYWORDS = [
    "CASE", "WHEN", "THEN", "ELSE", "END", "CAST", "AS", "INTEGER", "DATE", "TEXT", "DECIMAL",
    "TIMESTAMP", "INTERVAL", "DISTINCT", "OVER", "PARTITION BY", "NULL", "TRUE", "FALSE",
    "SELECT", "FROM", "WHERE", "UNION", "DROP", "ARRAY", "ROW", "EXISTS", "FILTER",
]  # fmt: skip
FUNCTIONS = [
    "coalesce", "nullif", "round", "abs", "lower", "upper", "length", "trim", "substr",
    "substring", "date_trunc", "extract", "year", "month", "day", "concat", "cast", "sum",
    "count", "avg", "now", "pg_sleep", "random", "current_date", "generate_series",
]  # fmt: skip
PUNCTUATION = ["(", ")", ",", ".", ";", "[", "]", "{", "}", "'", '"', "--", "/*", "*/", "*"]

leaf = st.sampled_from(COLUMNS + NUMBERS + STRINGS + PARAMS + ["NULL", "TRUE", "FALSE"])
tokens = st.lists(
    st.one_of(
        leaf,
        st.sampled_from(OPERATORS + KEYWORDS + PUNCTUATION),
        st.sampled_from(FUNCTIONS).map(lambda name: f"{name}("),
    ),
    min_size=1,
    max_size=14,
).flatmap(lambda parts: st.sampled_from([" ", ""]).map(lambda sep: sep.join(parts)))


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One level of an expression tree whose leaves are columns, literals and parameters."""
    return st.one_of(
        st.builds("{} {} {}".format, inner, st.sampled_from(OPERATORS[:19]), inner),
        st.builds("({})".format, inner),
        st.builds("NOT {}".format, inner),
        st.builds("-{}".format, inner),
        st.builds("{} IS NULL".format, inner),
        st.builds("{} BETWEEN {} AND {}".format, inner, inner, inner),
        st.builds(
            "{} IN ({})".format, inner, st.lists(inner, min_size=0, max_size=3).map(", ".join)
        ),
        st.builds(
            "{}({})".format,
            st.sampled_from(FUNCTIONS),
            st.lists(inner, min_size=0, max_size=3).map(", ".join),
        ),
        st.builds(
            "CAST({} AS {})".format,
            inner,
            st.sampled_from(
                [
                    "integer",
                    "bigint",
                    "decimal",
                    "float",
                    "text",
                    "varchar",
                    "date",
                    "timestamp",
                    "boolean",
                    "json",
                    "int[]",
                ]
            ),
        ),
        st.builds(
            "date_trunc('{}', {})".format,
            st.sampled_from(["year", "quarter", "month", "week", "day", "hour", "minute", ""]),
            inner,
        ),
        st.builds(
            "extract({} from {})".format,
            st.sampled_from(["year", "quarter", "month", "week", "day", "dow", "epoch"]),
            inner,
        ),
        st.builds("CASE WHEN {} THEN {} ELSE {} END".format, inner, inner, inner),
        st.builds("CASE {} WHEN {} THEN {} END".format, inner, inner, inner),
    )


trees = st.recursive(leaf, _extend, max_leaves=12)
expressions = st.one_of(st.text(max_size=80), tokens, trees)


def _compiled_or_issue(text: str, *, condition: bool = False) -> None:
    """The property: a value that renders as SQL on both databases, or a DefinitionError
    with one issue at the expression's path. Any other exception fails the test."""
    compiler = ExpressionCompiler(SCHEMA, "order_lines", PARAMETERS)
    try:
        value = (compiler.compile_condition if condition else compiler.compile)(text, PATH)
    except DefinitionError as error:
        (issue,) = error.issues
        assert issue.path == PATH
        assert issue.message
        return
    select = sa.select(sa.type_coerce(value, sa.types.NULLTYPE).label("c0"))
    select = select.select_from(compiler.from_clause())
    if condition:
        select = select.where(value)
    for dialect in DIALECTS:
        select.compile(dialect=dialect)


@FUZZ
@given(text=expressions)
def test_every_expression_compiles_or_is_one_issue(text: str) -> None:
    _compiled_or_issue(text)


@FUZZ
@given(text=expressions)
def test_every_filter_compiles_to_a_condition_or_is_one_issue(text: str) -> None:
    _compiled_or_issue(text, condition=True)


@pytest.mark.parametrize(
    "text",
    [
        "1.5", ":rate", ":start", "quantity * 1e-300", "coalesce(:rate, 1.5)", "- 1.5",
        "CASE WHEN :n > 1 THEN 1.5 END", "(((((((((((quantity)))))))))))",
        "+".join(["quantity"] * 300), "1e400", "NOT NOT NOT TRUE", "quantity IN ()",
    ],
)  # fmt: skip
def test_expressions_the_fuzzer_met(text: str) -> None:
    _compiled_or_issue(text)
    _compiled_or_issue(text, condition=True)


# -- definitions ------------------------------------------------------------------------------

ODD: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "x" * 3000, "\x00", "\u202e", "{", "}", "{}", "%", "%%", "{:>999999}",
                     "{.999999999e}", "{.40f}", "{,.2f}", "0mm", "-5mm", "99999999mm", "1fr",
                     "0fr", "0%", "101%", "#ffffff", "#GGGGGG", "nan", "inf", "1e999999999",
                     "NaN", "sNaN", "2025-02-30", "9999-12-31", "report", "page", "a.b",
                     "quantity", "product.name", ":start", "1.5", "SELECT 1", "[", "&a *a"]),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


def _either(*valid: Any) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes an odd one."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), ODD)


def _some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping with any of these keys."""
    return st.fixed_dictionaries({}, optional=fields)


SAMPLE_EXPRESSIONS = ["quantity", "product.name", "1.5", "unit_price * :rate", "quantity / 0"]
EXPRESSION = st.one_of(st.sampled_from(SAMPLE_EXPRESSIONS), trees, ODD)
LENGTH = _either("1.5pt", "2mm", "60mm", "0mm", "1em", "15mm")
FORMAT = _either(None, "integer", "money", "{,.2f}", "{%d.%m.%Y}", "date", ".2f", "%b %Y", "~s")
CHANNEL = _some(
    expression=EXPRESSION,
    aggregate=_either("sum", "count", "avg", "median", "min", "max"),
    time_unit=_either("month", "year", "week", "hour"),
    bin=_either(2, 20, 200),
    title=_either("T", ""),
    format=FORMAT,
    sort=_either("x", "-y", "ascending"),
)
ELEMENT = st.one_of(
    st.fixed_dictionaries({"type": st.just("label")}, optional={"text": _either("x", "")}),
    st.fixed_dictionaries(
        {"type": st.just("field"), "expression": EXPRESSION},
        optional={
            "format": FORMAT,
            "width": _either("1fr", "30%", "40mm", "0mm"),
            "align": _either("left", "right"),
            "size": _either(9, 3, 72, 0),
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("aggregate"), "variable": _either("total", "nosuch")},
        optional={"format": FORMAT},
    ),
    st.fixed_dictionaries({"type": st.just("page_number")}, optional={"text": _either("{page}")}),
    st.fixed_dictionaries({"type": st.just("line")}, optional={"thickness": _either(0.5, 0, 11)}),
    st.just({"type": "row_break"}),
    st.fixed_dictionaries(
        {
            "type": st.just("chart"),
            "kind": _either("bar", "line", "pie", "histogram", "boxplot", "heatmap", "scatter"),
        },
        optional={
            "x": CHANNEL,
            "y": CHANNEL,
            "color": CHANNEL,
            "size": CHANNEL,
            "height": LENGTH,
            "width": _either("1fr", "0%", "50mm"),
            "top": _either(3, 0, 101),
            "legend": _either("none", "right"),
            "stack": _either("zero", "none"),
            "horizontal": _either(True, False),
            "max_points": _either(1, 5000, 5001),
        },
    ),
    ODD,
)
BAND = _some(
    elements=st.one_of(st.lists(ELEMENT, max_size=4), ODD),
    padding=LENGTH,
    fill=_either("#f3f4f6"),
    bold=_either(True),
    size=_either(9),
    page_break_before=_either(True),
)
DEFINITION = st.fixed_dictionaries(
    {"title": _either("Report"), "source": _some(
        table=_either("order_lines", "orders", "nosuch"),
        filter=st.one_of(EXPRESSION, st.sampled_from(["quantity > :n", "order.status = :who"])),
        strategy=_either("auto", "keyset", "offset"),
    )},
    optional={
        "parameters": st.lists(_some(
            name=_either("n", "rate", "start", "who", "1bad"),
            type=_either("integer", "decimal", "date", "string", "choice", "boolean"),
            default=ODD, required=_either(True, False), choices=_either(["a"], [], None),
        ), max_size=4),
        "groups": st.lists(_some(name=_either("g", "h", "report"), expression=EXPRESSION,
                                 header=BAND, footer=BAND, direction=_either("desc")), max_size=3),
        "sort": st.lists(_some(expression=EXPRESSION, direction=_either("asc")), max_size=2),
        "variables": st.lists(_some(
            name=_either("total", "v"), function=_either("sum", "count", "distinct_count"),
            expression=EXPRESSION, reset=_either("report", "page", "g", "nosuch"),
        ), max_size=3),
        "bands": _some(**{name: st.one_of(BAND, ODD) for name in (
            "title", "page_header", "column_header", "detail", "summary", "page_footer",
            "no_data")}),
        "page": _some(size=_either("a4", "a9"), orientation=_either("landscape"),
                      margins=st.one_of(_some(top=LENGTH, right=LENGTH, bottom=LENGTH,
                                              left=LENGTH), ODD),
                      font_size=_either(9, 4, 24, 25)),
        "theme": _some(colors=st.one_of(st.lists(_either("#2563eb"), max_size=3), ODD)),
    },
)  # fmt: skip
GIVEN = st.dictionaries(st.sampled_from(["n", "rate", "start", "who", "x"]), ODD, max_size=3)


def _issues_not_exceptions(document: Any, given: Any) -> None:
    result = validate(document, SCHEMA, given)
    if result.ok:
        assert result.definition is not None
        assert result.plan is not None
    for issue in result.issues:
        assert isinstance(issue.path, str)
        assert issue.message


@FUZZ
@given(document=DEFINITION, given_=GIVEN)
def test_every_definition_gives_a_plan_or_issues(document: dict[str, Any], given_: Any) -> None:
    _issues_not_exceptions(document, given_)


@FUZZ
@given(document=DEFINITION, as_json=st.booleans())
def test_every_definition_as_text_gives_a_plan_or_issues(
    document: dict[str, Any], as_json: bool
) -> None:
    text = json.dumps(document) if as_json else yaml.safe_dump(document, allow_unicode=True)
    _issues_not_exceptions(text, None)


@FUZZ
@given(text=st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(["title: ", "source:", "  table: ", "bands:", "- ", "{", "}", "[",
                              "]", "&a ", "*a ", "!!python/object ", "<<: ", "\n", "  ", ": ",
                              "---\n", "'", '"', "%YAML 1.2\n", "? "]),
             max_size=40).map("".join),
))  # fmt: skip
def test_every_text_gives_issues_not_exceptions(text: str) -> None:
    _issues_not_exceptions(text, None)


def test_a_missing_key_inside_a_replaced_group_is_not_removed_twice() -> None:
    """Found by the fuzzer: a group replaced by a placeholder (its expression is broken)
    took its footer along; the footer's own 'missing' error then raised KeyError."""
    document = {
        "title": "t",
        "source": {"table": "order_lines"},
        "groups": [{"name": "g", "expression": [1], "footer": {"elements": [{"type": "label"}]}}],
    }
    paths = [issue.path for issue in validate(document, SCHEMA).issues]
    assert paths == ["groups[0].expression", "groups[0].footer.elements[0].text"]


def test_text_that_is_not_unicode_is_an_issue_at_its_path() -> None:
    """Found by the fuzzer: JSON and YAML escapes allow a lone surrogate, which pydantic
    cannot encode (UnicodeEncodeError)."""
    text = '{"title": "\\ud800", "source": {"table": "order_lines"}, "bands": {"x\\udfff": {}}}'
    issues = validate(text, SCHEMA).issues
    assert [(i.path, i.message) for i in issues] == [
        ("title", "not valid Unicode text (a lone surrogate)"),
        ("bands", "a key that is not valid Unicode (a lone surrogate)"),
    ]
