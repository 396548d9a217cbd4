"""The ML phase against its models: is the engine around the models (loading, preprocessing,
catalog writes) keeping them busy, and what does start-up cost, cold and warm?

    python benchmarks/ml_engine.py [--photos 200] [--batch-size 16] [--backend auto]
                                   [--json FILE]

1. Writes N photo-like 12 MP JPEGs and runs the metadata and content phases on them
   (`photoanalyze run --phases metadata,content`), so the ML phase finds thumbnails.
2. (b) cold: `photoanalyze run --phases ml` as a new process with an empty model cache.
3. (b) warm: `photoanalyze run --full --phases ml` again, the model cache filled.
4. (a) the models alone: in this process, the same Predictor, every thumbnail prepared in
   memory first, then only `Predictor.infer` timed over the batches (the first apart).

(b)'s rate is the phase's own from its second batch on, and its start-up is split into
weights, imports, backend, model builds, label embeddings and warm-up, from the run record.
Random weights (the only ones here): speeds are real, labels meaningless."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from photoanalyzer import pipeline
from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config, validate
from photoanalyzer.phases import PHASE_ORDER


def write_config(work: Path, backend: str, batch_size: int) -> Path:
    path = work / "random.yaml"
    path.write_text(
        f"ml:\n  models_dir: {work / 'models'}\n  backend: {backend}\n"
        f"  batch_size: {batch_size}\n"
        "  clip:\n    pretrained: random\n  yolo:\n    weights: random\n"
    )
    return path


def photoanalyze(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "photoanalyzer", *args], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def last_ml_details(db: Path) -> dict:
    catalog = Catalog(db)
    try:
        (run,) = catalog.runs.recent(1)
    finally:
        catalog.close()
    (ml,) = [phase for phase in run["phases"] if phase["phase"] == "ml"]
    assert ml["errors"] == 0 and not ml["failure"], ml
    return ml["details"]


def models_alone(db: Path, config_path: Path, thumbnails: Path) -> dict:
    """Images/s of Predictor.infer on prepared batches, the first batch apart."""
    from PIL import Image

    from photoanalyzer.ml.backends import select_backend
    from photoanalyzer.ml.predictor import Predictor, StageClock
    from photoanalyzer.ml.weights import prepare_environment, resolve_clip, resolve_yolo
    from photoanalyzer.ml.yolo_objects import import_ultralytics

    config = validate(load_config(config_path), PHASE_ORDER).ml
    models = Path(config.models_dir)
    prepare_environment(models, offline=True)
    import_ultralytics()
    catalog = Catalog(db)
    try:
        paths = set(_all_paths(catalog))
        pending = catalog.results.pending("ml", "none", {"photo"}, paths, full=True)
        items = pipeline.work_items(pending, catalog)
    finally:
        catalog.close()
    predictor = Predictor(
        resolve_clip(config.clip.model, "random", models, True),
        resolve_yolo(config.yolo.model, "random", models, True),
        select_backend(config.backend, engine_dir=models / "engines", max_batch=config.batch_size),
        config,
        models,
        StageClock(),
    )
    prepared = []
    for item in items:
        with Image.open(thumbnails / item.stored.thumbnail) as opened:
            picture = opened.convert("RGB")
        prepared.append(predictor.prepare(picture, item.stored.stored_size))
    size = config.batch_size
    batches = [prepared[i : i + size] for i in range(0, len(prepared), size)]
    predictor.infer(batches[0])
    started = time.perf_counter()
    for batch in batches[1:]:
        predictor.infer(batch)
    seconds = time.perf_counter() - started
    images = sum(len(batch) for batch in batches[1:])
    return {
        "images": images,
        "seconds": round(seconds, 2),
        "images_per_second": round(images / seconds, 2),
        "backend": predictor.backend.name,
    }


def _all_paths(catalog: Catalog) -> list[str]:
    return [row["path"] for row in catalog.queries.export_rows()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--library", type=Path, help="keep the photos here (written if missing) to run again"
    )
    args = parser.parse_args()
    from photoanalyzer.synthetic import write_camera_roll

    with tempfile.TemporaryDirectory(prefix="ml-engine-") as tmp:
        work = Path(tmp)
        library = args.library or work / "library"
        if len(list(library.rglob("*.jpg"))) != args.photos:
            print(f"writing {args.photos} 12 MP photos ...", flush=True)
            write_camera_roll(library, args.photos)
        config = write_config(work, args.backend, args.batch_size)
        db = work / "catalog.db"
        common = ["--db", str(db), "--config", str(config), "--quiet"]
        photoanalyze("run", str(library), *common, "--phases", "metadata,content")
        print("(b) ML phase, cold ...", flush=True)
        cold_wall = photoanalyze("run", str(library), *common, "--phases", "ml")
        cold = last_ml_details(db)
        print("(b) ML phase, warm ...", flush=True)
        warm_wall = photoanalyze("run", str(library), *common, "--phases", "ml", "--full")
        warm = last_ml_details(db)
        # Last: this process keeps its models (and torch's threads) while it lives, which
        # would share the cores with a run started after it.
        print("(a) models alone ...", flush=True)
        alone = models_alone(db, config, work / "catalog-thumbnails")
    result = {
        "photos": args.photos,
        "batch_size": args.batch_size,
        "backend": warm["backend"]["name"],
        "device": warm["backend"]["device_name"],
        "models_alone": alone,
        "phase": {
            "cold": {**_summary(cold), "process_seconds": round(cold_wall, 2)},
            "warm": {**_summary(warm), "process_seconds": round(warm_wall, 2)},
        },
    }
    steady = warm["steady_images_per_second"]
    result["phase_vs_models"] = round(steady / alone["images_per_second"], 3)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def _summary(details: dict) -> dict:
    startup = details["startup"]
    beyond_imports = sum(
        sum(v.values()) if isinstance(v, dict) else v for k, v in startup.items() if k != "imports"
    )
    return {
        "startup_seconds": details["startup_seconds"],
        "startup": startup,
        "startup_beyond_imports": round(beyond_imports, 3),
        "images_per_second": details["images_per_second"],
        "steady_images_per_second": details["steady_images_per_second"],
        "stages": details["stages"],
    }


if __name__ == "__main__":
    main()
