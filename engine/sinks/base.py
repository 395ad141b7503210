"""The sink protocol, and the temporary-file discipline every sink follows.

A sink receives band events in print order, batch by batch, and writes its output only
under a temporary name next to the target; `finish` renames it into place, `discard`
removes it. A failed or cancelled run therefore never leaves a file that looks finished.

A process killed in native code (a chart engine's panic, the OOM killer) discards
nothing: its temporary files stay. Their names carry the writing process's id
(`.report.pdf.p1234.k3j9x_2a.part`), so `sweep_leftovers` can remove them on the next run
into the same folder once that process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from engine.errors import OutputError
from engine.fill import BandEvent

__all__ = ("AtomicFile", "Sink", "TextFileSink", "sweep_leftovers", "write_atomically")

log = logging.getLogger("quire.engine")

# The temporary names AtomicFile gives (mkstemp: 8 random characters), with the writer's
# process id, or without it (files of older versions).
_TEMPORARY = re.compile(r"^\..+?(?:\.p(?P<pid>\d+))?\.[a-z0-9_]{8}\.part$")
LEFTOVER_AGE_S = 60.0  # a file of no known writer untouched this long is left over


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
                prefix=f".{target.name}.p{os.getpid()}.", suffix=".part", dir=target.parent
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


def sweep_leftovers(folder: Path, now: float | None = None) -> int:
    """Remove the temporary files of dead runs from `folder`; return how many.

    Only names of AtomicFile's own pattern are touched: a file whose writer process is
    gone, or, for a name without a process id, one untouched for `LEFTOVER_AGE_S`. The
    files of a run still writing (in this or another live process) are kept.
    """
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0  # no folder yet, or not readable: nothing of ours to sweep
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None:
            continue
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            pid = match["pid"]
            stale = (
                not _alive(int(pid))
                if pid is not None
                else now - entry.stat(follow_symlinks=False).st_mtime > LEFTOVER_AGE_S
            )
            if stale:
                os.unlink(entry.path)
                removed += 1
    if removed:
        log.info("removed %d leftover partial file(s) in %s", removed, folder)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or a number no process has
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
