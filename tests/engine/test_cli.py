"""The command line, end to end: good runs, and every kind of bad input named in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pypdf
import pytest

from engine.cli import main
from engine.demo_data import generate_demo

EXAMPLE = Path(__file__).parents[2] / "examples" / "sales_by_region.yaml"


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    generate_demo(url, orders=400, seed=3)
    return url


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _definition(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text()
    assert old in text
    path = tmp_path / "report.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_render_pdf(tmp_path: Path, demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sales.pdf"
    code, stdout, _ = _run(
        capsys,
        "render",
        str(EXAMPLE),
        "--source",
        demo_url,
        "-o",
        str(out),
        "--param",
        "start=2024-01-01",
    )
    assert code == 0
    reader = pypdf.PdfReader(out)
    pages = len(reader.pages)
    assert f"{pages} pages" in stdout
    first = reader.pages[0].extract_text()
    assert "Sales by region" in first
    assert f"Page 1 of {pages}" in first
    assert [p.name for p in tmp_path.iterdir()] == ["sales.pdf"]  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_render_png_pages(
    tmp_path: Path, demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pages"
    code, stdout, _ = _run(
        capsys, "render", str(EXAMPLE), "--source", demo_url, "--format", "png", "-o", str(out),
        "--param", "start=2025-06-01",
    )  # fmt: skip
    assert code == 0
    pngs = sorted(out.iterdir())
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert pngs[0].name == "page-001.png"
    assert f"{len(pngs)} pages" in stdout


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "schema")
    assert code == 0
    assert json.loads(out)["title"] == "Quire report definition"


def test_check_ok(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "check", str(EXAMPLE), "--source", demo_url)
    assert (code, out.strip()) == (0, f"{EXAMPLE}: ok")


def test_check_lists_every_problem(
    tmp_path: Path, demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _definition(
        tmp_path, "expression: order.customer.name\n", "expression: order.custmer.name\n"
    )
    path.write_text(
        path.read_text()
        .replace("expression: product.name}", "expression: product.nme}")
        .replace("reset: region}", "reset: regoin}")
    )
    code, _, err = _run(capsys, "check", str(path), "--source", demo_url)
    assert code == 1
    assert err.splitlines() == [  # in document order
        "error: groups[1].expression: 'custmer' is not a relationship of table 'orders' "
        "(did you mean 'customer'?)",
        "error: variables[3].reset: unknown group 'regoin' (did you mean 'region'?)",
        "error: variables[4].reset: unknown group 'regoin' (did you mean 'region'?)",
        "error: bands.detail.elements[2].expression: unknown column 'nme' in table 'products' "
        "(did you mean 'name'?)",
    ]


def test_check_lists_structural_and_expression_problems_together(
    tmp_path: Path, demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _definition(tmp_path, "expression: product.name}", "expression: product.nme}")
    path.write_text(path.read_text().replace("title:", "titel:", 1))
    code, _, err = _run(capsys, "check", str(path), "--source", demo_url)
    assert code == 1
    assert err.splitlines() == [
        "error: titel: unknown key 'titel' (did you mean 'title'?)",
        "error: bands.detail.elements[2].expression: unknown column 'nme' in table 'products' "
        "(did you mean 'name'?)",
        "error: title: required",
    ]


BAD_DEFINITIONS = [
    (
        "expression: product.name}",
        "expression: product.colour}",
        "error: bands.detail.elements[2].expression: unknown column 'colour' in table 'products'",
    ),
    (
        "expression: quantity, width",
        "expression: quantity *, width",
        "error: bands.detail.elements[3].expression: syntax error",
    ),
    (
        "expression: order.ordered_at}",
        "expression: (select max(id) from orders)}",
        "error: sort[0].expression: subqueries are not allowed in expressions",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_DEFINITIONS)
def test_bad_definitions_fail_before_any_output(
    tmp_path: Path,
    demo_url: str,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    message: str,
) -> None:
    path = _definition(tmp_path, old, new)
    out = tmp_path / "out.pdf"
    code, _, err = _run(capsys, "render", str(path), "--source", demo_url, "-o", str(out))
    assert code == 1
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--param", "start=yesterday"],
            "error: params.start: 'yesterday' is not a valid date",
        ),
        (["--param", "stat=2024-01-01"], "error: params.stat: not declared by the report"),
        (["--param", "start"], "error: --param: 'start' is not NAME=VALUE"),
    ],
)
def test_bad_parameters(
    tmp_path: Path, demo_url: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "out.pdf"
    out.write_bytes(b"a good report from yesterday")
    code, _, err = _run(capsys, "render", str(EXAMPLE), "--source", demo_url, "-o", str(out), *args)
    assert code == 1
    assert err.startswith(message)
    assert out.read_bytes() == b"a good report from yesterday"  # never replaced by a failed run


def test_missing_required_parameter(
    tmp_path: Path, demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _definition(tmp_path, "default: 2025-10-01, label: From", "required: true, label: From")
    code, _, err = _run(
        capsys, "render", str(path), "--source", demo_url, "-o", str(tmp_path / "o.pdf")
    )
    assert code == 1
    assert err.strip() == "error: params.start: required (pass --param start=VALUE)"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nosuchdb://x", "error: source: not a usable database URL"),
        ("sqlite:////nonexistent/folder/demo.db", "error: source: cannot connect: unable to open"),
        (
            "postgresql+psycopg://postgres@127.0.0.1:1/none",
            "error: source: cannot connect: connection failed",
        ),
    ],
)
def test_unreachable_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, message: str
) -> None:
    out = tmp_path / "out.pdf"
    code, _, err = _run(capsys, "render", str(EXAMPLE), "--source", source, "-o", str(out))
    assert code == 1
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unwritable_output(
    tmp_path: Path, demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = _run(
        capsys, "render", str(EXAMPLE), "--source", demo_url, "-o", str(blocker / "out.pdf")
    )
    assert code == 1
    assert err.startswith("error: output: cannot write to")
    assert "is not a folder" in err


def test_missing_definition_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "render", str(tmp_path / "nope.yaml"), "--source", "sqlite://")
    assert code == 1
    assert err.startswith(f"error: {tmp_path / 'nope.yaml'}: cannot read definition")


def test_render_data_formats(
    tmp_path: Path,
    demo_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every format from the same command, each named after the definition by default."""
    monkeypatch.chdir(tmp_path)
    for fmt in ("html", "json", "csv", "xlsx"):
        code, stdout, _ = _run(
            capsys, "render", str(EXAMPLE), "--source", demo_url, "--format", fmt
        )
        assert code == 0, fmt
        assert stdout.startswith(f"wrote sales_by_region.{fmt}: ") and "pages" not in stdout
    data = json.loads(Path("sales_by_region.json").read_text("utf-8"))
    details = sum(1 for band in data["bands"] if band["band"] == "detail")
    lines = Path("sales_by_region.csv").read_text("utf-8").splitlines()
    assert details > 0 and len(lines) == details + 1  # a header, then one line per detail
    assert Path("sales_by_region.html").read_text("utf-8").endswith("</html>\n")
    assert Path("sales_by_region.xlsx").read_bytes()[:2] == b"PK"  # a zip, as xlsx is
