"""The faces phase's first look on the content phase's thumbnail: where the thumbnail shows
no face and no candidate, the photo has 0 faces and its original is not looked at; where it
shows one, where there is no thumbnail, and where the original is small, the faces come from
the original as before."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from PIL import Image

from conftest import CORPUS
from photoanalyzer.config import load_config
from photoanalyzer.phases.content import thumbnail_key
from photoanalyzer.phases.faces import FacesPhase
from support.requirements import require_corpus, require_module

FACES = CORPUS / "faces"
COUPLE = "deepface_couple.jpg"  # 2280 px, two faces: large enough for the first look


def _phase(thumbs: Path | None, **settings) -> FacesPhase:
    config = load_config()
    folder = None if thumbs is None else str(thumbs)
    return FacesPhase(replace(config.faces, **settings), config.content, thumbnail_dir=folder)


def _thumbnail_of(path: Path, thumbs: Path, picture: Image.Image) -> None:
    """`picture` stored where the content phase stores `path`'s thumbnail."""
    stat = os.stat(path)
    target = thumbs / thumbnail_key(str(path), stat.st_size, stat.st_mtime_ns)
    target.parent.mkdir(parents=True, exist_ok=True)
    picture.convert("RGB").save(target, quality=85)


def _copy(name: str, tmp_path: Path) -> Path:
    source = require_corpus(FACES / name)
    target = tmp_path / name
    shutil.copyfile(source, target)
    return target


def _boxes(phase: FacesPhase, path: Path) -> list[tuple]:
    outcome = phase.analyze(str(path), "photo")
    assert outcome.error is None
    return [(f["x"], f["y"], f["w"], f["h"]) for f in outcome.record["faces"]]


def test_a_thumbnail_with_faces_gives_the_originals_faces(tmp_path):
    require_module("dlib")
    photo = _copy(COUPLE, tmp_path)
    with Image.open(photo) as image:
        image.thumbnail((640, 640))
        _thumbnail_of(photo, tmp_path / "thumbs", image)
    full = _boxes(_phase(None), photo)
    assert len(full) == 2
    assert _boxes(_phase(tmp_path / "thumbs"), photo) == full


def test_a_thumbnail_without_faces_settles_the_photo(tmp_path):
    """The decision is the thumbnail's: a face-free picture stored as the couple's thumbnail
    gives 0 faces (the original, which has two, is not decoded); without a thumbnail or for
    a small original the faces come from the original."""
    require_module("dlib")
    photo = _copy(COUPLE, tmp_path)
    thumbs = tmp_path / "thumbs"
    _thumbnail_of(photo, thumbs, Image.new("RGB", (640, 427), "grey"))
    assert _boxes(_phase(thumbs), photo) == []
    assert len(_boxes(_phase(tmp_path / "elsewhere"), photo)) == 2
    # An original at most small_picture wide is analyzed upsampled: the thumbnail is no guide.
    assert len(_boxes(_phase(thumbs, small_picture=2400), photo)) == 2


def test_a_changed_photo_does_not_use_its_old_thumbnail(tmp_path):
    require_module("dlib")
    photo = _copy(COUPLE, tmp_path)
    thumbs = tmp_path / "thumbs"
    _thumbnail_of(photo, thumbs, Image.new("RGB", (640, 427), "grey"))
    stat = os.stat(photo)
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert len(_boxes(_phase(thumbs), photo)) == 2


def test_the_hog_detector_kept_in_the_models_folder_is_the_same(tmp_path):
    """dlib's detector saved in its quick-loading form finds the same boxes with the same
    scores; a damaged file is rebuilt, a folder that cannot be written is done without."""
    require_module("dlib")
    import dlib
    import numpy as np

    from photoanalyzer.analysis.faces import _frontal_detector

    with Image.open(require_corpus(FACES / COUPLE)) as image:
        image.thumbnail((800, 800))
        grey = np.asarray(image.convert("L"))
    built = dlib.get_frontal_face_detector().run(grey, 0, -0.7)
    assert built[0]  # the couple's faces: something to compare
    _frontal_detector(dlib, tmp_path)
    (saved,) = tmp_path.glob("*.svm")
    assert _frontal_detector(dlib, tmp_path).run(grey, 0, -0.7) == built
    saved.write_bytes(b"damaged")
    assert _frontal_detector(dlib, tmp_path).run(grey, 0, -0.7) == built
    assert saved.stat().st_size > 1000  # written again whole
    blocked = tmp_path / "a file"
    blocked.write_text("")
    assert _frontal_detector(dlib, blocked).run(grey, 0, -0.7) == built


def test_the_phase_keeps_the_detector_before_its_workers_start(tmp_path):
    require_module("dlib")
    config = load_config()
    phase = FacesPhase(config.faces, config.content, models_dir=str(tmp_path / "models"))
    phase.check_available()  # in the pipeline's parent process
    assert [p.suffix for p in (tmp_path / "models").iterdir()] == [".svm"]
