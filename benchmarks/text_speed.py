"""Text phase speed, whole phase through the pipeline, on 2 kinds of libraries:

    python benchmarks/text_speed.py [--count 100] [--text-count 20] [--rounds 2] [--library DIR]

  camera roll   the synthetic 12 MP camera roll (benchmarks/synthetic_library.py, almost no
                text): per round a fresh catalog, metadata (untimed), then the content phase
                and the text phase, each timed: the two alternate, so a load that comes and
                goes on a shared machine hits both, and text/content is a steadier figure
                than either rate
  full of text  12 MP JPEGs of printed pages (lines of words drawn with DejaVu Sans): the
                rate where every photo goes through the full pass (content untimed)
Each reports wall photos/s, CPU ms a photo (user + sys of this process and its children) and
2000 / that as the estimate for 2 quiet cores, and how many photos the first pass ended. One
thread per core (the phases' default). --stub-reader replaces the text reader with one that
finds nothing (no model loaded): what the phase costs apart from the detector."""

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
from photoanalyzer.phases import text as text_phase
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


class _StubReader:
    """Finds no text and loads nothing: the phase's cost apart from the models."""

    def __init__(self, settings, threads: int = 1):
        self.settings = settings

    def has_text(self, rgb) -> bool:
        return False

    def lines(self, rgb) -> list:
        return []


def rates(
    library: Path, workdir: Path, name: str, time_content: bool, original: bool = False
) -> dict[str, dict]:
    """A fresh catalog: metadata (untimed), content (timed when `time_content`), text (with
    the detector rewritten into a models folder, as a run has it, or the `original` graph)."""
    config = load_config()
    catalog = Catalog(workdir / f"{name}.db")
    thumbs = str(workdir / f"{name}-thumbs")
    found = {}
    try:
        pipeline.run([str(library)], [MetadataPhase(workers=0)], catalog, config)
        content = ContentPhase(config.content, thumbs)
        if time_content:
            found["content"] = _timed(library, content, catalog, config)
        else:
            pipeline.run([str(library)], [content], catalog, config)
        models = None if original else str(workdir / "models")  # rewritten on the first use
        text = TextPhase(config.content, thumbs, models_dir=models)
        found["text" + (" (original detector)" if original else "")] = _timed(
            library, text, catalog, config
        )
    finally:
        catalog.close()
    return found


def _timed(library: Path, phase, catalog: Catalog, config) -> dict:
    started, cpu = time.perf_counter(), _cpu_seconds()
    report = pipeline.run([str(library)], [phase], catalog, config)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    (result,) = report.phases
    assert result.errors == 0, result.error_samples
    cpu_ms = 1000 * cpu / max(1, result.processed)
    counts = {k: result.details[k] for k in ("first_pass_only", "full_pass") if k in result.details}
    return {
        "photos_per_s": round(result.processed / result.seconds, 2),
        # On a shared machine the wall rate drops with the load, the CPU time much less.
        "cpu_ms_per_photo": round(cpu_ms),
        "quiet_2_core_estimate_per_s": round(2000 / cpu_ms, 1),
        "wall_s": round(seconds, 1),
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
    parser.add_argument("--rounds", type=int, default=2, help="camera-roll rounds")
    parser.add_argument("--library", type=Path, help="a camera roll folder instead of generating")
    parser.add_argument("--stub-reader", action="store_true", help="a reader that finds nothing")
    parser.add_argument(
        "--compare-original",
        action="store_true",
        help="each round also times the text phase with rapidocr's original detector graph",
    )
    args = parser.parse_args()
    if args.stub_reader:
        text_phase.TextReader = _StubReader  # the phase looks the class up per worker thread
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        roll = args.library
        if roll is None:
            roll = workdir / "roll"
            write_camera_roll(roll, args.count)
        # The rewritten detector is made once per models folder (about 1 s, in a user's first
        # run): made here, before any timing.
        started = time.perf_counter()
        made = TextPhase(load_config().content, "", models_dir=str(workdir / "models"))._detector()
        print(f"detector: {made.note} in {time.perf_counter() - started:.1f} s", flush=True)
        for round_ in range(args.rounds):
            found = rates(roll, workdir, f"roll{round_}", time_content=True)
            if args.compare_original:
                found |= rates(roll, workdir, f"orig{round_}", time_content=False, original=True)
            for phase, info in found.items():
                print(f"camera roll, round {round_ + 1}, {phase}: {info}", flush=True)
        pages = workdir / "pages"
        write_pages(pages, args.text_count)
        print(f"full of text, text: {rates(pages, workdir, 'pages', False)['text']}")


if __name__ == "__main__":
    main()
