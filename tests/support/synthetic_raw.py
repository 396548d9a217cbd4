"""Synthetic camera RAW files for tests and benchmarks: a DNG with real Bayer sensor data
(16-bit RGGB, uncompressed), an embedded JPEG preview in IFD0, an Orientation tag and a few
EXIF values. LibRaw (rawpy) opens it, finds the preview (`extract_thumb`) and demosaics it
(`postprocess`), so both paths of the RAW decoder run on one file that nobody else made.

Written by hand (a small TIFF writer) because neither Pillow nor the standard library write
the CFA directories and DNG tags LibRaw needs."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# TIFF field types
_SHORT, _LONG, _RATIONAL, _ASCII, _BYTE, _SRATIONAL = 3, 4, 5, 2, 1, 10


@dataclass(frozen=True)
class DngSpec:
    sensor_size: tuple[int, int] = (600, 400)  # width, height of the Bayer data
    preview_size: tuple[int, int] | None = (480, 320)  # None: no preview
    orientation: int = 1
    make: str = "Testcam"
    model: str = "Testcam DNG One"
    datetime_original: str = "2024:05:06 07:08:09"
    exposure_time: tuple[int, int] = (1, 125)
    f_number: tuple[int, int] = (28, 10)
    iso: int = 200
    # Black bars this many pixels high added above and below the preview's picture (a
    # letterboxed preview: the JPEG is preview_size plus the bars).
    preview_bars: int = 0
    # False: no sensor data directory at all (a DNG LibRaw cannot open; only its preview).
    sensor_data: bool = True


def scene(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A picture with a clear up and a clear left: a red top band, a blue bottom-left block,
    a gradient and some texture, so that orientation mistakes and blur are visible."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.empty((height, width, 3), np.float32)
    rgb[..., 0] = 60 + 120 * x / max(1, width - 1)
    rgb[..., 1] = 80 + 100 * y / max(1, height - 1)
    rgb[..., 2] = 90 + 40 * np.sin(x / 7.0) * np.cos(y / 5.0)
    rgb[: height // 5] = (230, 30, 30)  # red band at the top
    rgb[height * 3 // 5 :, : width // 3] = (30, 40, 220)  # blue block bottom left
    rgb += rng.normal(0, 6, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def write_dng(path: Path, spec: DngSpec = DngSpec(), seed: int = 0) -> Path:
    """A DNG at `path`: the scene as RGGB sensor data, stored as the camera held it (the
    scene turned back by `spec.orientation`, so that applying the tag shows it upright)."""
    upright = scene(_displayed(spec.sensor_size, spec.orientation), seed)
    stored = upright.transpose(STORED[spec.orientation]) if spec.orientation in STORED else upright
    bayer = _mosaic(np.asarray(stored))
    preview = None
    if spec.preview_size:
        preview = _preview_jpeg(stored, spec.preview_size, spec.preview_bars)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_dng_bytes(spec, bayer, preview))
    return path


def _displayed(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


# The transpose that turns an upright picture into what a camera with this orientation stores
# (the inverse of imaging's, which makes it upright); 1 has none. Tests writing oriented
# photos use it too.
STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _mosaic(rgb: np.ndarray) -> np.ndarray:
    """RGGB Bayer samples, 16-bit (the 8-bit values scaled to 0..65535)."""
    values = rgb.astype(np.uint16) * 257
    bayer = np.empty(values.shape[:2], np.uint16)
    bayer[0::2, 0::2] = values[0::2, 0::2, 0]
    bayer[0::2, 1::2] = values[0::2, 1::2, 1]
    bayer[1::2, 0::2] = values[1::2, 0::2, 1]
    bayer[1::2, 1::2] = values[1::2, 1::2, 2]
    return bayer


def _preview_jpeg(stored: Image.Image, size: tuple[int, int], bars: int) -> tuple[bytes, tuple]:
    picture = stored.resize(size, Image.Resampling.BOX)
    canvas = Image.new("RGB", (size[0], size[1] + 2 * bars), (0, 0, 0))
    canvas.paste(picture, (0, bars))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue(), canvas.size


def _dng_bytes(spec: DngSpec, bayer: np.ndarray, preview: tuple[bytes, tuple] | None) -> bytes:
    height, width = bayer.shape
    raw_data = bayer.astype("<u2").tobytes()
    exif = [
        (0x829A, _RATIONAL, [spec.exposure_time]),
        (0x829D, _RATIONAL, [spec.f_number]),
        (0x8827, _SHORT, [spec.iso]),
        (0x9003, _ASCII, spec.datetime_original),
    ]
    raw_ifd = [
        (0xFE, _LONG, [0]),
        (0x100, _LONG, [width]),
        (0x101, _LONG, [height]),
        (0x102, _SHORT, [16]),
        (0x103, _SHORT, [1]),
        (0x106, _SHORT, [32803]),  # CFA
        (0x111, _LONG, ["raw"]),
        (0x115, _SHORT, [1]),
        (0x116, _LONG, [height]),
        (0x117, _LONG, [len(raw_data)]),
        (0x11C, _SHORT, [1]),
        (0x828D, _SHORT, [2, 2]),  # CFARepeatPatternDim
        (0x828E, _BYTE, [0, 1, 1, 2]),  # CFAPattern RGGB
        (0xC61A, _LONG, [0]),  # BlackLevel
        (0xC61D, _LONG, [65535]),  # WhiteLevel
    ]
    ifd0 = [
        (0xFE, _LONG, [1 if preview else 0]),
        (0x10F, _ASCII, spec.make),
        (0x110, _ASCII, spec.model),
        (0x112, _SHORT, [spec.orientation]),
        *([(0x14A, _LONG, ["subifd"])] if spec.sensor_data else []),
        (0x8769, _LONG, ["exif"]),
        (0xC612, _BYTE, [1, 4, 0, 0]),  # DNGVersion
        (0xC614, _ASCII, spec.model),  # UniqueCameraModel
        # ColorMatrix1 (XYZ -> camera): sRGB's, so LibRaw renders the colours as given.
        (0xC621, _SRATIONAL, _SRGB_MATRIX),
        (0xC628, _RATIONAL, [(1, 1), (1, 1), (1, 1)]),  # AsShotNeutral
        (0xC65A, _SHORT, [21]),  # CalibrationIlluminant1: D65
    ]
    if preview:
        jpeg, (pw, ph) = preview
        ifd0 += [
            (0x100, _LONG, [pw]),
            (0x101, _LONG, [ph]),
            (0x102, _SHORT, [8, 8, 8]),
            (0x103, _SHORT, [7]),  # JPEG
            (0x106, _SHORT, [6]),  # YCbCr
            (0x111, _LONG, ["preview"]),
            (0x115, _SHORT, [3]),
            (0x116, _LONG, [ph]),
            (0x117, _LONG, [len(jpeg)]),
        ]
    blobs = {"raw": raw_data, **({"preview": preview[0]} if preview else {})}
    if not spec.sensor_data:
        del blobs["raw"]
        return _TiffWriter().build([("ifd0", ifd0), ("exif", exif)], blobs)
    return _TiffWriter().build([("ifd0", ifd0), ("subifd", raw_ifd), ("exif", exif)], blobs)


_SRGB_MATRIX = [
    (3240, 1000), (-1537, 1000), (-499, 1000),
    (-969, 1000), (1876, 1000), (42, 1000),
    (56, 1000), (-204, 1000), (1057, 1000),
]  # fmt: skip


class _TiffWriter:
    """Little-endian TIFF with the given directories; a value "name" in a LONG entry is the
    offset of the directory or data blob of that name."""

    def build(self, ifds: list[tuple[str, list]], blobs: dict[str, bytes]) -> bytes:
        layout: dict[str, int] = {}
        position = 8
        encoded_ifds = []
        for name, entries in ifds:
            entries = sorted(entries, key=lambda e: e[0])
            size = 2 + 12 * len(entries) + 4
            extra = sum(self._extra_size(e) for e in entries)
            layout[name] = position
            encoded_ifds.append((name, entries, position, size))
            position += size + extra
            position += position % 2
        for name, data in blobs.items():
            layout[name] = position
            position += len(data) + len(data) % 2
        out = bytearray(b"II*\x00" + struct.pack("<I", layout[ifds[0][0]]))
        for _name, entries, start, size in encoded_ifds:
            out += self._directory(entries, start, size, layout)
            if len(out) % 2:
                out += b"\x00"
        for _name, data in blobs.items():
            out += data + (b"\x00" if len(data) % 2 else b"")
        return bytes(out)

    def _payload(self, entry, layout) -> tuple[int, bytes]:
        _tag, kind, values = entry
        if kind == _ASCII:
            data = values.encode() + b"\x00"
            return len(data), data
        if kind in (_RATIONAL, _SRATIONAL):
            code = "<" + ("II" if kind == _RATIONAL else "ii") * len(values)
            return len(values), struct.pack(code, *[v for pair in values for v in pair])
        resolved = [layout[v] if isinstance(v, str) else v for v in values]
        code = {_SHORT: "H", _LONG: "I", _BYTE: "B"}[kind]
        return len(resolved), struct.pack("<" + code * len(resolved), *resolved)

    def _extra_size(self, entry) -> int:
        _count, data = self._payload(entry, _AnyOffset())
        return 0 if len(data) <= 4 else len(data) + len(data) % 2

    def _directory(self, entries, start, size, layout) -> bytes:
        table = bytearray(struct.pack("<H", len(entries)))
        extra = bytearray()
        extra_at = start + size
        for entry in entries:
            count, data = self._payload(entry, layout)
            if len(data) <= 4:
                table += struct.pack("<HHI", entry[0], entry[1], count) + data.ljust(4, b"\x00")
            else:
                table += struct.pack("<HHII", entry[0], entry[1], count, extra_at + len(extra))
                extra += data + (b"\x00" if len(data) % 2 else b"")
        table += struct.pack("<I", 0)
        return bytes(table + extra)


class _AnyOffset(dict):
    """Offsets are not known while sizes are measured; any number has the same size."""

    def __getitem__(self, key):
        return 0
