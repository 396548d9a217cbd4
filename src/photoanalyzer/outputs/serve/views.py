"""What the photo page shows, from the catalog by file id: the facts, the scenes, the objects
with their boxes scaled onto the thumbnail, the faces with their persons' names (people.py),
the text lines the text phase read and its screenshot flag, a video's frames, the
photo's near-duplicates (pHash within the configured distance, as `duplicates` compares
them), and each phase's stored error for the file (as the export gives them)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.text import FileText
from photoanalyzer.outputs.serve.files import read_thumbnail
from photoanalyzer.outputs.serve.people import Face, PeopleViews
from photoanalyzer.phases import PHASE_ORDER

NEAR_DUPLICATES_SHOWN = 12
_PLACE = ("place_city", "place_region", "place_country")
SCENES_SHOWN = 5
# Boxes drawn and objects listed: the most confident. More would hide the picture (YOLO
# keeps up to 300 detections a picture; a low configured confidence keeps them all).
BOXES_SHOWN = 20
TEXT_LINES_SHOWN = 200  # a screenshot of a long page; the export has them all


@dataclass(frozen=True)
class Box:
    label: str
    confidence: float
    x: float  # in the upright original's pixels, as the ML phase stores boxes
    y: float
    width: float
    height: float


@dataclass
class PhotoView:
    file_id: int
    facts: dict[str, Any]
    facts_table: list[tuple[str, str]]
    size: tuple[int, int] | None  # the upright original's (width, height): the boxes' frame
    # The frame the faces are drawn in (normalized boxes): `size`, else the thumbnail's
    canvas: tuple[int, int] | None
    boxes: list[Box]  # the most confident BOXES_SHOWN, most confident first
    more_boxes: int  # detections left out of `boxes`
    scenes: list[tuple[str, float]]
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)  # of the photo and of a video's frames
    text: FileText | None = None  # None: the text phase has no current result for it
    # phase -> the error it stored for the file, in the order the phases run: a section
    # that is empty because its phase failed must not read as "not run yet".
    errors: dict[str, str] = field(default_factory=dict)
    # Those of them that are final (the file could not be read); the others were not the
    # file's fault (stored under no version: permissions, a disk away) and are tried again.
    failed: frozenset[str] = frozenset()

    @property
    def drawn_faces(self) -> list[Face]:
        """The faces drawn over the picture: the photo's own, not a video frame's."""
        return [face for face in self.faces if face.frame is None]

    @property
    def text_lines(self) -> list[str]:
        return self.text.lines[:TEXT_LINES_SHOWN] if self.text else []

    @property
    def more_lines(self) -> int:
        return max(0, len(self.text.lines) - TEXT_LINES_SHOWN) if self.text else 0


def photo_view(
    catalog: Catalog, file_id: int, thumbnail_dir: Path, distance: int, people: PeopleViews
):
    """The page's content, or None where the catalog has no such present file."""
    facts = catalog.photos.photo(file_id)
    if facts is None:
        return None
    thumbnail = _thumbnail_size(facts, thumbnail_dir)
    size = _upright_size(facts, thumbnail)
    boxes = _boxes(facts["objects"])
    return PhotoView(
        file_id=file_id,
        facts=facts,
        facts_table=_table(facts),
        boxes=boxes[:BOXES_SHOWN],
        more_boxes=max(0, len(boxes) - BOXES_SHOWN),
        size=size,
        canvas=size or thumbnail,
        scenes=[(label, float(score)) for label, score in facts["scenes"][:SCENES_SHOWN]],
        near_duplicates=_near_duplicates(catalog, file_id, facts["phash"], distance),
        faces=people.of_photo(catalog, facts["path"]),
        text=catalog.text.of_file(file_id),
        errors=_errors(catalog, file_id),
        failed=frozenset(catalog.queries.failed_phases(file_id)),
    )


def _errors(catalog: Catalog, file_id: int) -> dict[str, str]:
    stored = catalog.queries.errors(file_id).get(file_id, {})
    order = {phase: index for index, phase in enumerate(PHASE_ORDER)}
    return dict(sorted(stored.items(), key=lambda item: (order.get(item[0], len(order)), item)))


def _thumbnail_size(facts: dict[str, Any], thumbnail_dir: Path) -> tuple[int, int] | None:
    data = read_thumbnail(thumbnail_dir, facts["thumbnail"]) if facts["thumbnail"] else None
    if data is None:
        return None
    with Image.open(io.BytesIO(data)) as thumb:
        return thumb.size


def _upright_size(
    facts: dict[str, Any], thumbnail: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The stored pixel size, turned to match the upright thumbnail (the ML phase maps its
    boxes into that frame)."""
    width, height = facts["width"], facts["height"]
    if not width or not height or thumbnail is None:
        return None
    shown_w, shown_h = thumbnail
    if (shown_w >= shown_h) != (width >= height):
        width, height = height, width
    return int(width), int(height)


def _boxes(objects: list[dict[str, Any]]) -> list[Box]:
    boxes = []
    for item in objects:
        x1, y1, x2, y2 = (float(v) for v in item["box"])
        boxes.append(Box(item["class"], float(item["confidence"]), x1, y1, x2 - x1, y2 - y1))
    return sorted(boxes, key=lambda box: -box.confidence)


def _near_duplicates(catalog: Catalog, file_id: int, phash: str | None, distance: int):
    if not phash:
        return []
    ids, hashes = catalog.photos.phashes()
    bits = np.bitwise_count(hashes ^ np.uint64(int(phash, 16)))
    close = np.flatnonzero((bits <= distance) & (ids != file_id))
    close = close[np.lexsort((ids[close], bits[close]))][:NEAR_DUPLICATES_SHOWN]
    facts = catalog.search.facts(int(ids[i]) for i in close)
    return [
        {"file_id": int(ids[i]), "bits": int(bits[i]), **facts[int(ids[i])]}
        for i in close
        if int(ids[i]) in facts
    ]


def _table(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows for what the catalog knows; unknown facts left out."""
    rows = [
        ("Taken", _taken(facts)),
        ("Camera", " ".join(filter(None, (facts["make"], facts["model"])))),
        ("Lens", " ".join(filter(None, (facts["lens_make"], facts["lens"])))),
        ("Exposure", _exposure(facts)),
        ("Place", ", ".join(filter(None, (facts[k] for k in _PLACE)))),
        ("GPS", _gps(facts)),
        ("Time zone", facts["timezone"]),
        ("Pixels", f"{facts['width']} x {facts['height']}" if facts["width"] else None),
        ("Type", facts["file_type"]),
        ("File size", f"{facts['file_size']:,} bytes"),
        ("Duration", f"{facts['duration']:.1f} s" if facts["duration"] else None),
        ("Rating", None if facts["rating"] is None else f"{facts['rating']:g}"),
        ("Keywords", ", ".join(facts["keywords"])),
        ("Description", facts["description"]),
        ("Sharpness", None if facts["sharpness"] is None else f"{facts['sharpness']:.0f}"),
        ("Flags", ", ".join(_flags(facts))),
        ("Top scene", facts["top_scene"]),
    ]
    return [(label, value) for label, value in rows if value]


def _taken(facts: dict[str, Any]) -> str | None:
    if not facts["taken_at"]:
        return None
    utc = facts["taken_at_utc"]
    return facts["taken_at"].replace("T", " ") + (f" (UTC {utc})" if utc else "")


def _exposure(facts: dict[str, Any]) -> str | None:
    parts = []
    if facts["exposure_time"]:
        t = facts["exposure_time"]
        parts.append(f"1/{round(1 / t)} s" if t < 1 else f"{t:g} s")
    if facts["f_number"]:
        parts.append(f"f/{facts['f_number']:g}")
    if facts["iso"]:
        parts.append(f"ISO {facts['iso']}")
    if facts["focal_length"]:
        parts.append(f"{facts['focal_length']:g} mm")
    return " · ".join(parts) or None


def _gps(facts: dict[str, Any]) -> str | None:
    if facts["gps_lat"] is None:
        return None
    return f"{facts['gps_lat']:.5f}, {facts['gps_lon']:.5f}"


def _flags(facts: dict[str, Any]) -> list[str]:
    names = {"blurry": "blurry", "underexposed": "too dark", "overexposed": "washed out"}
    return [text for name, text in names.items() if facts[name]]
