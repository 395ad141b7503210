"""The process a run executes in: one of the embedded run manager's pool.

A worker is started with the "forkserver" context, whose server process has imported the
engine once (`PRELOAD`), so a new worker starts warm in a few milliseconds and never
inherits the web server's threads. It reads messages from its pipe: `("run", key, job)`
starts a run through `engine.api.start_run`, `("pause" | "resume" | "cancel", key)`
controls it, `("stop",)` ends the worker. It writes `("ready", pid)` once, then
`("event", key, event)` for each of a run's events; the last event of a run is terminal.
Nothing here imports the web app: a task-queue worker could call `execute` the same way.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypedDict

__all__ = ("PRELOAD", "RunJob", "definition_hash", "execute", "manifest_extras", "serve")

log = logging.getLogger("quire.web.worker")

# Imported by the forkserver once, so that every worker forked from it starts warm.
PRELOAD = ["engine.api", "engine.pipeline", "engine.sinks", "engine.typst_writer", "web.run_worker"]

Send = Callable[[tuple[Any, ...]], None]


class RunJob(TypedDict):
    """What a worker needs to run a report: all plain data, so it can cross a pipe."""

    definition: str
    source: str
    params: dict[str, Any]
    format: str
    output_dir: str
    version: int | None


def serve(conn: Connection) -> None:
    """The worker's loop: run jobs and relay their events until told to stop."""
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    from engine.typst_worker import run_pool

    run_pool()  # its Typst process starts now, not in the first run
    runs: dict[int, Any] = {}
    send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        kind = message[0]
        if kind == "stop":
            for run in runs.values():
                run.cancel()
            return
        if kind == "run":
            _, key, job = message
            run = execute(key, job, send)
            if run is not None:
                runs[key] = run
        elif kind in ("pause", "resume", "cancel"):
            run = runs.get(message[1])
            if run is not None:
                _control(run, kind)
        for key in [k for k, r in runs.items() if r.status.finished]:
            del runs[key]


def _control(run: Any, action: str) -> None:
    """Pause, resume or cancel; a run its registry has not started yet is waited for
    (briefly), since only a running run can be paused."""
    deadline = time.monotonic() + 2.0
    while str(run.status) == "queued" and action != "cancel" and time.monotonic() < deadline:
        time.sleep(0.005)
    getattr(run, action)()


def execute(key: int, job: RunJob, send: Send) -> Any:
    """Start the run of `job`; each of its events goes to `send`. A job the engine refuses
    before it starts (bad parameters, a source that cannot be reached) is one `failed` event.
    Returns the engine's `Run`, or None when it did not start."""
    from engine import api
    from engine.errors import QuireError

    rows_by_phase: dict[str, int] = {}
    extras: dict[str, Any] = {}
    # The manifest's extras are gathered beside the run (Typst releases the GIL), not
    # after it: a small run's `done` would otherwise wait for them.
    gathering = threading.Thread(target=lambda: extras.update(manifest_extras(job)), daemon=True)
    gathering.start()

    def relay(event: dict[str, Any]) -> None:
        if event["type"] == "progress":
            rows_by_phase[event["phase"]] = event.get("rows_done") or 0
        elif event["type"] == "done":
            gathering.join(30.0)
            manifest = {**event["manifest"], **extras, "rows_by_phase": rows_by_phase}
            event = {**event, "manifest": manifest}
        send(("event", key, event))

    try:
        if "charts" in job["definition"]:  # a cheap look: a false hit costs one warm-up
            from engine.chart_render import warm_up

            warm_up()  # once per worker: later chart reports find it warm
        return api.start_run(
            job["definition"],
            job["source"],
            job["params"],
            formats=(job["format"],),
            output_dir=Path(job["output_dir"]),
            listener=relay,
        )
    except QuireError as error:
        failure = {"seq": 1, "type": "failed", "status": "failed", "error": error.to_dict()}
        send(("event", key, failure))
        return None


def manifest_extras(job: RunJob) -> dict[str, Any]:
    """What the engine's manifest leaves to its caller: the definition's version and hash,
    the parameters, the SQL sent, and the versions of Quire, Typst and the database server."""
    from engine import api

    extras: dict[str, Any] = {
        "definition": {
            "version": job["version"],
            "sha256": definition_hash(job["definition"]),
        },
        "parameters": job["params"],
        "format": job["format"],
        "versions": {"quire": _version("quire"), "typst": _version("typst")},
    }
    try:
        engine = api.open_source(job["source"])
        info = engine.dialect.server_version_info
        server = ".".join(str(part) for part in info) if info else None
        extras["versions"]["database"] = f"{engine.dialect.name} {server or ''}".strip()
        validated = api.validate(job["definition"], job["source"], job["params"])
        if validated.plan is not None:
            statement = validated.plan.ordered.compile(dialect=engine.dialect)
            extras["sql"] = str(statement)
    except Exception:  # the manifest is a record: a part it cannot get is left out
        log.exception("could not complete the manifest")
    return extras


def definition_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
