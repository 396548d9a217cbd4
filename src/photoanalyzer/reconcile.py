"""A folder walk reconciled with the catalog: which files are new, changed, gone, and which
"new" files are known files under a new name (renamed or moved, same content), so that they
keep their results instead of being analyzed again."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from photoanalyzer.catalog import Catalog, SyncCounts
from photoanalyzer.catalog.files import FileFacts, FingerprintRow, KnownFile, SyncChanges
from photoanalyzer.fingerprint import fingerprint, full_hash
from photoanalyzer.scan import FileEntry, ScanResult


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


def reconcile(
    catalog: Catalog, run_id: int, roots: list[str], walk: ScanResult, seconds: float
) -> SyncCounts:
    diff = compare_walk(catalog.files.known_under(roots), walk)
    plan = plan_sync(catalog, diff)
    changes = sync_changes(diff, plan, walk)
    catalog.files.apply_sync(run_id, changes, seconds)
    return changes.counts


def compare_walk(known: dict[str, KnownFile], walk: ScanResult) -> WalkDiff:
    """What a walk changes against the known files below its roots: new files, changed ones
    (size or mtime differ, or the kind: the configured extensions moved the file between
    photos and videos, so its results were made for the other kind), returned ones, and gone
    ones (not seen, and not below a folder the walk could not read)."""
    diff = WalkDiff(seen=len(walk.files))
    seen_paths = set()
    for entry in walk.files:
        seen_paths.add(entry.path)
        row = known.get(entry.path)
        if row is None:
            diff.new.append(entry)
        elif (row.size, row.mtime_ns, row.kind) != (entry.size, entry.mtime_ns, entry.kind):
            diff.changed.append((row.file_id, entry))
        elif row.missing:
            diff.returned.append(row.file_id)
    blocked = tuple(folder.rstrip("/") + "/" for folder in walk.incomplete)
    diff.gone = [
        row.file_id
        for path, row in known.items()
        if not row.missing
        and path not in seen_paths
        and not path.startswith(blocked)
        and path not in walk.incomplete
    ]
    return diff


def sync_changes(diff: WalkDiff, plan: SyncPlan, walk: ScanResult) -> SyncChanges:
    """The rows to write: a moved file keeps its row, so it is neither new nor gone."""
    moved_ids = {file_id for file_id, _ in plan.moves}
    moved_paths = {entry.path for _, entry in plan.moves}
    new = [e for e in diff.new if e.path not in moved_paths]
    gone = [file_id for file_id in diff.gone if file_id not in moved_ids]
    return SyncChanges(
        counts=SyncCounts(diff.seen, len(new), len(diff.changed), len(gone), len(plan.moves)),
        new=[(_facts(e), plan.fingerprints.get(e.path)) for e in new],
        changed=[(i, _facts(e), plan.fingerprints.get(e.path)) for i, e in diff.changed],
        moves=[(i, _facts(e)) for i, e in plan.moves],
        returned=diff.returned,
        gone=gone,
        full_hashes=plan.full_hashes,
        problems=[(p.path, p.message) for p in walk.problems],
    )


def _facts(entry: FileEntry) -> FileFacts:
    return FileFacts(entry.path, entry.size, entry.mtime_ns, entry.kind)


def plan_sync(catalog: Catalog, diff: WalkDiff) -> SyncPlan:
    """Fingerprint new and changed files (only those: an unchanged library reads nothing),
    then match new files to known files that are gone or missing."""
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
        vacated = [r for r in rows if (r.missing or r.file_id in gone) and r.file_id not in claimed]
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
