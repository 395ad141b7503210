"""Definitions: round trip through YAML and JSON, JSON Schema, every problem at once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from engine.definition import ReportDefinition
from engine.document import dump_definition, load_definition, parse_definition, report_schema
from engine.errors import DefinitionError

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_examples_round_trip(path: Path, fmt: str) -> None:
    definition = load_definition(path)
    text = dump_definition(definition, fmt)
    assert parse_definition(text) == definition
    if fmt == "json":
        json.loads(text)


def test_json_schema_describes_the_format() -> None:
    schema = report_schema()
    assert schema["title"] == "Quire report definition"
    assert set(schema["required"]) == {"title", "source"}
    assert {"bands", "groups", "variables", "parameters", "page"} <= set(schema["properties"])
    element_types = json.dumps(schema["$defs"]["Band"])
    for kind in ("label", "field", "aggregate", "line", "page_number", "row_break", "chart"):
        assert f"#/$defs/{kind.title().replace('_', '')}Element" in element_types


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(
            """
titel: Sales
source: {table: orders, filtr: "x > 1"}
groups:
  - name: region
    expression: region
    header:
      elements:
        - {type: label, txt: Region}
        - {type: table}
        - {type: field, expression: region, width: 12qq, color: red}
page: {size: a9}
"""
        )
    lines = [str(issue) for issue in caught.value.issues]
    assert lines == [
        "title: required",
        "source.filtr: unknown key 'filtr' (did you mean 'filter'?)",
        "groups[0].header.elements[0].text: required",
        "groups[0].header.elements[0].txt: unknown key 'txt' (did you mean 'text'?)",
        "groups[0].header.elements[1]: unknown element type 'table' (expected one of: "
        "'label', 'field', 'aggregate', 'page_number', 'line', 'row_break', 'chart')",
        "groups[0].header.elements[2].color: 'red' is not a colour like '#1f2937'",
        "groups[0].header.elements[2].width: '12qq' is not a width like '1fr', '25%' or '40mm'",
        "page.size: Input should be 'a3', 'a4', 'a5', 'us-letter' or 'us-legal'",
        "titel: unknown key 'titel' (did you mean 'title'?)",
    ]


def test_yaml_syntax_errors_name_the_line() -> None:
    with pytest.raises(DefinitionError, match=r"report.yaml: not valid YAML at line 4, column 1"):
        parse_definition("title: x\nsource:\n  table: [unclosed\n", source="report.yaml")


def test_a_definition_must_be_a_mapping() -> None:
    with pytest.raises(DefinitionError, match="must be a mapping"):
        parse_definition("- just\n- a list\n")


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read definition"):
        load_definition(tmp_path / "nope.yaml")


def test_parameter_defaults_take_the_parameter_type() -> None:
    definition = parse_definition(
        "title: t\nsource: {table: x}\nparameters:\n"
        "  - {name: start, type: date, default: '2024-02-01'}\n"
        "  - {name: n, type: integer, default: '12'}\n"
    )
    assert [p.default for p in definition.parameters] == [date(2024, 2, 1), 12]
    with pytest.raises(
        DefinitionError, match=r"parameters\[0\].default: 'soon' is not a valid date"
    ):
        parse_definition(
            "title: t\nsource: {table: x}\nparameters: [{name: s, type: date, default: soon}]"
        )


def test_models_are_immutable() -> None:
    definition = ReportDefinition.model_validate({"title": "t", "source": {"table": "x"}})
    with pytest.raises(ValueError, match="frozen"):
        definition.title = "changed"  # type: ignore[misc]
