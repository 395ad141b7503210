"""Designer previews: the first pages, said to be partial when they are, from a warm process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
import sqlalchemy as sa

from engine.document import load_definition, parse_definition
from engine.errors import DefinitionError
from engine.preview import Previewer
from engine.render import render_report

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def demo(small_demo: sa.Engine) -> sa.Engine:
    return small_demo


@pytest.fixture
def previewer() -> Iterator[Previewer]:
    with Previewer(rows=150) as previewer:
        yield previewer


def test_a_long_report_is_previewed_by_its_first_rows_and_says_so(
    demo: sa.Engine, previewer: Previewer
) -> None:
    definition = load_definition(EXAMPLES / "sales_by_region.yaml")
    preview = previewer.render(definition, demo, {"start": "2020-01-01"})
    assert (preview.rows, preview.complete) == (150, False)
    assert 1 < len(preview.pages) < 10
    assert all(page.startswith("<svg") for page in preview.pages)


def test_a_short_report_is_previewed_whole_with_the_pages_of_its_pdf(
    demo: sa.Engine, previewer: Previewer, tmp_path: Path
) -> None:
    definition = load_definition(EXAMPLES / "invoices.yaml")
    given = {"from_order": 1, "to_order": 12}
    preview = previewer.render(definition, demo, given)
    assert preview.complete and 0 < preview.rows < 150
    render_report(definition, demo, tmp_path / "invoices.pdf", given=given)
    with pikepdf.open(tmp_path / "invoices.pdf") as pdf:
        assert len(preview.pages) == len(pdf.pages)


def test_previews_are_typeset_by_one_warm_process(demo: sa.Engine, previewer: Previewer) -> None:
    """Typst's memory of the last preview is worth keeping: the same process serves the
    next one, whatever report it is."""
    first = previewer._pool.serving_pid()
    for name in ("product_list.yaml", "sales_by_region.yaml", "product_list.yaml"):
        previewer.render(load_definition(EXAMPLES / name), demo)
    assert previewer._pool.serving_pid() == first


def test_a_bad_definition_is_refused_before_any_typesetting(
    demo: sa.Engine, previewer: Previewer
) -> None:
    bad = parse_definition(
        "title: x\nsource: {table: products}\nbands:\n"
        "  detail: {elements: [{type: field, expression: nme}]}\n"
    )
    with pytest.raises(DefinitionError, match="nme"):
        previewer.render(bad, demo)
