"""Reading the catalog for export, status, near-duplicates and the benchmark."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator
from typing import Any, NamedTuple

from photoanalyzer.catalog.schema import (
    HIDDEN_COLUMNS,
    PATH,
    RESULT_TABLES,
    failed_for_good,
    from_sql,
    path_param,
    result_is_current,
    table_columns,
)


class LabelledPhoto(NamedTuple):
    path: str
    scenes: list[tuple[str, float]]  # (label, score), best first
    object_counts: dict[str, int]  # class -> most seen in the picture
    clip_random: bool  # the scenes were made with random CLIP weights
    yolo_random: bool  # the objects were made with random YOLO weights


class Queries:
    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._columns = {phase: table_columns(db, table) for phase, table in RESULT_TABLES.items()}

    def export_rows(self, include_missing: bool = False) -> Iterator[dict[str, Any]]:
        """One dict per present file (and per missing one, with include_missing), in path
        order: path, kind, file_size, `missing` (only with include_missing), pair_of (the
        RAW+JPEG sibling's path, pairs.py), each phase's
        fields, and `errors` (phase -> message). A field that several phases store is given
        once, in the first one's place, with the latest phase's value where it has one.
        Each phase's fields only where its result is current: a file that changed shows
        none of a phase's fields until that phase has run on it again."""
        sources: dict[str, list[str]] = {}  # field -> its columns, latest phase first
        joins = []
        for phase, table in RESULT_TABLES.items():
            alias = f"t_{phase}"
            condition = f"{alias}.file_id = f.id AND {result_is_current(phase)}"
            joins.append(f" LEFT JOIN {table} {alias} ON {condition}")
            for column in self._exported(phase):
                sources.setdefault(column, []).insert(0, f"{alias}.{column}")
        names = list(sources)
        selects = [
            f"COALESCE({', '.join(columns)})" if len(columns) > 1 else columns[0]
            for columns in sources.values()
        ]
        errors = self.errors()
        faces = self._faces_by_file(include_missing)
        rows = self._db.execute(
            f"SELECT f.id, f.path, f.kind, f.size, pair.path, f.missing, {', '.join(selects)}"
            " FROM files f LEFT JOIN files pair ON pair.id = f.pair_of"
            + "".join(joins)
            + ("" if include_missing else " WHERE f.missing = 0")
            + " ORDER BY f.path"
        )
        for file_id, path, kind, size, pair_of, missing, *values in rows:
            fields = {
                name: from_sql(name, value) for name, value in zip(names, values, strict=True)
            }
            if "face_count" in fields:  # the faces themselves right after their count
                fields = _with_faces(fields, faces.of(file_id, fields["face_count"] is not None))
            yield {
                "path": path,
                "kind": kind,
                "file_size": size,
                **({"missing": bool(missing)} if include_missing else {}),
                "pair_of": pair_of,
                **fields,
                "errors": errors.get(file_id, {}),
            }

    def _faces_by_file(self, include_missing: bool) -> _FacesByFile:
        """The faces of current faces results in the export's order (by path), read beside
        it: a library's faces are never all in memory at once."""
        rows = self._db.execute(
            "SELECT f.id, fc.frame, fc.x, fc.y, fc.w, fc.h, fc.person_id, pe.name, fc.score"
            " FROM faces fc JOIN files f ON f.id = fc.file_id"
            " LEFT JOIN persons pe ON pe.id = fc.person_id"
            f" WHERE {result_is_current('faces')}"
            + ("" if include_missing else " AND f.missing = 0")
            + " ORDER BY f.path, fc.frame, fc.x, fc.id"
        )
        return _FacesByFile(rows)

    def errors(self, file_id: int | None = None) -> dict[int, dict[str, str]]:
        """file id -> phase -> message, for each phase whose last word on the file is an
        error: every file's (the export's `errors`), or one file's (serve's photo page, so
        that both show the same)."""
        sql, args = "SELECT file_id, phase, error FROM phase_status WHERE error IS NOT NULL", ()
        if file_id is not None:  # the primary key's first column: a lookup, not a scan
            sql, args = sql + " AND file_id = ?", (file_id,)
        errors: dict[int, dict[str, str]] = {}
        for found, phase, error in self._db.execute(sql, args):
            errors.setdefault(found, {})[phase] = error
        return errors

    def failed_phases(self, file_id: int) -> list[str]:
        """The phases whose last word on the file is a final error (it could not be read,
        as `status` counts failed), not one stored under no version to be tried again."""
        return [
            phase
            for (phase,) in self._db.execute(
                f"SELECT s.phase FROM phase_status s WHERE s.file_id = ? AND {failed_for_good()}",
                (file_id,),
            )
        ]

    def _exported(self, phase: str) -> list[str]:
        return [c for c in self._columns[phase] if c not in HIDDEN_COLUMNS]

    def field_names(self, include_missing: bool = False) -> list[str]:
        phase_fields = [column for phase in RESULT_TABLES for column in self._exported(phase)]
        if "face_count" in phase_fields:
            phase_fields.insert(phase_fields.index("face_count") + 1, "faces")
        missing = ["missing"] if include_missing else []
        fields = dict.fromkeys(phase_fields)
        return ["path", "kind", "file_size", *missing, "pair_of", *fields, "errors"]

    def near_duplicate_candidates(self, include_missing: bool = False) -> list[tuple]:
        """(file_id, path, phash, sharpness, width, height, file size, has a capture time, has
        a camera, has GPS, is missing, is a camera RAW) of present files with a current
        content result (and missing ones, with include_missing): what the pick weighs, and
        what is shown. A file overwritten since its content phase ran is in no group until
        that phase has hashed the new picture."""
        rows = self._db.execute(
            "SELECT f.id, f.path, c.phash, COALESCE(c.sharpness, 0), COALESCE(m.width, 0),"
            " COALESCE(m.height, 0), f.size, m.taken_at IS NOT NULL,"
            " COALESCE(m.make, m.model) IS NOT NULL, m.gps_lat IS NOT NULL, f.missing,"
            " COALESCE(m.file_type LIKE 'RAW-%', 0)"
            f" FROM files f JOIN content c ON c.file_id = f.id AND {result_is_current('content')}"
            f" LEFT JOIN metadata m ON m.file_id = f.id AND {result_is_current('metadata')}"
            " WHERE c.phash IS NOT NULL"
            + ("" if include_missing else " AND f.missing = 0")
            + " ORDER BY f.path"
        )
        return [(*row[:7], *map(bool, row[7:])) for row in rows]

    def file_counts(self) -> dict[str, dict[str, int]]:
        """kind -> {"present": n, "missing": n}."""
        counts: dict[str, dict[str, int]] = {}
        for kind, missing, n in self._db.execute(
            "SELECT kind, missing, COUNT(*) FROM files GROUP BY kind, missing"
        ):
            counts.setdefault(kind, {"present": 0, "missing": 0})[
                "missing" if missing else "present"
            ] = n
        return counts

    def phase_summary(
        self,
        phase: str,
        kinds: Iterable[str],
        config_version: str | None = None,
        left_out: Collection[int] = (),
    ) -> dict[str, Any]:
        """What the present files of the phase's kinds hold, judged by the version the
        catalog's own runs used (`last_version`), whatever config reads the catalog:
        done (a result of that version), older (results of another version only), failed
        (the phase's last word on the file is an error), never (no result: not analysed yet,
        or tried only while the file could not be read or the phase could not run). With a
        config's version, also how many files that config's next run would analyze: not
        those in `left_out` (the halves of RAW+JPEG pairs that its scan.raw_pairs keeps from
        the pixel phases), which are counted apart (those it would otherwise analyze)."""
        kinds = sorted(kinds)
        marks = ",".join("?" * len(kinds))
        version, version_run = self.last_version(phase) or (None, None)
        done, older, failed, total = self._db.execute(
            "SELECT COALESCE(SUM(s.version = ? AND s.error IS NULL), 0),"
            " COALESCE(SUM(s.version NOT IN (?, '') AND s.error IS NULL), 0),"
            f" COALESCE(SUM({failed_for_good()}), 0), COUNT(*) FROM files f"
            " LEFT JOIN phase_status s ON s.file_id = f.id AND s.phase = ?"
            f" WHERE f.missing = 0 AND f.kind IN ({marks})",
            [version or "", version or "", phase, *kinds],
        ).fetchone()
        pending = None if config_version is None else self._pending(phase, config_version, kinds)
        excluded = set(left_out)
        return {
            "version": version,
            "version_run": version_run,
            "done": done,
            "older": older,
            "failed": failed,
            "never": total - done - older - failed,
            "config_version": config_version,
            "pending_for_config": None if pending is None else len(pending - excluded),
            "left_out_pairs": None if pending is None else len(pending & excluded),
        }

    def last_version(self, phase: str) -> tuple[str, int] | None:
        """(version, run id) of the newest run that ran the phase without a whole-phase
        failure; where none did (the phase was only ever interrupted), the version of its
        newest stored result. None when the phase never stored anything."""
        return (
            self._db.execute(
                "SELECT version, run_id FROM run_phases WHERE phase = ? AND failure IS NULL"
                " ORDER BY run_id DESC LIMIT 1",
                (phase,),
            ).fetchone()
            or self._db.execute(
                "SELECT version, run_id FROM phase_status WHERE phase = ? AND version != ''"
                " ORDER BY run_id DESC LIMIT 1",
                (phase,),
            ).fetchone()
        )

    def _pending(self, phase: str, version: str, kinds: list[str]) -> set[int]:
        """Ids of the present files of these kinds without a result or error of this
        version: what a run with this version would analyze."""
        marks = ",".join("?" * len(kinds))
        rows = self._db.execute(
            "SELECT f.id FROM files f"
            " LEFT JOIN phase_status s ON s.file_id = f.id AND s.phase = ? AND s.version = ?"
            f" WHERE f.missing = 0 AND f.kind IN ({marks}) AND s.file_id IS NULL",
            [phase, version, *kinds],
        )
        return {file_id for (file_id,) in rows}

    def place_counts(self) -> dict[str, Any]:
        """Present files with a GPS position, per kind; how many of them have a place, in how
        many distinct places (city, region, country), countries and time zones; the countries
        with the most files (name, files), at most five."""
        geotagged = dict.fromkeys(("photo", "video"), 0)
        for kind, n in self._db.execute(
            "SELECT f.kind, COUNT(*) FROM files f JOIN metadata m ON m.file_id = f.id"
            f" AND {result_is_current('metadata')}"
            " WHERE f.missing = 0 AND m.gps_lat IS NOT NULL GROUP BY f.kind"
        ):
            geotagged[kind] = n
        current = result_is_current("places")
        placed, distinct_places, countries, zones = self._db.execute(
            "SELECT COUNT(p.place_city), COUNT(DISTINCT p.place_city || '|' ||"
            " IFNULL(p.place_region, '') || '|' || p.place_country_code),"
            " COUNT(DISTINCT p.place_country_code), COUNT(DISTINCT p.timezone)"
            f" FROM files f JOIN places p ON p.file_id = f.id AND {current} WHERE f.missing = 0"
        ).fetchone()
        top = self._db.execute(
            "SELECT IFNULL(p.place_country, p.place_country_code), COUNT(*) FROM files f"
            f" JOIN places p ON p.file_id = f.id AND {current}"
            " WHERE f.missing = 0 AND p.place_country_code IS NOT NULL"
            " GROUP BY p.place_country_code ORDER BY COUNT(*) DESC, 1 LIMIT 5"
        ).fetchall()
        return {
            "geotagged": geotagged,
            "placed": placed,
            "places": distinct_places,
            "countries": countries,
            "timezones": zones,
            "top_countries": [list(row) for row in top],
        }

    def ml_results(self) -> dict[str, tuple[str | None, bytes | None, list]]:
        """path -> (top scene, float16 embedding bytes, objects) for present photos whose ML
        result is current."""
        return {
            path: (scene, embedding, json.loads(objects) if objects else [])
            for path, scene, embedding, objects in self._db.execute(
                "SELECT f.path, ml.top_scene, ml.embedding, ml.objects FROM files f"
                f" JOIN ml ON ml.file_id = f.id AND {result_is_current('ml')}"
                " WHERE f.missing = 0"
            )
        }

    def labelled_photos(self, roots: list[str]) -> Iterator[LabelledPhoto]:
        """Present photos at or below `roots` (all, when empty) whose ML result is current,
        in path order, with their scenes, object counts and whether random weights made each
        (CLIP's, YOLO's): what `xmp write` turns into keywords."""
        ml_now = result_is_current("ml")
        inside, args = at_or_below(roots)
        for path, scenes, counts, clip_random, yolo_random in self._db.execute(
            "SELECT f.path, ml.scenes, ml.object_counts, COALESCE(ml.clip_random_weights, 0),"
            " COALESCE(ml.yolo_random_weights, 0) FROM files f JOIN ml ON ml.file_id = f.id"
            f" WHERE f.missing = 0 AND f.kind = 'photo' AND {ml_now}{inside} ORDER BY f.path",
            args,
        ):
            yield LabelledPhoto(
                path,
                [(label, score) for label, score in from_sql("scenes", scenes) or []],
                from_sql("object_counts", counts) or {},
                bool(clip_random),
                bool(yolo_random),
            )


def at_or_below(roots: list[str]) -> tuple[str, list]:
    """' AND (...)': `f.path` is one of `roots` or below one (nothing when `roots` is empty),
    and its arguments."""
    below, args = [], []
    for root in roots:
        prefix = root.rstrip("/") + "/"
        # '0' follows '/'
        below.append(f"f.path = {PATH} OR (f.path >= {PATH} AND f.path < {PATH})")
        args += [path_param(p) for p in (root, prefix, prefix[:-1] + "0")]
    return (" AND (" + " OR ".join(f"({c})" for c in below) + ")" if below else ""), args


def place_condition(text: str, alias: str = "p") -> tuple[str, list[str]]:
    """A WHERE condition (and its arguments) on a places table row `alias`: the city, region
    or country contains `text`, in any letter case (Unicode, so "TROMSØ" finds Tromsø), or
    `text` is the country code. One or two letters are a country code only ("us" would
    otherwise find Australia). For commands that filter by place (`search --place`); they
    join `places`."""
    needle = text.strip().casefold()
    if not needle:
        raise ValueError("a place filter needs some text, for example 'Tuscany' or 'IT'")
    if len(needle) <= 2:
        return f"casefold({alias}.place_country_code) = ?", [needle]
    fields = ("place_city", "place_region", "place_country")
    contains = " OR ".join(f"instr(casefold({alias}.{field}), ?) > 0" for field in fields)
    return (
        f"({contains} OR casefold({alias}.place_country_code) = ?)",
        [needle] * (len(fields) + 1),
    )


class _FacesByFile:
    """Each file's faces from one cursor in the export's order: `of(file_id)` is asked for
    the files in that same order, so each face row is read once."""

    def __init__(self, rows: Iterator[tuple]):
        self._rows = iter(rows)
        self._next = next(self._rows, None)

    def of(self, file_id: int, current: bool) -> list[dict[str, Any]] | None:
        """The file's faces ({box, frame, person_id, name, score}, box as x, y, w, h
        fractions of the upright picture, top-left origin); None where its faces result is
        not current (the faces phase has not run on the file as it is now)."""
        faces = []
        while self._next is not None and self._next[0] == file_id:
            _, frame, x, y, w, h, person, name, score = self._next
            faces.append(
                {
                    "box": [round(v, 4) for v in (x, y, w, h)],
                    "frame": frame,
                    "person_id": person,
                    "name": name,
                    "score": None if score is None else round(score, 3),
                }
            )
            self._next = next(self._rows, None)
        return faces if current else None


def _with_faces(fields: dict[str, Any], faces: list[dict[str, Any]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        out[name] = value
        if name == "face_count":
            out["faces"] = faces
    return out
