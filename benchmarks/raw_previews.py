"""The content phase on camera RAW files: from their embedded previews against demosaicing,
in one run, alternating.

    python benchmarks/raw_previews.py [--count 12] [--repeat 3] [--size 4000x3000]

The RAW files are DNGs written by support.synthetic_raw (the shared corpus's RAWs have
their sensor data stripped): real 16-bit RGGB sensor data of --size, uncompressed, with a
1620x1080 JPEG preview (the size of a CR3's PRVW), and a twin set of the same sensor data with
no preview. Measured with one worker per core, the page cache warm:
  content, preview       pipeline.run with the content phase on the DNGs with a preview
  content, half-size     the same on the twins without one: the half_size demosaic fallback
  full demosaic          rawpy postprocess() (full size, default settings) + the thumbnail
                         resize, per file in a worker pool: what indexing RAWs without the
                         previews would cost at the least
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from content_throughput import content_rate  # the same measurement as for JPEGs
from photoanalyzer.config import load_config
from support.synthetic_raw import DngSpec, write_dng

THUMBNAIL_SIZE = load_config().content.thumbnail_size


def full_demosaic(path: str) -> tuple[int, int]:
    import rawpy
    from PIL import Image

    with rawpy.imread(path) as raw:
        rgb = raw.postprocess()
    image = Image.fromarray(rgb)
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.BOX)
    return image.size


def demosaic_rate(paths: list[str], workers: int) -> float:
    # forkserver, as the pipeline uses for RAW files: LibRaw's OpenMP hangs in forked workers
    # of a process where it ran.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(full_demosaic, paths[:workers]))  # start the workers before timing
        started = time.perf_counter()
        list(pool.map(full_demosaic, paths))
        return len(paths) / (time.perf_counter() - started)


def make_library(folder: Path, count: int, size: tuple[int, int], preview: bool) -> list[str]:
    spec = DngSpec(sensor_size=size, preview_size=(1620, 1080) if preview else None)
    return [str(write_dng(folder / f"IMG_{i:04}.dng", spec, seed=i)) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", default="4000x3000", help="sensor WIDTHxHEIGHT")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"writing 2 x {args.count} DNGs of {args.size} ...", file=sys.stderr)
        with_preview = make_library(workdir / "preview", args.count, size, preview=True)
        make_library(workdir / "bare", args.count, size, preview=False)
        mean_mb = sum(os.path.getsize(p) for p in with_preview) / len(with_preview) / 1e6
        rates: dict[str, list[float]] = {"preview": [], "half": [], "full": []}
        for run in range(args.repeat):  # alternate, so drift hits every measurement alike
            rates["preview"].append(content_rate(workdir / "preview", workdir, f"p{run}"))
            rates["half"].append(content_rate(workdir / "bare", workdir, f"h{run}"))
            rates["full"].append(demosaic_rate(with_preview, workers))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"{args.count} DNGs, sensor {args.size}, {mean_mb:.1f} MB each, preview 1620x1080; "
        f"{workers} worker processes; median of {args.repeat}"
    )
    print(f"content, preview     : {median['preview']:6.2f} files/s")
    print(
        f"content, half-size   : {median['half']:6.2f} files/s "
        f"(preview {median['preview'] / median['half']:.1f}x faster)"
    )
    print(
        f"full demosaic        : {median['full']:6.2f} files/s "
        f"(preview {median['preview'] / median['full']:.1f}x faster)"
    )


if __name__ == "__main__":
    main()
