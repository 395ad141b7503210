"""Who may use the server: everyone on loopback, or whoever holds the access token.

With a token, pages need the signed session cookie that the login form sets, and the
JSON API needs `Authorization: Bearer <token>` (the cookie is not accepted there, so no
other site can drive the API through a logged-in browser).
"""

from __future__ import annotations

import hashlib
import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from web.settings import Settings

__all__ = ("SESSION_COOKIE", "access_guard", "is_api", "session_value", "token_matches")

SESSION_COOKIE = "quire_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def session_value(settings: Settings) -> str:
    """The cookie that proves a login: an HMAC of the token, so it changes with the token."""
    assert settings.secret
    assert settings.token
    return hmac.new(
        settings.secret.encode(), b"quire-session:" + settings.token.encode(), hashlib.sha256
    ).hexdigest()


def token_matches(settings: Settings, given: str) -> bool:
    return bool(settings.token) and hmac.compare_digest(
        given.encode(), (settings.token or "").encode()
    )


def access_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Refuse a request that lacks the token (when one is set) or an API write not in JSON."""
    settings: Settings = connection.app.state.settings
    path = connection.scope["path"]
    method = str(connection.scope.get("method", ""))
    if is_api(path) and method in UNSAFE_METHODS:
        # A cross-site form always sends a form or text content type, never JSON, and a
        # cross-site JSON request needs a CORS preflight this server never grants.
        content_type = connection.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("", "application/json"):
            raise ClientException(
                "the API takes JSON bodies (Content-Type: application/json)", status_code=415
            )
    if handler.opt.get("public") or not settings.token:
        return
    if is_api(path):
        scheme, _, given = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token_matches(settings, given.strip()):
            return
        raise NotAuthorizedException("this server needs its access token: Authorization: Bearer")
    cookie = connection.cookies.get(SESSION_COOKIE, "")
    if not hmac.compare_digest(cookie.encode(), session_value(settings).encode()):
        raise NotAuthorizedException("log in with the access token")
