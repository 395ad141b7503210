"""Access: the token (login cookie for pages, bearer for the API), CSRF, security headers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

from web.app import create_app
from web.security import CONTENT_SECURITY_POLICY
from web.settings import Settings

Client = Any
TOKEN = "let-me-in-0123456789"


@pytest.fixture
def guarded(settings: Settings) -> Iterator[Client]:
    app = create_app(replace(settings, token=TOKEN, host="0.0.0.0"))
    with TestClient(app, base_url="http://quire.example:8000") as client:
        yield client


def test_pages_redirect_to_the_login_form(guarded: Client) -> None:
    response = guarded.get("/reports/1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/reports/1"
    assert guarded.get("/static/quire.css").status_code == 200  # public


def test_login_sets_a_signed_httponly_samesite_cookie(guarded: Client) -> None:
    guarded.get("/login")
    headers = {"x-csrftoken": guarded.cookies["csrftoken"]}
    wrong = guarded.post("/login", data={"token": "guess", "next": "/"}, headers=headers)
    assert wrong.status_code == 401
    assert "that is not the token" in wrong.text
    response = guarded.post(
        "/login",
        data={"token": TOKEN, "next": "/reports/1"},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/reports/1"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert TOKEN not in cookie
    assert guarded.get("/reports/1").status_code == 200


def test_login_never_redirects_off_site(guarded: Client) -> None:
    guarded.get("/login")
    headers = {"x-csrftoken": guarded.cookies["csrftoken"]}
    response = guarded.post(
        "/login",
        data={"token": TOKEN, "next": "//evil.example/"},
        headers=headers,
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_a_forged_cookie_is_refused(guarded: Client) -> None:
    guarded.cookies.set("quire_session", "0" * 64)
    assert guarded.get("/", follow_redirects=False).status_code == 303


def test_api_needs_the_bearer_token(guarded: Client) -> None:
    response = guarded.get("/api/reports")
    assert response.status_code == 401
    assert response.json()["ok"] is False
    assert guarded.get("/api/reports", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = guarded.get("/api/reports", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_api_does_not_take_the_login_cookie(guarded: Client) -> None:
    guarded.get("/login")
    headers = {"x-csrftoken": guarded.cookies["csrftoken"]}
    guarded.post("/login", data={"token": TOKEN}, headers=headers)
    assert guarded.get("/api/reports").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(client: Client) -> None:
    client.get("/")
    response = client.post("/reports/2/tags", data={"tags": "x"})
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert client.get("/api/reports/2").json()["tags"] == ["example", "products"]


def test_a_form_field_token_is_accepted(client: Client) -> None:
    page = client.get("/reports/2").text
    assert 'name="_csrf_token"' in page
    token = page.split('name="_csrf_token" value="')[1].split('"')[0]
    response = client.post("/reports/2/tags", data={"tags": "x", "_csrf_token": token})
    assert response.status_code == 200


def test_htmx_sends_the_token_from_the_body(client: Client) -> None:
    page = client.get("/").text
    token = client.cookies["csrftoken"]
    assert f'<body hx-headers=\'{{"x-csrftoken": "{token}"}}\'>' in page


def test_security_headers_on_pages_and_api(client: Client) -> None:
    for path in ("/", "/api/reports", "/reports/999", "/api/reports/999", "/static/quire.css"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_no_inline_script_in_any_page(client: Client) -> None:
    for path in ("/", "/reports/1", "/reports/1/versions", "/sources", "/sources/1", "/login"):
        page = client.get(path).text
        assert page.count("<script") == page.count('<script src="/static/')
        assert "style=" not in page


def test_without_a_token_only_loopback_host_names_are_served(client: Client) -> None:
    response = client.get("/", headers={"Host": "rebind.example"})
    assert response.status_code == 400


def test_bodies_over_the_limit_are_refused(client: Client) -> None:
    response = client.put(
        "/api/reports/2",
        content=b"{" + b" " * 1_100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
