"""Run history: a run's start and end, what each phase did in it, runs that died, and the
recent runs that `status` shows."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from photoanalyzer.catalog.schema import message_text, now, transaction

_RUN_COLUMNS = (
    "id",
    "started_at",
    "ended_at",
    "status",
    "roots",
    "files_seen",
    "files_new",
    "files_changed",
    "files_missing",
    "files_moved",
    "files_unreachable",
    "scan_seconds",
)


@dataclass(frozen=True)
class PhaseRecord:
    """What one phase did in one run."""

    phase: str
    version: str
    processed: int
    errors: int
    seconds: float
    failure: str | None = None  # why the whole phase could not run
    details: dict | None = None  # backend, weights, stage times ...


class Runs:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def start(self, roots: list[str], phases: list[str]) -> int:
        with transaction(self._db):
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, status, roots, phases) VALUES (?, 'running', ?, ?)",
                (now(), json.dumps(roots), json.dumps(phases)),
            )
        return int(cursor.lastrowid)

    def record_phase(self, run_id: int, record: PhaseRecord) -> None:
        with transaction(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO run_phases VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    record.phase,
                    record.version,
                    record.processed,
                    record.errors,
                    record.seconds,
                    message_text(record.failure),
                    json.dumps(record.details) if record.details else None,
                ),
            )

    def mark_abandoned(self) -> int:
        """Runs still marked running belong to processes that died (kill -9, power loss):
        call only while holding the run lock. Their committed results are kept."""
        with transaction(self._db):
            cursor = self._db.execute("UPDATE runs SET status = 'crashed' WHERE status = 'running'")
        return cursor.rowcount

    def finish(self, run_id: int, status: str) -> None:
        with transaction(self._db):
            self._db.execute(
                "UPDATE runs SET ended_at = ?, status = ? WHERE id = ?", (now(), status, run_id)
            )

    def recent(self, limit: int = 5) -> list[dict[str, Any]]:
        """The last `limit` runs, newest first, each with its phases and scan-problem count."""
        runs = []
        for row in self._db.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        ):
            run = dict(zip(_RUN_COLUMNS, row, strict=True))
            run["roots"] = json.loads(run["roots"])
            run["phases"] = self._phases(run["id"])
            run["scan_problems"] = self._db.execute(
                "SELECT COUNT(*) FROM scan_problems WHERE run_id = ?", (run["id"],)
            ).fetchone()[0]
            runs.append(run)
        return runs

    def last_walk(self) -> dict[str, Any] | None:
        """The newest run that compared its walk with the catalog: its id, start, files it
        marked missing and files it could not check, with the folders those are below
        (path, message, count), largest first. None before any such run."""
        row = self._db.execute(
            "SELECT id, started_at, files_missing, files_unreachable FROM runs"
            " WHERE files_unreachable IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        run_id, started_at, missing, unreachable = row
        folders = [
            {"path": path, "message": message, "unchecked": unchecked}
            for path, message, unchecked in self._db.execute(
                "SELECT path, message, unchecked FROM scan_problems"
                " WHERE run_id = ? AND unchecked > 0 ORDER BY unchecked DESC, path",
                (run_id,),
            )
        ]
        return {
            "run_id": run_id,
            "started_at": started_at,
            "newly_missing": missing,
            "unreachable": unreachable,
            "unreachable_folders": folders,
        }

    def _phases(self, run_id: int) -> list[dict[str, Any]]:
        return [
            {
                "phase": p,
                "version": v,
                "processed": n,
                "errors": e,
                "seconds": s,
                "failure": f,
                "details": json.loads(d) if d else {},
            }
            for p, v, n, e, s, f, d in self._db.execute(
                "SELECT phase, version, processed, errors, seconds, failure, details"
                " FROM run_phases WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            )
        ]
