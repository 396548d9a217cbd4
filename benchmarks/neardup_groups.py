"""Near-duplicate grouping of 100,000 random 64-bit hashes with planted groups.

    python benchmarks/neardup_groups.py [--photos 100000] [--groups 2000] [--distance 8]

Each planted group is a random base hash and 1 to 4 copies with up to `distance` bits
flipped. Target: every planted group found, exactly, in under 10 seconds."""

from __future__ import annotations

import argparse
import time

import numpy as np

from photoanalyzer.analysis.neardup import Candidate, find_groups


def planted_library(photos: int, groups: int, distance: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    hashes = list(rng.integers(0, 2**64 - 1, photos, dtype=np.uint64, endpoint=True))
    planted = []
    for g in range(groups):
        base = int(hashes[g])
        members = [g]
        for _ in range(int(rng.integers(1, 5))):
            flipped = base
            for bit in rng.choice(64, int(rng.integers(1, distance + 1)), replace=False):
                flipped ^= 1 << int(bit)
            hashes.append(np.uint64(flipped))
            members.append(len(hashes) - 1)
        planted.append(frozenset(members))
    return [int(h) for h in hashes], planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--distance", type=int, default=8)
    args = parser.parse_args()
    hashes, planted = planted_library(args.photos, args.groups, args.distance)
    candidates = [Candidate(i, f"/library/{i:06}.jpg", h, 1.0) for i, h in enumerate(hashes)]
    started = time.perf_counter()
    groups = find_groups(candidates, args.distance)
    seconds = time.perf_counter() - started
    found = {frozenset(m.file_id for m in group.members) for group in groups}
    missed = [g for g in planted if g not in found]
    extra = found - set(planted)
    print(f"{len(hashes)} hashes, {len(planted)} planted groups, distance <= {args.distance}")
    print(
        f"grouped in {seconds:.2f} s: {len(groups)} groups found, {len(missed)} planted "
        f"groups missed or merged, {len(extra)} groups not planted"
    )
    if missed:
        raise SystemExit("FAILED: not every planted group was found")


if __name__ == "__main__":
    main()
