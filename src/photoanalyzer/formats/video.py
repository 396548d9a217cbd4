"""Video facts through PyAV (its wheels carry FFmpeg): duration, frame rate, codec, size,
rotation, creation time with its zone, GPS, maker and model, audio, bit rate. Reads the
container headers and decodes one frame (the display rotation comes with the frames)."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from photoanalyzer.formats.exif import (
    EXIF_OFFSET,
    VIDEO_UTC_OFFSET,
    capture_fields,
    parse_datetime,
    parse_offset,
)

# ISO 6709 as phones write it: +48.8582+002.2945+035.000/ (altitude optional).
_ISO6709 = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?/?\s*$")
_LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
_MAKE_KEYS = ("com.apple.quicktime.make", "make", "manufacturer")
_MODEL_KEYS = ("com.apple.quicktime.model", "model")
# taken_at_source of a video (exif.py names a photo's).
APPLE_TAG, CREATION_TIME_TAG = "quicktime:creationdate", "quicktime:creation_time"


class NotAVideo(ValueError):
    """The file opens, but holds no video stream (an audio-only file, say)."""


class VideoUndecodable(ValueError):
    """FFmpeg cannot decode the video stream or seek in it: the file's data, not the disk."""


# FFmpeg's errors come as OSErrors with an errno (a failed seek is EPERM, "Operation not
# permitted"), which the phases would take for the environment's and retry every night. Only
# these may be the disk's (or memory's); the others, after the file opened, are its data.
_ENVIRONMENT_ERRNOS = frozenset({errno.EIO, errno.ENOMEM})


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """FFmpeg's errors while the opened file is demuxed and decoded, as VideoUndecodable
    saying `what` failed (EIO and ENOMEM pass as they are)."""
    import av

    try:
        yield
    except av.error.FFmpegError as exc:
        if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
            raise
        reason = getattr(exc, "strerror", None) or str(exc)
        raise VideoUndecodable(f"FFmpeg cannot {what} ({reason})") from exc


def video_stream(container):
    """The first video stream, which FFmpeg must have a decoder for."""
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        raise NotAVideo(f"no video stream ({kinds}): not a video")
    stream = container.streams.video[0]
    if stream.codec_context is None:  # an unknown or corrupt codec id
        raise VideoUndecodable("FFmpeg has no decoder for its video stream (unknown codec)")
    return stream


def read_video_metadata(path: str) -> dict[str, Any]:
    import av

    with av.open(path, metadata_errors="ignore") as container:
        stream = video_stream(container)
        tags = {**dict(stream.metadata), **dict(container.metadata)}
        lat, lon, alt = parse_iso6709(_first(tags, _LOCATION_KEYS))
        return {
            "width": stream.codec_context.width or None,
            "height": stream.codec_context.height or None,
            "duration": stream_duration(container, stream),
            "frame_rate": round(float(stream.average_rate), 3) if stream.average_rate else None,
            "video_codec": stream.codec_context.name,
            "rotation": display_rotation(container, stream),
            "has_audio": bool(container.streams.audio),
            "bitrate": container.bit_rate or None,
            **creation_time(tags),
            "make": _first(tags, _MAKE_KEYS),
            "model": _first(tags, _MODEL_KEYS),
            "gps_lat": lat,
            "gps_lon": lon,
            "gps_alt": alt,
        }


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = (tags.get(key) or "").strip()
        if value:
            return value
    return None


def stream_duration(container, stream) -> float | None:
    if container.duration:
        return round(container.duration / 1_000_000, 3)  # microseconds (AV_TIME_BASE)
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    return None


def display_rotation(container, stream) -> int:
    """Degrees clockwise to turn the picture upright, as exiftool's Rotation reports it.
    FFmpeg hands the display matrix to the decoded frames (counter-clockwise degrees)."""
    with decoding("decode its first frame"):
        for frame in container.decode(stream):
            return int(-frame.rotation) % 360
    return 0


def creation_time(tags: dict[str, str]) -> dict[str, str | None]:
    """The capture-time fields (see exif.capture_fields) and taken_at_source. Apple's
    creationdate carries the local time and zone (2023-07-14T18:30:05+0200): offset source
    "exif", as for a photo's EXIF offset. The plain creation_time is UTC: without Apple's
    key, the local time is unknown and taken_at is the UTC wall time, with offset +00:00 and
    source "video-utc" (the places phase turns it into the local time where the video has
    GPS)."""
    apple = tags.get("com.apple.quicktime.creationdate", "").strip()
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})([+-]\d{2}):?(\d{2})$", apple)
    if match:
        stamp, hours, minutes = match.groups()
        local, zone = parse_datetime(stamp), parse_offset(f"{hours}:{minutes}")
        if local is not None and zone is not None:
            return {**capture_fields(local, zone, EXIF_OFFSET), "taken_at_source": APPLE_TAG}
    utc = _utc_creation_time(tags.get("creation_time", ""))
    fields = capture_fields(utc, UTC, VIDEO_UTC_OFFSET)
    return {**fields, "taken_at_source": CREATION_TIME_TAG if utc is not None else None}


def _utc_creation_time(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    if when.year < 1971:  # 1904-01-01 or 1970-01-01: a camera that never set its clock
        return None
    return when


def parse_iso6709(text: str | None) -> tuple[float | None, float | None, float | None]:
    match = _ISO6709.match(text or "")
    if not match:
        return None, None, None
    lat, lon, alt = (float(v) if v is not None else None for v in match.groups())
    if abs(lat) > 90 or abs(lon) > 180:
        return None, None, None
    return lat, lon, alt
