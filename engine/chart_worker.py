"""vl-convert draws charts in a helper process, so a crash in its native code ends a chart,
not the process that serves every report.

vl-convert is Rust: on some inputs it panics and aborts its whole process (a control
character in any text of a chart did, SIGABRT). One helper process per Quire process draws
every chart; it is started on first use, kept warm (its first drawing costs about a
second: the JavaScript engine starts and the fonts are registered) and started again when
it has died. Drawings are one at a time, as vl-convert draws them in one process anyway.

Run as a script (`python -I engine/chart_worker.py FONT_DIR`), the helper reads one JSON
spec a line on stdin and answers a line of JSON each, `{"svg": ...}` or `{"error": ...}`,
until stdin closes. This module imports only the standard library, and vl-convert in
the helper: the caller never loads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ("DRAW_TIMEOUT_S", "ChartDrawer", "ChartEngineFailed")

DRAW_TIMEOUT_S = 60.0  # one chart; a bounded chart draws in well under a second


class ChartEngineFailed(Exception):
    """The chart engine refused a spec, crashed drawing it, or took too long."""


class ChartDrawer:
    """The helper process that draws Vega-Lite specs as SVG; safe to use from any thread."""

    def __init__(self, font_dir: Path, timeout_s: float = DRAW_TIMEOUT_S) -> None:
        self.font_dir = font_dir
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the helper (if it is not running) and let it draw its first chart."""
        with self._lock:
            self._running()

    def draw(self, spec: dict[str, Any]) -> str:
        """The SVG of a Vega-Lite spec.

        Raises:
            ChartEngineFailed: vl-convert refused the spec (its message), or its process
                died or hung while drawing it (then it is started again for the next).
        """
        line = json.dumps(spec, default=str, ensure_ascii=True).encode() + b"\n"
        with self._lock:
            process = self._running()
            answer = self._ask(process, line)
        if "error" in answer:
            raise ChartEngineFailed(str(answer["error"]))
        return str(answer["svg"])

    def pid(self) -> int | None:
        """The helper's process id, while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        process = subprocess.Popen(  # noqa: S603  # our own file, no user input
            [sys.executable, "-I", __file__, str(self.font_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # a panic's backtrace: the error says what failed
        )
        self._process = process
        self._ask(process, b'{"mark": "point", "data": {"values": []}}\n')  # warm it up
        return process

    def _ask(self, process: subprocess.Popen[bytes], line: bytes) -> dict[str, Any]:
        """Send one spec, read its answer; a helper that dies or hangs is ended."""
        assert process.stdin is not None
        assert process.stdout is not None
        watchdog = threading.Timer(self.timeout_s, process.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            process.stdin.write(line)
            process.stdin.flush()
            answer = process.stdout.readline()
        except OSError:  # the pipe broke: the helper is gone
            answer = b""
        finally:
            watchdog.cancel()
        if not answer:
            code = process.wait()
            self._process = None
            _close_pipes(process)
            why = "took too long" if code == -9 else f"crashed (exit status {code})"
            raise ChartEngineFailed(f"the chart engine {why} drawing this chart")
        result: dict[str, Any] = json.loads(answer)
        return result

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):  # a helper that died: its pipe is broken
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _close_pipes(process)


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _serve(font_dir: str, tasks: IO[str], answers: IO[str]) -> None:
    """The helper's loop: a spec a line in, an answer a line out."""
    import vl_convert as vlc

    vlc.register_font_directory(font_dir)
    for line in tasks:
        try:
            answer = {"svg": vlc.vegalite_to_svg(json.loads(line))}
        except Exception as error:  # vl-convert's errors, one kind for all; the helper goes on
            answer = {"error": _message(error)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def _message(error: Exception) -> str:
    """vl-convert's message without its JavaScript stack: "... failed: TypeError: ..."."""
    lines = [line.strip() for line in str(error).splitlines()]
    said = [line for line in lines if line and not line.startswith("at ")]
    return " ".join(said)[:300] or type(error).__name__


if __name__ == "__main__":
    # Answers go to a copy of stdout; whatever the engine itself prints goes to stderr, so
    # it cannot break a line of the protocol.
    _answers = open(os.dup(1), "w", encoding="ascii")  # noqa: SIM115 - open for the loop
    os.dup2(2, 1)
    _serve(sys.argv[1], sys.stdin, _answers)
