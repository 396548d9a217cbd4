"""Places phase: where each geotagged photo or video was taken (the nearest GeoNames place,
its region and country, the distance to it, the IANA time zone), and its true time where the
file does not record one: the UTC offset of that zone at that date, daylight saving time
included. A batch phase: it reads the positions and times the metadata phase stored, looks
them all up at once (places.py, timezones.py) and writes its own table.

    position usable?    (0, 0) is a device that had no fix: no place, no zone, no time.
                        An impossible altitude is noted; the position is still used.
    look up             nearest place by great-circle distance, and the zone, in batches
    at sea              a nautical zone (Etc/GMT+5): no place, no offset derived
    far from any place  more than MAX_PLACE_KM: no place named, the note names the nearest
    time                the file's own offset (EXIF, QuickTime) is kept; a photo without
                        one gets the zone's offset at its local time; a video with only a
                        UTC creation time (a photo with only GPSDateTime) gets the zone's
                        local time at that instant"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from photoanalyzer.analysis import places, timezones
from photoanalyzer.formats import exif
from photoanalyzer.phases.base import (
    Outcome,
    PhaseUnavailable,
    StoredMetadata,
    WorkItem,
)

# places-1: GeoNames nearest place on the sphere, zone from timezonefinder, offsets from tzdata.
CODE_VERSION = "places-1"
# Farther than this from any place of 1,000 people, a place's name says more about the map
# than about the photo (Antarctica, the open tundra): the note names the nearest instead.
MAX_PLACE_KM = 100.0
# Altitudes no photo is taken from: below the deepest dry land (the Dead Sea shore, -430 m)
# by more than GPS's vertical error, or above where GPS receivers stop answering (18 km;
# airliners cruise at 12 km). Devices write such values for a missing vertical fix
# (0xFFFFFFFF, a wrong sign or unit); their horizontal position is usually good.
PLAUSIBLE_ALTITUDE_M = (-1_000.0, 20_000.0)
# Items looked up per batch: large enough that the lookups are vectorised, small enough that
# results are stored (and survive a Ctrl-C) every few seconds.
CHUNK = 20_000

NOT_READ = (
    "the metadata phase has not read this file yet (run it first, or with this phase); "
    "it stays pending"
)
NULL_ISLAND = "position (0, 0) is what devices write without a GPS fix: no place derived"
AT_SEA = "at sea (nautical zone {zone}): no place named, no offset derived"
FAR_AWAY = "no place within {limit:.0f} km: the nearest, {city} ({country}), is {km:.0f} km away"
ODD_ALTITUDE = "altitude {alt:.0f} m is implausible (a device error); the position is still used"
UNKNOWN_ZONE = "time zone {zone} is not in the tz database {release}: no offset derived"

PLACE_FIELDS = (
    "place_city",
    "place_region",
    "place_country",
    "place_country_code",
    "place_distance_km",
    "timezone",
    "place_note",
)
TIME_FIELDS = ("taken_at", "taken_at_offset", "taken_at_utc", "taken_at_offset_source")
RECORD_FIELDS = (*PLACE_FIELDS, *TIME_FIELDS)


@dataclass(frozen=True)
class PlacesPhase:
    # The metadata phase's version: a new way of reading positions or times re-derives places.
    metadata_version: str
    name: str = "places"
    kinds: frozenset[str] = frozenset({"photo", "video"})

    @property
    def version(self) -> str:
        try:
            data = _data_versions()
        except places.PlacesDataMissing:
            return f"{CODE_VERSION}-unavailable"  # analyze_stream says why
        identity = [CODE_VERSION, self.metadata_version, MAX_PLACE_KM, PLAUSIBLE_ALTITUDE_M, data]
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:10]
        return f"{CODE_VERSION}-{digest}"

    def analyze_stream(self, items: list[WorkItem], details: dict[str, Any]) -> Iterator[Outcome]:
        if not items:
            return
        try:
            details["data"] = _data_versions()
        except places.PlacesDataMissing as exc:
            raise PhaseUnavailable(str(exc)) from exc
        counts = {"geotagged": 0, "placed": 0, "times_from_gps": 0}
        clock = {"load_seconds": 0.0, "lookup_seconds": 0.0}
        try:
            for start in range(0, len(items), CHUNK):
                chunk = items[start : start + CHUNK]
                yield from _chunk_outcomes(chunk, counts, clock)
        finally:
            details.update(counts)
            details.update({k: round(v, 3) for k, v in clock.items()})


def _data_versions() -> dict[str, str]:
    return {**places.data_versions(), "tz_database": timezones.database_version()}


def _chunk_outcomes(items: list[WorkItem], counts: dict, clock: dict) -> Iterator[Outcome]:
    usable = [i for i, item in enumerate(items) if _usable_position(item.stored.metadata)]
    found: dict[int, tuple[str | None, places.Place]] = {}
    if usable:
        found = _look_up([items[i].stored.metadata.gps for i in usable], usable, clock)
    for i, item in enumerate(items):
        meta = item.stored.metadata
        if meta is None:
            yield Outcome(None, NOT_READ, final=False)
            continue
        if meta.gps is not None:
            counts["geotagged"] += 1
        record = _record(meta, found.get(i))
        counts["placed"] += record["place_city"] is not None
        counts["times_from_gps"] += record["taken_at_offset_source"] is not None
        yield Outcome(record)


def _usable_position(meta: StoredMetadata | None) -> bool:
    return meta is not None and meta.gps is not None and not _null_island(meta.gps)


def _null_island(gps: tuple[float, float, float | None]) -> bool:
    return gps[0] == 0 and gps[1] == 0


def _look_up(
    positions: list[tuple[float, float, float | None]], indices: list[int], clock: dict
) -> dict[int, tuple[str | None, places.Place]]:
    """item index -> (zone name, nearest place), for all positions in one batch."""
    started = time.perf_counter()
    try:
        gazetteer, finder = places.gazetteer(), places.zone_finder()
    except places.PlacesDataMissing as exc:
        raise PhaseUnavailable(str(exc)) from exc
    loaded = time.perf_counter()
    lats = np.array([p[0] for p in positions], dtype=float)
    lons = np.array([p[1] for p in positions], dtype=float)
    nearest, zones = gazetteer.nearest(lats, lons), finder.zones(lats, lons)
    clock["load_seconds"] += loaded - started
    clock["lookup_seconds"] += time.perf_counter() - loaded
    return dict(zip(indices, zip(zones, nearest, strict=True), strict=True))


def _record(meta: StoredMetadata, found: tuple[str | None, places.Place] | None) -> dict:
    record: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    notes = []
    if meta.gps is not None and _null_island(meta.gps):
        notes.append(NULL_ISLAND)
    if meta.gps is not None and meta.gps[2] is not None:
        low, high = PLAUSIBLE_ALTITUDE_M
        if not low <= meta.gps[2] <= high:
            notes.append(ODD_ALTITUDE.format(alt=meta.gps[2]))
    if found is not None:
        zone, place = found
        record["timezone"] = zone
        if zone is not None and places.is_sea_zone(zone):
            notes.append(AT_SEA.format(zone=zone))
        else:
            notes += _name_place(record, place)
            if zone is not None:
                notes += _derive_time(record, meta, zone)
    record["place_note"] = "; ".join(notes) or None
    return record


def _name_place(record: dict, place: places.Place) -> list[str]:
    if place.distance_km > MAX_PLACE_KM:
        far = FAR_AWAY.format(
            limit=MAX_PLACE_KM, city=place.city, country=place.country, km=place.distance_km
        )
        return [far]
    record.update(
        place_city=place.city,
        place_region=place.region,
        place_country=place.country,
        place_country_code=place.country_code,
        place_distance_km=place.distance_km,
    )
    return []


def _derive_time(record: dict, meta: StoredMetadata, zone_name: str) -> list[str]:
    """The capture time at the zone, where the file's own offset is missing (a photo with
    only local time) or is a bare UTC (a video's creation time, a photo's GPSDateTime). An
    offset the file recorded is never replaced: the camera knew its zone at the moment, and a
    position can be near a border."""
    source = meta.taken_at_offset_source or (
        exif.EXIF_OFFSET if meta.taken_at_offset else exif.NO_OFFSET
    )
    wants_local = source == exif.NO_OFFSET and meta.taken_at
    wants_utc = source in exif.UTC_ONLY_OFFSETS and meta.taken_at_utc
    if not (wants_local or wants_utc):
        return []
    tz = timezones.zone(zone_name)
    if tz is None:
        return [UNKNOWN_ZONE.format(zone=zone_name, release=timezones.database_version())]
    try:
        if wants_local:
            local = datetime.fromisoformat(meta.taken_at)
            offset = timezones.offset_at_local_time(local, tz)
        else:
            utc = datetime.fromisoformat(meta.taken_at_utc.removesuffix("Z"))
            offset = timezones.offset_at_instant(utc, tz)
            local = utc + offset.utcoffset(None)
    except (ValueError, OverflowError):  # a stored time at the ends of the calendar
        return []
    record.update(exif.capture_fields(local, offset, exif.GPS_OFFSET))
    return []
