"""The metadata reader on files written here with known EXIF, and on broken files."""

from pathlib import Path

import exifread
import pytest

from photoanalyzer.catalog.regions import PEOPLE_KEY
from photoanalyzer.phases.metadata import METADATA_FIELDS, read_metadata
from support.imagegen import (
    full_spec,
    write_photo,
    write_random_bytes,
    write_truncated_jpeg,
    write_zero_byte,
)
from support.requirements import missing, require_module

EXPECTED = {
    "file_type": "JPEG",
    "width": 64,
    "height": 48,
    "orientation": 1,
    "taken_at": "2023-07-14T18:30:05",
    "taken_at_offset": "+02:00",
    "taken_at_utc": "2023-07-14T16:30:05Z",
    "taken_at_offset_source": "exif",
    "subsec": "042",
    "make": "Testmaker",
    "model": "Model X 12",
    "lens": "Testmaker 24-70mm F2.8",
    "lens_make": "Testmaker",
    "exposure_time": 0.004,
    "f_number": 2.8,
    "iso": 400,
    "focal_length": 50.0,
    "focal_length_35mm": 75,
    "gps_lat": 48.858222,
    "gps_lon": 2.2945,
    "gps_alt": 35.5,
}


def assert_fields(record: dict, expected: dict) -> None:
    for name, value in expected.items():
        if isinstance(value, float):
            assert record[name] == pytest.approx(value, abs=1e-6), name
        else:
            assert record[name] == value, name


def test_every_field_of_a_jpeg(tmp_path: Path):
    outcome = read_metadata(str(write_photo(tmp_path / "a.jpg", full_spec())), "photo")
    assert outcome.error is None
    # Every column, and the face regions and names that go to their own tables.
    assert set(outcome.record) == {*METADATA_FIELDS, PEOPLE_KEY}
    assert_fields(outcome.record, EXPECTED)


@pytest.mark.parametrize(
    ("lat", "lon", "alt"),
    [(-33.8568, 151.2153, 58.0), (40.6892, -74.0445, -3.25), (-22.9519, -43.2105, 700.0)],
)
def test_gps_in_every_hemisphere_and_below_sea_level(tmp_path: Path, lat, lon, alt):
    outcome = read_metadata(
        str(write_photo(tmp_path / "g.jpg", full_spec(gps=(lat, lon, alt)))), "photo"
    )
    assert_fields(outcome.record, {"gps_lat": lat, "gps_lon": lon, "gps_alt": alt})


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation(tmp_path: Path, orientation: int):
    path = write_photo(tmp_path / "o.jpg", full_spec(orientation=orientation), size=(80, 40))
    record = read_metadata(str(path), "photo").record
    # The stored pixel size does not change with the orientation tag.
    assert (record["orientation"], record["width"], record["height"]) == (orientation, 80, 40)


def test_naive_time_without_offset(tmp_path: Path):
    path = write_photo(tmp_path / "n.jpg", full_spec(offset_time_original=None))
    record = read_metadata(str(path), "photo").record
    # The zone is unknown, so there is no UTC instant either; the local time is as recorded.
    assert (record["taken_at"], record["taken_at_offset"], record["taken_at_utc"]) == (
        "2023-07-14T18:30:05",
        None,
        None,
    )


def test_invalid_values_become_null_without_error(tmp_path: Path):
    spec = full_spec(datetime_original="0000:00:00 00:00:00", orientation=0)
    outcome = read_metadata(str(write_photo(tmp_path / "bad.jpg", spec)), "photo")
    assert outcome.error is None
    assert outcome.record["taken_at"] is None and outcome.record["orientation"] is None
    assert outcome.record["make"] == "Testmaker"


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("TIFF", "tif"), ("WEBP", "webp")])
def test_other_formats(tmp_path: Path, fmt: str, ext: str):
    outcome = read_metadata(str(write_photo(tmp_path / f"p.{ext}", full_spec(), fmt=fmt)), "photo")
    assert outcome.error is None
    assert_fields(outcome.record, {**EXPECTED, "file_type": fmt})


def test_webp_exif_comes_from_pillow_where_exifread_finds_none(tmp_path: Path):
    path = write_photo(tmp_path / "p.webp", full_spec(), fmt="WEBP")
    with open(path, "rb") as fh:
        assert exifread.process_file(fh, details=False) == {}  # why the fallback exists
    assert read_metadata(str(path), "photo").record["model"] == "Model X 12"


def test_heic_written_by_pillow_heif(tmp_path: Path):
    pillow_heif = require_module("pillow_heif")
    pillow_heif.register_heif_opener()
    try:
        path = write_photo(tmp_path / "p.heic", full_spec(), fmt="HEIF")
    except (OSError, KeyError, ValueError) as exc:  # a libheif build without an encoder
        missing(f"pillow-heif cannot encode HEIC here: {exc}")
    outcome = read_metadata(str(path), "photo")
    assert outcome.error is None
    assert_fields(
        outcome.record,
        {
            "file_type": "HEIC",
            "width": 64,
            "height": 48,
            "model": "Model X 12",
            "gps_lat": 48.858222,
        },
    )


def test_zero_byte_file_is_an_error(tmp_path: Path):
    outcome = read_metadata(str(write_zero_byte(tmp_path / "empty.jpg")), "photo")
    assert outcome.error == "empty file (0 bytes)"


def test_truncated_jpeg_is_an_error_that_keeps_what_was_read(tmp_path: Path):
    outcome = read_metadata(str(write_truncated_jpeg(tmp_path / "cut.jpg", keep=300)), "photo")
    assert outcome.error and "Truncated" in outcome.error
    assert outcome.record["file_type"] == "JPEG" and outcome.record["width"] is None


def test_random_bytes_named_jpg_is_an_error(tmp_path: Path):
    outcome = read_metadata(str(write_random_bytes(tmp_path / "noise.jpg")), "photo")
    assert outcome.error.startswith("cannot identify image")
    assert outcome.record["file_type"] is None


def test_a_huge_declared_size_is_reported_not_refused(tmp_path: Path):
    """Reading a header decodes nothing, so the metadata of a decompression bomb (or a real
    200 MP photo) is harmless to read; the content phase refuses to decode it."""
    from support.imagegen import write_png_bomb

    outcome = read_metadata(str(write_png_bomb(tmp_path / "bomb.png", side=30_000)), "photo")
    assert outcome.error is None
    assert (outcome.record["width"], outcome.record["height"]) == (30_000, 30_000)


def test_a_truncated_heif_ipma_box_leaves_the_rotation_unknown(tmp_path: Path):
    """An item-property-association box whose last entry claims more associations than the
    box holds: the parser must say 'unknown' (None), never raise IndexError past its guard."""
    import io
    import struct

    from photoanalyzer.formats.filetypes import heif_rotation

    pillow_heif = require_module("pillow_heif")
    pillow_heif.register_heif_opener()
    try:
        path = write_photo(tmp_path / "p.heic", full_spec(), fmt="HEIF")
    except (OSError, KeyError, ValueError) as exc:  # a libheif build without an encoder
        missing(f"pillow-heif cannot encode HEIC here: {exc}")
    data = bytearray(path.read_bytes())
    assert heif_rotation(io.BytesIO(bytes(data))) == 0
    ipma = data.index(b"ipma") + 4  # body: version, flags, entry count, entries
    version, count = data[ipma], struct.unpack_from(">I", data, ipma + 4)[0]
    assert (version, count) == (0, 1)  # one entry: a 16-bit item id, then its count
    data[ipma + 10] += 20  # associations the box does not hold: the box is cut short
    assert heif_rotation(io.BytesIO(bytes(data))) is None
