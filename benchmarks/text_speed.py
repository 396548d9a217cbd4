"""Text phase speed, whole phase through the pipeline, on 2 kinds of libraries:

    python benchmarks/text_speed.py [--count 100] [--text-count 20] [--library DIR]

  camera roll   the synthetic 12 MP camera roll (benchmarks/synthetic_library.py, almost no
                text): metadata and content first (untimed, they make the thumbnails), then
                the text phase alone, timed; photos/s and ms per photo
  full of text  12 MP JPEGs of printed pages (lines of words drawn with DejaVu Sans), the
                same way: the rate where every photo goes through the full pass
Both report how many photos the first pass ended (run details), so the cost per photo with
and without text can be told apart. One thread per core (the phase's default)."""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.phases.text import TextPhase
from photoanalyzer.run import pipeline
from synthetic_library import write_camera_roll

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ("invoice", "total", "paid", "station", "platform", "train", "ticket", "receipt",
         "wifi", "password", "coffee")  # fmt: skip


def write_pages(out: Path, count: int) -> list[Path]:
    """12 MP photos of pages full of text."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    font = ImageFont.truetype(FONT, 60) if Path(FONT).exists() else ImageFont.load_default(60)
    paths = []
    for i in range(count):
        image = Image.new("RGB", (4000, 3000), (236, 232, 224))
        draw = ImageDraw.Draw(image)
        for row in range(30):
            line = " ".join(rng.choice(WORDS) for _ in range(10))
            draw.text((150, 100 + row * 92), line, fill=(20, 20, 20), font=font)
        path = out / f"PAGE_{i:04}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def text_rate(library: Path, workdir: Path, name: str) -> tuple[float, dict]:
    config = load_config()
    catalog = Catalog(workdir / f"{name}.db")
    thumbs = str(workdir / f"{name}-thumbs")
    try:
        before = [MetadataPhase(workers=0), ContentPhase(config.content, thumbs)]
        pipeline.run([str(library)], before, catalog, config)
        started, cpu = time.perf_counter(), _cpu_seconds()
        report = pipeline.run([str(library)], [TextPhase(config.content, thumbs)], catalog, config)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    finally:
        catalog.close()
    (result,) = report.phases
    assert result.errors == 0, result.error_samples
    counts = {k: result.details.get(k) for k in ("first_pass_only", "full_pass", "with_text")}
    cpu_ms = 1000 * cpu / max(1, result.processed)
    return result.processed / result.seconds, {
        # CPU time (user + sys of this process and its children) a photo: on a shared
        # machine the wall rate drops with the load, this much less; 2 quiet cores do
        # about 2000 / cpu_ms photos a second.
        "cpu_ms_per_photo": round(cpu_ms),
        "quiet_2_core_estimate_per_s": round(2000 / cpu_ms, 1),
        "phase_seconds": round(result.seconds, 1),
        "wall": round(seconds, 1),
        **counts,
    }


def _cpu_seconds() -> float:
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--text-count", type=int, default=20)
    parser.add_argument("--library", type=Path, help="a camera roll folder instead of generating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        roll = args.library
        if roll is None:
            roll = workdir / "roll"
            write_camera_roll(roll, args.count)
        rate, info = text_rate(roll, workdir, "roll")
        print(f"camera roll: {rate:.1f} photos/s ({1000 / rate:.0f} ms a photo per phase), {info}")
        pages = workdir / "pages"
        write_pages(pages, args.text_count)
        rate, info = text_rate(pages, workdir, "pages")
        print(f"full of text: {rate:.2f} photos/s ({1000 / rate:.0f} ms a photo), {info}")


if __name__ == "__main__":
    main()
