"""Reading and writing definition documents (YAML or JSON), with every problem reported at once.

Pydantic's errors are turned into `Issue`s whose paths read like the document
(`groups[0].header.elements[2].expression`), and unknown keys get a "did you mean".
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from engine.definition import ReportDefinition
from engine.errors import DefinitionError, Issue, did_you_mean

__all__ = ("dump_definition", "load_definition", "parse_definition", "report_schema")


def load_definition(path: str | Path) -> ReportDefinition:
    """Read a definition file; raise `DefinitionError` listing every structural problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise DefinitionError(f"cannot read definition: {error.strerror}", str(file)) from None
    return parse_definition(text, source=str(file))


def parse_definition(text: str, source: str = "<definition>") -> ReportDefinition:
    """Parse YAML (a superset of JSON) into a validated definition."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(error, "problem", None) or str(error)
        raise DefinitionError(f"not valid YAML: {problem}", where) from None
    if not isinstance(data, dict):
        raise DefinitionError("a definition must be a mapping with title, source and bands", source)
    try:
        return ReportDefinition.model_validate(data)
    except ValidationError as error:
        raise DefinitionError([_issue(e) for e in error.errors()]) from None


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
    message = str(error["msg"]).removeprefix("Value error, ")
    return Issue(path, message)


def _path(loc: tuple[str | int, ...]) -> str:
    """Pydantic's location as a document path, leaving out discriminator tags."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS:
            continue
        else:
            out += f".{part}" if out else part
    return out


_TAGS = {"label", "field", "aggregate", "page_number", "line", "row_break", "chart"}


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
