"""Limits on a definition (issue 20, item 4): its size, its list items, its values, its
nesting and its expressions' depth are bounded, each refused with a message naming the
limit and where it was passed, never a RecursionError or minutes of work."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import api
from engine.document import parse_definition
from engine.errors import DefinitionError
from engine.limits import (
    MAX_DEFINITION_BYTES,
    MAX_ELEMENTS,
    MAX_EXPRESSION_DEPTH,
    MAX_NESTING,
    MAX_VALUES,
)
from engine.schema import SourceSchema, reflect_schema
from engine.validation import validate

HEAD = "title: Limits\nsource: {table: items}\n"


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    engine = sa.create_engine(str(request.getfixturevalue(request.param)))
    metadata = sa.MetaData()
    items = sa.Table("items", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("qty", sa.Integer))  # fmt: skip
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(items.insert(), [{"id": 1, "qty": 2}, {"id": 2, "qty": 3}])
    yield engine
    engine.dispose()


@pytest.fixture
def schema(engine: sa.Engine) -> SourceSchema:
    return reflect_schema(engine)


def _only(document: Any, schema: SourceSchema | None = None) -> tuple[str, str]:
    started = time.perf_counter()
    [issue] = validate(document, schema).issues
    assert time.perf_counter() - started < 10, "refused at once, not tried"
    return issue.path, issue.message


def test_a_definition_over_the_size_limit_is_refused_before_it_is_parsed() -> None:
    text = HEAD + "description: '" + "x" * MAX_DEFINITION_BYTES + "'\n"
    _, message = _only(text)
    assert message == (
        f"the definition is {len(text):,} bytes; at most {MAX_DEFINITION_BYTES:,} are accepted"
    )


def test_a_definition_with_too_many_elements_is_refused_at_the_list() -> None:
    labels = "".join("      - {type: label, text: x}\n" for _ in range(MAX_ELEMENTS + 1))
    text = HEAD + "bands:\n  detail:\n    elements:\n" + labels
    assert _only(text) == (
        "bands.detail.elements",
        f"the definition has more than {MAX_ELEMENTS:,} list items "
        "(elements, groups, variables, parameters ...)",
    )


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 10_000])
def test_deep_yaml_and_json_nesting_is_refused_without_recursion(depth: int) -> None:
    """Deep nesting gave a RecursionError traceback: now one issue, naming the place."""
    flow = "[" * depth + "]" * depth
    block = "description:\n" + "".join("  " * i + "- \n" for i in range(min(depth, 500)))
    for text in (
        HEAD + f"description: {flow}\n",
        '{"title": "x", "d": ' + flow + "}",
        HEAD + block,
    ):
        path, message = _only(text)
        assert message == f"the definition nests more than {MAX_NESTING} levels deep"
        assert path.startswith(("description", "d"))
        with pytest.raises(DefinitionError):
            parse_definition(text)


def test_deep_nesting_in_plain_data_is_refused_too() -> None:
    nested: Any = []
    for _ in range(5_000):
        nested = [nested]
    document = {"title": "x", "source": {"table": "items"}, "description": nested}
    path, message = _only(document)
    assert path.startswith("description[0][0]")
    assert message == f"the definition nests more than {MAX_NESTING} levels deep"


def test_an_alias_bomb_is_refused_by_counting_what_it_expands_to() -> None:
    """Aliases share one value, but the model would check each use: counted per use."""
    lines = ['a0: &a0 {k: "x"}'] + [
        f"a{i}: &a{i} {{k1: *a{i - 1}, k2: *a{i - 1}, k3: *a{i - 1}}}" for i in range(1, 30)
    ]
    text = HEAD + "description: x\nx-bomb:\n" + "".join(f"  {line}\n" for line in lines)
    path, message = _only(text)
    assert message == f"the definition holds more than {MAX_VALUES:,} values"
    assert path.startswith("x-bomb")


def test_an_expression_of_999_chained_additions_is_refused_at_its_path(
    schema: SourceSchema,
) -> None:
    chain = "+".join(["1"] * 999)  # 1,997 characters: under the length limit
    text = (
        HEAD + f"bands:\n  detail:\n    elements:\n      - {{type: field, expression: {chain}}}\n"
    )
    [issue] = validate(text, schema).issues
    assert issue.path == "bands.detail.elements[0].expression"
    assert issue.message == (
        f"the expression nests more than {MAX_EXPRESSION_DEPTH} operations inside each other"
    )
    assert "(a + b) + (c + d)" in issue.hint
    for bad in ("(" * 990 + "qty" + ")" * 990, "-" * 999 + "qty", "not " * 450 + "true"):
        [issue] = validate(text.replace(chain, json.dumps(bad)), schema).issues
        assert issue.path == "bands.detail.elements[0].expression"


def test_a_long_but_shallow_expression_compiles_and_runs(engine: sa.Engine, tmp_path: Path) -> None:
    """Ninety terms stay under the depth limit; grouped in brackets, four hundred do."""
    chain = " + ".join(["qty"] * 90)
    grouped = "+".join("(" + "+".join(["qty"] * 20) + ")" for _ in range(20))
    text = HEAD + (
        "bands:\n  detail:\n    elements:\n"
        f"      - {{type: field, expression: {chain}}}\n"
        f"      - {{type: field, expression: {grouped}}}\n"
    )
    run = api.start_run(text, engine, formats=("csv",), output_dir=tmp_path)
    deadline = time.monotonic() + 120
    while run.snapshot()["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.snapshot()["status"] == "done", run.snapshot()["last"]
    [csv] = tmp_path.glob("*.csv")
    assert csv.read_text(encoding="utf-8").splitlines()[1:] == ["180,800", "270,1200"]


def test_no_limit_escapes_the_api_as_a_traceback(engine: sa.Engine) -> None:
    deep = HEAD + "description: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(DefinitionError) as caught:
        api.start_run(deep, engine, output_dir=Path("/nonexistent"))
    assert "levels deep" in caught.value.issues[0].message
