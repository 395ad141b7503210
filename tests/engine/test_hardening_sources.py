"""Issue 20, item 11: a source URL kept out of `ps`, and a password never shown in part.

`quire render`/`quire check` read the URL from `--source-env NAME` or `--source-file
PATH`; a password holding an unescaped `@` is parsed as a password (credentials run to the
last `@`), so neither the connection nor its errors take its tail for the host.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import api
from engine.cli import main
from engine.errors import DataSourceError
from engine.render import connect
from engine.source_url import masked_url, parse_source_url

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "sales_by_region.yaml"


@pytest.fixture(scope="module")
def demo_url(small_demo: sa.Engine) -> str:
    return small_demo.url.render_as_string(hide_password=False)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- parsing and masking ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:p@ss@db.example/sales", "postgresql://me:***@db.example/sales"),
        ("postgresql://me:a@b:c@d@host:5432/x?sslmode=require",
         "postgresql://me:***@host:5432/x?sslmode=require"),
        ("postgresql://me@host/x", "postgresql://me@host/x"),
        ("postgresql://me:@host/x", "postgresql://me:***@host/x"),
        ("sqlite:////tmp/a@b/reports.db", "sqlite:////tmp/a@b/reports.db"),
        ("not a url p@ss", "<not a URL>"),
    ],
)  # fmt: skip
def test_masked_urls_show_no_part_of_the_password(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_credentials_run_to_the_last_at_sign() -> None:
    url = parse_source_url("postgresql+psycopg://me:p@ss:w/rd@db.example:6543/sales")
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "me", "p@ss:w/rd", "db.example", 6543, "sales",
    )  # fmt: skip
    assert parse_source_url("postgresql://me:p%40ss@h/x").password == "p@ss"  # escaped stays
    assert parse_source_url("sqlite:///reports.db").database == "reports.db"


def test_a_password_with_an_at_sign_connects(postgres_url: str) -> None:
    url = sa.make_url(postgres_url)
    raw = f"{url.drivername}://{url.username}:p@ss@{url.host}:{url.port}/{url.database}"
    engine = connect(raw)  # the test server trusts every password: the host is what counts
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()


def test_errors_show_no_tail_of_a_password_with_an_at_sign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://me:hunter2@secret@127.0.0.1:1/x"
    with pytest.raises(DataSourceError) as caught:
        api.open_source(url)
    message = str(caught.value)
    assert "cannot connect" in message
    assert "127.0.0.1" in message
    assert "secret" not in message
    assert "hunter2" not in message
    code, _, err = _cli(capsys, "check", str(EXAMPLE), "--source", url)
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "secret" not in err
    assert "hunter2" not in err


# -- the command line -------------------------------------------------------------------------


def test_render_reads_the_url_from_an_environment_variable(
    demo_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QUIRE_TEST_SOURCE", demo_url)
    out = tmp_path / "r.csv"
    code, stdout, err = _cli(capsys, "render", str(EXAMPLE), "--source-env", "QUIRE_TEST_SOURCE",
                             "--format", "csv", "-o", str(out))  # fmt: skip
    assert (code, err) == (0, "")
    assert stdout.startswith(f"wrote {out}")
    assert out.read_text().strip()


def test_check_reads_the_url_from_a_file(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "source.url"
    secret.write_text(f"\n  {demo_url}  \n")
    code, stdout, err = _cli(capsys, "check", str(EXAMPLE), "--source-file", str(secret))
    assert (code, err) == (0, "")
    assert stdout == f"{EXAMPLE}: ok\n"


def test_check_from_a_file_really_checks_against_the_source(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.yaml"
    report.write_text(EXAMPLE.read_text().replace("product.name", "product.nme", 1))
    secret = tmp_path / "source.url"
    secret.write_text(demo_url)
    code, _, err = _cli(capsys, "check", str(report), "--source-file", str(secret))
    assert code == 1
    assert "nme" in err


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("--source-env", "QUIRE_TEST_UNSET", "error: --source-env: the environment variable "
                                             "QUIRE_TEST_UNSET is not set"),
        ("--source-file", "missing.url", "error: --source-file: cannot read"),
        ("--source-file", "empty.url", "error: --source-file: "),
    ],
)  # fmt: skip
def test_a_source_that_cannot_be_read_is_one_line(
    option: str, value: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.delenv("QUIRE_TEST_UNSET", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.url").write_text("\n \n")
    code, _, err = _cli(capsys, "render", str(EXAMPLE), option, value, "-o", "r.pdf")
    assert code == 1
    assert err.startswith(error), err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "r.pdf").exists()


def test_render_needs_exactly_one_source(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as none:
        main(["render", str(EXAMPLE)])
    with pytest.raises(SystemExit) as both:
        main(["render", str(EXAMPLE), "--source", demo_url, "--source-env", "X"])
    assert none.value.code == both.value.code == 2
    err = capsys.readouterr().err
    assert "one of the arguments --source --source-env --source-file is required" in err
    assert "not allowed with argument" in err
