"""Which picture, resolution and detector the faces phase uses, chosen by measurement.

    python benchmarks/faces_choice.py [--corpus ../shared/corpus/faces] [--only NAME ...]

For every alternative, on the labelled face corpus (labels.json: faces_expected): recall of
the expected faces (found faces counted up to the expected number per photo), photos with
fewer faces than expected, faces found in the photos without a person, and milliseconds a
photo for the decode and the detection (one thread, as the phase runs in each worker).
Embeddings are not part of the choice (they cost the same per face whichever picture the
face was found in) and are timed apart at the end.

"thumbnail" is what the content phase stores: the upright picture reduced to 640 px and
saved as JPEG (quality 85), decoded again. "draft N" is the original decoded as the faces
phase does (pixels.load: JPEG draft scale, then reduced to N px). "adaptive" doubles
pictures whose longest side is at most `--small` px before detecting (dlib's upsampling):
most small originals are crops or group shots whose faces HOG's 80 px window misses."""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from photoanalyzer.analysis.faces import DetectSettings, _detect, find_faces, models_for
from photoanalyzer.pixels.load import load_upright_rgb

REPO = Path(__file__).resolve().parents[1]
MAX_PIXELS = 200_000_000


@dataclass(frozen=True)
class Alternative:
    name: str
    source: str  # thumbnail or draft
    side: int
    detector: str = "hog"
    upsample: int = 0
    small: int = 0  # adaptive: upsample once where the picture's longest side <= this
    # The phase's detection (analysis/faces.py): grey HOG listing candidates, the edge pass
    # and the CNN on the best candidate's crop, where HOG found a face or a candidate.
    second_looks: bool = False


ALTERNATIVES = (
    Alternative("thumbnail 640, HOG", "thumbnail", 640),
    Alternative("thumbnail 640, HOG x2", "thumbnail", 640, upsample=1),
    Alternative("draft 800, HOG x2", "draft", 800, upsample=1),
    Alternative("draft 1000, HOG", "draft", 1000),
    Alternative("draft 1280, HOG", "draft", 1280),
    Alternative("draft 1000, HOG, x2 if <= 800", "draft", 1000, small=800),
    Alternative("draft 1280, HOG, x2 if <= 800", "draft", 1280, small=800),
    Alternative(
        "draft 1000, x2 if <= 800, grey HOG + edge pass + CNN-checked candidate (chosen)",
        "draft",
        1000,
        small=800,
        second_looks=True,
    ),
    Alternative("thumbnail 640, CNN", "thumbnail", 640, detector="cnn"),
    Alternative("draft 1000, CNN", "draft", 1000, detector="cnn"),
)


def picture(path: Path, alt: Alternative) -> tuple[np.ndarray, tuple[int, int]]:
    decoded = load_upright_rgb(path, alt.side, MAX_PIXELS)
    image = decoded.image
    if alt.source == "thumbnail":
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return np.asarray(image), image.size


def measure(alt: Alternative, labels: list[dict], folder: Path) -> dict:
    settings = DetectSettings(detector=alt.detector, upsample=alt.upsample, min_face_px=0)
    if not alt.second_looks:
        settings = replace(settings, candidate_threshold=None, edge_pad=0.0)
    models = models_for(alt.detector)
    found_total = expected_total = missed_photos = false_faces = 0
    decode_ms, detect_ms, misses = [], [], []
    for label in labels:
        started = time.perf_counter()
        rgb, _ = picture(folder / label["file"], alt)
        decoded = time.perf_counter()
        upsample = settings.upsample
        if alt.small and max(rgb.shape[:2]) <= alt.small:
            upsample += 1
        rects = _count(rgb, models, replace(settings, upsample=upsample))
        detect_ms.append((time.perf_counter() - decoded) * 1000)
        decode_ms.append((decoded - started) * 1000)
        expected = label["faces_expected"]
        expected_total += expected
        found_total += min(rects, expected)
        if rects < expected:
            missed_photos += 1
            misses.append(f"{label['file']} {rects}/{expected}")
        if label["category"] == "no_person":
            false_faces += rects
    return {
        "alternative": alt.name,
        "recall": found_total / expected_total,
        "photos_short": missed_photos,
        "faces_in_no_person": false_faces,
        "decode_ms": statistics.mean(decode_ms),
        "detect_ms": statistics.mean(detect_ms),
        "misses": misses,
    }


def _count(rgb: np.ndarray, models, settings: DetectSettings) -> int:
    """Detections only (no landmarks or embeddings): what the choice is about."""
    if settings.candidate_threshold is not None:
        return len(_detect(rgb, models, settings))
    if models.cnn:
        return len(models.detector(rgb, settings.upsample))
    rects, _, _ = models.detector.run(rgb, settings.upsample, settings.hog_threshold)
    return len(rects)


def embedding_ms(labels: list[dict], folder: Path) -> float:
    """Landmarks and embedding per face, on the faces the chosen settings find."""
    models = models_for("hog")
    settings = DetectSettings()
    faces = seconds = 0.0
    for label in labels[:20]:
        rgb = np.asarray(load_upright_rgb(folder / label["file"], 1000, MAX_PIXELS).image)
        started = time.perf_counter()
        found = find_faces(rgb, models, settings)
        seconds += time.perf_counter() - started
        rects, _, _ = models.detector.run(rgb, 0, 0.0)
        started = time.perf_counter()
        models.detector.run(rgb, 0, 0.0)
        seconds -= time.perf_counter() - started  # less the detection's share
        faces += len(found)
        del rects
    return seconds / max(faces, 1) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/corpus/faces")
    parser.add_argument("--only", nargs="*", help="names of alternatives (substring)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    labels = json.loads((args.corpus / "labels.json").read_text())
    chosen = [alt for alt in ALTERNATIVES if not args.only or any(o in alt.name for o in args.only)]
    rows = []
    for alt in chosen:
        row = measure(alt, labels, args.corpus)
        rows.append(row)
        print(
            f"{row['alternative']:32} recall {row['recall']:.3f}  short {row['photos_short']:2}"
            f"  no-person faces {row['faces_in_no_person']}  decode {row['decode_ms']:5.1f} ms"
            f"  detect {row['detect_ms']:6.1f} ms   misses: {', '.join(row['misses'])}",
            flush=True,
        )
    print(f"landmarks + embedding: {embedding_ms(labels, args.corpus):.1f} ms a face")
    if args.json:
        json.dump(rows, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
