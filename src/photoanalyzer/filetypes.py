"""What a file is, from its first bytes rather than its name, and the few container facts
that the image libraries hide (the HEIF rotation applied before they report a size)."""

from __future__ import annotations

import struct
from typing import BinaryIO

from photoanalyzer.bounded import BeyondFile, file_size, read_at

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
_MAX_META_BYTES = 16 * 1024 * 1024


def heif_rotation(fh: BinaryIO) -> int | None:
    """Degrees (0, 90, 180, 270, anticlockwise) of the `irot` property of the primary item of
    a HEIF/AVIF file, 0 when it has none, None when the container cannot be parsed. pillow-heif
    applies this rotation before it reports a size; the stored size swaps sides at 90 and 270."""
    try:
        meta = _find_top_level_box(fh, b"meta")
        if meta is None:
            return None
        children = dict(_iter_boxes_grouped(meta[4:]))  # meta is a full box: skip version/flags
        primary = _primary_item(children.get(b"pitm", [b""])[0])
        iprp = children.get(b"iprp")
        if primary is None or iprp is None:
            return None
        props = dict(_iter_boxes_grouped(iprp[0]))
        properties = list(_iter_boxes(props.get(b"ipco", [b""])[0]))  # indexed from 1
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


def _find_top_level_box(fh: BinaryIO, wanted: bytes) -> bytes | None:
    """The body of the first top-level box of type `wanted`, None when there is none (or it
    is over _MAX_META_BYTES). A box whose size runs past the end of the file raises
    BeyondFile naming it, before its body is read: the size is the file's word, not a fact."""
    size_of_file = file_size(fh)
    position = 0
    while position + 8 <= size_of_file:
        size, kind = struct.unpack(">I4s", read_at(fh, position, 8, "box header"))
        header_len = 8
        if size == 1:
            (size,) = struct.unpack(">Q", read_at(fh, position + 8, 8, f"{_name(kind)} box size"))
            header_len = 16
        elif size == 0:  # the box runs to the end of the file
            size = size_of_file - position
        if size < header_len:
            return None
        if kind == wanted:
            body_len = size - header_len
            if body_len > _MAX_META_BYTES:
                return None
            return read_at(fh, position + header_len, body_len, f"{_name(kind)} box")
        position += size
    return None


def _name(kind: bytes) -> str:
    return kind.decode("latin-1")


def _iter_boxes(data: bytes):
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > len(data):
            raise BeyondFile(
                f"{_name(kind)} box length {size} does not fit its parent ({len(data) - pos}"
                " bytes left)"
            )
        yield kind, data[pos + 8 : pos + size]
        pos += size


def _iter_boxes_grouped(data: bytes):
    grouped: dict[bytes, list[bytes]] = {}
    for kind, body in _iter_boxes(data):
        grouped.setdefault(kind, []).append(body)
    return grouped.items()


def _primary_item(pitm: bytes) -> int | None:
    if len(pitm) < 6:
        return None
    version = pitm[0]
    return struct.unpack_from(">I" if version else ">H", pitm, 4)[0]


def property_associations(ipma_boxes: list[bytes]) -> dict[int, list[int]]:
    """Item id -> the (1-based) indexes of its properties in ipco, from every ipma, in one
    pass (a phone's grid has 40 to 70 items: one walk per item would be quadratic)."""
    table: dict[int, list[int]] = {}
    for ipma in ipma_boxes:
        version, flags = ipma[0], int.from_bytes(ipma[1:4], "big")
        (count,) = struct.unpack_from(">I", ipma, 4)
        pos = 8
        for _ in range(count):
            if version < 1:
                (entry_item,) = struct.unpack_from(">H", ipma, pos)
                pos += 2
            else:
                (entry_item,) = struct.unpack_from(">I", ipma, pos)
                pos += 4
            indexes = table.setdefault(entry_item, [])
            n = ipma[pos]
            pos += 1
            for _ in range(n):
                if flags & 1:
                    (value,) = struct.unpack_from(">H", ipma, pos)
                    indexes.append(value & 0x7FFF)
                    pos += 2
                else:
                    indexes.append(ipma[pos] & 0x7F)
                    pos += 1
    return table
