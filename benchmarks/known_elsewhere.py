"""What checking the known files outside the scanned roots costs a run.

    python benchmarks/known_elsewhere.py [--outside 50000] [--folders 500] [--repeat 5]

Every run stats each known file outside the folders it scans (so that deleted ones are
marked missing and a gone folder is reported), with one stat per folder where the folder is
gone. This times an unchanged rescan of a small root as a whole process: with no other known
files, with --outside known files elsewhere that are all there, and with those files' disk
"unmounted" (their top folder renamed away). The files are empty: only their paths matter,
and the catalog rows are written directly, as a walk would have written them."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from photoanalyzer.catalog import Catalog, SyncCounts
from photoanalyzer.catalog.files import FileFacts, SyncChanges
from synthetic_library import write_library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outside", type=int, default=50_000)
    parser.add_argument("--folders", type=int, default=500)
    parser.add_argument("--root-files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    photoanalyze = str(Path(sys.executable).with_name("photoanalyze"))
    with tempfile.TemporaryDirectory() as tmp:
        root, elsewhere = Path(tmp) / "root", Path(tmp) / "disk"
        write_library(root, args.root_files, size=(32, 24))
        alone, db = Path(tmp) / "alone.db", Path(tmp) / "catalog.db"
        command = [photoanalyze, "run", str(root), "--quiet", "--phases", "metadata", "--db"]
        subprocess.run([*command, str(alone)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*command, str(db)], check=True, stdout=subprocess.DEVNULL)
        _known_files(db, elsewhere, args.outside, args.folders)
        rows = {
            "no known files outside the root": _rescans([*command, str(alone)], args.repeat),
            f"{args.outside} known files outside, all there": _rescans(
                [*command, str(db)], args.repeat, expect="0 now missing, 0 unreachable"
            ),
        }
        os.rename(elsewhere, Path(tmp) / "unplugged")
        rows[f"{args.outside} known files outside, their disk unmounted"] = _rescans(
            [*command, str(db)], args.repeat, expect=f"{args.outside} unreachable"
        )
    print(f"unchanged rescan of {args.root_files} files, whole process, median of {args.repeat}:")
    for name, seconds in rows.items():
        print(f"  {name}: {statistics.median(seconds):.2f} s (min {min(seconds):.2f} s)")


def _known_files(db: Path, top: Path, count: int, folders: int) -> None:
    """`count` empty files in `folders` folders under `top`, known to the catalog."""
    facts = []
    for i in range(count):
        folder = top / f"{i % folders:04}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IMG_{i:06}.jpg"
        path.touch()
        st = path.stat()
        facts.append((FileFacts(str(path), st.st_size, st.st_mtime_ns, "photo"), None))
    catalog = Catalog(db)
    run_id = catalog.runs.start([str(top)], [])
    catalog.files.apply_sync(run_id, SyncChanges(SyncCounts(count, count, 0, 0), new=facts), 0)
    catalog.runs.finish(run_id, "completed")
    catalog.close()


def _rescans(command: list[str], repeat: int, expect: str = "0 new") -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        times.append(time.perf_counter() - started)
        assert expect in out and "0 new, 0 changed" in out, out
    return times


if __name__ == "__main__":
    main()
