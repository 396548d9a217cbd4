"""The cost of reading XMP in the metadata phase, on photos without any XMP: this tree's
metadata phase against a baseline source tree (main before XMP), alternating, in one run.

    mkdir /tmp/baseline && git archive <commit-before-xmp> src configs | tar -x -C /tmp/baseline
    python benchmarks/metadata_xmp_overhead.py --baseline /tmp/baseline/src [--count 2000]
        [--repeat 5]

Two measures, each alternating baseline and this tree so that a shared, noisy machine
weighs on both alike:
- in-process: one process per measurement walks nothing and writes nothing; it times
  MetadataPhase.analyze over every file, serially (the per-file cost itself);
- whole process: `photoanalyze run --phases metadata --quiet` into a fresh catalog (the
  figure of docs/performance.md, start-up, walk, workers and catalog writes included).
- the XMP step alone: in one process of this tree, per file, the whole analyze and then the
  XMP step again by itself (sidecar look-up, fields), interleaved file by file, so load
  changes hit both alike: the step's share of the rest of the phase's work.
The library is generated in a temporary folder (JPEGs with full EXIF, no XMP, no sidecars)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic_library import write_library

THIS_SRC = Path(__file__).resolve().parents[1] / "src"
IN_PROCESS = """
import sys, time
from pathlib import Path
from photoanalyzer.phases.metadata import MetadataPhase
paths = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.jpg"))
phase = MetadataPhase()
for p in paths[:50]:
    phase.analyze(p, "photo")  # warm imports and caches
started = time.perf_counter()
for p in paths:
    phase.analyze(p, "photo")
print(len(paths) / (time.perf_counter() - started))
"""

STEP = """
import sys, time
from pathlib import Path
from photoanalyzer.phases.base import Outcome
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.phases.metadata_reading import _with_xmp
paths = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.jpg"))
phase = MetadataPhase()
whole = step = 0.0
for p in paths * 3:
    t0 = time.perf_counter()
    record = phase.analyze(p, "photo").record
    t1 = time.perf_counter()
    _with_xmp(Outcome(record), p, None)
    t2 = time.perf_counter()
    whole, step = whole + t1 - t0, step + t2 - t1
print(step / (whole - step), step / (3 * len(paths)) * 1e6)
"""


def _script_output(script: str, src: Path, library: Path) -> str:
    """What `script` prints, run in a fresh interpreter with `src` as the package."""
    return subprocess.run(
        [sys.executable, "-c", script, str(library)],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def step_share(library: Path) -> tuple[float, float]:
    share, micros = _script_output(STEP, THIS_SRC, library).split()
    return float(share), float(micros)


def in_process(src: Path, library: Path) -> float:
    return float(_script_output(IN_PROCESS, src, library).strip())


def whole_process(src: Path, library: Path, db: Path) -> float:
    command = ["run", str(library), "--db", str(db), "--phases", "metadata", "--quiet"]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "photoanalyzer", *command],
        env={**os.environ, "PYTHONPATH": str(src)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="src/ of the baseline")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this tree": THIS_SRC}
    rates: dict[str, list[float]] = {name: [] for name in trees}
    seconds: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        write_library(library, args.count)
        files = sum(1 for _ in library.rglob("*.jpg"))
        whole_process(THIS_SRC, library, Path(tmp) / "warm.db")  # warm the page cache
        for i in range(args.repeat):
            order = list(trees.items()) if i % 2 == 0 else list(trees.items())[::-1]
            for name, src in order:
                rates[name].append(in_process(src, library))
                seconds[name].append(whole_process(src, library, Path(tmp) / f"{i}-{name}.db"))
        shares = [step_share(library) for _ in range(3)]
    print(f"files: {files} (no XMP); cores: {os.cpu_count()}; repeats: {args.repeat} (median)")
    for name in trees:
        print(
            f"{name:10}: in-process {statistics.median(rates[name]):7.0f} files/s;"
            f" whole process {statistics.median(seconds[name]):5.2f} s"
            f" ({files / statistics.median(seconds[name]):5.0f} files/s)"
        )
    ratio = statistics.median(rates["this tree"]) / statistics.median(rates["baseline"])
    whole = statistics.median(seconds["baseline"]) / statistics.median(seconds["this tree"])
    print(f"this tree / baseline: in-process {ratio:.3f}x, whole process {whole:.3f}x")
    pairs = [t / b for t, b in zip(rates["this tree"], rates["baseline"], strict=True)]
    print("in-process pairs (this tree / baseline): " + ", ".join(f"{p:.3f}" for p in pairs))
    share = statistics.median(s for s, _ in shares)
    micros = statistics.median(m for _, m in shares)
    print(f"XMP step alone: {micros:.1f} us a file, {share:.1%} of the rest of the phase's work")


if __name__ == "__main__":
    main()
