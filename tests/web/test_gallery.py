"""The gallery: cards, search as you type, tag filter, new, import, duplicate, delete, export."""

from __future__ import annotations

from typing import Any

import yaml

from web.bootstrap import DEMO_SOURCE_NAME

Client = Any


def test_first_start_shows_every_example_as_a_card(client: Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for title in ("Sales by region", "Invoices", "Product catalogue", "Sales dashboard"):
        assert title in page.text
    assert page.text.count('class="card"') == 5
    assert "Never run" in page.text
    assert "<img" not in page.text  # no thumbnail until the renderer exists


def test_search_as_you_type_returns_only_the_cards(client: Client) -> None:
    page = client.get("/", params={"q": "invoice"}, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "<html" not in page.text
    assert page.text.count('class="card"') == 1
    assert "Invoices" in page.text
    assert page.headers["vary"] == "HX-Request"


def test_search_with_no_match_says_so(client: Client) -> None:
    page = client.get("/", params={"q": "no such report"})
    assert "No report matches" in page.text
    assert page.text.count('class="card"') == 0


def test_search_treats_like_wildcards_literally(client: Client) -> None:
    assert client.get("/", params={"q": "%"}).text.count('class="card"') == 0


def test_tag_filter(client: Client) -> None:
    page = client.get("/", params={"tag": "products"})
    assert page.text.count('class="card"') == 1
    assert "Product catalogue" in page.text


def test_new_blank_report(client: Client, csrf: dict[str, str]) -> None:
    response = client.post(
        "/reports", data={"source_id": "1", "example": ""}, headers=csrf, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("/design")  # built in the designer
    page = client.get(response.headers["location"])
    assert "Untitled report" in page.text
    yaml_tab = client.get(response.headers["location"], params={"tab": "yaml"})
    assert "table: categories" in yaml_tab.text


def test_new_report_from_example(client: Client, csrf: dict[str, str]) -> None:
    response = client.post("/reports", data={"source_id": "1", "example": "invoices"}, headers=csrf)
    assert response.status_code == 200
    assert "one order per page" in response.text
    assert client.get("/").text.count('class="card"') == 6


def test_new_report_from_unknown_example_or_source(client: Client, csrf: dict[str, str]) -> None:
    response = client.post("/reports", data={"source_id": "1", "example": "../x"}, headers=csrf)
    assert response.status_code == 404
    assert "no example named &#39;../x&#39;" in response.text
    response = client.post("/reports", data={"source_id": "77", "example": ""}, headers=csrf)
    assert response.status_code == 404
    assert "no data source with id 77" in response.text
    assert client.get("/").text.count('class="card"') == 5


def _import(client: Client, csrf: dict[str, str], text: str | bytes, name: str = "r.yaml") -> Any:
    return client.post(
        "/reports/import",
        files={"file": (name, text, "application/yaml")},
        data={"source_id": "1", "tags": "Imported, mine"},
        headers=csrf,
    )


def test_import_a_definition(client: Client, csrf: dict[str, str]) -> None:
    text = "title: Customers\nsource:\n  table: customers\n"
    response = _import(client, csrf, text)
    assert response.status_code == 200
    assert "Customers" in response.text
    gallery = client.get("/", params={"tag": "imported"}).text
    assert gallery.count('class="card"') == 1


def test_import_malformed_yaml_is_refused(client: Client, csrf: dict[str, str]) -> None:
    response = _import(client, csrf, "title: [unclosed\n", name="broken.yaml")
    assert response.status_code == 422
    assert "broken.yaml" in response.text
    assert "not valid YAML" in response.text
    assert client.get("/").text.count('class="card"') == 5


def test_import_a_definition_for_a_missing_table_is_refused(
    client: Client, csrf: dict[str, str]
) -> None:
    response = _import(client, csrf, "title: X\nsource:\n  table: custmers\n")
    assert response.status_code == 422
    assert "unknown table &#39;custmers&#39;" in response.text
    assert client.get("/").text.count('class="card"') == 5


def test_import_refuses_binary_and_large_files(client: Client, csrf: dict[str, str]) -> None:
    assert _import(client, csrf, b"\xff\xfe\x00").status_code == 422
    response = _import(client, csrf, "title: X\n" + "#" * 5_000_000)
    assert response.status_code == 413
    assert client.get("/").text.count('class="card"') == 5


def test_duplicate_keeps_the_text_and_retitles(client: Client, csrf: dict[str, str]) -> None:
    response = client.post("/reports/2/duplicate", headers=csrf)
    assert response.status_code == 200
    assert "Product catalogue (copy)" in response.text
    export = client.get("/api/reports").json()
    copy = next(r for r in export if r["title"] == "Product catalogue (copy)")
    text = client.get(f"/api/reports/{copy['id']}").json()["definition"]
    assert text.startswith("# The product catalogue")  # comments kept


def test_delete_asks_first_and_removes_the_card(client: Client, csrf: dict[str, str]) -> None:
    gallery = client.get("/").text
    assert 'hx-confirm="Delete the report' in gallery
    response = client.post("/reports/1/delete", headers=csrf)
    assert response.status_code == 200
    assert response.text == ""
    assert client.get("/reports/1").status_code == 404
    assert client.post("/reports/1/delete", headers=csrf).status_code == 404


def test_delete_from_the_report_page_goes_back_to_the_gallery(
    client: Client, csrf: dict[str, str]
) -> None:
    response = client.post("/reports/1/delete", params={"then": "gallery"}, headers=csrf)
    assert response.headers["hx-redirect"] == "/"


def test_export_is_the_newest_version_as_a_yaml_file(client: Client) -> None:
    response = client.get("/reports/1/export.yaml")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert yaml.safe_load(response.text)["title"]
    assert client.get("/reports/404/export.yaml").status_code == 404


def test_gallery_names_the_demo_source_in_the_forms(client: Client) -> None:
    assert DEMO_SOURCE_NAME in client.get("/").text


def test_card_shows_the_last_run(client: Client, settings: Any) -> None:
    from datetime import datetime

    from web.db import Database, Run

    database = Database(settings.app_database_url)
    with database.session() as session:
        session.add(Run(report_id=3, created_at=datetime(2026, 3, 4, 5, 6)))
        session.add(Run(report_id=3, created_at=datetime(2026, 3, 1, 0, 0)))
        session.commit()
    database.dispose()
    card = client.get("/", params={"q": "Sales by region"}).text
    assert "Last run 2026-03-04 05:06" in card
