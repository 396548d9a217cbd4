"""The torture run: every file of the shared corpus, a file of each kind made here, and
COUNT files fuzzed from them (tests/fuzzgen.py: bit flips, truncations, runs inserted and
deleted, length fields overwritten, splices, wrong extensions, empty files, decompression
bombs, fuzzed sidecars), indexed by `photoanalyze run DIR --quiet` with every phase, then
rescanned.

    python benchmarks/torture.py [--corpus ../shared/corpus] [--count 500] [--seed 24]
                                 [--phases metadata,places,content,ml] [--keep DIR]

Passes when both runs exit 0 with nothing on stderr and no traceback, every media file has
for every phase a result or a per-file error (stored with its path, in the export), and the
rescan analyzes nothing. The ML phase runs on random weights (the only ones here), made once
in --models. tests/test_torture.py runs a smaller version (60 files, no ML) on every clone."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.fuzzgen import copy_seeds, fuzz_library, run_and_check, seeds_in, write_seeds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--phases", default="metadata,places,content,ml")
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache" / "pa-torture")
    parser.add_argument("--keep", type=Path, help="build the library here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        library = work / "library"
        seeds = write_seeds(work / "seeds")
        copy_seeds(seeds, work / "seeds", library / "made")
        if args.corpus.is_dir():
            corpus = seeds_in(args.corpus)
            copy_seeds(corpus, args.corpus, library / "corpus")
            seeds += corpus
        else:
            print(f"note: no corpus at {args.corpus}; fuzzing the files made here only")
        fuzzed = fuzz_library(seeds, library / "fuzzed", args.count, args.seed)
        phases = args.phases.split(",")
        extra = (
            f"ml:\n  models_dir: {args.models}\n  clip:\n    pretrained: random\n"
            "  yolo:\n    weights: random\n"
        )
        started = time.perf_counter()
        problems, facts = run_and_check(library, work, phases, extra)
        print(
            f"{facts['files']} media files ({len(seeds)} seeds, {len(fuzzed)} fuzzed, seed"
            f" {args.seed}), phases {','.join(phases)}: run {facts['run_seconds']} s, rescan"
            f" {facts['rescan_seconds']} s, {facts['with_errors']} files with a per-file"
            f" error ({time.perf_counter() - started:.0f} s in all)"
        )
        for phase in phases:
            print(f"  {phase}: {facts.get(phase)}")
        for path in facts["retried"]:
            print(f"  tried again until its error was final (out of memory or I/O): {path}")
        for problem in problems:
            print(f"FAIL: {problem}")
        if not problems:
            print("PASS: exit 0, stderr empty, no traceback, every file has a result or an error")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
