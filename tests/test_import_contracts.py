"""The boundaries between the engine's parts, kept by a test rather than by memory.

`engine` never imports `web`; Altair only where chart specs are built (`engine.chart_render`),
vl-convert only in the helper process that draws them (`engine.chart_worker`); Typst only
where it compiles (`engine.typst_worker`, and `engine.typst_writer.compile_source` for a
document typeset in one piece). Every import statement counts, at module level or inside a
function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"

# package -> the only engine modules allowed to import it
CONFINED = {
    "web": set(),
    "altair": {"engine.chart_render"},
    "vl_convert": {"engine.chart_worker"},
    "typst": {"engine.typst_worker", "engine.typst_writer"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Top-level package names a module imports, anywhere in its body."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _violations() -> list[str]:
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        module = _module_name(path)
        for package in _imports(path) & CONFINED.keys():
            if module not in CONFINED[package]:
                found.append(f"{module} imports {package}")
    return found


def test_engine_keeps_its_boundaries() -> None:
    assert _violations() == []


def test_the_check_sees_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walker is not blind: a function-level import of web in an engine module is found."""
    fake_root = tmp_path
    (fake_root / "engine").mkdir()
    (fake_root / "engine" / "leak.py").write_text("def f():\n    from web.app import x\n")
    (fake_root / "engine" / "charts2.py").write_text("import altair.vegalite as alt\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    monkeypatch.setattr(sys.modules[__name__], "ENGINE", fake_root / "engine")
    assert _violations() == ["engine.charts2 imports altair", "engine.leak imports web"]


def test_importing_the_engine_loads_no_heavy_library() -> None:
    """A caller that renders no chart and compiles nothing in its own process pays for
    neither Altair nor Typst: the render entry point imports neither."""
    code = (
        "import sys, engine.render, engine.preview, engine.cli\n"
        "print(sorted(m for m in ('altair', 'vl_convert', 'typst', 'web') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
