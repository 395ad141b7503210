"""Validation of a report definition: every problem at once, in one pass, in document order.

`validate` is the one place that decides whether a definition is valid. It checks the YAML
syntax, the structure (pydantic), the names that refer to each other, where aggregates are
printed, the parameters, and, given the data source's schema, every expression, join, chart
and band layout. A structural error does not hide the rest: the broken parts are replaced
by neutral placeholders (list indices kept, so paths stay right) and the remaining checks
run on what is left; problems found inside a placeholder are not reported.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from engine.charts import chart_elements
from engine.definition import ReportDefinition
from engine.document import NOT_A_MAPPING, check_document, read_yaml, structure_issues
from engine.errors import DefinitionError, Issue, ParameterError, QuireError
from engine.layout import PAPER_MM, length_pt
from engine.parameters import resolve_parameters
from engine.plan import QueryPlan, check_names
from engine.plan_cache import DEFAULT_PLANS
from engine.schema import SourceSchema
from engine.typst_writer import TypstLayout

__all__ = ("Document", "Validated", "page_issues", "validate")

Document = str | Mapping[str, Any] | ReportDefinition


@dataclass(frozen=True)
class Validated:
    """What `validate` found.

    Attributes:
        issues: every problem, in document order, each once; empty when all is valid.
            Paths read like the document (`bands.detail.elements[2].expression`); a run
            parameter's problems are at `params.NAME`.
        definition: the parsed definition, when there is no issue.
        plan: the query plan, when there is no issue and a schema was given.
        parameters: the typed run parameters, when there is no issue and values were given.
    """

    issues: tuple[Issue, ...]
    definition: ReportDefinition | None = None
    plan: QueryPlan | None = None
    parameters: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.issues

    def error(self) -> QuireError | None:
        """The issues as one error: `ParameterError` if only run parameters are wrong."""
        if not self.issues:
            return None
        if all(issue.path.startswith("params.") for issue in self.issues):
            return ParameterError(self.issues)
        return DefinitionError(self.issues)


def validate(
    document: Document,
    schema: SourceSchema | None = None,
    given: Mapping[str, Any] | None = None,
) -> Validated:
    """Check a definition (YAML/JSON text, plain data or a model) and report every problem.

    Args:
        document: the definition.
        schema: the data source's schema; without it expressions, joins, charts and
            layout are not checked.
        given: run parameter values (text or typed); without them only the defaults are
            checked, and a required parameter is not reported missing.
    """
    issues: list[Issue] = []
    try:
        data: Any = read_yaml(document) if isinstance(document, str) else document
        if isinstance(data, Mapping) and not isinstance(document, str):
            check_document(data)
    except DefinitionError as error:
        return Validated(error.issues)
    unreadable = _not_unicode(data)
    if unreadable:
        return Validated(tuple(_in_document_order(unreadable, data)))
    if isinstance(data, ReportDefinition):
        definition: ReportDefinition | None = data
        data = data.model_dump(mode="json")
        placeholders: list[str] = []
    elif isinstance(data, Mapping):
        definition, placeholders = _structure(data, issues)
    else:
        return Validated((Issue("", NOT_A_MAPPING),))
    found: list[Issue] = []
    plan = None
    parameters = None
    if definition is not None:
        page = page_issues(definition)
        found.extend(page)
        plan = _semantics(definition, schema, found, layout=not page)
        if given is not None:
            try:
                parameters = resolve_parameters(definition, given)
            except ParameterError as error:
                found.extend(error.issues)
    issues.extend(i for i in found if not any(_under(i.path, p) for p in placeholders))
    ordered = _in_document_order(list(dict.fromkeys(issues)), data)
    if ordered:
        return Validated(tuple(ordered))
    return Validated((), definition, plan, parameters)


def page_issues(definition: ReportDefinition) -> list[Issue]:
    """Margins that leave no room on the page, and charts taller than the room left."""
    page = definition.page
    width_mm, height_mm = PAPER_MM[page.size]
    if page.orientation == "landscape":
        width_mm, height_mm = height_mm, width_mm
    size = f"{page.size} {page.orientation} ({width_mm:g} x {height_mm:g}mm)"
    margins = page.margins
    mm = 25.4 / 72
    issues: list[Issue] = []
    across = length_pt(margins.left, page.font_size) + length_pt(margins.right, page.font_size)
    down = length_pt(margins.top, page.font_size) + length_pt(margins.bottom, page.font_size)
    checks = ((("left", "right"), across, width_mm), (("top", "bottom"), down, height_mm))
    for sides, used, room in checks:
        if used * mm > room - 0.01:  # no room, to a rounding error of the units
            paths = " and ".join(f"page.margins.{side}" for side in sides)
            issues.append(
                Issue(
                    f"page.margins.{sides[0]}",
                    f"{paths} add up to {used * mm:.0f}mm, leaving no room on {size}",
                    f"make them add up to less than {room:g}mm",
                )
            )
    if issues:
        return issues
    content_mm = height_mm - down * mm
    for path, _, element in chart_elements(definition):
        tall = length_pt(element.height, page.font_size) * mm
        if tall > content_mm:
            issues.append(
                Issue(
                    f"{path}.height",
                    f"the chart is {tall:.0f}mm high, taller than the {content_mm:.0f}mm the "
                    f"page leaves between its margins",
                )
            )
    return issues


def _semantics(
    definition: ReportDefinition,
    schema: SourceSchema | None,
    issues: list[Issue],
    *,
    layout: bool = True,
) -> QueryPlan | None:
    """Names, scopes and, with a schema, expressions, charts and (unless the page itself
    is wrong) layout."""
    if schema is None:
        issues.extend(check_names(definition))
        return None
    try:
        plan = DEFAULT_PLANS.plan(definition, schema)  # checks the names too
    except DefinitionError as error:
        issues.extend(error.issues)
        return None
    if layout:
        try:
            TypstLayout(definition, plan)
        except DefinitionError as error:
            issues.extend(error.issues)
    return plan


def _not_unicode(data: Any) -> list[Issue]:
    """Issues for text that is not Unicode (a lone surrogate, which JSON's and YAML's
    escapes allow): nothing downstream can encode it."""
    issues: list[Issue] = []
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:  # a loop, not recursion: the document may be deeply nested
        path, node = pending.pop()
        items: Any = ()
        if isinstance(node, Mapping):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        elif isinstance(node, str) and not _encodable(node):
            issues.append(Issue(path, "not valid Unicode text (a lone surrogate)"))
        for key, value in items:
            if isinstance(key, str) and not _encodable(key):
                issues.append(Issue(path, "a key that is not valid Unicode (a lone surrogate)"))
                continue
            inner = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key
            pending.append((str(inner), value))
    return issues


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- structure, with placeholders for the broken parts ---------------------------------------

_ROUNDS = 4  # a placeholder can uncover an error pydantic had not reached (inside a union)


def _structure(
    data: Mapping[str, Any], issues: list[Issue]
) -> tuple[ReportDefinition | None, list[str]]:
    """The definition, or one made from the data with its broken parts neutralised; the
    paths of those parts."""
    try:
        return ReportDefinition.model_validate(data), []
    except ValidationError as invalid:
        errors = invalid.errors()
        issues.extend(structure_issues(invalid))
    work: Any = copy.deepcopy(dict(data))
    placeholders: list[str] = []
    for _ in range(_ROUNDS):
        for error in errors:
            placeholders.append(_neutralise(work, tuple(error["loc"]), error["type"]))
        try:
            return ReportDefinition.model_validate(work), placeholders
        except ValidationError as again:
            errors = again.errors()
    return None, placeholders


# Keys that have no default where they occur; a broken one takes its list item with it.
_REQUIRED = {"title", "source", "table", "type", "text", "expression", "variable", "kind"}
_REQUIRED |= {"name", "function"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _neutralise(data: Any, loc: tuple[Any, ...], kind: str) -> str:
    """Replace what `loc` points at with something valid and inert; return its path."""
    trail: list[tuple[Any, Any]] = []  # (container, key) from the top down
    node = data
    for part in loc:
        present = isinstance(node, MutableMapping) and part in node
        if present or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            trail.append((node, part))
            node = node[part]
        elif not (isinstance(node, MutableMapping) and node.get("type") == part):
            if kind == "missing" and isinstance(node, MutableMapping) and part == loc[-1]:
                trail.append((node, part))  # the key to fill in (or whose item to replace)
            break  # else a part pydantic names but the data lacks (a union member)
    if not trail:
        return ""
    container, key = trail[-1]
    if kind in ("extra_forbidden", "invalid_key"):
        if key != loc[-1]:
            return ""  # gone already, with the item a placeholder replaced
        del container[key]
        return _doc_path(trail)
    for depth in range(len(trail) - 1, -1, -1):
        container, key = trail[depth]
        if isinstance(container, list):
            owner = trail[depth - 1][1] if depth > 0 else ""
            container[key] = _placeholder(str(owner), key, container[key])
            return _doc_path(trail[: depth + 1])
        if key not in _REQUIRED:
            del container[key]  # the default takes its place
            return _doc_path(trail[: depth + 1])
        if depth == 0 or key == "table":
            container[key] = {"table": "_"} if key == "source" else "_"
            return _doc_path(trail[: depth + 1])
    return ""  # pragma: no cover - the loop always returns at depth 0


def _placeholder(owner: str, index: int, broken: Any) -> Any:
    """A valid, inert item for the list `owner`, keeping what names it when that is valid."""
    old = broken if isinstance(broken, Mapping) else {}
    name = old.get("name")
    name = name if isinstance(name, str) and _NAME.fullmatch(name) else f"_invalid_{index}"
    if owner == "elements":
        return {"type": "label", "text": ""}
    if owner == "groups":
        return {"name": name, "expression": "NULL"}
    if owner == "sort":
        return {"expression": "NULL"}
    if owner == "variables":
        reset = old.get("reset")
        return {"name": name, "function": "count", "reset": str(reset or "report")}
    if owner == "parameters":
        return {"name": name}
    if owner == "colors":
        return "#000000"
    if owner == "relationships":  # refers to no table: its own issues are left out
        return {"name": name, "columns": ["_"], "table": "_"}
    return "_"  # choices


def _doc_path(trail: list[tuple[Any, Any]]) -> str:
    out = ""
    for _, key in trail:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _under(path: str, placeholder: str) -> bool:
    """Whether an issue at `path` is about the placeholder at `placeholder` (or inside it)."""
    if not placeholder:
        return False
    return path == placeholder or path.startswith((f"{placeholder}.", f"{placeholder}["))


# -- document order --------------------------------------------------------------------------

_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_LAST = 1 << 30


def _in_document_order(issues: list[Issue], data: Any) -> list[Issue]:
    """Issues in the order their places occur in the document (stable within a place);
    a place the document lacks (a missing key) comes after its siblings, `params` last."""
    return sorted(issues, key=lambda issue: _position(issue.path, data))


def _position(path: str, data: Any) -> tuple[int, ...]:
    key: list[int] = []
    node = data
    for index, name in _PART.findall(path):
        if index and isinstance(node, list) and int(index) < len(node):
            key.append(int(index))
            node = node[int(index)]
        elif name and isinstance(node, Mapping) and name in node:
            key.append(list(node).index(name))
            node = node[name]
        else:
            key.append(_LAST)
            node = None
    return tuple(key)
