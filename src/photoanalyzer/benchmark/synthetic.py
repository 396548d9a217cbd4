"""Synthetic photos for benchmarks and tests: EXIF written with Pillow from a spec, and
photo-like 12 MP pictures (smooth scenes, hard edges, sensor-like grain), all deterministic
from a seed. `photoanalyze benchmark` uses these when it is given no folder."""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from PIL.TiffImagePlugin import IFDRational

CAMERA_SIZE = (4000, 3000)  # 12 MP, 4:3 like most phone main cameras

EXIF_IFD, GPS_IFD = 0x8769, 0x8825


@dataclass
class ExifSpec:
    make: str | None = None
    model: str | None = None
    orientation: int | None = None
    datetime_original: str | None = None
    offset_time_original: str | None = None
    subsec: str | None = None
    lens: str | None = None
    lens_make: str | None = None
    exposure_time: Fraction | None = None
    f_number: Fraction | None = None
    iso: int | None = None
    focal_length: Fraction | None = None
    focal_length_35mm: int | None = None
    gps: tuple[float, float, float | None] | None = None  # signed lat, lon, alt (metres)


def full_spec(**overrides) -> ExifSpec:
    """Every field set, as a phone would write them."""
    values = dict(
        make="Testmaker",
        model="Model X 12",
        orientation=1,
        datetime_original="2023:07:14 18:30:05",
        offset_time_original="+02:00",
        subsec="042",
        lens="Testmaker 24-70mm F2.8",
        lens_make="Testmaker",
        exposure_time=Fraction(1, 250),
        f_number=Fraction(28, 10),
        iso=400,
        focal_length=Fraction(50, 1),
        focal_length_35mm=75,
        gps=(48.858222, 2.2945, 35.5),
    )
    values.update(overrides)
    return ExifSpec(**values)


def _rational(value: Fraction | float) -> IFDRational:
    fraction = Fraction(value).limit_denominator(1_000_000)
    return IFDRational(fraction.numerator, fraction.denominator)


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return (IFDRational(degrees, 1), IFDRational(minutes, 1), _rational(round(seconds, 4)))


def exif_of(spec: ExifSpec) -> Image.Exif:
    exif = Image.Exif()
    ifd0 = {0x010F: spec.make, 0x0110: spec.model, 0x0112: spec.orientation}
    for tag, value in ifd0.items():
        if value is not None:
            exif[tag] = value
    sub = exif.get_ifd(EXIF_IFD)
    fields = {
        0x9003: spec.datetime_original,
        0x9011: spec.offset_time_original,
        0x9291: spec.subsec,
        0xA434: spec.lens,
        0xA433: spec.lens_make,
        0x8827: spec.iso,
        0xA405: spec.focal_length_35mm,
    }
    for tag, value in fields.items():
        if value is not None:
            sub[tag] = value
    for tag, value in {
        0x829A: spec.exposure_time,
        0x829D: spec.f_number,
        0x920A: spec.focal_length,
    }.items():
        if value is not None:
            sub[tag] = _rational(value)
    if spec.gps is not None:
        lat, lon, alt = spec.gps
        gps = exif.get_ifd(GPS_IFD)
        gps.update(
            {1: "N" if lat >= 0 else "S", 2: _dms(lat), 3: "E" if lon >= 0 else "W", 4: _dms(lon)}
        )
        if alt is not None:
            gps.update({5: b"\x01" if alt < 0 else b"\x00", 6: _rational(abs(alt))})
    return exif


MAKERS = [
    ("Apple", "iPhone 14 Pro"),
    ("samsung", "SM-S918B"),
    ("Google", "Pixel 8"),
    ("Canon", "EOS R6"),
    ("NIKON CORPORATION", "NIKON Z 6_2"),
    ("FUJIFILM", "X-T5"),
]


def random_spec(rng: random.Random) -> ExifSpec:
    """A plausible phone photo's EXIF: maker, time, exposure, GPS anywhere."""
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
        exif = exif_of(random_spec(rng)).tobytes()
        camera_photo(seed * 100_003 + i).save(path, "JPEG", quality=quality, exif=exif)
        paths.append(path)
    return paths
