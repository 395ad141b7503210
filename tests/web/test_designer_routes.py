"""The designer's routes through the test client: edits, drafts, versions, errors, CSRF.

Report 3 is the example "Sales by region"; its detail band's element [2] is the field
`product.name`. Forms are posted as a browser would: every input of the property form.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from litestar.testing import TestClient

from web.designer.forms import build_form

Client = TestClient  # type: ignore[type-arg]

REPORT = 3
ELEMENT = "bands.detail.elements[2]"
DESIGN = f"/reports/{REPORT}/design"


def _hx(csrf: dict[str, str]) -> dict[str, str]:
    return {**csrf, "hx-request": "true"}


def _api(client: Client, report: int = REPORT) -> dict[str, Any]:
    body = client.get(f"/api/reports/{report}").json()
    assert isinstance(body, dict)
    return body


def _document(client: Client) -> dict[str, Any]:
    """The designer's working document: the draft if there is one, else the newest version."""
    body = _api(client)
    document = yaml.safe_load(body["draft"] or body["definition"])
    assert isinstance(document, dict)
    return document


def _form(client: Client, path: str, **changes: str) -> dict[str, str]:
    """The property form of `path` as the browser posts it, with `changes` typed in."""
    form = build_form(_document(client), path)
    data = {leaf.name: leaf.value for leaf in form.leaves() if leaf.kind != "checkbox"}
    data.update({leaf.name: "true" for leaf in form.leaves() if leaf.checked})
    return {**data, **changes, "path": path}


def test_the_page_shows_tree_form_status_and_preview_pane(client: Client) -> None:
    page = client.get(DESIGN, params={"path": ELEMENT})
    assert page.status_code == 200
    html = page.text
    assert 'aria-label="Report structure"' in html  # the band tree
    assert re.search(r'aria-current="true">field · product\.name<', html)  # selected
    assert 'value="product.name"' in html  # its property form
    assert 'id="preview-pane"' in html and "quire:changed from:body delay:200ms" in html
    assert "Saved as version 1" in html
    assert '<script src="/static/designer.js" defer></script>' in html
    assert "<script>" not in html  # no inline script (CSP)
    assert '{"code":"422","swap":true}' in html  # htmx swaps the 422 fragments


def test_the_report_page_opens_the_designer(client: Client) -> None:
    assert f'href="{DESIGN}"' in client.get(f"/reports/{REPORT}").text


def test_the_yaml_tab_shows_the_whole_definition(client: Client) -> None:
    html = client.get(DESIGN, params={"tab": "yaml"}).text
    assert 'id="definition"' in html
    assert "title: Sales by region" in html
    assert 'aria-current="page">YAML<' in html


def test_an_unknown_report_is_404(client: Client) -> None:
    assert client.get("/reports/404/design").status_code == 404


def test_setting_a_property_keeps_a_valid_draft_and_saves_a_version(
    client: Client, csrf: dict[str, str]
) -> None:
    data = _form(client, ELEMENT, expression="product.sku")
    response = client.post(f"{DESIGN}/properties", data=data, headers=_hx(csrf))
    assert response.status_code == 200
    assert response.headers["hx-trigger"] == "quire:changed"  # the preview refreshes
    assert response.headers["hx-reswap"] == "none"  # the form stays as typed
    assert 'id="err-prop-expression" hx-swap-oob="true" aria-live="polite"></span>' in response.text
    assert "field · product.sku" in response.text  # the tree, out of band
    assert "Unsaved changes" in response.text
    body = _api(client)
    assert body["version"] == 1 and body["draft_errors"] == []
    assert "expression: product.sku" in body["draft"]

    saved = client.post(f"{DESIGN}/save", headers=_hx(csrf))
    assert saved.status_code == 200
    assert "Saved as version 2" in saved.text
    body = _api(client)
    assert body["version"] == 2 and body["draft"] is None
    assert "product.sku" in body["definition"]


def test_a_bad_expression_is_422_beside_its_field_and_the_version_is_kept(
    client: Client, csrf: dict[str, str]
) -> None:
    before = _api(client)["definition"]
    data = _form(client, ELEMENT, expression="product.nmae")
    response = client.post(f"{DESIGN}/properties", data=data, headers=_hx(csrf))
    assert response.status_code == 422
    span = re.search(
        r'<span class="field-error" id="err-prop-expression"[^>]*>([^<]*)</span>', response.text
    )
    assert span and "nmae" in span.group(1)  # the message beside the field
    assert "Draft — not saved: 1 problem" in response.text
    body = _api(client)
    assert body["version"] == 1 and body["definition"] == before  # never saved over
    assert "product.nmae" in body["draft"]  # kept as the draft
    assert body["draft_errors"][0]["path"] == f"{ELEMENT}.expression"

    refused = client.post(f"{DESIGN}/save", headers=_hx(csrf))
    assert refused.status_code == 422
    assert "Fix the problems first" in refused.text and "not saved: 1 problem" in refused.text
    assert _api(client)["version"] == 1

    page = client.get(DESIGN).text  # shown as a draft on the next visit
    assert "Draft — not saved: 1 problem" in page


def test_fixing_the_draft_back_to_the_version_leaves_no_draft(
    client: Client, csrf: dict[str, str]
) -> None:
    client.post(
        f"{DESIGN}/properties", data=_form(client, ELEMENT, expression="x_x"), headers=_hx(csrf)
    )
    fixed = client.post(
        f"{DESIGN}/properties",
        data=_form(client, ELEMENT, expression="product.name"),
        headers=_hx(csrf),
    )
    assert fixed.status_code == 200
    assert _api(client)["draft"] is None


def test_add_move_and_remove_an_element(client: Client, csrf: dict[str, str]) -> None:
    added = client.post(
        f"{DESIGN}/add-element", data={"band": "bands.detail", "type": "label"}, headers=_hx(csrf)
    )
    assert added.status_code == 200
    assert added.headers["hx-trigger"] == "quire:changed"
    assert re.search(r'aria-current="true">label · Label<', added.text)  # the new one, selected
    elements = _document(client)["bands"]["detail"]["elements"]
    assert len(elements) == 8 and elements[-1] == {"type": "label", "text": "Label"}

    moved = client.post(
        f"{DESIGN}/move",
        data={"path": "bands.detail.elements[7]", "offset": "-1"},
        headers=_hx(csrf),
    )
    assert moved.status_code == 200
    elements = _document(client)["bands"]["detail"]["elements"]
    assert elements[6]["type"] == "label"
    assert 'value="bands.detail.elements[6]"' in moved.text  # still selected at its new place

    removed = client.post(
        f"{DESIGN}/remove", data={"path": "bands.detail.elements[6]"}, headers=_hx(csrf)
    )
    assert removed.status_code == 200
    elements = _document(client)["bands"]["detail"]["elements"]
    assert [e["type"] for e in elements] == ["field"] * 7
    assert _api(client)["draft"] is None  # back to version 1 exactly


def test_sections_bands_and_items(client: Client, csrf: dict[str, str]) -> None:
    item = client.post(f"{DESIGN}/add-item", data={"path": "sort"}, headers=_hx(csrf))
    assert item.status_code == 200
    assert len(_document(client)["sort"]) == 2
    assert 'value="sort[1]"' in item.text
    band = client.post(f"{DESIGN}/add-band", data={"path": "bands.title"}, headers=_hx(csrf))
    assert band.status_code == 422  # Sales by region has a title: the edit cannot apply
    assert 'id="problems"' in band.text and "already there" in band.text
    assert band.headers["hx-reswap"] == "none"
    gone = client.post(f"{DESIGN}/remove-band", data={"path": "bands.no_data"}, headers=_hx(csrf))
    assert gone.status_code == 200
    assert "no_data" not in _document(client)["bands"]
    page = client.get(f"{DESIGN}/select", params={"path": "page"})
    assert page.status_code == 200 and "Page" in page.text


def test_a_path_that_names_nothing_is_404_and_changes_nothing(
    client: Client, csrf: dict[str, str]
) -> None:
    for url, data in (
        ("remove", {"path": "bands.detail.elements[99]"}),
        ("move", {"path": "groups[7]", "offset": "1"}),
        ("properties", {"path": "bands.detail.elements[42]", "expression": "x"}),
        ("add-element", {"band": "bands.nope", "type": "label"}),
    ):
        response = client.post(f"{DESIGN}/{url}", data=data, headers=_hx(csrf))
        assert response.status_code == 404, url
        assert 'id="problems"' in response.text, url  # the EditError's message
    response = client.post(
        f"{DESIGN}/remove", data={"path": "bands.detail.elements[99]"}, headers=_hx(csrf)
    )
    assert "no element at bands.detail.elements[99]: the band has 7" in response.text
    assert client.get(f"{DESIGN}/select", params={"path": "groups[9]"}).status_code == 404
    body = _api(client)
    assert body["draft"] is None and body["version"] == 1


def test_an_edit_that_cannot_apply_is_422_and_changes_nothing(
    client: Client, csrf: dict[str, str]
) -> None:
    first = {"path": "bands.detail.elements[0]", "offset": "-1"}
    response = client.post(f"{DESIGN}/move", data=first, headers=_hx(csrf))
    assert response.status_code == 422
    assert "already the first" in response.text
    odd = client.post(f"{DESIGN}/move", data={**first, "offset": "5"}, headers=_hx(csrf))
    assert odd.status_code == 422 and "offset must be -1" in odd.text
    kind = {"band": "bands.detail", "type": "sparkle"}
    assert client.post(f"{DESIGN}/add-element", data=kind, headers=_hx(csrf)).status_code == 422
    assert _api(client)["draft"] is None


def test_a_form_without_its_csrf_token_is_refused(client: Client, csrf: dict[str, str]) -> None:
    data = _form(client, ELEMENT, expression="product.sku")
    response = client.post(f"{DESIGN}/properties", data=data, headers={"hx-request": "true"})
    assert response.status_code == 403
    assert client.post(f"{DESIGN}/save").status_code == 403
    assert _api(client)["draft"] is None


def test_the_yaml_tab_validates_like_any_edit(client: Client, csrf: dict[str, str]) -> None:
    text = _api(client)["definition"].replace("expression: product.name", "expression: product.nom")
    response = client.post(f"{DESIGN}/yaml", data={"definition": text}, headers=_hx(csrf))
    assert response.status_code == 422
    assert "Kept as a draft, not saved." in response.text
    assert "product.nom" in response.text or "nom" in response.text
    assert 'id="draft-status"' in response.text and 'hx-swap-oob="true"' in response.text
    body = _api(client)
    assert body["draft"] == text and body["version"] == 1

    good = text.replace("product.nom", "product.sku")
    response = client.post(f"{DESIGN}/yaml", data={"definition": good}, headers=_hx(csrf))
    assert response.status_code == 200
    assert response.headers["hx-trigger"] == "quire:changed"
    assert _api(client)["draft"] == good  # comments and layout of the text kept


def test_malformed_yaml_is_422_and_stores_nothing(client: Client, csrf: dict[str, str]) -> None:
    response = client.post(
        f"{DESIGN}/yaml", data={"definition": "title: [unclosed\n"}, headers=_hx(csrf)
    )
    assert response.status_code == 422
    assert "Not applied." in response.text and "not valid YAML at line" in response.text
    listing = client.post(f"{DESIGN}/yaml", data={"definition": "- a\n- b\n"}, headers=_hx(csrf))
    assert listing.status_code == 422 and "must be a mapping" in listing.text
    assert _api(client)["draft"] is None


def test_discard_goes_back_to_the_newest_version(client: Client, csrf: dict[str, str]) -> None:
    client.post(
        f"{DESIGN}/properties", data=_form(client, ELEMENT, expression="zz"), headers=_hx(csrf)
    )
    assert _api(client)["draft"] is not None
    response = client.post(f"{DESIGN}/discard", headers=_hx(csrf))
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == DESIGN
    assert _api(client)["draft"] is None


def test_the_field_picker_lists_the_catalogues_paths(client: Client) -> None:
    response = client.get(f"{DESIGN}/fields", params={"target": "prop-expression"})
    assert response.status_code == 200
    paths = re.findall(r'data-insert-path="([^"]+)"', response.text)
    assert paths[0] == "id"  # the base table's own columns first
    assert "order.customer.region.name" in paths  # through foreign keys
    assert 'data-target="prop-expression"' in response.text


def test_the_table_picker_lists_the_sources_tables_to_replace_the_value(client: Client) -> None:
    response = client.get(
        f"{DESIGN}/fields", params={"target": "prop-source-table", "tables": "true"}
    )
    assert response.status_code == 200
    tables = re.findall(r'data-insert-path="([^"]+)"', response.text)
    assert {"order_lines", "orders", "products", "customers"} <= set(tables)
    assert "Tables of the source" in response.text
    assert 'data-target="prop-source-table" data-replace' in response.text
    form = client.get(f"{DESIGN}/select", params={"path": ""}).text
    assert '{"tables": "true", "target": "prop-source-table"}' in form  # its Tables… button


def test_a_blank_report_is_built_in_the_designer_without_yaml(
    client: Client, csrf: dict[str, str]
) -> None:
    created = client.post(
        "/reports", data={"source_id": "1", "example": ""}, headers=csrf, follow_redirects=False
    )
    assert created.status_code == 303
    design = created.headers["location"]
    assert re.fullmatch(r"/reports/\d+/design", design)
    assert "Untitled report" in client.get(design).text
    report = int(design.split("/")[2])
    hx = _hx(csrf)
    client.post(f"{design}/properties", data={"path": "source", "table": "products"}, headers=hx)
    client.post(f"{design}/add-band", data={"path": "bands.detail"}, headers=hx)
    for kind in ("field", "field"):
        client.post(
            f"{design}/add-element", data={"band": "bands.detail", "type": kind}, headers=hx
        )
    name = {"path": "bands.detail.elements[1]", "expression": "name", "type": "field"}
    response = client.post(f"{design}/properties", data=name, headers=hx)
    assert response.status_code == 200, response.text
    saved = client.post(f"{design}/save", headers=hx)
    assert saved.status_code == 200 and "Saved as version 2" in saved.text
    document = yaml.safe_load(_api(client, report)["definition"])
    assert document["source"]["table"] == "products"
    assert [e["expression"] for e in document["bands"]["detail"]["elements"]] == ["id", "name"]
