"""One error hierarchy for the engine, so every caller can report problems the same way.

Each error carries structured issues (where, what, a hint) so a CLI can print one line
per problem and a designer can put each message next to the element it concerns.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = (
    "DataSourceError",
    "DefinitionError",
    "Issue",
    "OutputError",
    "ParameterError",
    "QuireError",
    "RenderError",
    "did_you_mean",
)


@dataclass(frozen=True)
class Issue:
    """One problem, located by a dotted path such as `bands.detail.elements[2].expression`."""

    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class QuireError(Exception):
    """Base of every error the engine raises on purpose."""

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


class DefinitionError(QuireError):
    """The report definition is malformed or does not fit the data source."""


class ParameterError(QuireError):
    """A run parameter is missing, unknown or of the wrong type."""


class DataSourceError(QuireError):
    """The data source cannot be reached or read."""


class RenderError(QuireError):
    """Typesetting failed."""


class OutputError(QuireError):
    """The output cannot be written."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or listing the few there are."""
    options = sorted(set(candidates))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if options and len(options) <= 8:
        return "expected one of: " + ", ".join(options)
    return ""
