"""Phase work: which files are pending for a phase, what earlier phases stored for them, and
storing a phase's results (and a video's frames) in batches."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

from photoanalyzer.catalog import people, regions
from photoanalyzer.catalog import text as text_rows
from photoanalyzer.catalog.regions import PEOPLE_KEY
from photoanalyzer.catalog.schema import (
    CURRENT_RESULT,
    PATH,
    RESULT_TABLES,
    from_sql,
    message_text,
    path_param,
    table_columns,
    to_sql,
    transaction,
)

# The content phase decides which frames of a video are analyzed: its result replaces the
# video's frame rows, so the ML results of an earlier set of frames never sit beside new
# frames. Later phases fill in their own columns of those rows, so new rows leave them
# pending for the video again (RESULT_TABLES is in run order).
FRAME_OWNER = "content"
FRAME_FILLERS = tuple(RESULT_TABLES)[tuple(RESULT_TABLES).index(FRAME_OWNER) + 1 :]
# Record keys that are not columns of the phase's table.
_SIDE_KEYS = frozenset({"frames", "faces", PEOPLE_KEY})
# Rows a phase's result keeps beside its table, written in the same transaction as the
# result so that they are never older than its other fields: the metadata phase's face
# regions and PersonInImage names (its record's PEOPLE_KEY; regions.py), the faces phase's
# one row per face (people.py), the text phase's lines and search index (text.py).
DERIVED_WRITERS = {
    "metadata": regions.write_derived,
    "faces": people.write_derived,
    "text": text_rows.write_derived,
}
# What the places phase derives from: the metadata phase's position and capture time.
METADATA_FACTS = (
    "gps_lat",
    "gps_lon",
    "gps_alt",
    "taken_at",
    "taken_at_offset",
    "taken_at_utc",
    "taken_at_offset_source",
)


# A failure that is not plainly the file's (out of memory, an I/O error while reading it)
# leaves the file pending; when it happens in this many runs in a row on the unchanged file
# (same phase version), it becomes the file's final error (docs/cron.md).
MAX_TRIES = 3


class PendingFile(NamedTuple):
    file_id: int
    path: str
    kind: str  # as the scan decided: "photo" or "video"


class ResultRow(NamedTuple):
    """One file's result from a phase: its fields (possibly partial) and/or an error."""

    file_id: int
    record: dict[str, Any] | None
    error: str | None
    # False: not the file's fault (the disk went away, permissions): whatever was stored
    # stays, and the file stays pending.
    final: bool = True
    # For a non-final error that happened while reading this file (out of memory, an I/O
    # error): the error it becomes after MAX_TRIES runs in a row. None: retried until fixed
    # (a missing decoder, a phase that cannot run).
    final_error: str | None = None


class RecordMismatch(ValueError):
    """A phase produced a record whose keys are not its table's columns: a programming
    error, raised rather than dropping the extra keys or storing NULL for missing ones."""


class Results:
    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._columns = {phase: table_columns(db, table) for phase, table in RESULT_TABLES.items()}
        self._frame_columns = set(table_columns(db, "video_frames"))

    def columns(self, phase: str) -> list[str]:
        return list(self._columns[phase])

    def pending(
        self, phase: str, version: str, kinds: Iterable[str], paths: set[str], full: bool
    ) -> list[PendingFile]:
        """Files among `paths` of the given kinds with no result of this phase version (all of
        them when `full`), in path order."""
        kinds = sorted(kinds)
        marks = ",".join("?" * len(kinds))
        if full:
            sql = f"SELECT id, path, kind FROM files WHERE missing = 0 AND kind IN ({marks})"
            args: list[Any] = kinds
        else:
            sql = (
                "SELECT f.id, f.path, f.kind FROM files f LEFT JOIN phase_status s"
                " ON s.file_id = f.id AND s.phase = ? AND s.version = ?"
                f" WHERE f.missing = 0 AND f.kind IN ({marks}) AND s.file_id IS NULL"
            )
            args = [phase, version, *kinds]
        rows = self._db.execute(sql + " ORDER BY path", args)
        return [PendingFile(*row) for row in rows if row[1] in paths]

    def stored_inputs(self, file_ids: list[int]) -> dict[int, dict[str, Any]]:
        """What the metadata and content phases stored for these files, for a later phase:
        file id -> {"thumbnail", "width", "height", "frames": [(frame, seconds, thumbnail)],
        "metadata": {METADATA_FACTS} or None}. Only results that describe the file as it is
        now count: a file that changed since has lost its phase status, and its old rows are
        not handed on. "metadata" is None until the metadata phase has finished on the file;
        a file it finished on with an error gives what it stored, if anything."""
        found: dict[int, dict[str, Any]] = {}
        frames_now = CURRENT_RESULT.format(phase="content", file="v.file_id")
        facts = ", ".join(f"m.{column}" for column in METADATA_FACTS)
        for start in range(0, len(file_ids), 500):  # SQLite caps the number of parameters
            chunk = file_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            # Each phase's status joined once (not an EXISTS per use): this runs for every
            # pending file of a batch phase, 100,000 in a first run.
            for row in self._db.execute(
                "SELECT f.id, sc.version, sc.error, c.thumbnail, sm.version, sm.error,"
                f" m.width, m.height, {facts} FROM files f"
                " LEFT JOIN phase_status sc ON sc.file_id = f.id AND sc.phase = 'content'"
                " LEFT JOIN content c ON c.file_id = f.id"
                " LEFT JOIN phase_status sm ON sm.file_id = f.id AND sm.phase = 'metadata'"
                " LEFT JOIN metadata m ON m.file_id = f.id"
                f" WHERE f.id IN ({marks})",
                chunk,
            ):
                file_id, content_version, content_error, thumbnail = row[:4]
                metadata_version, metadata_error, width, height = row[4:8]
                content_now = bool(content_version) and content_error is None
                metadata_read = bool(metadata_version)
                metadata_now = metadata_read and metadata_error is None
                found[file_id] = {
                    "thumbnail": thumbnail if content_now else None,
                    "width": width if metadata_now else None,
                    "height": height if metadata_now else None,
                    "frames": [],
                    "metadata": (
                        dict(zip(METADATA_FACTS, row[8:], strict=True)) if metadata_read else None
                    ),
                }
            for file_id, frame, seconds, thumbnail in self._db.execute(
                "SELECT v.file_id, v.frame, v.timestamp, v.thumbnail FROM video_frames v"
                f" WHERE v.file_id IN ({marks}) AND {frames_now}"
                " ORDER BY v.file_id, v.frame",
                chunk,
            ):
                found[file_id]["frames"].append((frame, seconds, thumbnail))
        return found

    def save(self, run_id: int, phase: str, version: str, rows: list[ResultRow]) -> None:
        """Store one batch of results in one transaction: a crash keeps whole batches only."""
        table, columns = RESULT_TABLES[phase], self._columns[phase]
        upsert = (
            f"INSERT OR REPLACE INTO {table} (file_id, {', '.join(columns)})"
            f" VALUES (?{', ?' * len(columns)})"
        )
        # The results and statuses of the batch go in with one executemany each rather than a
        # statement per row: a quick phase (places) writes 100,000 rows in a first run.
        results, statuses, settled = [], [], []
        derived = DERIVED_WRITERS.get(phase)
        with transaction(self._db):
            counting = self._counting(phase)
            for row in rows:
                if not row.final:
                    if row.final_error is None or self._tries(phase, version, row) < MAX_TRIES:
                        self._save_retry(run_id, phase, row)
                        continue
                    row = row._replace(error=row.final_error, final=True)  # tries used up
                    counting = True
                settled.append((row.file_id, phase))
                if derived is not None:
                    derived(self._db, row.file_id, row.record)
                if row.record is None:
                    self._db.execute(f"DELETE FROM {table} WHERE file_id = ?", (row.file_id,))
                else:
                    self._check(phase, row.record)
                    if "frames" in row.record:
                        self._save_frames(row.file_id, row.record["frames"], phase)
                    results.append((row.file_id, *(to_sql(c, row.record[c]) for c in columns)))
                statuses.append((row.file_id, phase, version, message_text(row.error), run_id))
            self._db.executemany(upsert, results)
            self._db.executemany(
                "INSERT OR REPLACE INTO phase_status VALUES (?, ?, ?, ?, ?)", statuses
            )
            if counting:  # a result or a final error ends a file's count of failed runs
                self._db.executemany("DELETE FROM retries WHERE file_id = ? AND phase = ?", settled)

    def _check(self, phase: str, record: dict[str, Any]) -> None:
        keys, columns = set(record) - _SIDE_KEYS, set(self._columns[phase])
        if keys != columns:
            raise RecordMismatch(
                f"the {phase} phase's record does not match its table: unknown keys "
                f"{sorted(keys - columns)}, missing keys {sorted(columns - keys)}"
            )
        for frame in record.get("frames", []):
            unknown = set(frame) - self._frame_columns
            if unknown:
                raise RecordMismatch(f"the {phase} phase's frames have unknown keys {unknown}")

    def _counting(self, phase: str) -> bool:
        """Whether any file has failed runs counted for the phase (almost never: the
        batch then skips deleting counts that do not exist)."""
        found = self._db.execute("SELECT 1 FROM retries WHERE phase = ? LIMIT 1", (phase,))
        return found.fetchone() is not None

    def _tries(self, phase: str, version: str, row: ResultRow) -> int:
        """This run's failure counted: the runs in a row, this one included, in which the
        phase (of this version) failed on the unchanged file this way. A run is counted once
        per file (the phase stores each file once per run)."""
        (tries,) = self._db.execute(
            "INSERT INTO retries (file_id, phase, version, tries) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (file_id, phase) DO UPDATE SET"
            " tries = CASE WHEN version = excluded.version THEN tries + 1 ELSE 1 END,"
            " version = excluded.version"
            " RETURNING tries",
            (row.file_id, phase, version),
        ).fetchone()
        return tries

    def _save_retry(self, run_id: int, phase: str, row: ResultRow) -> None:
        """A failure that was not the file's fault (the disk went away, permissions):
        whatever was stored for the file stays as it was, so a `--full` run loses nothing.
        A file with no status yet gets the error under no version: it shows, and the file
        stays pending for the next run."""
        self._db.execute(
            "INSERT OR IGNORE INTO phase_status VALUES (?, ?, '', ?, ?)",
            (row.file_id, phase, message_text(row.error), run_id),
        )

    def _save_frames(self, file_id: int, frames: list[dict[str, Any]], phase: str) -> None:
        """A video's per-frame results. The frame owner's replace the video's frame rows;
        another phase's fill its own columns and leave the rest."""
        if phase == FRAME_OWNER:
            self._db.execute("DELETE FROM video_frames WHERE file_id = ?", (file_id,))
            self._forget_fillers(file_id)
        else:  # frames beyond this phase's count (a shorter video now) go
            self._db.execute(
                "DELETE FROM video_frames WHERE file_id = ? AND frame >= ?", (file_id, len(frames))
            )
        for frame in frames:
            columns = [c for c in frame if c != "frame"]
            self._db.execute(
                f"INSERT INTO video_frames (file_id, frame, {', '.join(columns)})"
                f" VALUES (?, ?{', ?' * len(columns)}) ON CONFLICT (file_id, frame) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in columns),
                (file_id, frame["frame"], *(to_sql(c, frame[c]) for c in columns)),
            )

    def _forget_fillers(self, file_id: int) -> None:
        """The new frame rows hold none of the later phases' columns, so their results for
        the video no longer stand: without a status they are pending for it again, even when
        their version did not change (a new blur threshold, a `--full` content run)."""
        marks = ",".join("?" * len(FRAME_FILLERS))
        self._db.execute(
            f"DELETE FROM phase_status WHERE file_id = ? AND phase IN ({marks})",
            (file_id, *FRAME_FILLERS),
        )

    def video_frames(self, path: str) -> list[dict[str, Any]]:
        """The analyzed frames of the video at `path`, in order."""
        cursor = self._db.execute(
            "SELECT v.* FROM video_frames v JOIN files f ON f.id = v.file_id"
            f" WHERE f.path = {PATH} ORDER BY v.frame",
            (path_param(path),),
        )
        names = [d[0] for d in cursor.description]
        return [{n: from_sql(n, v) for n, v in zip(names, row, strict=True)} for row in cursor]
