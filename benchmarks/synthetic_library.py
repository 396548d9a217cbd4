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
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from imagegen import exif_of, full_spec, write_photo

CAMERA_SIZE = (4000, 3000)  # 12 MP, 4:3 like most phone main cameras

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
        spec = _random_spec(rng)
        folder = out / f"{2010 + i % 15}" / f"{1 + i % 12:02}"
        paths.append(write_photo(folder / f"IMG_{i:05}.jpg", spec, size=size, seed=i))
    return paths


def _random_spec(rng: random.Random):
    make, model = rng.choice(MAKERS)
    return full_spec(
        make=make,
        model=model,
        orientation=rng.choice([1, 1, 1, 6, 8, 3]),
        datetime_original=f"20{rng.randint(10, 25)}:{rng.randint(1, 12):02}:"
        f"{rng.randint(1, 28):02} {rng.randint(0, 23):02}:{rng.randint(0, 59):02}:00",
        iso=rng.choice([50, 100, 200, 400, 800, 3200]),
        exposure_time=Fraction(1, rng.choice([30, 60, 125, 250, 1000])),
        gps=(rng.uniform(-80, 80), rng.uniform(-179, 179), rng.uniform(-50, 3000)),
    )


def camera_photo(seed: int, size: tuple[int, int] = CAMERA_SIZE) -> Image.Image:
    """A photo-like picture: a graded sky-to-ground background with shapes drawn at 1/8 size
    and scaled up (smooth areas), hard-edged detail drawn at full size, and grain."""
    rng = np.random.default_rng(seed)
    small = (size[0] // 8, size[1] // 8)
    top, bottom = rng.integers(30, 230, 3), rng.integers(20, 200, 3)
    ramp = np.linspace(0.0, 1.0, small[1])[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp) * np.ones((1, small[0], 1))
    scene = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(scene)
    for _ in range(int(rng.integers(6, 16))):
        x0, y0 = int(rng.integers(0, small[0])), int(rng.integers(0, small[1]))
        box = [x0, y0, x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200))]
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    image = scene.filter(ImageFilter.GaussianBlur(1.5)).resize(size, Image.Resampling.BICUBIC)
    detail = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(150, 300))):  # branches, wires, text-like strokes
        x0, y0 = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        end = (x0 + int(rng.integers(-300, 300)), y0 + int(rng.integers(-300, 300)))
        detail.line(
            [(x0, y0), end],
            fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
            width=int(rng.integers(1, 4)),
        )
    return _add_grain(image, rng)


_GRAIN_TILE = 1024


def _add_grain(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    # One noise tile, rolled differently per photo: grain at a fraction of the cost of drawing
    # 36 million normal samples for every picture.
    tile = rng.normal(0.0, 5.0, (_GRAIN_TILE, _GRAIN_TILE, 1)) + rng.normal(
        0.0, 2.0, (_GRAIN_TILE, _GRAIN_TILE, 3)
    )
    reps = (image.height // _GRAIN_TILE + 1, image.width // _GRAIN_TILE + 1, 1)
    grain = np.tile(tile.astype(np.int16), reps)[: image.height, : image.width]
    grain = np.roll(grain, (int(rng.integers(0, 512)), int(rng.integers(0, 512))), axis=(0, 1))
    pixels = np.asarray(image, dtype=np.int16) + grain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_camera_roll(out: Path, count: int, seed: int = 0, quality: int = 92) -> list[Path]:
    """`count` 12 MP JPEGs with EXIF under out/DCIM/, deterministic from `seed`."""
    rng = random.Random(seed)
    folder = out / "DCIM"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"IMG_{seed:02}{i:04}.jpg"
        exif = exif_of(_random_spec(rng)).tobytes()
        camera_photo(seed * 100_003 + i).save(path, "JPEG", quality=quality, exif=exif)
        paths.append(path)
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
