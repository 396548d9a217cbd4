"""The ISO base media file format (ISO/IEC 14496-12) box reader that HEIF, AVIF and CR3 share:
top-level boxes read with their sizes checked, child boxes iterated, the primary item, the
property associations."""

from __future__ import annotations

import struct
from typing import BinaryIO

from photoanalyzer.formats.bounded import BeyondFile, check_span, file_size, read_at

MAX_META_BYTES = 16 * 1024 * 1024


# The XMP packet's box in an ISO base media file (XMP Specification Part 3, 1.2.7): a `uuid`
# box of this user type, at the top level of an MP4, or a CR3.
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")


def xmp_packet(fh: BinaryIO) -> bytes | None:
    """The XMP packet of an MP4 or QuickTime file: in the top-level XMP `uuid` box (MP4, and
    QuickTime as Adobe writes it), else in moov/udta/XMP_ (QuickTime as exiftool and Apple
    write it). BeyondFile where a top-level box's size lies; None where there is none, where
    the packet is over MAX_META_BYTES, or where a child of moov or udta does not fit its
    parent. Only box heads are read on the way, so a long movie's large moov (its sample
    tables) costs no memory."""
    found = uuid_box(fh, XMP_UUID)
    if found is not None:
        return found
    movie = top_level_span(fh, b"moov")
    if movie is None:
        return None
    check_span(file_size(fh), *movie, "moov box")
    user_data = child_span(fh, movie, b"udta")
    packet = None if user_data is None else child_span(fh, user_data, b"XMP_")
    if packet is None or packet[1] > MAX_META_BYTES:
        return None
    return read_at(fh, *packet, "XMP_ box")


def uuid_box(fh: BinaryIO, user_type: bytes) -> bytes | None:
    """The content of the first top-level `uuid` box of `user_type`, after that type; None
    and BeyondFile as find_top_level_box."""
    body = find_top_level_box(fh, b"uuid", user_type)
    return None if body is None else body[len(user_type) :]


def find_top_level_box(fh: BinaryIO, wanted: bytes, user_type: bytes = b"") -> bytes | None:
    """The body of the first top-level box of type `wanted` (for a `uuid` box, whose body
    starts with `user_type`), None when there is none (or it is over MAX_META_BYTES). A box
    whose size runs past the end of the file raises BeyondFile naming it, before its body is
    read: the size is the file's word, not a fact."""
    span = top_level_span(fh, wanted, user_type)
    if span is None or span[1] > MAX_META_BYTES:
        return None
    return read_at(fh, span[0], span[1], f"{box_name(wanted)} box")


def top_level_span(fh: BinaryIO, wanted: bytes, user_type: bytes = b"") -> tuple[int, int] | None:
    """(offset, length) of the body of the first top-level box of type `wanted` (a `uuid`
    box's starting with `user_type`), as its size states it; only box heads are read, so a
    large body (a preview) is located, not read. BeyondFile where a 64-bit size is cut off."""
    return _box_span(fh, (0, file_size(fh)), wanted, user_type)


def child_span(fh: BinaryIO, parent: tuple[int, int], wanted: bytes) -> tuple[int, int] | None:
    """(offset, length) of the body of the first box of type `wanted` inside the body
    `parent` (offset, length) of another box, read by box heads as top_level_span. None where
    there is none, or where a child before it (or it) does not fit the parent: the video's
    own reader (PyAV) judges the movie; here it only means that nothing is found."""
    try:
        found = _box_span(fh, parent, wanted, b"")
    except BeyondFile:  # a child's 64-bit size cut off by the end of a truncated file
        return None
    return found if found is not None and sum(found) <= sum(parent) else None


def _box_span(
    fh: BinaryIO, within: tuple[int, int], wanted: bytes, user_type: bytes
) -> tuple[int, int] | None:
    """The span of the first box `wanted` among the boxes laid end to end in `within`, as
    its size states it (it may run past `within`); None when there is none, or when a box
    before it states a size that ends past `within` or is smaller than its own head."""
    position, length = within
    end = position + length
    while position + 8 <= end:
        size, kind = struct.unpack(">I4s", read_at(fh, position, 8, "box header"))
        header_len = 8
        if size == 1:
            (size,) = struct.unpack(
                ">Q", read_at(fh, position + 8, 8, f"{box_name(kind)} box size")
            )
            header_len = 16
        elif size == 0:  # the box runs to the end of its parent (of the file, at the top)
            size = end - position
        if size < header_len:
            return None
        if kind == wanted and _starts_with(fh, position + header_len, user_type):
            return position + header_len, size - header_len
        position += size
    return None


def _starts_with(fh: BinaryIO, position: int, prefix: bytes) -> bool:
    if not prefix:
        return True
    fh.seek(position)
    return fh.read(len(prefix)) == prefix


def box_name(kind: bytes) -> str:
    return kind.decode("latin-1")


def iter_boxes(data: bytes):
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > len(data):
            raise BeyondFile(
                f"{box_name(kind)} box length {size} does not fit its parent ({len(data) - pos}"
                " bytes left)"
            )
        yield kind, data[pos + 8 : pos + size]
        pos += size


def iter_boxes_grouped(data: bytes):
    grouped: dict[bytes, list[bytes]] = {}
    for kind, body in iter_boxes(data):
        grouped.setdefault(kind, []).append(body)
    return grouped.items()


def primary_item(pitm: bytes) -> int | None:
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
