"""`photoanalyze run`: index folders into the catalog (the pipeline does the work)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    EXIT_PHASE_FAILED,
    ConfigOption,
    DbOption,
    app,
    load_checked_config,
    phase_context,
)
from photoanalyzer.errors import (
    FatalError,
    Interrupted,
)
from photoanalyzer.ml.backends import choices_help
from photoanalyzer.pathnames import readable


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
            help="Comma-separated phases to run (metadata,places,content,faces,ml,text). "
            "Default: the config's `phases` (faces and text only where listed: "
            "docs/people.md, docs/text.md).",
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
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="Where the analysis runs: local (this machine) or ray (a Ray cluster, "
            "docs/scale-out.md; needs pip install 'photoanalyzer[ray]'). Default: the "
            "config's engine (local).",
            show_default=False,
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="With --engine ray: the cluster to join (auto: the one this machine belongs "
            "to; HOST:PORT). Default: the config's ray.address; none starts a local Ray.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Walk PATHS and index every photo into the catalog.

    Only new or changed files, and files whose phase results are out of date, are analyzed;
    renamed or moved files keep their results, whichever folder they come from (a library
    moved to a new disk: run on its new place); files that disappeared are marked missing,
    never deleted. Per-file problems are recorded and listed in the summary.

    Exit codes: 0 done (per-file errors included), 1 fatal problem, 2 usage error, 3 another
    run holds the catalog, 4 a whole phase could not run, 130 interrupted (Ctrl-C or SIGTERM;
    finished files are kept and the same command continues; a --full run starts over).
    """
    from photoanalyzer.config import with_engine, with_kinds, with_ml_overrides
    from photoanalyzer.phases import build_phases, parse_phase_list

    with _logged_to(log, ["run", *map(str, paths)]) as record:
        cfg = with_ml_overrides(load_checked_config(config), backend, batch_size, offline)
        cfg = with_engine(cfg, engine, ray_address)
        if kinds is not None:
            cfg = with_kinds(cfg, kinds)
        names = parse_phase_list(phases) if phases is not None else cfg.phases
        context = phase_context(cfg, db, for_run=True)
        selected = build_phases(names, context)  # refuses unknown phases before any writing
        summary, failed = _index(paths, selected, cfg, db, full, quiet, wait, context)
        typer.echo(summary)
        record(summary)
    if failed:
        raise typer.Exit(EXIT_PHASE_FAILED)


def _index(
    paths, selected, cfg, db, full: bool, quiet: bool, wait: bool, context
) -> tuple[str, bool]:
    """Run the pipeline on the catalog; return (summary, a phase failed)."""
    from photoanalyzer.config import beside_catalog, move_legacy_thumbnails, resolve_catalog_path
    from photoanalyzer.outputs import terminal as report
    from photoanalyzer.run import pipeline

    catalog_path = resolve_catalog_path(db, cfg)
    beside = context.thumbnail_dir == beside_catalog(catalog_path, "thumbnails")
    try:
        result = pipeline.index(
            [str(p) for p in paths],
            selected,
            cfg,
            catalog_path,
            full=full,
            wait=wait,
            show_progress=not quiet and sys.stderr.isatty(),
            note=(lambda _: None) if quiet else (lambda text: typer.echo(text, err=True)),
            under_lock=(lambda: move_legacy_thumbnails(catalog_path)) if beside else None,
        )
    except KeyboardInterrupt:
        raise Interrupted(_interrupted_message(full)) from None
    failed = any(phase.failure and not phase.skipped for phase in result.phases)
    return report.format_run(result), failed


def _interrupted_message(full: bool) -> str:
    if full:
        # --full redoes every file each time it runs, so running it again does not resume.
        return (
            "interrupted: finished files are saved; --full starts over each time, so the same "
            "command redoes every file (without --full, a run analyzes only what is new, "
            "changed or out of date)"
        )
    return (
        "interrupted: finished files are saved; run the same command again to continue "
        "where this one stopped"
    )


@contextmanager
def _logged_to(log: Path | None, command: list[str]):
    """Yields a function that appends text to the --log file; a fatal error is appended too."""

    def record(text: str) -> None:
        if log is not None:
            stamp = datetime.now().astimezone().isoformat(timespec="seconds")
            with open(log, "a", encoding="utf-8") as out:
                out.write(readable(f"[{stamp}] photoanalyze {' '.join(command)}\n{text}\n"))

    try:
        yield record
    except FatalError as exc:
        record(f"error: {exc}")
        raise
