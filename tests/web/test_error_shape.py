"""Pins the one JSON error shape of the API, and the HTML error page elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import DefinitionError, Issue
from web.errors import Conflict, NotFound, TooLarge
from web.http_errors import error_body, status_of

Client = Any
SHAPE = {"ok", "status", "error", "errors"}
ISSUE = {"path", "message", "hint"}


def _assert_shape(body: dict[str, Any], status: int) -> None:
    assert set(body) == SHAPE
    assert body["ok"] is False
    assert body["status"] == status
    assert isinstance(body["error"], str)
    assert body["error"]
    for issue in body["errors"]:
        assert set(issue) == ISSUE


def test_definition_errors_carry_every_issue_with_its_path(client: Client) -> None:
    text = (
        "title: X\nsource:\n  table: products\nbands:\n  detail:\n    elements:\n"
        "      - {type: field, expression: name}\n"
        "      - {type: field, expression: nme}\n"
    )
    response = client.post("/api/reports/2/validate", json={"definition": text})
    assert response.status_code == 422
    body = response.json()
    _assert_shape(body, 422)
    paths = [e["path"] for e in body["errors"]]
    assert "bands.detail.elements[1].expression" in paths
    assert body["error"] == body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/api/reports/999", {}, 404),
        ("get", "/api/reports/2/versions/999", {}, 404),
        ("get", f"/api/reports/{10**30}", {}, 404),  # past what an id column holds
        ("get", f"/api/reports/2/versions/{-(10**30)}", {}, 404),
        ("get", f"/api/sources/{2**63}", {}, 404),
        ("get", "/api/reports/2/element", {"params": {"path": "bands.x[3]"}}, 404),
        ("get", "/api/nowhere", {}, 404),
        ("delete", "/api/sources", {}, 405),
        ("post", "/api/reports", {"json": {"definition": 5}}, 400),
        ("put", "/api/reports/2", {"json": {"definition": "x" * 5_000_000}}, 413),
        (
            "post",
            "/api/sources",
            {"content": "{", "headers": {"content-type": "application/json"}},
            400,
        ),
    ],
)
def test_every_api_error_has_the_shape(
    client: Client, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    _assert_shape(response.json(), status)


def test_validation_errors_name_the_field(client: Client) -> None:
    body = client.post("/api/reports", json={"definition": 5, "source_id": 1}).json()
    assert body["errors"]
    assert body["errors"][0]["path"] == "definition"


def test_html_routes_get_an_error_page(client: Client) -> None:
    response = client.get("/reports/999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "no report with id 999" in response.text
    assert client.get("/nowhere").status_code == 404
    huge = client.get(f"/reports/{10**30}")
    assert huge.status_code == 404
    assert f"there is no report {10**30}" in huge.text


def test_statuses_by_kind() -> None:
    assert status_of(DefinitionError("x")) == 422
    assert status_of(NotFound("x")) == 404
    assert status_of(Conflict("x")) == 409
    assert status_of(TooLarge("x")) == 413
    assert error_body(422, "bad", (Issue("a.b", "bad", "try c"),)) == {
        "ok": False,
        "status": 422,
        "error": "bad",
        "errors": [{"path": "a.b", "message": "bad", "hint": "try c"}],
    }
