"""One error hierarchy for the engine, so every caller can report problems the same way.

Each error carries structured issues (where, what, a hint) so a CLI can print one line
per problem and a designer can put each message next to the element it concerns. Every
exception class the engine raises on purpose lives here; `to_dict` is the one JSON form
of an error that crosses a process, a queue or an HTTP response.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = (
    "Cancelled",
    "DataSourceError",
    "DefinitionError",
    "InternalError",
    "Issue",
    "MemoryLimitExceeded",
    "OutputError",
    "ParameterError",
    "QueryTimeout",
    "QuireError",
    "RenderError",
    "Superseded",
    "TimeLimitExceeded",
    "TypstFailed",
    "TypstWorkerEnded",
    "did_you_mean",
    "excerpt_around",
)


@dataclass(frozen=True)
class Issue:
    """One problem, located by a dotted path such as `bands.detail.elements[2].expression`.

    For an expression, `position` is the 0-based character offset of the problem in it and
    `excerpt` a short piece of the expression around that offset.
    """

    path: str
    message: str
    hint: str = ""
    position: int | None = None
    excerpt: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: path, message, hint, and position and excerpt where known."""
        data: dict[str, Any] = {"path": self.path, "message": self.message, "hint": self.hint}
        if self.position is not None:
            data["position"] = self.position
            data["excerpt"] = self.excerpt
        return data


class QuireError(Exception):
    """Base of every error the engine raises on purpose."""

    kind = "error"

    def __init__(self, issues: Sequence[Issue] | str, path: str = "") -> None:
        self.issues: tuple[Issue, ...] = (
            (Issue(path, issues),) if isinstance(issues, str) else tuple(issues)
        )
        super().__init__(self.summary())

    def summary(self, limit: int = 20) -> str:
        """All issues, one per line, long lists ending with "... and N more"."""
        lines = [str(issue) for issue in self.issues[:limit]]
        if len(self.issues) > limit:
            lines.append(f"... and {len(self.issues) - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: its kind, its first problem, and all of them."""
        first = self.issues[0] if self.issues else Issue("", self.kind)
        return {
            "kind": self.kind,
            "message": first.message,
            "path": first.path,
            "issues": [issue.to_dict() for issue in self.issues],
        }


class DefinitionError(QuireError):
    """The report definition is malformed or does not fit the data source."""

    kind = "definition"


class ParameterError(QuireError):
    """A run parameter is missing, unknown or of the wrong type."""

    kind = "parameter"


class DataSourceError(QuireError):
    """The data source cannot be reached or read."""

    kind = "data_source"


class QueryTimeout(DataSourceError):
    """A query ran past its statement time limit."""

    kind = "timeout"


class RenderError(QuireError):
    """Typesetting or drawing a chart failed."""

    kind = "render"


class TypstFailed(RenderError):
    """A Typst compile failed; the message is Typst's own, as text (its error type does not
    cross processes)."""


class TypstWorkerEnded(TypstFailed):
    """The process that forks the compiles ended: the pool starts another for the next."""


class OutputError(QuireError):
    """The output cannot be written."""

    kind = "output"


class Cancelled(QuireError):
    """Raised at the next batch boundary after a run was cancelled."""

    kind = "cancelled"


class Superseded(QuireError):
    """A newer preview for the same designer arrived before this one was rendered."""

    kind = "superseded"


class MemoryLimitExceeded(QuireError):
    """The run's memory limit was reached; it stopped instead of exhausting the machine."""

    kind = "memory"


class TimeLimitExceeded(QuireError):
    """The run's wall-time limit was reached; it stopped and left no output."""

    kind = "time_limit"


class InternalError(QuireError):
    """A bug: something failed that the engine did not expect. The message names the
    exception's type; the traceback goes to the log, not to the user."""

    kind = "internal"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or listing the few there are."""
    options = sorted(set(candidates))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if options and len(options) <= 8:
        return "expected one of: " + ", ".join(options)
    return ""


def excerpt_around(text: str, position: int, width: int = 30) -> str:
    """At most `width` characters of `text` around `position`, "…" marking what was cut."""
    start = max(0, min(position - width // 3, len(text) - width))
    end = min(len(text), start + width)
    piece = " ".join(text[start:end].split("\n"))
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")
