"""`photoanalyze serve` over a catalog of synthetic embeddings (benchmarks/search.py writes
it: random unit vectors, no images): the time of a search through HTTP, as the page asks it.

    python benchmarks/serve_query.py [--photos 100000] [--repeat 20] [--keep DIR]

The server is the real command in its own process (`photoanalyze serve --port 0`), with
random CLIP weights (real ones cannot be downloaded here; the text tower's speed is the
same). Measured from this process, request sent to page read, top 20:
(a) the first text query (builds the text tower, maps the matrix), once;
(b) a new text each time (never in the text-embedding cache: the text tower runs);
(c) a text already asked (the cache answers);
(d) "more like this" (a stored embedding: no model);
(e) a new text with a kind and a scene filter (every photo passes both: the filters cost
    their SQL over all 100,000 files);
(f) a filter alone, no query (browsing: the files that pass, by date, the first page)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))
from search import write_catalog  # benchmarks/ is no package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep, args.photos, args.repeat)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), args.photos, args.repeat)


def run(folder: Path, photos: int, repeat: int) -> None:
    db, written = folder / "catalog.db", folder / f"written-{photos}"
    if not written.exists():  # a --keep folder is reused once its catalog is complete
        db.unlink(missing_ok=True)
        started = time.perf_counter()
        write_catalog(db, folder / "library", photos)
        written.touch()
        print(f"{photos:,} embeddings written in {time.perf_counter() - started:.1f} s")
    config = folder / "random.yaml"
    config.write_text(f"ml:\n  models_dir: {folder / 'models'}\n  clip:\n    pretrained: random\n")
    command = [sys.executable, "-m", "photoanalyzer", "serve", "--db", str(db),
               "--config", str(config), "--port", "0"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base = server.stdout.readline().strip().rstrip("/")
        results = measure(base, repeat, photos)
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["photos"] = photos
    print(json.dumps(results, indent=2))


def measure(base: str, repeat: int, photos: int) -> dict:
    def timed(**params) -> float:
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base}/?{urlencode({'top': 20, **params})}") as answer:
            page = answer.read()
        seconds = time.perf_counter() - started
        assert answer.status == 200 and page.count(b'class="tile"') == 20, answer.status
        return seconds

    results = {"a_first_text_query_ms": round(timed(q="warm up the server") * 1000, 1)}
    results["b_new_text_ms"] = spread([timed(q=f"a new text number {k}") for k in range(repeat)])
    results["c_cached_text_ms"] = spread([timed(q="a new text number 0") for _ in range(repeat)])
    results["d_more_like_this_ms"] = spread(
        [timed(like=1 + k * 7919 % photos) for k in range(repeat)]
    )
    filtered = [timed(q=f"filtered text {k}", kind="photo", scene="a beach") for k in range(repeat)]
    results["e_new_text_with_filters_ms"] = spread(filtered)
    browsed = [timed(kind="photo", sort="date" if k % 2 else "") for k in range(repeat)]
    results["f_filter_alone_ms"] = spread(browsed)
    return results


def spread(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "median": round(statistics.median(ms), 1),
        "p90": round(ms[int(0.9 * (len(ms) - 1))], 1),
        "min": round(ms[0], 1),
        "max": round(ms[-1], 1),
    }


if __name__ == "__main__":
    main()
