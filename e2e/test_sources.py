"""Data sources: a connection that fails says why on the page, and a password typed into
a URL is never shown back, whether the source is refused or added."""

from __future__ import annotations

import os
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PASSWORD = "e2e-Secret-pw-7419"
# The PostgreSQL server the unit tests use (trust auth for postgres on 127.0.0.1).
POSTGRES_URL = os.environ.get(
    "QUIRE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _add_source(page: Page, name: str, url: str) -> None:
    page.goto("/sources")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Test and add"))
    form.get_by_label("Name").fill(name)
    form.get_by_label("SQLAlchemy URL").fill(url)
    form.get_by_role("button", name="Test and add").click()


def _never_shows_the_password(page: Page) -> None:
    assert PASSWORD not in page.content()
    for field in page.locator("input").all():
        assert PASSWORD not in (field.input_value() or "")


def test_a_source_that_cannot_connect_says_why_and_keeps_no_password(page: Page) -> None:
    # A role the server does not know: a real refusal from PostgreSQL (or, without a
    # server, a refused connection); either way the connection fails.
    url = f"postgresql+psycopg://quire_e2e_nobody:{PASSWORD}@127.0.0.1:5432/postgres"
    _add_source(page, "Warehouse", url)

    error = page.locator("#url-error")
    expect(error).to_contain_text("cannot connect")
    expect(page.get_by_label("SQLAlchemy URL")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("SQLAlchemy URL")).to_have_value("")  # never echoed
    expect(page.get_by_label("Name")).to_have_value("Warehouse")  # kept, to try again
    expect(page.locator("table#sources")).not_to_contain_text("Warehouse")  # nothing stored
    _never_shows_the_password(page)

    page.goto("/sources")
    expect(page.locator("table#sources")).not_to_contain_text("Warehouse")


def _postgres_or_skip() -> str:
    url = make_url(POSTGRES_URL)
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        reason = f"PostgreSQL unreachable at {url.render_as_string()}: {error.orig}"
        if os.environ.get("QUIRE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (QUIRE_REQUIRE_POSTGRES=1 requires it)")
        pytest.skip(reason)
    finally:
        engine.dispose()
    # Trust auth ignores the password, so the connection works with one in the URL.
    return url.set(password=PASSWORD).render_as_string(hide_password=False)


def test_an_added_source_shows_its_url_with_the_password_hidden(page: Page) -> None:
    url = _postgres_or_skip()
    _add_source(page, "Warehouse with a password", url)

    expect(page).to_have_url(re.compile(r"/sources/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Warehouse with a password")
    expect(page.locator(".page-head code.url")).to_contain_text("***")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_have_text("connected (postgresql)")
    _never_shows_the_password(page)

    page.goto("/sources")
    expect(page.locator("table#sources")).to_contain_text("Warehouse with a password")
    _never_shows_the_password(page)
