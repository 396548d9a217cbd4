"""Rescan of an unchanged library, timed as a whole process (start-up included).

    python benchmarks/rescan.py [--count 5000] [--repeat 5] [--phases metadata,content,ml]

A nightly cron run over a library where nothing changed must cost next to nothing: the walk,
one query per root and no phase work. Target: under 2 s for 5,000 files on 2 cores, with all
phases done. The ML phase uses random weights here (the only ones available offline); the
first run, which does all the work, is slow for that reason alone."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic_library import write_library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--phases", default="metadata,content,ml")
    args = parser.parse_args()
    photoanalyze = str(Path(sys.executable).with_name("photoanalyze"))
    with tempfile.TemporaryDirectory() as tmp:
        library, db = Path(tmp) / "library", Path(tmp) / "catalog.db"
        write_library(library, args.count, size=(32, 24))
        config = Path(tmp) / "config.yaml"
        config.write_text(
            f"phases: [{args.phases}]\nml:\n  models_dir: {tmp}/models\n"
            "  clip:\n    pretrained: random\n  yolo:\n    weights: random\n"
        )
        command = [
            photoanalyze,
            "run",
            str(library),
            "--db",
            str(db),
            "--quiet",
            "--config",
            str(config),
        ]
        first = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        first_s = time.perf_counter() - first
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            times.append(time.perf_counter() - started)
        assert "0 new, 0 changed" in out and "0 processed" in out, out
        help_s = min(_time([photoanalyze, "--help"]) for _ in range(5))
    print(f"files: {args.count}; first run ({args.phases}): {first_s:.2f} s")
    print(
        f"unchanged rescan, whole process: median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s over {args.repeat} runs"
    )
    print(f"photoanalyze --help: {help_s:.2f} s (best of 5)")


def _time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
