"""A small indexed library for the serve tests: real photos through the real metadata,
places and content phases (dates, cameras, GPS and places, thumbnails, pHashes), and ML
results stored through the catalog as the ML phase stores them, with known embeddings (as
tests/test_search.py does) and real boxes on one photo. Plus a secret file beside the
library that no request may ever read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from conftest import Cli
from photoanalyzer.catalog import Catalog
from test_search import BEACH, NOISE, PHOTOS, ml_record, picture_for, save_picture, store_ml, unit

NAMES = ("beach.jpg", "snow.jpg", "snowbeach.jpg", "car.jpg", "dark.jpg")
# beach.jpg's detections, in its upright pixels (800 x 600).
BOXES = [
    {"class": "person", "confidence": 0.91, "box": [100.0, 80.0, 400.0, 560.0]},
    {"class": "dog", "confidence": 0.72, "box": [450.0, 300.0, 780.0, 590.0]},
]
SECRET = b"TOP-SECRET-6f1c0a: never served"


@dataclass(frozen=True)
class Library:
    root: Path
    folder: Path
    db: Path
    secret: Path
    ids: dict[str, int]  # file name -> file id

    @property
    def thumbnails(self) -> Path:
        return self.db.with_name(self.db.name + "-thumbnails")


def build(root: Path) -> Library:
    folder = root / "lib"
    for seed, name in enumerate(NAMES):
        save_picture(folder / name, picture_for(name, seed), **PHOTOS[name])
    with Image.open(folder / "beach.jpg") as original:  # a near-duplicate of beach.jpg
        original.resize((400, 300), Image.Resampling.LANCZOS).save(
            folder / "beach small.jpg", quality=75
        )
    (root / "home").mkdir()
    db = root / "c.db"
    Cli(root / "home")(
        "run", str(folder), "--db", str(db), "--quiet", "--phases", "metadata,places,content"
    )
    records = {str(folder / n): ml_record(PHOTOS[n], unit(PHOTOS[n]["vector"])) for n in NAMES}
    records[str(folder / "beach.jpg")]["objects"] = BOXES
    records[str(folder / "beach.jpg")]["object_counts"] = {"person": 1, "dog": 1}
    records[str(folder / "beach small.jpg")] = ml_record(
        PHOTOS["beach.jpg"], unit({BEACH: 1, NOISE: 0.1})
    )
    store_ml(db, records)
    secret = root / "secret.txt"
    secret.write_bytes(SECRET)
    catalog = Catalog(db, create=False)
    try:
        ids = {
            Path(p).name: known.file_id
            for p, known in catalog.files.known_under([str(folder)]).items()
        }
    finally:
        catalog.close()
    return Library(root, folder, db, secret, ids)
