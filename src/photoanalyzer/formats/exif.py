"""EXIF tags -> the catalog's metadata fields. Readers (exifread, Pillow) hand over raw tags
keyed by (IFD, tag id); every rule about units, references and invalid values lives here, so
both readers give the same answer for the same tags."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

IFD0, EXIF, GPS = "IFD0", "Exif", "GPS"
RawTags = dict[tuple[str, int], Any]

# Tag ids from the EXIF 2.32 / CIPA DC-008 specification.
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112
EXPOSURE_TIME, F_NUMBER = 0x829A, 0x829D
ISO_SPEED_RATINGS, RECOMMENDED_EXPOSURE_INDEX, ISO_SPEED = 0x8827, 0x8832, 0x8833
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL = 0x9003, 0x9011, 0x9291
OFFSET_TIME = 0x9010  # the offset of DateTime; cameras that write one zone write it for both
DATETIME_DIGITIZED, OFFSET_TIME_DIGITIZED, SUBSEC_TIME_DIGITIZED = 0x9004, 0x9012, 0x9292
FOCAL_LENGTH, FOCAL_LENGTH_35MM = 0x920A, 0xA405
LENS_MAKE, LENS_MODEL = 0xA433, 0xA434
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_ALT_REF, GPS_ALT = 1, 2, 3, 4, 5, 6
GPS_TIME_STAMP, GPS_DATE_STAMP = 7, 29

# The fields this module produces, in export order.
EXIF_FIELDS = (
    "orientation",
    "taken_at",
    "taken_at_offset",
    "taken_at_utc",
    "taken_at_offset_source",
    "taken_at_source",
    "subsec",
    "make",
    "model",
    "lens",
    "lens_make",
    "exposure_time",
    "f_number",
    "iso",
    "focal_length",
    "focal_length_35mm",
    "gps_lat",
    "gps_lon",
    "gps_alt",
)

_DATETIME = re.compile(r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):(\d{2})\s*$")


def normalize(raw: RawTags) -> dict[str, Any]:
    """All EXIF_FIELDS from raw tags; a missing or invalid value is None."""
    lat, lon, alt = gps_position(raw)
    return {
        "orientation": orientation(raw.get((IFD0, ORIENTATION))),
        **capture_record(capture_stamps(raw), subsec(raw.get((EXIF, SUBSEC_TIME_ORIGINAL)))),
        "make": text(raw.get((IFD0, MAKE))),
        "model": text(raw.get((IFD0, MODEL))),
        "lens": text(raw.get((EXIF, LENS_MODEL))),
        "lens_make": text(raw.get((EXIF, LENS_MAKE))),
        "exposure_time": positive(number(raw.get((EXIF, EXPOSURE_TIME)))),
        "f_number": positive(number(raw.get((EXIF, F_NUMBER)))),
        "iso": iso(raw),
        "focal_length": positive(number(raw.get((EXIF, FOCAL_LENGTH)))),
        "focal_length_35mm": whole(raw.get((EXIF, FOCAL_LENGTH_35MM))),
        "gps_lat": lat,
        "gps_lon": lon,
        "gps_alt": alt,
    }


def first(value: Any) -> Any:
    """Readers give lists or tuples for most tags; the fields use the first item."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def number(value: Any) -> float | None:
    """A float from an int, a float or a rational (exifread Ratio, Pillow IFDRational).
    0/0 and other undefined rationals are None, not a crash."""
    value = first(value)
    if value is None or isinstance(value, str | bytes | bool):
        return None
    denominator = getattr(value, "denominator", 1)
    if denominator == 0:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def positive(value: float | None) -> float | None:
    return value if value is not None and value > 0 else None


def whole(value: Any) -> int | None:
    result = number(value)
    return int(result) if result is not None and result > 0 and result == int(result) else None


def text(value: Any) -> str | None:
    """A stripped string; bytes and lists of byte values are decoded; empty is None."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        value = bytes(v & 0xFF for v in value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # a numeric-looking make stays a string
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", " ").strip()
    return value or None


def orientation(value: Any) -> int | None:
    result = number(value)
    if result is None or result != int(result) or not 1 <= result <= 8:
        return None
    return int(result)


# Where taken_at_offset came from (taken_at_offset_source): the file recorded it with the
# time (EXIF OffsetTimeOriginal or OffsetTime, a QuickTime creationdate with its zone); the
# places phase derived it from the time zone at the photo's GPS position and date; a video
# recorded only a UTC creation time (taken_at is then the UTC wall time, +00:00); or unknown.
# A photo whose only time is GPSDateTime is in the same case as such a video (gps-utc).
EXIF_OFFSET, GPS_OFFSET, VIDEO_UTC_OFFSET, NO_OFFSET = "exif", "gps", "video-utc", "none"
GPS_UTC_OFFSET = "gps-utc"
# Offsets that are UTC only because the file recorded nothing else: the places phase turns
# such a time into the local time at the file's position.
UTC_ONLY_OFFSETS = frozenset({VIDEO_UTC_OFFSET, GPS_UTC_OFFSET})
CAPTURE_FIELDS = ("taken_at", "taken_at_offset", "taken_at_utc", "taken_at_offset_source")

# taken_at_source: the tag taken_at was read from. The metadata phase takes the first of
# these that a file has: the moment of capture as EXIF, XMP (photoshop:DateCreated, which the
# Metadata Working Group maps to DateTimeOriginal) and IPTC-IIM record it, then the moment
# of digitizing (EXIF, then XMP; for a scan, when it was scanned), then GPS's UTC clock.
# File times never: a copy, a restore or a sync sets them.
DATETIME_ORIGINAL_TAG = "exif:DateTimeOriginal"
XMP_DATE_CREATED_TAG = "xmp:photoshop:DateCreated"
IPTC_DATE_CREATED_TAG = "iptc:DateCreated"
CREATE_DATE_TAG = "exif:CreateDate"
XMP_CREATE_DATE_TAG = "xmp:xmp:CreateDate"
GPS_DATETIME_TAG = "exif:GPSDateTime"
CAPTURE_TIME_ORDER = (
    DATETIME_ORIGINAL_TAG,
    XMP_DATE_CREATED_TAG,
    IPTC_DATE_CREATED_TAG,
    CREATE_DATE_TAG,
    XMP_CREATE_DATE_TAG,
    GPS_DATETIME_TAG,
)


@dataclass(frozen=True)
class CaptureStamp:
    """A capture time as one tag records it."""

    when: datetime  # the wall-clock time, naive
    zone: timezone | None  # its UTC offset, where the file records one
    subsec: str | None  # sub-second digits, where the tag has them
    source: str  # the tag: one of CAPTURE_TIME_ORDER (videos name their own)
    offset_source: str = EXIF_OFFSET  # what `zone` is: recorded with the time, or GPS_UTC


def capture_stamps(raw: RawTags) -> list[CaptureStamp]:
    """The capture times EXIF records: DateTimeOriginal (Exif IFD, falling back to IFD0 where
    some writers put it) with OffsetTimeOriginal, else OffsetTime, and SubSecTimeOriginal;
    CreateDate (DateTimeDigitized) with OffsetTimeDigitized, else OffsetTime, and
    SubSecTimeDigitized; GPSDateStamp with GPSTimeStamp, which are UTC."""
    stamps = []
    shared_zone = parse_offset(text(raw.get((EXIF, OFFSET_TIME))))
    for tag, source, offset_tag, subsec_tag in (
        (DATETIME_ORIGINAL, DATETIME_ORIGINAL_TAG, OFFSET_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL),
        (DATETIME_DIGITIZED, CREATE_DATE_TAG, OFFSET_TIME_DIGITIZED, SUBSEC_TIME_DIGITIZED),
    ):
        when = parse_datetime(text(raw.get((EXIF, tag))) or text(raw.get((IFD0, tag))))
        if when is not None:
            zone = parse_offset(text(raw.get((EXIF, offset_tag)))) or shared_zone
            stamps.append(CaptureStamp(when, zone, subsec(raw.get((EXIF, subsec_tag))), source))
    gps_time = gps_datetime(raw)
    if gps_time is not None:
        stamps.append(CaptureStamp(gps_time, UTC, None, GPS_DATETIME_TAG, GPS_UTC_OFFSET))
    return stamps


def gps_datetime(raw: RawTags) -> datetime | None:
    """GPSDateStamp ('YYYY:MM:DD') and GPSTimeStamp (hours, minutes, seconds as rationals), a
    UTC time; the fraction of a second is dropped. None unless both are there and valid."""
    date = re.match(
        r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})", text(raw.get((GPS, GPS_DATE_STAMP))) or ""
    )
    value = raw.get((GPS, GPS_TIME_STAMP))
    parts = [number(p) for p in value[:3]] if isinstance(value, list | tuple) else []
    if date is None or len(parts) != 3 or any(p is None or p < 0 for p in parts):
        return None
    hours, minutes, seconds = parts
    if hours != int(hours) or minutes != int(minutes):
        return None
    try:
        return datetime(
            *(int(part) for part in date.groups()), int(hours), int(minutes), int(seconds)
        )
    except ValueError:  # year 0, 24 o'clock, 60 seconds ...
        return None


def preferred(stamps: Iterable[CaptureStamp]) -> CaptureStamp | None:
    """The stamp of the first source in CAPTURE_TIME_ORDER that has one."""
    order = {source: i for i, source in enumerate(CAPTURE_TIME_ORDER)}
    return min(stamps, key=lambda s: order.get(s.source, len(order)), default=None)


def outranks(stamp: CaptureStamp, current_source: str | None) -> bool:
    """Whether `stamp` comes before the source taken_at was read from (none: it does); a
    source outside CAPTURE_TIME_ORDER (a video's own time) is never replaced."""
    if current_source is None:
        return True
    if current_source not in CAPTURE_TIME_ORDER or stamp.source not in CAPTURE_TIME_ORDER:
        return False
    return CAPTURE_TIME_ORDER.index(stamp.source) < CAPTURE_TIME_ORDER.index(current_source)


def capture_record(stamps: Iterable[CaptureStamp], default_subsec: str | None = None) -> dict:
    """The capture-time fields of the preferred stamp, with taken_at_source and subsec (the
    stamp's own sub-seconds; `default_subsec`, SubSecTimeOriginal, where there is no stamp)."""
    chosen = preferred(stamps)
    if chosen is None:
        return {
            **capture_fields(None, None, EXIF_OFFSET),
            "taken_at_source": None,
            "subsec": default_subsec,
        }
    return {
        **capture_fields(chosen.when, chosen.zone, chosen.offset_source),
        "taken_at_source": chosen.source,
        "subsec": chosen.subsec,
    }


def capture_time(raw: RawTags) -> dict[str, str | None]:
    """The capture-time fields (capture_fields) from the EXIF tags alone."""
    record = capture_record(capture_stamps(raw))
    return {key: record[key] for key in CAPTURE_FIELDS}


def capture_fields(
    when: datetime | None, zone: timezone | None, source: str
) -> dict[str, str | None]:
    """taken_at: the wall-clock time as the camera recorded it, always naive ISO 8601, so the
    column means one thing and sorts as text; taken_at_offset: its UTC offset (-05:00) when
    known; taken_at_utc: the instant in UTC (2021-04-11T20:47:53Z), only when the offset is
    known; taken_at_offset_source: `source` where the offset is known, else "none". Photos,
    videos (video.py) and the places phase all come through here."""
    if when is None:
        return {
            "taken_at": None,
            "taken_at_offset": None,
            "taken_at_utc": None,
            "taken_at_offset_source": NO_OFFSET,
        }
    local = when.replace(tzinfo=None, microsecond=0)
    offset = utc = None
    if zone is not None:
        # Formatted by hand, not with isoformat/strftime on an aware time: the places phase
        # makes 100,000 of these in a first run, and this takes half the time.
        delta = zone.utcoffset(None)
        minutes = int(delta.total_seconds()) // 60
        offset = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}"
        try:
            utc = (local - delta).isoformat() + "Z"
        except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
            utc = None
    return {
        "taken_at": local.isoformat(),
        "taken_at_offset": offset,
        "taken_at_utc": utc,
        "taken_at_offset_source": source if offset is not None else NO_OFFSET,
    }


def parse_datetime(stamp: str | None) -> datetime | None:
    """'YYYY:MM:DD HH:MM:SS' (also with '-' or 'T'); '0000:00:00 00:00:00' and blanks are None."""
    match = _DATETIME.match(stamp or "")
    if not match:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:  # year 0, month 13, 25 o'clock ...
        return None


def parse_offset(value: str | None) -> timezone | None:
    match = _OFFSET.match(value or "")
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14):
        return None
    return timezone(-delta if sign == "-" else delta)


def subsec(value: Any) -> str | None:
    digits = text(value)
    return digits if digits and digits.isdigit() else None


def iso(raw: RawTags) -> int | None:
    """ISOSpeedRatings, else ISOSpeed, else RecommendedExposureIndex (as exiftool reads it)."""
    for tag in (ISO_SPEED_RATINGS, ISO_SPEED, RECOMMENDED_EXPOSURE_INDEX):
        value = whole(raw.get((EXIF, tag)))
        if value is not None:
            return value
    return None


def gps_position(raw: RawTags) -> tuple[float | None, float | None, float | None]:
    """Signed decimal degrees (south and west negative) and metres (negative below sea level).
    Latitude and longitude are both None unless both exist."""
    lat = _degrees(raw.get((GPS, GPS_LAT)), text(raw.get((GPS, GPS_LAT_REF))), "S", 90)
    lon = _degrees(raw.get((GPS, GPS_LON)), text(raw.get((GPS, GPS_LON_REF))), "W", 180)
    if lat is None or lon is None:
        lat = lon = None
    alt = number(raw.get((GPS, GPS_ALT)))
    if alt is not None and _below_sea_level(raw.get((GPS, GPS_ALT_REF))):
        alt = -alt
    return lat, lon, alt


def _degrees(value: Any, ref: str | None, negative_ref: str, limit: float) -> float | None:
    parts = list(value) if isinstance(value, list | tuple) else [value]
    numbers = [number(p) for p in parts[:3]]
    if not numbers or any(n is None for n in numbers):
        return None
    result = sum(n / 60**i for i, n in enumerate(numbers))  # degrees, minutes, seconds
    if ref and ref.upper().startswith(negative_ref):
        result = -result
    return result if abs(result) <= limit else None


def _below_sea_level(ref: Any) -> bool:
    if isinstance(ref, bytes):
        return ref[:1] == b"\x01"
    return number(ref) == 1
