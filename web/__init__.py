"""Quire's web app: Litestar, server-rendered HTML with htmx, and a JSON API under /api.

`web.app.create_app(settings)` builds it; `quire serve` (web.cli) runs it. It imports
`engine`; the engine never imports it (tests/web/test_engine_boundary.py).
"""
