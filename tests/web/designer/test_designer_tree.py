"""The band tree: print order, labels, absent bands, element summaries, sections."""

from __future__ import annotations

from typing import Any

from web.designer.tree import band_tree, element_summary


def test_bands_come_in_print_order_with_group_footers_innermost_first(
    sales: dict[str, Any],
) -> None:
    tree = band_tree(sales)
    assert [(b.path, b.label) for b in tree.bands] == [
        ("bands.title", "Title"),
        ("bands.page_header", "Page header"),
        ("bands.column_header", "Column header"),
        ("groups[0].header", "Group 'region' — header"),
        ("groups[1].header", "Group 'customer' — header"),
        ("bands.detail", "Detail"),
        ("groups[1].footer", "Group 'customer' — footer"),
        ("groups[0].footer", "Group 'region' — footer"),
        ("bands.summary", "Summary"),
        ("bands.page_footer", "Page footer"),
        ("bands.no_data", "No data"),
    ]
    assert all(b.present for b in tree.bands)


def test_absent_bands_are_listed_as_absent() -> None:
    tree = band_tree({"title": "T", "source": {"table": "t"}, "bands": {"detail": {}}})
    assert [b.path for b in tree.bands if b.present] == ["bands.detail"]
    assert len(tree.bands) == 7
    assert tree.bands[5].elements == ()


def test_elements_carry_their_paths_and_summaries(
    sales: dict[str, Any], charts: dict[str, Any]
) -> None:
    detail = band_tree(sales).bands[5]
    assert [(e.path, e.summary) for e in detail.elements[:3]] == [
        ("bands.detail.elements[0]", "field · order_id"),
        ("bands.detail.elements[1]", "field · order.ordered_at"),
        ("bands.detail.elements[2]", "field · product.name"),
    ]
    footer = band_tree(sales).bands[7]
    assert [e.summary for e in footer.elements[:3]] == [
        "line",
        "label · Region total",
        "aggregate · region_lines",
    ]
    header = band_tree(charts).bands[3]
    assert "chart · bar" in [e.summary for e in header.elements]
    assert "row break" in [e.summary for e in header.elements]


def test_a_long_summary_is_cut_and_an_unknown_type_shows_its_name() -> None:
    long = element_summary({"type": "field", "expression": "x" * 100})
    assert long.endswith("…")
    assert len(long) == len("field · ") + 48
    assert element_summary({"type": "gauge", "needle": 1}) == "gauge"


def test_sections_list_their_items(sales: dict[str, Any]) -> None:
    sections = {s.path: s for s in band_tree(sales).sections}
    assert list(sections) == [
        "",
        "source",
        "parameters",
        "groups",
        "sort",
        "variables",
        "page",
        "theme",
    ]
    assert [(i.path, i.summary) for i in sections["parameters"].items] == [
        ("parameters[0]", "start"),
        ("parameters[1]", "end"),
    ]
    assert sections["sort"].items[0].summary == "order.ordered_at"
    assert sections["groups"].is_list
    assert not sections["page"].is_list
    assert sections["page"].items == ()
