"""Persons stand: index half of each identity's photos, name two persons, merge two, reject a
face; add the other half and run; then --full. Names, merges and the rejection all stand,
ids do not change, and the new photos join the named persons. Through the command line, as
a user does it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import CORPUS
from support.requirements import require_corpus, require_installed

FACES = CORPUS / "faces"
FIRST = {
    "Angelina": ["deepface_img2.jpg", "deepface_img4.jpg"],
    "Scarlett": ["deepface_img8.jpg", "deepface_img9.jpg"],
    "Mark": ["deepface_img13.jpg", "deepface_img15.jpg"],
    "Elon": ["deepface_img18.jpg", "deepface_img19.jpg"],
    "Katy": ["deepface_img27.jpg", "deepface_img28.jpg", "deepface_img42.jpg"],
}
SECOND = {
    "Angelina": ["deepface_img7.jpg", "deepface_img11.jpg"],
    "Scarlett": ["deepface_img47.jpg", "deepface_img51.jpg"],
    "Mark": ["deepface_img57.jpg"],
    "Elon": ["deepface_img67.jpg"],
    "Katy": ["deepface_img46.jpg"],
}
REJECTED = "deepface_img28.jpg"


def _copy(files: dict[str, list[str]], library: Path) -> None:
    library.mkdir(exist_ok=True)
    for names in files.values():
        for name in names:
            shutil.copy2(require_corpus(FACES / name), library / name)


def _person_of(cli, db: Path) -> dict[str, int | None]:
    """File name -> person of its largest face, through `people faces` of every person."""
    found: dict[str, int | None] = {}
    for person in json.loads(cli("people", "list", "--db", str(db), "--json").stdout):
        faces = json.loads(
            cli("people", "faces", str(person["id"]), "--db", str(db), "--json").stdout
        )
        for face in faces:
            found[Path(face["path"]).name] = person["id"]
    return found


def _names(cli, db: Path) -> dict[int, str | None]:
    persons = json.loads(cli("people", "--db", str(db), "--json").stdout)
    return {p["id"]: p["name"] for p in persons}


def test_names_merges_and_rejections_survive_new_photos_and_full_runs(cli, tmp_path):
    require_installed("dlib", "face_recognition_models")
    library, db = tmp_path / "library", tmp_path / "pa.db"
    _copy(FIRST, library)
    run = ["run", str(library), "--db", str(db), "--phases", "metadata,faces", "--quiet"]
    cli(*run)
    before = _person_of(cli, db)
    anna, scarlett = before["deepface_img2.jpg"], before["deepface_img8.jpg"]
    mark, elon, katy = before["deepface_img13.jpg"], before["deepface_img18.jpg"], before[REJECTED]
    assert None not in (anna, scarlett, mark, elon, katy)
    assert len({anna, scarlett, mark, elon, katy}) == 5
    cli("people", "name", str(anna), "Angelina", "--db", str(db))
    cli("people", "name", str(scarlett), "Scarlett", "--db", str(db))
    cli("people", "merge", str(mark), str(elon), "--db", str(db))
    (face,) = [
        f
        for f in json.loads(cli("people", "faces", str(katy), "--db", str(db), "--json").stdout)
        if Path(f["path"]).name == REJECTED
    ]
    cli("people", "reject", str(face["face"]), "--db", str(db))

    def check() -> None:
        persons = _person_of(cli, db)
        names = _names(cli, db)
        assert names[anna] == "Angelina" and names[scarlett] == "Scarlett"
        assert elon not in names  # merged away
        for name in FIRST["Angelina"] + SECOND["Angelina"]:
            assert persons[name] == anna, name
        for name in FIRST["Scarlett"] + SECOND["Scarlett"]:
            assert persons[name] == scarlett, name
        for name in FIRST["Mark"] + FIRST["Elon"] + SECOND["Mark"] + SECOND["Elon"]:
            assert persons[name] == mark, name
        assert persons.get(REJECTED) != katy
        for name in ("deepface_img27.jpg", "deepface_img42.jpg", "deepface_img46.jpg"):
            assert persons[name] == katy, name

    _copy(SECOND, library)
    cli(*run)
    check()
    cli(*run, "--full")
    check()
    # Naming another person with a name in use merges it into the named one.
    cli("people", "name", str(katy), "angelina", "--db", str(db))
    assert katy not in _names(cli, db)
    assert _person_of(cli, db)["deepface_img46.jpg"] == anna


def test_forget_deletes_every_face_and_person(cli, tmp_path):
    require_installed("dlib", "face_recognition_models")
    library, db = tmp_path / "library", tmp_path / "pa.db"
    _copy({"Angelina": FIRST["Angelina"]}, library)
    cli("run", str(library), "--db", str(db), "--phases", "metadata,faces", "--quiet")
    assert json.loads(cli("people", "--db", str(db), "--json").stdout)
    refused = cli("people", "forget", "--db", str(db), check=False)
    assert refused.returncode != 0  # no confirmation on a closed stdin
    cli("people", "forget", "--yes", "--db", str(db))
    assert json.loads(cli("people", "--db", str(db), "--json").stdout) == []
    import sqlite3

    with sqlite3.connect(db) as raw:
        for table in ("faces", "persons", "person_anchors", "person_rejections", "face_scans"):
            assert raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,), table
