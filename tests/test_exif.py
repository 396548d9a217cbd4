"""The EXIF normalization rules, on raw tags as the readers hand them over."""

from fractions import Fraction

import pytest
from PIL.TiffImagePlugin import IFDRational

from photoanalyzer.formats import exif
from photoanalyzer.formats.exif import EXIF, GPS, IFD0


def gps_tags(lat_ref, lat, lon_ref, lon, alt=None, alt_ref=None):
    raw = {(GPS, 1): lat_ref, (GPS, 2): lat, (GPS, 3): lon_ref, (GPS, 4): lon}
    if alt is not None:
        raw[(GPS, 6)] = [alt]
    if alt_ref is not None:
        raw[(GPS, 5)] = alt_ref
    return raw


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "sign_lat", "sign_lon"),
    [("N", "E", 1, 1), ("S", "E", -1, 1), ("N", "W", 1, -1), ("S", "W", -1, -1)],
)
def test_gps_hemispheres_give_signed_degrees(lat_ref, lon_ref, sign_lat, sign_lon):
    dms = [Fraction(40), Fraction(30), Fraction(36)]  # 40 deg 30' 36" = 40.51
    lat, lon, _ = exif.gps_position(gps_tags(lat_ref, dms, lon_ref, dms))
    assert lat == pytest.approx(sign_lat * 40.51)
    assert lon == pytest.approx(sign_lon * 40.51)


def test_gps_altitude_below_sea_level_is_negative_for_both_reader_encodings():
    base = gps_tags("N", [Fraction(1)], "E", [Fraction(2)], alt=Fraction(125, 10))
    assert exif.gps_position({**base, (GPS, 5): [1]})[2] == -12.5  # exifread: list of ints
    assert exif.gps_position({**base, (GPS, 5): b"\x01"})[2] == -12.5  # Pillow: bytes
    assert exif.gps_position({**base, (GPS, 5): [0]})[2] == 12.5


def test_gps_needs_both_coordinates_and_survives_zero_denominators():
    only_lat = {(GPS, 1): "N", (GPS, 2): [Fraction(1), Fraction(2), Fraction(3)]}
    assert exif.gps_position(only_lat)[:2] == (None, None)
    zero = IFDRational(0, 0)  # 0/0 as Pillow reads it
    assert exif.gps_position(gps_tags("N", [zero, zero, zero], "E", [Fraction(2)]))[:2] == (
        None,
        None,
    )


def test_zero_over_zero_rationals_become_none():
    from exifread.utils import Ratio

    assert exif.number([Ratio(0, 0)]) is None
    assert exif.number([IFDRational(0, 0)]) is None
    assert exif.number([Ratio(1, 250)]) == 0.004


@pytest.mark.parametrize(
    "stamp", ["0000:00:00 00:00:00", "    :  :     :  :  ", "", "2021:13:40 10:00:00"]
)
def test_invalid_capture_times_are_none(stamp):
    raw = {(EXIF, exif.DATETIME_ORIGINAL): stamp, (EXIF, exif.OFFSET_TIME_ORIGINAL): "+01:00"}
    assert exif.capture_time(raw) == {
        "taken_at": None,
        "taken_at_offset": None,
        "taken_at_utc": None,
        "taken_at_offset_source": "none",
    }


def times(taken_at, offset=None, utc=None) -> dict:
    return {
        "taken_at": taken_at,
        "taken_at_offset": offset,
        "taken_at_utc": utc,
        "taken_at_offset_source": "exif" if offset else "none",
    }


def test_capture_time_is_always_naive_local_time_with_the_offset_beside_it():
    raw = {(EXIF, exif.DATETIME_ORIGINAL): "2021:04:11 15:47:53"}
    assert exif.capture_time(raw) == times("2021-04-11T15:47:53")  # no offset: no UTC instant
    raw[(EXIF, exif.OFFSET_TIME_ORIGINAL)] = "-05:00"
    assert exif.capture_time(raw) == times("2021-04-11T15:47:53", "-05:00", "2021-04-11T20:47:53Z")
    raw[(EXIF, exif.OFFSET_TIME_ORIGINAL)] = "garbage"
    assert exif.capture_time(raw) == times("2021-04-11T15:47:53")


def test_offset_time_is_the_fallback_for_the_zone():
    raw = {
        (EXIF, exif.DATETIME_ORIGINAL): "2021:04:11 23:30:00",
        (EXIF, exif.OFFSET_TIME): "+09:30",
    }
    assert exif.capture_time(raw) == times("2021-04-11T23:30:00", "+09:30", "2021-04-11T14:00:00Z")
    raw[(EXIF, exif.OFFSET_TIME_ORIGINAL)] = "-02:00"  # the original's own zone wins
    assert exif.capture_time(raw)["taken_at_offset"] == "-02:00"


def test_capture_time_falls_back_to_ifd0():
    raw = {(IFD0, exif.DATETIME_ORIGINAL): "2008:05:04 16:47:24"}
    assert exif.capture_time(raw)["taken_at"] == "2008-05-04T16:47:24"


def test_utc_instant_at_the_edge_of_the_calendar_is_none_not_a_crash():
    raw = {
        (EXIF, exif.DATETIME_ORIGINAL): "0001:01:01 00:30:00",
        (EXIF, exif.OFFSET_TIME_ORIGINAL): "+01:00",
    }
    assert exif.capture_time(raw) == times("0001-01-01T00:30:00", "+01:00", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [([1], 1), ([8], 8), ([0], None), ([9], None), ([51713], None), (None, None)],
)
def test_orientation_outside_1_to_8_is_none(value, expected):
    assert exif.orientation(value) == expected


def test_iso_prefers_iso_speed_ratings_then_iso_speed_then_recommended_index():
    assert exif.iso({(EXIF, exif.RECOMMENDED_EXPOSURE_INDEX): [800]}) == 800
    assert (
        exif.iso({(EXIF, exif.RECOMMENDED_EXPOSURE_INDEX): [800], (EXIF, exif.ISO_SPEED): [640]})
        == 640
    )
    assert (
        exif.iso({(EXIF, exif.ISO_SPEED_RATINGS): [100, 0], (EXIF, exif.ISO_SPEED): [640]}) == 100
    )


def test_text_is_stripped_and_decoded_and_empty_is_none():
    assert exif.text("KONICA MINOLTA ") == "KONICA MINOLTA"
    assert exif.text(b"Apple\x00\x00") == "Apple"
    assert exif.text([65, 66, 0]) == "AB"
    assert exif.text("   ") is None
    assert exif.text(1234) == "1234"  # a numeric-looking make stays a string


def test_normalize_reads_each_field_from_its_ifd():
    raw = {
        (IFD0, exif.MAKE): "Canon",
        (IFD0, exif.MODEL): "EOS",
        (IFD0, exif.ORIENTATION): [6],
        (EXIF, exif.EXPOSURE_TIME): [Fraction(1, 60)],
        (EXIF, exif.F_NUMBER): [Fraction(56, 10)],
        (EXIF, exif.FOCAL_LENGTH): [Fraction(35)],
        (EXIF, exif.FOCAL_LENGTH_35MM): [56],
        (EXIF, exif.LENS_MODEL): "EF 35mm",
        (EXIF, exif.LENS_MAKE): "Canon",
        (EXIF, exif.SUBSEC_TIME_ORIGINAL): "054",
        # An orientation in the thumbnail IFD (IFD1) or ExifIFD must not count as the image's.
        (EXIF, exif.ORIENTATION): [3],
    }
    fields = exif.normalize(raw)
    assert fields["make"] == "Canon" and fields["model"] == "EOS" and fields["orientation"] == 6
    assert fields["exposure_time"] == pytest.approx(1 / 60)
    assert fields["f_number"] == 5.6 and fields["focal_length"] == 35.0
    assert fields["focal_length_35mm"] == 56 and fields["subsec"] == "054"
    assert fields["lens"] == "EF 35mm" and fields["lens_make"] == "Canon"
    assert set(fields) == set(exif.EXIF_FIELDS)
