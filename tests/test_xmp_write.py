"""`photoanalyze xmp write` through the CLI: sidecars written by other programs (the corpus)
keep every field exiftool read before; a second write replaces only our keywords; --dry-run
writes nothing; photo bytes never change; labels made with random weights are left out,
model by model (all refused when nothing else is left); exiftool reads
our keywords where digiKam, darktable and Lightroom look.

The ML results are stored through the catalog as the ML phase stores them (tests/test_search
does the same): no trained CLIP weights exist here, and labels from random weights are what
the command leaves out by default."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from xml.dom import minidom

import pytest

from conftest import CORPUS
from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.queries import LabelledPhoto
from photoanalyzer.catalog.results import ResultRow
from photoanalyzer.formats import xmp
from support.exiftool import exiftool_xmp
from support.imagegen import write_photo
from support.requirements import needs, require_binary

XMP_CORPUS = CORPUS / "xmp"
OURS = ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList")


def need_exiftool() -> str:
    return require_binary("exiftool")


def ml(
    scenes: list[tuple[str, float]],
    objects: dict[str, int],
    random: bool = False,
    random_models: tuple[str, ...] = (),
) -> dict:
    """An ML record; `random`: both models' weights were random, else those in random_models."""
    clip, yolo = random or "clip" in random_models, random or "yolo" in random_models
    return {
        "top_scene": scenes[0][0] if scenes else None,
        "scenes": [list(s) for s in scenes],
        "objects": [{"class": k, "confidence": 0.9, "box": [0, 0, 1, 1]} for k in objects],
        "object_counts": objects,
        "ml_random_weights": clip or yolo,
        "clip_random_weights": clip,
        "yolo_random_weights": yolo,
        "embedding": None,
    }


def store_ml(db: Path, records: dict[Path, dict]) -> None:
    catalog = Catalog(db)
    try:
        known = catalog.files.known_under([str(p) for p in records])
        run_id = catalog.runs.start(["test"], ["ml"])
        rows = [ResultRow(known[str(p)].file_id, r, None) for p, r in records.items()]
        catalog.results.save(run_id, "ml", "ml-test", rows)
    finally:
        catalog.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def library(cli, tmp_path):
    """Photos indexed by a real metadata run, each with an ML result stored."""
    root = tmp_path / "lib"
    photos = [write_photo(root / f"p{i}.jpg", seed=i) for i in range(3)]
    db = tmp_path / "c.db"
    cli("run", str(root), "--db", str(db), "--phases", "metadata")
    store_ml(db, {p: ml([("a beach", 0.7), ("mountains", 0.2)], {"person": 2}) for p in photos})
    return root, photos, db


@needs(corpus=XMP_CORPUS, binaries=("exiftool",))
def test_corpus_sidecars_keep_every_field_and_a_second_write_replaces_only_ours(cli, tmp_path):
    root = tmp_path / "lib"
    corpus = sorted(XMP_CORPUS.glob("*.xmp"))
    photos = {}
    for i, sidecar in enumerate(corpus):
        photo = write_photo(root / f"{sidecar.stem}.jpg", seed=i)
        shutil.copy(sidecar, root / f"{sidecar.stem}.jpg.xmp")  # "written by another program"
        photos[photo] = digest(photo)
    db = tmp_path / "c.db"
    cli("run", str(root), "--db", str(db), "--phases", "metadata")
    before = {p: exiftool_xmp(Path(f"{p}.xmp")) for p in photos}
    store_ml(db, {p: ml([("a beach", 0.8)], {"person": 1, "dog": 2}) for p in photos})
    out = cli("xmp", "write", "--db", str(db))
    assert f"{len(photos)} updated" in out.stderr

    for photo in photos:
        after = exiftool_xmp(Path(f"{photo}.xmp"))
        for key, value in before[photo].items():
            if key not in OURS:
                assert after.get(key) == value, f"{photo.name}: {key} changed"
        old_subjects = before[photo].get("XMP-dc:Subject", [])
        assert after["XMP-dc:Subject"] == [*old_subjects, "beach", "person", "dog"]
        assert after["XMP-lr:HierarchicalSubject"] == [
            "photoanalyzer|scene|beach",
            "photoanalyzer|object|person",
            "photoanalyzer|object|dog",
        ]

    # Different labels now: ours are replaced (removed labels disappear), theirs stay.
    store_ml(db, {p: ml([("a forest", 0.9)], {}) for p in photos})
    cli("xmp", "write", "--db", str(db))
    for photo, original in photos.items():
        after = exiftool_xmp(Path(f"{photo}.xmp"))
        for key, value in before[photo].items():
            if key not in OURS:
                assert after.get(key) == value, f"{photo.name}: {key} changed"
        assert after["XMP-dc:Subject"] == [*before[photo].get("XMP-dc:Subject", []), "forest"]
        assert after["XMP-lr:HierarchicalSubject"] == ["photoanalyzer|scene|forest"]
        assert after["XMP-digiKam:TagsList"] == ["photoanalyzer/scene/forest"]
        assert digest(photo) == original  # the photo itself is never written


def test_a_users_keyword_equal_to_ours_survives_our_removal(cli, library):
    _, photos, db = library
    sidecar = Path(f"{photos[0]}.xmp")
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
        ' rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>'
        "<rdf:li>beach</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    cli("xmp", "write", "--db", str(db), str(photos[0]))
    store_ml(db, {photos[0]: ml([("mountains", 0.9)], {})})
    cli("xmp", "write", "--db", str(db), str(photos[0]))
    assert exiftool_xmp(sidecar)["XMP-dc:Subject"] == ["beach", "mountains"]


def test_fresh_sidecars_as_exiftool_reads_them_and_unchanged_is_not_rewritten(cli, library):
    root, photos, db = library
    hashes = {p: digest(p) for p in photos}
    out = cli("xmp", "write", "--db", str(db))
    assert "3 created, 0 updated, 0 unchanged, 0 failed" in out.stderr
    for photo in photos:
        sidecar = Path(f"{photo}.xmp")
        read = exiftool_xmp(sidecar)
        assert read["XMP-dc:Subject"] == ["beach", "person"]
        assert read["XMP-lr:HierarchicalSubject"] == [
            "photoanalyzer|scene|beach",
            "photoanalyzer|object|person",
        ]
        assert read["XMP-digiKam:TagsList"] == [
            "photoanalyzer/scene/beach",
            "photoanalyzer/object/person",
        ]
        doc = minidom.parse(str(sidecar))
        lr = doc.getElementsByTagNameNS("http://ns.adobe.com/lightroom/1.0/", "hierarchicalSubject")
        kinds = [n.localName for n in lr[0].childNodes if n.nodeType == n.ELEMENT_NODE]
        assert kinds == ["Bag"]  # a Seq here breaks digiKam (darktable's old bug)
        assert digest(photo) == hashes[photo]
    stamps = {p: os.stat(f"{p}.xmp").st_mtime_ns for p in photos}
    out = cli("xmp", "write", "--db", str(db))
    assert "0 created, 0 updated, 3 unchanged, 0 failed" in out.stderr
    assert {p: os.stat(f"{p}.xmp").st_mtime_ns for p in photos} == stamps
    # The next run reads our keywords back from the sidecars (a sidecar change re-reads).
    cli("run", str(root), "--db", str(db), "--phases", "metadata")
    assert cli.export(db)[str(photos[0])]["keywords"] == ["beach", "person"]


def test_dry_run_prints_the_changes_and_writes_nothing(cli, library):
    root, photos, db = library
    listing = sorted(os.listdir(root))
    out = cli("xmp", "write", "--db", str(db), "--dry-run")
    assert sorted(os.listdir(root)) == listing
    assert f"would create {photos[0]}.xmp" in out.stdout
    assert "+photoanalyzer|scene|beach" in out.stdout
    assert "nothing written" in out.stderr and "3 created" in out.stderr


def test_name_base_path_filter_and_min_score(cli, library):
    root, photos, db = library
    cli("xmp", "write", "--db", str(db), "--name", "base", "--min-score", "0.1", str(photos[1]))
    assert sorted(p for p in os.listdir(root) if p.endswith(".xmp")) == ["p1.xmp"]
    assert exiftool_xmp(root / "p1.xmp")["XMP-dc:Subject"] == ["beach", "mountains", "person"]


def test_labels_all_from_random_weights_are_refused_unless_allowed(cli, library):
    root, photos, db = library
    store_ml(db, {p: ml([("a beach", 0.9)], {"person": 1}, random=True) for p in photos})
    refused = cli("xmp", "write", "--db", str(db), check=False)
    assert refused.returncode == 2 and "RANDOM CLIP and YOLO weights" in refused.stderr
    assert "--allow-random" in refused.stderr
    assert not any(name.endswith(".xmp") for name in os.listdir(root))
    allowed = cli("xmp", "write", "--db", str(db), "--allow-random")
    assert "WARNING: writing scene keywords made with RANDOM CLIP weights for 3 photos" in (
        allowed.stderr
    )
    assert "object keywords made with RANDOM YOLO weights for 3 photos" in allowed.stderr
    assert "3 created" in allowed.stderr


def test_only_the_labels_of_the_model_with_random_weights_are_left_out(cli, library):
    """Real YOLO weights with random CLIP ones (and the reverse): the objects are worth
    writing, the scenes are not."""
    _, photos, db = library
    store_ml(
        db,
        {
            photos[0]: ml([("a beach", 0.9)], {"person": 1}, random_models=("clip",)),
            photos[1]: ml([("a beach", 0.9)], {"person": 1}, random_models=("yolo",)),
            photos[2]: ml([("a beach", 0.9)], {"person": 1}),
        },
    )
    result = cli("xmp", "write", "--db", str(db), "--dry-run")
    written = {  # the dry run's "would create SIDECAR: +keyword ..." lines
        line.split(": ")[0].removeprefix("would create "): set(line.split(": ")[1].split())
        for line in result.stdout.splitlines()
    }
    scene = {"+beach", "+photoanalyzer|scene|beach", "+photoanalyzer/scene/beach"}
    person = {"+person", "+photoanalyzer|object|person", "+photoanalyzer/object/person"}
    assert written == {
        f"{photos[0]}.xmp": person,
        f"{photos[1]}.xmp": scene,
        f"{photos[2]}.xmp": scene | person,
    }
    assert "the scene labels of 1 photo were made with RANDOM CLIP weights" in result.stderr
    assert "the object labels of 1 photo were made with RANDOM YOLO weights" in result.stderr
    assert "YOLO" not in next(line for line in result.stderr.splitlines() if "CLIP" in line)
    assert "3 created" in result.stderr


def test_a_broken_sidecar_is_left_alone_and_counted_failed(cli, library):
    root, photos, db = library
    broken = Path(f"{photos[0]}.xmp")
    broken.write_text("<x:xmpmeta><rdf:RDF>")
    result = cli("xmp", "write", "--db", str(db), check=False)
    assert result.returncode == 1
    assert "2 created, 0 updated, 0 unchanged, 1 failed" in result.stderr
    assert str(photos[0]) in result.stderr and "left as it is" in result.stderr
    assert broken.read_text() == "<x:xmpmeta><rdf:RDF>"
    assert not [n for n in os.listdir(root) if n.startswith(".")]  # no temporary file left


def test_a_seq_hierarchy_becomes_a_bag_and_other_hierarchies_stay(cli, library):
    """darktable once wrote lr:hierarchicalSubject as a Seq, which digiKam cannot read: a
    write turns it into a Bag, keeping the user's own paths in it."""
    _, photos, db = library
    sidecar = Path(f"{photos[0]}.xmp")
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
        ' rdf:about="" xmlns:lr="http://ns.adobe.com/lightroom/1.0/"'
        ' xmlns:darktable="http://darktable.sf.net/" darktable:xmp_version="5">'
        "<lr:hierarchicalSubject><rdf:Seq><rdf:li>places|Paris</rdf:li></rdf:Seq>"
        "</lr:hierarchicalSubject></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    cli("xmp", "write", "--db", str(db), str(photos[0]))
    read = exiftool_xmp(sidecar)
    assert read["XMP-lr:HierarchicalSubject"] == [
        "places|Paris",
        "photoanalyzer|scene|beach",
        "photoanalyzer|object|person",
    ]
    assert read["XMP-darktable:Xmp_version"] == 5  # a field of another program
    doc = minidom.parse(str(sidecar))
    lr = doc.getElementsByTagNameNS("http://ns.adobe.com/lightroom/1.0/", "hierarchicalSubject")
    assert [n.localName for n in lr[0].childNodes if n.nodeType == n.ELEMENT_NODE] == ["Bag"]


def test_a_moved_photo_arriving_beside_a_sidecar_has_its_metadata_read_again(cli, tmp_path):
    root = tmp_path / "lib"
    photo = write_photo(root / "a" / "p.jpg")
    db = tmp_path / "c.db"
    cli("run", str(root), "--db", str(db), "--phases", "metadata")
    target = root / "b" / "p.jpg"
    target.parent.mkdir()
    (root / "b" / "p.jpg.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
        ' rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    photo.rename(target)
    out = cli("run", str(root), "--db", str(db), "--phases", "metadata").stdout
    assert "1 moved" in out
    assert cli.export(db)[str(target)]["rating"] == 5


def test_photos_of_one_shot_write_one_sidecar_with_both_their_keywords(cli, tmp_path):
    """IMG_1.JPG and IMG_1.PNG (as IMG_1.CR2 beside its JPEG) both name IMG_1.xmp with
    --name base: one write holds the keywords of both, and a second write changes nothing
    (each photo writing only its own would take the other's keywords out every time)."""
    from photoanalyzer.formats import xmp

    root = tmp_path / "lib"
    jpeg, png = write_photo(root / "IMG_1.jpg", seed=1), write_photo(root / "IMG_1.png", seed=2)
    db = tmp_path / "c.db"
    cli("run", str(root), "--db", str(db), "--phases", "metadata")
    store_ml(db, {jpeg: ml([("a beach", 0.8)], {}), png: ml([("a forest", 0.8)], {"dog": 1})})
    out = cli("xmp", "write", "--db", str(db), "--name", "base")
    assert "1 created" in out.stderr
    assert sorted(p.name for p in root.iterdir()) == ["IMG_1.jpg", "IMG_1.png", "IMG_1.xmp"]
    facts = xmp.read_facts((root / "IMG_1.xmp").read_bytes())
    assert set(facts.keywords) == {"beach", "forest", "dog"}
    again = cli("xmp", "write", "--db", str(db), "--name", "base")
    assert "0 created, 0 updated, 1 unchanged" in again.stderr


def sidecar_text(description_attributes: str, body: str = "", declaration: str = "") -> str:
    return (
        f'{declaration}<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        f" {description_attributes}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>\n"
    )


def xml_reading(path: Path, ns: str, name: str) -> str | None:
    """What a conforming XML reader (expat, through ElementTree: the declared encoding, the
    attribute-value normalisation of XML 1.0, 3.3.3) reads as a property of the sidecar: an
    attribute of its rdf:Description, or the text of the element's first rdf:li."""
    import xml.etree.ElementTree as ET

    description = (
        ET.parse(path).getroot().find(".//{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
    )
    key = f"{{{ns}}}{name}"
    if key in description.attrib:
        return description.attrib[key]
    element = description.find(key)
    return None if element is None else "".join(element.itertext())


def test_whitespace_in_attribute_values_survives_two_writes(cli, library):
    """Lightroom writes simple properties as attributes: a newline or tab written as itself
    in one is read as a space by every XML reader, so it must stay a character reference."""
    _, photos, db = library
    sidecar = Path(f"{photos[0]}.xmp")
    sidecar.write_text(
        sidecar_text(
            'photoshop:Instructions="line1&#xA;line2&#x9;tabbed&#xD;&#xA;crlf"',
            "<photoshop:Headline>kept&#xD;return</photoshop:Headline>",
        )
    )
    expected = "line1\nline2\ttabbed\r\ncrlf"
    for labels in ([("a beach", 0.9)], [("a forest", 0.9)]):  # one write, then another
        store_ml(db, {photos[0]: ml(labels, {})})
        cli("xmp", "write", "--db", str(db), str(photos[0]))
        assert xml_reading(sidecar, "http://ns.adobe.com/photoshop/1.0/", "Instructions") == (
            expected
        )
        assert xml_reading(sidecar, "http://ns.adobe.com/photoshop/1.0/", "Headline") == (
            "kept\rreturn"
        )
        read = exiftool_xmp(sidecar)
        assert read["XMP-photoshop:Instructions"] == expected
        assert read["XMP-dc:Subject"] == [labels[0][0].removeprefix("a ")]  # ours replaced


@pytest.mark.parametrize("body_ascii", [True, False], ids=["ascii-body", "latin1-body"])
def test_a_latin1_sidecar_is_rewritten_as_utf8_saying_so(cli, library, body_ascii):
    """An ISO-8859-1 sidecar was refused when its body had an é, and rewritten as UTF-8 under
    its old declaration when it had none: our "café" then read as "cafÃ©" in every reader
    that honours the declaration. Now it is rewritten as UTF-8 (XMP allows only Unicode;
    exiftool reads such bytes as UTF-8 anyway), its declaration saying so."""
    _, photos, db = library
    sidecar = Path(f"{photos[0]}.xmp")
    city = "Paris" if body_ascii else "Zürich"
    sidecar.write_bytes(
        sidecar_text(
            f'photoshop:City="{city}"',
            declaration='<?xml version="1.0" encoding="ISO-8859-1"?>\n',
        ).encode("latin-1")
    )
    store_ml(db, {photos[0]: ml([("a café", 0.9)], {})})
    out = cli("xmp", "write", "--db", str(db), str(photos[0]))
    assert "1 updated" in out.stderr
    assert sidecar.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    dc = "http://purl.org/dc/elements/1.1/"
    assert xml_reading(sidecar, dc, "subject") == "café"
    assert xml_reading(sidecar, "http://ns.adobe.com/photoshop/1.0/", "City") == city
    read = exiftool_xmp(sidecar)
    assert (read["XMP-dc:Subject"], read["XMP-photoshop:City"]) == (["café"], city)


def test_a_utf16_sidecar_stays_utf16_and_keeps_its_wrapper(cli, library):
    _, photos, db = library
    sidecar = Path(f"{photos[0]}.xmp")
    text = (
        "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>"
        + sidecar_text('photoshop:City="Zürich"').strip()
        + "<?xpacket end='w'?>"
    )
    sidecar.write_bytes(text.encode("utf-16"))
    store_ml(db, {photos[0]: ml([("a café", 0.9)], {})})
    cli("xmp", "write", "--db", str(db), str(photos[0]))
    written = sidecar.read_bytes()
    assert written.startswith("\ufeff<?xpacket begin='\ufeff'".encode("utf-16-le"))
    assert written.decode("utf-16").rstrip().endswith("<?xpacket end='w'?>")
    read = exiftool_xmp(sidecar)
    assert (read["XMP-dc:Subject"], read["XMP-photoshop:City"]) == (["café"], "Zürich")


def labelled(photo: Path, scene: str) -> LabelledPhoto:
    return LabelledPhoto(str(photo), [(scene, 0.9)], {}, False, False)


def exiftool_sets_rating(sidecar: Path, rating: int) -> None:
    """Another program (exiftool) edits the sidecar in place."""
    subprocess.run(
        [need_exiftool(), "-q", "-overwrite_original", f"-XMP-xmp:Rating={rating}", str(sidecar)],
        check=True,
    )


def test_a_sidecar_changed_between_our_read_and_our_write_is_merged_again(tmp_path, monkeypatch):
    """Another program writes the sidecar after we read it and before our rename: its edit
    is kept and ours is merged into it, for an existing sidecar and for one that appears."""
    from photoanalyzer.outputs import xmp_sidecars as xmp_write

    existing, appearing = tmp_path / "a.jpg", tmp_path / "b.jpg"
    Path(f"{existing}.xmp").write_text(sidecar_text('photoshop:City="Paris"'))
    real_merge, writing = xmp.merge_keywords, []

    def merge_while_another_program_writes(current, wanted, owned):
        merged = real_merge(current, wanted, owned)
        if writing:  # the first time only: the second read sees the edit
            sidecar = Path(f"{writing.pop()}.xmp")
            if sidecar.exists():
                exiftool_sets_rating(sidecar, 4)
            else:
                sidecar.write_text(sidecar_text('xmp:Rating="2"'))
        return merged

    monkeypatch.setattr(xmp_write.xmp, "merge_keywords", merge_while_another_program_writes)
    summaries = []
    for photo in (existing, appearing):
        writing.append(photo)
        options = xmp_write.WriteOptions()
        summaries.append(xmp_write.write_sidecars([labelled(photo, "a beach")], options))
        assert not writing  # the other program did write
    read = exiftool_xmp(Path(f"{existing}.xmp"))
    assert (read["XMP-xmp:Rating"], read["XMP-photoshop:City"], read["XMP-dc:Subject"]) == (
        4,
        "Paris",
        ["beach"],
    )
    read = exiftool_xmp(Path(f"{appearing}.xmp"))
    assert (read["XMP-xmp:Rating"], read["XMP-dc:Subject"]) == (2, ["beach"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg.xmp", "b.jpg.xmp"]
    assert [(s.updated, s.created, s.failed, s.left) for s in summaries] == [
        (1, 0, 0, 0),
        (1, 0, 0, 0),  # the sidecar we merged into was there: updated, not created
    ]


def test_a_sidecar_that_keeps_changing_is_left_as_the_other_program_wrote_it(tmp_path, monkeypatch):
    from photoanalyzer.outputs import xmp_sidecars as xmp_write

    photo = tmp_path / "a.jpg"
    sidecar = Path(f"{photo}.xmp")
    sidecar.write_text(sidecar_text('photoshop:City="Paris"'))
    real_merge, ratings = xmp.merge_keywords, iter(range(1, 10))

    def merge_while_another_program_writes(current, wanted, owned):
        merged = real_merge(current, wanted, owned)
        exiftool_sets_rating(sidecar, next(ratings))  # every time
        return merged

    monkeypatch.setattr(xmp_write.xmp, "merge_keywords", merge_while_another_program_writes)
    summary = xmp_write.write_sidecars([labelled(photo, "a beach")], xmp_write.WriteOptions())
    read = exiftool_xmp(sidecar)
    assert read["XMP-xmp:Rating"] == xmp_write.MAX_TRIES and "XMP-dc:Subject" not in read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg.xmp"]  # no temporary file
    assert (summary.updated, summary.failed, summary.left) == (0, 0, 1)
    assert "1 changed while written (left)" in summary.counts()
    assert str(sidecar) in summary.warnings[0] and "left as it is" in summary.warnings[0]


def test_the_replaced_sidecar_keeps_its_owner_group_and_mode(cli, library):
    _, photos, db = library
    sidecar = Path(f"{photos[0]}.xmp")
    sidecar.write_text(sidecar_text('photoshop:City="Paris"'))
    os.chmod(sidecar, 0o640)
    owner = (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        owner = (4321, 8765)  # another user's sidecar, written by root (a nightly job)
        os.chown(sidecar, *owner)
    cli("xmp", "write", "--db", str(db), str(photos[0]))
    st = os.stat(sidecar)
    assert exiftool_xmp(sidecar)["XMP-dc:Subject"] == ["beach", "person"]
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (*owner, 0o640)
