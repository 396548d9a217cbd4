"""Persons everywhere the index is used: search by person and face count (alone and with a
query), the export's faces, status counts, the report's People page, and `xmp write` of named
faces. One library of real photos (../shared/corpus/faces) through the real faces phase, as a
user indexes it; persons named through `people name`. What is expected is read from the
catalog (`people --json`), never hard-coded, so a better detector changes nothing here."""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, Cli
from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.results import ResultRow
from support.exiftool import exiftool_xmp
from support.requirements import needs, require_binary, require_corpus, require_installed
from test_htmlreport import browser  # noqa: F401  (the module's headless Chromium)

FACES = CORPUS / "faces"
PHOTOS = {
    "Angelina": ["deepface_img2.jpg", "deepface_img4.jpg"],
    "Elon": ["deepface_img18.jpg", "deepface_img19.jpg"],
    # Named in its own XMP face regions: the faces found there come named (Marie Curie's,
    # at least).
    "Curie": ["immich_portrait.jpg"],
    None: ["photoprism_elephants.jpg"],
}
TOGETHER = "together.jpg"  # one Angelina photo and one Elon photo side by side


def write_together(library: Path) -> None:
    """Two real portraits side by side in one picture: two clear faces of two persons."""
    from PIL import Image

    left = Image.open(require_corpus(FACES / "deepface_img2.jpg")).convert("RGB")
    right = Image.open(require_corpus(FACES / "deepface_img18.jpg")).convert("RGB")
    left, right = (im.resize((round(im.width * 800 / im.height), 800)) for im in (left, right))
    sheet = Image.new("RGB", (left.width + right.width, 800))
    sheet.paste(left, (0, 0))
    sheet.paste(right, (left.width, 0))
    sheet.save(library / TOGETHER, quality=92)


def person_of_files(cli: Cli, db: Path) -> dict[str, set[int]]:
    """File name -> the persons its faces were given, through `people faces`."""
    found: dict[str, set[int]] = {}
    for person in json.loads(cli("people", "--db", str(db), "--json").stdout):
        for face in json.loads(
            cli("people", "faces", str(person["id"]), "--db", str(db), "--json").stdout
        ):
            found.setdefault(Path(face["path"]).name, set()).add(person["id"])
    return found


def store_embeddings(db: Path, vectors: dict[str, np.ndarray]) -> None:
    """ML results with chosen CLIP embeddings, as the ML phase stores them (the ML models'
    weights are not here; search by an indexed example image then needs no model)."""
    catalog = Catalog(db)
    try:
        known = catalog.files.known_under(list(vectors))
        run_id = catalog.runs.start(["test"], ["ml"])
        rows = [
            ResultRow(known[path].file_id, ml_record(vector), None)
            for path, vector in vectors.items()
        ]
        catalog.results.save(run_id, "ml", "ml-test", rows)
    finally:
        catalog.close()


def ml_record(vector: np.ndarray) -> dict:
    unit = (vector / np.linalg.norm(vector)).astype(np.float16)
    flags = ("ml_random_weights", "clip_random_weights", "yolo_random_weights")
    return {
        "top_scene": "a photo",
        "scenes": [["a photo", 0.9]],
        "objects": [],
        "object_counts": {},
        **dict.fromkeys(flags, False),
        "embedding": unit.tobytes(),
    }


@pytest.fixture(scope="module")
def people_library(tmp_path_factory):
    """(library, db, root, persons): the photos indexed (metadata, content, faces), the
    Angelina and Elon clusters named "Angelina Jolie" and "Elon Musk"; persons maps each
    name to its id."""
    require_installed("dlib", "face_recognition_models")
    root = tmp_path_factory.mktemp("people")
    library, db = root / "library", root / "pa.db"
    library.mkdir()
    for names in PHOTOS.values():
        for name in names:
            shutil.copy2(require_corpus(FACES / name), library / name)
    write_together(library)
    (root / "home").mkdir()
    cli = Cli(root / "home")
    cli("run", str(library), "--db", str(db), "--phases", "metadata,content,faces", "--quiet")
    found = person_of_files(cli, db)
    persons = {}
    for person, full in (("Angelina", "Angelina Jolie"), ("Elon", "Elon Musk")):
        first, second = (found.get(name, set()) for name in PHOTOS[person])
        (shared,) = first & second  # the faces phase put both photos together
        cli("people", "name", str(shared), full, "--db", str(db))
        persons[full] = shared
    named = json.loads(cli("people", "--db", str(db), "--json").stdout)
    persons.update({p["name"]: p["id"] for p in named if p["name"]})
    assert "Marie Curie" in persons  # from the XMP face regions
    assert found[TOGETHER] == {persons["Angelina Jolie"], persons["Elon Musk"]}
    vectors = {}
    for index, path in enumerate(sorted(library.iterdir())):
        vector = np.zeros(16, dtype=np.float32)
        vector[index] = 1.0
        vector[0] += 0.5  # every photo a little like the first
        vectors[str(path)] = vector
    store_embeddings(db, vectors)
    return library, db, root, persons


@pytest.fixture
def cli_in(people_library, tmp_path):
    _, db, _, _ = people_library
    (tmp_path / "home").mkdir()
    runner = Cli(tmp_path / "home")
    return lambda *args, **kw: runner(*args, "--db", str(db), **kw)


def found_names(out: str) -> list[str]:
    return sorted(Path(r["path"]).name for r in json.loads(out)["results"])


# -- the people command ---------------------------------------------------------------------------


def test_people_options_before_the_command_apply_to_it(people_library, tmp_path):
    """`people --db FILE name ...` names the person in FILE, not in the default catalog: the
    group's --db, --config and --json apply to the command that follows."""
    _, db, _, persons = people_library
    (tmp_path / "my catalogs").mkdir()
    copied = tmp_path / "my catalogs" / "copy.db"
    shutil.copy2(db, copied)
    (tmp_path / "home").mkdir()
    cli = Cli(tmp_path / "home")  # its default catalog does not exist
    listed = json.loads(cli("people", "--db", str(copied), "--json", "list").stdout)
    assert {p["name"] for p in listed} >= {"Angelina Jolie", "Elon Musk"}
    elon = persons["Elon Musk"]
    faces = json.loads(cli("people", "--db", str(copied), "--json", "faces", str(elon)).stdout)
    assert {Path(f["path"]).name for f in faces} >= set(PHOTOS["Elon"])
    cli("people", "--db", str(copied), "name", str(elon), "Elon R. Musk")
    renamed = json.loads(cli("people", "list", "--db", str(copied), "--json").stdout)
    assert {p["id"]: p["name"] for p in renamed}[elon] == "Elon R. Musk"
    twice = cli("people", "--db", str(db), "list", "--db", str(copied), check=False)
    assert twice.returncode == 2 and "--db is given twice" in twice.stderr
    changing = cli("people", "--db", str(copied), "--json", "name", str(elon), "E", check=False)
    assert changing.returncode == 2 and "--json is for listing" in changing.stderr
    # The hint to name someone repeats the catalog given, quoted for the shell.
    with sqlite3.connect(copied) as connection:
        connection.execute("UPDATE persons SET name = NULL WHERE id = ?", (elon,))
    table = cli("people", "--db", str(copied)).stdout
    assert table.splitlines()[-1].endswith(f'"Anna" --db {shlex.quote(str(copied))}')


def test_a_name_of_digits_only_is_refused_as_it_would_read_as_a_number(people_library, cli_in):
    _, _, _, persons = people_library
    elon = str(persons["Elon Musk"])
    refused = cli_in("people", "name", elon, "8", check=False)
    assert refused.returncode == 2 and "would read as a person's number" in refused.stderr
    assert cli_in("people", "name", elon, "#8", check=False).returncode == 2
    names = {p["id"]: p["name"] for p in json.loads(cli_in("people", "--json").stdout)}
    assert names[int(elon)] == "Elon Musk"
    for other_digits in (["people", "faces", "²"], ["search", "--person", "²"]):
        unknown = cli_in(*other_digits, check=False)  # a name no one has, not a crash
        assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    # Digits are a number in `search --person` as in `people`, with or without the "#".
    for number in (elon, f"#{elon}"):
        found = cli_in("search", "--person", number, "--json").stdout
        assert found_names(found) == sorted([*PHOTOS["Elon"], TOGETHER])


# An MWG face region over Marie Curie's face in immich_portrait.jpg (centre, size), by name.
REGION_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
 xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
 xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
<mwg-rs:Regions rdf:parseType="Resource">
<mwg-rs:AppliedToDimensions stDim:w="840" stDim:h="700" stDim:unit="pixel"/>
<mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType="Resource"><mwg-rs:Name>{name}</mwg-rs:Name>
<mwg-rs:Type>Face</mwg-rs:Type><mwg-rs:Area stArea:x="0.368" stArea:y="0.308" stArea:w="0.113"
 stArea:h="0.199" stArea:unit="normalized"/></rdf:li></rdf:Bag></mwg-rs:RegionList>
</mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize("name, named", [("Marie", True), ("2024", False)])
def test_a_face_region_named_with_digits_only_names_no_person(tmp_path, name, named):
    """Another program's region named "2024" (a year, not a person) names no one: `people`
    and `search --person` would read it as a number. The same region named Marie names
    her face."""
    require_installed("dlib", "face_recognition_models")
    library = tmp_path / "library"
    library.mkdir()
    photo = library / "portrait.jpg"
    shutil.copy2(require_corpus(FACES / "immich_portrait.jpg"), photo)
    (library / "portrait.jpg.xmp").write_text(REGION_SIDECAR.format(name=name))
    (tmp_path / "home").mkdir()
    cli = Cli(tmp_path / "home")
    db = tmp_path / "pa.db"
    cli("run", str(library), "--db", str(db), "--phases", "metadata,content,faces", "--quiet")
    names = [face["name"] for face in json.loads(cli("export", "--db", str(db)).stdout)["faces"]]
    assert len(names) >= 1  # Marie Curie's face is found, where the region is
    assert (name in names) is named


# -- search -------------------------------------------------------------------------------------


def test_search_by_person_any_of_and_all_of(people_library, cli_in):
    _, _, _, persons = people_library
    angelina = found_names(cli_in("search", "--person", "angelina jolie", "--json").stdout)
    assert angelina == sorted([*PHOTOS["Angelina"], TOGETHER])
    either = cli_in("search", "--person", "ANGELINA JOLIE", "--person", "Marie Curie", "--json")
    assert found_names(either.stdout) == sorted([*PHOTOS["Angelina"], TOGETHER, *PHOTOS["Curie"]])
    both = cli_in("search", "--person", "elon musk", "--person", "Angelina Jolie", "--json",
                  "--all-persons")  # fmt: skip
    assert found_names(both.stdout) == [TOGETHER]
    nobody = cli_in("search", "--person", "Marie Curie", "--person", "Elon Musk", "--all-persons")
    assert nobody.stdout == "" and "No matches." in nobody.stderr
    by_number = cli_in("search", "--person", str(persons["Elon Musk"]), "--json").stdout
    assert found_names(by_number) == sorted([*PHOTOS["Elon"], TOGETHER])


def test_search_results_show_their_faces_and_persons(people_library, cli_in):
    _, _, _, persons = people_library
    results = json.loads(cli_in("search", "--json", "--top", "0").stdout)["results"]
    by_name = {Path(r["path"]).name: r for r in results}
    portrait = by_name["immich_portrait.jpg"]
    assert "Marie Curie" in {p["name"] for p in portrait["persons"]}
    assert portrait["faces"] >= 1
    assert [p["name"] for p in by_name[TOGETHER]["persons"]] == ["Angelina Jolie", "Elon Musk"]
    assert by_name[TOGETHER]["faces"] == 2
    assert by_name["photoprism_elephants.jpg"]["faces"] == 0
    assert by_name["photoprism_elephants.jpg"]["persons"] == []
    assert {"id": persons["Elon Musk"], "name": "Elon Musk"} in by_name["deepface_img18.jpg"][
        "persons"
    ]


def test_search_by_face_count(people_library, cli_in):
    _, db, _, _ = people_library
    catalog = Catalog(db, create=False)
    try:
        counts = {
            Path(row["path"]).name: row["face_count"] for row in catalog.queries.export_rows()
        }
    finally:
        catalog.close()
    assert counts["photoprism_elephants.jpg"] == 0 and counts[TOGETHER] == 2
    for option, wanted in (
        (("--faces", "2"), {n for n, c in counts.items() if c >= 2}),
        (("--faces", "1-1"), {n for n, c in counts.items() if c == 1}),
        (("--no-faces",), {n for n, c in counts.items() if c == 0}),
    ):
        found = set(found_names(cli_in("search", *option, "--json", "--top", "0").stdout))
        assert found == wanted, option


def test_person_filters_combine_with_a_query_and_other_filters(people_library, cli_in):
    library, _, _, _ = people_library
    example = str(library / "deepface_img2.jpg")  # indexed: its stored embedding, no model
    out = cli_in("search", example, "--person", "Elon Musk", "--person", "Marie Curie", "--json")
    results = json.loads(out.stdout)["results"]
    assert sorted(Path(r["path"]).name for r in results) == sorted(
        [*PHOTOS["Elon"], TOGETHER, *PHOTOS["Curie"]]
    )
    assert all(r["score"] is not None for r in results)
    one = str(library / "deepface_img18.jpg")
    combined = cli_in("search", "--person", "Elon Musk", "--in", one, "--json")
    assert found_names(combined.stdout) == ["deepface_img18.jpg"]
    none = cli_in("search", "--person", "Elon Musk", "--no-faces", "--json")
    assert json.loads(none.stdout)["results"] == []


def test_an_unknown_person_names_the_close_ones(cli_in):
    wrong = cli_in("search", "--person", "Angelina Jolly", check=False)
    assert wrong.returncode == 2
    assert "no person 'Angelina Jolly'" in wrong.stderr and "Angelina Jolie" in wrong.stderr
    part = cli_in("search", "--person", "curie", check=False)
    assert part.returncode == 2 and "Marie Curie" in part.stderr
    bad = cli_in("search", "--faces", "three", check=False)
    assert bad.returncode == 2 and "--faces" in bad.stderr
    both = cli_in("search", "--faces", "1", "--no-faces", check=False)
    assert both.returncode == 2 and "contradict" in both.stderr


# -- export -------------------------------------------------------------------------------------


def test_export_has_each_photos_faces_with_boxes_persons_and_names(people_library, cli_in):
    library, db, _, persons = people_library
    rows = {
        Path(json.loads(line)["path"]).name: json.loads(line)
        for line in cli_in("export").stdout.splitlines()
    }
    for name, row in rows.items():
        assert len(row["faces"]) == row["face_count"], name
        for face in row["faces"]:
            x, y, w, h = face["box"]
            assert 0 <= x < x + w <= 1.0001 and 0 <= y < y + h <= 1.0001
            assert isinstance(face["score"], float)
    together = rows[TOGETHER]["faces"]
    assert sorted((f["name"], f["person_id"]) for f in together) == [
        ("Angelina Jolie", persons["Angelina Jolie"]),
        ("Elon Musk", persons["Elon Musk"]),
    ]
    left, right = sorted(together, key=lambda f: f["box"][0])
    assert left["name"] == "Angelina Jolie" and left["box"][0] < 0.5 < right["box"][0]
    assert rows["photoprism_elephants.jpg"]["faces"] == []
    # The same faces as `people faces` lists them.
    catalog = Catalog(db, create=False)
    try:
        stored = catalog.people.faces_of_file(str(library / "deepface_img19.jpg"))
    finally:
        catalog.close()
    assert [f["person_id"] for f in rows["deepface_img19.jpg"]["faces"]] == [
        face.person_id for face in stored
    ]
    header = cli_in("export", "--format", "csv").stdout.splitlines()[0].split(",")
    assert header[header.index("face_count") + 1] == "faces"


# -- status -------------------------------------------------------------------------------------


def test_status_counts_faces_persons_and_named_ones(cli_in):
    exported = [json.loads(line) for line in cli_in("export").stdout.splitlines()]
    faces = [face for row in exported for face in row["faces"]]
    persons = json.loads(cli_in("people", "--json").stdout)
    counts = json.loads(cli_in("status", "--json").stdout)["people"]
    assert counts == {
        "faces": len(faces),
        "files": sum(1 for row in exported if row["faces"]),
        "assigned": sum(1 for face in faces if face["person_id"] is not None),
        "persons": len(persons),
        "named": sum(1 for p in persons if p["name"]),
    }
    assert counts["named"] >= 3
    text = cli_in("status").stdout
    assert f"people: {counts['faces']} faces in {counts['files']} files" in text
    assert f"{counts['persons']} persons ({counts['named']} named)" in text


# -- xmp write ----------------------------------------------------------------------------------

OTHERS_REGION = (
    "{AppliedToDimensions={W=100,H=100,Unit=pixel},RegionList=["
    "{Area={W=0.04,H=0.04,X=0.97,Y=0.97,Unit=normalized},Name=Zoe,Type=Face}]}"
)


def regions(reading: dict) -> dict[str, tuple[float, float]]:
    """Region name -> the centre exiftool reads for it."""
    listed = reading.get("XMP-mwg-rs:RegionInfo", {}).get("RegionList", [])
    return {r["Name"]: (r["Area"]["X"], r["Area"]["Y"]) for r in listed}


@needs(binaries=["exiftool"])
def test_xmp_write_adds_named_faces_and_keeps_what_other_programs_wrote(people_library, cli_in):
    library, _, _, persons = people_library
    photo = library / TOGETHER
    sidecar = library / f"{TOGETHER}.xmp"
    subprocess.run(
        [require_binary("exiftool"), "-q", "-o", str(sidecar), f"-RegionInfo={OTHERS_REGION}",
         "-XMP-iptcExt:PersonInImage=Zoe", "-XMP-xmp:Rating=4", "-XMP-dc:Title=Two of them",
         "-XMP-photoshop:City=Lyon", str(photo)],
        check=True,
    )  # fmt: skip
    before = exiftool_xmp(sidecar)
    cli_in("xmp", "write", str(library))
    after = exiftool_xmp(sidecar)
    changed = {"XMP-mwg-rs:RegionInfo", "XMP-iptcExt:PersonInImage", "XMP-dc:Subject"}
    assert {k: v for k, v in before.items() if k not in changed} == {
        k: v for k, v in after.items() if k in before and k not in changed
    }
    found = regions(after)
    assert found["Zoe"] == regions(before)["Zoe"]  # theirs, untouched
    assert set(found) == {"Zoe", "Angelina Jolie", "Elon Musk"}
    assert found["Angelina Jolie"][0] < 0.5 < found["Elon Musk"][0]  # where the faces are
    assert after["XMP-iptcExt:PersonInImage"] == ["Zoe", "Angelina Jolie", "Elon Musk"]
    # Where the export says the faces are: the region's centre is the face box's centre.
    row = next(
        json.loads(line) for line in cli_in("export").stdout.splitlines() if TOGETHER in line
    )
    for face in row["faces"]:
        x, y, w, h = face["box"]
        assert found[face["name"]] == pytest.approx((x + w / 2, y + h / 2), abs=1e-3)
    elephants = exiftool_xmp(library / "photoprism_elephants.jpg.xmp")  # keywords only
    assert "XMP-mwg-rs:RegionInfo" not in elephants
    # A new name replaces ours; theirs stays.
    cli_in("people", "name", str(persons["Elon Musk"]), "Elon R. Musk")
    cli_in("xmp", "write", str(library))
    again = exiftool_xmp(sidecar)
    assert set(regions(again)) == {"Zoe", "Angelina Jolie", "Elon R. Musk"}
    assert again["XMP-iptcExt:PersonInImage"] == ["Zoe", "Angelina Jolie", "Elon R. Musk"]
    cli_in("people", "name", str(persons["Elon Musk"]), "Elon Musk")  # as it was
    cli_in("xmp", "write", str(library), "--no-people")  # leaves the faces as they are
    assert set(regions(exiftool_xmp(sidecar))) == {"Zoe", "Angelina Jolie", "Elon R. Musk"}


# -- the HTML report ----------------------------------------------------------------------------


def test_report_people_page_in_chromium(people_library, cli_in, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    from support.browser import BROKEN_IMAGES

    library, _, root, persons = people_library
    out = root / "report"
    cli_in("report", "--out", str(out))
    listed = json.loads(cli_in("people", "--json").stdout)

    def load(name: str) -> list[str]:
        browser.get((out / name).as_uri())
        broken = browser.execute_async_script(BROKEN_IMAGES)
        logged = browser.get_log("browser")
        return [e["message"] for e in logged if e["level"] == "SEVERE"] + broken

    assert load("people.html") == []
    cards = browser.find_elements(By.CSS_SELECTOR, "#people-grid figure.person")
    assert [int(c.get_attribute("data-person")) for c in cards] == [p["id"] for p in listed]
    for card, person in zip(cards, listed, strict=True):
        caption = card.find_element(By.TAG_NAME, "figcaption").text
        if person["name"]:
            assert person["name"] in caption and "people name" not in caption
        else:
            assert f'photoanalyze people name {person["id"]} "Name"' in caption
        # A face crop for each person with a face in a photo: a small square picture.
        image = card.find_element(By.TAG_NAME, "img")
        assert browser.execute_script("return arguments[0].naturalWidth", image) <= 160
    crops = sorted((out / "faces").glob("face-*.jpg"))
    assert len(crops) == len(listed)
    assert not list(library.glob("face-*")) and not (library / "faces").exists()
    # Each person's page lists its photos, their cards the names they show.
    elon = persons["Elon Musk"]
    assert load(f"person-{elon}.html") == []
    tiles = browser.find_elements(By.CSS_SELECTOR, "#person-photos figure")
    shown = {t.find_element(By.CLASS_NAME, "path").text: t for t in tiles}
    assert set(shown) == {*PHOTOS["Elon"], TOGETHER}
    names = shown[TOGETHER].find_element(By.CLASS_NAME, "persons").text
    assert names == "Angelina Jolie, Elon Musk"
    for page in sorted(out.glob("*.html")):
        assert load(page.name) == [], page.name
