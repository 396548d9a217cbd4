"""Writing named faces into sidecars (MWG face regions and PersonInImage), with exiftool as the
reference: regions and fields another program wrote are all still read after our write, ours
are read where the faces are (stored-picture frame, checked against the pixels), a second
write changes nothing, a later one replaces only ours, and a face already marked by someone
else is not marked twice."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from photoanalyzer.formats import mwg_regions
from photoanalyzer.formats.mwg_regions import Box, FaceRegion, People
from photoanalyzer.outputs.xmp_sidecars import WriteOptions, write_sidecars
from photoanalyzer.phases.metadata import MetadataPhase
from support.exiftool import TWO_FACES, exiftool, exiftool_xmp
from support.imagegen import write_photo
from support.requirements import needs

pytestmark = needs(binaries=["exiftool"])


def tagged_photo(folder: Path) -> tuple[Path, Path, dict]:
    """A photo and the sidecar exiftool wrote for it: two named regions, PersonInImage, and
    fields of other schemas; with exiftool's reading of it."""
    picture = write_photo(folder / "a.jpg", size=(400, 300))
    sidecar = folder / "a.jpg.xmp"
    exiftool(
        "-o", str(sidecar), f"-RegionInfo={TWO_FACES}", "-XMP-iptcExt:PersonInImage=Anna",
        "-XMP-iptcExt:PersonInImage=Ben", "-XMP-xmp:Rating=4", "-XMP-dc:Subject=holiday",
        "-XMP-dc:Title=At the lake", "-XMP-photoshop:City=Lyon", str(picture),
    )  # fmt: skip
    return picture, sidecar, exiftool_xmp(sidecar)


CLEO = FaceRegion("Cleo", Box(0.4, 0.1, 0.1, 0.12))


def write(picture: Path, people: People, **options) -> object:
    return write_sidecars([], WriteOptions(**options), people={str(picture): people})


def area(region: dict) -> tuple[str, float, float, float, float]:
    a = region["Area"]
    return region.get("Name"), a["X"], a["Y"], a["W"], a["H"]


def test_our_region_is_added_and_every_region_and_field_read_before_is_kept(tmp_path):
    picture, sidecar, before = tagged_photo(tmp_path)
    summary = write(picture, People((CLEO,), (400, 300), 1, ("Cleo",)))
    assert (summary.updated, summary.failed) == (1, 0), summary.failures
    after = exiftool_xmp(sidecar)
    changed = {"XMP-mwg-rs:RegionInfo", "XMP-iptcExt:PersonInImage"}
    assert {k: v for k, v in before.items() if k not in changed} == {
        k: v for k, v in after.items() if k in before and k not in changed
    }
    regions = after["XMP-mwg-rs:RegionInfo"]["RegionList"]
    old = before["XMP-mwg-rs:RegionInfo"]["RegionList"]
    assert regions[: len(old)] == old  # theirs, untouched
    ((name, x, y, w, h),) = [area(r) for r in regions[len(old) :]]
    assert name == "Cleo" and regions[-1]["Type"] == "Face"
    assert all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip((x, y, w, h), (0.45, 0.16, 0.1, 0.12), strict=True)
    )
    assert (
        after["XMP-mwg-rs:RegionInfo"]["AppliedToDimensions"]
        == (before["XMP-mwg-rs:RegionInfo"]["AppliedToDimensions"])
    )
    assert after["XMP-iptcExt:PersonInImage"] == ["Anna", "Ben", "Cleo"]
    # Our metadata phase reads all three back, ours where we put it.
    read = MetadataPhase().analyze(str(picture), "photo").record["xmp_people"]
    assert [r[0] for r in read["regions"]] == ["Anna", "Ben", "Cleo"]
    assert all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip(read["regions"][-1][1:], (0.4, 0.1, 0.1, 0.12), strict=True)
    )


def test_writing_twice_changes_nothing(tmp_path):
    picture, sidecar, _ = tagged_photo(tmp_path)
    people = People((CLEO,), (400, 300), 1, ("Cleo",))
    write(picture, people)
    first = sidecar.read_bytes()
    summary = write(picture, people)
    assert (summary.unchanged, summary.updated) == (1, 0)
    assert sidecar.read_bytes() == first


def test_a_later_write_replaces_only_ours_and_none_takes_ours_out(tmp_path):
    picture, sidecar, before = tagged_photo(tmp_path)
    write(picture, People((CLEO,), (400, 300), 1, ("Cleo",)))
    dora = FaceRegion("Dora", Box(0.05, 0.6, 0.1, 0.1))
    write(picture, People((dora,), (400, 300), 1, ("Dora", "Anna")))
    after = exiftool_xmp(sidecar)
    assert [r["Name"] for r in after["XMP-mwg-rs:RegionInfo"]["RegionList"]] == [
        "Anna",
        "Ben",
        "Dora",
    ]
    # Anna was theirs before: kept once, and not recorded as ours.
    assert after["XMP-iptcExt:PersonInImage"] == ["Anna", "Ben", "Dora"]
    write(picture, People((), (400, 300), 1, ()))
    assert exiftool_xmp(sidecar) == before  # as exiftool wrote it, to the last field


def test_a_face_someone_else_marked_is_not_marked_again(tmp_path):
    picture, sidecar, _ = tagged_photo(tmp_path)
    anna_again = FaceRegion("Anna", Box(0.2, 0.2, 0.1, 0.2))  # Anna's own region, 0.25, 0.3
    write(picture, People((anna_again, CLEO), (400, 300), 1, ("Anna", "Cleo")))
    after = exiftool_xmp(sidecar)
    assert [r["Name"] for r in after["XMP-mwg-rs:RegionInfo"]["RegionList"]] == [
        "Anna",
        "Ben",
        "Cleo",
    ]
    assert after["XMP-iptcExt:PersonInImage"] == ["Anna", "Ben", "Cleo"]


def marked_photo(path: Path, orientation: int) -> Path:
    image = Image.new("RGB", (300, 200), "black")
    image.paste((255, 255, 255), (40, 120, 100, 180))  # stored block, 60x60 at lower left
    image.save(path, quality=95)
    exiftool("-overwrite_original", f"-Orientation#={orientation}", str(path))
    return path


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_new_sidecar_has_our_region_in_the_stored_frame_exiftool_reads(tmp_path, orientation):
    """Our box is on the upright picture; the region written is where the face is in the
    stored pixels (as Lightroom and digiKam read it), AppliedToDimensions the stored size."""
    picture = marked_photo(tmp_path / "o.jpg", orientation)
    with Image.open(picture) as image:
        upright = ImageOps.exif_transpose(image).convert("L")
    left, top, right, bottom = upright.point(lambda v: 255 if v > 128 else 0).getbbox()
    uw, uh = upright.size
    box = Box(left / uw, top / uh, (right - left) / uw, (bottom - top) / uh)
    summary = write(picture, People((FaceRegion("Anna", box),), (300, 200), orientation, ("Anna",)))
    assert summary.created == 1
    info = exiftool_xmp(Path(f"{picture}.xmp"))["XMP-mwg-rs:RegionInfo"]
    assert info["AppliedToDimensions"] == {"W": 300, "H": 200, "Unit": "pixel"}
    ((name, x, y, w, h),) = [area(r) for r in info["RegionList"]]
    stored = (70 / 300, 150 / 200, 60 / 300, 60 / 200)  # the block's centre and size
    assert name == "Anna"
    assert all(math.isclose(a, b, abs_tol=0.02) for a, b in zip((x, y, w, h), stored, strict=True))
    assert Path(f"{picture}.xmp").read_bytes().count(b"<mwg-rs:Regions") == 1


def test_regions_in_a_form_we_cannot_rewrite_leave_the_sidecar_as_it_is(tmp_path):
    picture = write_photo(tmp_path / "a.jpg", size=(400, 300))
    sidecar = tmp_path / "a.jpg.xmp"
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
        ' rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"'
        ' mwg-rs:Regions="not a structure"/></rdf:RDF></x:xmpmeta>'
    )
    data = sidecar.read_bytes()
    summary = write(picture, People((CLEO,), (400, 300), 1, ("Cleo",)))
    assert summary.failed == 1 and "not a structure" in summary.failures[0]
    assert sidecar.read_bytes() == data


def test_the_record_of_ours_survives_a_reformatting_of_the_numbers():
    """Another program may write our 0.45 as 0.450000: still ours, replaced, not doubled."""
    first = mwg_regions.merge_people(None, People((CLEO,), (400, 300), 1, ("Cleo",))).text
    reformatted = first.replace(b">0.45<", b">0.450000<")
    again = mwg_regions.merge_people(reformatted, People((CLEO,), (400, 300), 1, ("Cleo",)))
    text = again.text if again.text is not None else reformatted
    assert text.count(b'<rdf:li rdf:parseType="Resource">') == 1
