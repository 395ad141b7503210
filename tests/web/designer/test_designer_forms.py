"""Property forms from the JSON Schema: every element type and section, input kinds, and
submitted strings read back to the same data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import BaseModel, Field

from engine.errors import DefinitionError, Issue
from web.designer.edits import apply_form, check
from web.designer.forms import (
    Fieldset,
    FieldSpec,
    PropertyForm,
    build_form,
    coerce,
    definition_schema,
    element_schema,
    element_types,
    field_errors,
    object_schema,
)
from web.designer.paths import EditError
from web.designer.tree import band_tree

Doc = dict[str, Any]
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def submitted(form: PropertyForm) -> dict[str, str]:
    """What a browser sends for the form as rendered: an unchecked box sends nothing."""
    data: dict[str, str] = {}
    for leaf in form.leaves():
        if leaf.kind == "checkbox":
            if leaf.checked:
                data[leaf.name] = "true"
        elif leaf.kind == "color" and leaf.default:
            data[leaf.name] = leaf.value or leaf.default  # a colour input is never empty
        else:
            data[leaf.name] = leaf.value
    return data


def by_name(form: PropertyForm) -> dict[str, FieldSpec]:
    return {leaf.name: leaf for leaf in form.leaves()}


def test_every_element_type_gets_a_form_with_all_its_properties(sales: Doc) -> None:
    root = definition_schema()
    assert set(element_types()) == {
        "label", "field", "aggregate", "page_number", "line", "row_break", "chart",
    }  # fmt: skip
    for kind in element_types():
        document = {**sales, "bands": {"detail": {"elements": [{"type": kind}]}}}
        form = build_form(document, "bands.detail.elements[0]")
        schema = element_schema(kind)
        assert form.field_names == tuple(schema["properties"]), kind
        assert form.title == kind.replace("_", " ").capitalize()
        assert by_name(form)["type"].kind == "hidden"
        assert by_name(form)["type"].value == kind
        assert object_schema(root, "bands.detail.elements[0]", document) is schema


def test_the_whole_definition_is_headed_report_as_in_the_tree(sales: Doc) -> None:
    assert build_form(sales, "").title == "Report"
    assert build_form(sales, "page").title == "Page setup"


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("source", ["table", "filter", "strategy"]),
        ("parameters[0]", ["name", "type", "label", "default", "required", "choices"]),
        ("groups[0]", ["name", "expression", "direction", "reprint_header"]),
        ("sort[0]", ["expression", "direction"]),
        ("variables[0]", ["name", "function", "expression", "reset"]),
        (
            "page",
            [
                "size",
                "orientation",
                "margins.top",
                "margins.right",
                "margins.bottom",
                "margins.left",
                "font_size",
            ],
        ),
        ("theme", ["colors"]),
        (
            "bands.detail",
            ["bold", "italic", "size", "color", "page_break_before", "fill", "padding"],
        ),
        (
            "groups[1].footer",
            ["bold", "italic", "size", "color", "page_break_before", "fill", "padding"],
        ),
    ],
)
def test_every_section_gets_a_form(sales: Doc, path: str, names: list[str]) -> None:
    form = build_form(sales, path)
    assert [leaf.name for leaf in form.leaves()] == names


def test_the_report_form_nests_flat_objects_and_leaves_lists_of_objects_out(sales: Doc) -> None:
    form = build_form(sales, "")
    assert form.field_names == ("title", "description", "source", "page", "theme")
    page = next(f for f in form.fields if isinstance(f, Fieldset) and f.name == "page")
    margins = next(f for f in page.fields if isinstance(f, Fieldset))
    assert [leaf.name for leaf in margins.fields if isinstance(leaf, FieldSpec)] == [
        "page.margins.top", "page.margins.right", "page.margins.bottom", "page.margins.left",
    ]  # fmt: skip


def test_input_kinds_follow_the_schema(charts: Doc) -> None:
    chart_path = "groups[0].header.elements[3]"
    fields = by_name(build_form(charts, chart_path))
    assert fields["kind"].kind == "select"
    assert ("bar", "bar") in fields["kind"].options
    assert fields["kind"].value == "bar"
    assert fields["horizontal"].kind == "checkbox"
    assert fields["max_points"].kind == "number"
    assert (fields["max_points"].minimum, fields["max_points"].maximum) == (1, 5000)
    assert fields["max_points"].step == "1"
    assert fields["x.expression"].kind == "expression"
    assert fields["x.expression"].value == "order.ordered_at"
    assert fields["x.time_unit"].value == "month"
    assert fields["x.bin"].kind == "number"
    assert fields["color.expression"].value == ""  # an absent channel: an empty fieldset
    assert fields["stack"].options[0] == ("", "—")  # optional, no default: may be unset
    label = by_name(build_form(charts, "groups[0].header.elements[5]"))
    assert label["text"].kind == "textarea"
    assert label["bold"].kind == "select"  # unset, yes or no: unset inherits the band's
    assert label["bold"].options == (("", "—"), ("true", "yes"), ("false", "no"))
    assert label["bold"].value == "true"
    assert label["color"].kind == "color"
    assert label["size"].step == "any"
    assert label["size"].description == "Font size in points."
    line = by_name(build_form(charts, "groups[0].header.elements[9]"))
    assert line["color"].kind == "color"
    assert line["color"].default == "#9ca3af"
    assert by_name(build_form(charts, "source"))["filter"].kind == "expression"
    assert by_name(build_form(charts, "theme"))["colors"].item_kind == "color"
    assert by_name(build_form(charts, "groups[0]"))["name"].required


def forms_of(document: Doc) -> list[str]:
    """Every path of the document that has a property form."""
    tree = band_tree(document)
    paths = [b.path for b in tree.bands if b.present]
    paths += [e.path for b in tree.bands for e in b.elements]
    paths += [s.path for s in tree.sections if not s.is_list]
    paths += [i.path for s in tree.sections for i in s.items]
    return paths


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_form_round_trips_to_the_same_definition(example: Path) -> None:
    document = yaml.safe_load(example.read_text(encoding="utf-8"))
    expected = check(document)
    paths = forms_of(document)
    assert len(paths) > 10
    for path in paths:
        again = apply_form(document, path, submitted(build_form(document, path)))
        assert check(again) == expected, path


def test_coerce_types_values_and_leaves_out_what_is_empty_or_default() -> None:
    schema = element_schema("chart")
    data = coerce(
        {
            "type": "chart",
            "kind": "line",
            "max_points": "200",
            "top": "",
            "horizontal": "true",
            "height": "60mm",  # the default: not written
            "x.expression": "order.ordered_at",
            "x.time_unit": "month",
            "y.aggregate": "count",
            "y.bin": "",
            "color.expression": "",
        },
        schema,
    )
    assert data == {
        "type": "chart",
        "kind": "line",
        "max_points": 200,
        "horizontal": True,
        "x": {"expression": "order.ordered_at", "time_unit": "month"},
        "y": {"aggregate": "count"},
    }
    assert coerce({"type": "chart", "kind": "bar"}, schema) == {"type": "chart", "kind": "bar"}


def test_coerce_keeps_text_that_is_not_a_number_for_validation_to_report(sales: Doc) -> None:
    draft = apply_form(sales, "page", {"font_size": "large", "margins.left": "1cm"})
    assert draft["page"] == {"margins": {"left": "1cm"}, "font_size": "large"}
    form = build_form(draft, "page")
    with pytest.raises(DefinitionError) as caught:
        check(draft)
    placed, rest = field_errors(caught.value.issues, form)
    assert list(placed) == ["prop-font_size"]
    assert "valid number" in placed["prop-font_size"]
    assert rest == []


def test_field_errors_place_nested_fields_and_summarise_the_rest(charts: Doc) -> None:
    form = build_form(charts, "groups[0].header.elements[3]")
    issues = [
        Issue(
            "groups[0].header.elements[3].x.expression",
            "unknown column 'mont'",
            "did you mean 'month'?",
        ),
        Issue("groups[0].header.elements[3].x.expression", "second problem"),
        Issue("variables[0].name", "duplicate name"),
    ]
    placed, rest = field_errors(issues, form)
    assert placed == {
        "prop-x-expression": "unknown column 'mont' (did you mean 'month'?); second problem"
    }
    assert rest == [issues[2]]


class Gauge(BaseModel):
    """A kind of element the engine does not have."""

    type: Literal["gauge"]
    needle: float = Field(ge=0, le=1, description="Where the needle points.")
    caption: str
    style: Literal["arc", "dial"] = "arc"
    ticks: bool = True
    scale: Scale | None = None


class Scale(BaseModel):
    low: int = 0
    high: int = 100


class Dot(BaseModel):
    type: Literal["dot"]


class Board(BaseModel):
    items: list[Annotated[Gauge | Dot, Field(discriminator="type")]]


Gauge.model_rebuild()


def test_a_model_made_here_gets_a_form_and_its_values_back_with_no_code_for_it() -> None:
    root = Board.model_json_schema()
    document = {
        "items": [{"type": "gauge", "needle": 0.5, "caption": "Load", "scale": {"high": 10}}]
    }
    form = build_form(document, "items[0]", root)
    fields = by_name(form)
    assert list(fields) == [
        "type",
        "needle",
        "caption",
        "style",
        "ticks",
        "scale.low",
        "scale.high",
    ]
    assert (fields["needle"].kind, fields["needle"].minimum, fields["needle"].maximum) == (
        "number",
        0,
        1,
    )
    assert fields["needle"].description == "Where the needle points."
    assert fields["style"].options == (("arc", "arc"), ("dial", "dial"))
    assert (fields["ticks"].kind, fields["ticks"].checked) == ("checkbox", True)
    values = submitted(form)
    assert values["scale.high"] == "10"
    schema = object_schema(root, "items[0]", document)
    assert coerce(values, schema, root) == {
        "type": "gauge",
        "needle": 0.5,
        "caption": "Load",
        "scale": {"high": 10},
    }
    del values["ticks"]  # the box unchecked: absent from the form, so False
    assert coerce(values, schema, root)["ticks"] is False
    Board.model_validate({"items": [coerce(values, schema, root)]})


def test_a_form_of_a_path_that_is_not_there_is_an_edit_error(sales: Doc) -> None:
    with pytest.raises(EditError, match=r"no element at bands\.detail\.elements\[9\]"):
        build_form(sales, "bands.detail.elements[9]")
    with pytest.raises(EditError, match="no property 'nope'"):
        build_form(sales, "bands.nope")
    with pytest.raises(EditError, match="has no properties"):
        build_form(sales, "title")
