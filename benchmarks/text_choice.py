"""Which picture and resolutions the text phase reads, by measurement.

    python benchmarks/text_choice.py [--corpus ../shared/corpus] [--only NAME,...]

For each alternative (first pass: picture and side; full detection side; the side lines are
cut from; the direction classifier) on one thread:
  recall        listed words of `text/labels.json` found as a case-insensitive substring of
                the photo's whole text (what `search --text WORD` matches)
  spurious      on the no-text photos of labels.json: lines, and the most on one photo
  gate          how many pictures the first pass let through: text photos (should be all),
                no-text photos and the camera photos of `images/` (should be few)
  turned        a check on photos the settings were not chosen on: the 16 small photos of
                `images/exif-samples/jpg/orientation` (each orientation, landscape and
                portrait), whose words "top", "left", "right", "bottom" and digit are found
  ms/photo      per photo, decode included, apart for text photos and the rest
The thumbnail is made as the content phase makes it (640 px, JPEG quality 85). The first pass
runs on every picture here, screenshots included (the phase skips it for likely screenshots),
so the recall here is a lower bound of the phase's."""

from __future__ import annotations

import argparse
import io
import json
import string
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from photoanalyzer.analysis.text import TextReader, TextSettings, whole_text
from photoanalyzer.config import load_config
from photoanalyzer.pixels.load import load_upright_rgb

CONFIG = load_config().content
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif")

BASE = TextSettings()
ALTERNATIVES = {
    "no gate, detect 1280": replace(BASE, gate_side=0),
    "gate thumb 320, detect 1280": replace(BASE, gate_side=320),
    "gate thumb 480, detect 1280": replace(BASE, gate_side=480),
    "gate thumb 512, detect 960, crop 1920": replace(BASE, detect_side=960, crop_side=1920),
    "gate thumb 512, detect 1280, crop 2000 (default)": BASE,
    "the default, small pictures not enlarged": replace(BASE, detect_short_side=0),
    "the default, small pictures enlarged to 736 (PP-OCR's rule)": replace(
        BASE, detect_short_side=736
    ),
    "the default, small pictures enlarged at most 4 times": replace(BASE, detect_enlarge=4.0),
    "gate thumb 512, detect 1600, crop 3200": replace(BASE, detect_side=1600, crop_side=3200),
    "gate thumb 512, detect 1280, direction": replace(BASE, use_direction=True),
    "thumbnail only (640)": replace(BASE, detect_side=640, crop_side=640),
}


def thumbnail(path: Path) -> np.ndarray:
    """The content phase's thumbnail: the upright picture at 640 px, stored as JPEG 85."""
    decoded = load_upright_rgb(path, CONFIG.thumbnail_size, CONFIG.max_pixels)
    buffer = io.BytesIO()
    decoded.image.save(buffer, "JPEG", quality=CONFIG.thumbnail_quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def read(reader: TextReader, path: Path) -> tuple[str, int, bool, float]:
    """Whole text, line count, whether the first pass let it through, seconds."""
    settings = reader.settings
    started = time.perf_counter()
    gate = thumbnail(path) if settings.gate_side else None
    if gate is not None and not reader.has_text(gate):
        return "", 0, False, time.perf_counter() - started
    picture = np.asarray(load_upright_rgb(path, settings.crop_side, CONFIG.max_pixels).image)
    lines = reader.lines(picture)
    return whole_text(lines), len(lines), True, time.perf_counter() - started


def found_words(text: str, words: list[str]) -> int:
    folded = text.casefold()
    return sum(1 for word in words if word.strip(string.punctuation).casefold() in folded)


def measure(
    name: str,
    settings: TextSettings,
    labels: list[dict],
    folder: Path,
    others: list[Path],
    turned: list[Path],
):
    reader = TextReader(settings)
    words = hits = passed_text = passed_none = passed_other = 0
    spurious: list[int] = []
    text_seconds: list[float] = []
    other_seconds: list[float] = []
    misses: list[str] = []
    for entry in labels:
        text, lines, passed, seconds = read(reader, folder / entry["file"])
        if entry["has_text"]:
            found = found_words(text, entry["words"])
            words += len(entry["words"])
            hits += found
            passed_text += passed
            text_seconds.append(seconds)
            misses += [w for w in entry["words"] if found_words(text, [w]) == 0]
        else:
            spurious.append(lines)
            passed_none += passed
            other_seconds.append(seconds)
    for path in others:
        _text, _lines, passed, seconds = read(reader, path)
        passed_other += passed
        other_seconds.append(seconds)
    with_text = sum(e["has_text"] for e in labels)
    print(
        f"{name:42} recall {hits}/{words} = {hits / max(1, words):.1%}"
        f"  spurious lines {sum(spurious)} (max {max(spurious, default=0)}/photo)"
        f"  gate passed: text {passed_text}/{with_text}, no-text {passed_none}/{len(spurious)},"
        f" images {passed_other}/{len(others)}"
        f"  ms/photo: text {1000 * np.mean(text_seconds):.0f},"
        f" others {1000 * np.mean(other_seconds):.0f}"
    )
    print(f"    missed: {' '.join(misses)}")
    if turned:
        found, listed = turned_words(reader, turned)
        print(f"    turned: {found}/{listed} words")
    sys.stdout.flush()


def turned_words(reader: TextReader, pictures: list[Path]) -> tuple[int, int]:
    """Words found on the orientation samples: each shows top, left, right, bottom and the
    digit of its EXIF orientation (the last character of its name) when upright."""
    found = listed = 0
    for path in pictures:
        text, _lines, _passed, _seconds = read(reader, path)
        words = set(text.casefold().replace(".", " ").split())
        expected = {"top", "left", "right", "bottom", path.stem[-1]}
        found += len(expected & words)
        listed += len(expected)
    return found, listed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--only", help="comma-separated alternative names (substrings)")
    args = parser.parse_args()
    folder = args.corpus / "text"
    labels = json.loads((folder / "labels.json").read_text())
    others = sorted(
        p for p in (args.corpus / "images").rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES
    )
    readable = []
    for path in others:  # the corpus holds broken files on purpose: leave those out
        try:
            load_upright_rgb(path, 64, CONFIG.max_pixels)
            readable.append(path)
        except Exception:
            continue
    turned = sorted((args.corpus / "images/exif-samples/jpg/orientation").glob("*.jpg"))
    print(f"{len(labels)} labelled pictures, {len(readable)} camera photos of images/; one thread")
    for name, settings in ALTERNATIVES.items():
        if args.only and not any(part in name for part in args.only.split(",")):
            continue
        measure(name, settings, labels, folder, readable, turned)


if __name__ == "__main__":
    main()
