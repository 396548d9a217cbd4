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
from photoanalyzer.errors import (
    CatalogLocked,
    FatalError,
    Interrupted,
    ModelUnavailable,
    UsageError,
)
from photoanalyzer.ml.backends import choices_help
from photoanalyzer.pathnames import readable

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_LOCKED = 3  # another run holds the catalog (see --wait)
# the scan completed, but a whole phase could not run (see the summary); or a search query
# needs a model whose weights are not here
EXIT_PHASE_FAILED = 4

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


IncludeMissingOption = Annotated[
    bool,
    typer.Option(
        "--include-missing",
        help="Also list files marked missing (gone from disk at the last run that checked "
        "them; their results are kept).",
    ),
]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


class SortOrder(StrEnum):
    score = "score"
    date = "date"


class FileKind(StrEnum):
    photo = "photo"
    video = "video"


class DuplicateMeasure(StrEnum):
    phash = "phash"
    embedding = "embedding"


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
    finished files are kept and the same command continues).
    """
    from photoanalyzer.config import with_engine, with_kinds, with_ml_overrides
    from photoanalyzer.phases import build_phases, parse_phase_list

    with _logged_to(log, ["run", *map(str, paths)]) as record:
        cfg = with_ml_overrides(_load_config(config), backend, batch_size, offline)
        cfg = with_engine(cfg, engine, ray_address)
        if kinds is not None:
            cfg = with_kinds(cfg, kinds)
        names = parse_phase_list(phases) if phases is not None else cfg.phases
        context = _context(cfg, db, for_run=True)
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
    from photoanalyzer import pipeline, report
    from photoanalyzer.config import beside_catalog, move_legacy_thumbnails, resolve_catalog_path

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
                out.write(readable(f"[{stamp}] photoanalyze {' '.join(command)}\n{text}\n"))

    try:
        yield record
    except FatalError as exc:
        record(f"error: {exc}")
        raise


@app.command(short_help="Write every file's fields as JSON lines or CSV.")
def export(
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="jsonl: one JSON object per line; csv: a header row, lists and mappings "
            "(keywords, dominant_colors, scenes, objects, object_counts, errors) as JSON text.",
        ),
    ] = ExportFormat.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of stdout.", show_default=False)
    ] = None,
    include_missing: IncludeMissingOption = False,
) -> None:
    """Write every present file in the catalog with its fields, one record per file; with
    --include-missing, the files marked missing too.

    Fields: path, kind, file_size; missing (true or false, only with --include-missing);
    pair_of (the other half of a RAW+JPEG pair);
    metadata (file_type, width, height, orientation, taken_at (local time, naive),
    taken_at_offset, taken_at_utc, taken_at_offset_source (exif, gps, video-utc, gps-utc or
    none), taken_at_source (the tag: exif:DateTimeOriginal, xmp:photoshop:DateCreated, ...),
    subsec, make, model, lens, lens_make, exposure_time, f_number, iso, focal_length,
    focal_length_35mm, gps_lat, gps_lon, gps_alt, and from XMP rating, label, keywords,
    description (these two else from IPTC), xmp_source; for videos also duration, frame_rate,
    video_codec, rotation, has_audio, bitrate); places (place_city, place_region,
    place_country, place_country_code, place_distance_km, timezone, place_note); content
    (thumbnail, sharpness, tenengrad, blurry, brightness, highlights_clipped, shadows_crushed,
    underexposed, overexposed, contrast, colorfulness, dominant_colors, phash, dhash,
    decoder, decoder_note); ML
    (top_scene, scenes, objects, object_counts, ml_random_weights, clip_random_weights,
    yolo_random_weights); and errors (phase ->
    message). See docs/fields.md.
    """
    from photoanalyzer.export import write_export

    catalog = _open_catalog(db, _load_config(config))
    try:
        if out is None:
            _export_to_stdout(catalog, fmt.value, include_missing)
        else:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                count = write_export(
                    catalog.queries.export_rows(include_missing),
                    catalog.queries.field_names(include_missing),
                    fmt.value,
                    handle,
                )
            typer.echo(f"Wrote {count} records to {out}", err=True)
    except OSError as exc:
        raise FatalError(f"cannot write the export to {out}: {exc.strerror}") from exc
    finally:
        catalog.close()


@app.command(short_help="Show what the catalog holds, what is pending, the last runs.")
def status(
    db: DbOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML file merged over the built-in configs/default.yaml; also shows how many "
            "files a run with this config would analyze per phase (pending for this config).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the status as JSON (see docs/cron.md).")
    ] = False,
    runs: Annotated[int, typer.Option("--runs", min=0, help="How many recent runs to show.")] = 5,
) -> None:
    """Show what the catalog holds: per phase, how many files have results of the version its
    last run used, results of an older version only, failed, or were never analysed (with
    --config, also how many that config's next run would analyze, and how many halves of
    RAW+JPEG pairs its scan.raw_pairs leaves out of the pixel phases); which known files the last
    run did not see and why (missing, or unreachable below a folder that is gone or could not
    be read); how many files are geotagged and in how many places, countries and time zones;
    and the last runs: start, duration, files new / changed / moved / missing / unreachable,
    and per phase processed / failed."""
    from photoanalyzer import pairs, report
    from photoanalyzer.phases import IMPLEMENTED, build_phases

    cfg = _load_config(config)
    catalog = _open_catalog(db, cfg)
    try:
        left_out = pairs.left_out(catalog, cfg.scan.raw_pairs)
        state = report.CatalogState(
            catalog=str(catalog.path),
            schema=catalog.schema_version(),
            files=catalog.queries.file_counts(),
            phases={
                phase.name: catalog.queries.phase_summary(
                    phase.name,
                    phase.kinds,
                    phase.version if config is not None else None,
                    left_out
                    if config is not None and getattr(phase, "reads_pixels", False)
                    else (),
                )
                for phase in build_phases(IMPLEMENTED, _context(cfg, db))
            },
            runs=catalog.runs.recent(runs),
            last_walk=catalog.runs.last_walk(),
            places=catalog.queries.place_counts(),
        )
    finally:
        catalog.close()
    typer.echo(report.status_as_json(state) if as_json else report.format_status(state))


@app.command(short_help="List groups of near-duplicate or similar photos, and the pick.")
def duplicates(
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the groups as JSON.")] = False,
    by: Annotated[
        DuplicateMeasure,
        typer.Option(
            "--by",
            help="phash: perceptual hashes (copies: resized, re-encoded, bursts; needs the "
            "content phase); embedding: CLIP embeddings (visually similar photos; needs the "
            "ML phase).",
        ),
    ] = DuplicateMeasure.phash,
    distance: Annotated[
        int | None,
        typer.Option(
            "--distance",
            help="With --by phash: most pHash bits two near-duplicates may differ in. Default: "
            "the config's content.near_duplicate_distance.",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            metavar="COS",
            help="With --by embedding: least cosine between two photos' embeddings, -1 to 1. "
            "Default: 0.95.",
            show_default=False,
        ),
    ] = None,
    include_missing: IncludeMissingOption = False,
    print0: Annotated[
        bool,
        typer.Option(
            "--print0",
            "-0",
            help="Print only the paths of the copies beside each pick (every member but the "
            "pick), each ended by a NUL, for `xargs -0`. Not with --json or --include-missing "
            "(a missing pick is not there to keep).",
        ),
    ] = False,
) -> None:
    """List groups of near-duplicate photos (resized, re-encoded or lightly edited copies,
    bursts) found by their perceptual hashes, or with `--by embedding` groups of visually
    similar photos found by their CLIP embeddings; each with the pick and why it won: the
    largest picture; then a camera RAW over its JPEG; among pictures of about that size
    (bursts), a clearly sharper one; then richer metadata (capture time, camera, GPS); then
    the larger file. Nothing is deleted or moved. Present files only, unless
    --include-missing (missing members are then marked; the pick is chosen by the same
    rules).
    """
    cfg = _load_config(config)
    if print0 and (as_json or include_missing):
        other = "--json" if as_json else "--include-missing"
        raise UsageError(f"--print0 lists the copies beside present picks: not with {other}")
    form = "print0" if print0 else "json" if as_json else "text"
    if by is DuplicateMeasure.embedding:
        if distance is not None:
            raise UsageError("--distance is for --by phash; --by embedding takes --threshold")
        _echo_output(_embedding_duplicates(db, cfg, threshold, form, include_missing))
        return
    if threshold is not None:
        raise UsageError("--threshold is for --by embedding; --by phash takes --distance")
    _echo_output(_phash_duplicates(db, cfg, distance, form, include_missing))


def _echo_output(text: str | bytes) -> None:
    """Text a line at a time; bytes (exact paths, --print0) as they are."""
    if isinstance(text, bytes):
        _write_bytes(text)
    else:
        _echo_lines([text])


def _phash_duplicates(
    db, cfg, distance: int | None, form: str, include_missing: bool
) -> str | bytes:
    from photoanalyzer import neardup, report

    limit = cfg.content.near_duplicate_distance if distance is None else distance
    if not 0 <= limit <= 32:
        raise UsageError("--distance must be between 0 and 32 bits")
    catalog = _open_catalog(db, cfg)
    try:
        candidates = neardup.candidates_from_rows(
            catalog.queries.near_duplicate_candidates(include_missing)
        )
    finally:
        catalog.close()
    groups = neardup.find_groups(candidates, limit)
    if form == "print0":
        return report.copies_print0(groups)
    return (
        report.groups_as_json(groups)
        if form == "json"
        else report.format_groups(groups, limit, len(candidates))
    )


def _embedding_duplicates(
    db, cfg, threshold: float | None, form: str, include_missing: bool
) -> str | bytes:
    from photoanalyzer import report
    from photoanalyzer.search.similar import DEFAULT_MIN_COSINE, similar_groups

    least = DEFAULT_MIN_COSINE if threshold is None else threshold
    if not -1 <= least <= 1:
        raise UsageError("--threshold is a cosine: between -1 and 1")
    catalog = _open_catalog(db, cfg)
    try:
        found = similar_groups(catalog, least, include_missing)
    finally:
        catalog.close()
    if form == "print0":
        return report.copies_print0(found.groups)
    if form == "json":
        return report.groups_as_json(found.groups, found.random_ids)
    return report.format_embedding_groups(
        found.groups, least, found.embedded, bool(found.random_ids)
    )


@app.command(short_help="Write a static HTML report of the catalog.")
def report(
    db: DbOption = None,
    config: ConfigOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to write the report into. Default: report/ beside the catalog.",
            show_default=False,
        ),
    ] = None,
    open_it: Annotated[
        bool, typer.Option("--open", help="Open the report in the default browser.")
    ] = False,
    portable: Annotated[
        bool,
        typer.Option(
            "--portable",
            help="Copy the thumbnails into the report folder (only those not there yet), so "
            "the folder can be moved or shared; by default they are linked from the cache.",
        ),
    ] = False,
) -> None:
    """Write a static HTML report of the catalog (index.html and the pages it links to),
    opened from disk with no server or network: an overview (counts, photos per month,
    top cameras, lenses, scenes and objects, the last runs), near-duplicate groups with the
    pick and why it won, blurry / too dark / washed-out photos by severity, scene and object
    galleries, videos with their frames, problems by phase and message, and places. It only
    shows: nothing is deleted or moved. Prints the report's file:// URL. See docs/report.md."""
    import webbrowser

    from photoanalyzer.htmlreport import NotAReportFolder, build_report, default_folder
    from photoanalyzer.phases import IMPLEMENTED, build_phases

    cfg = _load_config(config)
    context = _context(cfg, db)
    catalog = _open_catalog(db, cfg)
    phases = [(phase.name, phase.kinds) for phase in build_phases(IMPLEMENTED, context)]
    try:
        written = build_report(
            catalog, phases, cfg.content.near_duplicate_distance,
            out or default_folder(catalog.path), Path(context.thumbnail_dir), portable,
        )  # fmt: skip
    except NotAReportFolder as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise FatalError(f"cannot write the report: {exc}") from exc
    finally:
        catalog.close()
    url = written.index.as_uri()
    copied = f", {written.thumbnails_copied} thumbnails copied" if portable else ""
    typer.echo(f"Wrote {written.pages} pages to {written.index.parent}{copied}", err=True)
    typer.echo(url)
    if open_it:
        webbrowser.open(url)


def _many(name: str, help_text: str, metavar: str):
    return typer.Option(name, help=help_text, metavar=metavar, show_default=False)


@app.command(no_args_is_help=False, short_help="Find photos and videos by text, example or facts.")
def search(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help="Text, or the path of an image (the catalog's stored embedding when the file "
            "is indexed, else it is encoded). `+ QUERY` adds and `- QUERY` subtracts another; "
            "`2:snow` weighs one twice. None: a query by the filters alone.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    top: Annotated[
        int, typer.Option("--top", min=0, help="How many results; 0: every match.")
    ] = 20,
    min_score: Annotated[
        float | None,
        typer.Option(
            "--min-score",
            metavar="S",
            help="Only matches with at least this cosine score (-1 to 1).",
            show_default=False,
        ),
    ] = None,
    sort: Annotated[
        SortOrder | None,
        typer.Option(
            "--sort",
            help="score: best first. date: the best --top matches above --min-score, oldest "
            "first by capture time, in true UTC order where the instant is known (an EXIF "
            "offset, or the time zone of the place). Default: score with a QUERY, date "
            "without.",
            show_default=False,
        ),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            metavar="DATE",
            help="Taken at or after the start of DATE (YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM), camera's local time.",
            show_default=False,
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="DATE",
            help="Taken before the start of DATE: --after 2023 --before 2024 is the year 2023.",
            show_default=False,
        ),
    ] = None,
    camera: Annotated[
        list[str] | None,
        _many("--camera", "Camera make or model contains TEXT (any case).", "TEXT"),
    ] = None,
    lens: Annotated[
        list[str] | None, _many("--lens", "Lens make or model contains TEXT (any case).", "TEXT")
    ] = None,
    folder: Annotated[
        list[Path] | None,
        _many(
            "--in",
            "Only files at or below PATH (any path: a disk that is not mounted too; a note "
            "says when the catalog has no file there).",
            "PATH",
        ),
    ] = None,
    kind: Annotated[list[FileKind] | None, _many("--kind", "photo or video.", "KIND")] = None,
    scene: Annotated[
        list[str] | None, _many("--scene", "Top scene is LABEL (any case).", "LABEL")
    ] = None,
    objects: Annotated[
        list[str] | None,
        _many(
            "--object",
            "At least MIN_COUNT (default 1) detections of CLASS in the picture, e.g. dog:2.",
            "CLASS[:MIN_COUNT]",
        ),
    ] = None,
    near: Annotated[
        list[str] | None,
        _many("--near", "Taken within KM of LAT,LON (decimal degrees).", "LAT,LON,KM"),
    ] = None,
    place: Annotated[
        list[str] | None,
        _many(
            "--place",
            "Taken at a place whose city, region or country contains TEXT, in any letter "
            "case, or in the country with that code (IT, US); needs the places phase.",
            "TEXT",
        ),
    ] = None,
    has_gps: Annotated[bool, typer.Option("--has-gps", help="Has a GPS position.")] = False,
    rating_min: Annotated[
        float | None,
        typer.Option(
            "--rating-min",
            metavar="N",
            help="Rated at least N (-1 rejected to 5) in its XMP (xmp:Rating).",
            show_default=False,
        ),
    ] = None,
    keyword: Annotated[
        list[str] | None,
        _many("--keyword", "Has the keyword TEXT (XMP dc:subject, else IPTC), any case.", "TEXT"),
    ] = None,
    sharp: Annotated[bool, typer.Option("--sharp", help="Not flagged blurry.")] = False,
    blurry: Annotated[bool, typer.Option("--blurry", help="Flagged blurry.")] = False,
    dark: Annotated[bool, typer.Option("--dark", help="Flagged underexposed.")] = False,
    overexposed: Annotated[
        bool, typer.Option("--overexposed", help="Flagged overexposed.")
    ] = False,
    no_duplicates: Annotated[
        bool,
        typer.Option(
            "--no-duplicates",
            help="Of each group of near-duplicates (as `duplicates` finds them), only the pick.",
        ),
    ] = False,
    paths_only: Annotated[
        bool, typer.Option("--paths-only", "-f", help="Print bare paths, one a line.")
    ] = False,
    print0: Annotated[
        bool,
        typer.Option(
            "--print0",
            "-0",
            help="Print bare paths, each ended by a NUL instead of a newline, for `xargs -0` "
            "(a file name may hold a newline).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON (docs/search.md).")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Also write a self-contained page of the results' thumbnails to FILE.",
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never try to download model weights.")
    ] = False,
) -> None:
    """Find photos and videos by text, by example and by facts, over the stored CLIP
    embeddings. Prints `score<TAB>path` lines, best first (a video's line adds the second of
    its best-matching frame). Repeated filter options mean "any of"; different ones must all
    hold. Missing files are never listed. Exit codes: 1 no catalog, 2 a bad option value, 4
    the query needs model weights that are not here.

    Examples:

    ```
    photoanalyze search "a dog on a beach" --after 2023-06 --camera pixel
    photoanalyze search ./racing-car.jpg - "2:sports car" + snow --top 5 --json
    photoanalyze search sunset --min-score 0.25 -0 | xargs -0 cp -t ~/best
    ```
    """
    from photoanalyzer.config import with_ml_overrides
    from photoanalyzer.search.engine import SearchRequest
    from photoanalyzer.search.engine import search as run_search
    from photoanalyzer.search.filters import FilterOptions

    if (paths_only or print0) and as_json:
        bare = "--print0" if print0 else "--paths-only"
        raise UsageError(f"{bare} and --json are two output forms: choose one")
    cfg = with_ml_overrides(_load_config(config), offline=offline)
    options = FilterOptions(
        after=after,
        before=before,
        cameras=camera or (),
        lenses=lens or (),
        folders=[str(path) for path in folder or ()],
        kinds=[k.value for k in kind or ()],
        scenes=scene or (),
        objects=objects or (),
        near=near or (),
        places=place or (),
        has_gps=has_gps,
        rating_min=rating_min,
        keywords=keyword or (),
        sharp=sharp,
        blurry=blurry,
        dark=dark,
        overexposed=overexposed,
    )
    request = SearchRequest(
        words=query or (), filters=options, top=top, min_score=min_score,
        sort=sort.value if sort else None, no_duplicates=no_duplicates,
    )  # fmt: skip
    result = run_search(_search_settings(cfg, db), request)
    _print_search(result, b"\0" if print0 else b"\n" if paths_only else None, as_json, html)


def _search_settings(cfg, db: Path | None):
    from photoanalyzer.config import resolve_catalog_path
    from photoanalyzer.search.engine import SearchSettings

    context = _context(cfg, db)
    return SearchSettings(
        catalog_path=resolve_catalog_path(db, cfg),
        thumbnail_dir=context.thumbnail_dir,
        models_dir=context.models_dir,
        ml=cfg.ml,
        content=cfg.content,
    )


def _print_search(result, bare: bytes | None, as_json: bool, html: Path | None) -> None:
    """`bare`: print bare paths, each ended by it (b"\\n", or NUL for --print0)."""
    from photoanalyzer.search import output

    if html is not None:
        try:
            html.write_text(output.html_page(result), encoding="utf-8")
        except OSError as exc:
            raise FatalError(f"cannot write --html {html}: {exc.strerror}") from exc
        typer.echo(f"Wrote {len(result.hits)} results to {html}", err=True)
    if as_json:
        _echo_lines([output.as_json(result)])
        return
    if bare is None:
        _echo_lines(output.lines(result))
    else:
        _write_bytes(output.paths(result, bare))
    for line in output.stderr_lines(result):
        typer.echo(line, err=True)


def _echo_lines(lines: list[str]) -> None:
    """Lines for a person: a name that is not valid UTF-8 is shown readable (pathnames.py),
    which a strict UTF-8 stdout could not write as it is."""
    try:
        for line in lines:
            sys.stdout.write(readable(line) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) has gone: not an error (see _export_to_stdout).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _write_bytes(data: bytes) -> None:
    """Exact bytes for a program (paths as the file system has them), past the text layer."""
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
    short_help="Manage the model weights cache (list, fetch, import).",
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


xmp_app = typer.Typer(
    help="XMP sidecars: write our scenes and objects as keywords other programs read.",
    short_help="Write scenes and objects into XMP sidecars.",
    no_args_is_help=True,
)
app.add_typer(xmp_app, name="xmp")


class SidecarName(StrEnum):
    ext = "ext"
    base = "base"


@xmp_app.command("write", short_help="Write scenes and objects into XMP sidecars as keywords.")
def xmp_write(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Only photos at or below these (default: every indexed photo)."),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; write nothing.")
    ] = False,
    name: Annotated[
        SidecarName,
        typer.Option(
            "--name",
            help="A new sidecar's name: ext, photo.jpg.xmp (darktable, digiKam); base, "
            "photo.xmp (Lightroom). An existing sidecar is updated where it is.",
        ),
    ] = SidecarName.ext,
    min_score: Annotated[
        float,
        typer.Option("--min-score", help="Write the scenes scored at least this (0 to 1)."),
    ] = 0.25,
    allow_random: Annotated[
        bool,
        typer.Option(
            "--allow-random",
            help="Also write labels made with random model weights (meaningless; testing).",
        ),
    ] = False,
) -> None:
    """Write each indexed photo's scenes (scored at least --min-score) and object classes
    into its XMP sidecar: as dc:subject keywords, and as photoanalyzer|scene|... in
    lr:hierarchicalSubject and photoanalyzer/scene/... in digiKam:TagsList. Everything else
    in the sidecar is kept; our keywords from an earlier write are replaced. Photos
    themselves are never written to. Only photos with a current ML result are written."""
    from tqdm import tqdm

    from photoanalyzer.xmp_write import WriteOptions, write_sidecars

    catalog = _open_catalog(db, _load_config(config))
    try:
        roots = [os.path.abspath(p) for p in paths or []]
        summary = write_sidecars(
            catalog.queries.labelled_photos(roots),
            WriteOptions(dry_run, name.value, min_score, allow_random),
            lambda groups: tqdm(groups, desc="sidecars", unit="sidecar", disable=None),
        )
    finally:
        catalog.close()
    _echo_lines(summary.changes)
    for line in [*summary.warnings, *summary.failures]:
        typer.echo(line, err=True)
    prefix = "Dry run, nothing written: would be " if dry_run else "Sidecars: "
    typer.echo(prefix + summary.counts(), err=True)
    if summary.failed:
        raise typer.Exit(EXIT_FATAL)


@app.command(short_help="Check the decoders, torch, the GPU, backends and weights.")
def doctor(config: ConfigOption = None) -> None:
    """Check the setup: the content phase's decoders (JPEG, HEIC, GPU, and why not), torch
    and CUDA versions, the GPU, TensorRT (and why not), the backend auto would pick and why,
    and whether each model's weights are available."""
    from photoanalyzer.config import resolve_models_dir
    from photoanalyzer.ml.doctor import doctor as report

    cfg = _load_config(config)
    typer.echo(report(cfg, resolve_models_dir(cfg)))


def _context(cfg, db: Path | None, for_run: bool = False):
    """Where phases write. Only `run` lets the content phase probe the GPU's decoders (the
    other commands build phases for their names and versions alone), and only `run` writes
    thumbnails into a folder of the new name where one of the name before issue 24 is still
    there (it moves that one first: _index)."""
    from photoanalyzer.config import resolve_catalog_path, resolve_models_dir, resolve_thumbnail_dir
    from photoanalyzer.phases import PhaseContext

    catalog_path = resolve_catalog_path(db, cfg)
    return PhaseContext(
        cfg,
        resolve_thumbnail_dir(cfg, catalog_path, db is not None, for_run),
        resolve_models_dir(cfg),
        probe_decoders=for_run,
    )


def _export_to_stdout(catalog, fmt: str, include_missing: bool) -> None:
    from photoanalyzer.export import write_export

    queries = catalog.queries
    try:
        rows, fields = queries.export_rows(include_missing), queries.field_names(include_missing)
        write_export(rows, fields, fmt, sys.stdout)
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
    (ModelUnavailable, EXIT_PHASE_FAILED, "error: "),
    (FatalError, EXIT_FATAL, "error: "),
)


def main() -> None:
    try:
        app()
    except FatalError as exc:
        code, prefix = next((c, p) for kind, c, p in _EXITS if isinstance(exc, kind))
        typer.echo(f"photoanalyze: {prefix}{readable(str(exc))}", err=True)
        sys.exit(code)
