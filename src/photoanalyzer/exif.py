"""EXIF tags -> the catalog's metadata fields. Readers (exifread, Pillow) hand over raw tags
keyed by (IFD, tag id); every rule about units, references and invalid values lives here, so
both readers give the same answer for the same tags."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

IFD0, EXIF, GPS = "IFD0", "Exif", "GPS"
RawTags = dict[tuple[str, int], Any]

# Tag ids from the EXIF 2.32 / CIPA DC-008 specification.
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112
EXPOSURE_TIME, F_NUMBER = 0x829A, 0x829D
ISO_SPEED_RATINGS, RECOMMENDED_EXPOSURE_INDEX, ISO_SPEED = 0x8827, 0x8832, 0x8833
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, SUBSEC_TIME_ORIGINAL = 0x9003, 0x9011, 0x9291
OFFSET_TIME = 0x9010  # the offset of DateTime; cameras that write one zone write it for both
FOCAL_LENGTH, FOCAL_LENGTH_35MM = 0x920A, 0xA405
LENS_MAKE, LENS_MODEL = 0xA433, 0xA434
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_ALT_REF, GPS_ALT = 1, 2, 3, 4, 5, 6

# The fields this module produces, in export order.
EXIF_FIELDS = (
    "orientation",
    "taken_at",
    "taken_at_offset",
    "taken_at_utc",
    "taken_at_offset_source",
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
        **capture_time(raw),
        "subsec": subsec(raw.get((EXIF, SUBSEC_TIME_ORIGINAL))),
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


def capture_time(raw: RawTags) -> dict[str, str | None]:
    """The capture-time fields from DateTimeOriginal (Exif IFD, falling back to IFD0 where some
    writers put it) and its zone: OffsetTimeOriginal, else OffsetTime."""
    stamp = text(raw.get((EXIF, DATETIME_ORIGINAL))) or text(raw.get((IFD0, DATETIME_ORIGINAL)))
    zone = parse_offset(text(raw.get((EXIF, OFFSET_TIME_ORIGINAL)))) or parse_offset(
        text(raw.get((EXIF, OFFSET_TIME)))
    )
    return capture_fields(parse_datetime(stamp), zone, EXIF_OFFSET)


# Where taken_at_offset came from (taken_at_offset_source): the file recorded it with the
# time (EXIF OffsetTimeOriginal or OffsetTime, a QuickTime creationdate with its zone); the
# places phase derived it from the time zone at the photo's GPS position and date; a video
# recorded only a UTC creation time (taken_at is then the UTC wall time, +00:00); or unknown.
EXIF_OFFSET, GPS_OFFSET, VIDEO_UTC_OFFSET, NO_OFFSET = "exif", "gps", "video-utc", "none"


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
