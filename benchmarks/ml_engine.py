"""The ML phase against its models: is the engine around the models (loading, preprocessing,
catalog writes) keeping them busy, and what does start-up cost, cold and warm?

    python benchmarks/ml_engine.py [--photos 200] [--batch-size 16] [--backend auto]
                                   [--repeat 3] [--json FILE]

1. Writes N photo-like 12 MP JPEGs and runs the metadata and content phases on them
   (`photoanalyze run --phases metadata,content`), so the ML phase finds thumbnails.
2. (b) cold: `photoanalyze run --phases ml` as a new process with an empty model cache.
3. (b) warm: `photoanalyze run --full --phases ml` again, the model cache filled.
4. (a) the models alone: in a process of its own, the same Predictor, every thumbnail
   prepared in memory first, then only `Predictor.infer` timed over the batches (the first
   apart). Steps 3 and 4 alternate `--repeat` times; medians are reported.

(b)'s rate is the phase's own from its second batch on, and its start-up is split into
weights, imports, backend, model builds, label embeddings and warm-up, from the run record.
Random weights (the only ones here): speeds are real, labels meaningless."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config, validate
from photoanalyzer.phases import PHASE_ORDER
from photoanalyzer.run import pipeline


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
    from photoanalyzer.ml.predictor import Predictor
    from photoanalyzer.ml.timing import StageClock
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
    parser.add_argument(
        "--repeat", type=int, default=3, help="warm (b) and (a) runs, alternating (median)"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--library", type=Path, help="keep the photos here (written if missing) to run again"
    )
    parser.add_argument("--models-alone", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.models_alone:  # the child process of one (a) measurement
        print(json.dumps(models_alone(*args.models_alone)))
        return
    from photoanalyzer.benchmark.synthetic import write_camera_roll

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
        warm_runs, alone_runs = [], []
        for repeat in range(args.repeat):
            # Each in its own process, alternating, so that a slow minute of the machine
            # weighs on both sides alike.
            print(f"(b) ML phase, warm, and (a) models alone: {repeat + 1}/{args.repeat}")
            wall = photoanalyze("run", str(library), *common, "--phases", "ml", "--full")
            warm_runs.append({**_summary(last_ml_details(db)), "process_seconds": round(wall, 2)})
            alone_runs.append(_models_alone_process(db, config, work / "catalog-thumbnails"))
    warm = warm_runs[len(warm_runs) // 2]
    steady = statistics.median(run["steady_images_per_second"] for run in warm_runs)
    alone = statistics.median(run["images_per_second"] for run in alone_runs)
    result = {
        "photos": args.photos,
        "batch_size": args.batch_size,
        "backend": alone_runs[0]["backend"],
        "device": cold["backend"]["device_name"],
        "models_alone": {"images_per_second": alone, "runs": alone_runs},
        "phase": {
            "cold": {**_summary(cold), "process_seconds": round(cold_wall, 2)},
            "warm": {**warm, "steady_images_per_second": steady, "runs": warm_runs},
        },
        "phase_vs_models": round(steady / alone, 3),
        "phase_vs_models_per_pair": [
            round(w["steady_images_per_second"] / a["images_per_second"], 3)
            for w, a in zip(warm_runs, alone_runs, strict=True)
        ],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def _models_alone_process(db: Path, config: Path, thumbnails: Path) -> dict:
    """(a) in a fresh process: this one holds no models or torch threads that would share
    the cores with the runs after it."""
    command = [sys.executable, __file__, "--models-alone", str(db), str(config), str(thumbnails)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


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
