"""Reading and writing definition documents (YAML or JSON), with every problem reported at once.

Pydantic's errors are turned into `Issue`s whose paths read like the document
(`groups[0].header.elements[2].expression`), and unknown keys get a "did you mean".
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from engine.definition import ReportDefinition
from engine.errors import DefinitionError, Issue, did_you_mean
from engine.limits import MAX_DEFINITION_BYTES, MAX_ELEMENTS, MAX_NESTING, MAX_VALUES

# libyaml's parser where PyYAML was built with it: 8x faster than the Python one (a 5,000
# label document: 1.4 s against 11 s on a busy machine).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = (
    "NOT_A_MAPPING",
    "check_document",
    "dump_definition",
    "load_definition",
    "parse_definition",
    "read_definition_text",
    "read_yaml",
    "report_schema",
    "structure_issues",
)

NOT_A_MAPPING = "a definition must be a mapping with title, source and bands"


def read_definition_text(path: str | Path) -> str:
    """The text of a definition file; `DefinitionError` if it cannot be read."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise DefinitionError(f"cannot read definition: {reason}", str(file)) from None


def load_definition(path: str | Path) -> ReportDefinition:
    """Read a definition file; raise `DefinitionError` listing every structural problem."""
    return parse_definition(read_definition_text(path), source=str(path))


def parse_definition(text: str, source: str = "<definition>") -> ReportDefinition:
    """Parse YAML (a superset of JSON) into a structurally valid definition.

    Only the structure is checked here; `engine.validation.validate` checks the rest.
    """
    data = read_yaml(text, source)
    if not isinstance(data, dict):
        raise DefinitionError(NOT_A_MAPPING, source)
    try:
        return ReportDefinition.model_validate(data)
    except ValidationError as error:
        raise DefinitionError(structure_issues(error)) from None


def read_yaml(text: str, source: str = "") -> Any:
    """YAML (a superset of JSON) as plain data; a syntax error names its line and column.
    A document over the limits of `engine.limits` (size, nesting, values) is refused
    before it is built."""
    try:
        try:
            _check_text(text, source)
            data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError:  # said again by the Python parser, whose words we document
            data = yaml.safe_load(text)
        _check_data(data)
        return data
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise DefinitionError(f"not valid YAML{where}: {problem}", source) from None
    except (ValueError, RecursionError) as error:  # a date like 2024-13-45, nesting too deep
        raise DefinitionError(f"not valid YAML: {error}", source) from None


def check_document(data: Any) -> None:
    """Refuse plain data (a parsed document) past the limits on values and list items
    (`DefinitionError` naming the limit and where it was passed)."""
    _check_data(data)


def _check_text(text: str, source: str) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DEFINITION_BYTES:
        raise DefinitionError(
            f"the definition is {size:,} bytes; at most {MAX_DEFINITION_BYTES:,} are accepted",
            source,
        )
    # The nesting is measured on the parser's events, which are produced without recursion:
    # building the data recurses once per level and would exhaust Python's stack first.
    # List items and values are counted there too, so a document past those limits is
    # refused before it is built (an alias counts once here; `_check_data` counts its uses).
    frames: list[list[Any]] = []  # per open mapping or list: [is mapping, nodes, last key]
    values = items = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.NodeEvent):
            values += 1
            if values > MAX_VALUES:
                raise DefinitionError(_TOO_MANY_VALUES, _frames_path(frames))
            if frames:
                frame = frames[-1]
                if frame[0] and frame[1] % 2 == 0:
                    frame[2] = getattr(event, "value", "?")
                elif not frame[0]:
                    items += 1
                    if items > MAX_ELEMENTS:
                        raise DefinitionError(_TOO_MANY_ITEMS, _frames_path(frames[:-1]))
                frame[1] += 1
            if isinstance(event, yaml.CollectionStartEvent):
                frames.append([isinstance(event, yaml.MappingStartEvent), 0, None])
                if len(frames) > MAX_NESTING:
                    raise DefinitionError(
                        f"the definition nests more than {MAX_NESTING} levels deep",
                        _frames_path(frames[:-1]),
                    )
        elif isinstance(event, yaml.CollectionEndEvent):
            frames.pop()


_TOO_MANY_VALUES = f"the definition holds more than {MAX_VALUES:,} values"
_TOO_MANY_ITEMS = (
    f"the definition has more than {MAX_ELEMENTS:,} list items "
    "(elements, groups, variables, parameters ...)"
)


def _frames_path(frames: list[list[Any]]) -> str:
    out = ""
    for is_mapping, nodes, key in frames:
        out += (f".{key}" if out else str(key)) if is_mapping else f"[{nodes - 1}]"
    return out


def _check_data(data: Any) -> None:
    """Count values and list items without recursion, stopping at the first limit passed
    (an alias used many times counts each time, as the model will see it)."""
    values = items = 0
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise DefinitionError(_TOO_MANY_VALUES, path)
        if depth > MAX_NESTING:
            raise DefinitionError(f"the definition nests more than {MAX_NESTING} levels deep", path)
        if isinstance(node, Mapping):
            for key, value in node.items():
                stack.append((value, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(node, list | tuple):
            items += len(node)
            if items > MAX_ELEMENTS:
                raise DefinitionError(_TOO_MANY_ITEMS, path)
            stack.extend((value, f"{path}[{i}]", depth + 1) for i, value in enumerate(node))


def structure_issues(error: ValidationError) -> list[Issue]:
    """Pydantic's errors as issues at document paths, each problem once."""
    return list(dict.fromkeys(_issue(e) for e in error.errors()))


def dump_definition(definition: ReportDefinition, fmt: str = "yaml") -> str:
    """The document form of a definition; `parse_definition` reads it back to an equal model."""
    data = definition.to_data()
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def report_schema() -> dict[str, Any]:
    """JSON Schema of the definition format, for editors and the designer."""
    schema = ReportDefinition.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _issue(error: Any) -> Issue:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    if len(loc) >= 2 and loc[-2] == "default" and loc[-1] in _VALUE_TYPES:
        # One message for the value, not one per type a default may have.
        return Issue(_path(loc[:-1]), "expected a text, a number, a date or true/false")
    path = _path(loc)
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        fields = _fields_at(loc[:-1])
        return Issue(path, f"unknown key '{key}'", did_you_mean(key, fields))
    if error["type"] == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "")
        expected = error.get("ctx", {}).get("expected_tags", "")
        return Issue(path, f"unknown element type '{tag}'", f"expected one of: {expected}")
    if error["type"] == "missing":
        return Issue(path, "required")
    if error["type"] == "invalid_key":
        return Issue(path, "keys must be text")
    message = str(error["msg"]).removeprefix("Value error, ")
    return Issue(path, message)


def _path(loc: tuple[str | int, ...]) -> str:
    """Pydantic's location as a document path, leaving out discriminator tags."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS and i >= 2 and loc[i - 2] == "elements":
            continue
        else:
            out += f".{part}" if out else part
    return out


_TAGS = {"label", "field", "aggregate", "page_number", "line", "row_break", "chart"}
_VALUE_TYPES = {"bool", "int", "decimal", "date", "datetime", "str"}


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The field names allowed at a location, found by walking the model's annotations."""
    annotation: Any = ReportDefinition
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _model_of(annotation)
    return list(model.model_fields) if model else []


def _step(annotation: Any, part: str | int) -> Any:
    model = _model_of(annotation)
    if isinstance(part, int):
        args = get_args(_unwrap(annotation))
        return args[0] if args else None
    if model is not None and part in model.model_fields:
        return model.model_fields[part].annotation
    for option in _options(annotation):  # a discriminated union: the tag names the model
        sub = _model_of(option)
        if sub is not None and part in _TAGS and part in str(sub.model_fields["type"].annotation):
            return sub
    return None


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    options = [a for a in _options(annotation) if a is not type(None)]
    return options[0] if len(options) == 1 else annotation


def _options(annotation: Any) -> tuple[Any, ...]:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidate = _unwrap(annotation)
    if isinstance(candidate, type) and issubclass(candidate, BaseModel):
        return candidate
    return None
