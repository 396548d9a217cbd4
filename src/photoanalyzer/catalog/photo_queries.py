"""Reading the catalog one file at a time, by its id, for `photoanalyze serve`: what a photo
page shows, the thumbnail key of a file or of a video's frame, and what it takes to hand out
an indexed original (its path and the size and modification time it was indexed with).
Present files only, and each phase's fields only where its result is current, as every
other reader (schema.result_is_current)."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np

from photoanalyzer.catalog.schema import TAKEN_AT, result_is_current

_CURRENT = {phase: result_is_current(phase) for phase in ("metadata", "places", "content", "ml")}
_JOINS = (
    f" FROM files f LEFT JOIN metadata m ON m.file_id = f.id AND {_CURRENT['metadata']}"
    f" LEFT JOIN places p ON p.file_id = f.id AND {_CURRENT['places']}"
    f" LEFT JOIN content c ON c.file_id = f.id AND {_CURRENT['content']}"
    f" LEFT JOIN ml ON ml.file_id = f.id AND {_CURRENT['ml']}"
)
# What a photo page shows, in this order (SQL expression, name).
_FIELDS = (
    ("f.path", "path"), ("f.kind", "kind"), ("f.size", "file_size"),
    ("m.file_type", "file_type"), ("m.width", "width"), ("m.height", "height"),
    (TAKEN_AT, "taken_at"), ("COALESCE(p.taken_at_utc, m.taken_at_utc)", "taken_at_utc"),
    ("m.make", "make"), ("m.model", "model"), ("m.lens_make", "lens_make"), ("m.lens", "lens"),
    ("m.exposure_time", "exposure_time"), ("m.f_number", "f_number"), ("m.iso", "iso"),
    ("m.focal_length", "focal_length"), ("m.gps_lat", "gps_lat"), ("m.gps_lon", "gps_lon"),
    ("m.rating", "rating"), ("m.keywords", "keywords"), ("m.description", "description"),
    ("m.duration", "duration"), ("p.place_city", "place_city"),
    ("p.place_region", "place_region"), ("p.place_country", "place_country"),
    ("p.timezone", "timezone"), ("c.thumbnail", "thumbnail"), ("c.sharpness", "sharpness"),
    ("c.blurry", "blurry"), ("c.underexposed", "underexposed"),
    ("c.overexposed", "overexposed"), ("c.phash", "phash"), ("ml.top_scene", "top_scene"),
    ("ml.scenes", "scenes"), ("ml.objects", "objects"),
    ("ml.clip_random_weights", "clip_random_weights"),
    ("ml.yolo_random_weights", "yolo_random_weights"),
    ("ml.embedding IS NOT NULL", "has_embedding"),
)  # fmt: skip
_JSON = ("keywords", "scenes", "objects")
_FLAGS = ("blurry", "underexposed", "overexposed", "clip_random_weights", "yolo_random_weights")


class Original(NamedTuple):
    """An indexed file as the last run saw it: a file whose size or modification time differ
    now is not the file the catalog describes."""

    path: str
    size: int
    mtime_ns: int
    file_type: str | None  # the metadata phase's (JPEG, PNG, HEIC, RAW-CR2, ...)


class PhotoQueries:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def photo(self, file_id: int) -> dict[str, Any] | None:
        """What the photo page of a present file shows, with its frames (a video's), or None
        where the catalog has no such present file."""
        columns = ", ".join(expression for expression, _ in _FIELDS)
        row = self._db.execute(
            f"SELECT {columns}" + _JOINS + " WHERE f.id = ? AND f.missing = 0", (file_id,)
        ).fetchone()
        if row is None:
            return None
        facts = dict(zip((name for _, name in _FIELDS), row, strict=True))
        for name in _JSON:
            facts[name] = json.loads(facts[name]) if facts[name] else []
        for name in (*_FLAGS, "has_embedding"):
            facts[name] = None if facts[name] is None else bool(facts[name])
        facts["frames"] = self.frames(file_id)
        return facts

    def frames(self, file_id: int) -> list[dict[str, Any]]:
        """A video's analyzed frames (frame, seconds, thumbnail, top scene), in order, while
        its content result is current."""
        rows = self._db.execute(
            "SELECT v.frame, v.timestamp, v.thumbnail, v.top_scene FROM video_frames v"
            f" JOIN files f ON f.id = v.file_id WHERE v.file_id = ? AND {_CURRENT['content']}"
            " ORDER BY v.frame",
            (file_id,),
        )
        names = ("frame", "seconds", "thumbnail", "top_scene")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def thumbnail(self, file_id: int, frame: int | None = None) -> str | None:
        """The thumbnail cache key of a present file (or of one of a video's frames) whose
        content result is current."""
        if frame is None:
            sql = (
                "SELECT c.thumbnail FROM files f JOIN content c ON c.file_id = f.id"
                f" WHERE f.id = ? AND f.missing = 0 AND {_CURRENT['content']}"
            )
            row = self._db.execute(sql, (file_id,)).fetchone()
        else:
            sql = (
                "SELECT v.thumbnail FROM files f JOIN video_frames v ON v.file_id = f.id"
                f" WHERE f.id = ? AND v.frame = ? AND f.missing = 0 AND {_CURRENT['content']}"
            )
            row = self._db.execute(sql, (file_id, frame)).fetchone()
        return row[0] if row else None

    def original(self, file_id: int) -> Original | None:
        row = self._db.execute(
            "SELECT f.path, f.size, f.mtime_ns, m.file_type FROM files f"
            f" LEFT JOIN metadata m ON m.file_id = f.id AND {_CURRENT['metadata']}"
            " WHERE f.id = ? AND f.missing = 0",
            (file_id,),
        ).fetchone()
        return Original(*row) if row else None

    def phashes(self) -> tuple[np.ndarray, np.ndarray]:
        """(file ids, 64-bit pHashes) of the present files with a current content result:
        what near-duplicates of one photo are looked for among."""
        # Imported here: the catalog package is imported by every command, and numpy would
        # cost a nightly rescan a tenth of its second (tests/test_cli.py checks it does not).
        import numpy as np

        rows = self._db.execute(
            "SELECT f.id, c.phash FROM files f JOIN content c ON c.file_id = f.id"
            f" WHERE f.missing = 0 AND c.phash IS NOT NULL AND {_CURRENT['content']}"
        ).fetchall()
        ids = np.fromiter((file_id for file_id, _ in rows), dtype=np.int64, count=len(rows))
        hashes = np.fromiter((int(h, 16) for _, h in rows), dtype=np.uint64, count=len(rows))
        return ids, hashes
