"""Document paths: parsed, formatted back the same, resolved, and bad ones named."""

from __future__ import annotations

from typing import Any

import pytest

from web.designer.paths import EditError, format_path, parse_path, resolve

PATHS = [
    ("title", ("title",)),
    ("page.margins.top", ("page", "margins", "top")),
    ("parameters[0]", ("parameters", 0)),
    ("groups[1].header", ("groups", 1, "header")),
    ("groups[1].header.elements[2]", ("groups", 1, "header", "elements", 2)),
    ("bands.detail.elements[0].expression", ("bands", "detail", "elements", 0, "expression")),
    ("bands.summary.elements[1].x", ("bands", "summary", "elements", 1, "x")),
    ("", ()),
]


@pytest.mark.parametrize(("text", "parts"), PATHS)
def test_parse_and_format_are_inverse(text: str, parts: tuple[str | int, ...]) -> None:
    assert parse_path(text) == parts
    assert format_path(parts) == text


@pytest.mark.parametrize("bad", ["a..b", "[1]", "a.[1]", "a b", "a[x]", ".a", "a.", "a[-1]"])
def test_malformed_paths_are_edit_errors_naming_them(bad: str) -> None:
    with pytest.raises(EditError) as caught:
        parse_path(bad)
    assert caught.value.path == bad
    assert f"not a document path: '{bad}'" in str(caught.value)


def test_resolve_finds_values(sales: dict[str, Any]) -> None:
    assert resolve(sales, "title") == "Sales by region"
    assert resolve(sales, "groups[1].name") == "customer"
    assert resolve(sales, "bands.detail.elements[2].expression") == "product.name"
    assert resolve(sales, "") is sales


def test_resolve_names_a_missing_element_and_the_band_size(sales: dict[str, Any]) -> None:
    with pytest.raises(EditError) as caught:
        resolve(sales, "bands.detail.elements[9]")
    error = caught.value
    assert error.missing
    assert error.path == "bands.detail.elements[9]"
    assert error.issues[0].message == "no element at bands.detail.elements[9]: the band has 7"


def test_resolve_names_missing_keys_and_absent_lists(sales: dict[str, Any]) -> None:
    with pytest.raises(EditError, match=r"groups\[5\]: no group at groups\[5\]: there are 2"):
        resolve(sales, "groups[5].header")
    with pytest.raises(EditError, match=r"nothing at groups\[0\]\.nope"):
        resolve(sales, "groups[0].nope")
    with pytest.raises(EditError, match=r"no sort key at sort\[0\]: there are 0"):
        resolve({"title": "x"}, "sort[0]")
    with pytest.raises(EditError, match="title is not a list"):
        resolve(sales, "title[0]")
