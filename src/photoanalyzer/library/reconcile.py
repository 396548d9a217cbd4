"""A folder walk reconciled with the catalog: which files are new, changed, gone, and which
"new" files are known files under a new name (renamed or moved, same content, from any
folder), so that they keep their results instead of being analyzed again."""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from dataclasses import dataclass, field

from photoanalyzer.catalog import Catalog, SyncCounts
from photoanalyzer.catalog.files import FileFacts, FingerprintRow, KnownFile, SyncChanges
from photoanalyzer.library.fingerprint import fingerprint, full_hash
from photoanalyzer.library.pairs import find_pairs
from photoanalyzer.library.scan import FileEntry, ScanProblem, ScanResult


@dataclass
class WalkDiff:
    seen: int
    new: list[FileEntry] = field(default_factory=list)
    changed: list[tuple[int, FileEntry]] = field(default_factory=list)  # (file id, entry)
    sidecar_changed: list[tuple[int, FileEntry]] = field(default_factory=list)  # the same
    returned: list[int] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    # known files below the catalog's own folders (scan.py, ownpaths.py): an older version
    # indexed its thumbnails as photos. Not the user's files, so not "missing": forgotten.
    forgotten: list[int] = field(default_factory=list)
    # folder the walk could not read -> known files below it, not seen and not checked
    unchecked: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class SyncPlan:
    """What reconcile worked out from file contents: fingerprints of new and changed files,
    moves (known row -> new path), and full hashes where fingerprints collide."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    moves: list[tuple[int, FileEntry]] = field(default_factory=list)
    full_hashes: dict[str, str] = field(default_factory=dict)


class PathProbe:
    """Whether known paths still exist, one stat each, with each folder's answer cached (a
    folder that is gone answers for every file below it). Only FileNotFoundError and
    NotADirectoryError mean gone: any other error (permission denied) counts as there."""

    def __init__(self) -> None:
        self._folders: dict[str, bool] = {}
        self._highest: dict[str, str] = {}

    def vanished(self, path: str) -> bool:
        return not self.folder_exists(os.path.dirname(path)) or _gone(path)

    def folder_exists(self, folder: str) -> bool:
        if folder not in self._folders:
            self._folders[folder] = not _gone(folder, folder=True)
        return self._folders[folder]

    def highest_gone(self, folder: str) -> str:
        """The outermost folder that is gone, of `folder` (gone) and its parents: the mount
        point of an unmounted disk, the old place of a folder moved away."""
        if folder not in self._highest:
            top, parent = folder, os.path.dirname(folder)
            while parent != top and not self.folder_exists(parent):
                top, parent = parent, os.path.dirname(parent)
            self._highest[folder] = top
        return self._highest[folder]


def _gone(path: str, folder: bool = False) -> bool:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return folder and not stat.S_ISDIR(st.st_mode)


@dataclass
class Away:
    """Known files outside the scanned roots that are no longer at their paths: missing
    (their folder is there), or unreachable below the highest folder that is gone."""

    missing: list[int] = field(default_factory=list)
    unreachable: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Reconciled:
    counts: SyncCounts
    problems: list[ScanProblem]  # the walk's, with what was not checked, and gone folders


def reconcile(
    catalog: Catalog, run_id: int, roots: list[str], walk: ScanResult, seconds: float
) -> Reconciled:
    known = catalog.files.known_under(roots)
    diff = compare_walk(known, walk)
    probe = PathProbe()
    plan = plan_sync(catalog, diff, probe)
    moved = {file_id for file_id, _ in plan.moves}
    away = check_outside(catalog.files.present_outside(roots), moved, probe)
    problems = scan_problems(walk, diff.unchecked, away, moved, known, probe)
    changes = sync_changes(diff, plan, away, problems)
    catalog.files.apply_sync(run_id, changes, seconds)
    _update_pairs(catalog, walk, set(changes.gone))
    return Reconciled(changes.counts, [ScanProblem(p, m) for p, m, _ in changes.problems])


def _update_pairs(catalog: Catalog, walk: ScanResult, gone: set[int]) -> None:
    """Rewrite pair_of where the walk says otherwise: pairs among the files seen, none for
    files gone. Files outside the walk keep theirs. Only differences are written, so a rescan
    of an unchanged library writes nothing."""
    wanted = find_pairs(entry.path for entry in walk.files)
    current = {path: (file_id, sibling) for file_id, path, sibling in catalog.files.pairs()}
    changes: list[tuple[str, str | None]] = [
        (path, sibling)
        for path, sibling in wanted.items()
        if current.get(path, (None, None))[1] != sibling
    ]
    seen = {entry.path for entry in walk.files} if current else set()

    def parted(path: str, sibling: str) -> bool:
        # The walk saw this file and could have seen its sibling: the sibling was walked too
        # (and is no sibling now) or is gone. A walk of one file (`run lib/IMG_1.JPG`) sees
        # no RAW beside it, and must not break the pair on one side.
        sibling_gone = current.get(sibling, (None, None))[0] in gone
        return path in seen and (sibling in seen or sibling_gone)

    changes += [
        (path, None)
        for path, (file_id, sibling) in current.items()
        if path not in wanted and (file_id in gone or parted(path, sibling))
    ]
    catalog.files.set_pairs(changes)


def compare_walk(known: dict[str, KnownFile], walk: ScanResult) -> WalkDiff:
    """What a walk changes against the known files below its roots: new files, changed ones
    (size or mtime differ, or the kind: the configured extensions moved the file between
    photos and videos, so its results were made for the other kind), those whose XMP sidecar
    alone changed (sidecars.py: their metadata is read again), returned ones, gone ones
    (not seen), and unchecked ones (not seen, below a folder the walk could not read)."""
    diff = WalkDiff(seen=len(walk.files))
    seen_paths = set()
    for entry in walk.files:
        seen_paths.add(entry.path)
        row = known.get(entry.path)
        if row is None:
            diff.new.append(entry)
        elif (row.size, row.mtime_ns, row.kind) != (entry.size, entry.mtime_ns, entry.kind):
            diff.changed.append((row.file_id, entry))
        else:
            if row.sidecar != entry.sidecar:
                diff.sidecar_changed.append((row.file_id, entry))
            if row.missing:
                diff.returned.append(row.file_id)
    blocked = tuple(folder.rstrip("/") + "/" for folder in walk.incomplete)
    own = tuple(folder.rstrip("/") + "/" for folder in walk.own)
    for path, row in known.items():
        if own and (path in walk.own or path.startswith(own)):
            diff.forgotten.append(row.file_id)
            continue
        if row.missing or path in seen_paths:
            continue
        if path in walk.incomplete or path.startswith(blocked):
            folder = next(
                f for f in walk.incomplete if path == f or path.startswith(f.rstrip("/") + "/")
            )
            diff.unchecked.setdefault(folder, []).append(row.file_id)
        else:
            diff.gone.append(row.file_id)
    return diff


def check_outside(rows: list[tuple[int, str]], moved: set[int], probe: PathProbe) -> Away:
    """Known files outside the scanned roots (not moved in this run): one stat each, fewer
    where a folder is gone. A file gone from a folder that is still there is missing; one
    whose folder is gone too (an unmounted disk, a folder moved away) is not checked and
    stays as it was."""
    away = Away()
    for file_id, path in rows:
        if file_id in moved or not probe.vanished(path):
            continue
        folder = os.path.dirname(path)
        if probe.folder_exists(folder):
            away.missing.append(file_id)
        else:
            away.unreachable.setdefault(probe.highest_gone(folder), []).append(file_id)
    return away


def sync_changes(
    diff: WalkDiff, plan: SyncPlan, away: Away, problems: list[tuple[str, str, int]]
) -> SyncChanges:
    """The rows to write: a moved file keeps its row, so it is neither new nor gone. Files
    not checked are counted from the problems of the folders they are below."""
    moved_ids = {file_id for file_id, _ in plan.moves}
    moved_paths = {entry.path for _, entry in plan.moves}
    new = [e for e in diff.new if e.path not in moved_paths]
    gone = [file_id for file_id in diff.gone if file_id not in moved_ids] + away.missing
    unreachable = sum(count for _, _, count in problems)
    counts = SyncCounts(
        diff.seen,
        len(new),
        len(diff.changed),
        len(gone),
        len(plan.moves),
        unreachable,
        len(diff.forgotten),
    )
    return SyncChanges(
        counts=counts,
        new=[(_facts(e), plan.fingerprints.get(e.path)) for e in new],
        changed=[(i, _facts(e), plan.fingerprints.get(e.path)) for i, e in diff.changed],
        sidecar_changed=[(i, _facts(e)) for i, e in diff.sidecar_changed],
        moves=[(i, _facts(e)) for i, e in plan.moves],
        returned=diff.returned,
        gone=gone,
        forgotten=diff.forgotten,
        full_hashes=plan.full_hashes,
        problems=problems,
    )


NOT_CHECKED = "this known file was not checked (not marked missing)"
GONE_HINT = "(an unmounted disk? a moved folder: run on its new place and they keep their results)"


def scan_problems(
    walk: ScanResult,
    unchecked: dict[str, list[int]],
    away: Away,
    moved: set[int],
    known: dict[str, KnownFile],
    probe: PathProbe,
) -> list[tuple[str, str, int]]:
    """The walk's problems, each folder's saying how many known files below it were not
    checked, then one problem per gone folder outside the roots: (path, message, count)."""
    counts = {folder: sum(i not in moved for i in ids) for folder, ids in unchecked.items()}
    problems = []
    for problem in walk.problems:
        n = counts.get(problem.path, 0)
        if n == 0:
            problems.append((problem.path, problem.message, 0))
        elif problem.path in known:  # a file given as a root
            problems.append((problem.path, f"{problem.message}; {NOT_CHECKED}", n))
        elif probe.folder_exists(problem.path):
            problems.append((problem.path, f"{problem.message}; {_not_checked(n)}", n))
        else:
            problems.append((problem.path, _folder_gone(n), n))
    problems += [
        (folder, _folder_gone(len(ids)), len(ids)) for folder, ids in away.unreachable.items()
    ]
    return problems


def _not_checked(n: int) -> str:
    files = "1 known file below it was" if n == 1 else f"{n} known files below it were"
    return f"{files} not checked (not marked missing)"


def _folder_gone(n: int) -> str:
    files = "1 known file below it was" if n == 1 else f"{n} known files below it were"
    return f"folder not found: {files} not checked {GONE_HINT}"


def _facts(entry: FileEntry) -> FileFacts:
    return FileFacts(entry.path, entry.size, entry.mtime_ns, entry.kind, entry.sidecar)


def plan_sync(catalog: Catalog, diff: WalkDiff, probe: PathProbe) -> SyncPlan:
    """Fingerprint new and changed files (only those: an unchanged library reads nothing),
    then match new files to known files that have left their place: missing, gone in this
    walk, or, wherever they were (another disk, a folder not scanned now), no longer at their
    path. A known file still at its path makes the new one a copy."""
    plan = SyncPlan()
    for entry in [*diff.new, *(entry for _, entry in diff.changed)]:
        digest = fingerprint(entry.path)
        if digest is not None:
            plan.fingerprints[entry.path] = digest
    if not plan.fingerprints:
        return plan
    _hash_collisions_among_new(plan)
    known = defaultdict(list)
    for row in catalog.files.with_fingerprints(plan.fingerprints.values()):
        known[row.fingerprint].append(row)
    gone = set(diff.gone)
    claimed: set[int] = set()
    for entry in diff.new:
        digest = plan.fingerprints.get(entry.path)
        rows = [r for r in known.get(digest, []) if r.size == entry.size]
        vacated = [
            r
            for r in rows
            if r.file_id not in claimed
            and (r.missing or r.file_id in gone or probe.vanished(r.path))
        ]
        match = _pick(entry, vacated, plan) if vacated else None
        if match is not None:
            plan.moves.append((match.file_id, entry))
            claimed.add(match.file_id)
        elif rows:
            _record_collision(entry, rows, plan)
    return plan


def _hash_collisions_among_new(plan: SyncPlan) -> None:
    """Files arriving together that share a fingerprint (copies, usually) get full hashes."""
    by_fingerprint = defaultdict(list)
    for path, digest in plan.fingerprints.items():
        by_fingerprint[digest].append(path)
    for paths in by_fingerprint.values():
        if len(paths) > 1:
            for path in paths:
                plan.full_hashes.setdefault(path, full_hash(path) or "")


def _pick(entry: FileEntry, vacated: list[FingerprintRow], plan: SyncPlan) -> FingerprintRow | None:
    """The vacated row this file is. One candidate without a full hash: the fingerprint
    decides. Otherwise the full hashes must agree."""
    if len(vacated) == 1 and vacated[0].full_hash is None:
        return vacated[0]
    digest = plan.full_hashes.setdefault(entry.path, full_hash(entry.path) or "")
    same = [row for row in vacated if row.full_hash == digest]
    if same:
        return same[0]
    # Rows without a full hash had fingerprints nobody shared while they were present: they
    # stay possible matches when no row with a full hash matches.
    unhashed = [row for row in vacated if row.full_hash is None]
    return unhashed[0] if len(unhashed) == 1 else None


def _record_collision(entry: FileEntry, rows: list[FingerprintRow], plan: SyncPlan) -> None:
    """A new file shares its fingerprint with files that are still present (a copy, or a
    rare fingerprint collision): store full hashes, so a later move can be told apart."""
    plan.full_hashes.setdefault(entry.path, full_hash(entry.path) or "")
    for row in rows:
        if not row.missing and row.full_hash is None:
            digest = full_hash(row.path)
            if digest:
                plan.full_hashes[row.path] = digest
