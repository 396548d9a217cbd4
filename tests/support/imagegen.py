"""Fixture images made on the spot: photos with known EXIF, and broken files. Pillow writes
the EXIF, so every value the tests expect is one they wrote themselves."""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

from photoanalyzer.benchmark.synthetic import ExifSpec, exif_of, full_spec

__all__ = ["ExifSpec", "exif_of", "full_spec"]  # re-exported for the tests


def photo(size: tuple[int, int] = (64, 48), seed: int = 0) -> Image.Image:
    """A small picture with structure (a gradient and a block), different for each seed."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    block = Image.new("RGB", (size[0] // 3, size[1] // 3), ((seed * 67) % 256, 90, 160))
    image.paste(block, ((seed * 7) % max(1, size[0] // 2), size[1] // 4))
    return image


def write_photo(
    path: Path, spec: ExifSpec | None = None, size=(64, 48), fmt: str | None = None, seed: int = 0
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = photo(size, seed)
    kwargs = {"exif": exif_of(spec).tobytes()} if spec else {}
    image.save(path, format=fmt, **kwargs)
    return path


def write_zero_byte(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_truncated_jpeg(path: Path, keep: int = 300) -> Path:
    """A JPEG cut inside its headers, as an interrupted copy leaves it."""
    write_photo(path, full_spec(), size=(320, 240))
    path.write_bytes(path.read_bytes()[:keep])
    return path


def write_random_bytes(path: Path, n: int = 4096, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Deterministic noise that starts with no known magic number.
    path.write_bytes(bytes((seed * 7919 + i * 104729) % 251 for i in range(n)))
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def write_png_bomb(path: Path, side: int = 30_000) -> Path:
    """A tiny PNG whose header declares side x side pixels: a decompression bomb."""
    import zlib

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    return path


def write_png_exif_after_broken_pixels(path: Path, size=(64, 48), orientation=6) -> Path:
    """A PNG whose pixel data cannot be decoded (not zlib) and whose eXIf chunk (an EXIF
    orientation) comes after it: any attempt to decode the pixels, or to find that eXIf, fails."""
    header = struct.pack(">IIBBBBB", size[0], size[1], 8, 2, 0, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"not zlib data at all" * 4)
        + _png_chunk(b"eXIf", exif.tobytes()[6:])  # without the JPEG APP1 "Exif\0\0" prefix
        + _png_chunk(b"IEND", b"")
    )
    return path


def textured_photo(size: tuple[int, int] = (800, 600), seed: int = 0) -> Image.Image:
    """A picture with edges and texture at full resolution (shapes, stripes, a gradient), so
    that blur, exposure and hashes have something to measure. Asymmetric, so that any wrong
    rotation or flip shows."""
    import numpy as np
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width * 3 // 4)), int(rng.integers(0, height * 3 // 4))
        x1 = x0 + int(rng.integers(width // 10, width // 3))
        y1 = y0 + int(rng.integers(height // 10, height // 3))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    for x in range(0, width // 4, 6):  # fine stripes in the top-left corner only
        draw.line([(x, 0), (x, height // 4)], fill=(250, 250, 250), width=2)
    return image


def write_broken_fax_tiff(path: Path, seed: int = 0) -> Path:
    """A CCITT Group 3 fax TIFF with scrambled strip data. It still decodes (to garbage), and
    libtiff writes a "Fax3Decode1D: Bad code word" line to fd 2 for every bad line."""
    import random

    from PIL import ImageDraw

    rnd = random.Random(seed)
    image = Image.new("1", (800, 600), 1)
    draw = ImageDraw.Draw(image)
    for _ in range(200):
        x, y = rnd.randrange(800), rnd.randrange(600)
        draw.rectangle([x, y, x + rnd.randrange(40), y + rnd.randrange(10)], fill=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, compression="group3")
    data = bytearray(path.read_bytes())
    for i in range(200, len(data) - 400, 7):  # the strip; Pillow writes the IFD after it
        data[i] = rnd.randrange(256)
    path.write_bytes(bytes(data))
    return path
