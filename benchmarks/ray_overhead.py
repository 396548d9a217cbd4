"""The Ray engine's overhead against the local engine on one machine: the same library
indexed from scratch by each, in alternating pairs (the machine may be shared: alternation
spreads other load over both).

    python benchmarks/ray_overhead.py WORKDIR [--count 200] [--pairs 2] [--phases metadata,content]

WORKDIR/library is made once (12 MP camera-roll JPEGs, benchmarks/synthetic_library.py) and
reused. Ray is started once (a local instance with every core), and its start-up is reported
apart from the runs: a real cluster is started once for many runs."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from photoanalyzer.config import load_config
from photoanalyzer.phases import PhaseContext, build_phases
from photoanalyzer.run import pipeline
from photoanalyzer.run.local import LocalEngine
from synthetic_library import write_camera_roll


def one_run(library: Path, work: Path, engine, names: tuple[str, ...]) -> dict[str, float]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    config = load_config()
    context = PhaseContext(config, work / "thumbnails", work / "models")
    phases = build_phases(names, context)
    started = time.perf_counter()
    report = pipeline.index([str(library)], phases, config, work / "c.db", engine=engine)
    total = time.perf_counter() - started
    assert all(p.processed == report.sync.seen and not p.failure for p in report.phases)
    return {"total": total, **{p.name: p.seconds for p in report.phases}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--phases", default="metadata,content")
    args = parser.parse_args()
    library = args.workdir / "library"
    if len(list(library.rglob("*.jpg"))) != args.count:
        shutil.rmtree(library, ignore_errors=True)
        write_camera_roll(library, args.count, 0)
    names = tuple(args.phases.split(","))

    import ray

    from photoanalyzer.run.ray_engine import RayEngine

    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    ray_engine = RayEngine(load_config().ray)
    print(f"Ray start-up {time.perf_counter() - started:.2f} s, cluster {ray_engine.cluster}")
    results: dict[str, list[dict]] = {"local": [], "ray": []}
    for pair in range(args.pairs):
        for name, engine in (("local", LocalEngine()), ("ray", ray_engine)):
            timing = one_run(library, args.workdir / name, engine, names)
            results[name].append(timing)
            shown = ", ".join(f"{k} {v:.2f} s" for k, v in timing.items())
            print(f"pair {pair + 1} {name:<5}: {shown}", flush=True)
    ray.shutdown()
    local = sum(t["total"] for t in results["local"]) / args.pairs
    remote = sum(t["total"] for t in results["ray"]) / args.pairs
    print(
        f"{args.count} photos, phases {args.phases}: local {local:.2f} s, ray {remote:.2f} s, "
        f"ray/local {remote / local:.2f}"
    )


if __name__ == "__main__":
    main()
