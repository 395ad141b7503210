"""The report page: YAML editor saved with htmx, drafts, tags, versions, diff, restore."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from web import reports
from web.db import Database
from web.errors import NotFound, TooLarge
from web.settings import Settings

Client = Any
PRODUCTS = "title: Products\nsource:\n  table: products\n"


def _save(client: Client, csrf: dict[str, str], text: str, report_id: int = 2) -> Any:
    headers = {**csrf, "HX-Request": "true"}
    return client.post(
        f"/reports/{report_id}/definition", data={"definition": text}, headers=headers
    )


def test_page_shows_the_definition_in_the_editor(client: Client) -> None:
    page = client.get("/reports/2")
    assert page.status_code == 200
    assert "<textarea" in page.text
    assert "table: products" in page.text
    assert 'hx-post="/reports/2/definition"' in page.text


def test_valid_save_is_a_new_version(client: Client, csrf: dict[str, str]) -> None:
    response = _save(client, csrf, PRODUCTS)
    assert response.status_code == 200
    assert "Saved as version 2." in response.text
    assert client.get("/reports/2").text.count("<h1>Products</h1>") == 1
    # the same text again adds no version
    assert "Saved as version 2." in _save(client, csrf, PRODUCTS).text


def test_invalid_save_is_kept_as_a_draft_with_its_errors(
    client: Client, csrf: dict[str, str]
) -> None:
    before = client.get("/api/reports/2").json()
    text = "title: Products\nsource:\n  table: prodcts\n"
    response = _save(client, csrf, text)
    assert response.status_code == 422
    assert "Not saved." in response.text
    assert "source.table" in response.text
    assert "unknown table &#39;prodcts&#39;" in response.text
    after = client.get("/api/reports/2").json()
    assert after["definition"] == before["definition"]
    assert after["version"] == before["version"]
    assert after["draft"] == text
    # the page reopens on the draft, its errors beside it
    page = client.get("/reports/2").text
    assert "table: prodcts" in page
    assert "unknown table" in page
    assert "draft with errors" in client.get("/").text


def test_malformed_yaml_in_the_editor(client: Client, csrf: dict[str, str]) -> None:
    response = _save(client, csrf, "title: [\n")
    assert response.status_code == 422
    assert "not valid YAML" in response.text


def test_a_valid_save_clears_the_draft(client: Client, csrf: dict[str, str]) -> None:
    _save(client, csrf, "title: [\n")
    _save(client, csrf, PRODUCTS)
    assert client.get("/api/reports/2").json()["draft"] is None


def test_five_megabyte_definition_is_refused(client: Client, csrf: dict[str, str]) -> None:
    response = _save(client, csrf, "title: X\n" + "#" * 5_000_000)
    assert response.status_code == 413
    assert client.get("/api/reports/2").json()["draft"] is None


def test_save_on_a_report_that_does_not_exist(client: Client, csrf: dict[str, str]) -> None:
    assert _save(client, csrf, PRODUCTS, report_id=999).status_code == 404


def test_tags(client: Client, csrf: dict[str, str]) -> None:
    response = client.post(
        "/reports/2/tags", data={"tags": " Stock, stock ,, Catalog"}, headers=csrf
    )
    assert response.status_code == 200
    assert client.get("/api/reports/2").json()["tags"] == ["stock", "catalog"]


def test_versions_diff_and_restore(client: Client, csrf: dict[str, str]) -> None:
    _save(client, csrf, PRODUCTS)
    versions = client.get("/reports/2/versions")
    assert versions.status_code == 200
    assert "Compare version" in versions.text
    diff = client.get("/reports/2/diff", params={"old": 1, "new": 2})
    assert diff.status_code == 200
    assert '<span class="add">+title: Products</span>' in diff.text
    assert '<span class="del">-title: Product catalogue</span>' in diff.text
    restored = client.post("/reports/2/versions/1/restore", headers=csrf)
    assert restored.status_code == 200
    assert client.get("/api/reports/2").json()["version"] == 3
    assert (
        client.get("/api/reports/2/versions/3").json()["definition"]
        == (client.get("/api/reports/2/versions/1").json()["definition"])
    )


def test_versions_that_do_not_exist(client: Client, csrf: dict[str, str]) -> None:
    response = client.get("/reports/2/diff", params={"old": 1, "new": 9})
    assert response.status_code == 404
    assert "report 2 has no version 9" in response.text
    assert client.post("/reports/2/versions/9/restore", headers=csrf).status_code == 404
    assert client.get("/reports/999/versions").status_code == 404


@pytest.fixture
def session(settings: Settings) -> Any:
    from web.app import create_app

    create_app(settings)  # migrated and prepared
    database = Database(settings.app_database_url)
    with database.session() as session:
        yield session
    database.dispose()


def test_service_refuses_oversized_text_before_parsing(session: Session) -> None:
    with pytest.raises(TooLarge, match="limit is 1,000,000"):
        reports.save_definition(session, 2, "#" * (reports.MAX_DEFINITION_BYTES + 1))


def test_element_at(session: Session) -> None:
    assert reports.element_at(session, 2, "source.table") == "products"
    with pytest.raises(NotFound, match=r"elements has \d+ item"):
        reports.element_at(session, 1, "bands.detail.elements[99]")
    with pytest.raises(NotFound, match="has no 'nope'"):
        reports.element_at(session, 1, "bands.nope")


def test_duplicate_retitles_a_quoted_title(session: Session) -> None:
    report = reports.create_report(
        session, 'title: "A \\"quoted\\" one"\nsource:\n  table: products\n', 1
    )
    copy = reports.duplicate_report(session, report.id)
    assert copy.title == 'A "quoted" one (copy)'
    assert reports.parse_definition(copy.versions[0].text).title == copy.title
