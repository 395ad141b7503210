"""Quire's web app (Litestar, server-rendered HTML with htmx): arrives with the web issue.

It will import `engine`; the engine never imports it.
"""
