"""Edits of a definition document by path, each returning a new document.

A document is the plain data of a definition (`ReportDefinition.to_data()` or the parsed
YAML). No edit changes its input: each works on a deep copy. An edit that cannot apply
raises `EditError` naming the path and what is wrong. Edits keep the document's shape;
whether the result is a valid definition is for `check` to say, so that an invalid draft
can be kept and shown as one.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from engine.definition import ReportDefinition
from engine.document import parse_definition
from engine.schema import SourceSchema
from web.designer.fields import first_column
from web.designer.forms import (
    EXPRESSION_NAMES,
    Schema,
    build_form,
    coerce,
    definition_schema,
    element_schema,
    object_schema,
    schema_at,
)
from web.designer.paths import EditError, Part, format_path, parse_path, resolve

__all__ = (
    "SECTIONS",
    "Document",
    "add_band",
    "add_element",
    "add_item",
    "apply_form",
    "check",
    "move_element_to",
    "move_item",
    "new_element",
    "remove_band",
    "remove_item",
    "set_properties",
)

Document = dict[str, Any]

# The top-level lists edited item by item, with what one item is called.
SECTIONS = {"parameters": "parameter", "groups": "group", "variables": "variable", "sort": "sort"}


def check(document: Mapping[str, Any]) -> ReportDefinition:
    """The validated definition, or a `DefinitionError` with every issue at its path.

    A valid document is validated directly (YAML in pure Python costs 0.2 s a document);
    an invalid one goes through `parse_definition` for the engine's issues and hints.
    """
    try:
        return ReportDefinition.model_validate(document)
    except ValidationError:
        return parse_definition(yaml.safe_dump(dict(document), sort_keys=False))


def new_element(
    element_type: str,
    document: Mapping[str, Any],
    *,
    expression: str | None = None,
    source: SourceSchema | None = None,
    band: str = "",
) -> Document:
    """The smallest valid element of a type: its required properties with starting values.

    A label says "Label"; an expression is the one given or the source table's first
    column; a variable is the document's first; a choice is its first option. `band`
    is the path errors name.
    """
    schema = element_schema(element_type, path=band)
    return _new_object(schema, _Start(document, "", band, expression, source, element_type))


def add_element(
    document: Mapping[str, Any],
    band: str,
    element_type: str,
    *,
    expression: str | None = None,
    source: SourceSchema | None = None,
    at: int | None = None,
) -> Document:
    """Add a new element to a band (created if absent), at the end or at index `at`."""
    parts = _band_parts(document, band)
    element = new_element(element_type, document, expression=expression, source=source, band=band)
    result = _copy(document)
    target = _ensure(result, parts)
    elements = target.setdefault("elements", [])
    elements.insert(len(elements) if at is None else _index(at, len(elements) + 1, band), element)
    return result


def move_element_to(
    document: Mapping[str, Any], element: str, band: str, at: int | None = None
) -> Document:
    """Move an element to another band (created if absent), at its end or at index `at`."""
    parts = _item_parts(document, element)
    if parts[-2] != "elements":
        raise EditError("not an element: only elements move between bands", element)
    moved = resolve(document, parts)
    band_parts = _band_parts(document, band)
    result = remove_item(document, element)
    target = _ensure(result, band_parts)
    elements = target.setdefault("elements", [])
    elements.insert(len(elements) if at is None else _index(at, len(elements) + 1, band), moved)
    return result


def add_item(
    document: Mapping[str, Any],
    section: str,
    values: Mapping[str, Any] | None = None,
    *,
    expression: str | None = None,
    source: SourceSchema | None = None,
) -> Document:
    """Append a parameter, group, variable or sort key: starting values, then `values`."""
    if section not in SECTIONS:
        raise EditError(f"not a list of items (expected one of: {', '.join(SECTIONS)})", section)
    schema = schema_at(definition_schema(), (section, 0), {})
    start = _Start(document, section, section, expression, source, SECTIONS[section])
    item = _new_object(schema, start)
    item.update(values or {})
    result = _copy(document)
    result.setdefault(section, []).append(item)
    return result


def remove_item(document: Mapping[str, Any], path: str) -> Document:
    """Remove the element, parameter, group, variable or sort key at `path`."""
    parts = _item_parts(document, path)
    result = _copy(document)
    resolve(result, parts[:-1]).pop(parts[-1])
    return result


def move_item(document: Mapping[str, Any], path: str, offset: int) -> Document:
    """Move a list item `offset` places (-1 up, +1 down) within its list."""
    parts = _item_parts(document, path)
    index = parts[-1]
    assert isinstance(index, int)
    items = resolve(document, parts[:-1])
    goal = index + offset
    if not 0 <= goal < len(items):
        where = "first" if goal < 0 else "last"
        raise EditError(f"cannot move {offset:+d}: it is already the {where}", path)
    result = _copy(document)
    moving = resolve(result, parts[:-1])
    moving.insert(goal, moving.pop(index))
    return result


def add_band(document: Mapping[str, Any], band: str) -> Document:
    """Add an empty band (`bands.summary`, `groups[0].footer` ...); an existing one is an error."""
    parts = _band_parts(document, band)
    parent = _parent_or_none(document, parts)
    if parent is not None and parent.get(parts[-1]) is not None:
        raise EditError("the band is already there", band)
    result = _copy(document)
    _ensure(result, parts)
    return result


def remove_band(document: Mapping[str, Any], band: str) -> Document:
    """Remove a band and its elements."""
    parts = _band_parts(document, band)
    resolve(document, parts)  # an absent band is an EditError naming it
    result = _copy(document)
    del resolve(result, parts[:-1])[parts[-1]]
    return result


def set_properties(
    document: Mapping[str, Any],
    path: str,
    values: Mapping[str, Any],
    replace: Collection[str],
) -> Document:
    """Give the object at `path` these values for the properties named in `replace`.

    A property in `replace` but not in `values` is removed (a cleared input); properties
    outside `replace` (a band's elements, a group's bands) are kept as they were. An
    object not written yet (page, theme) is created.
    """
    parts = parse_path(path)
    _value_or_new(document, parts)
    result = _copy(document)
    target = _ensure(result, parts) if parts else result
    for key in replace:
        target.pop(key, None)
    target.update(copy.deepcopy(dict(values)))
    order = list(object_schema(definition_schema(), path, result)["properties"])
    ranked = sorted(target.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
    target.clear()
    target.update(ranked)
    return result


def apply_form(document: Mapping[str, Any], path: str, form_data: Mapping[str, Any]) -> Document:
    """Set the object at `path` from its submitted property form (see `forms.coerce`)."""
    form = build_form(document, path)
    values = coerce(form_data, object_schema(definition_schema(), path, document))
    return set_properties(document, path, values, form.field_names)


# --- helpers --------------------------------------------------------------------------


def _copy(document: Mapping[str, Any]) -> Document:
    return copy.deepcopy(dict(document))


def _index(at: int, size: int, path: str) -> int:
    if not 0 <= at < size:
        raise EditError(f"no place {at} in the band: it takes 0 to {size - 1}", path)
    return at


def _band_parts(document: Mapping[str, Any], band: str) -> tuple[Part, ...]:
    """The parts of a band's path, checked against the schema: a band or an EditError."""
    parts = parse_path(band)
    root = definition_schema()
    try:
        node = schema_at(root, parts, document)
    except EditError:
        node = {}
    if not parts or isinstance(parts[-1], int) or node is not root["$defs"]["Band"]:
        raise EditError("not a band", band, missing=True)
    if any(isinstance(part, int) for part in parts):
        resolve(document, parts[:-1])  # a group's band: the group must exist
    return parts


def _item_parts(document: Mapping[str, Any], path: str) -> tuple[Part, ...]:
    parts = parse_path(path)
    if not parts or not isinstance(parts[-1], int):
        raise EditError("not an item of a list", path, missing=True)
    resolve(document, parts)
    return parts


def _parent_or_none(document: Mapping[str, Any], parts: tuple[Part, ...]) -> Any:
    try:
        return resolve(document, parts[:-1])
    except EditError:
        return None


def _value_or_new(document: Mapping[str, Any], parts: tuple[Part, ...]) -> None:
    """Raise unless the object exists or can be created (its path's lists exist)."""
    last_index = max((i for i, p in enumerate(parts) if isinstance(p, int)), default=-1)
    resolve(document, parts[: last_index + 1])
    object_schema(definition_schema(), format_path(parts), document)


def _ensure(document: Document, parts: tuple[Part, ...]) -> Document:
    """The object at `parts`, creating absent objects on the way (never list items)."""
    value: Any = document
    for part in parts:
        if isinstance(part, int):
            value = value[part]
        else:
            if value.get(part) is None:
                value[part] = {}
            value = value[part]
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Start:
    """What a new object's starting values are drawn from, and where errors point."""

    document: Mapping[str, Any]
    section: str  # the list holding the new object's kin, whose names it must not take
    where: str
    expression: str | None
    source: SourceSchema | None
    noun: str


def _new_object(schema: Schema, start: _Start) -> Document:
    """An object with each required property given a starting value."""
    return {
        name: _starting_value(name, schema["properties"][name], start)
        for name in schema.get("required", ())
    }


def _starting_value(name: str, prop: Schema, start: _Start) -> Any:
    if "const" in prop:
        return prop["const"]
    if "enum" in prop:
        return prop["enum"][0]
    if name in EXPRESSION_NAMES:
        return start.expression or _first_column(start)
    if name == "name":
        kin = start.document.get(start.section, []) if start.section else []
        taken = {item.get("name") for item in kin if isinstance(item, dict)}
        noun = start.noun
        return next(f"{noun}{n}" for n in range(1, len(taken) + 2) if f"{noun}{n}" not in taken)
    if name == "variable":
        names = [v["name"] for v in start.document.get("variables", []) if "name" in v]
        if not names:
            raise EditError(f"add a variable first: an {start.noun} element shows one", start.where)
        return names[0]
    kind = prop.get("type")
    if kind in ("integer", "number"):
        return prop.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    return start.noun.replace("_", " ").capitalize()  # text: "Label", "Page number"


def _first_column(start: _Start) -> str:
    table = str(start.document.get("source", {}).get("table", ""))
    column = first_column(start.source, table) if start.source is not None else None
    if column is None:
        message = f"a new {start.noun} needs an expression: give one or a data source"
        raise EditError(message, start.where)
    return column
