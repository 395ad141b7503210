"""The context of each designer fragment, one dataclass per template, and their builders.

A route renders a fragment as `template.render(**context.variables())`, so what each
template may use is written here once, and tests render each one with exactly this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.errors import DefinitionError, Issue
from web.designer.forms import PropertyForm, build_form, element_types, field_errors
from web.designer.tree import Tree, band_tree

__all__ = (
    "ErrorsContext",
    "FieldPickerContext",
    "PropertiesContext",
    "PropertiesUrls",
    "TreeContext",
    "TreeUrls",
    "error_slots",
    "errors_context",
    "field_picker_context",
    "properties_context",
    "tree_context",
)


class _Context:
    template: ClassVar[str]

    def variables(self) -> dict[str, Any]:
        """The template's variables: this dataclass's fields by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class TreeUrls:
    """Where the tree's buttons post; each sends `path` (and `type`, `offset`, `band`)."""

    select: str  # GET, path: show the property form of the node
    add_element: str  # POST, band + type: a new element at the band's end
    remove: str  # POST, path: an element or a section's item
    move: str  # POST, path + offset (-1 up, +1 down): an element or a section's item
    add_band: str  # POST, path: an absent band
    remove_band: str  # POST, path
    add_item: str  # POST, path: the section (parameters, groups, sort, variables)


@dataclass(frozen=True)
class TreeContext(_Context):
    """`designer/_tree.html`: the bands in print order, then the sections.

    `selected` is the path of the node shown in the property form (marked with
    `aria-current`); `target` the CSS selector the responses replace.
    """

    template: ClassVar[str] = "designer/_tree.html"
    tree: Tree
    selected: str
    element_types: tuple[str, ...]
    urls: TreeUrls
    target: str = "#designer"


@dataclass(frozen=True)
class PropertiesUrls:
    save: str  # POST: the form's fields plus `path`
    field_picker: str  # GET, target (an input's id): the field picker for that input


@dataclass(frozen=True)
class PropertiesContext(_Context):
    """`designer/_properties.html`: the property form of the selected node.

    `errors` maps a field's id to its message (a re-render after a failed save);
    `problems` are those with no field of this form; `draft` says the document shown is
    an invalid draft, the last valid version being kept.
    """

    template: ClassVar[str] = "designer/_properties.html"
    form: PropertyForm
    urls: PropertiesUrls
    errors: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[Issue, ...] = ()
    draft: bool = False
    target: str = "#designer"


@dataclass(frozen=True)
class ErrorsContext(_Context):
    """`designer/_errors.html`, the body of a 422: one out-of-band span per field of the
    form (emptied where the field has no error any more) and a summary of the rest."""

    template: ClassVar[str] = "designer/_errors.html"
    field_ids: tuple[str, ...]
    errors: Mapping[str, str]
    problems: tuple[Issue, ...]
    draft: bool = True


@dataclass(frozen=True)
class FieldPickerContext(_Context):
    """`designer/_field_picker.html`: the dotted paths from the base table, for one input
    (a chosen one goes in at the cursor), or the source's tables (a chosen one replaces the
    input's value).

    Each field is one of `engine.api.describe_source(source, table)["fields"]`: its
    `path`, `type`, `kind` and `nullable`; a table is a `path` (its name) and a `type`
    (how many columns it has).
    """

    template: ClassVar[str] = "designer/_field_picker.html"
    table: str
    fields: tuple[Mapping[str, Any], ...]
    target: str  # the id of the input a chosen path goes into
    tables: bool = False  # the list is the source's tables


def tree_context(document: Mapping[str, Any], selected: str, urls: TreeUrls) -> TreeContext:
    return TreeContext(band_tree(document), selected, tuple(element_types()), urls)


def properties_context(
    document: Mapping[str, Any],
    path: str,
    urls: PropertiesUrls,
    error: DefinitionError | None = None,
) -> PropertiesContext:
    """The form of the object at `path`, with `error`'s issues beside their fields."""
    form = build_form(document, path)
    placed, rest = field_errors(error.issues, form) if error else ({}, [])
    return PropertiesContext(form, urls, placed, tuple(rest), draft=error is not None)


def errors_context(error: DefinitionError, form: PropertyForm) -> ErrorsContext:
    """The 422 fragment of a save that left the draft invalid."""
    placed, rest = field_errors(error.issues, form)
    return ErrorsContext(error_slots(form), placed, tuple(rest))


def error_slots(form: PropertyForm) -> tuple[str, ...]:
    """The ids of the inputs that have an error span beside them (hidden ones have none)."""
    return tuple(leaf.id for leaf in form.leaves() if leaf.kind != "hidden")


def field_picker_context(
    table: str, fields: Sequence[Mapping[str, Any]], target: str, *, tables: bool = False
) -> FieldPickerContext:
    return FieldPickerContext(table, tuple(fields), target, tables)
