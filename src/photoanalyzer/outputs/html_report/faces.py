"""The People page's face crops: each person's face cut from its photo's cached content
thumbnail (already upright and small: no original is decoded, nothing is written beside the
photos), into the report folder's faces/. A crop already there is kept (its name is the
face's id, which a re-analysis changes), crops no person shows any more are removed. serve
cuts the same crops in memory, per request (face_jpeg)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from photoanalyzer.catalog.people import PersonCard

FOLDER = "faces"
SIZE = 160  # pixels a side: the page shows them at 120
MARGIN = 0.3  # of the face box's larger side, around it: hair and chin, as people expect
QUALITY = 85


def face_crops(cards: Iterable[PersonCard], thumbnail_dir: Path, out: Path) -> dict[int, str]:
    """Person id -> the URL (relative to the report folder) of its face crop, for the
    persons whose face could be cut; the others show a placeholder."""
    folder = out / FOLDER
    folder.mkdir(exist_ok=True)
    urls: dict[int, str] = {}
    for card in cards:
        if card.face_id is None or card.box is None or card.thumbnail is None:
            continue
        name = f"face-{card.face_id}.jpg"
        if (folder / name).is_file() or _crop(thumbnail_dir / card.thumbnail, card.box,
                                               folder / name):  # fmt: skip
            urls[card.id] = quote(f"{FOLDER}/{name}")
    kept = {url.rsplit("/", 1)[1] for url in urls.values()}
    for old in folder.glob("face-*.jpg"):
        if old.name not in kept:
            old.unlink()
    return urls


def _crop(thumbnail: Path, box: tuple[float, float, float, float], target: Path) -> bool:
    """The face cut from the thumbnail file, written atomically; False where the thumbnail
    is gone or unreadable (the page then shows a placeholder)."""
    try:
        with Image.open(thumbnail) as image:
            face = cut_face(image, box)
        if face is None:
            return False
        temporary = target.with_suffix(".tmp")
        face.save(temporary, "JPEG", quality=QUALITY)
        os.replace(temporary, target)
        return True
    except OSError:
        return False


def face_jpeg(thumbnail: bytes, box: tuple[float, float, float, float]) -> bytes | None:
    """The face cut from a thumbnail's bytes, as a JPEG (serve's /face/ID: no file written);
    None where the bytes are no picture or the box leaves nothing to show."""
    try:
        with Image.open(io.BytesIO(thumbnail)) as image:
            face = cut_face(image, box)
        if face is None:
            return None
        out = io.BytesIO()
        face.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()
    except (OSError, Image.DecompressionBombError):
        return None


def cut_face(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image | None:
    """The face (`box`: x, y, w, h normalized on the upright picture, which the thumbnail
    is) with its margin, square where the picture allows, at most SIZE a side; None where
    the box leaves under two pixels."""
    image.load()
    width, height = image.size
    x, y, w, h = box
    side = max(w * width, h * height) * (1 + 2 * MARGIN)
    cx, cy = (x + w / 2) * width, (y + h / 2) * height
    left, top = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    right, bottom = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    if right - left < 2 or bottom - top < 2:
        return None
    face = image.convert("RGB").crop((left, top, right, bottom))
    face.thumbnail((SIZE, SIZE))
    return face
