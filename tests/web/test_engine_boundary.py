"""`engine` never imports `web`: every import statement of every engine module, read with ast."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parents[2] / "engine"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_modules_never_import_web() -> None:
    files = sorted(ENGINE_DIR.rglob("*.py"))
    assert len(files) > 20
    offenders = {
        str(f.relative_to(ENGINE_DIR)): sorted(
            m for m in _imported_modules(f) if m.split(".")[0] == "web"
        )
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_check_sees_an_import_of_web(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from web.app import create_app\n    import web\n")
    assert _imported_modules(module) == {"web.app", "web"}
