"""Places and time zones from GPS, offline: the lookups on known coordinates, local time and
UTC in zones with daylight saving time."""

import math
from datetime import datetime

import numpy as np
import pytest

from photoanalyzer import places, timezones

# (lat, lon) -> (city, region, country code, zone), checked on a map by hand. Across the
# hemispheres, the 180th meridian and the far north.
KNOWN = {
    (48.8584, 2.2945): ("Neuilly-sur-Seine", "Île-de-France", "FR", "Europe/Paris"),
    (40.7580, -73.9855): ("Times Square", "New York", "US", "America/New_York"),
    (-33.8568, 151.2153): ("The Rocks", "New South Wales", "AU", "Australia/Sydney"),
    (-34.6037, -58.3816): (
        "Buenos Aires",
        "Buenos Aires F.D.",
        "AR",
        "America/Argentina/Buenos_Aires",
    ),
    (-0.3713, 36.0564): ("Nakuru", "Nakuru County", "KE", "Africa/Nairobi"),
    (-13.83, -171.76): ("Apia", "Tuamasaga", "WS", "Pacific/Apia"),
    (1.87, -157.43): ("Banana", "Line Islands", "KI", "Pacific/Kiritimati"),
    (64.73, 177.51): ("Anadyr", "Chukotka", "RU", "Asia/Anadyr"),
    (69.6496, 18.9560): ("Tromsø", "Troms", "NO", "Europe/Oslo"),
    # Taveuni, Fiji, just east of the 180th meridian: the nearest place is Labasa, 81 km west
    # across the meridian. A search in raw degrees (reverse_geocode.search) answers Tubou,
    # 160 km away, because -179.98 and 179.36 look 359 degrees apart.
    (-16.80, -179.98): ("Labasa", "Northern", "FJ", "Pacific/Fiji"),
    # Near Egvekinot, west of the meridian; Anadyr, east of it in raw degrees, is farther.
    (66.0, 179.9): ("Egvekinot", "Chukotka", "RU", "Asia/Anadyr"),
}


def test_known_coordinates_give_their_place_region_country_and_zone():
    lats = np.array([lat for lat, _ in KNOWN])
    lons = np.array([lon for _, lon in KNOWN])
    found = places.gazetteer().nearest(lats, lons)
    zones = places.zone_finder().zones(lats, lons)
    for (position, expected), place, zone in zip(KNOWN.items(), found, zones, strict=True):
        assert (place.city, place.region, place.country_code, zone) == expected, position
        assert place.distance_km < 100, (position, place)
    assert found[0].country == "France" and found[3].country == "Argentina"


def test_distances_are_great_circle_kilometres_also_far_north():
    # Longyearbyen is at (78.22334, 15.64689) in GeoNames. One degree of longitude east of it
    # is 22.7 km at that latitude (111 km on the equator).
    lat, lon = 78.22334, 15.64689
    at, east = places.gazetteer().nearest(np.array([lat, lat]), np.array([lon, lon + 1.0]))
    assert (at.city, east.city) == ("Longyearbyen", "Longyearbyen")
    assert at.distance_km < 0.01
    phi, half_dlon = math.radians(lat), math.radians(0.5)
    haversine = 2 * places.EARTH_RADIUS_KM * math.asin(math.cos(phi) * math.sin(half_dlon))
    assert east.distance_km == pytest.approx(haversine, abs=0.01)
    assert 22.6 < east.distance_km < 22.8


def test_the_open_sea_has_a_nautical_zone_and_land_zones_are_not_sea():
    zones = places.zone_finder().zones(np.array([30.0, 0.0, 48.8584]), np.array([-40.0, 0.0, 2.29]))
    assert zones[:2] == ["Etc/GMT+3", "Etc/GMT"]
    assert [places.is_sea_zone(z) for z in zones] == [True, True, False]


def test_data_versions_name_the_packages():
    versions = places.data_versions()
    assert versions["geonames"].startswith("reverse_geocode 1.6")
    assert "timezonefinder-data" in versions["zone_boundaries"]
    assert timezones.database_version()[:2] == "20"


@pytest.mark.parametrize(
    ("zone", "local", "offset"),
    [
        ("America/New_York", datetime(2023, 7, 14, 12), "UTC-04:00"),  # summer: EDT
        ("America/New_York", datetime(2023, 1, 14, 12), "UTC-05:00"),  # winter: EST
        ("Australia/Sydney", datetime(2023, 1, 14, 12), "UTC+11:00"),  # southern summer
        ("Australia/Sydney", datetime(2023, 7, 14, 12), "UTC+10:00"),
        ("Pacific/Kiritimati", datetime(2024, 1, 1, 9), "UTC+14:00"),
        # The hour that repeats in November: the first (summer) pass.
        ("America/New_York", datetime(2023, 11, 5, 1, 30), "UTC-04:00"),
        # Inside the hour skipped in March (no correct clock shows it): the offset before.
        ("America/New_York", datetime(2023, 3, 12, 2, 30), "UTC-05:00"),
        # Local mean time before 1911 had seconds (+00:09:21): whole minutes here.
        ("Europe/Paris", datetime(1890, 1, 1), "UTC+00:09"),
    ],
)
def test_offset_at_local_time_follows_daylight_saving_time(zone, local, offset):
    assert str(timezones.offset_at_local_time(local, timezones.zone(zone))) == offset


def test_offset_at_an_instant_and_unknown_zone_names():
    new_york = timezones.zone("America/New_York")
    assert str(timezones.offset_at_instant(datetime(2024, 1, 2, 17, 4, 5), new_york)) == "UTC-05:00"
    assert str(timezones.offset_at_instant(datetime(2024, 7, 2, 17, 4, 5), new_york)) == "UTC-04:00"
    for name in ("Nowhere/Atlantis", "", "Europe", "../../etc/passwd"):
        assert timezones.zone(name) is None
