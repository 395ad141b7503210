"""Partial files of a run that died are swept by the next run (issue 20, item 5).

A process that dies in native code (vl-convert's panic was SIGABRT) discards nothing: its
`.part` file stays next to the output. The next run into that folder removes the
temporary files of the engine's own pattern whose writer is gone (or, for names without
a writer, that are older than a minute), keeps everything else, and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.cli import main
from engine.sinks.base import LEFTOVER_AGE_S, AtomicFile, sweep_leftovers

REPORT = """
title: Leftovers
source: {table: items}
bands:
  detail:
    elements:
      - {type: field, expression: name}
"""


def _dead_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def _die_writing(target: Path) -> Path:
    """A process opens the output's temporary file, then aborts as a native crash does."""
    code = (
        "import os, sys; from pathlib import Path; from engine.sinks.base import AtomicFile\n"
        "out = AtomicFile(Path(sys.argv[1])); out.file.write(b'%PDF half'); out.file.flush()\n"
        "print(out.temporary, flush=True); os.abort()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == -6  # SIGABRT, as vl-convert's panic
    left = Path(done.stdout.strip())
    assert left.exists()
    return left


def test_only_the_engines_own_dead_partial_files_are_swept(tmp_path: Path) -> None:
    dead, now = _dead_pid(), time.time()
    names = {
        f".report.pdf.p{dead}.k3j9x_2a.part": False,  # its writer is gone
        f".report.pdf.p{os.getpid()}.ab12cd34.part": True,  # a run of this process, writing
        ".report.csv.ab12cd34.part": False,  # no writer named, untouched for long
        ".fresh.csv.zz12cd34.part": True,  # no writer named, written just now
        "report.part": True,  # not the engine's pattern
        f".report.pdf.p{dead}.short.part": True,
        "report.pdf": True,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    old = now - LEFTOVER_AGE_S - 5
    os.utime(tmp_path / ".report.csv.ab12cd34.part", (old, old))
    assert sweep_leftovers(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n, kept in names.items() if kept
    )
    assert sweep_leftovers(tmp_path / "missing") == 0


def test_a_live_writer_keeps_its_file_and_names_itself(tmp_path: Path) -> None:
    out = AtomicFile(tmp_path / "report.pdf")
    assert out.temporary.name.startswith(f".report.pdf.p{os.getpid()}.")
    assert sweep_leftovers(tmp_path) == 0
    out.file.write(b"done")  # type: ignore[arg-type]
    assert out.commit().read_bytes() == b"done"


@pytest.mark.parametrize("fmt", ["pdf", "csv"])
def test_the_next_run_removes_what_a_crashed_run_left_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    url = f"sqlite:///{tmp_path / 'items.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        connection.exec_driver_sql("INSERT INTO items VALUES (1, 'a'), (2, 'b')")
    engine.dispose()
    (tmp_path / "report.yaml").write_text(REPORT, encoding="utf-8")
    out = tmp_path / "out" / f"report.{fmt}"
    left = _die_writing(out)
    code = main(["render", str(tmp_path / "report.yaml"), "--source", url, "--format", fmt,
                 "-o", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "removed 1 leftover partial file\n" in printed
    assert not left.exists()
    assert [p.name for p in out.parent.iterdir()] == [out.name]
