"""Synthetic photo libraries for benchmarks, deterministic from a seed.

    python benchmarks/synthetic_library.py OUT --count 2000 [--size 640x480] [--seed 0]
    python benchmarks/synthetic_library.py OUT --camera-roll --count 100 [--seed 0]

The plain library is small JPEGs with varied, real EXIF (for the metadata phase and rescans).
--camera-roll writes photo-like 12 MP JPEGs, 3 to 5 MB each: smooth scenes with hard edges,
fine detail and sensor-like grain, with EXIF, for the content phase. EXIF is written through
the tests' fixture writer (tests/imagegen.py), so tests and benchmarks share one way of
making it."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photoanalyzer.benchmark.synthetic import random_spec, write_camera_roll
from support.imagegen import write_photo

__all__ = ["write_camera_roll", "write_library"]


def write_library(out: Path, count: int, size: tuple[int, int] = (640, 480), seed: int = 0):
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        spec = random_spec(rng)
        folder = out / f"{2010 + i % 15}" / f"{1 + i % 12:02}"
        paths.append(write_photo(folder / f"IMG_{i:05}.jpg", spec, size=size, seed=i))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", default="640x480", help="pixel size WxH")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--camera-roll", action="store_true", help="12 MP photo-like JPEGs")
    args = parser.parse_args()
    if args.camera_roll:
        paths = write_camera_roll(args.out, args.count, args.seed)
        size = sum(p.stat().st_size for p in paths) / len(paths) / 1e6 if paths else 0
        print(f"wrote {len(paths)} 12 MP photos ({size:.1f} MB each on average) under {args.out}")
        return
    width, height = (int(v) for v in args.size.split("x"))
    paths = write_library(args.out, args.count, (width, height), args.seed)
    print(f"wrote {len(paths)} photos under {args.out}")


if __name__ == "__main__":
    main()
