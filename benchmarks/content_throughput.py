"""Content-phase throughput on 12 MP JPEGs beside the machine's decode limits, in one run.

    python benchmarks/content_throughput.py [--count 120] [--repeat 3] [--library DIR]

Measured with one worker process per core, the page cache warm, the same files each time:
  full decode       Image.open + load: what decoding without draft costs
  reduced decode    Image.open + draft at the scale the content phase asks for + load: the
                    ceiling for any phase that must look at every pixel block
  content phase     pipeline.run with the content phase (decode, thumbnail, signals, hashes,
                    catalog writes); fresh catalog and thumbnail folder each repeat
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.pixels.geometry import draft_size
from photoanalyzer.run import pipeline
from synthetic_library import write_camera_roll

THUMBNAIL_SIZE = load_config().content.thumbnail_size


def full_decode(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


def reduced_decode(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        image.draft("RGB", draft_size(*image.size, THUMBNAIL_SIZE))
        image.load()
        return image.size


def rate_of(function, paths: list[str], workers: int) -> tuple[float, tuple[int, int]]:
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(function, paths[:workers]))  # start the workers before timing
        started = time.perf_counter()
        sizes = list(pool.map(function, paths, chunksize=4))
        return len(paths) / (time.perf_counter() - started), sizes[0]


def content_rate(library: Path, workdir: Path, run: int) -> float:
    config = load_config()
    catalog = Catalog(workdir / f"content{run}.db")
    phase = ContentPhase(config.content, str(workdir / f"thumbs{run}"))
    try:
        report = pipeline.run([str(library)], [phase], catalog, config)
    finally:
        catalog.close()
    (result,) = report.phases
    assert result.errors == 0, result.error_samples
    return result.processed / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--library", type=Path, help="a folder of JPEGs instead of generating")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        library = args.library
        if library is None:
            library = workdir / "roll"
            print(f"generating {args.count} 12 MP photos ...", file=sys.stderr)
            write_camera_roll(library, args.count)
        paths = sorted(str(p) for p in library.rglob("*.jpg"))
        mean_mb = sum(os.path.getsize(p) for p in paths) / len(paths) / 1e6
        rates: dict[str, list[float]] = {"full": [], "reduced": [], "content": []}
        for run in range(args.repeat):  # alternate, so drift hits every measurement alike
            full, size = rate_of(full_decode, paths, workers)
            reduced, drafted = rate_of(reduced_decode, paths, workers)
            rates["full"].append(full)
            rates["reduced"].append(reduced)
            rates["content"].append(content_rate(library, workdir, run))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"{len(paths)} JPEGs, {size[0]}x{size[1]}, {mean_mb:.1f} MB each on average; "
        f"{workers} worker processes; median of {args.repeat}"
    )
    print(f"full decode            : {median['full']:6.1f} images/s")
    print(f"reduced decode (-> {drafted[0]}x{drafted[1]}): {median['reduced']:6.1f} images/s")
    print(
        f"content phase          : {median['content']:6.1f} images/s "
        f"({median['content'] / median['reduced']:.0%} of the reduced-decode limit)"
    )


if __name__ == "__main__":
    main()
