"""Edits by path: each keeps every example a valid definition, never touches its input,
and names the path of anything it cannot do."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.document import parse_definition
from engine.errors import DefinitionError
from engine.schema import SourceSchema
from web.designer.edits import (
    SECTIONS,
    add_band,
    add_element,
    add_item,
    apply_form,
    check,
    move_element_to,
    move_item,
    new_element,
    remove_band,
    remove_item,
    set_properties,
)
from web.designer.forms import element_types
from web.designer.paths import EditError, resolve
from web.designer.tree import band_tree

Doc = dict[str, Any]
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def load(path: Path) -> Doc:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def valid(document: Doc) -> None:
    """As the brief says: the document, dumped as YAML, parses as a definition."""
    parse_definition(yaml.safe_dump(document))


def every_edit(document: Doc, source: SourceSchema) -> list[tuple[str, Callable[[], Doc]]]:
    """Each edit on every band, element and item of the document; every element type once."""
    edits: list[tuple[str, Callable[[], Doc]]] = [
        (f"add {kind}", lambda k=kind: add_element(document, "bands.summary", k, source=source))
        for kind in element_types()
    ]
    tree = band_tree(document)
    for band in tree.bands:
        if not band.present:
            edits.append((f"add_band {band.path}", lambda p=band.path: add_band(document, p)))
            continue
        edits.append((f"remove_band {band.path}", lambda p=band.path: remove_band(document, p)))
        edits.append((f"add to {band.path}", lambda p=band.path: add_element(document, p, "label")))
        for element in band.elements:
            path = element.path
            edits.append((f"remove {path}", lambda p=path: remove_item(document, p)))
            if element is not band.elements[-1]:
                edits.append((f"down {path}", lambda p=path: move_item(document, p, 1)))
            edits.append(
                (f"to summary {path}", lambda p=path: move_element_to(document, p, "bands.summary"))
            )
    for section in tree.sections:
        if section.is_list:
            edits.append(
                (
                    f"add to {section.path}",
                    lambda s=section.path: add_item(document, s, source=source),
                )
            )
        for item in section.items:
            edits.append((f"remove {item.path}", lambda p=item.path: remove_item(document, p)))
            if item is not section.items[-1]:
                edits.append((f"down {item.path}", lambda p=item.path: move_item(document, p, 1)))
    return edits


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_edit_of_every_example_keeps_it_valid_and_the_input_untouched(
    example: Path, demo_schema: SourceSchema
) -> None:
    document = load(example)
    if not any(v.get("name") for v in document.get("variables", [])):
        document = add_item(document, "variables")  # so that an aggregate can be added
    before = copy.deepcopy(document)
    edits = every_edit(document, demo_schema)
    assert len(edits) > 20
    for name, edit in edits:
        result = edit()
        assert result is not document, name
        try:
            check(result)  # as parse_definition(yaml.safe_dump(result)), without YAML's cost
        except DefinitionError as error:  # pragma: no cover - the message is the point
            pytest.fail(f"{example.stem}: {name} made an invalid document: {error}")
        assert document == before, f"{name} changed its input"


@pytest.mark.parametrize("example", EXAMPLES[:2], ids=lambda p: p.stem)
def test_check_agrees_with_parsing_the_yaml(example: Path, demo_schema: SourceSchema) -> None:
    document = add_element(load(example), "bands.detail", "field", source=demo_schema)
    valid(document)
    assert check(document) == parse_definition(yaml.safe_dump(document))
    broken = apply_form(document, "page", {"font_size": "large"})
    with pytest.raises(DefinitionError) as by_check:
        check(broken)
    with pytest.raises(DefinitionError) as by_parse:
        valid(broken)
    assert by_check.value.issues == by_parse.value.issues


def test_add_element_appends_the_minimal_element_of_each_type(
    sales: Doc, demo_schema: SourceSchema
) -> None:
    def added(kind: str, **options: Any) -> Any:
        return resolve(
            add_element(sales, "bands.summary", kind, **options), "bands.summary.elements"
        )[-1]

    assert added("label") == {"type": "label", "text": "Label"}
    assert added("field", expression="product.name") == {
        "type": "field",
        "expression": "product.name",
    }
    assert added("field", source=demo_schema) == {"type": "field", "expression": "id"}
    assert added("aggregate") == {"type": "aggregate", "variable": "line_amount_total"}
    assert added("chart") == {"type": "chart", "kind": "bar"}
    assert added("row_break") == {"type": "row_break"}


def test_add_element_at_a_place_and_creating_the_band(sales: Doc) -> None:
    first = add_element(sales, "groups[1].header", "label", at=0)
    assert resolve(first, "groups[1].header.elements[0]") == {"type": "label", "text": "Label"}
    assert resolve(first, "groups[1].header.elements[1]") == resolve(
        sales, "groups[1].header.elements[0]"
    )
    bare: Doc = {"title": "Bare", "source": {"table": "orders"}}
    created = add_element(bare, "bands.detail", "label")
    assert created["bands"] == {"detail": {"elements": [{"type": "label", "text": "Label"}]}}
    assert "bands" not in bare
    check(created)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda d: remove_item(d, "bands.detail.elements[9]"),
            "bands.detail.elements[9]",
            "no element at bands.detail.elements[9]: the band has 7",
        ),
        (
            lambda d: move_item(d, "bands.detail.elements[9]", 1),
            "bands.detail.elements[9]",
            "the band has 7",
        ),
        (lambda d: add_element(d, "bands.nope", "label"), "bands.nope", "not a band"),
        (
            lambda d: add_element(d, "groups[5].header", "label"),
            "groups[5]",
            "no group at groups[5]: there are 2",
        ),
        (
            lambda d: add_element(d, "bands.detail", "blob"),
            "bands.detail",
            "unknown element type 'blob'",
        ),
        (lambda d: add_element(d, "bands.detail", "field"), "bands.detail", "needs an expression"),
        (lambda d: add_element(d, "bands.detail", "label", at=8), "bands.detail", "no place 8"),
        (lambda d: add_element(d, "title", "label"), "title", "not a band"),
        (lambda d: move_item(d, "groups[0]", -1), "groups[0]", "already the first"),
        (lambda d: move_item(d, "groups[1]", 1), "groups[1]", "already the last"),
        (lambda d: add_band(d, "bands.title"), "bands.title", "already there"),
        (lambda d: remove_band(d, "groups[1].title"), "groups[1].title", "not a band"),
        (lambda d: remove_item(d, "groups"), "groups", "not an item of a list"),
        (lambda d: add_item(d, "bands"), "bands", "not a list of items"),
        (lambda d: set_properties(d, "groups[7]", {}, ()), "groups[7]", "no group at groups[7]"),
        (
            lambda d: move_element_to(d, "bands.detail.elements[0]", "bands.nope"),
            "bands.nope",
            "not a band",
        ),
        (lambda d: remove_item(d, "bands..x"), "bands..x", "not a document path"),
        (lambda d: move_element_to(d, "groups[0]", "bands.detail"), "groups[0]", "not an element"),
    ],
)
def test_impossible_edits_name_their_path(
    sales: Doc, edit: Callable[[Doc], Doc], path: str, message: str
) -> None:
    with pytest.raises(EditError) as caught:
        edit(sales)
    assert caught.value.path == path
    assert message in caught.value.issues[0].message


def test_an_aggregate_needs_a_variable() -> None:
    bare: Doc = {"title": "Bare", "source": {"table": "orders"}}
    with pytest.raises(EditError, match="add a variable first"):
        add_element(bare, "bands.detail", "aggregate")
    assert new_element("aggregate", add_item(bare, "variables")) == {
        "type": "aggregate",
        "variable": "variable1",
    }


def test_moves_reorder_elements_and_items(sales: Doc) -> None:
    down = move_item(sales, "bands.detail.elements[0]", 1)
    assert [e["expression"] for e in down["bands"]["detail"]["elements"][:2]] == [
        "order.ordered_at",
        "order_id",
    ]
    up = move_item(sales, "groups[1]", -1)
    assert [g["name"] for g in up["groups"]] == ["customer", "region"]
    check(up)


def test_move_to_another_band_and_within_the_same_band(sales: Doc) -> None:
    moved = move_element_to(sales, "bands.detail.elements[0]", "bands.summary", at=1)
    assert moved["bands"]["summary"]["elements"][1] == sales["bands"]["detail"]["elements"][0]
    assert len(moved["bands"]["detail"]["elements"]) == 6
    last = move_element_to(sales, "bands.detail.elements[0]", "bands.detail")
    assert last["bands"]["detail"]["elements"][-1]["expression"] == "order_id"


def test_items_get_unique_names_and_values(sales: Doc, demo_schema: SourceSchema) -> None:
    twice = add_item(add_item(sales, "groups", source=demo_schema), "groups", source=demo_schema)
    assert [g["name"] for g in twice["groups"][2:]] == ["group1", "group2"]
    given = add_item(
        sales, "parameters", {"name": "region", "type": "choice", "choices": ["North"]}
    )
    assert given["parameters"][-1] == {"name": "region", "type": "choice", "choices": ["North"]}
    assert set(SECTIONS) == {"parameters", "groups", "variables", "sort"}


def test_set_properties_replaces_the_form_keys_and_keeps_the_rest(sales: Doc) -> None:
    result = set_properties(
        sales,
        "groups[0]",
        {"name": "area", "expression": "1"},
        ("name", "expression", "reprint_header"),
    )
    group = result["groups"][0]
    assert list(group) == ["name", "expression", "header", "footer"]  # in the schema's order
    assert group["header"] == sales["groups"][0]["header"]
    assert sales["groups"][0]["name"] == "region"


def test_set_properties_creates_an_object_not_written_yet() -> None:
    bare: Doc = {"title": "Bare", "source": {"table": "orders"}}
    result = apply_form(bare, "page", {"size": "a3", "margins.top": "20mm"})
    assert result["page"] == {"size": "a3", "margins": {"top": "20mm"}}
    assert check(result).page.margins.top == "20mm"


def test_an_invalid_form_gives_a_draft_whose_issues_name_the_field(sales: Doc) -> None:
    draft = apply_form(
        sales, "bands.detail.elements[0]", {"type": "field", "expression": "x", "size": "huge"}
    )
    with pytest.raises(DefinitionError) as caught:
        check(draft)
    assert [i.path for i in caught.value.issues] == ["bands.detail.elements[0].size"]


def test_a_result_shares_nothing_with_its_input(sales: Doc) -> None:
    before = copy.deepcopy(sales)
    result = add_element(sales, "bands.detail", "label")
    result["bands"]["detail"]["elements"][0]["width"] = "99mm"
    result["groups"][0]["header"]["elements"].clear()
    result["parameters"][0]["name"] = "changed"
    assert sales == before
