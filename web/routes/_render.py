"""Rendering helpers shared by the HTML routes: every page gets its dataclass as `page`."""

from __future__ import annotations

from typing import Any

from litestar.response import Template

__all__ = ("render",)


def render(template: str, page: Any, status: int = 200) -> Template:
    return Template(template_name=template, context={"page": page}, status_code=status)
