"""Near-duplicate groups from 64-bit perceptual hashes, without comparing all pairs.

Multi-index hashing: split the 64 bits into `max_distance + 1` chunks. Two hashes within
`max_distance` bits of each other must agree exactly on at least one chunk (pigeonhole), so only
hashes that share a chunk value are compared. Pairs within the distance are joined with a
union-find into groups (single linkage)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Compare runs of equal chunk values in blocks of this many rows, to bound memory.
_BLOCK = 2048


@dataclass(frozen=True)
class Candidate:
    file_id: int
    path: str
    phash: int
    sharpness: float
    pixels: int


@dataclass(frozen=True)
class Group:
    best: Candidate  # sharpest, then largest, then first by path
    members: list[Candidate]  # best first, then by path


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


def _as_group(members: list[Candidate]) -> Group:
    ranked = sorted(members, key=lambda c: (-c.sharpness, -c.pixels, c.path))
    best = ranked[0]
    return Group(best, [best, *sorted(ranked[1:], key=lambda c: c.path)])


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
