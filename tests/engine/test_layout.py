"""Page geometry, and the character widths that say a cell surely fits on one line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pypdf
import pytest

from engine.layout import ADVANCES, fits_one_line, resolve_widths
from engine.typst_worker import WorkerPool

_PRINTABLE = [chr(code) for code in range(32, 127)]


def _measured(tmp_path: Path, texts: list[str]) -> list[int]:
    """Each text's width in thousandths of an em, the widest of the four styles, by Typst."""
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    (tmp_path / "report.typ").write_text("""
#set text(font: "Inter", size: 1000pt, number-width: "tabular")
#set page(width: auto, height: auto)
#context json("texts.json").map(t => {
  let widths = ("regular", "bold").map(w => ("normal", "italic").map(s =>
    measure(text(weight: w, style: s, t)).width / 1pt)).flatten()
  str(calc.ceil(calc.max(..widths)))
}).join(" ")
""")
    pool = WorkerPool(1)
    try:
        pool.compile_pdf(tmp_path, {}, tmp_path / "out.pdf")
    finally:
        pool.close()
    return [int(w) for w in pypdf.PdfReader(tmp_path / "out.pdf").pages[0].extract_text().split()]


def test_advances_are_the_shipped_fonts_widest(tmp_path: Path) -> None:
    assert _measured(tmp_path, _PRINTABLE[1:]) == list(ADVANCES[1:])  # a lone space: no text


def test_fits_one_line_never_says_so_of_a_text_that_is_wider(tmp_path: Path) -> None:
    """Random strings and the demo's kind of values: where fits_one_line says a text fits, Typst
    measures it narrower than the width, in every style; and it is not so cautious as to
    refuse most texts that fit with a tenth to spare."""
    rng = random.Random(7)
    texts = ["".join(rng.choices(_PRINTABLE, k=rng.randint(1, 40))) for _ in range(2000)]
    texts += ["AVAVAVAVAV", "WAWAWAWAWA", "To To To To", "ffi ffl fi", "2024-02-11", "1,234.50"]
    texts = [t.strip() or "x" for t in texts]
    size, roomy = 9.0, 0
    for text, width in zip(texts, _measured(tmp_path, texts), strict=True):
        real = width * size / 1000
        assert not fits_one_line(real - 0.01, size)(text), text  # too narrow: never "fits"
        roomy += fits_one_line(real * 1.1 + 0.1 * size, size)(text)
    assert roomy > 0.95 * len(texts)


@pytest.mark.parametrize("text", ["a\nb", "tab\there", "café", "\u200b", "日本"])
def test_fits_one_line_refuses_what_it_cannot_measure(text: str) -> None:
    assert not fits_one_line(1000.0, 9.0)(text)


def test_widths_share_what_is_left_and_refuse_too_much() -> None:
    assert resolve_widths(["10mm", "1fr", "1fr"], 100.0, 9.0)[1] == pytest.approx(
        (100 - 10 * 72 / 25.4 - 0.05) / 2
    )
    with pytest.raises(ValueError, match="wide but the page leaves"):
        resolve_widths(["100mm"], 100.0, 9.0)
