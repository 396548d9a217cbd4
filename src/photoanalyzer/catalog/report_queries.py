"""Reading the catalog for the HTML report (outputs/html_report/): photos per month, top cameras,
lenses, scenes and objects, the quality lists, the galleries per label, videos with their
frames, and every file error. Present files only, and each phase's fields only where its
result is current (the file has not changed since), so the report never shows a stale value."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from photoanalyzer.catalog.schema import TAKEN_AT, result_is_current

_CONTENT_NOW = result_is_current("content")
_ML_NOW = result_is_current("ml")
_METADATA_NOW = result_is_current("metadata")
# The capture time as the export gives it (schema.TAKEN_AT): metadata and places, current.
_TIMES = (
    f" LEFT JOIN metadata m ON m.file_id = f.id AND {_METADATA_NOW}"
    f" LEFT JOIN places p ON p.file_id = f.id AND {result_is_current('places')}"
)
# What each quality list holds, the value it shows, and its order: most severe first.
QUALITY_LISTS = {
    "blurry": ("c.blurry = 1", "c.sharpness", "c.sharpness ASC"),
    "dark": ("c.underexposed = 1", "c.brightness", "c.brightness ASC, c.shadows_crushed DESC"),
    "washed_out": (
        "c.overexposed = 1",
        "c.highlights_clipped",
        "c.highlights_clipped DESC, c.brightness DESC",
    ),
}


class ReportQueries:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def months(self) -> list[tuple[str, int]]:
        """('YYYY-MM', present photos taken that month, by their local capture time), in
        time order."""
        return self._db.execute(
            f"SELECT substr({TAKEN_AT}, 1, 7) AS month, COUNT(*) FROM files f{_TIMES}"
            " WHERE f.missing = 0 AND f.kind = 'photo' AND month IS NOT NULL"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()

    def top_cameras(self, limit: int) -> list[tuple[str, int]]:
        return self._top_metadata("TRIM(IFNULL(m.make, '') || ' ' || IFNULL(m.model, ''))", limit)

    def top_lenses(self, limit: int) -> list[tuple[str, int]]:
        return self._top_metadata("m.lens", limit)

    def _top_metadata(self, expression: str, limit: int) -> list[tuple[str, int]]:
        return self._db.execute(
            # Not `label` as the alias: metadata has a column of that name (XMP's xmp:Label),
            # which would win over the alias in WHERE.
            f"SELECT {expression} AS facet, COUNT(*) FROM files f"
            f" JOIN metadata m ON m.file_id = f.id AND {_METADATA_NOW}"
            " WHERE f.missing = 0 AND facet IS NOT NULL AND facet != ''"
            " GROUP BY facet ORDER BY COUNT(*) DESC, facet LIMIT ?",
            (limit,),
        ).fetchall()

    def scene_counts(self) -> list[tuple[str, int]]:
        """(top scene, files whose top scene it is), most files first."""
        return self._db.execute(
            f"SELECT ml.top_scene, COUNT(*) FROM files f JOIN ml ON ml.file_id = f.id AND {_ML_NOW}"
            " WHERE f.missing = 0 AND ml.top_scene IS NOT NULL"
            " GROUP BY ml.top_scene ORDER BY COUNT(*) DESC, ml.top_scene"
        ).fetchall()

    def object_counts(self) -> list[tuple[str, int]]:
        """(object class, files it was detected in), most files first."""
        return self._db.execute(
            "SELECT j.key, COUNT(*) FROM files f"
            f" JOIN ml ON ml.file_id = f.id AND {_ML_NOW}, json_each(ml.object_counts) j"
            " WHERE f.missing = 0 GROUP BY j.key ORDER BY COUNT(*) DESC, j.key"
        ).fetchall()

    def random_weights_files(self) -> dict[str, int]:
        """Per model ("clip", "yolo"), the present files whose current ML result was made
        with its random weights; models without any are left out."""
        clip, yolo = self._db.execute(
            "SELECT COALESCE(SUM(ml.clip_random_weights = 1), 0),"
            " COALESCE(SUM(ml.yolo_random_weights = 1), 0)"
            f" FROM files f JOIN ml ON ml.file_id = f.id AND {_ML_NOW} WHERE f.missing = 0"
        ).fetchone()
        return {model: n for model, n in (("clip", clip), ("yolo", yolo)) if n}

    def quality(self, name: str) -> list[tuple[int, str, str | None, float]]:
        """(file id, path, thumbnail, measured value) of one QUALITY_LISTS list, most severe
        first."""
        condition, value, order = QUALITY_LISTS[name]
        return self._db.execute(
            f"SELECT f.id, f.path, c.thumbnail, {value} FROM files f"
            f" JOIN content c ON c.file_id = f.id AND {_CONTENT_NOW}"
            f" WHERE f.missing = 0 AND {condition} ORDER BY {order}, f.path"
        ).fetchall()

    def scene_gallery(self) -> list[tuple[str, int, str, str | None, float | None]]:
        """(top scene, file id, path, thumbnail, its score), by scene, best score first."""
        return self._db.execute(
            "SELECT ml.top_scene, f.id, f.path, c.thumbnail, json_extract(ml.scenes, '$[0][1]')"
            f" AS score FROM files f JOIN ml ON ml.file_id = f.id AND {_ML_NOW}"
            f" LEFT JOIN content c ON c.file_id = f.id AND {_CONTENT_NOW}"
            " WHERE f.missing = 0 AND ml.top_scene IS NOT NULL"
            " ORDER BY ml.top_scene, score DESC, f.path"
        ).fetchall()

    def object_gallery(self) -> list[tuple[str, int, str, str | None, float]]:
        """(object class, file id, path, thumbnail, its most confident detection), by class,
        most confident first."""
        return self._db.execute(
            "SELECT json_extract(j.value, '$.class') AS label, f.id, f.path, c.thumbnail,"
            " MAX(json_extract(j.value, '$.confidence')) AS best FROM files f"
            f" JOIN ml ON ml.file_id = f.id AND {_ML_NOW} JOIN json_each(ml.objects) j"
            f" LEFT JOIN content c ON c.file_id = f.id AND {_CONTENT_NOW}"
            " WHERE f.missing = 0 GROUP BY label, f.id ORDER BY label, best DESC, f.path"
        ).fetchall()

    def videos(self) -> list[dict[str, Any]]:
        """Present videos in path order: id, path, duration, size, codec, top scene, object
        counts, and their frames (frame, seconds, thumbnail, top scene), in order."""
        videos: dict[int, dict[str, Any]] = {}
        for row in self._db.execute(
            "SELECT f.id, f.path, f.size, m.duration, m.width, m.height, m.video_codec,"
            " ml.top_scene, ml.object_counts FROM files f"
            f" LEFT JOIN metadata m ON m.file_id = f.id AND {_METADATA_NOW}"
            f" LEFT JOIN ml ON ml.file_id = f.id AND {_ML_NOW}"
            " WHERE f.missing = 0 AND f.kind = 'video' ORDER BY f.path"
        ):
            file_id, path, size, duration, width, height, codec, scene, objects = row
            videos[file_id] = {
                "file_id": file_id,
                "path": path,
                "file_size": size,
                "duration": duration,
                "width": width,
                "height": height,
                "codec": codec,
                "top_scene": scene,
                "object_counts": json.loads(objects) if objects else {},
                "frames": [],
            }
        for file_id, frame, seconds, thumbnail, scene in self._db.execute(
            "SELECT v.file_id, v.frame, v.timestamp, v.thumbnail, v.top_scene"
            " FROM video_frames v JOIN files f ON f.id = v.file_id"
            f" WHERE f.missing = 0 AND {_CONTENT_NOW} ORDER BY v.file_id, v.frame"
        ):
            if file_id in videos:
                videos[file_id]["frames"].append((frame, seconds, thumbnail, scene))
        return list(videos.values())

    def problems(self) -> list[tuple[str, str, str]]:
        """(phase, message, path) of every present file whose phase's last word is an error,
        and the scan problems of the newest run (phase 'scan'), by phase, message and path."""
        files = self._db.execute(
            "SELECT s.phase, s.error, f.path FROM phase_status s JOIN files f ON f.id = s.file_id"
            " WHERE f.missing = 0 AND s.error IS NOT NULL"
        ).fetchall()
        scan = self._db.execute(
            "SELECT 'scan', message, path FROM scan_problems"
            " WHERE run_id = (SELECT MAX(id) FROM runs)"
        ).fetchall()
        return sorted(files + scan)

    def member_facts(self, file_ids: Iterable[int]) -> dict[int, tuple[str | None, str | None]]:
        """file id -> (thumbnail, local capture time) for the given files (near-duplicate
        groups)."""
        ids = json.dumps(sorted(set(file_ids)))
        return {
            file_id: (thumbnail, taken_at)
            for file_id, thumbnail, taken_at in self._db.execute(
                f"SELECT f.id, c.thumbnail, {TAKEN_AT} FROM files f"
                f" LEFT JOIN content c ON c.file_id = f.id AND {_CONTENT_NOW}{_TIMES}"
                " WHERE f.id IN (SELECT value FROM json_each(?))",
                (ids,),
            )
        }
