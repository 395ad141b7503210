"""Data sources: list, add by URL (tested first), browse the schema, test the connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from web import sources

Client = Any


def test_list_shows_the_demo_source_without_secrets(client: Client) -> None:
    page = client.get("/sources")
    assert page.status_code == 200
    assert "Demo sales (SQLite)" in page.text
    assert "sqlite" in page.text


def test_add_a_sqlite_source(client: Client, csrf: dict[str, str], data_dir: Path) -> None:
    url = f"sqlite:///{data_dir / 'demo.db'}"
    response = client.post("/sources", data={"name": "Copy", "url": url}, headers=csrf)
    assert response.status_code == 200
    assert "<h1>Copy</h1>" in response.text
    assert "order_lines" in response.text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nosuchdriver://x/y", "unknown database driver &#39;nosuchdriver&#39;"),
        ("not a url", "not a database URL"),
        ("sqlite:///definitely/not/here.db", "no SQLite database file at definitely/not/here.db"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(
    client: Client, csrf: dict[str, str], url: str, message: str
) -> None:
    response = client.post("/sources", data={"name": "Bad", "url": url}, headers=csrf)
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true" aria-describedby="url-error"' in response.text
    assert client.get("/api/sources").json()[0]["name"] != "Bad"
    assert len(client.get("/api/sources").json()) == 1


def test_a_taken_name_is_refused(client: Client, csrf: dict[str, str], data_dir: Path) -> None:
    url = f"sqlite:///{data_dir / 'demo.db'}"
    response = client.post(
        "/sources", data={"name": "Demo sales (SQLite)", "url": url}, headers=csrf
    )
    assert response.status_code == 409
    assert "exists already" in response.text


def test_wrong_password_never_shows_the_password(client: Client, csrf: dict[str, str]) -> None:
    # The local server trusts every login, so a role that does not exist stands in for a
    # wrong password: the connection is refused either way.
    url = "postgresql+psycopg://nobody_here:s3cr3t-pw@127.0.0.1:5432/test"
    response = client.post("/sources", data={"name": "PG", "url": url}, headers=csrf)
    assert response.status_code == 422
    assert "cannot connect" in response.text
    assert "s3cr3t-pw" not in response.text
    assert len(client.get("/api/sources").json()) == 1


def test_password_is_stored_but_never_shown(postgres_url: str, client: Client) -> None:
    url = postgres_url.replace("postgres@", "postgres:hunter2-pw@")
    created = client.post("/api/sources", json={"name": "PG", "url": url})
    assert created.status_code == 201
    assert "hunter2-pw" not in created.text
    assert "***" in created.json()["url"]
    source_id = created.json()["id"]
    for path in ("/sources", f"/sources/{source_id}", "/api/sources"):
        assert "hunter2-pw" not in client.get(path).text
    assert client.post(f"/api/sources/{source_id}/test").json() == {
        "ok": True,
        "dialect": "postgresql",
    }


def test_source_page_lists_tables_columns_and_links(client: Client) -> None:
    page = client.get("/sources/1")
    assert page.status_code == 200
    assert 'id="table-order_lines"' in page.text
    assert "<code>quantity</code>" in page.text
    assert "<code>order</code>: order_id → " in page.text


def test_test_connection_fragment(client: Client, csrf: dict[str, str]) -> None:
    response = client.post("/sources/1/test", headers={**csrf, "HX-Request": "true"})
    assert response.status_code == 200
    assert "connected (sqlite)" in response.text
    assert "<html" not in response.text


def test_unreachable_source_still_renders_its_page(
    client: Client, csrf: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    gone = tmp_path / "gone.db"
    gone.write_bytes((data_dir / "demo.db").read_bytes())
    created = client.post("/api/sources", json={"name": "Gone", "url": f"sqlite:///{gone}"})
    gone.unlink()
    gone.mkdir()  # now a folder: SQLite cannot open it
    source_id = created.json()["id"]
    test = client.post(f"/sources/{source_id}/test", headers=csrf)
    assert test.status_code == 422
    assert "no SQLite database file" in test.text


def test_unknown_source(client: Client) -> None:
    response = client.get("/sources/42")
    assert response.status_code == 404
    assert "no data source with id 42" in response.text


def test_safe_url_hides_the_password() -> None:
    assert sources.safe_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert sources.safe_url("::nonsense::") == "<not a database URL>"
