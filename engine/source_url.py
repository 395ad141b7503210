"""Database URLs as people write them: parsed with care, never shown with their password.

SQLAlchemy ends a URL's password at its first `@`, so `postgresql://me:p@ss@db/sales`
would connect to the host `ss@db` and print that tail of the password in every error.
Here everything between `://` and the last `@` is the credentials (user, then password
after the first `:`), and the `@`s inside them are escaped before SQLAlchemy reads the
URL. A URL SQLAlchemy cannot read (a port that is not a number, an IPv6 host without its
closing bracket) is a `DataSourceError` naming what is wrong, with the password masked.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

from engine.errors import DataSourceError

__all__ = ("MASK", "masked_url", "parse_source_url")

MASK = "***"
_URL = re.compile(r"^(?P<scheme>[A-Za-z][\w+.-]*)://(?P<rest>.*)$", re.DOTALL)
_EXAMPLE = "like postgresql://user:password@host:5432/database or sqlite:///reports.db"


def parse_source_url(text: str) -> sa.URL:
    """The URL, its credentials split at the last `@`; raise `DataSourceError` (at path
    `source`, the password masked) if it is not a database URL."""
    text = text.strip()
    found = _URL.match(text)
    if found is None:
        raise DataSourceError(f"not a database URL ({_EXAMPLE})", "source")
    scheme, user, password, address = _split(found["scheme"], found["rest"])
    escaped = f"{scheme}://"
    if user is not None:
        escaped += _escape(user, "@:/")
        if password is not None:
            escaped += ":" + _escape(password, "@")
        escaped += "@"
    escaped += address
    try:
        url = sa.make_url(escaped)
        url.port  # noqa: B018 - read now: a port that is no number fails here, not later
    except (ArgumentError, ValueError, TypeError) as error:
        lines = str(error).strip().splitlines()
        reason = _without(lines[0] if lines else "", password)
        if _bad_port(address):
            reason = "the port must be a number"
        elif address.startswith("[") and "]" not in address.split("/")[0]:
            reason = "an IPv6 host needs its closing ']'"
        raise DataSourceError(
            f"not a usable database URL: {reason or 'cannot read it'} ({_EXAMPLE})",
            "source",
        ) from None
    return url


def masked_url(text: str) -> str:
    """The URL as it may be shown: its password, everything from the first `:` of the
    credentials to their last `@`, replaced by `***`."""
    found = _URL.match(text.strip())
    if found is None:
        return "<not a URL>"
    scheme, user, password, address = _split(found["scheme"], found["rest"])
    if user is None:
        return f"{scheme}://{address}"
    secret = f":{MASK}" if password is not None else ""
    return f"{scheme}://{user}{secret}@{address}"


def _split(scheme: str, rest: str) -> tuple[str, str | None, str | None, str]:
    """scheme, user, password, and the rest (host, port, database, query)."""
    if rest.startswith("/") or "@" not in rest:  # a file path, or no credentials
        return scheme, None, None, rest
    credentials, _, address = rest.rpartition("@")
    user, colon, password = credentials.partition(":")
    return scheme, user, password if colon else None, address


def _escape(text: str, characters: str) -> str:
    for character in characters:
        text = text.replace(character, f"%{ord(character):02X}")
    return text


def _without(text: str, secret: str | None) -> str:
    return text.replace(secret, MASK) if secret else text


def _bad_port(address: str) -> bool:
    host = re.split(r"[/?]", address, maxsplit=1)[0]
    port = host.rsplit("]", 1)[-1] if host.startswith("[") else host
    _, colon, number = port.rpartition(":")
    return bool(colon) and not number.isdigit()
