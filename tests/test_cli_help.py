"""`photoanalyze --help` lists one short line per command; `COMMAND --help` has the details."""

from __future__ import annotations

import re

import typer

from photoanalyzer.cli import app

# The width a help page gets in a terminal of the usual size (and when piped).
NARROW = {"COLUMNS": "80", "TERMINAL_WIDTH": "80"}


def command_list(help_text: str) -> list[tuple[str, str]]:
    """(name, help) for each line of the help page's command box; a line that continues the
    previous one's help has no name."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Commands" in line and "─" in line)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("╰"):
            break
        match = re.fullmatch(r"│ (\S*)\s+(.*?)\s*│", line)
        assert match, line
        rows.append((match[1], match[2]))
    return rows


def registered(group: typer.Typer, *path: str) -> list[str]:
    command = typer.main.get_command(group)
    for name in path:
        command = command.commands[name]
    return list(command.commands)


def test_the_command_list_has_one_short_line_per_command(cli):
    for path in ((), ("models",), ("xmp",)):
        rows = command_list(cli(*path, "--help", env=NARROW).stdout)
        assert all(name for name, _ in rows), rows  # no help wraps onto a second line
        assert [name for name, _ in rows] == registered(app, *path)


def test_each_command_help_still_has_the_details(cli):
    status = cli("status", "--help", env=NARROW).stdout
    for detail in ("results of an older version", "geotagged", "unreachable", "--runs"):
        assert detail in status
    write = cli("xmp", "write", "--help", env=NARROW).stdout
    assert "digiKam:TagsList" in write and "--allow-random" in write
    models = cli("models", "--help", env=NARROW).stdout
    assert "a machine without network" in models
