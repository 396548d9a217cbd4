"""Unchanged rescans of one library by several source trees, alternated, whole process.

    python benchmarks/rescan_compare.py --library DIR --tree after=src:after.db \
        --tree before=/path/to/old/src:before.db [--repeat 10] [--phases metadata,content]

Each tree is NAME=PYTHONPATH:CATALOG (PYTHONPATH may hold several folders joined by '+', for
example a folder with another typer first). Run each tree once on the library beforehand so
that its catalog is complete. The machine's speed drifts by a third from hour to hour, and
other work on it inflates wall time: the trees are alternated, and each run's CPU time
(user + system of the process and its children) is reported beside its wall time, since CPU
time is what another process on the machine disturbs least."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def rescan(pythonpath: str, catalog: str, library: str, phases: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `photoanalyze run` of `library` into `catalog`."""
    env = dict(os.environ, PYTHONPATH=pythonpath.replace("+", os.pathsep))
    command = [sys.executable, "-m", "photoanalyzer", "run", library, "--db", catalog]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([*command, "--phases", phases, "--quiet"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--tree", action="append", required=True, help="NAME=PYTHONPATH:CATALOG")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--phases", default="metadata,content")
    args = parser.parse_args()
    trees = {}
    for spec in args.tree:
        name, rest = spec.split("=", 1)
        trees[name] = tuple(rest.rsplit(":", 1))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for _ in range(args.repeat):
        for name, (pythonpath, catalog) in trees.items():
            times[name].append(rescan(pythonpath, catalog, args.library, args.phases))
    for name, runs in times.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(
            f"{name}: wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}),"
            f" CPU median {statistics.median(cpus):.3f} s (min {min(cpus):.3f})"
        )


if __name__ == "__main__":
    main()
