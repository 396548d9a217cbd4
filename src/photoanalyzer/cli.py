"""Command line: parse, load the config, call one function, print. No logic lives here.
Heavy modules are imported inside the commands, so `--help` and a rescan start fast."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer import __version__
from photoanalyzer.errors import CatalogLocked, FatalError, Interrupted, UsageError
from photoanalyzer.ml.backends import choices_help

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_LOCKED = 3  # another run holds the catalog (see --wait)
EXIT_PHASE_FAILED = 4  # the scan completed, but a whole phase could not run (see the summary)

app = typer.Typer(
    name="photoanalyze",
    help="Index a photo library into a local SQLite catalog: metadata, content signals, ML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs flow; their line breaks do not show
)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Catalog file. Default: $PHOTOANALYZER_DB, else the config's `catalog`, else "
        "~/.local/share/photoanalyzer/catalog.db (XDG_DATA_HOME).",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML file merged over the built-in configs/default.yaml.",
        show_default=False,
    ),
]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"photoanalyze {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Index a photo library into a local SQLite catalog: metadata, content signals, ML."""


@app.command()
def run(
    paths: Annotated[
        list[Path], typer.Argument(help="Folders (or single files) to index.", show_default=False)
    ],
    db: DbOption = None,
    config: ConfigOption = None,
    phases: Annotated[
        str | None,
        typer.Option(
            "--phases",
            help="Comma-separated phases to run (metadata,places,content,ml). Default: the "
            "config's `phases`.",
            show_default=False,
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Analyze every file again, not only new, changed or pending ones."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars; print only the final summary.")
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help=f"ML backend: {choices_help()}. A named backend that is unavailable fails the "
            "ML phase with the reason. Default: the config's ml.backend (auto).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Images per ML inference batch. Default: the config's ml.batch_size (16).",
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never try to download model weights.")
    ] = False,
    kinds: Annotated[
        str | None,
        typer.Option(
            "--kinds",
            help="What this run covers: photo, video or photo,video. Default: the config's kinds.",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another run holds the catalog, wait for it instead of exiting with code 3.",
        ),
    ] = False,
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="Also append the summary (or the error) with a timestamp to this file.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Walk PATHS and index every photo into the catalog.

    Only new or changed files, and files whose phase results are out of date, are analyzed;
    renamed or moved files keep their results; files that disappeared are marked missing,
    never deleted. Per-file problems are recorded and listed in the summary.

    Exit codes: 0 done (per-file errors included), 1 fatal problem, 2 usage error, 3 another
    run holds the catalog, 4 a whole phase could not run, 130 interrupted (Ctrl-C or SIGTERM;
    finished files are kept and the same command continues).
    """
    from photoanalyzer.config import with_kinds, with_ml_overrides
    from photoanalyzer.phases import build_phases, parse_phase_list

    with _logged_to(log, ["run", *map(str, paths)]) as record:
        cfg = with_ml_overrides(_load_config(config), backend, batch_size, offline)
        if kinds is not None:
            cfg = with_kinds(cfg, kinds)
        names = parse_phase_list(phases) if phases is not None else cfg.phases
        context = _context(cfg, db)
        selected = build_phases(names, context)  # refuses unknown phases before any writing
        summary, failed = _index(paths, selected, cfg, db, full, quiet, wait)
        typer.echo(summary)
        record(summary)
    if failed:
        raise typer.Exit(EXIT_PHASE_FAILED)


def _index(paths, selected, cfg, db, full: bool, quiet: bool, wait: bool) -> tuple[str, bool]:
    """Run the pipeline on the catalog; return (summary, a phase failed)."""
    from photoanalyzer import pipeline, report
    from photoanalyzer.config import resolve_catalog_path

    try:
        result = pipeline.index(
            [str(p) for p in paths],
            selected,
            cfg,
            resolve_catalog_path(db, cfg),
            full=full,
            wait=wait,
            show_progress=not quiet and sys.stderr.isatty(),
            note=(lambda _: None) if quiet else (lambda text: typer.echo(text, err=True)),
        )
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: finished files are saved; run the same command again to "
            "continue where this one stopped"
        ) from None
    return report.format_run(result), any(phase.failure for phase in result.phases)


@contextmanager
def _logged_to(log: Path | None, command: list[str]):
    """Yields a function that appends text to the --log file; a fatal error is appended too."""

    def record(text: str) -> None:
        if log is not None:
            stamp = datetime.now().astimezone().isoformat(timespec="seconds")
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"[{stamp}] photoanalyze {' '.join(command)}\n{text}\n")

    try:
        yield record
    except FatalError as exc:
        record(f"error: {exc}")
        raise


@app.command()
def export(
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="jsonl: one JSON object per line; csv: a header row, lists and mappings "
            "(dominant_colors, scenes, objects, object_counts, errors) as JSON text.",
        ),
    ] = ExportFormat.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of stdout.", show_default=False)
    ] = None,
) -> None:
    """Write every file in the catalog with its fields, one record per file.

    Fields: path, kind, file_size; metadata (file_type, width, height, orientation, taken_at
    (local time, naive), taken_at_offset, taken_at_utc, taken_at_offset_source (exif, gps,
    video-utc or none), subsec, make, model, lens, lens_make,
    exposure_time, f_number, iso, focal_length, focal_length_35mm, gps_lat, gps_lon, gps_alt;
    for videos also duration, frame_rate,
    video_codec, rotation, has_audio, bitrate); places (place_city, place_region,
    place_country, place_country_code, place_distance_km, timezone, place_note); content
    (thumbnail, sharpness, tenengrad,
    blurry, brightness, highlights_clipped, shadows_crushed, underexposed, overexposed,
    contrast, colorfulness, dominant_colors, phash, dhash); ML (top_scene, scenes, objects,
    object_counts, ml_random_weights); and errors (phase -> message). See docs/fields.md.
    """
    from photoanalyzer.export import write_export

    catalog = _open_catalog(db, _load_config(config))
    try:
        if out is None:
            _export_to_stdout(catalog, fmt.value)
        else:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                count = write_export(
                    catalog.queries.export_rows(), catalog.queries.field_names(), fmt.value, handle
                )
            typer.echo(f"Wrote {count} records to {out}", err=True)
    except OSError as exc:
        raise FatalError(f"cannot write the export to {out}: {exc.strerror}") from exc
    finally:
        catalog.close()


@app.command()
def status(
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    runs: Annotated[int, typer.Option("--runs", min=0, help="How many recent runs to show.")] = 5,
) -> None:
    """Show what the catalog holds and what is pending per phase, how many files are
    geotagged and in how many places, countries and time zones, and the last runs: start,
    duration, files new / changed / moved / missing, and per phase processed / failed."""
    from photoanalyzer import report
    from photoanalyzer.phases import IMPLEMENTED, build_phases

    cfg = _load_config(config)
    catalog = _open_catalog(db, cfg)
    try:
        state = report.CatalogState(
            catalog=str(catalog.path),
            schema=catalog.schema_version(),
            files=catalog.queries.file_counts(),
            phases={
                phase.name: catalog.queries.phase_counts(phase.name, phase.version, phase.kinds)
                for phase in build_phases(IMPLEMENTED, _context(cfg, db))
            },
            runs=catalog.runs.recent(runs),
            places=catalog.queries.place_counts(),
        )
    finally:
        catalog.close()
    typer.echo(report.status_as_json(state) if as_json else report.format_status(state))


@app.command()
def duplicates(
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the groups as JSON.")] = False,
    distance: Annotated[
        int | None,
        typer.Option(
            "--distance",
            help="Most pHash bits two near-duplicates may differ in. Default: the "
            "config's content.near_duplicate_distance.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List groups of near-duplicate photos (resized, re-encoded or lightly edited copies,
    bursts) found by their perceptual hashes, each with the pick and why it won: the largest
    picture; among pictures of about that size (bursts), a clearly sharper one; then richer
    metadata (capture time, camera, GPS); then the larger file. Needs the content phase;
    nothing is deleted or moved.
    """
    from photoanalyzer import neardup, report

    cfg = _load_config(config)
    limit = cfg.content.near_duplicate_distance if distance is None else distance
    if not 0 <= limit <= 32:
        raise UsageError("--distance must be between 0 and 32 bits")
    catalog = _open_catalog(db, cfg)
    try:
        candidates = [
            neardup.Candidate(file_id, path, int(phash, 16), *facts)
            for file_id, path, phash, *facts in catalog.queries.near_duplicate_candidates()
        ]
    finally:
        catalog.close()
    groups = neardup.find_groups(candidates, limit)
    if as_json:
        typer.echo(report.groups_as_json(groups))
    else:
        typer.echo(report.format_groups(groups, limit, len(candidates)))


@app.command()
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

    from photoanalyzer.benchmark import BenchmarkOptions, run_benchmark
    from photoanalyzer.report import format_benchmark

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


models_app = typer.Typer(
    help="Manage the model weights cache, so a machine without network can be given files "
    "fetched elsewhere.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


class WeightsKind(StrEnum):
    clip = "clip"
    yolo = "yolo"


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """Show where each configured model's weights are, or what is missing."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.doctor import models_report

    cfg = _load_config(config)
    typer.echo(models_report(cfg, resolve_models_dir(cfg)))


@models_app.command("fetch")
def models_fetch(config: ConfigOption = None) -> None:
    """Download the configured weights into the cache (needs network)."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.doctor import fetch
    from photoanalyzer.ml.weights import WeightsUnavailable

    cfg = _load_config(config)
    try:
        typer.echo(fetch(cfg, resolve_models_dir(cfg)))
    except WeightsUnavailable as exc:
        raise FatalError(str(exc)) from exc


@models_app.command("import")
def models_import(
    path: Annotated[Path, typer.Argument(help="A weights file fetched elsewhere.")],
    kind: Annotated[
        WeightsKind,
        typer.Option(
            "--for",
            help="Which model the file is for: clip "
            "(stored for the configured ml.clip model and tag) or yolo.",
        ),
    ],
    config: ConfigOption = None,
) -> None:
    """Copy a weights file into the model cache, where runs will find it."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.weights import WeightsUnavailable, import_file

    cfg = _load_config(config)
    clip = cfg.ml.clip
    try:
        target = import_file(path, kind.value, resolve_models_dir(cfg), clip.model, clip.pretrained)
    except WeightsUnavailable as exc:
        raise FatalError(str(exc)) from exc
    typer.echo(f"Imported {path} as {target}")


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check the ML setup: torch and CUDA versions, the GPU, TensorRT (and why not), the
    backend auto would pick and why, and whether each model's weights are available."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.doctor import doctor as report

    cfg = _load_config(config)
    typer.echo(report(cfg, resolve_models_dir(cfg)))


def _context(cfg, db: Path | None):
    from photoanalyzer.config import resolve_catalog_path, resolve_models_dir, resolve_thumbnail_dir
    from photoanalyzer.phases import PhaseContext

    catalog_path = resolve_catalog_path(db, cfg)
    return PhaseContext(
        cfg, resolve_thumbnail_dir(cfg, catalog_path, db is not None), resolve_models_dir(cfg)
    )


def _export_to_stdout(catalog, fmt: str) -> None:
    from photoanalyzer.export import write_export

    try:
        write_export(catalog.queries.export_rows(), catalog.queries.field_names(), fmt, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`, say) has gone: not an error. Point stdout at devnull so the
        # interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _load_config(path: Path | None):
    from photoanalyzer.config import load_config, validate
    from photoanalyzer.phases import PHASE_ORDER

    return validate(load_config(path), PHASE_ORDER)


def _open_catalog(db: Path | None, cfg):
    """The existing catalog, for the commands that only read one: only `run` creates one."""
    from photoanalyzer.catalog import Catalog
    from photoanalyzer.config import resolve_catalog_path

    return Catalog(resolve_catalog_path(db, cfg), create=False)


# Fatal errors, most specific first: the exit code and the prefix of the one-line message.
_EXITS: tuple[tuple[type[FatalError], int, str], ...] = (
    (CatalogLocked, EXIT_LOCKED, ""),
    (Interrupted, EXIT_INTERRUPTED, ""),
    (UsageError, EXIT_USAGE, "error: "),
    (FatalError, EXIT_FATAL, "error: "),
)


def main() -> None:
    try:
        app()
    except FatalError as exc:
        code, prefix = next((c, p) for kind, c, p in _EXITS if isinstance(exc, kind))
        typer.echo(f"photoanalyze: {prefix}{exc}", err=True)
        sys.exit(code)
