"""Errors of the web app's services, in the engine's hierarchy so one handler maps them all."""

from __future__ import annotations

from engine.errors import QuireError

__all__ = ("Conflict", "Gone", "NotFound", "TooLarge")


class NotFound(QuireError):
    """A report, version, source or element that does not exist."""

    kind = "not_found"


class Conflict(QuireError):
    """The request clashes with what exists, e.g. a source name already taken."""

    kind = "conflict"


class TooLarge(QuireError):
    """A definition or upload over the size limit."""

    kind = "too_large"


class Gone(QuireError):
    """Something that existed and was removed, e.g. a run's output after retention."""

    kind = "gone"
