"""`quire render`'s progress bar: drawn on a terminal, absent otherwise or with --quiet."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from engine.cli import ProgressBar, format_progress, main
from engine.demo_data import generate_demo

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sales_by_region.yaml"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('progress') / 'demo.db'}"
    generate_demo(url, orders=1_500)
    return url


def test_a_progress_line_shows_phase_rows_pages_rate_and_eta() -> None:
    event = {
        "type": "progress",
        "phase": "loading",
        "status": "running",
        "rows_done": 4_000,
        "rows_expected": 9_302,
        "pages": 57,
        "rate": 2_100.4,
        "eta_s": 2.52,
    }
    line = format_progress(event)
    assert line.startswith("loading ")
    assert "[####------]  43%" in line
    assert "4,000/9,302 rows" in line
    assert "57 pages" in line
    assert "2,100 rows/s" in line
    assert "ETA 2.5s" in line
    assert format_progress({**event, "status": "paused"}).startswith("paused ")
    assert format_progress({"phase": "planning", "rows_done": 0}).startswith("planning")
    assert len(format_progress(event, width=30)) == 29


def test_the_bar_redraws_at_most_ten_times_a_second_and_clears_itself() -> None:
    stream = _Terminal()
    bar = ProgressBar(stream)
    for rows in range(100):
        bar.show({"type": "progress", "phase": "loading", "rows_done": rows})
    bar.show({"type": "done"})
    assert stream.getvalue().count("\r") == 1
    bar.close()
    assert stream.getvalue().endswith("\r")


def _render(tmp_path: Path, demo_url: str, *flags: str) -> int:
    output = tmp_path / "out.pdf"
    args = ["render", str(EXAMPLE), "--source", demo_url, "-o", str(output)]
    return main([*args, "--param", "start=2000-01-01", *flags])


def test_render_draws_progress_on_a_terminal(
    tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert _render(tmp_path, demo_url) == 0
    drawn = terminal.getvalue()
    assert "\r" in drawn
    assert " rows" in drawn
    assert drawn.endswith("\r")  # the line is cleared before the summary is printed


@pytest.mark.parametrize("flags", [(), ("--quiet",)])
def test_render_is_quiet_when_not_a_terminal_or_asked(
    tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...]
) -> None:
    stream = _Terminal() if flags else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    assert _render(tmp_path, demo_url, *flags) == 0
    assert stream.getvalue() == ""
