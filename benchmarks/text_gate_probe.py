"""The detector's raw probability map on thumbnails at small sides: can it tell, before the
512 px first pass, that a photo has no text at all?

    python benchmarks/text_gate_probe.py [--corpus ../shared/corpus] [--roll DIR ...]

For every picture (the text corpus, its no-text photos, the camera photos of `images/`, and
camera-roll folders written by `synthetic_library.py --camera-roll`) it prints, per probe
side, the map's maximum and the number of pixels over 0.3 (DBNet's binarization threshold),
and whether the current first pass (512 px, boxes read) lets it through. Then, per group,
the smallest maximum among text photos and the spread elsewhere, and the CPU time of the
detector per side (one thread, `time.process_time`)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from photoanalyzer.analysis.text import TextReader, _bgr, _detection_input
from text_choice import CONFIG, PHOTO_SUFFIXES, thumbnail

SIDES = (256, 320, 384)
FLOORS = (1e-5, 3e-5, 1e-4, 1e-3)  # a photo goes on to the 512 px pass when its max >= floor


def probe(reader: TextReader, rgb: np.ndarray) -> dict:
    row: dict = {}
    for side in SIDES:
        tensor = _detection_input(_bgr(rgb), side)
        started = time.process_time()
        probabilities = reader._detector.infer(tensor)[0]
        row[f"cpu{side}"] = time.process_time() - started
        row[f"max{side}"] = float(probabilities.max())
        row[f"area{side}"] = int((probabilities > 0.3).sum())
    started = time.process_time()
    row["gate512"] = reader.has_text(rgb)
    row["cpu512"] = time.process_time() - started
    return row


def pictures(corpus: Path, rolls: list[Path]) -> list[tuple[str, Path]]:
    from photoanalyzer.pixels.load import load_upright_rgb

    labels = json.loads((corpus / "text" / "labels.json").read_text())
    found = [("text" if e["has_text"] else "no-text", corpus / "text" / e["file"]) for e in labels]
    for path in sorted((corpus / "images").rglob("*")):
        if path.suffix.lower() in PHOTO_SUFFIXES:
            try:  # the corpus holds broken files on purpose
                load_upright_rgb(path, 64, CONFIG.max_pixels)
            except Exception:
                continue
            found.append(("images", path))
    for roll in rolls:
        found += [(f"roll:{roll.name}", p) for p in sorted(roll.rglob("*.jpg"))]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--roll", type=Path, action="append", default=[])
    args = parser.parse_args()
    reader = TextReader()
    rows = []
    for group, path in pictures(args.corpus, args.roll):
        row = {"group": group, "name": path.name, **probe(reader, thumbnail(path))}
        rows.append(row)
        cells = " ".join(f"{row[f'max{s}']:.1e}/{row[f'area{s}']:<5}" for s in SIDES)
        print(f"{group:14} {path.name[:40]:40} {cells} gate512={row['gate512']}", flush=True)
    for group in dict.fromkeys(r["group"] for r in rows):
        members = [r for r in rows if r["group"] == group]
        summary = " ".join(_spread(members, side) for side in SIDES)
        passed = sum(r["gate512"] for r in members)
        print(f"{group}: {len(members)} pictures, 512 pass {passed}; {summary}")
        for side in SIDES:
            print(f"    probe {side}: lowest max {min(r[f'max{side}'] for r in members):.1e};")
            for floor in FLOORS:
                print("      " + _two_stage(members, side, floor))


def _spread(members: list[dict], side: int) -> str:
    maxima = [r[f"max{side}"] for r in members]
    cpu = 1000 * np.mean([r[f"cpu{side}"] for r in members])
    return f"{side}: max {min(maxima):.1e}..{max(maxima):.1e} cpu {cpu:.0f} ms"


def _two_stage(members: list[dict], side: int, floor: float) -> str:
    """What a probe at `side` in front of the 512 px pass would do with this floor: how many
    go on, how many the 512 pass lets through that the probe would stop (lost), and the
    detection CPU a picture against the 512 pass alone."""
    goes_on = [r[f"max{side}"] >= floor for r in members]
    lost = sum(r["gate512"] and not on for r, on in zip(members, goes_on, strict=True))
    both = np.mean(
        [
            r[f"cpu{side}"] + (r["cpu512"] if on else 0.0)
            for r, on in zip(members, goes_on, strict=True)
        ]
    )
    alone = np.mean([r["cpu512"] for r in members])
    return (
        f"floor {floor:.0e}: {sum(goes_on)}/{len(members)} go on, {lost} lost;"
        f" {1000 * both:.0f} ms a picture against {1000 * alone:.0f} (512 pass alone)"
    )


if __name__ == "__main__":
    main()
