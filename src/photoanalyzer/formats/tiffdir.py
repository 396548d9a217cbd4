"""A small reader of TIFF directories (IFDs), for the camera RAW files built on TIFF (CR2, NEF,
DNG, ARW, ORF, RW2, PEF, SRW, IIQ) and the TIFF blocks inside other containers (CR3's CMT
boxes). exifread reads EXIF from most of these files, but it does not say which directory
holds the full-resolution image (its size is exiftool's ImageSize) or where the embedded
previews are; this module reads exactly that, and the tags of TIFF blocks exifread cannot
reach. Reads only the directories and small values: never pixel data."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO

from photoanalyzer.formats.bounded import BeyondFile, check_span, file_size

# Magic numbers after the byte order: TIFF (42), Olympus ORF ("RO", "RS"), Panasonic RW2 (85).
_MAGICS = frozenset({42, 0x4F52, 0x5352, 0x55})
# type id -> (struct code, byte size); 5 and 10 are (signed) rationals, 2 ASCII, 7 undefined.
_TYPES = {
    1: ("B", 1),
    2: ("s", 1),
    3: ("H", 2),
    4: ("I", 4),
    5: ("II", 8),
    6: ("b", 1),
    7: ("s", 1),
    8: ("h", 2),
    9: ("i", 4),
    10: ("ii", 8),
    11: ("f", 4),
    12: ("d", 8),
    13: ("I", 4),
}
# Values larger than this (maker notes, strip tables of huge files) are not read.
_MAX_VALUE_BYTES = 64 * 1024
_MAX_IFDS = 64
_MAX_ENTRIES = 1000

NEW_SUBFILE_TYPE, IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE = 0xFE, 0x100, 0x101, 0x102
COMPRESSION, PHOTOMETRIC, MAKE, STRIP_OFFSETS, ORIENTATION = 0x103, 0x106, 0x10F, 0x111, 0x112
SAMPLES_PER_PIXEL, STRIP_BYTE_COUNTS = 0x115, 0x117
SUB_IFDS, JPEG_OFFSET, JPEG_LENGTH = 0x14A, 0x201, 0x202
EXIF_IFD, GPS_IFD, DNG_VERSION, XMP = 0x8769, 0x8825, 0xC612, 700


@dataclass(frozen=True)
class Span:
    """Where a large undefined value lies (relative to the TIFF start), not read."""

    offset: int
    length: int


@dataclass
class Ifd:
    kind: str  # "IFD0", "IFD1", ... (the main chain), "SubIFD", "Exif", "GPS"
    tags: dict[int, Any] = field(default_factory=dict)

    def first(self, tag: int, default: Any = None) -> Any:
        value = self.tags.get(tag)
        if isinstance(value, list):
            return value[0] if value else default
        return default if value is None else value


def read_ifds(fh: BinaryIO, base: int = 0) -> list[Ifd]:
    """Every directory of the TIFF structure starting at `base` in `fh`: the main chain, its
    SubIFDs, the Exif and GPS directories. Empty when the bytes there are not TIFF. A
    directory cut short ends the walk; what was read before it is kept."""
    fh.seek(base)
    header = fh.read(8)
    if len(header) < 8 or header[:2] not in (b"II", b"MM"):
        return []
    order = "<" if header[:2] == b"II" else ">"
    magic, first_offset = struct.unpack(order + "HI", header[2:8])
    if magic not in _MAGICS:
        return []
    reader = _Reader(fh, base, order)
    ifds: list[Ifd] = []
    queue: list[tuple[str, int]] = [("IFD0", first_offset)]
    chain = 0
    while queue and len(ifds) < _MAX_IFDS:
        kind, offset = queue.pop(0)
        if not offset or offset in reader.seen:
            continue
        reader.seen.add(offset)
        try:
            tags, next_offset = reader.directory(offset)
        except (struct.error, ValueError, OSError):
            break
        ifds.append(Ifd(kind, tags))
        if kind.startswith("IFD") and next_offset:
            chain += 1
            queue.append((f"IFD{chain}", next_offset))
        queue.extend(("SubIFD", o) for o in _offsets(tags.get(SUB_IFDS)))
        queue.extend(("Exif", o) for o in _offsets(tags.get(EXIF_IFD)))
        queue.extend(("GPS", o) for o in _offsets(tags.get(GPS_IFD)))
    return ifds


def _offsets(value: Any) -> list[int]:
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


class _Reader:
    def __init__(self, fh: BinaryIO, base: int, order: str):
        self.fh, self.base, self.order = fh, base, order
        self.seen: set[int] = set()
        self.size = file_size(fh)

    def read(self, offset: int, size: int, what: str) -> bytes:
        """`size` bytes at `offset` (from the TIFF start); BeyondFile (a ValueError) when
        they lie past the end of the file (its size read once, not per value)."""
        check_span(self.size, self.base + offset, size, what)
        self.fh.seek(self.base + offset)
        data = self.fh.read(size)
        if len(data) < size:
            raise BeyondFile(f"{what} is cut short")
        return data

    def directory(self, offset: int) -> tuple[dict[int, Any], int]:
        (count,) = struct.unpack(self.order + "H", self.read(offset, 2, "TIFF directory"))
        if count > _MAX_ENTRIES:
            raise ValueError("implausible directory")
        table = self.read(offset + 2, count * 12 + 4, "TIFF directory")
        tags: dict[int, Any] = {}
        for i in range(count):
            tag, kind, n = struct.unpack_from(self.order + "HHI", table, i * 12)
            value = self._value(kind, n, table[i * 12 + 8 : i * 12 + 12])
            if value is not None:
                tags[tag] = value
        (next_offset,) = struct.unpack_from(self.order + "I", table, count * 12)
        return tags, next_offset

    def _value(self, kind: int, n: int, inline: bytes) -> Any:
        if kind not in _TYPES:
            return None
        code, size = _TYPES[kind]
        total = size * n
        if total > _MAX_VALUE_BYTES:
            # Embedded JPEGs (RW2's JpgFromRaw) and large XMP packets (BYTE or UNDEFINED) are
            # located, not read (their readers bound the read: the count may lie).
            if kind not in (1, 7):
                return None
            return Span(struct.unpack(self.order + "I", inline)[0], total)
        if total <= 4:
            data = inline[:total]
        else:
            offset = struct.unpack(self.order + "I", inline)[0]
            try:
                data = self.read(offset, total, "TIFF value")
            except (ValueError, OSError):
                # A value past the end of the file: a BYTE or UNDEFINED one is located, so
                # that its reader can say where it was said to be (an XMP packet); any other
                # tag is left out.
                return Span(offset, total) if kind in (1, 7) else None
        if kind == 2:
            return data.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
        if kind == 7:
            return data
        values = list(struct.unpack(self.order + code * n, data))
        if kind in (5, 10):
            pairs = zip(values[0::2], values[1::2], strict=True)
            # 0/0 is an undefined rational: None, which every EXIF rule reads as absent.
            return [Fraction(a, b) if b else None for a, b in pairs]
        return values
