"""`photoanalyze benchmark`: the baseline configuration against the optimized one on the same
photos, per phase, alternating after a warm-up, with the agreement of their ML answers, an
optional batch-size sweep, and an estimate for a whole library. Everything it writes goes to
a temporary folder: never to the user's catalog or photo folders."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photoanalyzer.benchmark import agreement
from photoanalyzer.catalog import Catalog
from photoanalyzer.config import Config, load_config, resolve_models_dir, shipped_config, validate
from photoanalyzer.errors import UsageError
from photoanalyzer.library.scan import scan
from photoanalyzer.phases import PHASE_ORDER, PhaseContext, build_phases
from photoanalyzer.run import pipeline

WARMUP_SAMPLES = 2
# The phases the two configurations can differ in. The places phase is the same under both
# (no backend, no batch size) and has a benchmark of its own (benchmarks/places.py).
MEASURED_PHASES = ("metadata", "content", "ml")
THRESHOLDS = {"top1_agreement_pct": 95.0, "mean_cosine": 0.99, "detections_matched_pct": 90.0}


@dataclass(frozen=True)
class BenchmarkOptions:
    samples: int = 20
    path: Path | None = None
    baseline: Path | None = None  # default: the shipped configs/baseline.yaml
    optimized: Path | None = None  # default: the shipped configs/optimized.yaml
    batch_sizes: tuple[int, ...] = ()
    repeat: int = 3
    library_size: int | None = None
    random_weights: bool = False
    thresholds: dict[str, float] = dataclasses.field(default_factory=lambda: dict(THRESHOLDS))


def run_benchmark(options: BenchmarkOptions, say: Callable[[str], None] = lambda _: None) -> dict:
    configs = {
        "baseline": _config(options.baseline or shipped_config("baseline"), options),
        "optimized": _config(options.optimized or shipped_config("optimized"), options),
    }
    with tempfile.TemporaryDirectory(prefix="photoanalyze-benchmark-") as tmp:
        work = Path(tmp)
        samples = _samples(options, work, say)
        say(f"warming up both configurations on {min(WARMUP_SAMPLES, len(samples))} photos ...")
        for name, config in configs.items():
            _run(config, samples[:WARMUP_SAMPLES], work / f"warmup-{name}")
        runs: dict[str, list[dict]] = {"baseline": [], "optimized": []}
        for repeat in range(options.repeat):
            order = ["baseline", "optimized"] if repeat % 2 == 0 else ["optimized", "baseline"]
            for name in order:
                say(f"repeat {repeat + 1}/{options.repeat}: {name} ...")
                runs[name].append(_run(configs[name], samples, work / f"{name}-{repeat}"))
        last = options.repeat - 1
        agree = agreement.compare(
            runs["baseline"][-1].pop("ml_results"), runs["optimized"][-1].pop("ml_results")
        )
        for name in runs:
            for run in runs[name][:last]:
                run.pop("ml_results", None)
        sweep = _sweep(configs["optimized"], samples, work, options.batch_sizes, say)
    result = {
        "machine": machine_facts(),
        "random_weights": options.random_weights or _uses_random(configs["optimized"]),
        "samples": len(samples),
        "source": str(options.path) if options.path else "synthetic 12 MP photos",
        "repeat": options.repeat,
        "phases": _phase_table(runs),
        "backends": {name: runs[name][-1].get("backend") for name in runs},
        "ml_stages": {name: runs[name][-1]["phases"]["ml"].get("stages") for name in runs},
        "gpu": {name: runs[name][-1].get("gpu") for name in runs},
        "agreement": dataclasses.asdict(agree),
        "agreement_warnings": _warnings(agree, options.thresholds),
        "thresholds": options.thresholds,
        "batch_sweep": sweep,
    }
    if options.library_size:
        result["library_estimate"] = _extrapolate(result["phases"], runs, options.library_size)
    return result


def _config(path: Path, options: BenchmarkOptions) -> Config:
    config = validate(load_config(path), PHASE_ORDER)
    config = dataclasses.replace(config, phases=MEASURED_PHASES)
    if options.random_weights:
        ml = config.ml
        config = dataclasses.replace(
            config,
            ml=dataclasses.replace(
                ml,
                clip=dataclasses.replace(ml.clip, pretrained="random"),
                yolo=dataclasses.replace(ml.yolo, weights="random"),
            ),
        )
    return config


def _uses_random(config: Config) -> bool:
    return "random" in (config.ml.clip.pretrained, config.ml.yolo.weights)


def _samples(options: BenchmarkOptions, work: Path, say) -> list[str]:
    """N photos: a deterministic sample of PATH, or N synthetic 12 MP photos."""
    if options.path is None:
        from photoanalyzer.benchmark.synthetic import write_camera_roll

        say(f"generating {options.samples} synthetic 12 MP photos ...")
        return [str(p) for p in write_camera_roll(work / "samples", options.samples)]
    photos = sorted(
        f.path for f in scan([str(options.path)], load_config().scan).files if f.kind == "photo"
    )
    if not photos:
        raise UsageError(f"no photos found under {options.path}")
    return sorted(random.Random(0).sample(photos, min(options.samples, len(photos))))


def _run(
    config: Config,
    samples: list[str],
    folder: Path,
    phases: tuple[str, ...] = MEASURED_PHASES,
    thumbnails: Path | None = None,
) -> dict:
    """One indexing of the samples with `config` into a fresh catalog under `folder`."""
    folder.mkdir(parents=True)
    context = PhaseContext(config, thumbnails or folder / "thumbnails", resolve_models_dir(config))
    report = pipeline.index(samples, build_phases(phases, context), config, folder / "catalog.db")
    catalog = Catalog(folder / "catalog.db", create=False)
    try:
        results = catalog.queries.ml_results()
    finally:
        catalog.close()
    run: dict[str, Any] = {"phases": {}, "ml_results": results}
    for phase in report.phases:
        if phase.failure:
            hint = (
                ""
                if _uses_random(config)
                else ("; for a speed measurement without real weights, pass --random-weights")
            )
            raise UsageError(f"the {phase.name} phase could not run: {phase.failure}{hint}")
        run["phases"][phase.name] = {"images": phase.processed, "seconds": phase.seconds}
        if phase.name == "ml":
            details = phase.details
            run["phases"]["ml"].update(
                inference_images_per_second=details.get("images_per_second"),
                startup_seconds=details.get("startup_seconds"),
                startup=details.get("startup"),
                stages=details.get("stages"),
            )
            run.update(
                backend=details.get("backend", {}).get("name"),
                gpu=details.get("gpu"),
                batch_size_used=details.get("batch_size_used"),
                oom_halvings=details.get("oom_halvings"),
            )
    return run


def _rate(phase: dict) -> float | None:
    """Images/s of one phase run; for the ML phase, of its inference (model start-up apart)."""
    if phase.get("inference_images_per_second"):
        return phase["inference_images_per_second"]
    return phase["images"] / phase["seconds"] if phase["seconds"] > 0 else None


def _phase_table(runs: dict[str, list[dict]]) -> dict[str, dict]:
    table = {}
    for phase in MEASURED_PHASES:
        row: dict[str, Any] = {}
        for name, repeats in runs.items():
            rates = [r for r in (_rate(run["phases"][phase]) for run in repeats) if r]
            row[name] = {
                "images_per_second": round(statistics.median(rates), 2) if rates else None,
                "seconds": round(
                    statistics.median(run["phases"][phase]["seconds"] for run in repeats), 3
                ),
            }
            if phase == "ml":
                row[name]["startup_seconds"] = statistics.median(
                    run["phases"]["ml"]["startup_seconds"] or 0 for run in repeats
                )
        speedups = [
            o / b
            for b, o in zip(
                (_rate(run["phases"][phase]) for run in runs["baseline"]),
                (_rate(run["phases"][phase]) for run in runs["optimized"]),
                strict=True,
            )
            if b and o
        ]
        row["speedup"] = round(statistics.median(speedups), 2) if speedups else None
        row["speedup_spread"] = (
            [round(min(speedups), 2), round(max(speedups), 2)] if speedups else None
        )
        table[phase] = row
    return table


def _warnings(agree: agreement.Agreement, thresholds: dict[str, float]) -> list[str]:
    found = []
    for field, limit in thresholds.items():
        value = getattr(agree, field)
        if value is not None and value < limit:
            found.append(
                f"{field} is {value}, below the threshold {limit}: the optimized "
                "configuration does not give the baseline's answers"
            )
    return found


def _sweep(config: Config, samples: list[str], work: Path, sizes: tuple[int, ...], say) -> dict:
    """The ML phase of the optimized configuration at each batch size, on the thumbnails the
    content phase already made: images/s and peak memory, and the fastest that fit."""
    if not sizes:
        return {}
    thumbnails = work / "sweep-thumbnails"
    _run(config, samples, work / "sweep-content", phases=("content",), thumbnails=thumbnails)
    rows = []
    for size in sizes:
        say(f"batch-size sweep: {size} ...")
        sized = dataclasses.replace(config, ml=dataclasses.replace(config.ml, batch_size=size))
        reset_peak_memory()
        run = _run(sized, samples, work / f"sweep-{size}", phases=("ml",), thumbnails=thumbnails)
        rows.append(
            {
                "batch_size": size,
                "images_per_second": _rate(run["phases"]["ml"]),
                "peak_memory_mib": peak_memory_mib(),
                "out_of_memory": bool(run.get("oom_halvings")),
            }
        )
    fitting = [row for row in rows if not row["out_of_memory"] and row["images_per_second"]]
    best = max(fitting, key=lambda row: row["images_per_second"], default=None)
    return {"runs": rows, "recommended_batch_size": best["batch_size"] if best else None}


def _extrapolate(table: dict[str, dict], runs: dict[str, list[dict]], size: int) -> dict:
    """Seconds per phase for `size` photos at the measured rates (ML start-up added once)."""
    estimate = {}
    for name in runs:
        phases = {}
        for phase, row in table.items():
            rate = row[name]["images_per_second"]
            seconds = size / rate if rate else None
            if seconds is not None and phase == "ml":
                seconds += row[name].get("startup_seconds") or 0
            phases[phase] = round(seconds, 1) if seconds is not None else None
        phases["total"] = round(sum(v for v in phases.values() if v), 1)
        estimate[name] = phases
    return {"photos": size, "seconds": estimate}


def reset_peak_memory() -> None:
    """Start a fresh peak: CUDA's allocator statistics, and the process's resident peak."""
    with contextlib.suppress(ImportError):
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM


def peak_memory_mib() -> dict[str, float | None]:
    gpu = resident = None
    with contextlib.suppress(ImportError):
        import torch

        if torch.cuda.is_available():
            gpu = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                resident = round(int(line.split()[1]) / 1024, 1)
    return {"gpu": gpu, "process_resident": resident}


def machine_facts() -> dict[str, Any]:
    from photoanalyzer.ml.backends import cpu_name

    facts: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "gpu": None,
        "torch": None,
        "cuda": None,
    }
    with contextlib.suppress(ImportError):
        import torch

        facts.update(torch=torch.__version__, cuda=torch.version.cuda)
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            facts["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    return facts
