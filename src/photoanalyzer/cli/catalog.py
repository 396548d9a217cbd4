"""`photoanalyze export` and `status`: what the catalog holds, as records or counts."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    ConfigOption,
    DbOption,
    IncludeMissingOption,
    app,
    load_checked_config,
    open_existing_catalog,
    phase_context,
)
from photoanalyzer.errors import (
    FatalError,
)


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@app.command(short_help="Write every file's fields as JSON lines or CSV.")
def export(
    db: DbOption = None,
    config: ConfigOption = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="jsonl: one JSON object per line; csv: a header row, lists and mappings "
            "(keywords, dominant_colors, faces, scenes, objects, object_counts, text, errors) "
            "as JSON text.",
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
    decoder, decoder_note); faces (face_count, and faces: each face's box, frame, person_id,
    name and score); ML
    (top_scene, scenes, objects, object_counts, ml_random_weights, clip_random_weights,
    yolo_random_weights); text (screenshot, screenshot_reason, text: the lines with their
    boxes and the whole text, text_line_count); and errors (phase -> message). See
    docs/fields.md.
    """
    from photoanalyzer.outputs.export import write_export

    catalog = open_existing_catalog(db, load_checked_config(config))
    try:
        if out is None:
            export_to_stdout(catalog, fmt.value, include_missing)
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
    how many faces the faces phase found, in how many files, and how many persons (named or
    not) they make; and the last runs: start, duration, files new / changed / moved /
    missing / unreachable, and per phase processed / failed."""
    from photoanalyzer.library import pairs
    from photoanalyzer.outputs import terminal as report
    from photoanalyzer.phases import IMPLEMENTED, build_phases

    cfg = load_checked_config(config)
    catalog = open_existing_catalog(db, cfg)
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
                for phase in build_phases(IMPLEMENTED, phase_context(cfg, db))
            },
            runs=catalog.runs.recent(runs),
            last_walk=catalog.runs.last_walk(),
            places=catalog.queries.place_counts(),
            text=catalog.text.counts(),
            people=catalog.people.counts(),
        )
    finally:
        catalog.close()
    typer.echo(report.status_as_json(state) if as_json else report.format_status(state))


def export_to_stdout(catalog, fmt: str, include_missing: bool) -> None:
    from photoanalyzer.outputs.export import write_export

    queries = catalog.queries
    try:
        rows, fields = queries.export_rows(include_missing), queries.field_names(include_missing)
        write_export(rows, fields, fmt, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`, say) has gone: not an error. Point stdout at devnull so the
        # interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
