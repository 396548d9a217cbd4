"""A small library for serve's people and text tests: four real portraits of two persons
(../shared/corpus/faces), both portraits side by side in one picture, and a screenshot, run
through the real metadata, content and faces phases by the real CLI, so the persons are the
faces phase's own (which id is whose is read from the catalog, never assumed). The text
phase's results are stored through the catalog as that phase stores them: its OCR models
are not what these tests test, how serve shows and filters their results is."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw

from conftest import CORPUS, Cli
from photoanalyzer.catalog import Catalog, ResultRow
from support.requirements import require_corpus, require_installed

FACES = CORPUS / "faces"
PORTRAITS = {
    "Angelina": ("deepface_img2.jpg", "deepface_img4.jpg"),
    "Elon": ("deepface_img18.jpg", "deepface_img19.jpg"),
}
TOGETHER = "together.jpg"  # deepface_img2 and deepface_img18 side by side: two persons
SCREENSHOT = "Screenshot_20240131-101502.png"
# File name -> (its text, one line a line; a screenshot?)
TEXTS = {
    "deepface_img4.jpg": ("WIFI PASSWORD ab12\nHotel Lobby", False),
    SCREENSHOT: ("Meeting at 10:30\nRoom Café Crème\nwifi guest", True),
}


@dataclass(frozen=True)
class PeopleLibrary:
    folder: Path
    db: Path
    ids: dict[str, int]  # file name -> file id
    persons: dict[str, int]  # "Angelina", "Elon" -> the person the faces phase made

    @property
    def thumbnails(self) -> Path:
        return self.db.with_name(self.db.name + "-thumbnails")

    def copy(self, where: Path) -> PeopleLibrary:
        """The catalog and its thumbnails in `where`, for a test that changes them (the
        photos stay where they are: nothing changes them)."""
        where.mkdir(parents=True, exist_ok=True)
        db = where / self.db.name
        for suffix in ("", "-wal"):
            if self.db.with_name(self.db.name + suffix).exists():
                shutil.copy2(self.db.with_name(self.db.name + suffix), where / (db.name + suffix))
        shutil.copytree(self.thumbnails, db.with_name(db.name + "-thumbnails"))
        return replace(self, db=db)


def build(root: Path) -> PeopleLibrary:
    require_installed("dlib", "face_recognition_models")
    folder = root / "library"
    folder.mkdir(parents=True)
    for names in PORTRAITS.values():
        for name in names:
            shutil.copy2(require_corpus(FACES / name), folder / name)
    _together(folder / TOGETHER)
    _screenshot(folder / SCREENSHOT)
    db = root / "pa.db"
    (root / "home").mkdir()
    Cli(root / "home")("run", str(folder), "--db", str(db), "--quiet",
                       "--phases", "metadata,content,faces")  # fmt: skip
    catalog = Catalog(db)
    try:
        known = catalog.files.known_under([str(folder)])
        ids = {Path(path).name: entry.file_id for path, entry in known.items()}
        _store_texts(catalog, ids)
        persons = _persons(catalog)
    finally:
        catalog.close()
    return PeopleLibrary(folder, db, ids, persons)


def _together(target: Path) -> None:
    left, right = (Image.open(FACES / PORTRAITS[who][0]).convert("RGB") for who in PORTRAITS)
    left, right = (im.resize((round(im.width * 800 / im.height), 800)) for im in (left, right))
    sheet = Image.new("RGB", (left.width + right.width, 800))
    sheet.paste(left, (0, 0))
    sheet.paste(right, (left.width, 0))
    sheet.save(target, quality=92)


def _screenshot(target: Path) -> None:
    page = Image.new("RGB", (1170, 2532), "white")
    draw = ImageDraw.Draw(page)
    for row, line in enumerate(TEXTS[SCREENSHOT][0].splitlines()):
        draw.text((60, 200 + 120 * row), line, fill="black")
    page.save(target)


def _store_texts(catalog: Catalog, ids: dict[str, int]) -> None:
    """The text phase's results for the files of TEXTS, and none found in the others."""
    run = catalog.runs.start([], ["text"])
    rows = [
        ResultRow(file_id, _text_record(*TEXTS.get(name, ("", False))), None)
        for name, file_id in ids.items()
    ]
    catalog.results.save(run, "text", "text-test", rows)


def _text_record(text: str, screenshot: bool) -> dict:
    lines = [
        {"frame": -1, "box": [[0.1, 0.1 * n], [0.5, 0.1 * n], [0.5, 0.1 * n + 0.05],
                              [0.1, 0.1 * n + 0.05]], "text": line, "confidence": 0.9}
        for n, line in enumerate(text.splitlines())
    ]  # fmt: skip
    return {
        "screenshot": screenshot,
        "screenshot_reason": "a screenshot's file name" if screenshot else None,
        "text": {"text": text, "lines": lines},
        "text_line_count": len(lines),
    }


def _persons(catalog: Catalog) -> dict[str, int]:
    """Which person the faces phase gave each identity's two portraits (both the same one,
    or the library is no use to these tests)."""
    person_of: dict[str, set[int]] = {}
    for person in catalog.people.list_persons():
        for face in catalog.people.faces_of_person(person.id):
            person_of.setdefault(Path(face.path).name, set()).add(person.id)
    found = {}
    for who, (first, second) in PORTRAITS.items():
        (found[who],) = person_of[first] & person_of[second]
    assert person_of[TOGETHER] == set(found.values())
    return found
