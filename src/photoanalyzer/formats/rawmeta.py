"""Camera RAW containers: which format a file is (from its content), its pixel size as exiftool
reports it (ImageSize), the EXIF of the formats exifread cannot read (CR3, RAF), and where its
embedded previews are. Reads container structures only, never sensor data.

- TIFF-based (CR2, NEF, DNG, ARW, ORF, RW2, PEF, SRW, IIQ): exifread reads the EXIF; the size,
  the previews and an embedded XMP packet (IFD0's tag 700, where Lightroom writes a DNG's
  rating and keywords) come from the TIFF directories (tiffdir.py).
- CR3 (ISO base media): EXIF in the CMT1 (IFD0), CMT2 (Exif) and CMT4 (GPS) boxes, each a TIFF
  block, inside moov/uuid; previews in THMB (moov/uuid) and PRVW (a top-level uuid box).
- RAF (Fujifilm): a header pointing at an embedded JPEG whose APP1 holds the EXIF, and a
  directory of RAF tags with the cropped sensor size.
- X3F (Sigma): the EXIF of its JPEG image section; the size is the one in its header (the
  sensor's; exiftool reports the JPEG's there).
- X3F (Sigma): the pixel size from its header, the EXIF from its JPEG image section."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

from photoanalyzer.formats import exif, tiffdir
from photoanalyzer.formats.bmff import XMP_UUID, top_level_span, uuid_box
from photoanalyzer.formats.bounded import read_at, read_at_most
from photoanalyzer.formats.filetypes import (  # the HEIF box reader
    HEAD_BYTES,
    RAW_PREFIX,
    find_top_level_box,
    iter_boxes,
    sniff,
)

RAW_FORMATS = ("CR2", "CR3", "NEF", "ARW", "DNG", "ORF", "RW2", "PEF", "RAF", "SRW", "IIQ", "X3F")
RAW_EXTENSIONS = frozenset(f.lower() for f in RAW_FORMATS)

# Compressions and photometric interpretations that only sensor data uses: a TIFF with one of
# these in any directory is a camera RAW, not a picture (a scanner's TIFF with Make "NIKON"
# stays a TIFF).
_RAW_COMPRESSIONS = frozenset({32767, 32769, 32770, 34713, 34316, 65000, 65535})
_RAW_PHOTOMETRICS = frozenset({32803, 34892})  # CFA, LinearRaw
# TIFF-based RAWs told apart by their maker (IFD0 Make, first word, upper case).
_FORMAT_BY_MAKE = {
    "NIKON": "NEF",
    "SONY": "ARW",
    "PENTAX": "PEF",
    "RICOH": "PEF",
    "ASAHI": "PEF",
    "SAMSUNG": "SRW",
    "OLYMPUS": "ORF",
    "OM": "ORF",
    "CANON": "CR2",
    "PANASONIC": "RW2",
    "LEICA": "RW2",
    "LEAF": "IIQ",
    "PHASE": "IIQ",
}
# Canon's uuid inside moov (CMT1..CMT4, THMB) and the top-level uuid that holds PRVW.
_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
_PREVIEW_UUID = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")
_CMT_GROUPS = {b"CMT1": exif.IFD0, b"CMT2": exif.EXIF, b"CMT4": exif.GPS}
_EXIF_IMAGE_WIDTH, _EXIF_IMAGE_HEIGHT = 0xA002, 0xA003
_RAF_CROPPED_SIZE = 0x111


def is_raw(file_type: str | None) -> bool:
    return bool(file_type) and file_type.startswith(RAW_PREFIX)


def file_type(fh: BinaryIO) -> str | None:
    """The file type from the content (filetypes.sniff), a TIFF-based RAW told apart from a
    TIFF picture by its directories."""
    fh.seek(0)
    kind = sniff(fh.read(HEAD_BYTES))
    if kind == "TIFF":
        kind = tiff_raw_type(fh) or kind
    return kind


def tiff_raw_type(fh: BinaryIO) -> str | None:
    """The RAW format of a file that starts like a TIFF, or None for a plain TIFF picture."""
    ifds = tiffdir.read_ifds(fh)
    if not ifds:
        return None
    if ifds[0].first(tiffdir.DNG_VERSION) is not None:
        return "RAW-DNG"
    sensor = any(
        ifd.first(tiffdir.COMPRESSION) in _RAW_COMPRESSIONS
        or ifd.first(tiffdir.PHOTOMETRIC) in _RAW_PHOTOMETRICS
        for ifd in ifds
    )
    if not sensor:
        return None
    make = str(ifds[0].first(tiffdir.MAKE) or "").strip().split(" ", 1)[0].upper()
    return RAW_PREFIX + _FORMAT_BY_MAKE.get(make, "TIFF")


def embedded_xmp(fh: BinaryIO, file_type: str, limit: int) -> tuple[bytes | None, str | None]:
    """(the XMP packet inside a RAW; why it is not read): a TIFF-based RAW's in its IFD0's
    tag 700 (where Lightroom writes a DNG's rating and keywords), a CR3's in its top-level
    XMP uuid box (where the camera writes the rating given on it). None, None where there
    is none (RAF and X3F keep none). A packet over `limit` bytes, or one whose stated place
    lies past the end of the file, is said and not read."""
    if file_type == RAW_PREFIX + "CR3":
        try:
            return uuid_box(fh, XMP_UUID), None
        except ValueError as exc:  # BeyondFile: a box's size lies
            return None, str(exc)
    ifds = tiffdir.read_ifds(fh)
    value = ifds[0].tags.get(tiffdir.XMP) if ifds else None
    if isinstance(value, bytes):
        return value, None
    if isinstance(value, list) and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return bytes(value), None
    if not isinstance(value, tiffdir.Span):
        return None, None
    if value.length > limit:
        return None, f"XMP packet of {value.length} bytes (over {limit}): not read"
    try:
        return read_at(fh, value.offset, value.length, "XMP packet"), None
    except ValueError as exc:  # BeyondFile: the stated length or place lies
        return None, str(exc)


# -- EXIF of the formats exifread cannot read ------------------------------------------------


def cr3_tags(fh: BinaryIO) -> exif.RawTags:
    """The EXIF tags of a CR3, from its CMT boxes, keyed as exif.normalize reads them."""
    raw: exif.RawTags = {}
    for kind, body in _canon_boxes(fh):
        group = _CMT_GROUPS.get(kind)
        if group is None:
            continue
        ifds = tiffdir.read_ifds(io.BytesIO(body))
        if ifds:
            raw.update({(group, tag): value for tag, value in ifds[0].tags.items()})
    return raw


def _canon_boxes(fh: BinaryIO) -> list[tuple[bytes, bytes]]:
    moov = find_top_level_box(fh, b"moov")
    if moov is None:
        return []
    for kind, body in iter_boxes(moov):
        if kind == b"uuid" and body[:16] == _CANON_UUID:
            return list(iter_boxes(body[16:]))
    return []


@dataclass(frozen=True)
class RafLayout:
    jpeg_offset: int
    jpeg_length: int
    directory_offset: int


def raf_layout(fh: BinaryIO) -> RafLayout | None:
    fh.seek(84)
    data = fh.read(16)
    if len(data) < 16:
        return None
    jpeg_offset, jpeg_length, directory_offset, _ = struct.unpack(">IIII", data)
    return RafLayout(jpeg_offset, jpeg_length, directory_offset)


def raf_jpeg(fh: BinaryIO) -> bytes | None:
    """The JPEG a RAF embeds (its APP1 holds the file's EXIF; its picture is the preview)."""
    layout = raf_layout(fh)
    if layout is None or not layout.jpeg_length:
        return None
    # Cut at the end of the file: the EXIF is at the JPEG's start, and a RAF cut short (or
    # with a lying length) still has it.
    data = read_at_most(fh, layout.jpeg_offset, layout.jpeg_length)
    return data if data.startswith(b"\xff\xd8") else None


def exif_streams(fh: BinaryIO, file_type: str) -> list[BinaryIO]:
    """Where exifread should read the EXIF of a RAW, best first: the file itself, or a RAF's
    JPEG; an RW2 adds its JpgFromRaw, whose Exif directory has the ISO and the 35 mm focal
    length that the RAW's own lacks (exiftool reads both)."""
    if file_type == "RAW-RAF":
        return [io.BytesIO(raf_jpeg(fh) or b"")]
    if file_type == "RAW-X3F":
        spot = _x3f_jpeg_spot(fh)
        return [io.BytesIO(read_at_most(fh, spot.offset, spot.length) if spot else b"")]
    if file_type == "RAW-RW2":
        jpeg = _rw2_jpeg(fh)
        return [fh, io.BytesIO(jpeg)] if jpeg else [fh]
    return [fh]


_RW2_JPG_FROM_RAW = 0x2E


def _rw2_jpeg(fh: BinaryIO) -> bytes | None:
    ifds = tiffdir.read_ifds(fh)
    value = ifds[0].tags.get(_RW2_JPG_FROM_RAW) if ifds else None
    if isinstance(value, tiffdir.Span):
        value = read_at_most(fh, value.offset, value.length)  # its EXIF is at its start
    return value if isinstance(value, bytes) and value.startswith(b"\xff\xd8") else None


def orientation(fh: BinaryIO, file_type: str) -> int:
    """The RAW's EXIF orientation (1 to 8; 1 when it has none): what its previews need, since
    cameras store them as the sensor saw the scene."""
    if file_type == "RAW-CR3":
        value = cr3_tags(fh).get((exif.IFD0, tiffdir.ORIENTATION))
    elif file_type == "RAW-RAF":
        jpeg = raf_jpeg(fh)
        ifds = tiffdir.read_ifds(io.BytesIO(_app1_tiff(jpeg))) if jpeg else []
        value = ifds[0].tags.get(tiffdir.ORIENTATION) if ifds else None
    else:
        ifds = tiffdir.read_ifds(fh)
        value = ifds[0].tags.get(tiffdir.ORIENTATION) if ifds else None
    return exif.orientation(value) or 1


def _app1_tiff(jpeg: bytes) -> bytes:
    """The TIFF block of a JPEG's EXIF APP1 segment (empty when it has none)."""
    start = jpeg.find(b"Exif\x00\x00")
    return jpeg[start + 6 :] if start >= 0 else b""


# -- pixel size (exiftool's Composite:ImageSize) ---------------------------------------------


def image_size(fh: BinaryIO, file_type: str, tags: exif.RawTags) -> tuple[int, int] | None:
    """(width, height) as exiftool's ImageSize: RAF's cropped sensor size; the Exif image size
    of CR2 and IIQ; RW2's sensor borders; CR3's CMT1 size; else the size of the TIFF directory
    that holds the full-resolution image (NewSubfileType 0), IFD0 when none says so."""
    if file_type == "RAW-RAF":
        return _raf_cropped_size(fh)
    if file_type == "RAW-X3F":
        fh.seek(28)
        data = fh.read(8)
        return struct.unpack("<II", data) if len(data) == 8 else None
    if file_type == "RAW-CR3":
        return _pair(tags.get((exif.IFD0, tiffdir.IMAGE_WIDTH)), tags.get((exif.IFD0, 0x101)))
    ifds = tiffdir.read_ifds(fh)
    if not ifds:
        return None
    if file_type in ("RAW-CR2", "RAW-IIQ"):
        for ifd in ifds:
            if ifd.kind == "Exif":
                return _pair(ifd.tags.get(_EXIF_IMAGE_WIDTH), ifd.tags.get(_EXIF_IMAGE_HEIGHT))
    if file_type == "RAW-RW2":
        # SensorTopBorder, SensorLeftBorder, SensorBottomBorder, SensorRightBorder
        top, left, bottom, right = (ifds[0].first(tag) for tag in (4, 5, 6, 7))
        if None not in (top, left, bottom, right):
            return right - left, bottom - top
    full = [ifd for ifd in ifds if ifd.first(tiffdir.NEW_SUBFILE_TYPE) == 0]
    main = max(full, key=_area) if full else ifds[0]
    return _pair(main.tags.get(tiffdir.IMAGE_WIDTH), main.tags.get(tiffdir.IMAGE_LENGTH))


def _area(ifd: tiffdir.Ifd) -> int:
    return (ifd.first(tiffdir.IMAGE_WIDTH) or 0) * (ifd.first(tiffdir.IMAGE_LENGTH) or 0)


def _pair(width, height) -> tuple[int, int] | None:
    width, height = exif.whole(width), exif.whole(height)
    return (width, height) if width and height else None


def _raf_cropped_size(fh: BinaryIO) -> tuple[int, int] | None:
    layout = raf_layout(fh)
    if layout is None or not layout.directory_offset:
        return None
    # The directory is small (a few hundred bytes): read no more than 64 KiB of it.
    directory = read_at_most(fh, layout.directory_offset, 64 * 1024)
    if len(directory) < 4:
        return None
    (count,) = struct.unpack_from(">I", directory)
    position = 4
    for _ in range(min(count, 256)):
        if position + 4 > len(directory):
            return None
        tag, size = struct.unpack_from(">HH", directory, position)
        data = directory[position + 4 : position + 4 + size]
        position += 4 + size
        if tag == _RAF_CROPPED_SIZE and len(data) >= 4:
            height, width = struct.unpack(">HH", data[:4])  # stored height first
            return width, height
    return None


# -- embedded previews -----------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewSpot:
    """Where a preview lies in the file: a JPEG (bytes at offset), or uncompressed 8-bit RGB
    rows (`rgb_size` then gives its width and height)."""

    offset: int
    length: int
    rgb_size: tuple[int, int] | None = None


def preview_spots(fh: BinaryIO, file_type: str) -> list[PreviewSpot]:
    """Every embedded preview this module can find, in file order (LibRaw finds one more,
    possibly in a maker note: raw.py asks it too)."""
    if file_type == "RAW-RAF":
        layout = raf_layout(fh)
        return [PreviewSpot(layout.jpeg_offset, layout.jpeg_length)] if layout else []
    if file_type == "RAW-CR3":
        return _cr3_spots(fh)
    if file_type == "RAW-X3F":
        spot = _x3f_jpeg_spot(fh)
        return [spot] if spot else []
    spots = []
    for ifd in tiffdir.read_ifds(fh):
        spot = _ifd_spot(ifd)
        if spot is not None:
            spots.append(spot)
    return spots


def _ifd_spot(ifd: tiffdir.Ifd) -> PreviewSpot | None:
    jpeg_at, jpeg_length = ifd.first(tiffdir.JPEG_OFFSET), ifd.first(tiffdir.JPEG_LENGTH)
    if jpeg_at and jpeg_length:
        return PreviewSpot(jpeg_at, jpeg_length)
    strips, counts = ifd.tags.get(tiffdir.STRIP_OFFSETS), ifd.tags.get(tiffdir.STRIP_BYTE_COUNTS)
    if not isinstance(strips, list) or not isinstance(counts, list) or len(strips) != 1:
        return None
    compression = ifd.first(tiffdir.COMPRESSION)
    if compression in (6, 7) and ifd.first(tiffdir.PHOTOMETRIC) in (2, 6):
        return PreviewSpot(strips[0], counts[0])
    bits = ifd.tags.get(tiffdir.BITS_PER_SAMPLE)
    width, height = ifd.first(tiffdir.IMAGE_WIDTH), ifd.first(tiffdir.IMAGE_LENGTH)
    plain_rgb = (
        compression == 1
        and ifd.first(tiffdir.PHOTOMETRIC) == 2
        and ifd.first(tiffdir.SAMPLES_PER_PIXEL) == 3
        and bits == [8, 8, 8]
    )
    if plain_rgb and width and height and counts[0] >= width * height * 3:
        return PreviewSpot(strips[0], width * height * 3, (width, height))
    return None


_X3F_JPEG = 18  # the image format of an X3F image section that holds a JPEG


def _x3f_jpeg_spot(fh: BinaryIO) -> PreviewSpot | None:
    """The JPEG image section of an X3F (its EXIF is the file's): the last 4 bytes point at
    the section directory "SECd" (version, count, then offset, length, type per section);
    an image section ("SECi", type IMA2 or IMAG) has a 28-byte header with its format."""
    end = fh.seek(0, io.SEEK_END)
    if end < 16:
        return None  # (seeking before the start would be an OSError, taken for the disk's)
    fh.seek(end - 4)
    (directory,) = struct.unpack("<I", fh.read(4))
    fh.seek(directory)
    header = fh.read(12)
    if len(header) < 12 or header[:4] != b"SECd":
        return None
    (count,) = struct.unpack("<I", header[8:12])
    entries = fh.read(12 * min(count, 256))
    for i in range(len(entries) // 12):
        offset, length, kind = struct.unpack_from("<II4s", entries, i * 12)
        if kind in (b"IMA2", b"IMAG") and length > 28:
            fh.seek(offset)
            section = fh.read(28)
            if section[:4] == b"SECi" and struct.unpack("<I", section[12:16])[0] == _X3F_JPEG:
                return PreviewSpot(offset + 28, length - 28)
    return None


def _cr3_spots(fh: BinaryIO) -> list[PreviewSpot]:
    """CR3's PRVW (1620x1080 JPEG in a top-level uuid box). Its THMB (160x120, in moov) is
    smaller than any thumbnail and is not listed. Only the box's head is read here (the JPEG
    starts a few bytes in); read_spot checks its length against the file."""
    try:
        found = top_level_span(fh, b"uuid", _PREVIEW_UUID)
    except ValueError:  # BeyondFile: a box head cut off; no preview to be found
        return []
    if found is None:
        return []
    offset, length = found[0] + len(_PREVIEW_UUID), found[1] - len(_PREVIEW_UUID)
    head = read_at_most(fh, offset, min(max(length, 0), _CR3_PREVIEW_HEAD))
    start = head.find(b"\xff\xd8\xff")
    if start < 0:
        return []
    return [PreviewSpot(offset + start, length - start)]


# How far into CR3's preview box its JPEG is looked for (PRVW's header is 24 bytes in).
_CR3_PREVIEW_HEAD = 256


def read_spot(fh: BinaryIO, spot: PreviewSpot) -> bytes:
    """The preview's bytes; BeyondFile (naming the preview) when its length or offset points
    past the end of the file, before anything is allocated."""
    return read_at(fh, spot.offset, spot.length, "preview")
