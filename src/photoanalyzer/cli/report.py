"""`photoanalyze report`: the static HTML report beside the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    ConfigOption,
    DbOption,
    app,
    load_checked_config,
    open_existing_catalog,
    phase_context,
)
from photoanalyzer.errors import (
    FatalError,
    UsageError,
)


@app.command(short_help="Write a static HTML report of the catalog.")
def report(
    db: DbOption = None,
    config: ConfigOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to write the report into. Default: CATALOG-report/ beside the "
            "catalog (photos.db-report/).",
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

    from photoanalyzer.outputs.html_report import (
        NotAReportFolder,
        build_report,
        default_folder,
        earlier_default,
    )
    from photoanalyzer.phases import IMPLEMENTED, build_phases

    cfg = load_checked_config(config)
    context = phase_context(cfg, db)
    catalog = open_existing_catalog(db, cfg)
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
    earlier = None if out else earlier_default(catalog.path)
    if earlier is not None:
        typer.echo(
            f"Note: reports now go to {written.index.parent}; {earlier} (the earlier default,"
            " shared by every catalog in its folder) is left as it is: delete it when you no"
            " longer need it.",
            err=True,
        )
    url = written.index.as_uri()
    copied = f", {written.thumbnails_copied} thumbnails copied" if portable else ""
    typer.echo(f"Wrote {written.pages} pages to {written.index.parent}{copied}", err=True)
    typer.echo(url)
    if open_it:
        webbrowser.open(url)
