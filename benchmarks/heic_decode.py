"""Content-phase throughput on tiled phone HEIC beside pillow-heif's and FFmpeg's pure decode
limits on the same files and the same number of processes, in one run.

    python benchmarks/heic_decode.py [--copies 60] [--repeat 3] [--source FILE ...]
    python benchmarks/heic_decode.py --per-photo [--repeat 7] [--source FILE ...]

The sources (by default the corpus's iPhone XR and Nokia 8.3 photos, 512 px tiles) are copied
to `--copies` distinct files, alternating between them: each copy gets a top-level `free` box
with its number appended at the end of the file, which every HEIF reader skips, so the
pictures are the same and the files (size, tail bytes, fingerprint) are not.

Measured with one worker process per core, the page cache warm, alternating in each repeat:
  pillow-heif decode  Image.open + load (libde265, one decoder thread per process)
  FFmpeg decode       heif_decode's tile decode alone (PyAV's HEVC, one thread per process),
                      no colour conversion: the ceiling for the FFmpeg path
  content phase       pipeline.run with the content phase (decode, stitch, thumbnail,
                      signals, hashes, catalog writes); fresh catalog and thumbnails each time

--per-photo: per source, in this one process with one thread, the least of --repeat
alternated timings of the pillow-heif decode, the FFmpeg tile decode and the whole
load_upright_rgb through FFmpeg: the minimum survives a loaded machine better than rates do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.formats import heif_boxes
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.pixels import heic as heif_decode
from photoanalyzer.run import pipeline

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "images" / "exif-samples"
SOURCES = (CORPUS / "heic" / "IMG_5195.HEIC", CORPUS / "heic" / "mobile" / "HMD_Nokia_8.3_5G.heif")


def make_copies(sources: list[Path], count: int, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        source = sources[number % len(sources)]
        marker = f"photoanalyzer benchmark copy {number}".encode()
        path = folder / f"copy{number:03d}{source.suffix}"
        path.write_bytes(
            source.read_bytes() + struct.pack(">I4s", 8 + len(marker), b"free") + marker
        )
        paths.append(str(path))
    return paths


def pillow_heif_decode(path: str) -> tuple[int, int]:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    pillow_heif.options.DECODE_THREADS = 1  # one process per core: threads would oversubscribe
    with Image.open(path) as image:
        image.load()
        return image.size


def ffmpeg_decode(path: str) -> tuple[int, int]:
    with open(path, "rb") as fh:
        layout = heif_boxes.read_layout(fh)
        payloads = [heif_boxes.item_bytes(fh, tile, b"") for tile in layout.tiles]
    frames = heif_decode._decode_tiles(layout.tiles[0].properties["hvcC"], payloads, 1)
    assert len(frames) == len(payloads)
    return layout.output_size


def rate_of(function, paths: list[str], workers: int) -> float:
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(function, paths[:workers]))  # start the workers before timing
        started = time.perf_counter()
        list(pool.map(function, paths, chunksize=2))
        return len(paths) / (time.perf_counter() - started)


def content_rate(library: Path, workdir: Path, run: int) -> tuple[float, Counter]:
    config = load_config()
    catalog = Catalog(workdir / f"content{run}.db")
    phase = ContentPhase(config.content, str(workdir / f"thumbs{run}"))
    try:
        report = pipeline.run([str(library)], [phase], catalog, config)
        decoders = Counter(row["decoder"] for row in catalog.queries.export_rows())
    finally:
        catalog.close()
    (result,) = report.phases
    assert result.errors == 0, result.error_samples
    return result.processed / result.seconds, decoders


def per_photo(sources: list[Path], repeat: int) -> None:
    from photoanalyzer.pixels.load import load_upright_rgb

    def whole(path: str) -> None:
        load_upright_rgb(path, load_config().content.thumbnail_size, 10**9, 1)

    steps = {"pillow-heif": pillow_heif_decode, "ffmpeg": ffmpeg_decode, "whole": whole}
    for source in sources:
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(repeat):
            for name, step in steps.items():
                started = time.perf_counter()
                step(str(source))
                times[name].append(time.perf_counter() - started)
        best = {name: f"{1000 * min(values):.0f} ms" for name, values in times.items()}
        print(
            f"{source.name}: pillow-heif decode {best['pillow-heif']}, FFmpeg tile decode "
            f"{best['ffmpeg']}, load_upright_rgb via FFmpeg {best['whole']}"
        )
    print(f"load average: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", type=Path, action="append", help="HEIC files to copy")
    parser.add_argument("--per-photo", action="store_true", help="one-process timings instead")
    args = parser.parse_args()
    sources = args.source or list(SOURCES)
    if args.per_photo:
        per_photo(sources, args.repeat)
        return
    workers = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        library = workdir / "roll"
        paths = make_copies(sources, args.copies, library)
        mean_mb = sum(os.path.getsize(p) for p in paths) / len(paths) / 1e6
        rates: dict[str, list[float]] = {"pillow-heif": [], "ffmpeg": [], "content": []}
        decoders: Counter = Counter()
        for run in range(args.repeat):  # alternate, so drift hits every measurement alike
            rates["pillow-heif"].append(rate_of(pillow_heif_decode, paths, workers))
            rates["ffmpeg"].append(rate_of(ffmpeg_decode, paths, workers))
            rate, decoders = content_rate(library, workdir, run)
            rates["content"].append(rate)
            print(f"repeat {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()))
    median = {name: statistics.median(values) for name, values in rates.items()}
    names = ", ".join(source.name for source in sources)
    print(
        f"{len(paths)} HEIC copies of {names}, {mean_mb:.2f} MB each on average; "
        f"{workers} worker processes; median of {args.repeat}; load average before: "
        f"{load_before:.2f}, after: {os.getloadavg()[0]:.2f}"
    )
    print(f"pillow-heif decode (libde265): {median['pillow-heif']:6.1f} images/s")
    print(f"FFmpeg HEVC decode           : {median['ffmpeg']:6.1f} images/s")
    print(
        f"content phase                : {median['content']:6.1f} images/s "
        f"({median['content'] / median['ffmpeg']:.0%} of the FFmpeg decode limit, "
        f"{median['content'] / median['pillow-heif']:.0%} of pillow-heif's)"
    )
    print(f"decoders recorded: {dict(decoders)}")


if __name__ == "__main__":
    main()
