"""Reading the catalog for search: the change stamp, the embeddings a search matrix is built
from, the files that pass the filters, the facts shown for each result, and the embeddings
that near-duplicate groups by embedding compare."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from photoanalyzer.catalog.queries import place_condition
from photoanalyzer.catalog.schema import (
    PATH,
    TAKEN_AT,
    failed_for_good,
    path_param,
    result_is_current,
)
from photoanalyzer.catalog.text import TEXT_CURRENT, text_conditions

FACES_CURRENT = result_is_current("faces")
PersonName = tuple[int, str | None]  # (person id, name)

# An embedding is searchable while the ML phase's result for its file is current: the phase
# finished on the file without an error since the file last changed (a change deletes the
# status row, and a failure replaces it with one that carries the error).
_ML_CURRENT = result_is_current("ml")
# Each phase's row only while it describes the file as it is now, so no filter matches and no
# result shows what an overwritten file used to be (its camera, scene, blur or exposure).
_JOINS = (
    f" FROM files f LEFT JOIN metadata m ON m.file_id = f.id AND {result_is_current('metadata')}"
    f" LEFT JOIN content c ON c.file_id = f.id AND {result_is_current('content')}"
    f" LEFT JOIN ml ON ml.file_id = f.id AND {_ML_CURRENT}"
    f" LEFT JOIN places p ON p.file_id = f.id AND {result_is_current('places')}"
)
_CHUNK = 500  # SQLite caps the number of parameters
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
_EXPOSURE_COLUMNS = {"underexposed": "c.underexposed", "overexposed": "c.overexposed"}


@dataclass(frozen=True)
class FileFilter:
    """What a file must be to be listed. Each field's values mean "any of"; the fields
    combine with "and". An empty filter admits every present file."""

    # The capture time as every reader shows it (schema.TAKEN_AT: local, naive ISO time).
    after: str | None = None  # taken at or after this
    before: str | None = None  # taken before this
    cameras: tuple[str, ...] = ()  # substrings of "make model", case-insensitive
    lenses: tuple[str, ...] = ()  # substrings of "lens_make lens", case-insensitive
    folders: tuple[str, ...] = ()  # absolute paths: the file itself, or the files below it
    kinds: tuple[str, ...] = ()  # "photo", "video"
    scenes: tuple[str, ...] = ()  # top scenes, spelled as stored (filters.py finds them)
    objects: tuple[tuple[str, int], ...] = ()  # (class, at least this many in the picture)
    near: tuple[tuple[float, float, float], ...] = ()  # (lat, lon, km)
    has_gps: bool = False
    rating_min: float | None = None  # the XMP rating is at least this
    keywords: tuple[str, ...] = ()  # XMP keywords (dc:subject), case-insensitive
    blurry: tuple[bool, ...] = ()  # the content phase's blurry flag: (False,) is sharp
    exposure: tuple[str, ...] = ()  # "underexposed", "overexposed"
    places: tuple[str, ...] = ()  # city, region, country or country code (place_condition)
    # Words and phrases that must ALL occur in the file's text (catalog/text.py), unlike the
    # other fields' "any of": each --text narrows the search, as typing words does.
    texts: tuple[str, ...] = ()
    screenshots: tuple[bool, ...] = ()  # the text phase's screenshot flag
    # Persons (the faces phase and `people`): each entry the ids of the persons one --person
    # named (a name two persons share gives both). Any of the entries, or with all_persons
    # every one of them, shown in the picture by a current face.
    persons: tuple[tuple[int, ...], ...] = ()
    all_persons: bool = False
    # (least, most) faces the faces phase found (most None: no upper bound); (0, 0) is
    # --no-faces. Files the faces phase has not analyzed match no face count.
    face_counts: tuple[tuple[int, int | None], ...] = ()

    @property
    def active(self) -> bool:
        # rating_min 0 (or -1) is a filter too: "is set", not "is true", for it; all_persons
        # only says how to read persons.
        return self.rating_min is not None or any(
            getattr(self, name) for name in self.__dataclass_fields__ if name != "all_persons"
        )


class Search:
    def __init__(self, db: sqlite3.Connection):
        self._db = db
        db.create_function("distance_km", 4, distance_km, deterministic=True)

    # -- the change stamp and the matrix's source ---------------------------------------------

    def stamp(self) -> str:
        """Names the catalog's current state for search: it changes in the same transaction
        as any write of ML results, video frames, or files (added, moved, changed, missing)."""
        catalog, counter = self._db.execute(
            "SELECT catalog, counter FROM search_stamp WHERE id = 1"
        ).fetchone()
        return f"{catalog}-{counter}"

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: the stamp and the rows read inside it belong together."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def embeddings(self, batch: int = 20_000) -> Iterator[list[tuple]]:
        """Batches of (file_id, frame, seconds, is_video, random CLIP weights, float16 blob),
        each file's rows together: first the files' own embeddings (photos, and
        videos without frame embeddings) with frame -1 by file, then the videos' analyzed
        frames (frame number and second) by file and frame. Each part is read in its table's
        own order, so SQLite sorts nothing."""
        for source, order in _SOURCES:
            cursor = self._db.execute(source + order)
            while rows := cursor.fetchmany(batch):
                yield rows

    def present_by_kind(self) -> dict[str, int]:
        return dict(
            self._db.execute("SELECT kind, COUNT(*) FROM files WHERE missing = 0 GROUP BY kind")
        )

    def ml_failed(self) -> dict[int, str]:
        """file id -> kind of the present files whose ML phase ended in a final error (the
        file could not be read: `status` counts it as failed): they have no embedding, and
        a run tries them again only when they change or the ML phase's version does. A
        failure that was not the file's (stored under no version) leaves the file pending,
        so it is not among them. Read through the index of error rows (status_errors)."""
        return dict(
            self._db.execute(
                "SELECT f.id, f.kind FROM phase_status s JOIN files f ON f.id = s.file_id"
                f" WHERE s.phase = 'ml' AND {failed_for_good()} AND f.missing = 0"
            )
        )

    # -- filters and facts -----------------------------------------------------------------

    def matching(self, where: FileFilter) -> list[tuple[int, str]]:
        """(file_id, kind) of the present files that pass the filter, by id."""
        clauses, args = self._where(where)
        sql = "SELECT f.id, f.kind" + _JOINS + " WHERE " + " AND ".join(clauses) + " ORDER BY f.id"
        return self._db.execute(sql, args).fetchall()

    def by_date(self, where: FileFilter, limit: int | None) -> list[int]:
        """Ids of the present files that pass the filter in the order a search without a
        query lists them: oldest first by capture time, the UTC instant where it is known
        (the places phase's, else the file's own), else the local time as if it were UTC
        (both forms sort alike: "2023-05-01T10:00:00[Z]"); files without one last; ties by
        path. Only the first `limit` (None: all): SQLite sorts, so a library of 100,000
        files lists its first page without reading the facts of every file."""
        clauses, args = self._where(where)
        when = (
            "COALESCE(NULLIF(COALESCE(p.taken_at_utc, m.taken_at_utc), ''),"
            f" NULLIF({TAKEN_AT}, ''))"
        )
        sql = f"SELECT f.id{_JOINS} WHERE {' AND '.join(clauses)}"
        sql += f" ORDER BY {when} IS NULL, {when}, f.path"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [file_id for (file_id,) in self._db.execute(sql, args)]

    def _where(self, where: FileFilter) -> tuple[list[str], list[Any]]:
        clauses, args = _filter_sql(where)
        if where.texts:
            text_clauses, text_args = text_conditions(self._db, where.texts)
            clauses, args = clauses + text_clauses, args + text_args
        return clauses, args

    def facts(self, file_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """What a result shows, per present file: path, kind, taken_at (local: the places
        phase's where it derived one, as in the export), the UTC instant where
        known (the file's own, or the one the places phase derived from the zone), make,
        model, place, top scene, object counts, the content thumbnail key and whether its
        scenes and embedding (CLIP) and its objects (YOLO) were made with random weights."""
        names = (
            "path", "kind", "taken_at", "taken_at_utc", "make", "model", "place_city",
            "place_country", "top_scene", "object_counts", "thumbnail", "clip_random_weights",
            "yolo_random_weights",
        )  # fmt: skip
        columns = f"f.path, f.kind, {TAKEN_AT}, COALESCE(p.taken_at_utc, m.taken_at_utc),"
        columns += " m.make, m.model, p.place_city, p.place_country, ml.top_scene,"
        columns += " ml.object_counts, c.thumbnail, ml.clip_random_weights, ml.yolo_random_weights"
        found: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(list(file_ids)):
            for file_id, *values in self._db.execute(
                f"SELECT f.id, {columns}" + _JOINS + " WHERE f.missing = 0"
                f" AND f.id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                row = dict(zip(names, values, strict=True))
                row["object_counts"] = json.loads(row["object_counts"] or "{}")
                for flag in ("clip_random_weights", "yolo_random_weights"):
                    row[flag] = bool(row[flag])
                found[file_id] = row
        return found

    def people(self, file_ids: Iterable[int]) -> dict[int, tuple[int, list[PersonName]]]:
        """Per file whose faces result is current: (faces found, [(person id, name)] of the
        persons its faces were given, named ones first by name, then by id)."""
        found: dict[int, tuple[int, list[PersonName]]] = {}
        for chunk in _chunks(list(file_ids)):
            marks = ",".join("?" * len(chunk))
            for file_id, count in self._db.execute(
                "SELECT f.id, s.face_count FROM files f JOIN face_scans s ON s.file_id = f.id"
                f" WHERE f.id IN ({marks}) AND {FACES_CURRENT}",
                chunk,
            ):
                found[file_id] = (count or 0, [])
            for file_id, person, name in self._db.execute(
                "SELECT DISTINCT f.id, pe.id, pe.name FROM files f"
                " JOIN faces fc ON fc.file_id = f.id JOIN persons pe ON pe.id = fc.person_id"
                f" WHERE f.id IN ({marks}) AND {FACES_CURRENT}"
                " ORDER BY f.id, pe.name IS NULL, casefold(pe.name), pe.id",
                chunk,
            ):
                if file_id in found:
                    found[file_id][1].append((person, name))
        return found

    def person_names(self) -> list[tuple[int, str | None]]:
        """(id, name) of every person, named or not: what --person resolves names against."""
        return self._db.execute("SELECT id, name FROM persons ORDER BY id").fetchall()

    def frame_thumbnail(self, file_id: int, frame: int) -> str | None:
        row = self._db.execute(
            "SELECT thumbnail FROM video_frames WHERE file_id = ? AND frame = ?", (file_id, frame)
        ).fetchone()
        return row[0] if row else None

    def scene_labels(self) -> list[str]:
        """Every top scene the catalog holds: the labels `--scene` accepts (a label only a
        stale result has is still a label; it matches no file)."""
        rows = self._db.execute("SELECT DISTINCT top_scene FROM ml WHERE top_scene IS NOT NULL")
        return sorted(label for (label,) in rows)

    def known_at_or_below(self, path: str) -> tuple[int, int]:
        """(present, missing) files the catalog holds at `path` or below it."""
        prefix, end = _below(path)
        present, missing = self._db.execute(
            "SELECT COALESCE(SUM(missing = 0), 0), COALESCE(SUM(missing != 0), 0) FROM files"
            f" WHERE path = {PATH} OR (path >= {PATH} AND path < {PATH})",
            (path_param(path), prefix, end),
        ).fetchone()
        return present, missing

    # -- example images ---------------------------------------------------------------------

    def known(self, path: str) -> int | None:
        """The id of the present file at `path`, if the catalog has one."""
        row = self._db.execute(
            f"SELECT id FROM files WHERE path = {PATH} AND missing = 0", (path_param(path),)
        ).fetchone()
        return row[0] if row else None

    def stored_embedding(self, path: str) -> tuple[bytes, bool] | None:
        """(float16 blob, made with random CLIP weights) of the file at `path`, when its ML
        result is current; a video's is the mean of its frames'."""
        row = self._db.execute(
            "SELECT ml.embedding, COALESCE(ml.clip_random_weights, 0) FROM files f"
            f" JOIN ml ON ml.file_id = f.id WHERE f.path = {PATH} AND f.missing = 0"
            f" AND {_ML_CURRENT} AND ml.embedding IS NOT NULL",
            (path_param(path),),
        ).fetchone()
        return (row[0], bool(row[1])) if row else None

    # -- near-duplicates by embedding --------------------------------------------------------

    def embedding_candidates(self, include_missing: bool = False) -> list[tuple]:
        """(file_id, path, sharpness, width, height, file size, has a capture time, has a
        camera, has GPS, float16 blob, random CLIP weights, is missing, is a camera RAW) of present
        files (and
        missing ones, with include_missing) with a current embedding: what the pick weighs,
        and the vector."""
        rows = self._db.execute(
            "SELECT f.id, f.path, COALESCE(c.sharpness, 0), COALESCE(m.width, 0),"
            " COALESCE(m.height, 0), f.size, m.taken_at IS NOT NULL,"
            " COALESCE(m.make, m.model) IS NOT NULL, m.gps_lat IS NOT NULL, ml.embedding,"
            " COALESCE(ml.clip_random_weights, 0), f.missing,"
            " COALESCE(m.file_type LIKE 'RAW-%', 0)"
            + _JOINS
            + " WHERE "
            + ("1" if include_missing else "f.missing = 0")
            + f" AND ml.embedding IS NOT NULL AND {_ML_CURRENT} ORDER BY f.path"
        )
        return [(*row[:6], *map(bool, row[6:9]), row[9], *map(bool, row[10:13])) for row in rows]


# The searchable embeddings, of present files whose ML result is current: the files' own
# (where a file has no frame embeddings: photos, mostly), then the video frames'.
_WHOLE_FILES = (
    "SELECT f.id, -1, NULL, f.kind = 'video', COALESCE(ml.clip_random_weights, 0),"
    " ml.embedding AS e FROM files f JOIN ml ON ml.file_id = f.id"
    f" WHERE f.missing = 0 AND ml.embedding IS NOT NULL AND {_ML_CURRENT}"
    " AND (f.kind != 'video' OR NOT EXISTS (SELECT 1 FROM video_frames v"
    " WHERE v.file_id = f.id AND v.embedding IS NOT NULL))"
)
_FRAMES = (
    "SELECT v.file_id, v.frame, v.timestamp, 1, COALESCE(ml.clip_random_weights, 0),"
    " v.embedding AS e FROM video_frames v JOIN files f ON f.id = v.file_id"
    " JOIN ml ON ml.file_id = f.id"
    f" WHERE f.missing = 0 AND v.embedding IS NOT NULL AND {_ML_CURRENT}"
)
# Each in its table's own order (rowid; the frames' primary key): nothing to sort.
_SOURCES = ((_WHOLE_FILES, " ORDER BY f.id"), (_FRAMES, " ORDER BY v.file_id, v.frame"))


def _filter_sql(where: FileFilter) -> tuple[list[str], list[Any]]:
    """WHERE clauses (joined with AND) and their arguments; each clause ORs its values."""
    clauses, args = ["f.missing = 0"], []

    def any_of(template: str, values: Iterable[tuple]) -> None:
        values = list(values)
        if values:
            clauses.append("(" + " OR ".join([template] * len(values)) + ")")
            args.extend(v for group in values for v in group)

    if where.after:
        clauses.append(f"{TAKEN_AT} >= ?")
        args.append(where.after)
    if where.before:
        clauses.append(f"{TAKEN_AT} < ?")
        args.append(where.before)
    camera = "instr(casefold(COALESCE(m.make, '') || ' ' || COALESCE(m.model, '')), ?) > 0"
    any_of(camera, ((_fold(text),) for text in where.cameras))
    lens = "instr(casefold(COALESCE(m.lens_make, '') || ' ' || COALESCE(m.lens, '')), ?) > 0"
    any_of(lens, ((_fold(text),) for text in where.lenses))
    any_of(
        f"(f.path = {PATH} OR (f.path >= {PATH} AND f.path < {PATH}))",
        ((path_param(folder), *_below(folder)) for folder in where.folders),
    )
    any_of("f.kind = ?", ((kind,) for kind in where.kinds))
    any_of("ml.top_scene = ?", ((label,) for label in where.scenes))  # labels as stored
    counted = (
        "EXISTS (SELECT 1 FROM json_each(ml.object_counts) j"
        " WHERE casefold(j.key) = ? AND j.value >= ?)"
    )
    any_of(counted, ((_fold(name), least) for name, least in where.objects))
    near = "(m.gps_lat BETWEEN ? AND ? AND distance_km(m.gps_lat, m.gps_lon, ?, ?) <= ?)"
    any_of(near, ((lat - km / KM_PER_DEGREE, lat + km / KM_PER_DEGREE, lat, lon, km)
                  for lat, lon, km in where.near))  # fmt: skip
    if where.has_gps:
        clauses.append("m.gps_lat IS NOT NULL")
    if where.rating_min is not None:
        clauses.append("m.rating >= ?")
        args.append(where.rating_min)
    keyword = "EXISTS (SELECT 1 FROM json_each(m.keywords) k WHERE casefold(k.value) = ?)"
    any_of(keyword, ((_fold(text),) for text in where.keywords))
    any_of("c.blurry = ?", ((int(flag),) for flag in where.blurry))
    if where.exposure:
        flags = " OR ".join(f"{_EXPOSURE_COLUMNS[flag]} = 1" for flag in where.exposure)
        clauses.append(f"({flags})")
    screenshot = (
        "EXISTS (SELECT 1 FROM text t WHERE t.file_id = f.id AND t.screenshot = ?"
        f" AND {TEXT_CURRENT})"
    )
    any_of(screenshot, ((int(flag),) for flag in where.screenshots))
    _person_clauses(where, clauses, args)
    if where.face_counts:
        count = "(s.face_count >= ? AND (? IS NULL OR s.face_count <= ?))"
        ranges = " OR ".join([count] * len(where.face_counts))
        clauses.append(
            f"EXISTS (SELECT 1 FROM face_scans s WHERE s.file_id = f.id AND ({ranges}))"
            f" AND {FACES_CURRENT}"
        )
        args.extend(v for least, most in where.face_counts for v in (least, most, most))
    places = [place_condition(text) for text in where.places]
    if places:
        clauses.append("(" + " OR ".join(condition for condition, _ in places) + ")")
        args.extend(arg for _, values in places for arg in values)
    return clauses, args


def _person_clauses(where: FileFilter, clauses: list[str], args: list[Any]) -> None:
    """--person: one condition for "any of" (every named person's ids together), one per
    name for "all of". Faces only of a current faces result (a file changed since the
    faces phase ran shows nobody until it runs again)."""
    if not where.persons:
        return
    groups = (
        list(where.persons)
        if where.all_persons
        else [tuple(i for group in where.persons for i in group)]
    )
    for ids in groups:
        clauses.append(
            "EXISTS (SELECT 1 FROM faces fc WHERE fc.file_id = f.id"
            f" AND fc.person_id IN ({','.join('?' * len(ids))}))"
        )
        args.extend(ids)
    clauses.append(FACES_CURRENT)


def _below(folder: str) -> tuple[str | bytes, str | bytes]:
    prefix = folder.rstrip("/") + "/"
    # '0' sorts right after '/': exactly the paths below
    return path_param(prefix), path_param(prefix[:-1] + "0")


def _fold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def distance_km(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine); infinite when a position is unknown."""
    if lat1 is None or lon1 is None:
        return math.inf
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _chunks(values: list) -> Iterator[list]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
