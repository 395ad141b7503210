"""Document paths such as `groups[1].header.elements[2]`: parse, format, resolve.

They are the paths the engine's issues carry, so an edit, a form field and an error
message all name a place in the definition the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from engine.errors import DefinitionError

__all__ = ("EditError", "Part", "format_path", "parse_path", "resolve")

Part = str | int

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"{_NAME}(\.{_NAME}|\[\d+\])*")
_STEP = re.compile(rf"({_NAME})|\[(\d+)\]")

# What the items of each list are called in messages.
_NOUNS = {
    "elements": "element",
    "groups": "group",
    "parameters": "parameter",
    "variables": "variable",
    "sort": "sort key",
    "colors": "colour",
    "choices": "choice",
}
_OWNERS = {"elements": "the band"}


class EditError(DefinitionError):
    """An edit that cannot be made: a path that does not exist, or an operation that does not fit.

    Its single issue names the path concerned; `missing` tells a path that names nothing
    (a 404 to the web layer) from an edit that names something but cannot apply (a 422).
    """

    kind = "edit"

    def __init__(self, message: str, path: str, *, missing: bool = False) -> None:
        super().__init__(message, path)
        self.path = path
        self.missing = missing


def parse_path(text: str) -> tuple[Part, ...]:
    """`groups[1].header` -> ("groups", 1, "header"); the empty path is the document itself."""
    if text and not _PATH.fullmatch(text):
        raise EditError(f"not a document path: '{text}'", text)
    return tuple(name or int(index) for name, index in _STEP.findall(text))


def format_path(parts: Sequence[Part]) -> str:
    """("groups", 1, "header") -> `groups[1].header`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def resolve(document: Any, path: str | Sequence[Part]) -> Any:
    """The value at `path`, or an `EditError` naming the first step that does not exist."""
    parts = parse_path(path) if isinstance(path, str) else tuple(path)
    value = document
    for depth, part in enumerate(parts):
        here = format_path(parts[: depth + 1])
        if isinstance(part, int):
            if not isinstance(value, list):
                raise EditError(f"{format_path(parts[:depth])} is not a list", here, missing=True)
            if part >= len(value):
                raise EditError(_no_item(parts[:depth], part, len(value)), here, missing=True)
            value = value[part]
        else:
            if not isinstance(value, dict) or value.get(part) is None:
                following = parts[depth + 1] if depth + 1 < len(parts) else None
                if isinstance(following, int):  # an absent list is an empty one
                    message = _no_item(parts[: depth + 1], following, 0)
                    raise EditError(message, format_path(parts[: depth + 2]), missing=True)
                raise EditError(f"nothing at {here}", here, missing=True)
            value = value[part]
    return value


def _no_item(list_path: Sequence[Part], index: int, count: int) -> str:
    name = list_path[-1] if list_path and isinstance(list_path[-1], str) else ""
    noun = _NOUNS.get(name, "item")
    owner = _OWNERS.get(name, "there")
    has = "has" if owner != "there" else "are"
    return f"no {noun} at {format_path([*list_path, index])}: {owner} {has} {count}"
