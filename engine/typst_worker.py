"""Typst compiles in forked processes; the process that compiles is replaced every few tasks.

Run as a script (`python -I engine/typst_worker.py`), the forking process reads tasks on
stdin, a line each (a number, then JSON: the function's name and arguments), and writes
each answer on stdout as it comes, a line after the task's number, until stdin closes.
Plain subprocesses rather than multiprocessing: a spawned multiprocessing worker imports
the caller's main module again, which a library cannot ask of every script using it.

Typst memoizes layout work across compiles in a process and keeps it for about its last
ten compiles: measured, RSS grows about 35 MB a 1,000-record segment, and typst-py offers
no way to evict it. So the forking process compiles nothing itself: it imports typst and
scans the fonts once, then forks a child for a task, which answers a few tasks (one by
default) and exits, giving all that memory back. A fork costs about a millisecond;
starting a fresh interpreter with typst and its fonts cost 60 to 100 ms of CPU. One
forking process serves every task a pool runs at once (two children compile side by
side): a second would hold typst and the fonts again, 43 MB, most of it counted again in
each child it forks. It relays every task and answer, so it notices a child that dies
mid-task and answers for it. Processes also keep the compiles clear of the GIL that the
loader and fill threads need. This module imports only the standard library, its error
classes from `engine.errors`, and typst where it compiles: a process that only starts
compiles never loads typst (13 MB).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, Literal

# The one engine import: a module of the standard library's weight, so the forking process
# stays light (this file also runs as a script, `python -I`, where `engine` is installed).
from engine.errors import TypstFailed, TypstWorkerEnded

__all__ = (
    "TypstFailed",
    "WorkerPool",
    "compile_slot",
    "run_pool",
    "set_compile_budget",
    "typst_fonts",
    "typst_message",
)

# glibc's malloc asks the kernel for huge pages (where it grants them on request): each
# compiling child touches its 100-200 MB afresh, a page fault every 4 KB. Measured at 100K
# rows: page faults 750K -> 270K, system time 2.2 -> 1.3 s, the run's CPU -7%. Settings
# the caller gave come after ours, so theirs win; other C libraries ignore the variable.
_MALLOC_TUNING = "glibc.malloc.hugetlb=1"
# Each marker's record number, page and position from the top (a float: a length would be
# printed to 0.01pt only), read from the typeset document: a marker asks for nothing.
_MARKERS = (
    "query(<quire-record>).map(m => "
    "(m.value, m.location().page(), m.location().position().y / 1pt))"
)
COMPILES_PER_CHILD = 1  # measured at 100K rows: 2 took the processes from 357 to 422 MB
FONT_DIR = Path(__file__).parent / "fonts"
_FONTS: list[Any] = []
_FONTS_LOCK = threading.Lock()


class _Budget:
    """How many Typst compiles this process runs at once, across every run and preview:
    each compile holds one slot, and waits for nothing else while it holds it (so no
    two compiles can deadlock on the budget, whatever its size)."""

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._size: int | None = None  # read from the environment when first needed
        self._used = 0

    def set(self, size: int | None) -> None:
        if size is not None and size < 1:
            raise ValueError(f"the compile budget must be 1 or more, not {size}")
        with self._free:
            self._size = size
            self._free.notify_all()

    @property
    def size(self) -> int:
        if self._size is None:
            self._size = _budget_from_environment()
        return self._size

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._free:
            self._free.wait_for(lambda: self._used < self.size)
            self._used += 1
        try:
            yield
        finally:
            with self._free:
                self._used -= 1
                self._free.notify()


def _budget_from_environment() -> int:
    given = os.environ.get("QUIRE_COMPILES", "").strip()
    if not given:
        return os.cpu_count() or 1
    if not given.isdigit() or int(given) < 1:
        raise ValueError(f"QUIRE_COMPILES must be a whole number of 1 or more, not '{given}'")
    return int(given)


_BUDGET = _Budget()


def set_compile_budget(size: int | None) -> None:
    """Let at most `size` Typst compiles of this process run at once; None: the
    default, QUIRE_COMPILES from the environment or else the number of cores."""
    _BUDGET.set(size)


def compile_slot() -> contextlib.AbstractContextManager[None]:
    """Hold one place of the process's compile budget while compiling (waits for one)."""
    return _BUDGET.slot()


class WorkerPool:
    """Compiles up to `size` tasks at once, each in a child of one forking process, kept
    until `close` (one that ends is replaced when next needed). Safe to call from several
    threads at once."""

    def __init__(self, size: int, compiles_per_child: int = COMPILES_PER_CHILD) -> None:
        self._share = compiles_per_child
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        # Started now: it imports typst and scans the fonts (60-100 ms) on a core of its
        # own while the caller goes on reading rows.
        self._forker: _Forker | None = _Forker(compiles_per_child)

    def compile_pdf(self, folder: Path, inputs: dict[str, str], target: Path) -> None:
        """Typeset `folder/report.typ` to the PDF file `target`."""
        self._run("compile_pdf", str(folder), inputs, str(target))

    def compile_pages(
        self, folder: Path, inputs: dict[str, str], fmt: Literal["pdf", "png", "svg"], tags: bool
    ) -> list[Path]:
        """Typeset `folder/report.typ` to `fmt` ("pdf": one file; "png", "svg": one a page),
        written into `folder`; the files, in order. `tags`: a tagged (accessible) PDF."""
        names: list[str] = self._run("compile_pages", str(folder), inputs, fmt, tags)
        return [folder / name for name in names]

    def compile_svg(self, folder: Path, inputs: dict[str, str]) -> list[str]:
        """Typeset `folder/report.typ`; one SVG a page."""
        pages: list[str] = self._run("compile_svg", str(folder), inputs)
        return pages

    def compile_preview(
        self, folder: Path, inputs: dict[str, str], pages: int, ppi: float
    ) -> tuple[list[str], bytes]:
        """Typeset `folder/report.typ` once: its first `pages` pages as SVG, and page 1 as
        a PNG at `ppi` (a second export of the same layout, which Typst has memoized)."""
        svgs, png = self._run("compile_preview", str(folder), inputs, pages, ppi)
        return svgs, base64.b64decode(png)

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
            forker, self._forker = self._forker, None
        if forker is not None:
            forker.stop()

    def _run(self, name: str, *args: Any) -> Any:
        with self._slots, compile_slot():
            with self._lock:
                if self._forker is None or self._forker.ended:
                    if self._forker is not None:
                        self._forker.stop()
                    self._forker = _Forker(self._share)
                forker = self._forker
            return forker.call(name, args)


_RUN_POOLS: dict[int, WorkerPool] = {}  # by process id: a forked child starts its own
_RUN_POOLS_LOCK = threading.Lock()


def run_pool() -> WorkerPool:
    """The pool every run of this process shares, kept for the process's life: a run then
    pays nothing to start its forking process (importing typst, scanning the fonts), which
    is most of a small report's fixed cost in a warm server. Its size is not a limit of its
    own: the process's compile budget bounds it."""
    with _RUN_POOLS_LOCK:
        pid = os.getpid()
        if pid not in _RUN_POOLS:
            _RUN_POOLS.clear()  # a parent's pool, inherited by a fork: its pipes are not ours
            _RUN_POOLS[pid] = WorkerPool(_UNBOUNDED)
        return _RUN_POOLS[pid]


_UNBOUNDED = 1 << 16  # for the shared pool: the compile budget is what bounds it


class _Forker:
    """The forking process, seen from the caller: tasks go out on its stdin, each with a
    number, and a thread routes the answers that come back on its stdout, in any order,
    to the callers waiting for them."""

    def __init__(self, share: int) -> None:
        # This file run as a script, isolated (-I): nothing from the caller's folder or
        # environment can stand in for a module it imports (only typst and the stdlib).
        self.process = subprocess.Popen(  # noqa: S603  # our own file, no user input
            [sys.executable, "-I", str(Path(__file__).resolve()), str(share)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
            env={**os.environ, "GLIBC_TUNABLES": _tunables(os.environ.get("GLIBC_TUNABLES"))},
        )  # fmt: skip
        self.ended = False
        self._numbers = itertools.count()
        self._waiting: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()  # over `ended` and `_waiting`
        self._writing = threading.Lock()  # one task line at a time
        self._reader = threading.Thread(target=self._route, name="quire-typst", daemon=True)
        self._reader.start()

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        answer: Future[Any] = Future()
        stdin, _ = self._pipes()
        with self._lock:
            if self.ended:
                raise TypstWorkerEnded(self._ended_message())
            number = str(next(self._numbers))
            self._waiting[number] = answer
        with self._writing:
            try:
                stdin.write(f"{number} {json.dumps([name, list(args)])}\n")
                stdin.flush()
            except (OSError, ValueError):  # it ended (or was stopped): this task fails
                pass  # in the thread reading the answers, as the process's end is seen
        return answer.result()

    def stop(self) -> None:
        """End the process: it exits when its stdin closes (or is killed after 10 s)."""
        stdin, _ = self._pipes()
        try:
            with self._writing:
                stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self._reader.join()

    def _route(self) -> None:
        _, stdout = self._pipes()
        for line in stdout:
            number, _, text = line.partition(" ")
            with self._lock:
                answer = self._waiting.pop(number)
            result = json.loads(text)
            if "error" in result:
                answer.set_exception(TypstFailed(result["error"]))
            else:
                answer.set_result(result["result"])
        stdout.close()
        self.process.wait()
        with self._lock:
            self.ended = True
            waiting, self._waiting = self._waiting, {}
        for answer in waiting.values():
            answer.set_exception(TypstWorkerEnded(self._ended_message()))

    def _ended_message(self) -> str:
        return f"the typesetting process ended (exit code {self.process.poll()})"

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


def _compile_pages(
    folder: str, inputs: dict[str, str], fmt: Literal["pdf", "png", "svg"], tags: bool
) -> list[str]:
    """Typeset to files `output-NNNN.fmt` in `folder`; their names (files, not answers: a
    PDF of megabytes would otherwise cross the pipe as JSON)."""
    import typst

    try:
        result = typst.compile(
            str(Path(folder) / "report.typ"), root=folder, font_paths=typst_fonts(),
            ignore_system_fonts=True, sys_inputs=inputs, format=fmt,
            ppi=144.0 if fmt == "png" else None, pdf_tags=tags,
        )  # fmt: skip
    except typst.TypstError as error:
        raise TypstFailed(typst_message(error)) from None
    names = []
    for number, data in enumerate([result] if isinstance(result, bytes) else result, start=1):
        names.append(f"output-{number:05d}.{fmt}")
        (Path(folder) / names[-1]).write_bytes(data)
    return names


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


def _compile_preview(
    folder: str, inputs: dict[str, str], pages: int, ppi: float
) -> tuple[list[str], str]:
    """The first `pages` SVG pages, and page 1 as PNG (base64: answers are JSON lines)."""
    import typst

    try:
        compiler = typst.Compiler(
            str(Path(folder) / "report.typ"), root=folder, font_paths=typst_fonts(),
            ignore_system_fonts=True, sys_inputs=inputs,
        )  # fmt: skip
        svgs = compiler.compile(format="svg")
        pngs = compiler.compile(format="png", ppi=ppi)
    except typst.TypstError as error:
        raise TypstFailed(typst_message(error)) from None
    svgs = [svgs] if isinstance(svgs, bytes) else svgs or []
    pngs = [pngs] if isinstance(pngs, bytes) else pngs or []
    first = base64.b64encode(pngs[0]).decode("ascii")
    return [page.decode("utf-8") for page in svgs[:pages]], first


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
        found = compiler.eval(_MARKERS)
    except typst.TypstError as error:
        raise TypstFailed(typst_message(error)) from None
    assert isinstance(pdf, bytes)
    Path(target).write_bytes(pdf)
    return [(int(r), int(p), float(y)) for r, p, y in json.loads(found)]


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
    "compile_pages": _compile_pages,
    "compile_svg": _compile_svg,
    "compile_preview": _compile_preview,
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
    """A forked process that answers `share` tasks, a line each, then exits."""

    def __init__(self, share: int, others: list[int]) -> None:
        tasks_in, tasks_out = os.pipe()
        answers_in, answers_out = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: its own pipes only, none of the forker's
            for fd in [tasks_out, answers_in, *others]:
                os.close(fd)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            code = 0
            try:
                with open(tasks_in) as tasks, open(answers_out, "w") as answers:
                    _answer(tasks, answers, share)
            except BaseException:  # whatever it was, the forker reports it
                code = 1
            os._exit(code)
        os.close(tasks_in)
        os.close(answers_out)
        self.tasks = tasks_out
        self.answers = _Lines(answers_in)
        self.left = share
        self.number = ""  # the task it answers now

    def ask(self, number: str, task: bytes) -> bool:
        """Hand the child a task; False if it is gone."""
        self.number = number
        self.left -= 1
        try:
            _write_all(self.tasks, task)
        except OSError:
            return False
        return True

    def end(self) -> int:
        """Let the child exit (or find it gone); its exit code."""
        for fd in (self.tasks, self.answers.fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


class _Lines:
    """Whole lines from a file descriptor that `select` says can be read."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._part = b""

    def read(self) -> list[bytes] | None:
        """The lines completed by what could be read now; None at the end."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        *lines, self._part = (self._part + chunk).split(b"\n")
        return [line + b"\n" for line in lines]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _serve(share: int) -> None:
    """Fork a child for each task read from stdin (or give it to an idle one with tasks
    of its share left); write each answer to stdout, after the task's number, as it
    comes. One process does this for every compile a pool runs at once: a second one
    would hold typst and the fonts again (43 MB)."""
    typst_fonts()  # scanned once, here: every child inherits them
    selector = selectors.DefaultSelector()
    tasks = _Lines(sys.stdin.fileno())
    selector.register(tasks.fd, selectors.EVENT_READ)
    idle: list[_Child] = []
    busy: set[_Child] = set()

    def answer(number: str, line: bytes) -> None:
        _write_all(sys.stdout.fileno(), number.encode() + b" " + line)

    def ended(child: _Child) -> None:
        failure = f"the typesetting process ended (exit code {child.end()})"
        answer(child.number, json.dumps({"error": failure}).encode() + b"\n")

    while True:
        for key, _ in selector.select():
            if key.fd == tasks.fd:
                lines = tasks.read()
                if lines is None:  # the pool closed: nothing more will be asked
                    for child in [*idle, *busy]:
                        with contextlib.suppress(ProcessLookupError):
                            if child in busy:
                                os.kill(child.pid, signal.SIGKILL)
                        child.end()
                    return
                for line in lines:
                    number, _, task = line.partition(b" ")
                    others = [fd for c in [*idle, *busy] for fd in (c.tasks, c.answers.fd)]
                    child = idle.pop() if idle else _Child(share, [tasks.fd, *others])
                    if not child.ask(number.decode(), task):
                        ended(child)
                        continue
                    busy.add(child)
                    selector.register(child.answers.fd, selectors.EVENT_READ, child)
                continue
            child = key.data
            done = child.answers.read()
            if done == []:
                continue  # the answer is not whole yet
            selector.unregister(child.answers.fd)
            busy.discard(child)
            if done is None:  # it died before answering
                ended(child)
                continue
            answer(child.number, done[0])
            if child.left > 0:
                idle.append(child)
            else:
                child.end()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
