"""What a file is, from its first bytes rather than its name, and the few container facts
that the image libraries hide (the HEIF rotation applied before they report a size)."""

from __future__ import annotations

import struct
from typing import BinaryIO

from photoanalyzer.formats.bmff import (
    find_top_level_box,
    iter_boxes,
    iter_boxes_grouped,
    primary_item,
    property_associations,
)

HEAD_BYTES = 32

# ISO base media "ftyp" brands, mapped to the names exiftool reports.
_BMFF_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"hevc": "HEIC",
    b"hevx": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
    b"qt  ": "MOV",
    b"isom": "MP4",
    b"iso2": "MP4",
    b"mp41": "MP4",
    b"mp42": "MP4",
    b"M4V ": "M4V",
    b"3gp4": "3GP",
    b"3gp5": "3GP",
    b"3gp6": "3GP",
    b"crx ": "RAW-CR3",  # Canon CR3 (rawmeta.py reads it)
}
# Camera RAW files are "RAW-<format>" (rawmeta.py tells the TIFF-based ones apart).
RAW_PREFIX = "RAW-"


def sniff(head: bytes) -> str | None:
    """The file type (JPEG, PNG, TIFF, WEBP, HEIC, HEIF, AVIF, GIF, ...) or None if unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if (raw := raw_type_from_head(head)) is not None:
        return raw
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[4:8] == b"ftyp":
        return _BMFF_BRANDS.get(head[8:12], "BMFF")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska and WebM
        return "MKV"
    return None


def raw_type_from_head(head: bytes) -> str | None:
    """RAW formats with their own magic bytes (the rest are told apart by tiff_raw_type)."""
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "RAW-RAF"
    if head.startswith(b"FOVb"):
        return "RAW-X3F"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "RAW-ORF"
    if head[:4] == b"IIU\x00":
        return "RAW-RW2"
    if head[:4] == b"II*\x00" and head[8:10] == b"CR":
        return "RAW-CR2"
    if head[:4] == b"II*\x00" and head[8:12] == b"IIII":
        return "RAW-IIQ"
    return None


HEIF_TYPES = frozenset({"HEIC", "HEIF", "AVIF"})


def heif_rotation(fh: BinaryIO) -> int | None:
    """Degrees (0, 90, 180, 270, anticlockwise) of the `irot` property of the primary item of
    a HEIF/AVIF file, 0 when it has none, None when the container cannot be parsed. pillow-heif
    applies this rotation before it reports a size; the stored size swaps sides at 90 and 270."""
    try:
        meta = find_top_level_box(fh, b"meta")
        if meta is None:
            return None
        children = dict(iter_boxes_grouped(meta[4:]))  # meta is a full box: skip version/flags
        primary = primary_item(children.get(b"pitm", [b""])[0])
        iprp = children.get(b"iprp")
        if primary is None or iprp is None:
            return None
        props = dict(iter_boxes_grouped(iprp[0]))
        properties = list(iter_boxes(props.get(b"ipco", [b""])[0]))  # indexed from 1
        for index in property_associations(props.get(b"ipma", [])).get(primary, []):
            if 0 < index <= len(properties):
                kind, body = properties[index - 1]
                if kind == b"irot" and body:
                    return (body[0] & 0x3) * 90
        return 0
    except (struct.error, ValueError, IndexError, OSError):
        # IndexError: a box cut short (a byte read past its end). The rotation is unknown; the
        # caller keeps the decoder's size, and the rest of the record is not lost.
        return None
