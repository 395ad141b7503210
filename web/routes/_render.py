"""Rendering for the HTML routes: every page gets its dataclass, and only that, as `page`."""

from __future__ import annotations

from typing import Any

from litestar.response import Template

from web.pages import TEMPLATES

__all__ = ("render",)


def render(template: str, page: Any, status: int = 200) -> Template:
    """The template with `page`; a context of the wrong dataclass is a bug, caught here."""
    expected = TEMPLATES[template]
    if not isinstance(page, expected):
        raise TypeError(f"{template} renders a {expected.__name__}, not {type(page).__name__}")
    return Template(template_name=template, context={"page": page}, status_code=status)
