"""The files table as a folder walk sees it: what is known below the scanned roots and
outside them, look-ups by content fingerprint, and writing one reconciled walk (reconcile.py
decides what changed; this module only reads and writes rows)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from photoanalyzer.catalog.schema import PATH, message_text, path_param, transaction


class FileFacts(NamedTuple):
    """A file as the walk found it."""

    path: str
    size: int
    mtime_ns: int
    kind: str  # "photo" or "video"
    sidecar: str = ""  # its XMP sidecar's signature (sidecars.py), "" without one


class KnownFile(NamedTuple):
    file_id: int
    size: int
    mtime_ns: int
    missing: bool
    kind: str  # as the scan decided when the row was last written
    sidecar: str = ""


class FingerprintRow(NamedTuple):
    file_id: int
    path: str
    size: int
    fingerprint: str
    full_hash: str | None
    missing: bool


@dataclass(frozen=True)
class SyncCounts:
    seen: int
    new: int
    changed: int
    missing: int  # marked missing by this run, below the roots or outside them
    moved: int = 0
    unreachable: int = 0  # not checked: below an unreadable folder, or their folder is gone
    # rows deleted: files below the catalog's own folders (thumbnails, reports) that an older
    # version indexed as photos (ownpaths.py)
    forgotten: int = 0


@dataclass
class SyncChanges:
    """Everything one walk changes, as rows to write."""

    counts: SyncCounts
    new: list[tuple[FileFacts, str | None]] = field(default_factory=list)  # + fingerprint
    changed: list[tuple[int, FileFacts, str | None]] = field(default_factory=list)
    # Files unchanged but for their XMP sidecar: only their metadata is pending again.
    sidecar_changed: list[tuple[int, FileFacts]] = field(default_factory=list)
    moves: list[tuple[int, FileFacts]] = field(default_factory=list)  # known row -> new place
    returned: list[int] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    forgotten: list[int] = field(default_factory=list)  # rows to delete, with their results
    full_hashes: dict[str, str] = field(default_factory=dict)  # path -> content hash
    # (path, message, known files below it that were not checked)
    problems: list[tuple[str, str, int]] = field(default_factory=list)


class Files:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def known_under(self, roots: list[str]) -> dict[str, KnownFile]:
        """path -> what is known of every file at or below a root."""
        known = {}
        for root in roots:
            prefix = root.rstrip("/") + "/"
            # '0' sorts right after '/', so this range is exactly the paths below the root.
            rows = self._db.execute(
                "SELECT path, id, size, mtime_ns, missing, kind, sidecar FROM files"
                f" WHERE path = {PATH} OR (path >= {PATH} AND path < {PATH})",
                [path_param(p) for p in (root, prefix, prefix[:-1] + "0")],
            )
            known.update(
                {path: KnownFile(i, s, m, bool(g), k, x) for path, i, s, m, g, k, x in rows}
            )
        return known

    def present_outside(self, roots: list[str]) -> list[tuple[int, str]]:
        """(id, path) of every file not marked missing that is not at or below a root."""
        below, args = [], []
        for root in roots:
            prefix = root.rstrip("/") + "/"
            below.append(f"path = {PATH} OR (path >= {PATH} AND path < {PATH})")
            args += [path_param(p) for p in (root, prefix, prefix[:-1] + "0")]
        inside = " OR ".join(f"({condition})" for condition in below) or "0"
        return self._db.execute(
            f"SELECT id, path FROM files WHERE missing = 0 AND NOT ({inside})", args
        ).fetchall()

    def with_fingerprints(self, fingerprints: Iterable[str]) -> list[FingerprintRow]:
        """Every known file (present or missing) whose fingerprint is one of these."""
        wanted = sorted(set(fingerprints))
        rows: list[FingerprintRow] = []
        for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
            chunk = wanted[start : start + 500]
            rows += [
                FingerprintRow(i, p, s, f, h, bool(m))
                for i, p, s, f, h, m in self._db.execute(
                    "SELECT id, path, size, fingerprint, full_hash, missing FROM files"
                    f" WHERE fingerprint IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            ]
        return rows

    def apply_sync(self, run_id: int, changes: SyncChanges, seconds: float) -> None:
        """Write a reconciled walk in one transaction: moves keep their row (and results),
        new files are added, changed files lose their phase status (so they are pending
        again), gone files become missing; the walk's counts and problems go with the run."""
        db = self._db
        with transaction(db):
            self._sidecars_changed(changes)
            db.executemany(
                f"UPDATE files SET path = {PATH}, size = ?, mtime_ns = ?, kind = ?, missing = 0,"
                " last_change_run = ?, sidecar = ? WHERE id = ?",
                [
                    (path_param(f.path), f.size, f.mtime_ns, f.kind, run_id, f.sidecar, i)
                    for i, f in changes.moves
                ],
            )
            db.executemany(
                "INSERT INTO files (path, kind, size, mtime_ns, first_seen_run, last_change_run,"
                f" fingerprint, sidecar) VALUES ({PATH}, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (path_param(f.path), f.kind, f.size, f.mtime_ns, run_id, run_id, d, f.sidecar)
                    for f, d in changes.new
                ],
            )
            db.executemany(
                "UPDATE files SET size = ?, mtime_ns = ?, kind = ?, missing = 0,"
                " last_change_run = ?, fingerprint = ?, full_hash = NULL, sidecar = ? WHERE id = ?",
                [
                    (f.size, f.mtime_ns, f.kind, run_id, d, f.sidecar, i)
                    for i, f, d in changes.changed
                ],
            )
            db.executemany(
                "DELETE FROM phase_status WHERE file_id = ?", [(i,) for i, _, _ in changes.changed]
            )
            # A changed file is a new try for every phase: the count of failed runs restarts.
            db.executemany(
                "DELETE FROM retries WHERE file_id = ?", [(i,) for i, _, _ in changes.changed]
            )
            db.executemany(
                f"UPDATE files SET full_hash = ? WHERE path = {PATH}",
                [
                    (digest, path_param(path))
                    for path, digest in changes.full_hashes.items()
                    if digest
                ],
            )
            db.executemany(
                "UPDATE files SET missing = 0 WHERE id = ?", [(i,) for i in changes.returned]
            )
            db.executemany(
                "UPDATE files SET missing = 1 WHERE id = ?", [(i,) for i in changes.gone]
            )
            db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in changes.forgotten])
            db.executemany(
                "INSERT INTO scan_problems (run_id, path, message, unchecked)"
                f" VALUES (?, {PATH}, ?, ?)",
                [
                    (run_id, path_param(path), message_text(message), unchecked)
                    for path, message, unchecked in changes.problems
                ],
            )
            counts = changes.counts
            db.execute(
                "UPDATE runs SET files_seen = ?, files_new = ?, files_changed = ?,"
                " files_missing = ?, files_moved = ?, files_unreachable = ?, scan_seconds = ?"
                " WHERE id = ?",
                (
                    counts.seen,
                    counts.new,
                    counts.changed,
                    counts.missing,
                    counts.moved,
                    counts.unreachable,
                    seconds,
                    run_id,
                ),
            )

    def pairs(self) -> list[tuple[int, str, str]]:
        """(id, path, sibling's path) of every file that is half of a RAW+JPEG pair."""
        return self._db.execute(
            "SELECT f.id, f.path, p.path FROM files f JOIN files p ON p.id = f.pair_of"
        ).fetchall()

    def set_pairs(self, changes: list[tuple[str, str | None]]) -> None:
        """(path, sibling's path or None): each file's pair_of as the last walk found it."""
        if not changes:
            return
        with transaction(self._db):
            self._db.executemany(
                f"UPDATE files SET pair_of = (SELECT id FROM files WHERE path = {PATH})"
                f" WHERE path = {PATH}",
                [
                    (None if sibling is None else path_param(sibling), path_param(path))
                    for path, sibling in changes
                ],
            )

    def _sidecars_changed(self, changes: SyncChanges) -> None:
        """A sidecar that appeared, changed or went (here, or with a moved file: it now has
        the sidecar of its new place) makes the file's metadata pending again. Only the
        metadata: the pixels did not change, so content and ML results stand."""
        rows = [*changes.sidecar_changed, *changes.moves]
        for table in ("phase_status", "retries"):
            self._db.executemany(
                f"DELETE FROM {table} WHERE phase = 'metadata' AND file_id = ?"
                " AND (SELECT sidecar FROM files WHERE id = ?) IS NOT ?",
                [(i, i, f.sidecar) for i, f in rows],
            )
        self._db.executemany(
            "UPDATE files SET sidecar = ? WHERE id = ?",
            [(f.sidecar, i) for i, f in changes.sidecar_changed],
        )
