"""The command line: the Typer app (app.py) and one module per command group; each command
parses, loads the config, calls one function and prints. Heavy modules are imported inside
the commands, so `--help` and a rescan start fast.

A command module registers its commands on the app when it is imported. `main` imports only
the module of the command the command line names (every module for `--help`, `--version` or
a name it does not know), so `photoanalyze search` does not pay for importing `run`, `serve`
and the rest: a text query from the shell is meant to answer in well under a second."""

from __future__ import annotations

import importlib
import sys

# The app itself is cheap (typer, which every command needs): its commands are not.
from photoanalyzer.cli.app import app
from photoanalyzer.cli.app import main as run_app

# Command or group name -> the module under photoanalyzer.cli that registers it. The order
# of the modules' first appearance is the order of the commands in --help.
COMMAND_MODULES = {
    "run": "run",
    "export": "catalog",
    "status": "catalog",
    "duplicates": "duplicates",
    "report": "report",
    "search": "search",
    "serve": "serve",
    "benchmark": "benchmark",
    "doctor": "models",
    "models": "models",
    "xmp": "xmp",
    "people": "people",
}


def main() -> None:
    """The `photoanalyze` entry point."""
    command = _command_named(sys.argv[1:])
    load_commands([command] if command else None)
    run_app()


def load_commands(names: list[str] | None = None) -> None:
    """Register the named commands on `app` (None: every command, in --help's order)."""
    modules = [COMMAND_MODULES[name] for name in names] if names else COMMAND_MODULES.values()
    for module in dict.fromkeys(modules):
        importlib.import_module(f"photoanalyzer.cli.{module}")


def _command_named(args: list[str]) -> str | None:
    """The command the arguments name: the first that is not an option (the root takes no
    option with a value), if it is one we know."""
    first = next((arg for arg in args if not arg.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


__all__ = ["COMMAND_MODULES", "app", "load_commands", "main"]
