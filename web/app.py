"""`create_app(settings)`: the Litestar app, its app database prepared and migrated.

Handlers stay thin: they take typed input, call one service (`web.reports`,
`web.sources`) and render a page dataclass (`web.pages`) or return JSON.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
from litestar import Litestar, Request, Response, Router
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.orm import Session

from engine.errors import Issue
from web.access import access_guard
from web.bootstrap import prepare
from web.db import Database
from web.errors import NotFound
from web.http_errors import handle_error
from web.routes import designer, gallery, login, reports, runs, sources
from web.routes.api import api_router
from web.run_manager import EmbeddedRunManager, RunManager
from web.run_records import RunStore
from web.security import add_security_headers
from web.settings import Settings, is_loopback
from web.thumbnails import Thumbnails

__all__ = ("create_app",)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
log = logging.getLogger("quire.web")


# One router, registered at once: Litestar 2.25 registers a handler again (and wraps its
# sync function twice) when a later handler is registered alone on the same path.
html_router = Router(
    path="/",
    include_in_schema=False,  # the OpenAPI document describes the JSON API only
    route_handlers=[
        *(getattr(gallery, name) for name in gallery.__all__),
        *(getattr(reports, name) for name in reports.__all__),
        *(getattr(designer, name) for name in designer.__all__),
        *(getattr(runs, name) for name in runs.__all__),
        *(getattr(sources, name) for name in sources.__all__),
        *(getattr(login, name) for name in login.__all__),
    ],
)


def create_app(settings: Settings) -> Litestar:
    """The app for these settings: data dir, app database and first-start content ready."""
    settings = settings.with_secret()
    assert settings.secret
    database = Database(settings.app_database_url)
    prepare(settings, database)

    def provide_session() -> Iterator[Session]:
        with database.session() as session:
            yield session

    def provide_settings() -> Settings:
        return settings

    thumbnails = Thumbnails(settings.data_dir / "thumbnails", database)

    def provide_thumbnails() -> Thumbnails:
        return thumbnails

    run_store = RunStore(
        database, settings.data_dir / "runs", settings.keep_runs, settings.keep_days
    )
    interrupted = run_store.mark_interrupted()
    if interrupted:
        log.warning(
            "%d runs left active by the last server process are now interrupted", interrupted
        )
    run_store.prune()
    run_manager: RunManager = EmbeddedRunManager(settings.run_workers, run_store.record)

    def provide_run_store() -> RunStore:
        return run_store

    def provide_run_manager() -> RunManager:
        return run_manager

    def end_streams_on_signal() -> None:
        _chain_exit_signals(run_manager.begin_shutdown)

    return Litestar(
        route_handlers=[
            html_router,
            api_router,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], opt={"public": True}
            ),
        ],
        dependencies={
            "session": Provide(provide_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "thumbnails": Provide(provide_thumbnails, sync_to_thread=False),
            "run_store": Provide(provide_run_store, sync_to_thread=False),
            "run_manager": Provide(provide_run_manager, sync_to_thread=False),
        },
        state=State({"settings": settings, "database": database, "run_manager": run_manager}),
        guards=[access_guard],
        csrf_config=CSRFConfig(
            secret=settings.secret,
            cookie_httponly=True,  # no script needs it: pages carry the token (hx-headers, forms)
            cookie_samesite="strict",
            exclude=["/api"],  # bearer-token or loopback JSON only; see web.access
        ),
        allowed_hosts=_allowed_hosts(settings),
        plugins=[HTMXPlugin()],
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(_jinja())),
        exception_handlers={Exception: handle_error},
        before_request=_ids_in_range,
        after_request=_security_headers,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Quire API",
            version="0.1.0",
            path="/api/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        on_startup=[run_manager.start, end_streams_on_signal],
        on_shutdown=[run_manager.close, thumbnails.close, database.dispose],
    )


def _chain_exit_signals(begin_shutdown: Callable[[], None]) -> None:
    """On SIGINT/SIGTERM, end the open SSE streams first, then let the server's own handler
    run: uvicorn waits for open connections before its shutdown hooks (WEB.md 11)."""
    if threading.current_thread() is not threading.main_thread():
        return  # a test client's app: no signals there
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
            begin_shutdown()
            previous(signum, frame)

        signal.signal(sig, handler)


def _jinja() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a missing context field fails, never renders blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["filesize"] = file_size
    return environment


def file_size(size: int) -> str:
    """A size as people read it: 980 B, 12.4 KB, 3.1 MB (units of 1,024)."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _allowed_hosts(settings: Settings) -> AllowedHostsConfig | None:
    # Without a token, only loopback names: a DNS-rebinding page cannot reach the server.
    if settings.token or not is_loopback(settings.host):
        return None
    names = {*LOOPBACK_NAMES, settings.host}
    return AllowedHostsConfig(allowed_hosts=[*names, *(f"{n}:{settings.port}" for n in names)])


_LARGEST_ID = 2**63 - 1  # what an id column holds (SQLite's INTEGER, PostgreSQL's bigint)


async def _ids_in_range(request: Request[Any, Any, Any]) -> None:
    """An id in the path beyond what the database can hold names nothing: 404, before the
    database is asked (it would raise an overflow, a 500)."""
    for name, value in request.path_params.items():
        if isinstance(value, int) and not -_LARGEST_ID <= value <= _LARGEST_ID:
            thing = name.removesuffix("_id")
            raise NotFound([Issue(name, f"there is no {thing} {value}")])


async def _security_headers(response: Response[Any]) -> Response[Any]:
    return add_security_headers(response)
