"""Command line: parse, load the config, call one function, print. No logic lives here.
Heavy modules are imported inside the commands, so `--help` and a rescan start fast."""

from __future__ import annotations

import os
import sys
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


def echo_output(text: str | bytes) -> None:
    """Text a line at a time; bytes (exact paths, --print0) as they are."""
    if isinstance(text, bytes):
        write_bytes(text)
    else:
        echo_lines([text])


def echo_lines(lines: list[str]) -> None:
    """Lines for a person: a name that is not valid UTF-8 is shown readable (pathnames.py),
    which a strict UTF-8 stdout could not write as it is."""
    try:
        for line in lines:
            sys.stdout.write(readable(line) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) has gone: not an error (see export_to_stdout).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_bytes(data: bytes) -> None:
    """Exact bytes for a program (paths as the file system has them), past the text layer."""
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def phase_context(cfg, db: Path | None, for_run: bool = False):
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


def load_checked_config(path: Path | None):
    from photoanalyzer.config import load_config, validate
    from photoanalyzer.phases import PHASE_ORDER

    return validate(load_config(path), PHASE_ORDER)


def open_existing_catalog(db: Path | None, cfg):
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
