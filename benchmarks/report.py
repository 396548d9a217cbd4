"""`photoanalyze report` over a catalog of synthetic rows (written through the catalog, no
images): generation time as a whole process, the largest page, and the re-render of an
unchanged catalog, linked and with --portable.

    python benchmarks/report.py [--photos 100000] [--videos 500] [--groups 2000] [--keep DIR]

The catalog holds `photos` photos (capture times over ten years, 12 cameras, 20 scenes, 12
object classes, 6% blurry, 3% too dark, 2% washed out, 1% with a content error, `groups`
planted near-duplicate groups of 2 to 5 copies) and `videos` videos of 3 frames each. Every
thumbnail is a hard link to a small JPEG (placeholder thumbnails: the report never reads
them, it links or copies them). Target: under 30 s, no page over 5 MB."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from photoanalyzer.catalog import Catalog, ResultRow
from photoanalyzer.catalog.files import FileFacts, SyncChanges, SyncCounts
from photoanalyzer.config import thumbnail_dir_beside

BATCH = 10_000
LINKS = 50_000  # hard links per placeholder file (ext4 allows 65,000)
SCENES = [f"scene number {i}" for i in range(20)]
OBJECTS = ["person", "dog", "cat", "car", "bicycle", "cup", "chair", "tree", "boat", "bird"]
OBJECTS += ["bottle", "book"]
CAMERAS = [("Maker", f"Model {i}") for i in range(12)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--videos", type=int, default=500)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep, args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), args)


def run(folder: Path, args) -> None:
    db = folder / "catalog.db"
    started = time.perf_counter()
    write_catalog(db, folder / "library", args.photos, args.videos, args.groups)
    print(f"catalog written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    command = [sys.executable, "-m", "photoanalyzer", "report", "--db", str(db)]
    results = {"photos": args.photos, "videos": args.videos, "planted_groups": args.groups}
    results["first_s"] = timed(command)
    results["unchanged_s"] = timed(command)
    pages = list((folder / f"{db.name}-report").glob("*.html"))
    results["pages"] = len(pages)
    results["largest_page_mb"] = round(max(p.stat().st_size for p in pages) / 2**20, 2)
    results["largest_page"] = max(pages, key=lambda p: p.stat().st_size).name
    results["all_pages_mb"] = round(sum(p.stat().st_size for p in pages) / 2**20, 1)
    portable = [*command, "--out", str(folder / "portable"), "--portable"]
    results["portable_first_s"] = timed(portable)
    results["portable_unchanged_s"] = timed(portable)
    print(json.dumps(results, indent=2))


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return round(time.perf_counter() - started, 2)


def write_catalog(db: Path, library: Path, photos: int, videos: int, groups: int) -> None:
    rng = np.random.default_rng(0)
    paths = [str(library / f"{i // 1000:04d}" / f"IMG_{i:07d}.jpg") for i in range(photos)]
    paths += [str(library / "videos" / f"VID_{i:05d}.mp4") for i in range(videos)]
    kinds = ["photo"] * photos + ["video"] * videos
    thumbnails = thumbnail_dir_beside(db)
    thumbnails.mkdir(parents=True, exist_ok=True)
    placeholder = Image.new("RGB", (160, 120), (120, 140, 160))
    hashes = planted_hashes(rng, len(paths), groups)
    catalog = Catalog(db)
    try:
        run_id = catalog.runs.start([str(library)], ["metadata", "content", "ml"])
        new = [
            (FileFacts(p, 2_000_000 + i, 1, kind), f"fp{i}")
            for i, (p, kind) in enumerate(zip(paths, kinds, strict=True))
        ]
        counts = SyncCounts(len(paths), len(paths), 0, 0)
        catalog.files.apply_sync(run_id, SyncChanges(counts, new), 0.0)
        ids = catalog.files.known_under([str(library)])
        columns = {phase: catalog.results.columns(phase) for phase in ("metadata", "content")}
        for start in range(0, len(paths), BATCH):
            chunk = range(start, min(start + BATCH, len(paths)))
            rows = {"metadata": [], "content": [], "ml": []}
            for i in chunk:
                file_id, video = ids[paths[i]].file_id, kinds[i] == "video"
                rows["metadata"].append(ResultRow(file_id, metadata(i, columns, video), None))
                if i % 100 == 7:  # 1%: a content error
                    rows["content"].append(ResultRow(file_id, None, f"cannot decode ({i % 3})"))
                    continue
                key = f"{i % 256:02x}/{i:07d}.jpg"
                link = thumbnails / key
                link.parent.mkdir(exist_ok=True)
                if not link.exists():  # a file system allows so many links to one file
                    source = thumbnails / f"placeholder-{i // LINKS}.jpg"
                    if not source.exists():
                        placeholder.save(source, quality=70)
                    os.link(source, link)
                record = content(i, columns, key, int(hashes[i]))
                if video:
                    record["frames"] = [
                        {"frame": n, "timestamp": 5.0 + 10 * n, **content_frame(record, key)}
                        for n in range(3)
                    ]
                rows["content"].append(ResultRow(file_id, record, None))
                rows["ml"].append(ResultRow(file_id, ml(i, rng), None))
            for phase, phase_rows in rows.items():
                catalog.results.save(run_id, phase, f"{phase}-bench", phase_rows)
        catalog.runs.finish(run_id, "completed")
    finally:
        catalog.close()


def planted_hashes(rng, n: int, groups: int) -> np.ndarray:
    """Random 64-bit hashes; the first `groups` * 5 files in groups of 2 to 5 copies within a
    few bits of each other."""
    hashes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    index = 0
    for _ in range(groups):
        size = int(rng.integers(2, 6))
        for k in range(1, size):
            hashes[index + k] = hashes[index] ^ np.uint64(1 << int(rng.integers(0, 64)))
        index += size
    return hashes


def metadata(i: int, columns: dict, video: bool) -> dict:
    record = dict.fromkeys(columns["metadata"])
    make, model = CAMERAS[i % len(CAMERAS)]
    year, month = 2015 + i % 10, 1 + (i // 10) % 12
    record.update(
        file_type="MP4" if video else "JPEG",
        width=4000 - (i % 5) * 500,
        height=3000 - (i % 5) * 375,
        taken_at=f"{year}-{month:02d}-{1 + i % 28:02d}T12:00:00",
        make=make,
        model=model,
        lens=f"Lens {i % 7}",
        duration=30.0 if video else None,
        video_codec="h264" if video else None,
    )
    return record


def content(i: int, columns: dict, key: str, phash: int) -> dict:
    record = dict.fromkeys(columns["content"])
    blurry, dark, washed = i % 100 < 6, 20 <= i % 100 < 23, 40 <= i % 100 < 42
    record.update(
        thumbnail=key,
        sharpness=float(20 + i % 50 if blurry else 200 + i % 3000),
        blurry=blurry,
        brightness=float(10 + i % 20 if dark else 245 if washed else 120),
        highlights_clipped=0.3 + (i % 50) / 100 if washed else 0.0,
        shadows_crushed=0.5 if dark else 0.0,
        underexposed=dark,
        overexposed=washed,
        phash=f"{phash:016x}",
    )
    return record


def content_frame(record: dict, key: str) -> dict:
    return {
        "thumbnail": key,
        "sharpness": record["sharpness"],
        "brightness": record["brightness"],
        "colorfulness": None,
        "phash": record["phash"],
    }


def ml(i: int, rng) -> dict:
    scene = SCENES[i % len(SCENES)]
    found = [OBJECTS[(i + k) % len(OBJECTS)] for k in range(i % 3)]
    return {
        "top_scene": scene,
        "scenes": [[scene, round(0.2 + float(rng.random()) * 0.7, 4)]],
        "objects": [
            {"class": label, "confidence": round(float(rng.random()), 4), "box": [0, 0, 9, 9]}
            for label in found
        ],
        "object_counts": {label: 1 for label in found},
        "ml_random_weights": False,
        "embedding": None,
    }


if __name__ == "__main__":
    main()
