"""The faces phase on its own: bad input (a photo of 500 tiny faces, a 1x1 picture, a
truncated JPEG) costs bounded time and gives no crash; EXIF orientation is applied before
detection; without the faces extra the phase is skipped with one line and files stay
pending."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from PIL import Image

from conftest import CORPUS
from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.phases import PhaseContext, build_phases
from photoanalyzer.phases.base import analyze_safely
from photoanalyzer.phases.faces import FacesPhase
from photoanalyzer.run import pipeline
from support.imagegen import write_truncated_jpeg
from support.requirements import require_corpus, require_module

FACES = CORPUS / "faces"


def _phase(**settings) -> FacesPhase:
    config = load_config()
    return FacesPhase(replace(config.faces, **settings), config.content)


def test_a_photo_of_500_small_faces_is_bounded(tmp_path):
    require_module("dlib")
    face = Image.open(require_corpus(FACES / "deepface_img47.jpg")).convert("RGB")
    face = face.crop((300, 250, 1050, 1100)).resize((48, 54))  # roughly the face
    sheet = Image.new("RGB", (25 * 48, 20 * 54), "grey")
    for i in range(500):
        sheet.paste(face, ((i % 25) * 48, (i // 25) * 54))
    path = tmp_path / "crowd.jpg"
    sheet.save(path, quality=90)
    # Doubled before detection (small_picture), so HOG sees faces of about 100 px: many.
    phase = _phase(max_faces=12, small_picture=1500, picture_size=1200)
    started = time.perf_counter()
    outcome = phase.analyze(str(path), "photo")
    seconds = time.perf_counter() - started
    assert outcome.error is None
    assert outcome.record["face_count"] == 12  # the cap, not what HOG found (far more)
    assert seconds < 60


def test_tiny_and_truncated_pictures(tmp_path):
    require_module("dlib")
    tiny = tmp_path / "one.png"
    Image.new("RGB", (1, 1), "white").save(tiny)
    outcome = _phase().analyze(str(tiny), "photo")
    assert outcome.error is None and outcome.record["face_count"] == 0
    empty = tmp_path / "zero.jpg"
    empty.write_bytes(b"")
    emptied = analyze_safely(_phase(), str(empty), "photo")
    assert (emptied.error, emptied.final) == ("empty file (0 bytes)", True)
    empty.unlink()  # the run below counts the other two
    broken = write_truncated_jpeg(tmp_path / "cut.jpg")
    config = load_config()
    context = PhaseContext(config, tmp_path / "thumbs", tmp_path / "models", probe_decoders=False)
    catalog = Catalog(tmp_path / "pa.db")
    try:
        report = pipeline.run([str(tmp_path)], build_phases(("faces",), context), catalog, config)
    finally:
        catalog.close()
    (faces,) = report.phases
    assert faces.processed == 2 and faces.errors == 1
    assert faces.error_samples[0][0] == str(broken)


def test_orientation_is_applied_before_detection():
    require_module("dlib")
    upright = _phase().analyze(str(require_corpus(FACES / "immich_portrait.jpg")), "photo")
    turned = _phase().analyze(str(FACES / "immich_portrait-orientation-6.jpg"), "photo")
    assert upright.record["face_count"] >= 1
    assert upright.record["face_count"] == turned.record["face_count"]
    for a, b in zip(upright.record["faces"], turned.record["faces"], strict=True):
        assert abs(a["x"] - b["x"]) < 0.03 and abs(a["y"] - b["y"]) < 0.03


def test_without_the_extra_the_phase_is_skipped_and_files_stay_pending(tmp_path, monkeypatch):
    from photoanalyzer.phases import faces as faces_module

    monkeypatch.setattr(
        faces_module,
        "missing_reason",
        lambda: "dlib not installed: pip install 'photoanalyzer[faces]'",
    )
    Image.new("RGB", (64, 64), "white").save(tmp_path / "a.jpg")
    config = load_config()
    context = PhaseContext(config, tmp_path / "thumbs", tmp_path / "models", probe_decoders=False)
    catalog = Catalog(tmp_path / "pa.db")
    try:
        phases = build_phases(("metadata", "faces"), context)
        report = pipeline.run([str(tmp_path)], phases, catalog, config)
        (faces,) = report.phases[1:]
        assert faces.skipped and "photoanalyzer[faces]" in faces.failure
        assert faces.errors == 0 and faces.left_pending == 1
        pending = catalog.results.pending(
            "faces", phases[1].version, {"photo"}, {str(tmp_path / "a.jpg")}, False
        )
        assert len(pending) == 1
        assert catalog.queries.export_rows().__next__()["errors"] == {}
    finally:
        catalog.close()
    from photoanalyzer.outputs.terminal import format_run

    assert "skipped: dlib not installed" in format_run(report)


def test_named_face_regions_name_the_persons(cli, tmp_path):
    """Immich's portrait names its two faces in MWG regions (and its Orientation-6 copy, on
    the picture stored turned): the faces HOG finds take those names, as one person each."""
    require_module("dlib")
    library, db = tmp_path / "library", tmp_path / "pa.db"
    library.mkdir()
    for name in ("immich_portrait.jpg", "immich_portrait-orientation-6.jpg"):
        (library / name).write_bytes(require_corpus(FACES / name).read_bytes())
    cli("run", str(library), "--db", str(db), "--phases", "metadata,faces", "--quiet")
    persons = json.loads(cli("people", "--db", str(db), "--json").stdout)
    named = {p["name"]: p["faces"] for p in persons if p["name"]}
    assert named and set(named) <= {"Marie Curie", "Pierre Curie"}
    assert all(count == 2 for count in named.values())  # the same face in both files
