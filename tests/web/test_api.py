"""The JSON API under /api: reports and data sources, with the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Client = Any
PRODUCTS = "title: Products\nsource:\n  table: products\n"


def test_list_reports(client: Client) -> None:
    reports = client.get("/api/reports").json()
    assert len(reports) == 5
    assert {"id", "title", "tags", "source_id", "version", "has_draft"} <= set(reports[0])
    assert [r["title"] for r in client.get("/api/reports", params={"q": "catalogue"}).json()] == [
        "Product catalogue"
    ]


def test_create_get_replace_delete(client: Client) -> None:
    created = client.post("/api/reports", json={"definition": PRODUCTS, "source_id": 1})
    assert created.status_code == 201
    report = created.json()
    assert report["version"] == 1
    assert report["definition"] == PRODUCTS
    url = f"/api/reports/{report['id']}"
    assert client.get(url).json()["title"] == "Products"
    replaced = client.put(url, json={"definition": PRODUCTS.replace("Products", "Stock")})
    assert replaced.json() == {"ok": True, "saved": True, "version": 2}
    assert client.get(url).json()["title"] == "Stock"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_create_invalid_stores_nothing(client: Client) -> None:
    text = "title: X\nsource:\n  table: nope\n"
    response = client.post("/api/reports", json={"definition": text, "source_id": 1})
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "source.table"
    assert len(client.get("/api/reports").json()) == 5


def test_replace_invalid_keeps_a_draft_and_answers_422(client: Client) -> None:
    response = client.put("/api/reports/2", json={"definition": "title: [\n"})
    assert response.status_code == 422
    body = response.json()
    assert body["ok"] is False
    assert "kept as the draft" in body["error"]
    report = client.get("/api/reports/2").json()
    assert report["version"] == 1
    assert report["draft"] == "title: [\n"


def test_validate_stores_nothing(client: Client) -> None:
    ok = client.post("/api/reports/2/validate", json={"definition": PRODUCTS})
    assert ok.status_code == 200
    assert ok.json()["ok"] is True
    bad = client.post("/api/reports/2/validate", json={"definition": "title: X\n"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "source"
    assert client.get("/api/reports/2").json()["draft"] is None


def test_versions_diff_restore(client: Client) -> None:
    client.put("/api/reports/2", json={"definition": PRODUCTS})
    versions = client.get("/api/reports/2/versions").json()
    assert [v["number"] for v in versions] == [1, 2]
    diff = client.get("/api/reports/2/diff", params={"old": 1, "new": 2}).json()["diff"]
    assert "+title: Products" in diff
    restored = client.post("/api/reports/2/versions/1/restore")
    assert restored.json() == {"ok": True, "saved": True, "version": 3}
    assert client.get("/api/reports/2/versions/7").status_code == 404


def test_element_path(client: Client) -> None:
    found = client.get("/api/reports/2/element", params={"path": "source"})
    assert found.json()["element"] == {"table": "products", "filter": "list_price >= :min_price"}
    missing = client.get("/api/reports/2/element", params={"path": "bands.detail.elements[40]"})
    assert missing.status_code == 404
    assert "no element at 'bands.detail.elements[40]'" in missing.json()["error"]


def test_sources(client: Client, data_dir: Path) -> None:
    assert [s["name"] for s in client.get("/api/sources").json()] == ["Demo sales (SQLite)"]
    url = f"sqlite:///{data_dir / 'demo.db'}"
    created = client.post("/api/sources", json={"name": "Again", "url": url})
    assert created.status_code == 201
    source_id = created.json()["id"]
    assert client.post(f"/api/sources/{source_id}/test").json() == {"ok": True, "dialect": "sqlite"}
    schema = client.get(f"/api/sources/{source_id}/schema").json()
    lines = next(t for t in schema if t["name"] == "order_lines")
    assert {c["name"] for c in lines["columns"]} >= {"quantity", "unit_price"}
    assert any(fk["target"] == "orders" for fk in lines["foreign_keys"])
    bad = client.post("/api/sources", json={"name": "Bad", "url": "mysqlx://u:p@h/d"})
    assert bad.status_code == 422
    assert "unknown database driver 'mysqlx'" in bad.json()["error"]
    assert client.get("/api/sources/99/schema").status_code == 404


def test_api_takes_json_only(client: Client) -> None:
    response = client.post("/api/reports", data={"definition": PRODUCTS, "source_id": "1"})
    assert response.status_code == 415
    assert response.json()["ok"] is False


def test_openapi_document_lists_the_api(client: Client) -> None:
    document = client.get("/api/schema/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/reports",
        "/api/reports/{report_id}",
        "/api/reports/{report_id}/validate",
        "/api/reports/{report_id}/versions",
        "/api/sources",
        "/api/sources/{source_id}/test",
        "/api/sources/{source_id}/schema",
    ):
        assert path in paths
    assert not any(p.startswith("/reports") for p in paths)  # HTML routes stay out
