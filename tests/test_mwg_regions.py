"""Reading the names people already gave (MWG face regions, PersonInImage), with exiftool as
the reference: sidecars and JPEGs it writes, every RDF form Lightroom, digiKam and Picasa
use, each EXIF orientation checked against the pixels, bad and huge region lists, and the
catalog's copy replaced and hidden as the metadata result is."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from conftest import CORPUS
from photoanalyzer.catalog import regions as catalog_regions
from photoanalyzer.formats import mwg_regions
from photoanalyzer.phases.metadata import MetadataPhase
from support.exiftool import TWO_FACES, exiftool
from support.imagegen import write_photo
from support.requirements import needs, require_corpus

pytestmark = needs(binaries=["exiftool"])


def exiftool_regions(path: Path) -> list[tuple[str | None, float, float, float, float]]:
    """The face regions exiftool reads, as top-left boxes in the picture they were drawn on."""
    read = json.loads(exiftool("-j", "-struct", "-XMP-mwg-rs:RegionInfo", str(path)))[0]
    found = []
    for region in read["RegionInfo"]["RegionList"]:
        area = {k: float(v) for k, v in region["Area"].items() if k in "XYWH"}
        found.append(
            (
                region.get("Name"),
                area["X"] - area["W"] / 2,
                area["Y"] - area["H"] / 2,
                area["W"],
                area["H"],
            )
        )
    return found


def exiftool_people(path: Path) -> list[str]:
    read = json.loads(exiftool("-j", "-XMP-iptcExt:PersonInImage", str(path)))[0]
    value = read.get("PersonInImage", [])
    return value if isinstance(value, list) else [value]


def assert_boxes(got: list, expected: list) -> None:
    assert [g[0] for g in got] == [e[0] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(g[1:], e[1:], strict=True)), (
            g,
            e,
        )


def people_of(path: Path) -> dict:
    outcome = MetadataPhase().analyze(str(path), "photo")
    assert outcome.error is None, outcome.error
    return outcome.record[catalog_regions.PEOPLE_KEY]


def test_a_sidecar_exiftool_wrote_gives_its_names_and_boxes(tmp_path):
    picture = write_photo(tmp_path / "a.jpg", size=(400, 300))
    sidecar = tmp_path / "a.jpg.xmp"
    exiftool(
        "-o", str(sidecar), f"-RegionInfo={TWO_FACES}", "-XMP-iptcExt:PersonInImage=Anna",
        "-XMP-iptcExt:PersonInImage=Ben", "-XMP-iptcExt:PersonInImage=Cleo", str(picture),
    )  # fmt: skip
    people = people_of(picture)
    assert_boxes(people["regions"], exiftool_regions(sidecar))
    assert people["people"] == exiftool_people(sidecar) == ["Anna", "Ben", "Cleo"]
    assert (people["regions_source"], people["people_source"], people["note"]) == (
        "sidecar",
        "sidecar",
        None,
    )


def test_the_same_regions_embedded_in_the_jpeg(tmp_path):
    picture = write_photo(tmp_path / "a.jpg", size=(400, 300))
    exiftool("-overwrite_original", f"-RegionInfo={TWO_FACES}", str(picture))
    people = people_of(picture)
    assert_boxes(people["regions"], exiftool_regions(picture))
    assert people["regions_source"] == "embedded" and people["people"] == []


def test_a_sidecar_with_regions_wins_over_the_embedded_ones_never_both(tmp_path):
    picture = write_photo(tmp_path / "a.jpg", size=(400, 300))
    one = "{RegionList=[{Area={W=0.2,H=0.2,X=0.5,Y=0.5,Unit=normalized},Name=Dora,Type=Face}]}"
    # The sidecar first: made from a photo with regions, exiftool would copy those instead.
    exiftool("-o", str(tmp_path / "a.jpg.xmp"), f"-RegionInfo={one}", str(picture))
    exiftool("-overwrite_original", f"-RegionInfo={TWO_FACES}", str(picture))
    people = people_of(picture)
    assert [r[0] for r in people["regions"]] == ["Dora"]
    assert people["regions_source"] == "sidecar"


def marked_photo(path: Path, orientation: int, block: tuple[int, int, int, int]) -> Path:
    """A 300x200 stored picture, black with a white block at `block` (left, top, right,
    bottom in stored pixels), tagged with `orientation`."""
    image = Image.new("RGB", (300, 200), "black")
    image.paste((255, 255, 255), block)
    image.save(path, quality=95)
    exiftool("-overwrite_original", f"-Orientation#={orientation}", str(path))
    return path


def white_box(path: Path) -> tuple[float, float, float, float]:
    """Where the white block is on the picture as shown (EXIF orientation applied), as
    fractions: x, y, w, h."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image).convert("L")
    left, top, right, bottom = upright.point(lambda v: 255 if v > 128 else 0).getbbox()
    width, height = upright.size
    return left / width, top / height, (right - left) / width, (bottom - top) / height


@pytest.mark.parametrize("orientation", range(1, 9))
def test_regions_drawn_on_the_stored_picture_land_on_the_face_when_shown(tmp_path, orientation):
    """As Lightroom and digiKam write them: relative to the stored pixels, AppliedToDimensions
    the stored size. The box must cover the block where a viewer shows it."""
    block = (40, 120, 100, 180)  # lower left of the stored picture, 60x60
    picture = marked_photo(tmp_path / "o.jpg", orientation, block)
    centre_x, centre_y = (block[0] + block[2]) / 2 / 300, (block[1] + block[3]) / 2 / 200
    exiftool(
        "-overwrite_original",
        "-RegionInfo={AppliedToDimensions={W=300,H=200,Unit=pixel},RegionList=[{Area={"
        f"W={60 / 300},H={60 / 200},X={centre_x},Y={centre_y},Unit=normalized}},"
        "Name=Anna,Type=Face}]}",
        str(picture),
    )
    ((name, *box),) = people_of(picture)["regions"]
    assert name == "Anna"
    shown = white_box(picture)
    assert all(math.isclose(a, b, abs_tol=0.02) for a, b in zip(box, shown, strict=True)), (
        box,
        shown,
    )


def test_regions_drawn_on_the_shown_picture_are_taken_as_they_are(tmp_path):
    """A writer that drew on the displayed picture says so by AppliedToDimensions with the
    upright sides (200x300 for a 300x200 photo turned by orientation 6)."""
    picture = marked_photo(tmp_path / "o.jpg", 6, (40, 120, 100, 180))
    left, top, w, h = white_box(picture)
    exiftool(
        "-overwrite_original",
        "-RegionInfo={AppliedToDimensions={W=200,H=300,Unit=pixel},RegionList=[{Area={"
        f"W={w},H={h},X={left + w / 2},Y={top + h / 2},Unit=normalized}},Type=Face}}]}}",
        str(picture),
    )
    ((name, *box),) = people_of(picture)["regions"]
    assert name is None  # an unnamed face region is kept too
    expected = (left, top, w, h)
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(box, expected, strict=True))


def test_immichs_portrait_and_its_orientation_6_copy_give_the_same_upright_faces():
    """Immich's test photos (the corpus): the same picture stored upright and stored turned
    with Orientation 6, each with regions on its stored pixels, as exiftool reads them."""
    faces = require_corpus(CORPUS / "faces")
    upright = people_of(faces / "immich_portrait.jpg")
    turned = people_of(faces / "immich_portrait-orientation-6.jpg")
    assert [r[0] for r in upright["regions"]] == ["Marie Curie", "Pierre Curie"]
    assert_boxes(upright["regions"], exiftool_regions(faces / "immich_portrait.jpg"))
    for ours, theirs in zip(upright["regions"], turned["regions"], strict=True):
        assert ours[0] == theirs[0]
        pairs = zip(ours[1:], theirs[1:], strict=True)
        assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in pairs)


RDF = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">{}</rdf:RDF></x:xmpmeta>'
)
NS = (
    ' xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"'
    ' xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"'
    ' xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"'
)
AREA = 'stArea:x="0.4" stArea:y="0.35" stArea:w="0.2" stArea:h="0.3" stArea:unit="normalized"'
FORMS = {
    # Lightroom and Picasa: each region an rdf:Description with attributes, the area an
    # empty element with attributes, the dimensions likewise.
    "lightroom": f"""<rdf:Description rdf:about=""{NS}><mwg-rs:Regions rdf:parseType="Resource">
      <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
      <mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name="Anna"
      mwg-rs:Type="Face"><mwg-rs:Area {AREA}/></rdf:Description></rdf:li></rdf:Bag>
      </mwg-rs:RegionList></mwg-rs:Regions></rdf:Description>""",
    # digiKam: the region's fields as attributes of rdf:li (an empty property element).
    "digikam": f"""<rdf:Description rdf:about=""{NS}><mwg-rs:Regions rdf:parseType="Resource">
      <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
      <mwg-rs:RegionList><rdf:Bag><rdf:li mwg-rs:Name="Anna" mwg-rs:Type="Face"
      rdf:parseType="Resource"><mwg-rs:Area {AREA}/></rdf:li></rdf:Bag></mwg-rs:RegionList>
      </mwg-rs:Regions></rdf:Description>""",
    # Every field an element, nested rdf:Description blocks, the area by pixel.
    "elements": f"""<rdf:Description rdf:about=""{NS}><mwg-rs:Regions><rdf:Description>
      <mwg-rs:AppliedToDimensions><rdf:Description><stDim:w>4000</stDim:w>
      <stDim:h>3000</stDim:h><stDim:unit>pixel</stDim:unit></rdf:Description>
      </mwg-rs:AppliedToDimensions><mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description>
      <mwg-rs:Name>Anna</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type><mwg-rs:Area>
      <rdf:Description><stArea:x>1600</stArea:x><stArea:y>1050</stArea:y>
      <stArea:w>800</stArea:w><stArea:h>900</stArea:h><stArea:unit>pixel</stArea:unit>
      </rdf:Description></mwg-rs:Area></rdf:Description></rdf:li></rdf:Bag>
      </mwg-rs:RegionList></rdf:Description></mwg-rs:Regions></rdf:Description>""",
}


@pytest.mark.parametrize("form", ["lightroom", "digikam", "elements"])
def test_every_rdf_form_reads_as_exiftool_reads_it(tmp_path, form):
    sidecar = tmp_path / f"{form}.xmp"
    sidecar.write_text(RDF.format(FORMS[form]))
    facts = mwg_regions.read_people(sidecar.read_bytes())
    ours = [(r.name, r.x, r.y, r.w, r.h) for r in facts.regions]
    theirs = exiftool_regions(sidecar)
    if form == "elements":  # exiftool gives pixels as written: ours are fractions of 4000x3000
        theirs = [(n, x / 4000, y / 3000, w / 4000, h / 3000) for n, x, y, w, h in theirs]
    assert_boxes(ours, theirs)
    assert facts.applied_to == (4000, 3000)


def test_a_region_list_referred_to_by_node_id_is_read_there():
    text = RDF.format(
        f"""<rdf:Description rdf:about=""{NS}><mwg-rs:Regions rdf:parseType="Resource">
        <mwg-rs:RegionList rdf:nodeID="list"/></mwg-rs:Regions></rdf:Description>
        <rdf:Bag rdf:nodeID="list"><rdf:li mwg-rs:Name="Anna" mwg-rs:Type="Face"
        rdf:parseType="Resource"><mwg-rs:Area {AREA}/></rdf:li></rdf:Bag>"""
    ).replace("<rdf:RDF", "<rdf:RDF" + NS, 1)
    facts = mwg_regions.read_people(text)
    assert [(r.name, round(r.x, 6), round(r.y, 6)) for r in facts.regions] == [("Anna", 0.3, 0.2)]


def region(name: str, x: str, y: str, w: str, h: str, kind: str = "Face") -> str:
    return (
        f'<rdf:li rdf:parseType="Resource"><mwg-rs:Name>{name}</mwg-rs:Name>'
        f"<mwg-rs:Type>{kind}</mwg-rs:Type><mwg-rs:Area stArea:x={x!r} stArea:y={y!r}"
        f' stArea:w={w!r} stArea:h={h!r} stArea:unit="normalized"/></rdf:li>'
    )


def sidecar_with(*items: str) -> str:
    return RDF.format(
        f'<rdf:Description rdf:about=""{NS}><mwg-rs:Regions rdf:parseType="Resource">'
        f"<mwg-rs:RegionList><rdf:Bag>{''.join(items)}</rdf:Bag></mwg-rs:RegionList>"
        "</mwg-rs:Regions></rdf:Description>"
    )


def test_bad_regions_are_counted_in_a_note_and_the_good_ones_kept(tmp_path):
    picture = write_photo(tmp_path / "a.jpg", size=(400, 300))
    (tmp_path / "a.jpg.xmp").write_text(
        sidecar_with(
            region("Good", "0.5", "0.5", "0.2", "0.2"),
            region("Zero", "0.5", "0.5", "0", "0.2"),
            region("Negative", "0.5", "0.5", "0.2", "-0.1"),
            region("Away", "1.6", "0.5", "0.2", "0.2"),  # entirely right of the picture
            region("Edge", "0.95", "0.05", "0.2", "0.2"),  # half outside: clipped
            region("NaN", "nan", "0.5", "0.2", "0.2"),
            region("Text", "0.5", "abc", "0.2", "0.2"),
            region("Huge", "0.5", "0.5", "8", "8"),  # pixels without their unit
            region("Rex", "0.5", "0.5", "0.2", "0.2", kind="Pet"),  # not a face: not counted
        )
    )
    people = people_of(picture)  # no error: bad regions are a note, not the file's failure
    kept = {name: box for name, *box in people["regions"]}
    assert set(kept) == {"Good", "Edge"}
    assert [round(v, 9) for v in kept["Edge"]] == [0.85, 0.0, 0.15, 0.15]
    assert all(0 <= v <= 1 for box in kept.values() for v in box)
    assert people["note"] == (
        "6 face regions not kept: 2 with no size, 2 with unreadable numbers or unit,"
        " 1 larger than the picture, 1 outside the picture"
    )


def test_a_sidecar_of_20000_regions_is_read_in_bounded_time_and_capped(tmp_path):
    picture = write_photo(tmp_path / "a.jpg", size=(400, 300))
    items = [region(f"P{i}", "0.5", "0.5", "0.01", "0.01") for i in range(20_000)]
    (tmp_path / "a.jpg.xmp").write_text(sidecar_with(*items))
    started = time.perf_counter()
    people = people_of(picture)
    assert time.perf_counter() - started < 10  # about 1 s here, with others on the machine
    assert len(people["regions"]) == mwg_regions.MAX_REGIONS
    assert people["regions"][0][0] == "P0" and people["regions"][-1][0] == "P999"
    assert people["note"] == "19,000 face regions not kept: 19,000 beyond the first 1,000"


def catalog_people(db: Path, path: Path) -> tuple[dict, dict]:
    with sqlite3.connect(db) as conn:
        (file_id,) = conn.execute("SELECT id FROM files WHERE path = ?", (str(path),)).fetchone()
        found = catalog_regions.named_regions(conn, [file_id]).get(file_id, [])
        names = catalog_regions.people_in_image(conn, [file_id]).get(file_id, [])
    return {r.name: tuple(round(v, 9) for v in r[1:]) for r in found}, names


def test_the_catalog_keeps_them_with_the_metadata_and_replaces_them(cli, tmp_path):
    library = tmp_path / "lib"
    picture = write_photo(library / "a.jpg", size=(400, 300))
    sidecar = library / "a.jpg.xmp"
    exiftool(
        "-o", str(sidecar), f"-RegionInfo={TWO_FACES}", "-XMP-iptcExt:PersonInImage=Anna",
        str(picture),
    )  # fmt: skip
    db = tmp_path / "c.db"
    cli("run", str(library), "--db", str(db), "--phases", "metadata")
    boxes, names = catalog_people(db, picture)
    assert set(boxes) == {"Anna", "Ben"} and names == ["Anna"]
    expected = {n: (x, y, w, h) for n, x, y, w, h in exiftool_regions(sidecar)}
    assert all(
        math.isclose(a, b, abs_tol=1e-8)
        for name in expected
        for a, b in zip(boxes[name], expected[name], strict=True)
    )

    one = "{RegionList=[{Area={W=0.2,H=0.2,X=0.5,Y=0.5,Unit=normalized},Name=Dora,Type=Face}]}"
    exiftool(
        "-overwrite_original", f"-RegionInfo={one}", "-XMP-iptcExt:PersonInImage=", str(sidecar)
    )
    cli("run", str(library), "--db", str(db), "--phases", "metadata")
    assert catalog_people(db, picture) == ({"Dora": (0.4, 0.4, 0.2, 0.2)}, [])

    # The photo is replaced and only the content phase runs: the old regions are not shown.
    write_photo(picture, size=(400, 300), seed=5)
    cli("run", str(library), "--db", str(db), "--phases", "content")
    assert catalog_people(db, picture) == ({}, [])
