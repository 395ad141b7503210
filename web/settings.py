"""Server settings from command-line flags and `QUIRE_*` environment variables.

Flags win over the environment, the environment over the defaults. The settings are
frozen: the app is built from one value and never reads the environment again.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ("EXAMPLES_DIR", "Settings", "is_loopback")

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


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
                values[name] = convert(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

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


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
