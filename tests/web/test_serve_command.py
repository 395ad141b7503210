"""`quire serve` and its settings: flags over QUIRE_* variables; no open port without a token."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine.cli import main
from web.cli import serve
from web.settings import Settings, is_loopback


def test_serve_is_a_subcommand_of_quire(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--data-dir" in out
    assert "--host" in out


def test_settings_from_flags_over_environment(tmp_path: Path) -> None:
    env = {"QUIRE_PORT": "9000", "QUIRE_HOST": "0.0.0.0", "QUIRE_DATA_DIR": str(tmp_path)}
    settings = Settings.from_env(env, port=8123, host=None)
    assert settings.port == 8123
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == tmp_path
    assert settings.app_database_url == f"sqlite:///{tmp_path / 'quire.db'}"
    assert Settings.from_env({}).host == "127.0.0.1"


def test_the_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "d").with_secret()
    assert first.secret
    assert Settings(data_dir=tmp_path / "d").with_secret().secret == first.secret
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_refuses_other_addresses_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUIRE_TOKEN", raising=False)
    args = argparse.Namespace(host="0.0.0.0", port=8001, data_dir=tmp_path / "d")
    assert serve(args) == 2
    assert "QUIRE_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # refused before touching anything


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("QUIRE_PORT", "abc", "QUIRE_PORT: must be a whole number, not 'abc'"),
        ("QUIRE_PORT", "70000", "--port or QUIRE_PORT: must be between 1 and 65535, not 70000"),
        ("QUIRE_RUN_WORKERS", "0", "QUIRE_RUN_WORKERS: must be 1 or more, not 0"),
        ("QUIRE_KEEP_DAYS", "nan", "QUIRE_KEEP_DAYS: must be a number, not 'nan'"),
        ("QUIRE_KEEP_DAYS", "inf", "QUIRE_KEEP_DAYS: must be a number, not 'inf'"),
        ("QUIRE_DATABASE_URL", "bad", "QUIRE_DATABASE_URL: not a database URL"),
    ],
)
def test_a_bad_setting_is_named_and_nothing_starts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    args = argparse.Namespace(host=None, port=None, data_dir=tmp_path / "d")
    assert serve(args) == 2
    assert message in capsys.readouterr().err


def test_an_app_database_that_cannot_be_opened_is_named_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://quire_nobody:sekrit@127.0.0.1:1/nowhere"  # nothing listens on port 1
    monkeypatch.setenv("QUIRE_DATABASE_URL", url)
    args = argparse.Namespace(host=None, port=None, data_dir=tmp_path / "d")
    assert serve(args) == 2
    err = capsys.readouterr().err
    assert "cannot open the app database postgresql://quire_nobody:***@127.0.0.1:1/nowhere" in err
    assert "sekrit" not in err
