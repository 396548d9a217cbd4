"""Random weights are recorded per model, and every warning names only what the random model
made: CLIP's scenes, embeddings and search scores, YOLO's objects.

End to end with one model real and the other random, both ways round: trained YOLO weights
(the person detector of conftest.py) with random CLIP weights; and a CLIP checkpoint file
(the program loads it as it loads any trained checkpoint) with random YOLO weights. No package
ships trained CLIP weights, so that checkpoint holds seeded initial values: what is under test
is what the program records and says about weights it was configured with, not label quality."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import Cli
from photoanalyzer.catalog import MIGRATIONS, Catalog
from support.imagegen import textured_photo
from support.requirements import require_module
from test_catalog_open import old_catalog

CLIP_WARNING = (
    "made with RANDOM CLIP weights (configured for testing): the scenes, embeddings and "
    "search scores are meaningless"
)
YOLO_WARNING = "made with RANDOM YOLO weights (configured for testing): the objects are meaningless"


def need(module: str):
    return require_module(module)


def config(path: Path, models: Path, clip: str, yolo: str) -> Path:
    path.write_text(
        f"ml:\n  models_dir: {models}\n  batch_size: 2\n"
        f"  clip:\n    pretrained: {clip}\n    top_k: 2\n    labels: [a person, a forest]\n"
        f"  yolo:\n    weights: {yolo}\n"
    )
    return path


def clip_checkpoint(path: Path) -> Path:
    """A whole ViT-B-32 state dict in a file, as a downloaded checkpoint is."""
    torch, open_clip = need("torch"), need("open_clip")
    torch.manual_seed(1)
    torch.save(open_clip.create_model("ViT-B-32", pretrained=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, detector_weights):
    """The same library indexed twice: real YOLO with random CLIP ("clip"), and real CLIP
    with random YOLO ("yolo"); each with its run summary."""
    need("torch"), need("open_clip"), need("ultralytics")
    import ultralytics

    root = tmp_path_factory.mktemp("random-weights")
    library = root / "lib"
    library.mkdir()
    people = Path(ultralytics.__file__).parent / "assets" / "zidane.jpg"  # two people standing
    (library / "people.jpg").write_bytes(people.read_bytes())
    textured_photo((900, 600), seed=1).save(library / "texture.jpg", quality=90)
    (root / "home").mkdir()
    cli = Cli(root / "home")
    models = root / "models"
    configs = {
        "clip": config(root / "clip.yaml", models, "random", str(detector_weights)),
        "yolo": config(
            root / "yolo.yaml", models, str(clip_checkpoint(root / "clip.pt")), "random"
        ),
    }
    done = {}
    for random, path in configs.items():
        db = root / f"{random}.db"
        summary = cli("run", str(library), "--db", str(db), "--config", str(path)).stdout
        done[random] = {"db": db, "config": path, "summary": summary}
    return cli, library, done


def warnings_in(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "WARNING" in line]


def test_each_result_records_which_model_had_random_weights(runs):
    cli, library, done = runs
    for random, flags in (("clip", (True, False)), ("yolo", (False, True))):
        rows = cli.export(done[random]["db"])
        for name in ("people.jpg", "texture.jpg"):
            row = rows[str(library / name)]
            assert row["errors"] == {}, row["errors"]
            assert (row["clip_random_weights"], row["yolo_random_weights"]) == flags, name
            assert row["ml_random_weights"] is True  # either model's: its meaning so far
    people = cli.export(done["clip"]["db"])[str(library / "people.jpg")]
    assert people["object_counts"].get("Normal", 0) >= 2  # the trained detector's people


def test_the_run_summary_names_only_what_the_random_model_made(runs):
    _, _, done = runs
    assert warnings_in(done["clip"]["summary"]) == [f"WARNING: {CLIP_WARNING}"]
    assert warnings_in(done["yolo"]["summary"]) == [f"WARNING: {YOLO_WARNING}"]


def test_the_report_names_only_what_the_random_model_made(runs, tmp_path):
    cli, _, done = runs
    expected = {
        "clip": "WARNING: 2 files have results made with RANDOM CLIP weights (configured for "
        "testing): their scenes, embeddings and search scores are meaningless.",
        "yolo": "WARNING: 2 files have results made with RANDOM YOLO weights (configured for "
        "testing): their objects are meaningless.",
    }
    for random, warning in expected.items():
        out = tmp_path / random
        cli("report", "--db", str(done[random]["db"]), "--out", str(out))
        page = (out / "index.html").read_text()
        banner = page[page.index('<div id="random-weights">') :]
        banner = banner[: banner.index("</div>")]
        assert re.findall(r'<p class="warning">(.*?)</p>', banner) == [warning]


def test_search_and_duplicates_name_only_what_the_random_model_made(runs):
    cli, _, done = runs
    for random, warning in (("clip", CLIP_WARNING), ("yolo", YOLO_WARNING)):
        db, path = str(done[random]["db"]), str(done[random]["config"])
        lines = cli("search", "a person", "--db", db, "--config", path)
        assert warnings_in(lines.stderr) == [f"WARNING: {warning}"], random
        document = json.loads(
            cli("search", "a person", "--json", "--db", db, "--config", path).stdout
        )
        assert document["warnings"] == [f"WARNING: {warning}"]
        assert document["random_models"] == [random] and document["random_weights"] is True
        assert {tuple(hit["random_models"]) for hit in document["results"]} == {(random,)}
    # Similarity by embedding is CLIP's alone: random YOLO weights do not touch it.
    similar = cli("duplicates", "--by", "embedding", "--db", str(done["clip"]["db"])).stdout
    assert "RANDOM CLIP weights" in similar
    similar = cli("duplicates", "--by", "embedding", "--db", str(done["yolo"]["db"])).stdout
    assert "RANDOM" not in similar


def test_an_older_catalog_takes_each_models_flag_from_its_runs_details(tmp_path):
    """Before the flags were per model, one flag said "some model's weights were random".
    The run that made each result recorded each model's weights; a result whose run recorded
    none keeps the old meaning for both."""
    per_model = next(i for i, script in enumerate(MIGRATIONS) if "clip_random_weights" in script)
    path = old_catalog(tmp_path / "old.db", per_model)  # the version before the flags
    db = sqlite3.connect(path)
    weights = {
        "clip": "clip ViT-B-32: RANDOM weights (configured: random)",
        "yolo": "yolo yolo11n: /models/yolo11n.pt",
    }
    db.executemany(
        "INSERT INTO runs (id, started_at, status, roots, phases) VALUES (?, 't', 'completed',"
        " '[]', '[\"ml\"]')",
        [(1,), (2,)],
    )
    db.executemany(
        "INSERT INTO run_phases (run_id, phase, version, processed, errors, seconds, details)"
        " VALUES (?, 'ml', 'ml-2-x', 1, 0, 1.0, ?)",
        [(1, json.dumps({"weights": weights})), (2, None)],
    )
    for file_id, run_id, random in ((1, 1, 1), (2, 2, 1), (3, 1, 0)):
        db.execute(
            "INSERT INTO files (id, path, kind, size, mtime_ns, first_seen_run, last_change_run)"
            " VALUES (?, ?, 'photo', 1, 1, 1, 1)",
            (file_id, f"/p{file_id}.jpg"),
        )
        db.execute(
            "INSERT INTO phase_status VALUES (?, 'ml', 'ml-2-x', NULL, ?)", (file_id, run_id)
        )
        db.execute(
            "INSERT INTO ml (file_id, top_scene, ml_random_weights) VALUES (?, 'a beach', ?)",
            (file_id, random),
        )
    db.commit()
    db.close()
    Catalog(path).close()  # migrates
    db = sqlite3.connect(path)
    # read from the table: the export shows only results of the current ML version
    flags = {
        name: tuple(bool(flag) for flag in row)
        for name, *row in db.execute(
            "SELECT f.path, ml_random_weights, clip_random_weights, yolo_random_weights"
            " FROM ml JOIN files f ON f.id = ml.file_id"
        )
    }
    db.close()
    assert flags == {
        "/p1.jpg": (True, True, False),  # its run recorded real YOLO weights
        "/p2.jpg": (True, True, True),  # its run recorded nothing: both, as the old flag said
        "/p3.jpg": (False, False, False),
    }
