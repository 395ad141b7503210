"""`create_app(settings)`: the Litestar app, its app database prepared and migrated.

Handlers stay thin: they take typed input, call one service (`web.reports`,
`web.sources`) and render a page dataclass (`web.pages`) or return JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
from litestar import Litestar, Response, Router
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

from web.access import access_guard
from web.bootstrap import prepare
from web.db import Database
from web.http_errors import handle_error
from web.routes import designer, gallery, login, reports, sources
from web.routes.api import api_router
from web.security import add_security_headers
from web.settings import Settings, is_loopback
from web.thumbnails import Thumbnails

__all__ = ("create_app",)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


# One router, registered at once: Litestar 2.25 registers a handler again (and wraps its
# sync function twice) when a later handler is registered alone on the same path.
html_router = Router(
    path="/",
    include_in_schema=False,  # the OpenAPI document describes the JSON API only
    route_handlers=[
        *(getattr(gallery, name) for name in gallery.__all__),
        *(getattr(reports, name) for name in reports.__all__),
        *(getattr(designer, name) for name in designer.__all__),
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
        },
        state=State({"settings": settings, "database": database}),
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
        after_request=_security_headers,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Quire API",
            version="0.1.0",
            path="/api/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        on_shutdown=[thumbnails.close, database.dispose],
    )


def _jinja() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a missing context field fails, never renders blank
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _allowed_hosts(settings: Settings) -> AllowedHostsConfig | None:
    # Without a token, only loopback names: a DNS-rebinding page cannot reach the server.
    if settings.token or not is_loopback(settings.host):
        return None
    names = {*LOOPBACK_NAMES, settings.host}
    return AllowedHostsConfig(allowed_hosts=[*names, *(f"{n}:{settings.port}" for n in names)])


async def _security_headers(response: Response[Any]) -> Response[Any]:
    return add_security_headers(response)
