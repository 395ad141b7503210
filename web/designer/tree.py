"""The band tree: a definition's bands in print order, their elements, and its sections.

The designer's left pane. Every node carries the document path the edits and forms take,
so a click in the tree, an edit and an error all speak of the same place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web.designer.paths import format_path

__all__ = (
    "BandNode",
    "ElementNode",
    "ItemNode",
    "SectionNode",
    "Tree",
    "band_tree",
    "element_summary",
)

# Bands not tied to a group, in the order they print around the groups.
_BEFORE_GROUPS = (
    ("title", "Title"),
    ("page_header", "Page header"),
    ("column_header", "Column header"),
)
_AFTER_GROUPS = (("summary", "Summary"), ("page_footer", "Page footer"), ("no_data", "No data"))
# What an element's summary shows after its type, the first of these it has.
_SUMMARY_KEYS = ("expression", "text", "variable", "kind")
_SUMMARY_LENGTH = 48


@dataclass(frozen=True)
class ElementNode:
    """An element of a band: its path, its type and a short summary ("field · product.name")."""

    path: str
    type: str
    summary: str


@dataclass(frozen=True)
class ItemNode:
    """An item of a section's list: its path and its name (or expression, for a sort key)."""

    path: str
    summary: str


@dataclass(frozen=True)
class BandNode:
    """A band slot, written or not, with its elements in order."""

    path: str
    label: str
    present: bool
    elements: tuple[ElementNode, ...]


@dataclass(frozen=True)
class SectionNode:
    """A part of the definition edited as a whole or item by item (parameters, page ...)."""

    path: str
    label: str
    items: tuple[ItemNode, ...]  # one per list item; none for source, page and theme
    is_list: bool = False


@dataclass(frozen=True)
class Tree:
    bands: tuple[BandNode, ...]
    sections: tuple[SectionNode, ...]


def band_tree(document: Mapping[str, Any]) -> Tree:
    """The bands in print order: title, page header, column header, each group's header
    (outermost first), detail, each group's footer (innermost first), summary, page
    footer, no data; then the sections."""
    bands = document.get("bands") or {}
    groups = [g for g in document.get("groups") or [] if isinstance(g, dict)]
    nodes = [_band(("bands", key), label, bands.get(key)) for key, label in _BEFORE_GROUPS]
    nodes += [
        _band(("groups", i, "header"), f"Group '{g.get('name', i)}' — header", g.get("header"))
        for i, g in enumerate(groups)
    ]
    nodes.append(_band(("bands", "detail"), "Detail", bands.get("detail")))
    nodes += [
        _band(("groups", i, "footer"), f"Group '{g.get('name', i)}' — footer", g.get("footer"))
        for i, g in reversed(list(enumerate(groups)))
    ]
    nodes += [_band(("bands", key), label, bands.get(key)) for key, label in _AFTER_GROUPS]
    return Tree(tuple(nodes), _sections(document))


def element_summary(element: Mapping[str, Any]) -> str:
    """`field · product.name`, `label · Region total`, `chart · bar`, or just the type."""
    kind = str(element.get("type", "?"))
    detail = next((str(element[k]) for k in _SUMMARY_KEYS if element.get(k) is not None), "")
    if len(detail) > _SUMMARY_LENGTH:
        detail = detail[: _SUMMARY_LENGTH - 1] + "…"
    return f"{kind} · {detail}" if detail else kind.replace("_", " ")


def _band(parts: tuple[str | int, ...], label: str, band: Any) -> BandNode:
    path = format_path(parts)
    elements = band.get("elements") or [] if isinstance(band, dict) else []
    return BandNode(
        path=path,
        label=label,
        present=isinstance(band, dict),
        elements=tuple(
            ElementNode(f"{path}.elements[{i}]", str(e.get("type", "?")), element_summary(e))
            for i, e in enumerate(elements)
        ),
    )


def _sections(document: Mapping[str, Any]) -> tuple[SectionNode, ...]:
    def listed(key: str, label: str, describe: str) -> SectionNode:
        values = [v for v in document.get(key) or [] if isinstance(v, dict)]
        items = (ItemNode(f"{key}[{i}]", str(v.get(describe, "?"))) for i, v in enumerate(values))
        return SectionNode(key, label, tuple(items), is_list=True)

    return (
        SectionNode("", "Report", ()),
        SectionNode("source", "Source", ()),
        listed("parameters", "Parameters", "name"),
        listed("groups", "Groups", "name"),
        listed("sort", "Sort", "expression"),
        listed("variables", "Variables", "name"),
        SectionNode("page", "Page setup", ()),
        SectionNode("theme", "Theme", ()),
    )
