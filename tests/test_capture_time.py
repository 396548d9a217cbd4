"""Capture time where a camera does not write it, and IPTC-IIM keywords and captions: small
JPEGs (and a TIFF) made here, each tag written by exiftool, read by the metadata phase and
compared with what exiftool reads back; the order of the tags; GPS's UTC clock through the
places phase; the bounds of the IPTC parser."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from exifread.utils import Ratio
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.formats import exif, iptc, xmp
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.phases.places import PlacesPhase
from photoanalyzer.run import pipeline
from support.requirements import require_binary

EXIFTOOL = shutil.which("exiftool")


def need_exiftool() -> str:
    return require_binary("exiftool")


def tagged(path: Path, *assignments: str, fmt: str = "JPEG") -> Path:
    """A small picture without metadata, then exiftool's `-TAG=VALUE` assignments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), (120, 140, 90)).save(path, fmt)
    if assignments:
        subprocess.run(
            [need_exiftool(), "-q", "-overwrite_original", *assignments, str(path)], check=True
        )
    return path


def exiftool_reads(path: Path, *tags: str) -> dict:
    out = subprocess.run(
        [need_exiftool(), "-j", "-G1", "-a", *(f"-{t}" for t in tags), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {k: v for k, v in json.loads(out)[0].items() if k != "SourceFile"}


def read(path: Path) -> dict:
    outcome = MetadataPhase().analyze(str(path), "photo")
    assert outcome.error is None, outcome.error
    return outcome.record


def capture(record: dict) -> tuple:
    keys = ("taken_at", "taken_at_offset", "taken_at_utc", "taken_at_offset_source")
    return (*(record[k] for k in keys), record["taken_at_source"], record["subsec"])


# One tag a file, as exiftool writes it; what exiftool reads back; what the record holds
# besides the tag's name: (taken_at, offset, UTC, offset source, subsec).
ONE_TAG = {
    "exif:DateTimeOriginal": (
        (
            "-EXIF:DateTimeOriginal=2021:04:11 15:47:53",
            "-EXIF:SubSecTimeOriginal=054",
            "-EXIF:OffsetTimeOriginal=-05:00",
        ),
        {"ExifIFD:DateTimeOriginal": "2021:04:11 15:47:53", "ExifIFD:OffsetTimeOriginal": "-05:00"},
        ("2021-04-11T15:47:53", "-05:00", "2021-04-11T20:47:53Z", "exif", "054"),
    ),
    "xmp:photoshop:DateCreated": (
        ("-XMP-photoshop:DateCreated=2019:06:01 10:20:30.25+02:00",),
        {"XMP-photoshop:DateCreated": "2019:06:01 10:20:30.25+02:00"},
        ("2019-06-01T10:20:30", "+02:00", "2019-06-01T08:20:30Z", "exif", "25"),
    ),
    "iptc:DateCreated": (
        ("-IPTC:DateCreated=2018:03:04", "-IPTC:TimeCreated=05:06:07-03:00"),
        {"IPTC:DateCreated": "2018:03:04", "IPTC:TimeCreated": "05:06:07-03:00"},
        ("2018-03-04T05:06:07", "-03:00", "2018-03-04T08:06:07Z", "exif", None),
    ),
    "exif:CreateDate": (
        (
            "-EXIF:CreateDate=2017:02:03 04:05:06",
            "-EXIF:SubSecTimeDigitized=12",
            "-EXIF:OffsetTimeDigitized=+09:00",
        ),
        {"ExifIFD:CreateDate": "2017:02:03 04:05:06", "ExifIFD:OffsetTimeDigitized": "+09:00"},
        ("2017-02-03T04:05:06", "+09:00", "2017-02-02T19:05:06Z", "exif", "12"),
    ),
    "xmp:xmp:CreateDate": (
        ("-XMP-xmp:CreateDate=2016:01:02 03:04:05",),
        {"XMP-xmp:CreateDate": "2016:01:02 03:04:05"},
        ("2016-01-02T03:04:05", None, None, "none", None),
    ),
    "exif:GPSDateTime": (
        ("-GPS:GPSDateStamp=2015:12:31", "-GPS:GPSTimeStamp=23:59:58.5"),
        {"Composite:GPSDateTime": "2015:12:31 23:59:58.5Z"},
        ("2015-12-31T23:59:58", "+00:00", "2015-12-31T23:59:58Z", "gps-utc", None),
    ),
}


@pytest.mark.parametrize("source", list(ONE_TAG))
def test_the_only_date_of_a_file_is_its_capture_time_whichever_tag_holds_it(tmp_path, source):
    assignments, exiftool_sees, expected = ONE_TAG[source]
    path = tagged(tmp_path / "a.jpg", *assignments)
    seen = exiftool_reads(path, "time:all")
    assert {k: seen.get(k) for k in exiftool_sees} == exiftool_sees  # written as meant
    assert capture(read(path)) == (*expected[:4], source, expected[4])


def test_the_exif_offset_time_is_the_fallback_zone_of_create_date_too(tmp_path):
    path = tagged(
        tmp_path / "a.jpg", "-EXIF:CreateDate=2017:02:03 04:05:06", "-EXIF:OffsetTime=+01:00"
    )
    assert capture(read(path))[:5] == (
        "2017-02-03T04:05:06",
        "+01:00",
        "2017-02-03T03:05:06Z",
        "exif",
        "exif:CreateDate",
    )


# Two tags a file: the first in the order wins, whichever else the file has.
PAIRS = [
    (exif.CAPTURE_TIME_ORDER[i], exif.CAPTURE_TIME_ORDER[j])
    for i in range(len(exif.CAPTURE_TIME_ORDER))
    for j in range(i + 1, len(exif.CAPTURE_TIME_ORDER))
]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=lambda s: s.replace(":", "-"))
def test_of_two_dates_the_earlier_tag_in_the_order_wins(tmp_path, first, second):
    path = tagged(tmp_path / "a.jpg", *ONE_TAG[second][0], *ONE_TAG[first][0])
    record = read(path)
    assert record["taken_at_source"] == first
    assert record["taken_at"] == ONE_TAG[first][2][0]


def test_a_date_in_the_sidecar_and_a_partial_date_of_a_scanned_print(tmp_path):
    """Lightroom keeps a scan's date in its sidecar; a print known only by its year sorts in
    that year. The sidecar's date wins over the photo's packet, as its other fields do."""
    need_exiftool()
    photo = tagged(tmp_path / "scan.jpg", "-XMP-photoshop:DateCreated=1990:05:06 07:08:09")
    subprocess.run(
        [EXIFTOOL, "-q", "-o", f"{photo}.xmp", "-XMP-photoshop:DateCreated=1975"], check=True
    )
    assert exiftool_reads(Path(f"{photo}.xmp"), "XMP:all")["XMP-photoshop:DateCreated"] == 1975
    record = read(photo)
    assert capture(record)[:5] == (
        "1975-01-01T00:00:00",
        None,
        None,
        "none",
        "xmp:photoshop:DateCreated",
    )
    assert record["xmp_source"] == "sidecar"


def test_file_times_are_never_a_capture_time(tmp_path):
    path = tagged(tmp_path / "a.jpg", "-EXIF:ModifyDate=2020:01:01 00:00:00")
    os.utime(path, (1_600_000_000, 1_600_000_000))
    assert capture(read(path)) == (None, None, None, "none", None, None)


# -- IPTC-IIM keywords and caption


def test_iptc_keywords_and_caption_without_xmp_as_exiftool_reads_them(tmp_path):
    """exiftool writes IPTC text in Windows Latin 1 unless told it is UTF-8 (1:90)."""
    for name, charset in (("latin.jpg", ()), ("utf8.jpg", ("-IPTC:CodedCharacterSet=UTF8",))):
        path = tagged(
            tmp_path / name,
            *charset,
            "-IPTC:Keywords=café",
            "-IPTC:Keywords=Größe",
            "-IPTC:Keywords=café",  # a repeat
            "-IPTC:Caption-Abstract=Un été à Zürich",
        )
        seen = exiftool_reads(path, "IPTC:all")
        record = read(path)
        assert (
            record["keywords"]
            == list(dict.fromkeys(seen["IPTC:Keywords"]))
            == [
                "café",
                "Größe",
            ]
        )
        assert record["description"] == seen["IPTC:Caption-Abstract"] == "Un été à Zürich"
        assert record["xmp_source"] is None  # no XMP: these came from IPTC


def test_xmp_wins_over_iptc_where_both_exist_field_by_field(tmp_path):
    both = tagged(
        tmp_path / "both.jpg",
        "-IPTC:Keywords=old",
        "-IPTC:Caption-Abstract=old caption",
        "-XMP-dc:Subject=new",
        "-XMP-dc:Description=new caption",
    )
    record = read(both)
    assert (record["keywords"], record["description"]) == (["new"], "new caption")
    # XMP with a description but no keywords: the keywords come from IPTC.
    mixed = tagged(
        tmp_path / "mixed.jpg",
        "-IPTC:Keywords=iptc",
        "-IPTC:Caption-Abstract=iptc caption",
        "-XMP-dc:Description=xmp caption",
    )
    record = read(mixed)
    assert (record["keywords"], record["description"]) == (["iptc"], "xmp caption")
    # A sidecar's keywords win over the photo's IPTC ones too.
    subprocess.run([EXIFTOOL, "-q", "-o", f"{mixed}.xmp", "-XMP-dc:Subject=sidecar"], check=True)
    assert read(mixed)["keywords"] == ["sidecar"]


def test_iptc_over_two_app13_segments_is_read_whole(tmp_path):
    """Over 64 KB, the Photoshop resources go on in a second APP13 segment; Pillow's own
    parse keeps the first segment's part: 1,488 of these 1,600 keywords."""
    keywords = [f"keyword {i:04d} with words to make it long" for i in range(1600)]
    args = tmp_path / "keywords.args"
    args.write_text("\n".join(f"-IPTC:Keywords={k}" for k in keywords))
    path = tagged(tmp_path / "many.jpg", "-m", "-@", str(args))
    with Image.open(path) as image:  # the premise: two APP13 segments
        assert [m for m, _ in image.applist].count("APP13") == 2
    seen = exiftool_reads(path, "IPTC:Keywords")["IPTC:Keywords"]
    assert read(path)["keywords"] == seen == keywords


def test_app13_resources_with_lengths_that_lie_end_the_reading():
    signature, iptc_block = iptc.PHOTOSHOP_SIGNATURE, b"\x1c\x02\x19\x00\x03abc"
    resource = b"8BIM\x04\x04\x00\x00" + len(iptc_block).to_bytes(4, "big") + iptc_block
    assert iptc.read_iptc(iptc.block_from_app13([signature + resource])).keywords == ("abc",)
    half = len(resource) // 2  # split over two segments
    split = [signature + resource[:half], signature + resource[half:]]
    assert iptc.block_from_app13(split) == iptc_block
    lying = b"8BIM\x04\x04\x00\x00\xff\xff\xff\xff" + iptc_block
    assert iptc.block_from_app13([signature + lying]) == iptc_block  # what is there
    for broken in (b"", signature, signature + b"8BIM\x04", signature + b"8BIM\x04\x04\x09"):
        assert iptc.block_from_app13([broken]) is None
    assert iptc.block_from_app13([b"Adobe_CM\x00" + resource]) is None  # not Photoshop's


def test_of_two_whole_iptc_resources_the_first_is_read_as_exiftool_reads_it(tmp_path):
    """A program that added its own APP13 segment and left the old one: exiftool's IPTC is
    the first (the second is its IPTC2, shown only with -a)."""

    def app13(keyword: bytes) -> bytes:
        block = b"\x1c\x02\x19" + len(keyword).to_bytes(2, "big") + keyword
        body = iptc.PHOTOSHOP_SIGNATURE + b"8BIM\x04\x04\x00\x00"
        body += len(block).to_bytes(4, "big") + block + b"\x00" * (len(block) & 1)
        return b"\xff\xed" + (len(body) + 2).to_bytes(2, "big") + body

    plain = tagged(tmp_path / "plain.jpg").read_bytes()
    path = tmp_path / "two.jpg"
    path.write_bytes(plain[:2] + app13(b"first") + app13(b"second") + plain[2:])
    seen = exiftool_reads(path, "IPTC:Keywords")["IPTC:Keywords"]
    assert read(path)["keywords"] == [seen] == ["first"]


def test_iptc_of_a_tiff(tmp_path):
    path = tagged(
        tmp_path / "scan.tif",
        "-IPTC:Keywords=archive",
        "-IPTC:DateCreated=1968:07:20",
        fmt="TIFF",
    )
    assert exiftool_reads(path, "IPTC:Keywords")["IPTC:Keywords"] == "archive"
    record = read(path)
    assert record["keywords"] == ["archive"]
    assert (record["taken_at"], record["taken_at_source"]) == (
        "1968-07-20T00:00:00",
        "iptc:DateCreated",
    )


# -- GPS's UTC clock and the places phase


def test_a_photo_timed_only_by_gps_gets_the_local_time_of_its_place(tmp_path):
    """GPSDateTime is UTC: the places phase turns it into New York's local time (as it does a
    video's UTC creation time), where it would otherwise read 22:30 as New York's own time.
    Without a position it stays UTC and says so."""
    lib = tmp_path / "lib"
    gps_time = ("-GPS:GPSDateStamp=2023:07:14", "-GPS:GPSTimeStamp=22:30:00")
    tagged(
        lib / "ny.jpg",
        *gps_time,
        "-GPS:GPSLatitude=40.7580",
        "-GPS:GPSLatitudeRef=N",
        "-GPS:GPSLongitude=73.9855",
        "-GPS:GPSLongitudeRef=W",
    )
    tagged(lib / "nowhere.jpg", *gps_time)
    catalog = Catalog(tmp_path / "c.db")
    try:
        phases = [MetadataPhase(workers=1), PlacesPhase(metadata_version=MetadataPhase.version)]
        pipeline.run([str(lib)], phases, catalog, load_config(None))
        rows = {Path(r["path"]).name: r for r in catalog.queries.export_rows()}
    finally:
        catalog.close()
    assert capture(rows["ny.jpg"])[:5] == (
        "2023-07-14T18:30:00",
        "-04:00",
        "2023-07-14T22:30:00Z",
        "gps",
        "exif:GPSDateTime",
    )
    assert capture(rows["nowhere.jpg"])[:5] == (
        "2023-07-14T22:30:00",
        "+00:00",
        "2023-07-14T22:30:00Z",
        "gps-utc",
        "exif:GPSDateTime",
    )


# -- the parsers, on values no writer here produces


def test_gps_datetime_from_both_readers_and_invalid_ones():
    exifread_style = {
        (exif.GPS, exif.GPS_DATE_STAMP): "2015:12:31",
        (exif.GPS, exif.GPS_TIME_STAMP): [Fraction(23), Fraction(59), Fraction(117, 2)],
    }
    pillow_style = {
        (exif.GPS, exif.GPS_DATE_STAMP): "2015:12:31",
        (exif.GPS, exif.GPS_TIME_STAMP): (IFDRational(23), IFDRational(59), IFDRational(58)),
    }
    for raw in (exifread_style, pillow_style):
        assert exif.gps_datetime(raw).isoformat() == "2015-12-31T23:59:58"
    for stamp, clock in (
        ("2015:12:31", [Fraction(24), Fraction(0), Fraction(0)]),
        ("2015:12:31", [Ratio(1, 0), Ratio(0, 1), Ratio(0, 1)]),  # an undefined hour
        ("2015:12:31", [Fraction(1)]),
        ("0000:00:00", [Fraction(1), Fraction(0), Fraction(0)]),
        ("", [Fraction(1), Fraction(0), Fraction(0)]),
    ):
        raw = {(exif.GPS, exif.GPS_DATE_STAMP): stamp, (exif.GPS, exif.GPS_TIME_STAMP): clock}
        assert exif.gps_datetime(raw) is None, (stamp, clock)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-06-01T10:20:30.25+02:00", ("2019-06-01T10:20:30", "+02:00", "25")),
        ("2019-06-01T10:20Z", ("2019-06-01T10:20:00", "+00:00", None)),
        ("2019-06-01T10:20:30+0530", ("2019-06-01T10:20:30", "+05:30", None)),
        ("2019-06-01", ("2019-06-01T00:00:00", None, None)),
        ("1975-06", ("1975-06-01T00:00:00", None, None)),
        ("2019:06:01 10:20:30", ("2019-06-01T10:20:30", None, None)),  # the EXIF way
        ("0000-00-00T00:00:00", None),
        ("2019-13-01", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_xmp_dates_in_every_precision(value, expected):
    stamp = xmp.capture_stamp(value, exif.XMP_CREATE_DATE_TAG)
    if expected is None:
        assert stamp is None
        return
    zone = stamp.zone.utcoffset(None) if stamp.zone else None
    offset = None if zone is None else exif.capture_fields(stamp.when, stamp.zone, "exif")
    assert (stamp.when.isoformat(), offset and offset["taken_at_offset"], stamp.subsec) == (
        expected
    )


def dataset(record: int, number: int, value: bytes) -> bytes:
    return struct.pack(">BBBH", 0x1C, record, number, len(value)) + value


def test_iptc_lengths_are_checked_against_the_block():
    good = dataset(2, 25, b"one") + dataset(2, 25, b"two")
    # A length that claims 4 GiB in an extended dataset, then one past the end: reading
    # stops there, and what came before is kept.
    huge = struct.pack(">BBBH", 0x1C, 2, 120, 0x8004) + struct.pack(">I", 0xFFFFFFFF) + b"x"
    past_end = struct.pack(">BBBH", 0x1C, 2, 25, 1000) + b"short"
    assert iptc.read_iptc(good + huge).keywords == ("one", "two")
    assert iptc.read_iptc(good + past_end).keywords == ("one", "two")
    assert iptc.read_iptc(good + b"\x00\x00padding").keywords == ("one", "two")
    extended = struct.pack(">BBBH", 0x1C, 2, 120, 0x8002) + struct.pack(">H", 5) + b"hello"
    assert iptc.read_iptc(extended).caption == "hello"
    assert iptc.read_iptc(b"") == iptc.IptcFacts()
    assert iptc.read_iptc(b"\x1c\x02") == iptc.IptcFacts()


def test_a_tiff_iptc_tag_as_32_bit_numbers_in_either_byte_order():
    block = dataset(2, 25, b"archive1") + b"\x00" * 3  # padded to whole 32-bit numbers
    for order in "<>":
        numbers = list(struct.unpack(f"{order}{len(block) // 4}I", block))
        assert iptc.read_iptc(iptc.block_from_tag(numbers)).keywords == ("archive1",)
    assert iptc.block_from_tag(list(block)) == block  # BYTE or UNDEFINED values
    assert iptc.block_from_tag("text") is None and iptc.block_from_tag([-1]) is None


def test_a_catalog_from_before_gains_the_column_and_the_next_run_reads_every_file_again(
    tmp_path,
):
    """A catalog made before taken_at_source is migrated when opened; the new metadata
    version makes the next run read the file again, which fills the column in."""
    import sqlite3

    from photoanalyzer.catalog import MIGRATIONS

    lib = tmp_path / "lib"
    tagged(lib / "gps.jpg", "-GPS:GPSDateStamp=2023:07:14", "-GPS:GPSTimeStamp=22:30:00")
    ours = next(i for i, script in enumerate(MIGRATIONS) if "taken_at_source" in script)
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:ours], 1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.close()
    catalog = Catalog(path)
    try:
        config = load_config(None)
        old = replace(MetadataPhase(workers=1), version="metadata-4")
        pipeline.run([str(lib)], [old], catalog, config)
        report = pipeline.run([str(lib)], [MetadataPhase(workers=1)], catalog, config)
        (row,) = catalog.queries.export_rows()
    finally:
        catalog.close()
    assert report.phases[0].processed == 1
    assert (row["taken_at"], row["taken_at_source"]) == ("2023-07-14T22:30:00", "exif:GPSDateTime")
