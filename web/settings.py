"""Server settings from command-line flags and `QUIRE_*` environment variables.

Flags win over the environment, the environment over the defaults. The settings are
frozen: the app is built from one value and never reads the environment again.
"""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ("EXAMPLES_DIR", "Settings", "SettingsError", "is_loopback")

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


class SettingsError(ValueError):
    """A setting's value cannot be used; the message names the variable and the value."""


@dataclass(frozen=True)
class Settings:
    """Everything `create_app` needs; `from_env` reads the `QUIRE_*` variables.

    `database_url` is the app database (default: a SQLite file in the data dir); `token`
    is the access token every request must carry when set; `secret` signs cookies and
    CSRF tokens (default: a random key kept in the data dir, so sessions survive restarts).
    `run_workers` is the size of the pool of run processes (default: the CPU count);
    `keep_runs` and `keep_days` bound the finished runs kept with their outputs;
    `confirm_rows` is the estimated size above which the run form asks first.
    """

    data_dir: Path = Path("quire-data")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    token: str | None = None
    secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = 1_000_000
    demo_orders: int = 20_000
    examples_dir: Path = EXAMPLES_DIR
    run_workers: int = field(default_factory=lambda: max(os.cpu_count() or 1, 1))
    keep_runs: int = 200  # finished runs kept (with their outputs); older ones are removed
    keep_days: float = 30.0  # ... and none older than this
    confirm_rows: int = 200_000  # the run form asks before a run estimated above this

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `QUIRE_*` variables, then the given overrides (None means unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, convert in _ENV.items():
            raw = env.get(f"QUIRE_{name.upper()}")
            if raw:
                values[name] = _converted(f"QUIRE_{name.upper()}", raw, convert)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise `SettingsError` for a value out of its range."""
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                where = "--port or QUIRE_PORT" if name == "port" else f"QUIRE_{name.upper()}"
                bound = f"{low} or more" if high == _NO_LIMIT else f"between {low} and {high}"
                raise SettingsError(f"{where}: must be {bound}, not {value}")

    @property
    def app_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'quire.db'}"

    @property
    def demo_database_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'demo.db'}"

    def with_secret(self) -> Settings:
        """These settings with a secret: the configured one, or the data dir's own key."""
        if self.secret:
            return self
        key_file = self.data_dir / "secret.key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        return replace(self, secret=key_file.read_text(encoding="utf-8").strip())


_ENV: dict[str, Any] = {
    "data_dir": Path,
    "host": str,
    "port": int,
    "database_url": str,
    "token": str,
    "secret": str,
    "max_body_bytes": int,
    "demo_orders": int,
    "run_workers": int,
    "keep_runs": int,
    "keep_days": float,
    "confirm_rows": int,
}


_NO_LIMIT = float("inf")
_RANGES: tuple[tuple[str, float, float], ...] = (
    ("port", 1, 65535),
    ("max_body_bytes", 1, _NO_LIMIT),
    ("demo_orders", 1, _NO_LIMIT),
    ("run_workers", 1, _NO_LIMIT),
    ("keep_runs", 0, _NO_LIMIT),
    ("keep_days", 0, _NO_LIMIT),
    ("confirm_rows", 0, _NO_LIMIT),
)
_KINDS = {int: "a whole number", float: "a number"}


def _converted(variable: str, raw: str, convert: Any) -> Any:
    try:
        value = convert(raw)
    except ValueError:
        raise SettingsError(f"{variable}: must be {_KINDS[convert]}, not '{raw}'") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"{variable}: must be {_KINDS[convert]}, not '{raw}'")
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
