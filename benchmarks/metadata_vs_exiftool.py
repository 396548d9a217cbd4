"""Metadata phase against `exiftool -j -fast2 -r` on the same files, in one run.

    python benchmarks/metadata_vs_exiftool.py [--count 2000] [--repeat 3] [--library DIR]

Both are timed as whole processes (start-up included) on a warm page cache; photoanalyze
writes a fresh catalog each time. The library is generated in a temporary folder unless
--library is given; the shared corpus's readable photos are copied in for real camera EXIF."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic_library import write_library

REPO = Path(__file__).resolve().parents[1]
CORPUS_IMAGES = REPO.parent / "shared" / "corpus" / "images" / "exif-samples"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def count_photos(root: Path) -> int:
    return sum(
        1
        for p in root.rglob("*")
        if p.suffix.lower() in {".jpg", ".jpeg", ".tif", ".tiff", ".heic", ".heif"}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="generated photos")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--library", type=Path, help="use this folder instead of generating")
    args = parser.parse_args()
    if not shutil.which("exiftool"):
        sys.exit("exiftool not found: apt-get install libimage-exiftool-perl")
    photoanalyze = str(Path(sys.executable).with_name("photoanalyze"))
    with tempfile.TemporaryDirectory() as tmp:
        library = args.library
        if library is None:
            library = Path(tmp) / "library"
            write_library(library, args.count)
            if CORPUS_IMAGES.is_dir():
                shutil.copytree(CORPUS_IMAGES, library / "corpus")
        files = count_photos(library)
        exiftool = ["exiftool", "-j", "-fast2", "-r", str(library)]
        timed(exiftool)  # warm the page cache for both
        exiftool_s, ours_s = [], []
        for i in range(args.repeat):
            exiftool_s.append(timed(exiftool))
            db = Path(tmp) / f"run{i}.db"
            ours_s.append(
                timed(
                    [
                        photoanalyze,
                        "run",
                        str(library),
                        "--db",
                        str(db),
                        "--phases",
                        "metadata",
                        "--quiet",
                    ]
                )
            )
    exiftool_median, ours_median = statistics.median(exiftool_s), statistics.median(ours_s)
    exiftool_rate, ours_rate = files / exiftool_median, files / ours_median
    print(f"files: {files}; cores: {os.cpu_count()}; repeats: {args.repeat} (median)")
    print(f"exiftool -j -fast2 -r : {exiftool_median:6.2f} s  {exiftool_rate:7.0f} files/s")
    print(f"photoanalyze metadata : {ours_median:6.2f} s  {ours_rate:7.0f} files/s")
    print(f"speed-up              : {ours_rate / exiftool_rate:.1f}x")


if __name__ == "__main__":
    main()
