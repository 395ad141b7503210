"""Property forms built from the definition's JSON Schema, and submitted forms read back.

Nothing here names an element kind or an option: a kind or option added to the engine's
pydantic models reaches the designer through `report_schema()` alone. Each property becomes
a field spec whose input kind follows its schema (numbers, enums, booleans, colours,
expressions); flat nested objects (margins, chart channels) become fieldsets with dotted
names (`x.expression`). Lists of objects and objects holding them (a band's elements, a
group's bands) are edited elsewhere, so a form neither shows nor touches them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.document import report_schema
from engine.errors import Issue
from web.designer.paths import EditError, Part, format_path, parse_path, resolve

__all__ = (
    "FieldSpec",
    "Fieldset",
    "PropertyForm",
    "build_form",
    "coerce",
    "definition_schema",
    "element_schema",
    "element_types",
    "field_errors",
    "object_schema",
    "schema_at",
)

Schema = dict[str, Any]

# Properties holding SQL expressions, which get the field picker.
EXPRESSION_NAMES = frozenset({"expression", "filter"})
TABLE_NAMES = frozenset({"table", "from_table"})  # a table of the source: picked from a list
# The models check colours with a validator, not a schema pattern: known by name or help text.
COLOR_NAMES = frozenset({"color", "fill", "colors"})
COLOR_PATTERN = "#[0-9a-fA-F]{6}"
# Strings allowed to be this long are edited in a text area.
LONG_TEXT = 1000


@dataclass(frozen=True)
class FieldSpec:
    """One input of a property form.

    `value` is the text the input shows (`checked` for a checkbox); `options` are
    (value, label) pairs for a select; `minimum`, `maximum` and `step` bound a number.
    """

    name: str
    id: str
    label: str
    kind: str  # text, textarea, number, checkbox, select, color, expression, list, hidden
    json_type: str  # what coerce turns the text into: string, integer, number, boolean, any...
    value: str = ""
    checked: bool = False
    default: Any = None
    description: str = ""
    required: bool = False
    nullable: bool = False
    options: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: str = ""
    max_length: int | None = None
    item_kind: str = ""  # for a list: the kind of each line ("color" or "text")


@dataclass(frozen=True)
class Fieldset:
    """A nested object edited in place: its fields' names are prefixed with `name.`."""

    name: str
    id: str
    label: str
    description: str
    fields: tuple[FieldSpec | Fieldset, ...]
    present: bool


@dataclass(frozen=True)
class PropertyForm:
    """The form of the object at `path`: its title, help text and fields in schema order."""

    path: str
    title: str
    description: str
    fields: tuple[FieldSpec | Fieldset, ...]
    field_names: tuple[str, ...] = field(default=())  # top-level names the form manages

    def leaves(self) -> list[FieldSpec]:
        """Every input, fieldsets flattened."""
        return list(_leaves(self.fields))


@functools.cache
def definition_schema() -> Schema:
    """The definition's JSON Schema, built once (treat it as read-only)."""
    return report_schema()


def element_types(root: Schema | None = None) -> list[str]:
    """The element types the schema knows, from the discriminator of a band's elements."""
    return list(_element_union(root or definition_schema())["discriminator"]["mapping"])


def element_schema(element_type: str, root: Schema | None = None, path: str = "") -> Schema:
    """The schema of one element type, or an `EditError` (naming `path`) listing the types."""
    root = root or definition_schema()
    mapping = _element_union(root)["discriminator"]["mapping"]
    if element_type not in mapping:
        known = ", ".join(mapping)
        raise EditError(f"unknown element type '{element_type}' (expected one of: {known})", path)
    return _deref(root, {"$ref": mapping[element_type]})


def schema_at(root: Schema, parts: Sequence[Part], document: Any) -> Schema:
    """The schema of the value at `parts`; a list item of a union is picked by its `type`."""
    node: Schema = root
    value = document
    for depth, part in enumerate(parts):
        here = format_path(parts[: depth + 1])
        node = _non_null(root, node)
        if isinstance(part, int):
            if "items" not in node:
                raise EditError(f"{format_path(parts[:depth])} is not a list", here, missing=True)
            node = node["items"]
            value = value[part] if isinstance(value, list) and part < len(value) else None
        else:
            properties = node.get("properties", {})
            if part not in properties:
                raise EditError(f"no property '{part}' here", here, missing=True)
            node = properties[part]
            value = value.get(part) if isinstance(value, dict) else None
        if "discriminator" in node:
            node = _pick(root, node, value, here)
    return _non_null(root, node)


def object_schema(root: Schema, path: str, document: Any) -> Schema:
    """The schema of the object at `path`, which must be an object with properties."""
    node = schema_at(root, parse_path(path), document)
    if "properties" not in node:
        raise EditError("has no properties to edit", path)
    return node


def build_form(document: Mapping[str, Any], path: str, root: Schema | None = None) -> PropertyForm:
    """The property form of the object at `path` in the document, filled with its values."""
    root = root or definition_schema()
    value = _value_or_default(document, parse_path(path))
    node = object_schema(root, path, document)
    fields = _fields(root, node, value if isinstance(value, dict) else {}, prefix="")
    return PropertyForm(
        path=path,
        # the whole definition is "Report", as in the tree (its schema's title is for files)
        title=_title(str(node.get("title", ""))) if path else "Report",
        description=str(node.get("description", "")),
        fields=fields,
        field_names=tuple(f.name for f in fields),
    )


def coerce(
    form_data: Mapping[str, Any], schema: Schema, root: Schema | None = None
) -> dict[str, Any]:
    """Typed values from submitted strings, for the object whose schema is given.

    Numbers and booleans are parsed (an unchecked box is absent, so False); an empty
    optional input is left out, and so is a value equal to its default, so the document
    keeps only what was written. Text that is not a number is kept as text, so that
    validation reports it beside its field.
    """
    root = root or definition_schema()
    return _coerce_all(_fields(root, _non_null(root, schema), {}, prefix=""), form_data)


def field_errors(issues: Sequence[Issue], form: PropertyForm) -> tuple[dict[str, str], list[Issue]]:
    """Issues placed beside the form's inputs (by field id), and the rest for a summary."""
    by_name = {leaf.name: leaf.id for leaf in form.leaves()}
    prefix = f"{form.path}." if form.path else ""
    placed: dict[str, str] = {}
    rest: list[Issue] = []
    for issue in issues:
        name = issue.path.removeprefix(prefix) if issue.path.startswith(prefix) else None
        if name in by_name:
            text = f"{issue.message} ({issue.hint})" if issue.hint else issue.message
            key = by_name[name]
            placed[key] = f"{placed[key]}; {text}" if key in placed else text
        else:
            rest.append(issue)
    return placed, rest


def _value_or_default(document: Mapping[str, Any], parts: tuple[Part, ...]) -> Any:
    """The object at the path; an object not written yet (page, theme) shows its defaults."""
    if parts and isinstance(parts[-1], str):
        parent = resolve(document, parts[:-1])
        return parent.get(parts[-1]) or {} if isinstance(parent, dict) else {}
    return resolve(document, parts)


# --- reading the schema ---------------------------------------------------------------


def _deref(root: Schema, node: Schema) -> Schema:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root["$defs"][name]
    return node


def _nullable(node: Schema) -> bool:
    return any(option.get("type") == "null" for option in node.get("anyOf", ()))


def _non_null(root: Schema, node: Schema) -> Schema:
    """The schema without its `null` option, and with its reference followed."""
    node = _deref(root, node)
    options = [o for o in node.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1:
        return _deref(root, options[0])
    return node


def _element_union(root: Schema) -> Schema:
    return _deref(root, root["$defs"]["Band"]["properties"]["elements"]["items"])


def _pick(root: Schema, node: Schema, value: Any, here: str) -> Schema:
    tag = node["discriminator"]["propertyName"]
    mapping = node["discriminator"]["mapping"]
    kind = value.get(tag) if isinstance(value, dict) else None
    if kind not in mapping:
        raise EditError(f"unknown {tag} '{kind}' (expected one of: {', '.join(mapping)})", here)
    return _deref(root, {"$ref": mapping[kind]})


def _holds_objects(root: Schema, node: Schema, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a schema is, or contains, a list of objects or a union of them."""
    node = _non_null(root, node)
    if "discriminator" in node or "oneOf" in node:
        return True
    if "items" in node:
        items = _non_null(root, node["items"])
        return "properties" in items or "discriminator" in items or "oneOf" in items
    title = str(node.get("title", ""))
    if title in seen:
        return True
    return any(
        _holds_objects(root, sub, seen | {title}) for sub in node.get("properties", {}).values()
    )


def _title(model: str) -> str:
    """`PageNumberElement` -> "Page number", `PageSetup` -> "Page setup"."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", model).removesuffix(" Element")
    return words.capitalize()


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _field_id(name: str) -> str:
    return "prop-" + re.sub(r"[^A-Za-z0-9_]", "-", name)


def _fields(
    root: Schema, node: Schema, value: Mapping[str, Any], prefix: str
) -> tuple[FieldSpec | Fieldset, ...]:
    required = set(node.get("required", ()))
    out: list[FieldSpec | Fieldset] = []
    for name, raw in node.get("properties", {}).items():
        if _holds_objects(root, raw):
            continue  # edited in the tree, not in a form
        sub = _non_null(root, raw)
        full = prefix + name
        current = value.get(name)
        if "properties" in sub:
            out.append(
                Fieldset(
                    name=full,
                    id=_field_id(full),
                    label=_label(name),
                    description=str(raw.get("description") or sub.get("description", "")),
                    fields=_fields(root, sub, current or {}, prefix=full + "."),
                    present=current is not None,
                )
            )
        else:
            out.append(_spec(name, full, raw, sub, current=current, required=name in required))
    return tuple(out)


def _spec(
    name: str, full: str, raw: Schema, sub: Schema, *, current: Any, required: bool
) -> FieldSpec:
    default = raw.get("default")
    shown = default if current is None else current
    description = str(raw.get("description", ""))
    nullable = _nullable(raw)
    common: dict[str, Any] = {
        "name": full,
        "id": _field_id(full),
        "label": _label(name),
        "default": default,
        "description": description,
        "required": required,
        "nullable": nullable,
    }
    kind_of = sub.get("type")
    if "const" in sub:
        return FieldSpec(**common, kind="hidden", json_type="const", value=str(sub["const"]))
    if "enum" in sub:
        options = tuple((str(v), str(v)) for v in sub["enum"])
        if not required and default is None:
            options = (("", "—"), *options)
        return FieldSpec(
            **common, kind="select", json_type="string", value=_text(shown), options=options
        )
    if kind_of == "boolean":
        if nullable:  # unset inherits from the band: yes, no, or as the band says
            options = (("", "—"), ("true", "yes"), ("false", "no"))
            return FieldSpec(
                **common, kind="select", json_type="boolean", value=_text(current), options=options
            )
        return FieldSpec(**common, kind="checkbox", json_type="boolean", checked=bool(shown))
    if kind_of in ("integer", "number"):
        low = sub.get("minimum", sub.get("exclusiveMinimum"))
        return FieldSpec(
            **common,
            kind="number",
            json_type=kind_of,
            value=_text(current),
            minimum=low,
            maximum=sub.get("maximum", sub.get("exclusiveMaximum")),
            step="1" if kind_of == "integer" else "any",
        )
    if kind_of == "array":
        items = _text_lines(current if current is not None else default)
        item_kind = "color" if name in COLOR_NAMES else "text"
        return FieldSpec(**common, kind="list", json_type="array", value=items, item_kind=item_kind)
    if kind_of == "string":
        limit = sub.get("maxLength")
        if name in EXPRESSION_NAMES:
            kind = "expression"
        elif name in TABLE_NAMES:
            kind = "table"
        elif name in COLOR_NAMES or "#rrggbb" in description:
            kind = "color"
        elif limit is not None and limit >= LONG_TEXT:
            kind = "textarea"
        else:
            kind = "text"
        return FieldSpec(
            **common, kind=kind, json_type="string", value=_text(current), max_length=limit
        )
    return FieldSpec(**common, kind="text", json_type="any", value=_text(current))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text_lines(values: Any) -> str:
    return "\n".join(str(v) for v in values) if isinstance(values, list) else ""


def _leaves(fields: Sequence[FieldSpec | Fieldset]) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for item in fields:
        out.extend(_leaves(item.fields) if isinstance(item, Fieldset) else [item])
    return out


# --- reading a submitted form ------------------------------------------------------------


def _submitted(form_data: Mapping[str, Any], name: str) -> str | None:
    value = form_data.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    return None if value is None else str(value)


def _coerce_all(
    fields: Sequence[FieldSpec | Fieldset], form_data: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in fields:
        key = item.name.rsplit(".", 1)[-1]
        if isinstance(item, Fieldset):
            nested = _coerce_all(item.fields, form_data)
            if nested:
                out[key] = nested
            continue
        value = _coerce_one(item, _submitted(form_data, item.name))
        if value is not _ABSENT and not (item.default is not None and value == item.default):
            out[key] = value
    return out


_ABSENT: Any = object()


def _coerce_one(spec: FieldSpec, text: str | None) -> Any:
    if spec.json_type == "const":
        return spec.value
    if spec.kind == "checkbox":
        return text is not None and text.lower() not in ("", "false", "off", "0")
    if text is None or (text.strip() == "" and not (spec.required and spec.json_type == "string")):
        return _ABSENT
    if spec.json_type == "boolean":
        return text.strip().lower() == "true"
    if spec.json_type in ("integer", "number"):
        return _number(text.strip())
    if spec.json_type == "array":
        return [line.strip() for line in text.splitlines() if line.strip()]
    return text


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # validation puts "not a valid number" beside the field
