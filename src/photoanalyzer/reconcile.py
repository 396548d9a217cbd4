"""A folder walk reconciled with the catalog: which files are new, changed, gone, and which
"new" files are known files under a new name (renamed or moved, same content), so that they
keep their results instead of being analyzed again."""

from __future__ import annotations

from collections import defaultdict

from photoanalyzer.catalog import Catalog, FingerprintRow, SyncCounts, SyncPlan, WalkDiff
from photoanalyzer.fingerprint import fingerprint, full_hash
from photoanalyzer.scan import FileEntry, ScanResult


def reconcile(
    catalog: Catalog, run_id: int, roots: list[str], walk: ScanResult, seconds: float
) -> SyncCounts:
    diff = catalog.compare_walk(roots, walk)
    plan = plan_sync(catalog, diff)
    return catalog.apply_sync(run_id, diff, plan, walk.problems, seconds)


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
    for row in catalog.files_with_fingerprints(plan.fingerprints.values()):
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
