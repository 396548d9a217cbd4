"""UTC offsets of IANA time zones at a date, daylight saving time included, from the `tzdata`
package's copy of the tz database. Not the system's copy (/usr/share/zoneinfo), which the
operating system updates without telling: the package's release is part of the places
phase's version, so a new release re-derives every offset and nothing changes unannounced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo


def database_version() -> str:
    """The tz database release the offsets come from (2026f)."""
    import tzdata

    return tzdata.IANA_VERSION


@cache
def zone(name: str) -> ZoneInfo | None:
    """The zone from the tzdata package; None where it has no zone of that name (a zone
    newer than the database, or no zone name at all)."""
    if not name or name.startswith("/") or ".." in name:
        return None
    try:
        path = resources.files("tzdata").joinpath("zoneinfo", *name.split("/"))
        with path.open("rb") as fh:
            return ZoneInfo.from_file(fh, key=name)
    except (OSError, ValueError, ModuleNotFoundError):
        return None


def offset_at_local_time(local: datetime, tz: ZoneInfo) -> timezone:
    """The UTC offset the zone's clocks had when they showed `local` (naive). In the hour
    that repeats when daylight saving time ends, the first pass (summer time) is taken; a
    time inside the hour skipped when it starts, which no correct clock shows, gets the
    offset from before the change. Both are Python's fold=0."""
    return _whole_minutes(local.replace(tzinfo=tz, fold=0).utcoffset())


def offset_at_instant(utc: datetime, tz: ZoneInfo) -> timezone:
    """The zone's UTC offset at the instant `utc` (naive UTC)."""
    return _whole_minutes(utc.replace(tzinfo=UTC).astimezone(tz).utcoffset())


def _whole_minutes(delta: timedelta | None) -> timezone:
    # Local mean time (before about 1900) had offsets in seconds (Paris +00:09:21); EXIF
    # offsets are whole minutes, and so are the catalog's.
    return _fixed_zone(round((delta or timedelta()).total_seconds() / 60))


@cache
def _fixed_zone(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))
