"""IPTC-IIM, the metadata block older programs write (Photoshop, Photoshop Elements, Picasa,
many exports): keywords (2:25), caption (2:120) and creation date and time (2:55, 2:60).
A JPEG keeps it in the Photoshop resource 0x0404 of its APP13 segments, a TIFF in its tag
33723 (IPTC-NAA). Resources over one segment's 64 KB go on in the next APP13 segment, after
its own signature (exiftool writes them so): the segments are joined before the resources are
read, which Pillow's `info["photoshop"]` does not do (it keeps the first 64 KB).

The block is a run of datasets: 0x1C, record, dataset number, a 2-byte length (its top bit
set: the length is in the next 1 to 4 bytes), the value. Every length is checked against
the bytes that are there; a dataset that claims more ends the reading, keeping what came
before it."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from photoanalyzer.formats import exif

PHOTOSHOP_IPTC_RESOURCE = 0x0404
PHOTOSHOP_SIGNATURE = b"Photoshop 3.0\x00"
_RESOURCE = b"8BIM"
TIFF_IPTC_TAG = 33723
CODED_CHARACTER_SET = (1, 90)
KEYWORDS, CAPTION, DATE_CREATED, TIME_CREATED = (2, 25), (2, 120), (2, 55), (2, 60)
_UTF8_ESCAPE = b"\x1b%G"  # ISO 2022 "UTF-8" in 1:90
_MARKER = 0x1C
_DATE = re.compile(rb"^\s*(\d{4})(\d{2})(\d{2})\s*$")
_TIME = re.compile(rb"^\s*(\d{2}):?(\d{2}):?(\d{2})(?:([+-])(\d{2}):?(\d{2}))?\s*$")


@dataclass(frozen=True)
class IptcFacts:
    keywords: tuple[str, ...] = ()  # 2:25, in the block's order, without repeats
    caption: str | None = None  # 2:120 Caption-Abstract
    created: exif.CaptureStamp | None = None  # 2:55 DateCreated with 2:60 TimeCreated


def read_iptc(block: bytes) -> IptcFacts:
    """The facts of one IPTC-IIM block; empty facts for a block that is not one."""
    found = datasets(block)
    decode = _decoder(found.get(CODED_CHARACTER_SET, [b""])[0])
    keywords = (decode(value).strip() for value in found.get(KEYWORDS, []))
    captions = found.get(CAPTION, [])
    caption = decode(captions[0]).strip() if captions else ""
    return IptcFacts(
        keywords=tuple(dict.fromkeys(k for k in keywords if k)),
        caption=caption or None,
        created=_created(found.get(DATE_CREATED, []), found.get(TIME_CREATED, [])),
    )


def datasets(block: bytes) -> dict[tuple[int, int], list[bytes]]:
    """(record, dataset) -> its values, in order."""
    found: dict[tuple[int, int], list[bytes]] = {}
    pos, end = 0, len(block)
    while pos + 5 <= end and block[pos] == _MARKER:
        tag = (block[pos + 1], block[pos + 2])
        (size,) = struct.unpack_from(">H", block, pos + 3)
        pos += 5
        if size & 0x8000:  # an extended dataset: the length is in the next bytes
            count = size & 0x7FFF
            if not 1 <= count <= 4 or pos + count > end:
                break
            size = int.from_bytes(block[pos : pos + count], "big")
            pos += count
        if pos + size > end:
            break  # a length past the end of the block: stop here, keep what was read
        found.setdefault(tag, []).append(block[pos : pos + size])
        pos += size
    return found


def block_from_app13(segments: Sequence[bytes]) -> bytes | None:
    """The IPTC block of a JPEG's APP13 segments (their bytes after the marker and length):
    the payloads of those that start with Photoshop's signature joined, then the data of the
    first 0x0404 resource in that run; None where there is none. A second one (a program
    that added its own segment and left the old) is not read, as exiftool reads only the
    first unless asked (its IPTC2). A resource that claims more bytes than there are keeps
    what is there and ends the reading."""
    joined = b"".join(
        s[len(PHOTOSHOP_SIGNATURE) :] for s in segments if s.startswith(PHOTOSHOP_SIGNATURE)
    )
    pos, end = 0, len(joined)
    while joined[pos : pos + 4] == _RESOURCE and pos + 7 <= end:
        (code,) = struct.unpack_from(">H", joined, pos + 4)
        pos += 7 + joined[pos + 6]  # the code, then a Pascal name
        pos += pos & 1  # padded to an even length
        if pos + 4 > end:
            break
        (size,) = struct.unpack_from(">I", joined, pos)
        pos += 4
        if code == PHOTOSHOP_IPTC_RESOURCE:
            return joined[pos : pos + size]
        pos += size + (size & 1)
    return None


def block_from_tag(value: Any) -> bytes | None:
    """The IPTC block from a TIFF's tag 33723 as a reader gives it: bytes, or (Photoshop
    writes it as LONG) a sequence of 32-bit numbers in the file's byte order, which is taken
    to be the one that makes the block start with a dataset marker."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, Sequence) or not value or isinstance(value, str):
        return None
    if not all(isinstance(v, int) and 0 <= v <= 0xFFFFFFFF for v in value):
        return None
    if all(v <= 0xFF for v in value):  # BYTE or UNDEFINED values, one a byte
        return bytes(value)
    for order in "><":
        block = struct.pack(f"{order}{len(value)}I", *value)
        if block[0] == _MARKER:
            return block
    return None


def _decoder(charset: bytes):
    """Text as the block declares it: UTF-8 where 1:90 says so; else UTF-8 where the bytes
    are (most writers since about 2010), else Windows Latin 1, as exiftool reads IPTC by
    default."""
    if _UTF8_ESCAPE in charset:
        return lambda value: value.decode("utf-8", errors="replace")

    def guess(value: bytes) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("cp1252", errors="replace")

    return guess


def _created(dates: list[bytes], times: list[bytes]) -> exif.CaptureStamp | None:
    """2:55 (CCYYMMDD; 00 for a month or day not known) with 2:60 (HHMMSS±HHMM). A date
    without a time is taken at midnight, as an XMP date is (xmp.capture_stamp)."""
    date = _DATE.match(dates[0]) if dates else None
    if date is None:
        return None
    year, month, day = (int(part) for part in date.groups())
    clock = _TIME.match(times[0]) if times else None
    hour = minute = second = 0
    zone = None
    if clock is not None:
        hour, minute, second = (int(part) for part in clock.groups()[:3])
        sign, zone_hours, zone_minutes = clock.groups()[3:]
        if sign:
            zone = exif.parse_offset(
                f"{sign.decode()}{zone_hours.decode()}:{zone_minutes.decode()}"
            )
    try:
        when = datetime(year, month or 1, day or 1, hour, minute, second)
    except ValueError:
        return None
    return exif.CaptureStamp(when, zone, None, exif.IPTC_DATE_CREATED_TAG)
