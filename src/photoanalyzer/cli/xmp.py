"""`photoanalyze xmp write`: our labels into XMP sidecars, merged with what other programs wrote."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    EXIT_FATAL,
    ConfigOption,
    DbOption,
    app,
    echo_lines,
    load_checked_config,
    open_existing_catalog,
)

xmp_app = typer.Typer(
    help="XMP sidecars: write our scenes and objects as keywords, and the names of persons "
    "as MWG face regions, for other programs to read.",
    short_help="Write scenes, objects and named faces into XMP sidecars.",
    no_args_is_help=True,
)
app.add_typer(xmp_app, name="xmp")


class SidecarName(StrEnum):
    ext = "ext"
    base = "base"


@xmp_app.command(
    "write", short_help="Write scenes and objects as keywords, named faces as MWG regions."
)
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
    people: Annotated[
        bool,
        typer.Option(
            "--people/--no-people",
            help="Write the named persons' faces as MWG face regions and "
            "Iptc4xmpExt:PersonInImage names (photos the faces phase analyzed).",
        ),
    ] = True,
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
    themselves are never written to. Only photos with a current ML result get keywords.

    With --people (the default), each photo the faces phase analyzed gets the faces of named
    persons (`photoanalyze people name`) as MWG face regions (mwg-rs:RegionInfo, Type Face,
    as Lightroom, digiKam and Picasa read them) and their names in PersonInImage; regions and
    names another program wrote are kept, ours from an earlier write are replaced (a face
    renamed or rejected since then is corrected). docs/people.md, docs/xmp.md."""
    from tqdm import tqdm

    from photoanalyzer.outputs.xmp_sidecars import WriteOptions, people_by_path, write_sidecars

    catalog = open_existing_catalog(db, load_checked_config(config))
    try:
        roots = [os.path.abspath(p) for p in paths or []]
        summary = write_sidecars(
            catalog.queries.labelled_photos(roots),
            WriteOptions(dry_run, name.value, min_score, allow_random),
            lambda groups: tqdm(groups, desc="sidecars", unit="sidecar", disable=None),
            people_by_path(catalog.people.sidecar_faces(roots)) if people else None,
        )
    finally:
        catalog.close()
    echo_lines(summary.changes)
    for line in [*summary.warnings, *summary.failures]:
        typer.echo(line, err=True)
    prefix = "Dry run, nothing written: would be " if dry_run else "Sidecars: "
    typer.echo(prefix + summary.counts(), err=True)
    if summary.failed:
        raise typer.Exit(EXIT_FATAL)
