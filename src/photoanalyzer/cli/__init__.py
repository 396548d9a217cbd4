"""The command line: the Typer app (app.py) and one module per command group; each command
parses, loads the config, calls one function and prints. Heavy modules are imported inside
the commands, so `--help` and a rescan start fast."""

# Importing the command modules registers their commands on the app, in this order in --help.
from photoanalyzer.cli import run, catalog, duplicates, report, search  # noqa: F401, I001
from photoanalyzer.cli import serve, benchmark, models, xmp, people  # noqa: F401
from photoanalyzer.cli.app import app, main

__all__ = ["app", "main"]
