"""ML-phase throughput (CLIP ViT-B-32 + YOLO11n) per backend and batch size, in one run.

    python benchmarks/ml_throughput.py [--images 96] [--backends cpu-fp32,cpu-bf16]
                                       [--batch-sizes 8,16]

Random weights (the only ones available offline; speed does not depend on the values). The
images are 640x480 thumbnails, as the content phase leaves them, so the figure is the ML
phase's own: start-up (weights, backend, model build) is reported apart from the steady rate,
which counts from the second batch on."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.phases.ml import MlPhase
from photoanalyzer.run import pipeline
from support.imagegen import textured_photo


def run_once(library: Path, work: Path, backend: str, batch_size: int) -> dict:
    config = load_config()
    ml = dataclasses.replace(
        config.ml,
        backend=backend,
        batch_size=batch_size,
        models_dir=str(work / "models"),
        clip=dataclasses.replace(config.ml.clip, pretrained="random"),
        yolo=dataclasses.replace(config.ml.yolo, weights="random"),
    )
    phase = MlPhase(ml, config.content, str(work / "no-thumbnails"), str(work / "models"))
    catalog = Catalog(work / f"{backend}-{batch_size}.db")
    try:
        (report,) = pipeline.run([str(library)], [phase], catalog, config).phases
    finally:
        catalog.close()
    assert report.errors == 0 and report.failure is None, (report.failure, report.error_samples)
    return report.details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--backends", default="cpu-fp32,cpu-bf16")
    parser.add_argument("--batch-sizes", default="8,16")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        library = work / "thumbs"
        library.mkdir()
        for i in range(args.images):
            textured_photo((640, 480), seed=i).save(library / f"{i:04}.jpg", quality=85)
        rows = []
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            for backend in args.backends.split(","):
                details = run_once(library, work, backend, batch_size)
                rows.append((backend, batch_size, details))
                inference = details["stages"]["inference"]
                print(
                    f"{backend:<14} batch {batch_size:>3}: "
                    f"{details['steady_images_per_second']:6.2f} images/s steady "
                    f"(CLIP {inference['clip']:.1f} s, YOLO {inference['yolo']:.1f} s"
                    f" for {args.images} images; start-up {details['startup_seconds']:.1f} s)",
                    flush=True,
                )
    print(f"device: {rows[0][2]['backend']['device_name']}; torch {rows[0][2]['backend']['torch']}")


if __name__ == "__main__":
    main()
