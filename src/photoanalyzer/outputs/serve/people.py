"""What serve shows of faces and persons, read from the catalog (catalog.people): a photo's
faces with their persons' names, for its page; the People page's cards; a person's page (its
faces, the persons it may be merged into); and a face's crop, cut from the stored thumbnail
by face id with the report's own cutting (html_report.faces). Every face is found by its id
in the catalog, never by anything of the request but that number."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.people import FaceRow, PersonCard
from photoanalyzer.outputs.html_report.faces import face_jpeg
from photoanalyzer.outputs.serve.files import read_thumbnail

# Crops on one person's page: a person of thousands of faces would be thousands of crops
# to cut; the rest are counted (and listed by `photoanalyze people faces`).
FACES_SHOWN = 300


@dataclass(frozen=True)
class Face:
    """A face as a page shows it: its crop's address (None: no thumbnail to cut it from), its
    person, the photo it is in, and its box (x, y, w, h normalized on the upright picture)."""

    id: int
    crop: str | None
    person_id: int | None
    name: str | None
    file_id: int | None
    path: str
    frame: int | None
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class PersonPage:
    id: int
    name: str | None
    faces: list[Face]  # the first FACES_SHOWN
    more_faces: int  # faces left out of `faces`
    others: list[tuple[int, str | None]]  # (id, name) of the persons it may merge into


@dataclass(frozen=True)
class Crop:
    jpeg: bytes
    etag: str


class PeopleViews:
    def __init__(self, thumbnail_dir: Path):
        self.thumbnail_dir = thumbnail_dir

    def of_photo(self, catalog: Catalog, path: str) -> list[Face]:
        """The faces of a photo (and of a video's frames), left to right, with the names of
        their persons."""
        names = dict(catalog.people.persons_of_file(path))
        return [self._face(catalog, row, names.get(row.person_id)) for row in
                catalog.people.faces_of_file(path)]  # fmt: skip

    def cards(self, catalog: Catalog) -> list[tuple[PersonCard, str | None]]:
        """(PersonCard, its crop's address or None) of every person with a current face,
        named ones first."""
        return [(card, self.card_crop(card)) for card in catalog.people.person_cards()]

    def card_crop(self, card: PersonCard) -> str | None:
        """The address of a PersonCard's crop, where its thumbnail is still cached."""
        if card.face_id is None or not self._cached(card.thumbnail):
            return None
        return f"/face/{card.face_id}"

    def person(self, catalog: Catalog, person_id: int) -> PersonPage | None:
        found = catalog.people.person(person_id)
        if found is None:
            return None
        rows = catalog.people.faces_of_person(person_id)
        faces = [self._face(catalog, row, found[1]) for row in rows[:FACES_SHOWN]]
        others = [(p.id, p.name) for p in catalog.people.list_persons() if p.id != person_id]
        return PersonPage(person_id, found[1], faces, max(0, len(rows) - FACES_SHOWN), others)

    def crop(self, catalog: Catalog, face_id: int) -> Crop | None:
        """A current face's crop, cut from its file's (or its video frame's) thumbnail; None
        where the catalog has no such face or no thumbnail to cut it from."""
        face = catalog.people.face(face_id)
        file_id = catalog.search.known(face.path) if face is not None else None
        key = catalog.photos.thumbnail(file_id, face.frame) if file_id is not None else None
        data = read_thumbnail(self.thumbnail_dir, key) if key else None
        jpeg = face_jpeg(data, face.box) if data is not None else None
        if jpeg is None:
            return None
        tag = f"{key}\0{face_id}\0{face.box}".encode()
        return Crop(jpeg, '"' + hashlib.blake2s(tag, digest_size=8).hexdigest() + '"')

    def _face(self, catalog: Catalog, row: FaceRow, name: str | None) -> Face:
        file_id = catalog.search.known(row.path)
        key = catalog.photos.thumbnail(file_id, row.frame) if file_id is not None else None
        crop = f"/face/{row.id}" if self._cached(key) else None
        return Face(row.id, crop, row.person_id, name, file_id, row.path, row.frame, row.box)

    def _cached(self, key: str | None) -> bool:
        return bool(key) and os.path.isfile(self.thumbnail_dir / key)
