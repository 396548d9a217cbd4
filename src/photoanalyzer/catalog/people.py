"""Faces and persons: the faces phase's rows, what grouping reads and writes, and what the
user decides (names, merges, rejections, forgetting).

Face rows belong to the faces phase and are replaced whenever it runs on a file again.
Persons do not: their ids, names, anchors (the embeddings of the faces each was given) and
rejections stand through every re-analysis, so grouping brings the same faces back to the
same persons (docs/people.md). Faces are read only where the faces phase's result is current
(`result_is_current('faces')`), and only of present files."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from photoanalyzer.catalog.queries import at_or_below
from photoanalyzer.catalog.regions import NamedRegion, named_regions
from photoanalyzer.catalog.schema import PATH, path_param, result_is_current, transaction

CURRENT_FACE = f"f.missing = 0 AND {result_is_current('faces')}"
MAX_PERSON_NAME = 200  # characters: a person's name, not a text


def person_number(text: str) -> int | None:
    """ "12" or "#12" as a person's number (ASCII digits: "²" is a name), None for a name."""
    digits = text.strip().removeprefix("#")
    return int(digits) if digits.isascii() and digits.isdigit() else None


def person_name_problem(name: str) -> str | None:
    """Why `name` (already stripped) cannot be a person's name, None when it can. A name of
    digits only is refused: `people` and `search --person` read digits as a person's number,
    so such a name could never be asked for."""
    if not name:
        return "the name is empty"
    if len(name) > MAX_PERSON_NAME or not name.isprintable():
        return f"a name is at most {MAX_PERSON_NAME} characters, on one line"
    number = person_number(name)
    if number is not None:
        return (
            f"a name of digits only ({name}) would read as a person's number; add a word "
            f'("Player {number}")'
        )
    return None


FACE_COLUMNS = (
    "frame",
    "x",
    "y",
    "w",
    "h",
    "landmarks",
    "score",
    "size_px",
    "sharpness",
    "embedding",
)


class FaceRow(NamedTuple):
    id: int
    path: str
    frame: int | None
    box: tuple[float, float, float, float]  # x, y, w, h normalized, top-left origin
    score: float
    size_px: int
    sharpness: float
    person_id: int | None
    assigned: str | None  # match, cluster, region, user, or None (unassigned)


class PersonRow(NamedTuple):
    id: int
    name: str | None
    faces: int
    photos: int
    sample: str | None  # the path of a file with one of its faces


class SidecarFaces(NamedTuple):
    """What `xmp write` writes of one photo: its named faces (boxes on the upright picture)
    with the picture's stored size and EXIF orientation, which the MWG regions are written
    against."""

    path: str
    width: int | None
    height: int | None
    orientation: int | None
    faces: list[tuple[str, tuple[float, float, float, float]]]  # (name, (x, y, w, h))


class PersonCard(NamedTuple):
    """A person as the report's People page shows it: counts, and the face its crop is cut
    from (the largest face of a photo, from that photo's content thumbnail; None where no
    face of it is in a photo with a thumbnail)."""

    id: int
    name: str | None
    faces: int
    photos: int
    face_id: int | None
    thumbnail: str | None  # the content thumbnail's cache key
    box: tuple[float, float, float, float] | None  # x, y, w, h on the upright picture


class GroupingInputs(NamedTuple):
    # (face id, embedding blob, size_px, sharpness, file id, x, y, w, h) of current faces
    # with no person
    unassigned: list[tuple]
    anchors: list[tuple[int, int, bytes, str]]  # (anchor id, person id, embedding, assigned)
    rejections: list[tuple[int, bytes]]  # (person id, embedding)


class Assignment(NamedTuple):
    """One face given to a person: `person` is an existing person's id, or -k-1 for the
    k-th new person of the same grouping; `anchor` an existing anchor to reuse (the same
    face came back), else None: the face's embedding becomes a new anchor."""

    face_id: int
    person: int
    anchor: int | None
    assigned: str


def write_derived(db: sqlite3.Connection, file_id: int, record: dict[str, Any] | None) -> None:
    """The face rows of one file's faces result, none for an error (results.DERIVED_WRITERS)."""
    replace_faces(db, file_id, (record or {}).get("faces", []))


def replace_faces(db: sqlite3.Connection, file_id: int, faces: list[dict[str, Any]]) -> None:
    """The faces phase's rows of one file, replaced (inside the caller's transaction): the
    person a face had goes with the row; grouping gives it back through the anchors."""
    db.execute("DELETE FROM faces WHERE file_id = ?", (file_id,))
    db.executemany(
        f"INSERT INTO faces (file_id, {', '.join(FACE_COLUMNS)})"
        f" VALUES (?{', ?' * len(FACE_COLUMNS)})",
        [(file_id, *(_to_sql(name, face[name]) for name in FACE_COLUMNS)) for face in faces],
    )


def _to_sql(name: str, value: Any) -> Any:
    return json.dumps(value) if name == "landmarks" and value is not None else value


class People:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    # What grouping reads and writes.

    def grouping_inputs(self) -> GroupingInputs:
        unassigned = self._db.execute(
            "SELECT fc.id, fc.embedding, COALESCE(fc.size_px, 0), COALESCE(fc.sharpness, 0),"
            " fc.file_id, fc.x, fc.y, fc.w, fc.h"
            f" FROM faces fc JOIN files f ON f.id = fc.file_id WHERE {CURRENT_FACE}"
            " AND fc.person_id IS NULL ORDER BY fc.id"
        ).fetchall()
        anchors = self._db.execute(
            "SELECT id, person_id, embedding, assigned FROM person_anchors ORDER BY id"
        ).fetchall()
        rejections = self._db.execute(
            "SELECT person_id, embedding FROM person_rejections"
        ).fetchall()
        return GroupingInputs(unassigned, anchors, rejections)

    def apply_grouping(
        self, assignments: list[Assignment], names: dict[int, str], run_id: int | None
    ) -> dict[int, int]:
        """Store one grouping in one transaction: new persons (negative ids in `assignments`,
        named where `names` says so), anchors, faces' persons. Returns new -> stored id."""
        created: dict[int, int] = {}
        with transaction(self._db):
            for item in assignments:
                person = item.person
                if person < 0 and person not in created:
                    created[person] = self._db.execute(
                        "INSERT INTO persons (name, created_run) VALUES (?, ?)",
                        (names.get(person), run_id),
                    ).lastrowid
                person = created.get(person, person)
                anchor = item.anchor
                if anchor is None:
                    anchor = self._db.execute(
                        "INSERT INTO person_anchors (person_id, embedding, assigned)"
                        " SELECT ?, embedding, ? FROM faces WHERE id = ?",
                        (person, item.assigned, item.face_id),
                    ).lastrowid
                self._db.execute(
                    "UPDATE faces SET person_id = ?, anchor_id = ?, assigned = ? WHERE id = ?",
                    (person, anchor, item.assigned, item.face_id),
                )
            for person, name in names.items():  # names for persons that existed already
                if person >= 0:
                    self._db.execute(
                        "UPDATE persons SET name = ? WHERE id = ? AND name IS NULL", (name, person)
                    )
        return created

    def named_regions(self, file_ids: list[int]) -> dict[int, list[NamedRegion]]:
        """The named face regions (MWG, read by the metadata phase) of these files."""
        return {
            file_id: [region for region in regions if region.name]
            for file_id, regions in named_regions(self._db, file_ids).items()
        }

    # What people read.

    def list_persons(self) -> list[PersonRow]:
        """Persons with at least one current face of a present file, named ones first (by
        name), then by face count."""
        rows = self._db.execute(
            "SELECT p.id, p.name, COUNT(fc.id), COUNT(DISTINCT fc.file_id), MIN(f.path)"
            " FROM persons p JOIN faces fc ON fc.person_id = p.id"
            f" JOIN files f ON f.id = fc.file_id WHERE {CURRENT_FACE}"
            " GROUP BY p.id ORDER BY p.name IS NULL, casefold(p.name), COUNT(fc.id) DESC, p.id"
        )
        return [PersonRow(*row) for row in rows]

    def person(self, person_id: int) -> tuple[int, str | None] | None:
        return self._db.execute(
            "SELECT id, name FROM persons WHERE id = ?", (person_id,)
        ).fetchone()

    def person_by_name(self, name: str) -> int | None:
        found = self._db.execute(
            "SELECT id FROM persons WHERE casefold(name) = casefold(?) ORDER BY id LIMIT 1",
            (name,),
        ).fetchone()
        return found[0] if found else None

    def named_persons(self) -> dict[str, int]:
        """casefolded name -> person id (the lowest where two share one)."""
        found: dict[str, int] = {}
        for person_id, name in self._db.execute(
            "SELECT id, name FROM persons WHERE name IS NOT NULL ORDER BY id"
        ):
            found.setdefault(name.casefold(), person_id)
        return found

    def faces_of_person(self, person_id: int) -> list[FaceRow]:
        return self._faces("fc.person_id = ?", (person_id,))

    def faces_of_file(self, path: str) -> list[FaceRow]:
        return self._faces(f"f.path = {PATH}", (path_param(path),))

    def face(self, face_id: int) -> FaceRow | None:
        found = self._faces("fc.id = ?", (face_id,))
        return found[0] if found else None

    def persons_of_file(self, path: str) -> list[tuple[int, str | None]]:
        """(person id, name) of the persons whose faces a file shows."""
        return self._db.execute(
            "SELECT DISTINCT p.id, p.name FROM faces fc JOIN files f ON f.id = fc.file_id"
            f" JOIN persons p ON p.id = fc.person_id WHERE {CURRENT_FACE} AND f.path = {PATH}"
            " ORDER BY p.id",
            (path_param(path),),
        ).fetchall()

    def person_cards(self) -> list[PersonCard]:
        """Every person with a current face (as list_persons orders them), with its face
        to show."""
        best: dict[int, tuple] = {}
        for person, face_id, thumbnail, *box in self._db.execute(
            "SELECT fc.person_id, fc.id, c.thumbnail, fc.x, fc.y, fc.w, fc.h FROM faces fc"
            f" JOIN files f ON f.id = fc.file_id JOIN content c ON c.file_id = f.id"
            f" AND {result_is_current('content')}"
            f" WHERE {CURRENT_FACE} AND fc.person_id IS NOT NULL AND fc.frame IS NULL"
            " AND c.thumbnail IS NOT NULL ORDER BY fc.person_id, fc.size_px DESC, fc.id"
        ):
            best.setdefault(person, (face_id, thumbnail, tuple(box)))
        return [
            PersonCard(*person[:4], *best.get(person.id, (None, None, None)))
            for person in self.list_persons()
        ]

    def photos_of_persons(self) -> list[tuple[int, int, str, str | None, str | None]]:
        """(person id, file id, path, content thumbnail key) of each present file showing each
        person, by person, then by capture time where known, then path."""
        return self._db.execute(
            "SELECT DISTINCT fc.person_id, f.id, f.path, c.thumbnail, m.taken_at FROM faces fc"
            " JOIN files f ON f.id = fc.file_id"
            f" LEFT JOIN content c ON c.file_id = f.id AND {result_is_current('content')}"
            f" LEFT JOIN metadata m ON m.file_id = f.id AND {result_is_current('metadata')}"
            f" WHERE {CURRENT_FACE} AND fc.person_id IS NOT NULL"
            " ORDER BY fc.person_id, m.taken_at IS NULL, m.taken_at, f.path"
        ).fetchall()

    def names_by_path(self) -> dict[str, list[str]]:
        """Path -> the names of the named persons its faces show, sorted: what photo cards
        show."""
        found: dict[str, list[str]] = {}
        for path, name in self._db.execute(
            "SELECT DISTINCT f.path, pe.name FROM faces fc JOIN files f ON f.id = fc.file_id"
            f" JOIN persons pe ON pe.id = fc.person_id WHERE {CURRENT_FACE}"
            " AND pe.name IS NOT NULL ORDER BY f.path, casefold(pe.name)"
        ):
            found.setdefault(path, []).append(name)
        return found

    def sidecar_faces(self, roots: list[str]) -> list[SidecarFaces]:
        """Present photos at or below `roots` (all, when empty) whose faces result is
        current, in path order, each with its named faces, left to right (none: our earlier
        regions in its sidecar go)."""
        inside, args = at_or_below(roots)
        found: dict[str, SidecarFaces] = {}
        for path, width, height, orientation, name, *box in self._db.execute(
            "SELECT f.path, m.width, m.height, m.orientation, pe.name, fc.x, fc.y, fc.w, fc.h"
            " FROM files f JOIN face_scans s ON s.file_id = f.id"
            f" LEFT JOIN metadata m ON m.file_id = f.id AND {result_is_current('metadata')}"
            " LEFT JOIN faces fc ON fc.file_id = f.id AND fc.person_id IS NOT NULL"
            " LEFT JOIN persons pe ON pe.id = fc.person_id AND pe.name IS NOT NULL"
            f" WHERE f.missing = 0 AND f.kind = 'photo' AND {result_is_current('faces')}{inside}"
            " ORDER BY f.path, fc.x, fc.y",
            args,
        ):
            photo = found.setdefault(path, SidecarFaces(path, width, height, orientation, []))
            if name is not None:
                photo.faces.append((name, tuple(box)))
        return list(found.values())

    def _faces(self, condition: str, args: tuple) -> list[FaceRow]:
        rows = self._db.execute(
            "SELECT fc.id, f.path, fc.frame, fc.x, fc.y, fc.w, fc.h, fc.score, fc.size_px,"
            " fc.sharpness, fc.person_id, fc.assigned FROM faces fc"
            f" JOIN files f ON f.id = fc.file_id WHERE {CURRENT_FACE} AND {condition}"
            " ORDER BY f.path, fc.frame, fc.x",
            args,
        )
        return [FaceRow(r[0], r[1], r[2], tuple(r[3:7]), *r[7:]) for r in rows]

    def embeddings(self, face_ids: list[int]) -> list[bytes]:
        """The stored embeddings of these faces, in the same order."""
        found = {}
        for start in range(0, len(face_ids), 500):
            chunk = face_ids[start : start + 500]
            found.update(
                self._db.execute(
                    f"SELECT id, embedding FROM faces WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            )
        return [found[i] for i in face_ids]

    def counts(self) -> dict[str, int]:
        """faces, the files they are in, faces with a person, persons (with a current
        face), named persons."""
        (faces, files, assigned) = self._db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT fc.file_id), COUNT(fc.person_id) FROM faces fc"
            f" JOIN files f ON f.id = fc.file_id WHERE {CURRENT_FACE}"
        ).fetchone()
        persons = self.list_persons()
        named = sum(1 for p in persons if p.name)
        return {
            "faces": faces,
            "files": files,
            "assigned": assigned,
            "persons": len(persons),
            "named": named,
        }

    # What the user decides.

    def rename(self, person_id: int, name: str) -> None:
        with transaction(self._db):
            self._db.execute("UPDATE persons SET name = ? WHERE id = ?", (name, person_id))

    def merge(self, keep: int, other: int) -> None:
        """`other` becomes `keep`: its faces, anchors and rejections; its name where `keep`
        has none. `other`'s id is gone afterwards."""
        with transaction(self._db):
            self._db.execute(
                "UPDATE persons SET name = COALESCE(name, (SELECT name FROM persons WHERE id = ?))"
                " WHERE id = ?",
                (other, keep),
            )
            for table in ("faces", "person_anchors", "person_rejections"):
                self._db.execute(
                    f"UPDATE {table} SET person_id = ? WHERE person_id = ?", (keep, other)
                )
            self._db.execute("DELETE FROM persons WHERE id = ?", (other,))

    def reject(self, face_id: int) -> int | None:
        """The face is not its person: its anchor goes, a rejection keeps its embedding so
        that no later grouping (a --full run included) gives it back to that person, and the
        face is unassigned (the next grouping may place it elsewhere). Returns the person."""
        with transaction(self._db):
            found = self._db.execute(
                "SELECT person_id, anchor_id FROM faces WHERE id = ?", (face_id,)
            ).fetchone()
            if found is None or found[0] is None:
                return None
            person, anchor = found
            self._db.execute(
                "INSERT INTO person_rejections (person_id, embedding)"
                " SELECT ?, embedding FROM faces WHERE id = ?",
                (person, face_id),
            )
            if anchor is not None:
                self._db.execute("DELETE FROM person_anchors WHERE id = ?", (anchor,))
            self._db.execute(
                "UPDATE faces SET person_id = NULL, anchor_id = NULL, assigned = NULL WHERE id = ?",
                (face_id,),
            )
            return person

    def forget(self) -> int:
        """Every face, embedding, person, name and decision deleted, and the faces phase's
        results with them (files are pending for it again). Returns the faces deleted.
        secure_delete overwrites the freed pages with zeros and the checkpoint empties the
        write-ahead log, so no copy of an embedding stays in the catalog's files."""
        self._db.execute("PRAGMA secure_delete = ON")
        with transaction(self._db):
            (count,) = self._db.execute("SELECT COUNT(*) FROM faces").fetchone()
            for table in ("faces", "person_rejections", "person_anchors", "persons", "face_scans"):
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute("DELETE FROM phase_status WHERE phase = 'faces'")
            self._db.execute("DELETE FROM retries WHERE phase = 'faces'")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count
