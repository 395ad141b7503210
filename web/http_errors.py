"""One exception handler: every error becomes the JSON error shape under /api, a page elsewhere.

The JSON shape, pinned by tests/web/test_error_shape.py:
`{"ok": false, "status": 422, "error": "...", "errors": [{"path", "message", "hint"}]}`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template

from engine.errors import Issue, QuireError
from web.access import is_api
from web.pages import EditProblem, ErrorPage
from web.security import add_security_headers

__all__ = ("STATUS_BY_KIND", "error_body", "handle_error", "status_of")

log = logging.getLogger("quire.web")

STATUS_BY_KIND = {
    "definition": 422,
    "parameter": 422,
    "data_source": 422,
    "not_found": 404,
    "conflict": 409,
    "edit": 422,  # a designer edit that cannot apply; 404 when its path names nothing
    "gone": 410,
    "too_large": 413,
    "timeout": 504,
    "memory": 503,
}


def status_of(error: QuireError) -> int:
    if getattr(error, "missing", False):  # web.designer.paths.EditError: nothing at the path
        return 404
    return STATUS_BY_KIND.get(error.kind, 500)


def error_body(status: int, message: str, issues: tuple[Issue, ...] = ()) -> dict[str, Any]:
    return {
        "ok": False,
        "status": status,
        "error": message,
        "errors": [{"path": i.path, "message": i.message, "hint": i.hint} for i in issues],
    }


def handle_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    return add_security_headers(_error_response(request, error))


def _error_response(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    status, message, issues = _describe(error)
    if is_api(request.url.path):
        return Response(error_body(status, message, issues), status_code=status)
    if status == 401:
        return Redirect(f"/login?next={quote(request.url.path)}", status_code=303)
    if isinstance(error, QuireError) and error.kind == "edit" and request.headers.get("hx-request"):
        # A designer edit: its message in the page's alert region, the page left as it was.
        return Template(
            template_name="designer/_problem.html",
            context={"page": EditProblem(message)},
            status_code=status,
            headers={"HX-Reswap": "none"},
        )
    page = ErrorPage(status=status, message=message, issues=issues)
    return Template(template_name="error.html", context={"page": page}, status_code=status)


def _describe(error: Exception) -> tuple[int, str, tuple[Issue, ...]]:
    if isinstance(error, QuireError):
        status = status_of(error)
        if status == 500:
            log.error("request failed: %s", error.summary())
        first = error.issues[0].message if error.issues else error.kind
        return status, first, error.issues
    if isinstance(error, ValidationException):
        extra = error.extra if isinstance(error.extra, list) else []
        issues = tuple(
            Issue(str(e.get("key", "")), str(e.get("message", "")))
            for e in extra
            if isinstance(e, dict)
        )
        return 400, str(error.detail), issues
    if isinstance(error, HTTPException):
        return error.status_code, str(error.detail), ()
    log.error("unexpected error", exc_info=error)
    return 500, f"internal error ({type(error).__name__}); the details are in the server log", ()
