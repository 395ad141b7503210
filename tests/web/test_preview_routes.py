"""The live preview: the designer's pane, its SVG pages, and the JSON previews of the API."""

from __future__ import annotations

import base64
import re
from typing import Any, NoReturn

import pytest
from litestar.testing import TestClient

from engine import api
from engine.errors import Superseded

Client = TestClient  # type: ignore[type-arg]

PANE = "/reports/3/design/preview"  # Sales by region: more rows than three pages hold


def _pages(html: str) -> list[str]:
    return re.findall(r'<img class="preview-page" src="(/previews/[0-9a-f]{64}\.svg)"', html)


def test_the_pane_shows_the_first_pages_as_svg_images(client: Client) -> None:
    response = client.get(PANE, params={"designer": "tab1"})
    assert response.status_code == 200
    urls = _pages(response.text)
    assert len(urls) == 3
    assert "<svg" not in response.text  # pages are images, never inlined
    page = client.get(urls[0])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("image/svg+xml")
    assert "immutable" in page.headers["cache-control"]
    assert page.text.lstrip().startswith(("<svg", "<?xml"))
    assert page.headers["content-security-policy"]  # the security headers too


def test_a_partial_preview_has_its_banner(client: Client) -> None:
    html = client.get(PANE, params={"designer": "tab1"}).text
    banner = re.search(r'<p class="preview-banner">First ([\d,]+) of ([\d,]+|more) rows</p>', html)
    assert banner, html
    shown = int(banner.group(1).replace(",", ""))
    assert shown > 0
    if banner.group(2) != "more":
        assert shown < int(banner.group(2).replace(",", ""))


SMALL = (
    "title: Three products\nsource: {table: products, filter: id <= 3}\n"
    "bands:\n  detail:\n    elements:\n      - {type: field, expression: name}\n"
)


def test_a_complete_preview_has_no_banner(client: Client, csrf: dict[str, str]) -> None:
    client.post("/reports/2/design/yaml", data={"definition": SMALL}, headers=csrf)
    html = client.get("/reports/2/design/preview").text
    assert len(_pages(html)) == 1
    assert 'class="preview-banner"' not in html


def test_a_bad_expression_shows_in_the_pane(client: Client, csrf: dict[str, str]) -> None:
    form = {"path": "bands.detail.elements[2]", "type": "field", "expression": "product.nmae"}
    client.post("/reports/3/design/properties", data=form, headers=csrf)
    response = client.get(PANE, params={"designer": "tab1"})
    assert response.status_code == 200
    assert 'class="preview-error" role="alert"' in response.text
    assert "No preview:" in response.text
    assert "nmae" in response.text
    assert not _pages(response.text)


def test_the_panes_error_text_is_escaped(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import DefinitionError

    def bad(*args: Any, **kwargs: Any) -> NoReturn:
        raise DefinitionError("unknown column '<img src=x onerror=alert(1)>'", "title")

    monkeypatch.setattr(api, "preview", bad)
    html = client.get(PANE, params={"designer": "tab1"}).text
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_source_that_is_down_shows_in_the_pane(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.errors import DataSourceError

    def down(*args: Any, **kwargs: Any) -> NoReturn:
        raise DataSourceError("cannot connect to the database: connection refused", "source")

    monkeypatch.setattr(api, "preview", down)
    response = client.get(PANE, params={"designer": "tab1"})
    assert response.status_code == 200
    assert "cannot connect to the database" in response.text


def test_a_superseded_preview_is_dropped_with_204(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys: list[str | None] = []

    def superseded(*args: Any, designer: str | None = None, **kwargs: Any) -> NoReturn:
        keys.append(designer)
        raise Superseded("a newer preview was asked for")

    monkeypatch.setattr(api, "preview", superseded)
    response = client.get(PANE, params={"designer": "tab1"})
    assert response.status_code == 204
    assert response.text == ""
    assert keys == ["report-3:tab1"]  # one key per designer tab and report


def test_pages_out_of_range_are_an_error_in_the_pane(client: Client) -> None:
    response = client.get(PANE, params={"pages": "11"})
    assert response.status_code == 200
    assert "pages must be 1 to 10, not 11" in response.text


def test_an_unknown_page_or_report_is_404(client: Client) -> None:
    assert client.get("/previews/" + "0" * 64 + ".svg").status_code == 404
    assert client.get("/reports/404/design/preview").status_code == 404


def test_api_preview_of_a_report(client: Client) -> None:
    response = client.get("/api/reports/3/preview", params={"pages": "2"})
    assert response.status_code == 200
    body = response.json()
    assert len(body["pages"]) == 2 and body["pages"][0].lstrip().startswith(("<svg", "<?xml"))
    assert len(body["page_urls"]) == 2
    assert client.get(body["page_urls"][1]).text == body["pages"][1]
    assert base64.b64decode(body["thumbnail"]).startswith(b"\x89PNG")
    assert body["complete"] is False
    assert body["rows"] > 0
    assert body["total_rows"] is None or body["total_rows"] > body["rows"]


def test_api_preview_of_a_posted_definition(client: Client) -> None:
    text = SMALL
    as_text = client.post("/api/preview", json={"definition": text, "source": 1, "pages": 1})
    assert as_text.status_code == 200, as_text.text
    assert len(as_text.json()["pages"]) == 1
    as_object = {
        "title": "T",
        "source": {"table": "products", "filter": "id <= 3"},
        "bands": {"detail": {"elements": [{"type": "field", "expression": "name"}]}},
    }
    response = client.post("/api/preview", json={"definition": as_object, "source": 1, "pages": 1})
    assert response.status_code == 200
    assert response.json()["pages"] == as_text.json()["pages"]


def test_api_preview_errors_have_the_one_shape(client: Client) -> None:
    bad = SMALL.replace("expression: name", "expression: nmae")
    response = client.post("/api/preview", json={"definition": bad, "source": 1})
    assert response.status_code == 422
    body = response.json()
    assert body["ok"] is False and body["status"] == 422
    assert body["errors"][0]["path"] == "bands.detail.elements[0].expression"
    assert "nmae" in body["errors"][0]["message"]
    assert client.post("/api/preview", json={"definition": bad, "source": 77}).status_code == 404
    zero = client.post("/api/preview", json={"definition": bad, "source": 1, "pages": 0})
    assert zero.status_code == 422 and zero.json()["errors"][0]["path"] == "pages"
    assert client.get("/api/reports/404/preview").status_code == 404
    assert client.get("/api/reports/3/preview", params={"pages": "0"}).status_code == 422


def test_api_validate_a_definition_for_a_report(client: Client) -> None:
    good = client.get("/api/reports/3").json()["definition"]
    assert client.post("/api/reports/3/validate", json={"definition": good}).json()["ok"] is True
    bad = good.replace("expression: product.name", "expression: product.nmae")
    response = client.post("/api/reports/3/validate", json={"definition": bad})
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "bands.detail.elements[2].expression"
