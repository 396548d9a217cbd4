"""Names people already gave in other programs, as the metadata phase read them from XMP:
MWG face regions (table mwg_regions) and Iptc4xmpExt:PersonInImage (table xmp_people).

Written with the metadata phase's result (results.py calls write_derived in the same
transaction), replaced by every new one, and read only where the metadata result is current:
a file changed since it was read shows no regions until the metadata phase has read it again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from photoanalyzer.catalog.schema import message_text, result_is_current

# The key of the metadata phase's record that carries these (not a metadata column):
# {"regions": [(name, x, y, w, h)], "regions_source", "people": [names], "people_source",
# "note"}; see phases/metadata_reading._people.
PEOPLE_KEY = "xmp_people"
# SQLite's default cap on a statement's parameters is 999 (older builds) or 32,766.
_CHUNK = 500


class NamedRegion(NamedTuple):
    """A face region someone drew in another program: the name they gave (None for an
    unnamed face) and the box on the upright picture (after EXIF orientation), top-left
    origin, each value a fraction of the picture's width (x, w) or height (y, h)."""

    name: str | None
    x: float
    y: float
    w: float
    h: float


def write_derived(db: sqlite3.Connection, file_id: int, record: dict[str, Any] | None) -> None:
    """The regions and names of one file's metadata result (results.DERIVED_WRITERS)."""
    save_people(db, file_id, (record or {}).get(PEOPLE_KEY))


def save_people(db: sqlite3.Connection, file_id: int, people: dict[str, Any] | None) -> None:
    """Replace the file's regions and names with `people` (none when None). Runs inside the
    caller's transaction."""
    db.execute("DELETE FROM mwg_regions WHERE file_id = ?", (file_id,))
    db.execute("DELETE FROM xmp_people WHERE file_id = ?", (file_id,))
    if not people:
        return
    source = people.get("regions_source")
    db.executemany(
        "INSERT INTO mwg_regions (file_id, region, name, x, y, w, h, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (file_id, position, name, x, y, w, h, source)
            for position, (name, x, y, w, h) in enumerate(people.get("regions") or [])
        ],
    )
    names, note = people.get("people") or [], people.get("note")
    if names or note:
        db.execute(
            "INSERT INTO xmp_people (file_id, people_in_image, people_source, regions_note)"
            " VALUES (?, ?, ?, ?)",
            (
                file_id,
                json.dumps(names) if names else None,
                people.get("people_source") if names else None,
                message_text(note),
            ),
        )


def _chunks(file_ids: Iterable[int]) -> Iterator[list[int]]:
    ids = list(dict.fromkeys(file_ids))
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def named_regions(db: sqlite3.Connection, file_ids: Iterable[int]) -> dict[int, list[NamedRegion]]:
    """file id -> its face regions, in the file's order; files without any are left out."""
    found: dict[int, list[NamedRegion]] = {}
    current = result_is_current("metadata", "r.file_id")
    for chunk in _chunks(file_ids):
        marks = ",".join("?" * len(chunk))
        for file_id, *region in db.execute(
            "SELECT r.file_id, r.name, r.x, r.y, r.w, r.h FROM mwg_regions r"
            f" WHERE r.file_id IN ({marks}) AND {current} ORDER BY r.file_id, r.region",
            chunk,
        ):
            found.setdefault(file_id, []).append(NamedRegion(*region))
    return found


def people_in_image(db: sqlite3.Connection, file_ids: Iterable[int]) -> dict[int, list[str]]:
    """file id -> its Iptc4xmpExt:PersonInImage names, in order; files without any are left
    out."""
    found = _xmp_people_column(db, file_ids, "people_in_image")
    return {file_id: json.loads(names) for file_id, names in found.items()}


def regions_notes(db: sqlite3.Connection, file_ids: Iterable[int]) -> dict[int, str]:
    """file id -> why some of its face regions were not kept (too many, no size, outside the
    picture, unreadable); files where all were are left out."""
    return _xmp_people_column(db, file_ids, "regions_note")


def _xmp_people_column(db: sqlite3.Connection, file_ids: Iterable[int], column: str) -> dict:
    """file id -> `column` of xmp_people, where it is set and the metadata result current."""
    found = {}
    current = result_is_current("metadata", "p.file_id")
    for chunk in _chunks(file_ids):
        marks = ",".join("?" * len(chunk))
        found.update(
            db.execute(
                f"SELECT p.file_id, p.{column} FROM xmp_people p"
                f" WHERE p.file_id IN ({marks}) AND p.{column} IS NOT NULL AND {current}",
                chunk,
            )
        )
    return found
