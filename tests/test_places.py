"""Places and time zones from GPS, offline: the lookups on known coordinates, local time and
UTC in zones with daylight saving time."""

import csv
import io
import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS
from photoanalyzer.analysis import places, timezones
from photoanalyzer.catalog import Catalog, FileFilter
from photoanalyzer.config import load_config
from photoanalyzer.outputs.export import write_export
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.phases.places import PlacesPhase
from photoanalyzer.run import pipeline
from support.imagegen import full_spec, write_photo
from support.requirements import needs

CONFIG = load_config()

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


# --- The places phase, through the pipeline and the catalog, as a run stores and exports it.


@pytest.fixture
def catalog(tmp_path: Path):
    cat = Catalog(tmp_path / "catalog.db")
    yield cat
    cat.close()


def run(catalog, root: Path, phases=None):
    phases = phases or [MetadataPhase(workers=1), places_phase()]
    return pipeline.run([str(root)], phases, catalog, CONFIG)


def places_phase() -> PlacesPhase:
    return PlacesPhase(metadata_version=MetadataPhase.version)


def exported(catalog) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in catalog.queries.export_rows()}


def times(row: dict) -> tuple:
    keys = ("taken_at", "taken_at_offset", "taken_at_utc", "taken_at_offset_source")
    return tuple(row[k] for k in keys)


def local_photo(path: Path, when: str, gps, offset=None) -> Path:
    """A photo whose EXIF has a local time and, unless given, no offset."""
    return write_photo(
        path, full_spec(datetime_original=when, offset_time_original=offset, gps=gps)
    )


NEW_YORK, SYDNEY = (40.7580, -73.9855, 10.0), (-33.8568, 151.2153, 5.0)


def test_local_time_without_offset_gets_the_zones_offset_in_summer_and_in_winter(tmp_path, catalog):
    lib = tmp_path / "lib"
    local_photo(lib / "ny_summer.jpg", "2023:07:14 12:00:00", NEW_YORK)
    local_photo(lib / "ny_winter.jpg", "2023:01:14 12:00:00", NEW_YORK)
    local_photo(lib / "sydney_january.jpg", "2023:01:14 12:00:00", SYDNEY)  # southern summer
    local_photo(lib / "sydney_july.jpg", "2023:07:14 12:00:00", SYDNEY)
    report = run(catalog, lib)
    assert [(p.name, p.processed, p.errors) for p in report.phases] == [
        ("metadata", 4, 0),
        ("places", 4, 0),
    ]
    rows = exported(catalog)
    assert times(rows["ny_summer.jpg"]) == (
        "2023-07-14T12:00:00",
        "-04:00",
        "2023-07-14T16:00:00Z",
        "gps",
    )
    assert times(rows["ny_winter.jpg"]) == (
        "2023-01-14T12:00:00",
        "-05:00",
        "2023-01-14T17:00:00Z",
        "gps",
    )
    assert times(rows["sydney_january.jpg"])[1:3] == ("+11:00", "2023-01-14T01:00:00Z")
    assert times(rows["sydney_july.jpg"])[1:3] == ("+10:00", "2023-07-14T02:00:00Z")
    ny = rows["ny_summer.jpg"]
    assert (ny["place_city"], ny["place_region"], ny["place_country"]) == (
        "Times Square",
        "New York",
        "United States",
    )
    assert (ny["place_country_code"], ny["timezone"], ny["place_note"]) == (
        "US",
        "America/New_York",
        None,
    )
    assert 0 < ny["place_distance_km"] < 1


def test_an_offset_the_file_records_is_kept_even_where_the_zone_disagrees(tmp_path, catalog):
    # A camera still on Paris time (+02:00) in New York: the file's offset is what its clock
    # meant, so GPS does not override it; the zone is still reported.
    local_photo(tmp_path / "lib" / "a.jpg", "2023:07:14 18:30:05", NEW_YORK, offset="+02:00")
    run(catalog, tmp_path / "lib")
    row = exported(catalog)["a.jpg"]
    assert times(row) == ("2023-07-14T18:30:05", "+02:00", "2023-07-14T16:30:05Z", "exif")
    assert (row["timezone"], row["place_city"]) == ("America/New_York", "Times Square")


def test_null_island_sea_odd_altitude_and_nowhere_near_a_place(tmp_path, catalog):
    lib = tmp_path / "lib"
    local_photo(lib / "null.jpg", "2023:07:14 12:00:00", (0.0, 0.0, 0.0))
    local_photo(lib / "sea.jpg", "2023:07:14 12:00:00", (30.0, -40.0, None))
    local_photo(lib / "altitude.jpg", "2023:07:14 12:00:00", (*SYDNEY[:2], 4294967295.0))
    local_photo(lib / "mcmurdo.jpg", "2023:07:14 12:00:00", (-77.846, 166.676, 20.0))
    write_photo(lib / "no_gps.jpg", full_spec(gps=None, offset_time_original=None))
    run(catalog, lib)
    rows = exported(catalog)
    # (0, 0): a device without a fix. No place, no zone, no derived time; the note says why.
    null = rows["null.jpg"]
    assert null["gps_lat"] == 0 and null["gps_lon"] == 0  # the metadata keeps what was written
    assert (null["place_city"], null["timezone"], times(null)[1:]) == (
        None,
        None,
        (None, None, "none"),
    )
    assert "(0, 0)" in null["place_note"]
    # The open sea: a nautical zone, but nobody's legal time, and no place.
    sea = rows["sea.jpg"]
    assert (sea["place_city"], sea["timezone"], sea["taken_at_offset_source"]) == (
        None,
        "Etc/GMT+3",
        "none",
    )
    assert "at sea" in sea["place_note"]
    # A broken altitude: noted, the position still used.
    odd = rows["altitude.jpg"]
    assert (odd["place_city"], odd["taken_at_offset"]) == ("The Rocks", "+10:00")
    assert "altitude 4294967295 m is implausible" in odd["place_note"]
    # Antarctica: a land zone with its offset (New Zealand time, winter in July), but the
    # nearest place of 1,000 people is 3,475 km away in New Zealand: named in the note only.
    far = rows["mcmurdo.jpg"]
    assert (far["place_city"], far["place_distance_km"], far["timezone"]) == (
        None,
        None,
        "Antarctica/McMurdo",
    )
    assert times(far)[1:] == ("+12:00", "2023-07-14T00:00:00Z", "gps")
    assert far["place_note"].startswith("no place within 100 km: the nearest, Bluff (New Zealand)")
    none = rows["no_gps.jpg"]
    assert (none["place_city"], none["timezone"], none["place_note"]) == (None, None, None)
    assert times(none)[1:] == (None, None, "none")


def test_video_with_only_utc_creation_time_gets_the_local_time_of_its_place(tmp_path, catalog):
    from test_video import write_video

    lib = tmp_path / "lib"
    lib.mkdir()
    write_video(
        lib / "VID_nyc.mp4",
        location="+40.7580-073.9855/",
        tags={"creation_time": "2024-01-02T17:04:05.000000Z"},
        audio=False,
        seconds=1,
    )
    write_video(
        lib / "VID_nowhere.mp4",
        tags={"creation_time": "2024-07-02T17:04:05Z"},
        audio=False,
        seconds=1,
    )
    run(catalog, lib)
    rows = exported(catalog)
    assert times(rows["VID_nyc.mp4"]) == (
        "2024-01-02T12:04:05",
        "-05:00",
        "2024-01-02T17:04:05Z",
        "gps",
    )
    assert rows["VID_nyc.mp4"]["place_city"] == "Times Square"
    # Without GPS the UTC wall time stays, and says what it is.
    assert times(rows["VID_nowhere.mp4"]) == (
        "2024-07-02T17:04:05",
        "+00:00",
        "2024-07-02T17:04:05Z",
        "video-utc",
    )


def test_places_alone_waits_for_the_metadata_phase_and_then_derives(tmp_path, catalog):
    local_photo(tmp_path / "lib" / "a.jpg", "2023:07:14 12:00:00", NEW_YORK)
    alone = run(catalog, tmp_path / "lib", [places_phase()])
    assert (
        alone.phases[0].errors == 1
        and "metadata phase has not read" in alone.phases[0].error_samples[0][1]
    )
    summary = catalog.queries.phase_summary("places", {"photo"}, places_phase().version)
    assert summary["pending_for_config"] == 1
    both = run(catalog, tmp_path / "lib")
    assert [p.processed for p in both.phases] == [1, 1]
    assert exported(catalog)["a.jpg"]["place_city"] == "Times Square"


def test_a_changed_file_shows_no_stale_place_until_places_runs_again(tmp_path, catalog):
    path = local_photo(tmp_path / "lib" / "a.jpg", "2023:07:14 12:00:00", NEW_YORK)
    run(catalog, tmp_path / "lib")
    assert exported(catalog)["a.jpg"]["taken_at_offset_source"] == "gps"
    write_photo(path, full_spec(gps=None, offset_time_original=None, model="Re-saved without GPS"))
    run(catalog, tmp_path / "lib", [MetadataPhase(workers=1)])
    row = exported(catalog)["a.jpg"]
    assert (row["place_city"], row["timezone"], row["taken_at"], row["taken_at_offset_source"]) == (
        None,
        None,
        "2023-07-14T18:30:05",
        "none",
    )


def test_new_data_versions_rederive_every_place_and_an_unchanged_one_nothing(
    tmp_path, catalog, monkeypatch
):
    for i in range(3):
        local_photo(tmp_path / "lib" / f"{i}.jpg", "2023:07:14 12:00:00", NEW_YORK)
    run(catalog, tmp_path / "lib")
    assert run(catalog, tmp_path / "lib").phases[1].processed == 0
    before = places_phase().version
    # A newer tz database installed (the package is the boundary): a new version.
    monkeypatch.setattr(timezones, "database_version", lambda: "2099a")
    assert places_phase().version != before
    assert run(catalog, tmp_path / "lib").phases[1].processed == 3
    # A new way of reading positions and times in the metadata phase re-derives too.
    assert PlacesPhase(metadata_version="metadata-99").version != places_phase().version


def test_export_names_each_field_once_and_csv_carries_the_places(tmp_path, catalog):
    local_photo(tmp_path / "lib" / "a.jpg", "2023:07:14 12:00:00", NEW_YORK)
    run(catalog, tmp_path / "lib")
    names = catalog.queries.field_names()
    assert len(names) == len(set(names))
    assert (
        names.index("taken_at_offset_source") < names.index("place_city") < names.index("timezone")
    )
    out = io.StringIO()
    write_export(catalog.queries.export_rows(), names, "csv", out)
    [row] = csv.DictReader(io.StringIO(out.getvalue()))
    assert (
        row["place_city"],
        row["timezone"],
        row["taken_at_offset"],
        row["taken_at_offset_source"],
    ) == (
        "Times Square",
        "America/New_York",
        "-04:00",
        "gps",
    )


# --- The real corpus: every geotagged file gets its place.

needs_corpus = needs(corpus=CORPUS / "reference.json")

# Checked by hand on a map from the reference's coordinates (file -> city, region, country
# code, zone, capture-time fields as exported).
CORPUS_PLACES = {
    # Arezzo, Tuscany (43.4674 N, 11.8851 E): no offset in EXIF; Italy was on summer time
    # (+02:00) until 26 October 2008.
    "exif-samples/jpg/gps/DSCN0010.jpg": (
        ("Arezzo", "Tuscany", "IT", "Europe/Rome"),
        ("2008-10-22T16:28:39", "+02:00", "2008-10-22T14:28:39Z", "gps"),
    ),
    # Florence in December (43.7856 N, 11.2346 E): winter time, +01:00.
    "exif-samples/jpg/tests/87_OSError.jpg": (
        ("Florence", "Tuscany", "IT", "Europe/Rome"),
        ("2005-12-14T14:39:47", "+01:00", "2005-12-14T13:39:47Z", "gps"),
    ),
    # Near Nakuru, Kenya, just south of the equator (0.3713 S, 36.0564 E): +03:00 all year.
    "exif-samples/jpg/Kodak_CX7530.jpg": (
        ("Nakuru", "Nakuru County", "KE", "Africa/Nairobi"),
        ("2005-08-13T09:47:23", "+03:00", "2005-08-13T06:47:23Z", "gps"),
    ),
    # Helsinki's West Harbour (60.1467 N, 24.9068 E): the EXIF offset +03:00 is kept.
    "exif-samples/jpg/mobile/HMD_Nokia_8.3_5G.jpg": (
        ("Länsisatama", "Uusimaa", "FI", "Europe/Helsinki"),
        ("2022-08-14T14:12:31", "+03:00", "2022-08-14T11:12:31Z", "exif"),
    ),
    # Blue Springs, east of Kansas City, Missouri (39.0513 N, 94.2888 W): the iPhone's own
    # -05:00 is kept, and agrees with Chicago's summer time on 11 April 2021.
    "exif-samples/heic/IMG_5195.HEIC": (
        ("Blue Springs", "Missouri", "US", "America/Chicago"),
        ("2021-04-11T15:47:53", "-05:00", "2021-04-11T20:47:53Z", "exif"),
    ),
    # Sierra de Guadarrama, north of Madrid (40.7887 N, 4.0051 W; 1,942 m up): no capture
    # time but GPSDateTime (14:44:09 UTC, exiftool), which is Madrid's 15:44:09 in winter.
    "exif-samples/heic/mobile/HMD_Nokia_8.3_5G.heif": (
        ("Navacerrada", "Madrid", "ES", "Europe/Madrid"),
        ("2022-02-03T15:44:09", "+01:00", "2022-02-03T14:44:09Z", "gps"),
    ),
}


@needs_corpus
def test_every_geotagged_corpus_file_gets_its_place_and_hand_checked_ones_the_right_one(cli):
    db = cli.home / "corpus.db"
    result = cli("run", str(CORPUS / "images"), "--db", str(db), "--phases", "metadata,places")
    assert "geotagged" in result.stdout and "tz database" in result.stdout
    rows = cli.export(db)
    reference = json.loads((CORPUS / "reference.json").read_text())["files"]
    geotagged = [ref["file"] for ref in reference if ref["gps_lat"] is not None]
    assert len(geotagged) >= 10
    for name in geotagged:
        row = rows[str(CORPUS / "images" / name)]
        assert row["place_city"] and row["place_country_code"] and row["timezone"], name
        assert row["place_distance_km"] < 25, (name, row["place_distance_km"])
    for name, (place, capture) in CORPUS_PLACES.items():
        row = rows[str(CORPUS / "images" / name)]
        fields = ("place_city", "place_region", "place_country_code", "timezone")
        assert tuple(row[k] for k in fields) == place, name
        assert times(row) == capture, name


# --- status and the place filter


def test_status_counts_geotagged_files_places_countries_and_zones(cli, tmp_path):
    lib = tmp_path / "lib"
    local_photo(lib / "ny1.jpg", "2023:07:14 12:00:00", NEW_YORK)
    local_photo(lib / "ny2.jpg", "2023:07:15 12:00:00", NEW_YORK)
    local_photo(lib / "sydney.jpg", "2023:07:14 12:00:00", SYDNEY)
    local_photo(lib / "null.jpg", "2023:07:14 12:00:00", (0.0, 0.0, 0.0))
    write_photo(lib / "no_gps.jpg", full_spec(gps=None))
    db = str(tmp_path / "c.db")
    cli("run", str(lib), "--db", db, "--phases", "metadata,places", "--quiet")
    status = cli("status", "--db", db).stdout
    assert "places    5 done, 0 with results of an older version, 0 failed, 0 never" in status
    assert "geotagged: 4 photos; 3 placed in 2 places, 2 countries, 2 time zones" in status
    assert "most photographed: United States 2, Australia 1" in status
    counts = json.loads(cli("status", "--db", db, "--json").stdout)["places"]
    assert counts == {
        "geotagged": {"photo": 4, "video": 0},
        "placed": 3,
        "places": 2,
        "countries": 2,
        "timezones": 2,
        "top_countries": [["United States", 2], ["Australia", 1]],
    }


def test_search_by_place_matches_city_region_country_in_any_case_or_the_country_code(cli, tmp_path):
    lib = tmp_path / "lib"
    local_photo(lib / "ny.jpg", "2023:07:14 12:00:00", NEW_YORK)
    local_photo(lib / "sydney.jpg", "2023:07:14 12:00:00", SYDNEY)
    local_photo(lib / "tromso.jpg", "2023:07:14 12:00:00", (69.6496, 18.9560, None))
    db = str(tmp_path / "c.db")
    cli("run", str(lib), "--db", db, "--phases", "metadata,places", "--quiet")

    def names(*places):
        args = [arg for place in places for arg in ("--place", place)]
        out = cli("search", "--db", db, *args, "--paths-only").stdout
        return sorted(Path(line).name for line in out.splitlines())

    assert names("times square") == ["ny.jpg"]
    assert names("NEW SOUTH WALES") == ["sydney.jpg"]
    assert names("TROMSØ") == ["tromso.jpg"]  # Unicode letter case, not only ASCII
    assert names("norway") == ["tromso.jpg"]
    assert names("us") == ["ny.jpg"]  # a country code, not "Australia"
    assert names("norway", "au") == ["sydney.jpg", "tromso.jpg"]  # repeated: any of them
    assert names("Atlantis") == []
    refused = cli("search", "--db", db, "--place", "  ", check=False)
    assert refused.returncode == 2 and "--place" in refused.stderr
    italy = json.loads(cli("search", "--db", db, "--place", "IT", "--json").stdout)
    assert italy["results"] == []  # no photo taken in Italy


def test_search_by_date_follows_true_utc_time_across_zones(cli, tmp_path):
    """New York at noon local (16:00 UTC) was taken after Sydney at 01:00 the next local day
    (15:00 UTC): by local time the order would be the other way round."""
    lib = tmp_path / "lib"
    local_photo(lib / "ny.jpg", "2023:07:14 12:00:00", NEW_YORK)
    local_photo(lib / "sydney.jpg", "2023:07:15 01:00:00", SYDNEY)
    write_photo(lib / "no_time.jpg", full_spec(datetime_original=None, gps=None))
    db = str(tmp_path / "c.db")
    cli("run", str(lib), "--db", db, "--phases", "metadata,places", "--quiet")
    out = json.loads(cli("search", "--db", db, "--sort", "date", "--json").stdout)
    assert [Path(r["path"]).name for r in out["results"]] == ["sydney.jpg", "ny.jpg", "no_time.jpg"]
    sydney = out["results"][0]
    assert sydney["taken_at_utc"] == "2023-07-14T15:00:00Z" and "Australia" in sydney["place"]


def test_search_and_the_report_use_the_local_time_the_export_gives(tmp_path, cli):
    """One capture time everywhere (docs/fields.md: `taken_at`): a clip shot at 20:00 on
    4 July in Los Angeles, whose file holds only the UTC time (03:00 on 5 July), is of the
    4th for search's date filters, its output, the report and the export alike."""
    from test_video import write_video

    lib = tmp_path / "lib"
    lib.mkdir()
    clip = write_video(
        lib / "fireworks.mp4",
        location="+34.0522-118.2437/",
        tags={"creation_time": "2023-07-05T03:00:00.000000Z"},
        audio=False,
        seconds=1,
    )
    db = tmp_path / "c.db"
    cli("run", str(lib), "--db", str(db), "--quiet", "--phases", "metadata,places")
    (row,) = cli.export(db).values()
    assert (row["taken_at"], row["taken_at_utc"]) == ("2023-07-04T20:00:00", "2023-07-05T03:00:00Z")

    def found(*filters: str) -> list[dict]:
        out = cli("search", "--db", str(db), *filters, "--json").stdout
        return json.loads(out)["results"]

    assert found("--after", "2023-07-05") == []
    (hit,) = found("--after", "2023-07-04", "--before", "2023-07-05")
    assert (hit["path"], hit["taken_at"]) == (str(clip), row["taken_at"])
    assert found("--before", "2023-07-04T20:00") == []
    page = tmp_path / "found.html"
    cli("search", "--db", str(db), "--kind", "video", "--html", str(page))
    assert "2023-07-04T20:00:00" in page.read_text() and "2023-07-05" not in page.read_text()
    catalog = Catalog(db, create=False)
    try:  # what the report shows beside a near-duplicate group's members
        (file_id,) = [i for i, _ in catalog.search.matching(FileFilter())]
        assert catalog.report.member_facts([file_id])[file_id][1] == row["taken_at"]
    finally:
        catalog.close()
