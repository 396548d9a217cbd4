"""`photoanalyze serve`: a local web page over the catalog."""

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
from photoanalyzer.cli.search import search_settings


@app.command(short_help="Search and browse the catalog in a local web page.")
def serve(
    db: DbOption = None,
    config: ConfigOption = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Any address but a loopback one (127.0.0.1, "
            "localhost, ::1) lets other machines connect, and then every request must "
            "carry the random token printed at start.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0: any free one.")
    ] = 8765,
    open_it: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
    max_upload_mb: Annotated[
        int,
        typer.Option("--max-upload-mb", min=1, max=1024, help="Largest example picture to accept."),
    ] = 32,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never try to download model weights.")
    ] = False,
) -> None:
    """Serve a local web page over the catalog until Ctrl-C: a search box with the query
    language and filters of `photoanalyze search` (or an example picture, uploaded or
    clicked: "more like this"), results as thumbnails, a page per photo (its facts, scenes,
    objects with their boxes, faces with names, text lines, near-duplicates, similar
    photos), the report's pages, live, and people pages where persons are named, merged and
    corrected. Those are its only writes to the catalog, made as `photoanalyze people`
    makes them and never while a run holds the catalog; it writes nothing to the photo
    folders and deletes or moves no file. Prints the address to open (with the token, when
    --host is not a loopback address). Models are loaded once, at the first query that needs
    them. See docs/serve.md.

    ```
    photoanalyze serve --open
    photoanalyze serve --db ~/Pictures/photos.db --host 0.0.0.0 --port 8080
    ```
    """
    import webbrowser

    from photoanalyzer.config import with_ml_overrides
    from photoanalyzer.outputs.serve import server
    from photoanalyzer.outputs.serve.app import make_app

    server.require_extra()
    cfg = with_ml_overrides(load_checked_config(config), offline=offline)
    open_existing_catalog(db, cfg).close()  # no catalog, or an older one: say so now
    token = server.new_token(host)
    sock = server.listen(host, port)
    url = server.address(sock, token)
    settings = serve_settings(cfg, db, host, token, max_upload_mb * 2**20)

    def ready() -> None:
        typer.echo(url)
        catalog = Path(settings.search.catalog_path)
        where = "other machines can connect: share the address with its token only" if token \
            else "this machine only"  # fmt: skip
        typer.echo(f"Serving {catalog} ({where}); Ctrl-C stops.", err=True)
        if open_it:
            webbrowser.open(url)

    server.serve(make_app(settings), sock, ready)


def serve_settings(cfg, db: Path | None, host: str, token: str | None, max_upload_bytes: int):
    """What the application needs from the config: the search's settings, the phases (for
    the report's counts), the near-duplicate distance; and the function `people name`
    names a person with (the web page's only writes are `people`'s)."""
    from photoanalyzer.outputs.serve.app import ServeSettings
    from photoanalyzer.phases import IMPLEMENTED, build_phases
    from photoanalyzer.run.people_step import name_person

    context = phase_context(cfg, db)
    return ServeSettings(
        search=search_settings(cfg, db),
        phases=[(phase.name, list(phase.kinds)) for phase in build_phases(IMPLEMENTED, context)],
        near_duplicate_distance=cfg.content.near_duplicate_distance,
        host=host,
        token=token,
        name_person=name_person,
        max_upload_bytes=max_upload_bytes,
    )
