"""A photo library moved as a whole (~/Pictures becomes /mnt/photos), timed as whole processes.

    python benchmarks/moved_library.py [--count 1100] [--repeat 3] [--phases metadata,content]

Writes --count photo-like 12 MP JPEGs with EXIF (3 to 5 MB each: 1,100 take about 3.7 GB in
the temporary folder, removed at the end). Each repeat starts a fresh catalog and times, each
as a whole `photoanalyze run` process (start-up included):

1. the first metadata-only run (every file new: fingerprints and metadata);
2. with --phases metadata,content, the content phase (not timed: it only fills the catalog);
3. an unchanged rescan with --phases;
4. the moved-library run: the folder renamed (a sibling path), `run NEW_PATH` with --phases
   and the same catalog. Every file must be reported moved and no phase may process one.

Target (issue 18): the moved run no slower than the first metadata-only run. Page cache warm
(the files were just written)."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from synthetic_library import write_camera_roll

TIMED = ("first metadata-only run", "unchanged rescan", "moved-library run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--phases", default="metadata", choices=["metadata", "metadata,content"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        places = [Path(tmp) / "Pictures", Path(tmp) / "photos"]  # the old and the new place
        started = time.perf_counter()
        size = write_library(places[0], args.count)
        print(
            f"wrote {args.count} 12 MP JPEGs ({size / 1e9:.2f} GB) in "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        times: dict[str, list[float]] = {name: [] for name in TIMED}
        for number in range(args.repeat):
            old, new = places[number % 2], places[(number + 1) % 2]
            for name, seconds in one_repeat(old, new, Path(tmp), args).items():
                times[name].append(seconds)
    print(
        f"{args.count} photo-like 12 MP JPEGs, whole process, median of {args.repeat} "
        f"(phases of the rescan and the moved run: {args.phases}):"
    )
    for name, seconds in times.items():
        print(f"  {name}: {statistics.median(seconds):.2f} s (min {min(seconds):.2f} s)")
    moved, first = (statistics.median(times[name]) for name in (TIMED[2], TIMED[0]))
    print(f"moved run / first metadata-only run: {moved / first:.2f}")


def write_library(folder: Path, count: int) -> int:
    """`count` camera-roll photos under folder/DCIM, written by one process per core (each
    with its own seed, so names and pictures differ); returns their total size in bytes."""
    jobs = max(1, min(os.cpu_count() or 1, count))
    shares = [count // jobs + (1 if k < count % jobs else 0) for k in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        written = pool.map(write_camera_roll, [folder] * jobs, shares, range(jobs))
        return sum(path.stat().st_size for paths in written for path in paths)


def one_repeat(old: Path, new: Path, tmp: Path, args) -> dict[str, float]:
    """The library is at `old`; it ends at `new`, indexed there."""
    db = tmp / "catalog.db"
    for leftover in tmp.glob("catalog*"):  # the last repeat's catalog, lock and thumbnails
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    count, phases = args.count, args.phases
    first, out = run(old, db, "metadata")
    assert f"({count} new, 0 changed, 0 moved" in out, out
    if phases != "metadata":
        run(old, db, phases)
    rescan, out = run(old, db, phases)
    assert "(0 new, 0 changed, 0 moved, 0 now missing, 0 unreachable)" in out, out
    os.rename(old, new)
    moved, out = run(new, db, phases)
    assert f"(0 new, 0 changed, {count} moved, 0 now missing, 0 unreachable)" in out, out
    processed = [line.split()[1] for line in out.splitlines() if "processed" in line]
    assert processed and set(processed) == {"0"}, out
    return dict(zip(TIMED, (first, rescan, moved), strict=True))


def run(folder: Path, db: Path, phases: str) -> tuple[float, str]:
    photoanalyze = str(Path(sys.executable).with_name("photoanalyze"))
    command = [photoanalyze, "run", str(folder), "--db", str(db), "--phases", phases, "--quiet"]
    started = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - started, out


if __name__ == "__main__":
    main()
