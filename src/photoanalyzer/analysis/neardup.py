"""Near-duplicate groups from 64-bit perceptual hashes, without comparing all pairs; and
groups of visually similar photos from their CLIP embeddings, by brute force.

Multi-index hashing: split the 64 bits into `max_distance + 1` chunks. Two hashes within
`max_distance` bits of each other must agree exactly on at least one chunk (pigeonhole), so only
hashes that share a chunk value are compared. Pairs within the distance are joined with a
union-find into groups (single linkage).

The pick of a group is the copy to keep, by a ladder of rules: the largest picture (pixel
count); among pictures of about that size, a camera RAW over a JPEG or other developed copy
(photographers keep the RAW as the master: it holds the sensor's full tonal range, and a
RAW+JPEG pair's JPEG is the camera's rendering of it); among pictures of about that size
(within SAME_SIZE, as in a burst), one clearly
sharper (by SHARPER_BY); then the richer metadata (capture time, camera, GPS); then the
larger file; then the first path. Size comes first because sharpness is measured on a
reduced picture, where a downscaled copy looks as sharp as its original or sharper."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Compare runs of equal chunk values in blocks of this many rows, to bound memory.
_BLOCK = 2048
# Pictures with at least this share of the largest's pixels count as the same size (a burst,
# a crop of a few rows); sharpness decides among them only when one is this much sharper.
SAME_SIZE = 0.95
SHARPER_BY = 1.2


@dataclass(frozen=True)
class Candidate:
    file_id: int
    path: str
    phash: int
    sharpness: float
    width: int = 0
    height: int = 0
    file_size: int = 0
    has_time: bool = False  # an EXIF capture time
    has_camera: bool = False  # make or model
    has_gps: bool = False
    missing: bool = False  # marked missing in the catalog (listed only when asked for)
    is_raw: bool = False  # a camera RAW (file type RAW-<format>)

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Group:
    best: Candidate  # the pick: see the module's docstring
    members: list[Candidate]  # best first, then by path
    reasons: list[str]  # why the pick won, one phrase per rule that decided something
    # Groups by embedding: each member's cosine with the pick, by file id.
    cosines: dict[int, float] | None = None


def candidates_from_rows(rows) -> list[Candidate]:
    """Candidates from catalog.queries.near_duplicate_candidates rows (the pHash as hex)."""
    return [Candidate(i, path, int(phash, 16), *facts) for i, path, phash, *facts in rows]


def find_groups(candidates: Sequence[Candidate], max_distance: int) -> list[Group]:
    """Groups of two or more candidates linked by pHash distances of at most `max_distance`."""
    hashes = np.array([c.phash for c in candidates], dtype=np.uint64)
    parent = np.arange(len(candidates))
    for i, j in similar_pairs(hashes, max_distance):
        _union(parent, int(i), int(j))
    clusters: dict[int, list[Candidate]] = {}
    for index, candidate in enumerate(candidates):
        clusters.setdefault(_find(parent, index), []).append(candidate)
    groups = [_as_group(members) for members in clusters.values() if len(members) > 1]
    return sorted(groups, key=lambda g: g.best.path)


def embedding_groups(
    candidates: Sequence[Candidate], vectors: np.ndarray, min_cosine: float
) -> list[Group]:
    """Groups of two or more candidates linked by embedding cosines of at least `min_cosine`
    (single linkage), with the same pick as pHash groups. `vectors` holds one unit row per
    candidate."""
    parent = np.arange(len(candidates))
    for i, j in similar_vector_pairs(vectors, min_cosine):
        _join(parent, i, j)
    roots = _roots(parent, np.arange(len(candidates)))
    clusters: dict[int, list[int]] = {}
    for index, root in enumerate(roots.tolist()):
        clusters.setdefault(root, []).append(index)
    groups = []
    for indices in clusters.values():
        if len(indices) > 1:
            group = _as_group([candidates[i] for i in indices])
            best = next(i for i in indices if candidates[i] is group.best)
            cosines = {
                candidates[i].file_id: round(float(vectors[i] @ vectors[best]), 4) for i in indices
            }
            groups.append(Group(group.best, group.members, group.reasons, cosines))
    return sorted(groups, key=lambda g: g.best.path)


def similar_vector_pairs(vectors: np.ndarray, min_cosine: float):
    """Batches (i, j), i < j, of rows whose dot product is at least `min_cosine`: brute
    force in blocks of rows, each against the rows after its start, so memory stays bounded
    even where most pairs match."""
    n = len(vectors)
    block = max(1, min(1024, 20_000_000 // max(n, 1)))
    for start in range(0, n, block):
        rows = vectors[start : start + block]
        similar = rows @ vectors[start:].T >= min_cosine
        i, j = np.nonzero(similar)
        i, j = i + start, j + start
        keep = i < j
        yield i[keep], j[keep]


def _roots(parent: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """The root of each node, compressing the paths it walks."""
    while True:
        up = parent[nodes]
        if np.array_equal(up, nodes):
            return nodes
        parent[nodes] = parent[up]
        nodes = up


def _join(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Union of each pair (a[k], b[k]), vectorized: roots are hooked, larger under smaller,
    until every pair shares a root (where two hooks write the same root, one wins and the
    next round takes the other)."""
    while len(a):
        ra, rb = _roots(parent, a), _roots(parent, b)
        differ = ra != rb
        a, b, ra, rb = a[differ], b[differ], ra[differ], rb[differ]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))


def _as_group(members: list[Candidate]) -> Group:
    best, reasons = pick(members)
    others = sorted((m for m in members if m is not best), key=lambda c: c.path)
    return Group(best, [best, *others], reasons)


def pick(members: list[Candidate]) -> tuple[Candidate, list[str]]:
    """The copy to keep and why: each rule narrows the field, and says why when it drops some."""
    field = sorted(members, key=lambda c: c.path)
    reasons: list[str] = []
    for rule in (_largest, _raw_master, _clearly_sharper, _richest_metadata, _largest_file):
        kept = rule(field)
        if len(kept) < len(field):
            dropped = [c for c in field if c not in kept]
            reasons.append(_why(rule, kept[0], dropped))
        field = kept
    if not reasons:
        reasons.append("first by path (the copies are alike in size, sharpness and metadata)")
    return field[0], reasons


def _largest(field: list[Candidate]) -> list[Candidate]:
    most = max(c.pixels for c in field)
    return [c for c in field if c.pixels >= SAME_SIZE * most]


def _raw_master(field: list[Candidate]) -> list[Candidate]:
    raws = [c for c in field if c.is_raw]
    return raws or field


def _clearly_sharper(field: list[Candidate]) -> list[Candidate]:
    sharpest = max(field, key=lambda c: c.sharpness)
    if all(sharpest.sharpness >= SHARPER_BY * c.sharpness for c in field if c is not sharpest):
        return [sharpest]
    return field  # no clear winner: noise and scene decide differences smaller than that


def _metadata_score(c: Candidate) -> int:
    return c.has_time + c.has_camera + c.has_gps


def _richest_metadata(field: list[Candidate]) -> list[Candidate]:
    best = max(_metadata_score(c) for c in field)
    return [c for c in field if _metadata_score(c) == best]


def _largest_file(field: list[Candidate]) -> list[Candidate]:
    most = max(c.file_size for c in field)
    return [c for c in field if c.file_size == most]


def _why(rule, winner: Candidate, dropped: list[Candidate]) -> str:
    """One phrase, comparing the winner with the strongest of the copies the rule dropped."""
    if rule is _largest:
        other = max(dropped, key=lambda c: c.pixels)
        return f"largest picture ({winner.width}x{winner.height} vs {other.width}x{other.height})"
    if rule is _raw_master:
        return "camera RAW (the master of its JPEG)"
    if rule is _clearly_sharper:
        other = max(dropped, key=lambda c: c.sharpness)
        return f"sharper (sharpness {winner.sharpness:.0f} vs {other.sharpness:.0f})"
    if rule is _richest_metadata:
        other = max(dropped, key=_metadata_score)
        labels = (("has_time", "capture time"), ("has_camera", "camera"), ("has_gps", "GPS"))
        extra = [label for name, label in labels if getattr(winner, name) > getattr(other, name)]
        return f"has {', '.join(extra)}" if extra else "richer metadata"
    other = max(dropped, key=lambda c: c.file_size)
    return f"larger file ({winner.file_size:,} vs {other.file_size:,} bytes)"


def similar_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """Index pairs (i < j) whose Hamming distance is at most `max_distance`, shape (n, 2)."""
    found = [np.empty((0, 2), dtype=np.int64)]
    for shift, width in _chunks(max_distance + 1):
        keys = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts, ends, strict=True):
            if end - start > 1:
                found.append(_pairs_within(hashes, order[start:end], max_distance))
    pairs = np.concatenate(found)
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _pairs_within(hashes: np.ndarray, members: np.ndarray, max_distance: int) -> np.ndarray:
    values = hashes[members]
    out = []
    for row_start in range(0, len(members), _BLOCK):
        rows = values[row_start : row_start + _BLOCK]
        distance = np.bitwise_count(rows[:, None] ^ values[None, :])
        i, j = np.nonzero(distance <= max_distance)
        i += row_start
        keep = i < j
        a, b = members[i[keep]], members[j[keep]]
        out.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.concatenate(out)


def _chunks(count: int) -> list[tuple[int, int]]:
    """(shift, width) of `count` chunks covering 64 bits as evenly as possible."""
    count = max(1, min(count, 64))
    widths = [64 // count + (1 if k < 64 % count else 0) for k in range(count)]
    shifts = np.cumsum([0, *widths[:-1]])
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


def _union(parent: np.ndarray, i: int, j: int) -> None:
    a, b = _find(parent, i), _find(parent, j)
    if a != b:
        parent[max(a, b)] = min(a, b)
