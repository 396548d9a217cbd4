"""`photoanalyze --help` lists one short line per command; `COMMAND --help` has the details."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import typer

from photoanalyzer.cli import app, load_commands

load_commands()  # every command on `app`, as `photoanalyze --help` has them

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


def test_every_command_is_mapped_to_the_module_that_registers_it():
    """`main` imports only the named command's module (cli/__init__.py): a command missing
    from COMMAND_MODULES, or mapped to the wrong module, would not exist when named."""
    from photoanalyzer.cli import COMMAND_MODULES

    found = {c.name or c.callback.__name__: c.callback.__module__ for c in app.registered_commands}
    for group in app.registered_groups:
        found[group.name] = group.typer_instance.registered_commands[0].callback.__module__
    assert {name: f"photoanalyzer.cli.{m}" for name, m in COMMAND_MODULES.items()} == found


def test_a_command_imports_only_its_own_module():
    code = (
        "import sys\n"
        "from photoanalyzer import cli\n"
        "sys.argv = ['photoanalyze', 'search', '--help']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('photoanalyzer.cli.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (
        done.stdout.strip().splitlines()[-1]
        == "['photoanalyzer.cli.app', 'photoanalyzer.cli.search']"
    )


def test_runs_help_names_every_phase():
    from photoanalyzer.phases import PHASE_ORDER

    command = typer.main.get_command(app).commands["run"]
    option = next(p for p in command.params if p.name == "phases")
    assert f"({','.join(PHASE_ORDER)})" in option.help


def test_exports_help_and_docs_name_every_field_and_every_json_cell(tmp_path):
    """`export --help` and docs/fields.md list the fields an export has, and the CSV's JSON
    cells: a new phase's fields must reach both."""
    from photoanalyzer.catalog import Catalog

    catalog = Catalog(tmp_path / "empty.db")
    try:
        fields = catalog.queries.field_names(include_missing=True)
    finally:
        catalog.close()
    command = typer.main.get_command(app).commands["export"]
    words = set(re.findall(r"\w+", command.help))
    assert [f for f in fields if f not in words] == []
    as_json = next(p for p in command.params if p.name == "fmt").help
    documented = (Path(__file__).parents[1] / "docs" / "fields.md").read_text()
    for field in ("keywords", "dominant_colors", "faces", "scenes", "objects", "text", "errors"):
        assert field in re.findall(r"\w+", as_json)
        assert f"`{field}`" in documented.split("as JSON text")[0]
