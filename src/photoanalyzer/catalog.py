"""The catalog: the only module that speaks SQL. Schema and numbered migrations, the
reconciliation of a folder walk with what is known, pending work per phase, batched result
writes, run history, and the queries behind export and status."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from photoanalyzer.errors import CatalogError
from photoanalyzer.phases.base import Outcome
from photoanalyzer.scan import FileEntry, ScanResult

# Migration N brings a catalog from schema version N-1 to N. Append only; never edit one
# that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        missing INTEGER NOT NULL DEFAULT 0,
        first_seen_run INTEGER NOT NULL,
        last_change_run INTEGER NOT NULL
    );
    -- One row per file and phase: the phase version that produced the result, and the error
    -- text when it failed. A file is pending for a phase while it has no row of the current
    -- version; a changed file loses its rows.
    CREATE TABLE phase_status (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        phase TEXT NOT NULL,
        version TEXT NOT NULL,
        error TEXT,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (file_id, phase)
    ) WITHOUT ROWID;
    CREATE TABLE metadata (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        file_type TEXT,
        width INTEGER,
        height INTEGER,
        orientation INTEGER,
        taken_at TEXT,
        subsec TEXT,
        make TEXT,
        model TEXT,
        lens TEXT,
        lens_make TEXT,
        exposure_time REAL,
        f_number REAL,
        iso INTEGER,
        focal_length REAL,
        focal_length_35mm INTEGER,
        gps_lat REAL,
        gps_lon REAL,
        gps_alt REAL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        roots TEXT NOT NULL,
        phases TEXT NOT NULL,
        files_seen INTEGER NOT NULL DEFAULT 0,
        files_new INTEGER NOT NULL DEFAULT 0,
        files_changed INTEGER NOT NULL DEFAULT 0,
        files_missing INTEGER NOT NULL DEFAULT 0,
        scan_seconds REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE run_phases (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        phase TEXT NOT NULL,
        version TEXT NOT NULL,
        processed INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        seconds REAL NOT NULL,
        PRIMARY KEY (run_id, phase)
    );
    CREATE TABLE scan_problems (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE content (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        thumbnail TEXT,
        sharpness REAL,
        tenengrad REAL,
        blurry INTEGER,
        brightness REAL,
        highlights_clipped REAL,
        shadows_crushed REAL,
        underexposed INTEGER,
        overexposed INTEGER,
        contrast REAL,
        colorfulness REAL,
        dominant_colors TEXT,
        phash TEXT,
        dhash TEXT
    );
    """,
    """
    CREATE TABLE ml (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        top_scene TEXT,
        scenes TEXT,
        objects TEXT,
        object_counts TEXT,
        ml_random_weights INTEGER,
        embedding BLOB
    );
    -- What a phase reports about a run as a whole: why it could not run, and its details
    -- (the ML backend and why faster ones were skipped, weights, batch size, GPU use).
    ALTER TABLE run_phases ADD COLUMN failure TEXT;
    ALTER TABLE run_phases ADD COLUMN details TEXT;
    """,
    """
    -- Rename and move detection: a file that reappears under a new path with the same
    -- fingerprint keeps its row, and so its results. full_hash is filled in only where two
    -- files share a fingerprint.
    ALTER TABLE files ADD COLUMN fingerprint TEXT;
    ALTER TABLE files ADD COLUMN full_hash TEXT;
    CREATE INDEX files_by_fingerprint ON files (fingerprint);
    ALTER TABLE runs ADD COLUMN files_moved INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Videos: the metadata phase reads them too.
    ALTER TABLE metadata ADD COLUMN duration REAL;
    ALTER TABLE metadata ADD COLUMN frame_rate REAL;
    ALTER TABLE metadata ADD COLUMN video_codec TEXT;
    ALTER TABLE metadata ADD COLUMN rotation INTEGER;
    ALTER TABLE metadata ADD COLUMN has_audio INTEGER;
    ALTER TABLE metadata ADD COLUMN bitrate INTEGER;
    """,
    """
    -- The frames of a video that the content and ML phases analyze, linked to the video's row
    -- (so they follow it through renames and go with it when it changes).
    CREATE TABLE video_frames (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        frame INTEGER NOT NULL,
        timestamp REAL NOT NULL,
        thumbnail TEXT,
        sharpness REAL,
        brightness REAL,
        colorfulness REAL,
        phash TEXT,
        top_scene TEXT,
        scenes TEXT,
        objects TEXT,
        embedding BLOB,
        PRIMARY KEY (file_id, frame)
    ) WITHOUT ROWID;
    """,
    """
    -- taken_at held naive local time for photos without an offset and an aware time for the
    -- rest, which neither means one thing nor sorts. Now: taken_at is always the naive local
    -- wall-clock time, the offset has its own column, and the UTC instant is derived where the
    -- offset is known. Existing rows are split here, so no row keeps the old meaning until the
    -- files are read again (metadata-2 re-reads them for the OffsetTime fallback).
    ALTER TABLE metadata ADD COLUMN taken_at_offset TEXT;
    ALTER TABLE metadata ADD COLUMN taken_at_utc TEXT;
    UPDATE metadata
        SET taken_at_offset = substr(taken_at, 20), taken_at = substr(taken_at, 1, 19)
        WHERE length(taken_at) = 25 AND substr(taken_at, 20, 1) IN ('+', '-');
    UPDATE metadata
        SET taken_at_utc = strftime('%Y-%m-%dT%H:%M:%SZ', taken_at || taken_at_offset)
        WHERE taken_at_offset IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Which table holds each phase's fields (keyed by file_id), in export order; the table's
# columns are the fields.
RESULT_TABLES = {"metadata": "metadata", "content": "content", "ml": "ml"}
# Columns stored as JSON text and as 0/1, given back as lists and booleans.
JSON_COLUMNS = frozenset({"dominant_colors", "scenes", "objects", "object_counts"})
BOOL_COLUMNS = frozenset(
    {"blurry", "underexposed", "overexposed", "ml_random_weights", "has_audio"}
)
# Stored but not exported: 512 float16 values a photo are for search, not for a CSV.
HIDDEN_COLUMNS = frozenset({"embedding"})
# A phase's stored result describes the file as it is now: the phase finished on it without
# an error since it last changed (a change deletes the file's phase status).
_CURRENT = (
    "EXISTS (SELECT 1 FROM phase_status p WHERE p.file_id = {file} AND p.phase = '{phase}'"
    " AND p.version != '' AND p.error IS NULL)"
)


@dataclass(frozen=True)
class SyncCounts:
    seen: int
    new: int
    changed: int
    missing: int
    moved: int = 0


@dataclass
class WalkDiff:
    seen: int
    new: list[FileEntry] = field(default_factory=list)
    changed: list[tuple[int, FileEntry]] = field(default_factory=list)  # (file id, entry)
    returned: list[int] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)


@dataclass
class SyncPlan:
    """What reconcile worked out from file contents: fingerprints of new and changed files,
    moves (known row -> new path), and full hashes where fingerprints collide."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    moves: list[tuple[int, FileEntry]] = field(default_factory=list)
    full_hashes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FingerprintRow:
    file_id: int
    path: str
    size: int
    fingerprint: str
    full_hash: str | None
    missing: bool


@dataclass(frozen=True)
class PendingFile:
    file_id: int
    path: str
    kind: str  # as the scan decided: "photo" or "video"


class Catalog:
    """An open catalog file, migrated on opening. Catalog(path) creates it where it does not
    exist (what `run` wants); Catalog(path, create=False) refuses, so that a mistyped --db
    given to a reading command is an error, not a new empty catalog."""

    def __init__(self, path: Path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise CatalogError(f"no catalog at {self.path}: run `photoanalyze run FOLDER` first")
        try:
            self._db = self._connect(create)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL keeps this crash-safe
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(
                f"cannot open the catalog {self.path}: {exc}; choose a writable location with"
                " --db or PHOTOANALYZER_DB"
            ) from exc
        self._columns = {
            phase: [c for c in self._table_columns(table) if c != "file_id"]
            for phase, table in RESULT_TABLES.items()
        }

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(self.path, isolation_level=None, timeout=30)
        # mode=rw never creates the file, even if it vanished since the check above.
        uri = f"{self.path.absolute().as_uri()}?mode=rw"
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog {self.path} has schema version {current}, newer than this "
                f"program knows ({SCHEMA_VERSION}); upgrade photoanalyzer"
            )
        for number in range(current + 1, SCHEMA_VERSION + 1):
            # One transaction per migration: a catalog is always at some whole version.
            self._db.executescript(
                f"BEGIN; {MIGRATIONS[number - 1]}; PRAGMA user_version = {number}; COMMIT;"
            )

    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _table_columns(self, table: str) -> list[str]:
        return [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, roots: list[str], phases: list[str]) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, status, roots, phases) VALUES (?, 'running', ?, ?)",
                (_now(), json.dumps(roots), json.dumps(phases)),
            )
        return int(cursor.lastrowid)

    def finish_phase(
        self,
        run_id: int,
        phase: str,
        version: str,
        processed: int,
        errors: int,
        seconds: float,
        failure: str | None = None,
        details: dict | None = None,
    ) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO run_phases VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    phase,
                    version,
                    processed,
                    errors,
                    seconds,
                    failure,
                    json.dumps(details) if details else None,
                ),
            )

    def mark_abandoned_runs(self) -> int:
        """Runs still marked running belong to processes that died (kill -9, power loss):
        call only while holding the run lock. Their committed results are kept."""
        with self._transaction():
            cursor = self._db.execute("UPDATE runs SET status = 'crashed' WHERE status = 'running'")
        return cursor.rowcount

    def finish_run(self, run_id: int, status: str) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET ended_at = ?, status = ? WHERE id = ?", (_now(), status, run_id)
            )

    # -- reconciling a walk ----------------------------------------------------------------

    def compare_walk(self, roots: list[str], scan: ScanResult) -> WalkDiff:
        """What a walk of `roots` changes, without writing: new files, changed ones (size or
        mtime differ), returned ones, and gone ones (not seen, and not below a folder the walk
        could not read)."""
        known = self._known_under(roots)
        diff = WalkDiff(seen=len(scan.files))
        seen_paths = set()
        for entry in scan.files:
            seen_paths.add(entry.path)
            row = known.get(entry.path)
            if row is None:
                diff.new.append(entry)
            elif (row[1], row[2]) != (entry.size, entry.mtime_ns):
                diff.changed.append((row[0], entry))
            elif row[3]:
                diff.returned.append(row[0])
        blocked = tuple(folder.rstrip("/") + "/" for folder in scan.incomplete)
        diff.gone = [
            row[0]
            for path, row in known.items()
            if not row[3]
            and path not in seen_paths
            and not path.startswith(blocked)
            and path not in scan.incomplete
        ]
        return diff

    def files_with_fingerprints(self, fingerprints: Iterable[str]) -> list[FingerprintRow]:
        """Every known file (present or missing) whose fingerprint is one of these."""
        wanted = sorted(set(fingerprints))
        rows: list[FingerprintRow] = []
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            rows += [
                FingerprintRow(*row)
                for row in self._db.execute(
                    "SELECT id, path, size, fingerprint, full_hash, missing FROM files"
                    f" WHERE fingerprint IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            ]
        return rows

    def apply_sync(
        self, run_id: int, diff: WalkDiff, plan: SyncPlan, problems: list, seconds: float
    ) -> SyncCounts:
        """Write a reconciled walk in one transaction: moves keep their row (and results),
        new files are added, changed files lose their results, gone files become missing."""
        moved_ids = {file_id for file_id, _ in plan.moves}
        moved_paths = {entry.path for _, entry in plan.moves}
        new = [e for e in diff.new if e.path not in moved_paths]
        gone = [file_id for file_id in diff.gone if file_id not in moved_ids]
        with self._transaction():
            self._db.executemany(
                "UPDATE files SET path = ?, size = ?, mtime_ns = ?, kind = ?, missing = 0,"
                " last_change_run = ? WHERE id = ?",
                [
                    (e.path, e.size, e.mtime_ns, e.kind, run_id, file_id)
                    for file_id, e in plan.moves
                ],
            )
            self._db.executemany(
                "INSERT INTO files (path, kind, size, mtime_ns, first_seen_run, last_change_run,"
                " fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.path,
                        e.kind,
                        e.size,
                        e.mtime_ns,
                        run_id,
                        run_id,
                        plan.fingerprints.get(e.path),
                    )
                    for e in new
                ],
            )
            self._db.executemany(
                "UPDATE files SET size = ?, mtime_ns = ?, kind = ?, missing = 0,"
                " last_change_run = ?, fingerprint = ?, full_hash = NULL WHERE id = ?",
                [
                    (e.size, e.mtime_ns, e.kind, run_id, plan.fingerprints.get(e.path), file_id)
                    for file_id, e in diff.changed
                ],
            )
            self._db.executemany(
                "DELETE FROM phase_status WHERE file_id = ?", [(i,) for i, _ in diff.changed]
            )
            self._db.executemany(
                "UPDATE files SET full_hash = ? WHERE path = ?",
                [(digest, path) for path, digest in plan.full_hashes.items() if digest],
            )
            self._db.executemany(
                "UPDATE files SET missing = 0 WHERE id = ?", [(i,) for i in diff.returned]
            )
            self._db.executemany("UPDATE files SET missing = 1 WHERE id = ?", [(i,) for i in gone])
            self._db.executemany(
                "INSERT INTO scan_problems VALUES (?, ?, ?)",
                [(run_id, p.path, p.message) for p in problems],
            )
            counts = SyncCounts(diff.seen, len(new), len(diff.changed), len(gone), len(plan.moves))
            self._db.execute(
                "UPDATE runs SET files_seen = ?, files_new = ?, files_changed = ?,"
                " files_missing = ?, files_moved = ?, scan_seconds = ? WHERE id = ?",
                (
                    counts.seen,
                    counts.new,
                    counts.changed,
                    counts.missing,
                    counts.moved,
                    seconds,
                    run_id,
                ),
            )
        return counts

    def _known_under(self, roots: list[str]) -> dict[str, tuple[int, int, int, int]]:
        """path -> (id, size, mtime_ns, missing) for every known file at or below a root."""
        known = {}
        for root in roots:
            prefix = root.rstrip("/") + "/"
            # '0' sorts right after '/', so this range is exactly the paths below the root.
            rows = self._db.execute(
                "SELECT path, id, size, mtime_ns, missing FROM files"
                " WHERE path = ? OR (path >= ? AND path < ?)",
                (root, prefix, prefix[:-1] + "0"),
            )
            known.update({row[0]: row[1:] for row in rows})
        return known

    # -- phase work ------------------------------------------------------------------------

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
        file id -> {"thumbnail", "width", "height", "frames": [(frame, seconds, thumbnail)]}.
        Only results that describe the file as it is now count: a file that changed since has
        lost its phase status, and its old rows are not handed on."""
        found: dict[int, dict[str, Any]] = {}
        content_now = _CURRENT.format(phase="content", file="f.id")
        metadata_now = _CURRENT.format(phase="metadata", file="f.id")
        frames_now = _CURRENT.format(phase="content", file="v.file_id")
        for start in range(0, len(file_ids), 500):  # SQLite caps the number of parameters
            chunk = file_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for file_id, thumbnail, width, height in self._db.execute(
                "SELECT f.id, c.thumbnail, m.width, m.height FROM files f"
                f" LEFT JOIN content c ON c.file_id = f.id AND {content_now}"
                f" LEFT JOIN metadata m ON m.file_id = f.id AND {metadata_now}"
                f" WHERE f.id IN ({marks})",
                chunk,
            ):
                found[file_id] = {
                    "thumbnail": thumbnail,
                    "width": width,
                    "height": height,
                    "frames": [],
                }
            for file_id, frame, seconds, thumbnail in self._db.execute(
                "SELECT v.file_id, v.frame, v.timestamp, v.thumbnail FROM video_frames v"
                f" WHERE v.file_id IN ({marks}) AND {frames_now}"
                " ORDER BY v.file_id, v.frame",
                chunk,
            ):
                found[file_id]["frames"].append((frame, seconds, thumbnail))
        return found

    def save_outcomes(
        self, run_id: int, phase: str, version: str, outcomes: list[tuple[int, Outcome]]
    ) -> None:
        """Store one batch of results in one transaction: a crash keeps whole batches only."""
        table, columns = RESULT_TABLES[phase], self._columns[phase]
        upsert = (
            f"INSERT OR REPLACE INTO {table} (file_id, {', '.join(columns)})"
            f" VALUES (?{', ?' * len(columns)})"
        )
        with self._transaction():
            for file_id, outcome in outcomes:
                if not outcome.final:
                    self._save_retry(run_id, phase, file_id, outcome)
                    continue
                if outcome.record is not None and "frames" in outcome.record:
                    self._save_frames(file_id, outcome.record["frames"])
                if outcome.record is None:
                    self._db.execute(f"DELETE FROM {table} WHERE file_id = ?", (file_id,))
                else:
                    values = [_to_sql(c, outcome.record.get(c)) for c in columns]
                    self._db.execute(upsert, (file_id, *values))
                self._db.execute(
                    "INSERT OR REPLACE INTO phase_status VALUES (?, ?, ?, ?, ?)",
                    (file_id, phase, version, outcome.error, run_id),
                )

    def _save_retry(self, run_id: int, phase: str, file_id: int, outcome: Outcome) -> None:
        """A failure that was not the file's fault (the phase could not run, the disk went
        away): whatever was stored for the file stays as it was, so a `--full` run that
        cannot start loses nothing. A file with no status yet gets the error under no
        version: it shows, and the file stays pending for the next run."""
        self._db.execute(
            "INSERT OR IGNORE INTO phase_status VALUES (?, ?, '', ?, ?)",
            (file_id, phase, outcome.error, run_id),
        )

    def _save_frames(self, file_id: int, frames: list[dict[str, Any]]) -> None:
        """Upsert a video's per-frame results: each phase fills its own columns and leaves the
        other's; frames beyond the current count (a shorter video now) are dropped."""
        for frame in frames:
            columns = [c for c in frame if c != "frame"]
            self._db.execute(
                f"INSERT INTO video_frames (file_id, frame, {', '.join(columns)})"
                f" VALUES (?, ?{', ?' * len(columns)}) ON CONFLICT (file_id, frame) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in columns),
                (file_id, frame["frame"], *(_to_sql(c, frame[c]) for c in columns)),
            )
        self._db.execute(
            "DELETE FROM video_frames WHERE file_id = ? AND frame >= ?", (file_id, len(frames))
        )

    def video_frames(self, path: str) -> list[dict[str, Any]]:
        """The analyzed frames of the video at `path`, in order."""
        cursor = self._db.execute(
            "SELECT v.* FROM video_frames v JOIN files f ON f.id = v.file_id WHERE f.path = ?"
            " ORDER BY v.frame",
            (path,),
        )
        names = [d[0] for d in cursor.description]
        return [{n: _from_sql(n, v) for n, v in zip(names, row, strict=True)} for row in cursor]

    # -- reading ---------------------------------------------------------------------------

    def export_rows(self) -> Iterator[dict[str, Any]]:
        """One dict per present file, in path order: path, kind, file_size, each phase's
        fields, and `errors` (phase -> message)."""
        selects, joins, names = [], [], []
        for phase, table in RESULT_TABLES.items():
            alias = f"t_{phase}"
            joins.append(f" LEFT JOIN {table} {alias} ON {alias}.file_id = f.id")
            selects += [f"{alias}.{column}" for column in self._exported(phase)]
            names += self._exported(phase)
        errors = self._errors_by_file()
        rows = self._db.execute(
            f"SELECT f.id, f.path, f.kind, f.size, {', '.join(selects)} FROM files f"
            + "".join(joins)
            + " WHERE f.missing = 0 ORDER BY f.path"
        )
        for file_id, path, kind, size, *values in rows:
            fields = {
                name: _from_sql(name, value) for name, value in zip(names, values, strict=True)
            }
            yield {
                "path": path,
                "kind": kind,
                "file_size": size,
                **fields,
                "errors": errors.get(file_id, {}),
            }

    def _errors_by_file(self) -> dict[int, dict[str, str]]:
        errors: dict[int, dict[str, str]] = {}
        for file_id, phase, error in self._db.execute(
            "SELECT file_id, phase, error FROM phase_status WHERE error IS NOT NULL"
        ):
            errors.setdefault(file_id, {})[phase] = error
        return errors

    def _exported(self, phase: str) -> list[str]:
        return [c for c in self._columns[phase] if c not in HIDDEN_COLUMNS]

    def field_names(self) -> list[str]:
        phase_fields = [column for phase in RESULT_TABLES for column in self._exported(phase)]
        return ["path", "kind", "file_size", *phase_fields, "errors"]

    def near_duplicate_candidates(self) -> list[tuple]:
        """(file_id, path, phash, sharpness, width, height, file size, has a capture time, has
        a camera, has GPS) of present files with a content result: what the pick weighs."""
        rows = self._db.execute(
            "SELECT f.id, f.path, c.phash, COALESCE(c.sharpness, 0), COALESCE(m.width, 0),"
            " COALESCE(m.height, 0), f.size, m.taken_at IS NOT NULL,"
            " COALESCE(m.make, m.model) IS NOT NULL, m.gps_lat IS NOT NULL"
            " FROM files f JOIN content c ON c.file_id = f.id"
            " LEFT JOIN metadata m ON m.file_id = f.id"
            " WHERE f.missing = 0 AND c.phash IS NOT NULL ORDER BY f.path"
        )
        return [(*row[:7], *map(bool, row[7:])) for row in rows]

    def file_counts(self) -> dict[str, dict[str, int]]:
        """kind -> {"present": n, "missing": n}."""
        counts: dict[str, dict[str, int]] = {}
        for kind, missing, n in self._db.execute(
            "SELECT kind, missing, COUNT(*) FROM files GROUP BY kind, missing"
        ):
            counts.setdefault(kind, {"present": 0, "missing": 0})[
                "missing" if missing else "present"
            ] = n
        return counts

    def phase_counts(self, phase: str, version: str, kinds: Iterable[str]) -> dict[str, int]:
        """Present files of the phase's kinds: done, failed, and pending at this version."""
        kinds = sorted(kinds)
        marks = ",".join("?" * len(kinds))
        done, failed, total = self._db.execute(
            "SELECT COUNT(s.file_id), COUNT(s.error), COUNT(*) FROM files f"
            " LEFT JOIN phase_status s ON s.file_id = f.id AND s.phase = ? AND s.version = ?"
            f" WHERE f.missing = 0 AND f.kind IN ({marks})",
            [phase, version, *kinds],
        ).fetchone()
        return {"done": done - failed, "failed": failed, "pending": total - done}

    def recent_runs(self, limit: int = 5) -> list[dict[str, Any]]:
        runs = []
        for row in self._db.execute(
            "SELECT id, started_at, ended_at, status, roots, files_seen, files_new, files_changed,"
            " files_missing, files_moved, scan_seconds FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ):
            run = dict(
                zip(
                    (
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
                        "scan_seconds",
                    ),
                    row,
                    strict=True,
                )
            )
            run["roots"] = json.loads(run["roots"])
            run["phases"] = self._run_phases(run["id"])
            run["scan_problems"] = self._db.execute(
                "SELECT COUNT(*) FROM scan_problems WHERE run_id = ?", (run["id"],)
            ).fetchone()[0]
            runs.append(run)
        return runs

    def _run_phases(self, run_id: int) -> list[dict[str, Any]]:
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

    def ml_results(self) -> dict[str, tuple[str | None, bytes | None, list]]:
        """path -> (top scene, float16 embedding bytes, objects) for present photos."""
        return {
            path: (scene, embedding, json.loads(objects) if objects else [])
            for path, scene, embedding, objects in self._db.execute(
                "SELECT f.path, m.top_scene, m.embedding, m.objects FROM files f"
                " JOIN ml m ON m.file_id = f.id WHERE f.missing = 0"
            )
        }


def _to_sql(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return json.dumps(value)
    return value


def _from_sql(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json.loads(value)
    if column in BOOL_COLUMNS:
        return bool(value)
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
