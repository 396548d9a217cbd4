"""Faces-phase rate on the 12 MP camera roll, alternating with the content phase.

    python benchmarks/faces_speed.py [--count 60] [--with-people 0.33] [--repeat 3]
                                     [--no-thumbnails]

The camera roll is synthetic_library's 12 MP photo-like JPEGs; a share of them get a real
photo of people from the face corpus (../shared/corpus/faces, single and group photos) pasted
in at 1600 px, so they hold real faces at the sizes a phone photo of people has. Each repeat
runs, on fresh catalogs with one worker process per core: the content phase on the whole
roll, the faces phase on the whole roll (the whole-phase rate), then the faces phase on the
photos without people and on those with people alone, which give the cost per photo without
faces and, from the difference, per face.

Each figure is given twice: wall time (what the phase took, depressed when other jobs share
the cores) and CPU time (user + system of this process and its worker processes, from
`resource.getrusage`), from which `2 / CPU seconds a photo` estimates the rate on 2 quiet
cores (the phase keeps both busy: one worker process per core). The metadata phase runs
first in a run of its own, so that neither figure includes it; before each faces run the
content phase runs there too (uncounted), as in a full run: the faces phase's first look
reads its thumbnails. `--no-thumbnails` leaves it out, which measures the faces phase's
fallback (every original decoded)."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from PIL import Image

from photoanalyzer.analysis.faces import save_hog_detector
from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.phases import PhaseContext, build_phases
from photoanalyzer.run import pipeline
from synthetic_library import write_camera_roll

REPO = Path(__file__).resolve().parents[1]


def add_people(paths: list[Path], corpus: Path, share: float, seed: int = 0) -> list[Path]:
    """Paste corpus photos with people into `share` of the photos; returns those photos."""
    labels = json.loads((corpus / "labels.json").read_text())
    sources = [corpus / x["file"] for x in labels if x["category"] != "no_person"]
    rng = random.Random(seed)
    chosen = paths[: round(len(paths) * share)]
    for path in chosen:
        people = Image.open(rng.choice(sources)).convert("RGB")
        people.thumbnail((1600, 1600))
        if max(people.size) < 1600:
            scale = 1600 / max(people.size)
            people = people.resize((round(people.width * scale), round(people.height * scale)))
        with Image.open(path) as photo:
            exif = photo.info.get("exif", b"")
            photo = photo.convert("RGB")
            photo.paste(people, (rng.randrange(0, 2000), rng.randrange(0, 1000)))
            photo.save(path, quality=92, exif=exif)
    return chosen


def cpu_seconds() -> float:
    """User + system time of this process and of its finished worker processes."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def phase_run(library: Path, name: str, workdir: Path, tag: str, first: tuple[str, ...]):
    """(photos/s of wall time, wall s a photo, CPU s a photo, faces stored) of one phase on
    a fresh catalog, after a run of the `first` phases that is not counted (metadata; for
    the faces phase also content, whose thumbnails its first look reads)."""
    config = load_config()
    context = PhaseContext(config, workdir / f"thumbs-{tag}", workdir / "models", False)
    catalog = Catalog(workdir / f"{tag}.db")
    try:
        pipeline.run([str(library)], build_phases(first, context), catalog, config)
        cpu = cpu_seconds()
        report = pipeline.run([str(library)], build_phases((name,), context), catalog, config)
        cpu = cpu_seconds() - cpu  # the pool's workers have ended: their time is counted
        faces = catalog.people.counts()["faces"] if name == "faces" else 0
    finally:
        catalog.close()
    result = report.phases[-1]
    assert result.errors == 0 and not result.failure, (result.error_samples, result.failure)
    count = result.processed
    return count / result.seconds, result.seconds / count, cpu / count, faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--with-people", type=float, default=0.33)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/corpus/faces")
    parser.add_argument(
        "--no-thumbnails",
        action="store_true",
        help="the faces phase without the content phase's thumbnails (its fallback path)",
    )
    args = parser.parse_args()
    rates: dict[str, list[float]] = {
        key: [] for key in ("content", "faces", "content_cpu", "faces_cpu", "none_ms", "face_ms")
    }
    rates |= {"none_cpu_ms": [], "face_cpu_ms": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        roll = workdir / "roll"
        print(f"generating {args.count} 12 MP photos ...", file=sys.stderr)
        paths = sorted(write_camera_roll(roll, args.count))
        people = set(add_people(paths, args.corpus, args.with_people))
        with_people, without = workdir / "with", workdir / "without"
        for folder, group in ((with_people, people), (without, set(paths) - people)):
            folder.mkdir()
            for path in group:
                os.link(path, folder / path.name)
        # Once per models folder, not per run (FacesPhase.check_available): kept out of the count.
        save_hog_detector(workdir / "models")
        first = ("metadata",) if args.no_thumbnails else ("metadata", "content")
        for run in range(args.repeat):  # alternating, so drift hits both phases alike
            for name in ("content", "faces"):
                before = ("metadata",) if name == "content" else first
                rate, _, cpu, _ = phase_run(roll, name, workdir, f"{name}{run}", before)
                rates[name].append(rate)
                rates[f"{name}_cpu"].append(cpu)
            _, none_s, none_cpu, _ = phase_run(without, "faces", workdir, f"n{run}", first)
            _, people_s, people_cpu, faces = phase_run(
                with_people, "faces", workdir, f"p{run}", first
            )
            share = len(people) / max(faces, 1)  # photos with people per face found in them
            rates["none_ms"].append(none_s * 1000)
            rates["face_ms"].append((people_s - none_s) * share * 1000)
            rates["none_cpu_ms"].append(none_cpu * 1000)
            rates["face_cpu_ms"].append((people_cpu - none_cpu) * share * 1000)
    median = {name: statistics.median(values) for name, values in rates.items()}
    workers = os.cpu_count()
    print(
        f"{args.count} 12 MP JPEGs, {len(people)} with people ({faces} faces); {workers} "
        f"worker processes; median of {args.repeat} alternating repeats"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for name in ("content", "faces"):
        cpu = median[f"{name}_cpu"]
        print(
            f"{name:7} phase: {median[name]:6.1f} photos/s wall; {cpu * 1000:6.1f} ms CPU a photo"
            f" = {2 / cpu:5.1f} photos/s on 2 quiet cores"
        )
    print(
        f"  a photo without faces: {median['none_ms']:6.1f} ms of phase time (wall), "
        f"{median['none_cpu_ms']:6.1f} ms CPU"
    )
    print(
        f"  each face on top     : {median['face_ms']:6.1f} ms of phase time (wall), "
        f"{median['face_cpu_ms']:6.1f} ms CPU"
    )


if __name__ == "__main__":
    main()
