"""The login form for servers with an access token: it sets the signed session cookie."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from web.access import SESSION_COOKIE, session_value, token_matches
from web.pages import LoginPage
from web.routes._render import render
from web.settings import Settings

__all__ = ("login", "login_page", "logout")

PUBLIC = {"public": True}


@get("/login", opt=PUBLIC, sync_to_thread=False)
def login_page(next: FromQuery[str] = "/") -> Template:
    return render("login.html", LoginPage(next=_local(next)))


@dataclass
class LoginForm:
    token: str
    next: str = "/"


@post("/login", opt=PUBLIC, sync_to_thread=False)
def login(
    settings: NamedDependency[Settings],
    data: URLEncodedBody[LoginForm],
) -> Redirect | Template:
    if not settings.token:
        return Redirect(_local(data.next), status_code=303)
    if not token_matches(settings, data.token):
        return render("login.html", LoginPage(_local(data.next), "that is not the token"), 401)
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=session_value(settings),
        httponly=True,
        samesite="lax",
        path="/",
    )
    return Redirect(_local(data.next), status_code=303, cookies=[cookie])


@post("/logout", opt=PUBLIC, sync_to_thread=False)
def logout() -> Redirect:
    return Redirect("/login", status_code=303, cookies=[Cookie(key=SESSION_COOKIE, max_age=0)])


def _local(target: str) -> str:
    """Only a path on this server: never redirect a login to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
