"""A JPEG's extended XMP (XMP Specification Part 3, 1.1.3.1): where a packet passes one APP1
segment's 64 KB, the writer keeps a main packet in the usual segment and moves properties
(exiftool: the largest ones, such as a long description) to an extended packet, cut into
parts. The main packet names it by `xmpNote:HasExtendedXMP`, the MD5 digest of the extended
packet as 32 hexadecimal digits; each part is an APP1 segment of its own:

    http://ns.adobe.com/xmp/extension/\\0   the signature
    32 bytes                              that digest, as ASCII
    4 bytes, big-endian                   the extended packet's full length
    4 bytes, big-endian                   this part's offset in it
    the rest                              the part

Parts may come in any order, and parts of other digests (a leftover of an earlier edit) are
not this packet's. The joined packet is used only when every byte is there and its MD5 is
the digest the main packet names."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import NamedTuple

from photoanalyzer.formats.xmp import MAX_PACKET_BYTES, XmpError, read_properties

SIGNATURE = b"http://ns.adobe.com/xmp/extension/\x00"
XMP_NOTE = "http://ns.adobe.com/xmp/note/"
_HEADER = struct.Struct(">32sII")  # digest, full length, offset


class Extended(NamedTuple):
    packet: bytes | None  # the joined packet, where it is whole
    problem: str | None  # why a packet the main one names is not read


def extended_packet(main: bytes | str, segments: Sequence[bytes]) -> Extended:
    """The extended packet that `main` names, joined from a JPEG's APP1 `segments` (their
    bytes after the marker and length; others than extension parts are passed over)."""
    digest = _named_digest(main)
    if digest is None:
        return Extended(None, None)
    length, parts = None, []
    for segment in segments:
        if not segment.startswith(SIGNATURE) or len(segment) < len(SIGNATURE) + _HEADER.size:
            continue
        named, full, offset = _HEADER.unpack_from(segment, len(SIGNATURE))
        if named.decode("ascii", "replace").upper() != digest:
            continue
        if full > MAX_PACKET_BYTES:
            too_large = f"extended XMP of {full} bytes (over {MAX_PACKET_BYTES}): not read"
            return Extended(None, too_large)
        if length is not None and full != length:
            return Extended(None, f"extended XMP parts state lengths {length} and {full}")
        length = full
        parts.append((offset, segment[len(SIGNATURE) + _HEADER.size :]))
    if length is None:
        return Extended(None, "extended XMP named by the packet is not in the file")
    joined = _joined(parts, length)
    if joined is None:
        return Extended(None, f"extended XMP is incomplete ({length} bytes stated)")
    # MD5 is the format's own check of the parts, not a safeguard against anyone.
    if hashlib.md5(joined).hexdigest().upper() != digest:
        return Extended(None, "extended XMP does not match the digest its packet names")
    return Extended(joined, None)


def names_extension(main: bytes | str) -> bool:
    """Whether the main packet may name an extended packet: a byte search, so that a photo
    without one is not parsed twice."""
    return (b"HasExtendedXMP" if isinstance(main, bytes) else "HasExtendedXMP") in main


def _named_digest(main: bytes | str) -> str | None:
    try:
        value = read_properties(main).text(XMP_NOTE, "HasExtendedXMP")
    except XmpError:
        return None  # the main packet's own error is said where it is read
    value = (value or "").strip().upper()
    if len(value) != 32 or any(c not in "0123456789ABCDEF" for c in value):
        return None
    return value


def _joined(parts: list[tuple[int, bytes]], length: int) -> bytes | None:
    """The parts put together, where they cover 0 to `length` with no gap; None else."""
    joined = bytearray(length)
    reached = 0
    for offset, part in sorted(parts):
        if offset > reached or offset + len(part) > length:
            return None
        joined[offset : offset + len(part)] = part
        reached = max(reached, offset + len(part))
    return bytes(joined) if reached == length else None
