"""Typst compiles in worker processes; the process that compiles is replaced every few tasks.

Run as a script (`python -I engine/typst_worker.py`), a worker reads one task a line on
stdin (JSON: the function's name and arguments) and answers one line on stdout, until
stdin closes.
Plain subprocesses rather than multiprocessing: a spawned multiprocessing worker imports
the caller's main module again, which a library cannot ask of every script using it.

Typst memoizes layout work across compiles in a process and keeps it for about its last
ten compiles: measured, RSS grows about 35 MB a 1,000-record segment, and typst-py offers
no way to evict it. So the worker compiles nothing itself: it imports typst and scans the
fonts once, then forks a child that answers a few tasks (one by default) and exits,
giving all that memory back, and forks the next. A fork costs about a millisecond;
starting a fresh interpreter with typst and its fonts cost 60 to 100 ms of CPU. The
worker relays each task to its child, so it notices a child that dies mid-task and
answers for it. Processes also keep the compiles clear of the GIL that the loader and
fill threads need. This module imports only the standard library, and typst where it
compiles: a process that only starts workers never loads typst (13 MB).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ("TypstFailed", "WorkerPool", "typst_fonts", "typst_message")

# glibc's malloc asks the kernel for huge pages (where it grants them on request): each
# compiling child touches its 100-200 MB afresh, a page fault every 4 KB. Measured at 100K
# rows: page faults 750K -> 270K, system time 2.2 -> 1.3 s, the run's CPU -7%. Settings
# the caller gave come after ours, so theirs win; other C libraries ignore the variable.
_MALLOC_TUNING = "glibc.malloc.hugetlb=1"
COMPILES_PER_CHILD = 1  # measured at 100K rows: 2 took the processes from 357 to 422 MB
FONT_DIR = Path(__file__).parent / "fonts"
_FONTS: list[Any] = []
_FONTS_LOCK = threading.Lock()


class TypstFailed(Exception):
    """A compile error, as text (Typst's own error type does not cross processes)."""


class _WorkerEnded(TypstFailed):
    """The worker process itself ended: its place gets a new one."""


class WorkerPool:
    """`size` worker processes, kept until `close` (each replaces its compiling child
    itself; one that ends is replaced when next needed). Safe to call from several
    threads at once."""

    def __init__(self, size: int, compiles_per_child: int = COMPILES_PER_CHILD) -> None:
        self._share = compiles_per_child
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        # Started now: each imports typst and scans the fonts (60-100 ms) on a core of
        # its own while the caller goes on reading rows.
        self._all = [_Worker(compiles_per_child) for _ in range(size)]
        for worker in self._all:
            self._idle.put(worker)
        self._lock = threading.Lock()

    def compile_pdf(self, folder: Path, inputs: dict[str, str], target: Path) -> None:
        """Typeset `folder/report.typ` to the PDF file `target`."""
        self._run("compile_pdf", str(folder), inputs, str(target))

    def compile_svg(self, folder: Path, inputs: dict[str, str]) -> list[str]:
        """Typeset `folder/report.typ`; one SVG a page."""
        pages: list[str] = self._run("compile_svg", str(folder), inputs)
        return pages

    def typeset_marked(
        self, folder: Path, inputs: dict[str, str], target: Path
    ) -> list[tuple[int, int, float]]:
        """Typeset to `target`; the record markers, as (record, page, y)."""
        found = self._run("typeset_marked", str(folder), inputs, str(target))
        return [(int(r), int(p), float(y)) for r, p, y in found]

    def serving_pid(self) -> int:
        """The process id of the child that answers (it changes every few tasks)."""
        return int(self._run("pid"))

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()

    def _run(self, name: str, *args: Any) -> Any:
        worker = self._idle.get()
        try:
            if worker is None:
                worker = _Worker(self._share)
                with self._lock:
                    self._all.append(worker)
            result = worker.call(name, args)
        except TypstFailed as error:
            if isinstance(error, _WorkerEnded):
                self._retire(worker)
                worker = None
            self._idle.put(worker)
            raise
        except BaseException:
            self._retire(worker)  # it may be half way through an answer
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
    def __init__(self, share: int) -> None:
        # This file run as a script, isolated (-I): nothing from the caller's folder or
        # environment can stand in for a module it imports (only typst and the stdlib).
        self.process = subprocess.Popen(  # noqa: S603  # our own file, no user input
            [sys.executable, "-I", str(Path(__file__).resolve()), str(share)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
            env={**os.environ, "GLIBC_TUNABLES": _tunables(os.environ.get("GLIBC_TUNABLES"))},
        )  # fmt: skip

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        stdin, stdout = self._pipes()
        try:
            stdin.write(json.dumps([name, list(args)]) + "\n")
            stdin.flush()
            line = stdout.readline()
        except OSError:
            line = ""
        if not line:
            code = self.process.poll()
            raise _WorkerEnded(f"the typesetting process ended (exit code {code})")
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


def _tunables(given: str | None) -> str:
    return f"{_MALLOC_TUNING}:{given}" if given else _MALLOC_TUNING


def _compile_pdf(folder: str, inputs: dict[str, str], target: str) -> None:
    """Typeset `folder/report.typ` to the PDF file `target`."""
    import typst

    try:
        pdf = typst.compile(
            str(Path(folder) / "report.typ"), root=folder, font_paths=typst_fonts(),
            ignore_system_fonts=True, sys_inputs=inputs, pdf_tags=False,
        )  # fmt: skip
    except typst.TypstError as error:
        raise TypstFailed(typst_message(error)) from None
    assert isinstance(pdf, bytes)
    Path(target).write_bytes(pdf)


def _compile_svg(folder: str, inputs: dict[str, str]) -> list[str]:
    import typst

    try:
        pages = typst.compile(
            str(Path(folder) / "report.typ"), root=folder, font_paths=typst_fonts(),
            ignore_system_fonts=True, sys_inputs=inputs, format="svg",
        )  # fmt: skip
    except typst.TypstError as error:
        raise TypstFailed(typst_message(error)) from None
    return [page.decode("utf-8") for page in ([pages] if isinstance(pages, bytes) else pages)]


def _typeset_marked(
    folder: str, inputs: dict[str, str], target: str
) -> list[tuple[int, int, float]]:
    """Typeset to `target` and read back the record markers: (record, page, y)."""
    import typst

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
    import typst

    with _FONTS_LOCK:
        if not _FONTS:
            _FONTS.append(typst.Fonts(include_system_fonts=False, font_paths=[str(FONT_DIR)]))
        return _FONTS[0]


def typst_message(error: Any) -> str:
    message = getattr(error, "message", None) or str(error)
    return re.sub(r"\s+", " ", str(message)).strip()


_TASKS: dict[str, Callable[..., Any]] = {
    "compile_pdf": _compile_pdf,
    "compile_svg": _compile_svg,
    "typeset_marked": _typeset_marked,
    "pid": os.getpid,
}


def _answer(tasks: IO[str], answers: IO[str], limit: int | None = None) -> None:
    """Answer up to `limit` tasks, a line each, until `tasks` closes."""
    for count, line in enumerate(tasks, start=1):
        name, args = json.loads(line)
        try:
            answer = {"result": _TASKS[name](*args)}
        except TypstFailed as error:
            answer = {"error": str(error)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
        if count == limit:
            return


class _Child:
    """A forked process that answers `share` tasks, then exits."""

    def __init__(self, share: int) -> None:
        tasks_in, tasks_out = os.pipe()
        answers_in, answers_out = os.pipe()
        sys.stdout.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the child: its own pipes only, never the worker's stdin/stdout
            os.close(tasks_out)
            os.close(answers_in)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            code = 0
            try:
                with open(tasks_in) as tasks, open(answers_out, "w") as answers:
                    _answer(tasks, answers, share)
            except BaseException:  # whatever it was, the worker reports it
                code = 1
            os._exit(code)
        os.close(tasks_in)
        os.close(answers_out)
        self.tasks = open(tasks_out, "w")  # noqa: SIM115  # closed in end()
        self.answers = open(answers_in)  # noqa: SIM115
        self.done = 0

    def ask(self, line: str) -> str | None:
        """The child's answer to one task; None if it died before answering."""
        self.done += 1
        try:
            self.tasks.write(line)
            self.tasks.flush()
            return self.answers.readline() or None
        except OSError:
            return None

    def end(self) -> int:
        """Let the child exit (or find it gone); its exit code."""
        for pipe in (self.tasks, self.answers):
            with contextlib.suppress(OSError):
                pipe.close()
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def _serve(share: int) -> None:
    """Relay tasks from stdin to a forked child, a new one every `share` tasks."""
    typst_fonts()  # scanned once, here: every child inherits them
    child: _Child | None = None
    for line in sys.stdin:
        if child is None or child.done >= share:
            if child is not None:
                child.end()
            child = _Child(share)
        answer = child.ask(line)
        if answer is None:  # it died: this task fails, the next one gets a new child
            code, child = child.end(), None
            failure = f"the typesetting process ended (exit code {code})"
            answer = json.dumps({"error": failure}) + "\n"
        sys.stdout.write(answer)
        sys.stdout.flush()
    if child is not None:
        child.end()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
