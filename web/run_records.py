"""The app database's record of runs, kept by whoever executes them, and their outputs.

A run's output lives in its own folder under `<data dir>/runs/<id>/`; a run that does not
end `done` leaves none. Finished runs are kept up to a count and an age, and removed with
their output. Runs a stopped server left active become `interrupted` on the next start.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine import api
from web.db import Database
from web.db.models import Run, utcnow

__all__ = ("ACTIVE", "RunStore")

log = logging.getLogger("quire.web.runs")

ACTIVE = ("queued", "running", "paused")
INTERRUPTED_MESSAGE = "the server stopped while this run was active; run it again"


class RunStore:
    """Where runs are recorded: the app database and the runs folder of the data dir."""

    def __init__(self, database: Database, runs_dir: Path, keep: int, keep_days: float) -> None:
        self.database = database
        self.runs_dir = runs_dir
        self.keep = keep
        self.keep_days = keep_days

    def output_dir(self, run_id: int) -> Path:
        return self.runs_dir / str(run_id)

    def record(self, run_id: int, status: str, event: dict[str, Any] | None) -> None:
        """A run's new status; with its terminal event, how it ended. Called by the manager."""
        try:
            with self.database.session() as session:
                run = session.get(Run, run_id)
                if run is None:
                    return  # deleted meanwhile
                run.status = status
                if status == "running" and run.started_at is None:
                    run.started_at = utcnow()
                if event is not None:
                    self._finish(run, event)
                session.commit()
        except sa.exc.SQLAlchemyError:
            log.exception("could not record run %s as %s", run_id, status)
            return
        if event is not None:
            if status != "done":
                shutil.rmtree(self.output_dir(run_id), ignore_errors=True)
            self.prune()

    def _finish(self, run: Run, event: dict[str, Any]) -> None:
        run.finished_at = utcnow()
        run.duration_s = event.get("elapsed_s")
        if event["type"] == "done":
            outputs = [Path(p) for p in event.get("outputs", [])]
            if outputs:  # PNG and SVG pages are files in a folder of the run's folder
                top = outputs[0]
                while top.parent != self.output_dir(run.id) and top.parent != top:
                    top = top.parent
                run.output_path = str(top)
            run.rows, run.pages = event.get("rows"), event.get("pages")
            run.bytes = sum(_size(p) for p in outputs)
            run.manifest = event.get("manifest")
            run.strategy = ((run.manifest or {}).get("load") or {}).get("strategy")
            _teach_estimates(run, event)
        elif event["type"] == "failed":
            run.error = event.get("error")
        elif event["type"] == "interrupted":
            run.error = _interrupted()

    def mark_interrupted(self) -> int:
        """Runs left active by a previous server process: interrupted, their outputs gone."""
        with self.database.session() as session:
            runs = session.scalars(sa.select(Run).where(Run.status.in_(ACTIVE))).all()
            for run in runs:
                run.status = "interrupted"
                run.finished_at = utcnow()
                run.error = _interrupted()
                shutil.rmtree(self.output_dir(run.id), ignore_errors=True)
            session.commit()
            return len(runs)

    def prune(self) -> None:
        """Remove finished runs past the count or the age limit, with their outputs."""
        cutoff = utcnow() - timedelta(days=self.keep_days)
        with self.database.session() as session:
            finished = sa.select(Run.id).where(Run.status.not_in(ACTIVE))
            kept = finished.order_by(Run.created_at.desc(), Run.id.desc()).limit(self.keep)
            old = session.scalars(
                finished.where(
                    sa.or_(Run.id.not_in(kept.scalar_subquery()), Run.created_at < cutoff)
                )
            ).all()
            for run_id in old:
                self.delete(session, run_id)
            session.commit()

    def delete(self, session: Any, run_id: int) -> None:
        """Remove a run's row (in `session`, committed by the caller) and its output."""
        session.execute(sa.delete(Run).where(Run.id == run_id))
        shutil.rmtree(self.output_dir(run_id), ignore_errors=True)


def _teach_estimates(run: Run, event: dict[str, Any]) -> None:
    """A finished PDF run's rates, for the run form's estimates here: runs execute in worker
    processes, whose own rates the server would never see."""
    timings = (run.manifest or {}).get("timings") or {}
    seconds = timings.get("total_s") or event.get("elapsed_s") or 0.0
    if run.format == "pdf" and run.rows and run.pages and run.bytes:
        api.record_rates(run.rows, run.pages, float(seconds), run.bytes)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _interrupted() -> dict[str, Any]:
    issue = {"path": "", "message": INTERRUPTED_MESSAGE, "hint": ""}
    return {"kind": "interrupted", "message": INTERRUPTED_MESSAGE, "path": "", "issues": [issue]}
