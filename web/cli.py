"""`quire serve`: the web app under uvicorn, added to the engine's CLI by an entry point.

The engine's CLI finds this through the `quire.commands` entry point group, so the engine
never imports the web app.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from web.settings import Settings, SettingsError, is_loopback

__all__ = ("SHUTDOWN_GRACE_S", "add_serve_command", "serve")

SHUTDOWN_GRACE_S = 3  # open streams would otherwise hold a shutdown forever (WEB.md 11)


def add_serve_command(commands: Any) -> None:
    """Add `serve` to the `quire` subcommands (an argparse subparsers object)."""
    serve_parser: argparse.ArgumentParser = commands.add_parser(
        "serve", help="start the web app (gallery, designer, data sources, JSON API)"
    )
    serve_parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port (default 8000)")
    serve_parser.add_argument(
        "--data-dir", type=Path, help="app data folder (default ./quire-data)"
    )
    serve_parser.set_defaults(run=serve)


def serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not is_loopback(settings.host) and not settings.token:
        print(
            f"error: --host {settings.host}: refusing to listen beyond this machine without an "
            "access token; set QUIRE_TOKEN (or listen on 127.0.0.1)",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from web.app import create_app

    print(f"preparing {settings.data_dir} ...", flush=True)
    try:
        app = create_app(settings)
    except SQLAlchemyError as error:
        print(f"error: {_database_problem(settings, error)}", file=sys.stderr)
        return 2
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    print(f"Quire is running at http://{shown}:{settings.port}", flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        log_level="info",
    )
    return 0


def _database_problem(settings: Settings, error: SQLAlchemyError) -> str:
    """What is wrong with the app database, its URL shown without its password."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if isinstance(error, ArgumentError):
        return f"QUIRE_DATABASE_URL: not a database URL ({reason})"
    shown = make_url(settings.app_database_url).render_as_string(hide_password=True)
    return f"cannot open the app database {shown}: {reason}"
