"""`photoanalyze benchmark`: baseline against optimized, side by side, with their agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    app,
)
from photoanalyzer.errors import (
    UsageError,
)


@app.command(short_help="Measure speed-ups over the baseline; check the answers agree.")
def benchmark(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Take a deterministic sample of the photos under this folder (read only). "
            "Default: generate synthetic 12 MP photos in a temporary folder.",
            show_default=False,
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Photos to measure.")] = 20,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Baseline config. Default: configs/baseline.yaml (FP32, batch 8).",
            show_default=False,
        ),
    ] = None,
    optimized: Annotated[
        Path | None,
        typer.Option(
            "--optimized",
            help="Optimized config. Default: configs/optimized.yaml (auto backend, batch 16).",
            show_default=False,
        ),
    ] = None,
    batch_sizes: Annotated[
        str | None,
        typer.Option(
            "--batch-sizes",
            help="Also sweep the "
            "optimized ML phase over these batch sizes, e.g. 8,12,16,20,24, and "
            "recommend the fastest that fits.",
            show_default=False,
        ),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            min=1,
            help="Alternating repeats of each configuration; figures are medians.",
        ),
    ] = 3,
    library_size: Annotated[
        int | None,
        typer.Option(
            "--library-size",
            min=1,
            help="Estimate the total time per phase for a library of this many photos.",
            show_default=False,
        ),
    ] = None,
    random_weights: Annotated[
        bool,
        typer.Option(
            "--random-weights",
            help="Build both models "
            "with random weights (for speed only, when real weights are not "
            "available); every figure says so.",
        ),
    ] = False,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Also write the whole result as JSON to this file.", show_default=False
        ),
    ] = None,
    min_top1: Annotated[
        float, typer.Option("--min-top1", help="Warn below this scene top-1 agreement (%).")
    ] = 95.0,
    min_cosine: Annotated[
        float, typer.Option("--min-cosine", help="Warn below this mean embedding cosine.")
    ] = 0.99,
    min_detections: Annotated[
        float,
        typer.Option(
            "--min-detections",
            help="Warn below this share of baseline detections matched at IoU 0.5 (%).",
        ),
    ] = 90.0,
) -> None:
    """Measure the optimized configuration against the baseline on the same photos, per
    phase (images/s, speed-up and its spread, backend, GPU use), and check that both give the
    same answers (scene top-1, embedding cosine, detections at IoU 0.5). Writes nothing to
    your catalog or photo folders."""
    import json

    from photoanalyzer.benchmark.runner import BenchmarkOptions, run_benchmark
    from photoanalyzer.outputs.terminal import format_benchmark

    sizes = tuple(int(v) for v in batch_sizes.split(",") if v.strip()) if batch_sizes else ()
    if any(size < 1 for size in sizes):
        raise UsageError("--batch-sizes takes positive whole numbers, e.g. 8,16,24")
    options = BenchmarkOptions(
        samples=samples,
        path=path,
        baseline=baseline,
        optimized=optimized,
        batch_sizes=sizes,
        repeat=repeat,
        library_size=library_size,
        random_weights=random_weights,
        thresholds={
            "top1_agreement_pct": min_top1,
            "mean_cosine": min_cosine,
            "detections_matched_pct": min_detections,
        },
    )
    result = run_benchmark(options, say=lambda text: typer.echo(text, err=True))
    typer.echo(format_benchmark(result))
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        typer.echo(f"Wrote {json_out}", err=True)
