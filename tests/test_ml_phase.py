"""The ML phase end to end on the CPU with random weights (the only weights available here),
and without weights at all."""

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.imagegen import textured_photo, write_zero_byte
from support.requirements import require_module

require_module("torch")
require_module("open_clip")
require_module("ultralytics")
# Importing ultralytics patches PIL.Image.open for the whole test process; give it back, as
# the ML phase does, so the other test modules see Pillow's own behaviour.
from photoanalyzer.ml.yolo_objects import import_ultralytics  # noqa: E402

import_ultralytics()

LABELS = ["a beach", "a forest", "a city street", "food"]


def write_config(path: Path, models: Path, labels=LABELS, confidence=0.0) -> Path:
    path.write_text(
        f"ml:\n  models_dir: {models}\n  batch_size: 2\n"
        f"  clip:\n    pretrained: random\n    top_k: 2\n    labels: {json.dumps(labels)}\n"
        f"  yolo:\n    weights: random\n    confidence: {confidence}\n"
    )
    return path


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    from conftest import Cli

    root = tmp_path_factory.mktemp("ml")
    library = root / "lib"
    library.mkdir()
    for seed in range(3):
        textured_photo((900, 600), seed=seed).save(library / f"photo{seed}.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    textured_photo((900, 600), seed=9).save(library / "rotated.jpg", exif=exif.tobytes())
    write_zero_byte(library / "empty.jpg")
    cli = Cli(root / "home")
    (root / "home").mkdir()
    config = write_config(root / "random.yaml", root / "models")
    db = root / "c.db"
    result = cli("run", str(library), "--db", str(db), "--config", str(config))
    return cli, library, db, config, result


def test_every_image_gets_scenes_an_embedding_and_objects_marked_random(indexed):
    cli, library, db, _, _ = indexed
    rows = cli.export(db)
    for name in ("photo0.jpg", "photo1.jpg", "photo2.jpg", "rotated.jpg"):
        row = rows[str(library / name)]
        assert row["errors"] == {}, row["errors"]
        assert row["ml_random_weights"] is True
        assert row["top_scene"] in LABELS and row["top_scene"] == row["scenes"][0][0]
        assert len(row["scenes"]) == 2 and row["scenes"][0][1] >= row["scenes"][1][1]
        assert isinstance(row["objects"], list)
        assert row["object_counts"] == {
            label: sum(o["class"] == label for o in row["objects"])
            for label in {o["class"] for o in row["objects"]}
        }
    assert rows[str(library / "empty.jpg")]["errors"]["ml"] == "empty file (0 bytes)"
    embeddings = sqlite3.connect(db).execute("SELECT embedding FROM ml WHERE embedding IS NOT NULL")
    vectors = [np.frombuffer(blob, dtype=np.float16) for (blob,) in embeddings]
    assert len(vectors) == 4
    for vector in vectors:
        assert vector.shape == (512,)
        assert np.linalg.norm(vector.astype(np.float32)) == pytest.approx(1.0, abs=0.01)
    assert "embedding" not in rows[str(library / "photo0.jpg")]  # kept for search, not exported


def test_boxes_are_in_the_upright_originals_pixels(indexed):
    cli, library, db, _, _ = indexed
    rows = cli.export(db)
    sizes = {"photo0.jpg": (900, 600), "rotated.jpg": (600, 900)}  # rotated shows portrait
    boxes = 0
    for name, (width, height) in sizes.items():
        for found in rows[str(library / name)]["objects"]:
            x1, y1, x2, y2 = found["box"]
            assert -1 <= x1 <= x2 <= width + 1 and -1 <= y1 <= y2 <= height + 1, (name, found)
            boxes += 1
    assert boxes > 0  # confidence 0 keeps random detections, so the check is not vacuous


def test_run_record_names_the_backend_and_why_faster_ones_were_skipped(indexed):
    from photoanalyzer.catalog import Catalog

    cli, _, db, _, result = indexed
    assert (
        "made with RANDOM CLIP and YOLO weights (configured for testing): the scenes, "
        "embeddings, search scores and objects are meaningless"
    ) in result.stdout
    assert "backend cpu-" in result.stdout and "skipped cuda-amp-fp16: no CUDA" in result.stdout
    catalog = Catalog(db)
    (run,) = catalog.runs.recent()
    catalog.close()
    ml = next(p for p in run["phases"] if p["phase"] == "ml")
    backend = ml["details"]["backend"]
    assert backend["name"] in ("cpu-bf16", "cpu-fp32") and backend["torch"]
    assert set(backend["skipped"]) >= {"tensorrt", "cuda-amp-fp16", "cuda-fp32"}
    assert ml["details"]["random_weights"] == ["clip", "yolo"]
    assert ml["details"]["batch_size_used"] == 2
    startup, stages = ml["details"]["startup"], ml["details"]["stages"]
    assert set(startup) >= {"imports", "weights", "backend", "models", "labels"}
    assert set(stages["inference"]) == {"clip", "yolo"} and stages["load"] > 0
    status = cli("status", "--db", str(db)).stdout
    assert "start-up " in status and "stages: read-wait" in status  # status shows them
    assert "backend cpu-" in status and "skipped cuda-fp32: no CUDA device" in status


def test_changed_prompt_set_reruns_only_the_ml_phase(indexed, tmp_path):
    cli, library, db, config, _ = indexed
    unchanged = cli("run", str(library), "--db", str(db), "--config", str(config)).stdout
    assert "ml        0 processed" in unchanged
    changed = write_config(
        tmp_path / "new.yaml", config.parent / "models", labels=[*LABELS, "snow"]
    )
    rerun = cli("run", str(library), "--db", str(db), "--config", str(changed)).stdout
    assert "metadata  0 processed" in rerun and "content   0 processed" in rerun
    assert "ml        5 processed" in rerun


def test_ml_alone_decodes_originals_when_there_is_no_thumbnail(indexed, tmp_path):
    cli, library, _, config, _ = indexed
    db = tmp_path / "ml-only.db"
    result = cli("run", str(library), "--db", str(db), "--config", str(config), "--phases", "ml")
    assert "ml        5 processed, 1 error" in result.stdout
    assert not (tmp_path / "ml-only.db-thumbnails").exists()
    assert cli.export(db)[str(library / "rotated.jpg")]["top_scene"] in LABELS


def test_without_weights_and_network_the_phase_fails_fast_and_keeps_everything_else(cli, tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    textured_photo((400, 300)).save(library / "a.jpg")
    config = tmp_path / "real.yaml"
    config.write_text(f"ml:\n  models_dir: {tmp_path / 'empty-models'}\n  offline: true\n")
    db = tmp_path / "c.db"
    result = cli("run", str(library), "--db", str(db), "--config", str(config), check=False)
    assert result.returncode == 4
    assert "FAILED: CLIP weights ViT-B-32 'laion2b_s34b_b79k' are not in the model cache" in (
        result.stdout
    )
    assert "photoanalyze models import" in result.stdout
    row = cli.export(db)[str(library / "a.jpg")]
    assert row["width"] == 400 and row["sharpness"] > 0  # metadata and content kept
    # The phase's failure, not the file's: the run's record says it, the file has no error.
    assert row["top_scene"] is None and "ml" not in row["errors"]
    status = cli("status", "--db", str(db), "--config", str(config)).stdout
    assert "FAILED: CLIP weights ViT-B-32 'laion2b_s34b_b79k' are not in the model cache" in status
    assert (
        "ml        0 done, 0 with results of an older version, 0 failed, 1 never analysed"
        " (no run has finished this phase yet); 1 pending for this config\n" in status
    )  # tried again next run


def test_doctor_reports_versions_backend_and_weights(cli, tmp_path):
    config = write_config(tmp_path / "c.yaml", tmp_path / "models")
    out = cli("doctor", "--config", str(config)).stdout
    assert out.startswith("torch 2.")
    assert "TensorRT: not available" in out or "TensorRT: torch_tensorrt imports" in out
    assert "ML backend (auto): backend " in out
    assert "CLIP ViT-B-32 (random): available: RANDOM weights" in out
    assert "\nDecoders (content phase):\n  JPEG: Pillow" in out


def test_full_run_whose_ml_phase_cannot_start_keeps_every_stored_result(indexed, tmp_path):
    """--full with a backend this machine lacks: the phase cannot start (exit 4), and what the
    ML phase stored before is still there, row for row."""
    cli, library, db, config, _ = indexed
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())  # the module's catalog stays as the other tests use it
    before = cli.export(copy)
    status_before = cli("status", "--db", str(copy), "--config", str(config)).stdout
    result = cli(
        "run",
        str(library),
        "--db",
        str(copy),
        "--config",
        str(config),
        "--full",
        "--backend",
        "cuda-fp32",
        check=False,
    )
    assert result.returncode == 4 and "backend cuda-fp32 is not available here" in result.stdout
    after = cli.export(copy)
    ml_fields = ("top_scene", "scenes", "objects", "object_counts", "ml_random_weights")
    ml_fields += ("clip_random_weights", "yolo_random_weights")
    for path, row in before.items():
        assert {f: after[path][f] for f in ml_fields} == {f: row[f] for f in ml_fields}
        assert after[path]["errors"].get("ml") == row["errors"].get("ml")
    ml_line = next(line for line in status_before.splitlines() if line.startswith("  ml "))
    assert ml_line in cli("status", "--db", str(copy), "--config", str(config)).stdout
