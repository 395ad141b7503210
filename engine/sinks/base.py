"""The sink protocol, and the temporary-file discipline every sink follows.

A sink receives band events in print order, batch by batch, and writes its output only
under a temporary name next to the target; `finish` renames it into place, `discard`
removes it. A failed or cancelled run therefore never leaves a file that looks finished.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from engine.errors import OutputError
from engine.fill import BandEvent

__all__ = ("AtomicFile", "Sink", "TextFileSink", "write_atomically")


class Sink(Protocol):
    """Consumes band events; produces files only when the whole run succeeded."""

    def write(self, events: Sequence[BandEvent]) -> None:
        """Take the next events, in print order."""

    def finish(self) -> list[Path]:
        """Complete the output, move it into place, return the paths written."""

    def discard(self) -> None:
        """Drop everything written so far; the target is left as it was."""


class AtomicFile:
    """A file written under a temporary name in the target's folder, renamed on commit."""

    def __init__(self, target: Path, mode: str = "wb") -> None:
        self.target = target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".part", dir=target.parent
            )
        except OSError as error:
            raise OutputError(f"cannot write '{target}': {error.strerror}", "output") from None
        self.temporary = Path(name)
        encoding = None if "b" in mode else "utf-8"
        newline = None if "b" in mode else ""
        self.file: IO[str] | IO[bytes] = os.fdopen(fd, mode, encoding=encoding, newline=newline)

    def commit(self) -> Path:
        """Close, give the file ordinary permissions, and rename it over the target."""
        self.file.close()
        try:
            os.chmod(self.temporary, 0o666 & ~_umask())  # mkstemp creates 0600
            os.replace(self.temporary, self.target)
        except OSError as error:
            self.discard()
            raise OutputError(f"cannot write '{self.target}': {error.strerror}", "output") from None
        return self.target

    def discard(self) -> None:
        self.file.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


class TextFileSink:
    """A sink that streams one text file: opened on first use with `head()`, completed
    with `tail()` and renamed into place by `finish`, removed by `discard`."""

    output: Path
    _out: AtomicFile | None = None

    def head(self) -> str:
        return ""

    def tail(self) -> str:
        return ""

    def file(self) -> IO[str]:
        """The temporary file, opened (and headed) on first use."""
        if self._out is None:
            self._out = AtomicFile(self.output, "w")
            text: IO[str] = self._out.file  # type: ignore[assignment]  # opened in text mode
            text.write(self.head())
        return self._out.file  # type: ignore[return-value]

    def finish(self) -> list[Path]:
        self.file().write(self.tail())
        assert self._out is not None
        return [self._out.commit()]

    def discard(self) -> None:
        if self._out is not None:
            self._out.discard()


def write_atomically(target: Path, data: bytes) -> Path:
    """Write bytes to `target` through a temporary file."""
    with AtomicFile(target) as out:
        out.file.write(data)  # type: ignore[arg-type]
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
