"""Typst compiles in worker processes, each process replaced after a few compiles.

Run as a script (`python -I engine/typst_worker.py`), a worker reads one task a line on
stdin (JSON: the function's name and arguments) and answers one line on stdout, until
stdin closes.
Plain subprocesses rather than multiprocessing: a spawned multiprocessing worker imports
the caller's main module again, which a library cannot ask of every script using it.

Typst memoizes layout work across compiles in a process and keeps it for about its last
ten compiles: measured, RSS grows about 45 MB a 1,000-record segment up to some 700 MB,
and typst-py offers no way to evict it. A worker that exits after a few compiles gives
all of it back, so memory stays flat however long the report; processes also keep the
compiles clear of the GIL the loader and fill threads need. This module imports only
typst, so a worker starts in about a tenth of a second.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import typst

__all__ = ("TypstFailed", "WorkerPool", "typst_fonts", "typst_message")

COMPILES_PER_WORKER = 2  # measured: 2 keeps a worker near 150 MB; 4 lets it reach 240 MB
FONT_DIR = Path(__file__).parent / "fonts"
_FONTS: list[Any] = []
_FONTS_LOCK = threading.Lock()


class TypstFailed(Exception):
    """A compile error, as text (Typst's own error type does not cross processes)."""


class WorkerPool:
    """Up to `size` worker processes, started when needed, each retired after
    COMPILES_PER_WORKER tasks. Safe to call from several threads at once."""

    def __init__(self, size: int) -> None:
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(size):
            self._idle.put(None)  # a free place; its process starts on first use
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def compile_pdf(self, folder: Path, inputs: dict[str, str], target: Path) -> None:
        """Typeset `folder/report.typ` to the PDF file `target`."""
        self._run("compile_pdf", str(folder), inputs, str(target))

    def typeset_marked(
        self, folder: Path, inputs: dict[str, str], target: Path
    ) -> list[tuple[int, int, float]]:
        """Typeset to `target`; the record markers, as (record, page, y)."""
        found = self._run("typeset_marked", str(folder), inputs, str(target))
        return [(int(r), int(p), float(y)) for r, p, y in found]

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()

    def _run(self, name: str, *args: Any) -> Any:
        worker = self._idle.get()
        try:
            if worker is None or worker.done >= COMPILES_PER_WORKER:
                self._retire(worker)
                worker = _Worker()
                with self._lock:
                    self._all.append(worker)
            result = worker.call(name, args)
        except BaseException:
            self._retire(worker)  # it may have died; its place gets a new one
            self._idle.put(None)
            raise
        self._idle.put(worker)
        return result

    def _retire(self, worker: _Worker | None) -> None:
        if worker is None:
            return
        worker.stop()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)


class _Worker:
    def __init__(self) -> None:
        # This file run as a script, isolated (-I): nothing from the caller's folder or
        # environment can stand in for a module it imports (only typst and the stdlib).
        self.process = subprocess.Popen(  # noqa: S603  # our own file, no user input
            [sys.executable, "-I", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )  # fmt: skip
        self.done = 0

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        stdin, stdout = self._pipes()
        try:
            stdin.write(json.dumps([name, list(args)]) + "\n")
            stdin.flush()
            line = stdout.readline()
        except OSError:
            line = ""
        self.done += 1
        if not line:
            raise TypstFailed(f"the typesetting process ended (exit code {self.process.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise TypstFailed(answer["error"])
        return answer["result"]

    def stop(self) -> None:
        """End the process: it exits when its stdin closes (or is killed after 10 s)."""
        stdin, stdout = self._pipes()
        try:
            stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        stdout.close()

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        return self.process.stdin, self.process.stdout


def _compile_pdf(folder: str, inputs: dict[str, str], target: str) -> None:
    """Typeset `folder/report.typ` to the PDF file `target`."""
    try:
        pdf = typst.compile(
            str(Path(folder) / "report.typ"), root=folder, font_paths=typst_fonts(),
            ignore_system_fonts=True, sys_inputs=inputs, pdf_tags=False,
        )  # fmt: skip
    except typst.TypstError as error:
        raise TypstFailed(typst_message(error)) from None
    assert isinstance(pdf, bytes)
    Path(target).write_bytes(pdf)


def _typeset_marked(
    folder: str, inputs: dict[str, str], target: str
) -> list[tuple[int, int, float]]:
    """Typeset to `target` and read back the record markers: (record, page, y)."""
    try:
        compiler = typst.Compiler(
            str(Path(folder) / "report.typ"), root=folder, font_paths=typst_fonts(),
            ignore_system_fonts=True, sys_inputs=inputs,
        )  # fmt: skip
        pdf = compiler.compile(pdf_tags=False)  # tags would not survive the join
        found = compiler.query("<quire-record>")
    except typst.TypstError as error:
        raise TypstFailed(typst_message(error)) from None
    assert isinstance(pdf, bytes)
    Path(target).write_bytes(pdf)
    return [
        (int(v[0]), int(v[1]), float(v[2])) for v in (item["value"] for item in json.loads(found))
    ]


def typst_fonts() -> Any:
    """The package's fonts, scanned once per process; system fonts are never used."""
    with _FONTS_LOCK:
        if not _FONTS:
            _FONTS.append(typst.Fonts(include_system_fonts=False, font_paths=[str(FONT_DIR)]))
        return _FONTS[0]


def typst_message(error: Any) -> str:
    message = getattr(error, "message", None) or str(error)
    return re.sub(r"\s+", " ", str(message)).strip()


_TASKS: dict[str, Callable[..., Any]] = {
    "compile_pdf": _compile_pdf,
    "typeset_marked": _typeset_marked,
}


def _serve() -> None:
    """Answer tasks from stdin until it closes."""
    for line in sys.stdin:
        name, args = json.loads(line)
        try:
            answer = {"result": _TASKS[name](*args)}
        except TypstFailed as error:
            answer = {"error": str(error)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
