"""Write a folder of photos with varied, real EXIF for benchmarks (deterministic per seed).

    python benchmarks/synthetic_library.py OUT --count 2000 [--size 640x480] [--seed 0]

Files are written with Pillow through the tests' fixture writer (tests/imagegen.py), so the
benchmarks and the tests share one way of making EXIF. The photo-like 12 MP generator of the
content phase will live here too."""

from __future__ import annotations

import argparse
import random
import sys
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from imagegen import full_spec, write_photo

MAKERS = [
    ("Apple", "iPhone 14 Pro"),
    ("samsung", "SM-S918B"),
    ("Google", "Pixel 8"),
    ("Canon", "EOS R6"),
    ("NIKON CORPORATION", "NIKON Z 6_2"),
    ("FUJIFILM", "X-T5"),
]


def write_library(out: Path, count: int, size: tuple[int, int] = (640, 480), seed: int = 0):
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        make, model = rng.choice(MAKERS)
        spec = full_spec(
            make=make,
            model=model,
            orientation=rng.choice([1, 1, 1, 6, 8, 3]),
            datetime_original=f"20{rng.randint(10, 25)}:{rng.randint(1, 12):02}:"
            f"{rng.randint(1, 28):02} {rng.randint(0, 23):02}:{rng.randint(0, 59):02}:00",
            iso=rng.choice([50, 100, 200, 400, 800, 3200]),
            exposure_time=Fraction(1, rng.choice([30, 60, 125, 250, 1000])),
            gps=(rng.uniform(-80, 80), rng.uniform(-179, 179), rng.uniform(-50, 3000)),
        )
        folder = out / f"{2010 + i % 15}" / f"{1 + i % 12:02}"
        paths.append(write_photo(folder / f"IMG_{i:05}.jpg", spec, size=size, seed=i))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", default="640x480", help="pixel size WxH")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    paths = write_library(args.out, args.count, (width, height), args.seed)
    print(f"wrote {len(paths)} photos under {args.out}")


if __name__ == "__main__":
    main()
