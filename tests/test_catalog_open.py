"""Opening a catalog: migration under the write lock, and reading commands that never write."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from photoanalyzer.catalog import MIGRATIONS, SCHEMA_VERSION, Catalog
from support.requirements import missing

REPO = Path(__file__).resolve().parents[1]


def old_catalog(path: Path, version: int = SCHEMA_VERSION - 1) -> Path:
    """A catalog as an older photoanalyzer left it: WAL, as `run` makes it, and the
    migrations up to `version` only."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for number, script in enumerate(MIGRATIONS[:version], 1):
        script = script(db) if callable(script) else script  # SQL that depends on SQLite
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.close()
    return path


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file in the folder but SQLite's WAL index: its bytes' digest and mtime. A
    reader of a WAL catalog may create the index (-shm) and an empty log where the folder
    is writable, and cannot remove them when it closes read-only; they hold no data."""
    wal = [entry for entry in folder.iterdir() if entry.name.endswith("-wal")]
    assert all(entry.stat().st_size == 0 for entry in wal)
    return {
        entry.name: (hashlib.sha256(entry.read_bytes()).hexdigest(), entry.stat().st_mtime_ns)
        for entry in sorted(folder.iterdir())
        if not entry.name.endswith(("-shm", "-wal"))
    }


OPEN_IN_CHILD = (
    "import sys; from pathlib import Path; from photoanalyzer.catalog import Catalog;"
    "print('opening', flush=True); Catalog(Path(sys.argv[1])).close(); print('opened')"
)


def test_two_processes_opening_an_old_catalog_migrate_it_once(tmp_path):
    """A cron run and a second writer open a catalog an upgrade left one version behind.
    Both read its version while a third connection holds the write lock (a run's batch, say),
    so neither can migrate before the other has looked: each must read the version again
    under the lock, and the second must find the first one's work done."""
    path = old_catalog(tmp_path / "old.db")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_IN_CHILD, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout.readline() == "opening\n"
        time.sleep(1.0)  # each has read the version by now, and waits for the lock
    finally:
        holder.execute("COMMIT")
        holder.close()
    for child in children:
        out, err = child.communicate(timeout=60)
        assert (child.returncode, out, err) == (0, "opened\n", "")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = [row[1] for row in db.execute("PRAGMA table_info(content)")]
    db.close()
    assert columns.count("decoder") == 1


def test_a_catalog_is_migrated_in_one_step_from_any_older_version(tmp_path):
    for version in (0, 1, 7, SCHEMA_VERSION - 1):
        path = old_catalog(tmp_path / f"v{version}.db", version)
        catalog = Catalog(path)
        assert catalog.schema_version() == SCHEMA_VERSION
        assert catalog.queries.file_counts() == {}
        catalog.close()


READING_COMMANDS = (
    ["status"],
    ["status", "--json"],
    ["export"],
    ["duplicates"],
    ["duplicates", "--by", "embedding"],
    ["search", "--json", "--after", "2020-01-01"],
    ["report"],
    ["xmp", "write", "--dry-run"],
)


def test_reading_commands_leave_an_old_catalog_as_it_is_and_say_how_to_upgrade(cli, tmp_path):
    folder = tmp_path / "catalog"
    folder.mkdir()
    path = old_catalog(folder / "old.db")
    before = fingerprint(folder)
    for command in READING_COMMANDS:
        result = cli(*command, "--db", str(path), check=False)
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr == (
            f"photoanalyze: error: the catalog {path} has schema version {SCHEMA_VERSION - 1},"
            f" older than this program's ({SCHEMA_VERSION}); run `photoanalyze run` once to"
            " upgrade it (reading commands never write to the catalog)\n"
        ), command
        assert result.stdout == ""
        assert fingerprint(folder) == before, command  # no byte, mtime, -wal or thumbnail
    # `run` upgrades it, and then they read it.
    (tmp_path / "empty").mkdir()
    cli("run", str(tmp_path / "empty"), "--db", str(path), "--phases", "metadata", "--quiet")
    assert f'"schema": {SCHEMA_VERSION}' in cli("status", "--json", "--db", str(path)).stdout


def _as_unprivileged_user() -> list[str] | None:
    """The prefix that runs a command as a user whom file modes bind: none when this is not
    root; setpriv to `nobody` for root (who writes anywhere); None where that is not
    possible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import photoanalyzer.cli"],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
    )
    return prefix if probe.returncode == 0 else None


def test_reading_commands_read_a_catalog_in_a_read_only_folder():
    """A copy on a backup disk or a read-only mount: SQLite cannot create the WAL index
    there, and nothing may be written; status and export still read it."""
    prefix = _as_unprivileged_user()
    if prefix is None:
        missing("running as root without setpriv: file modes bind no one")
    # Not tmp_path: pytest makes that private to this user.
    top = Path(tempfile.mkdtemp(prefix="pa-readonly-"))
    try:
        folder = top / "copy"
        folder.mkdir()
        catalog = Catalog(folder / "c.db")
        catalog.close()
        for entry in (top, folder, folder / "c.db"):
            entry.chmod(0o755 if entry.is_dir() else 0o644)
        before = fingerprint(folder)
        folder.chmod(0o555)
        home = top / "home"
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HOME": str(home)}
        env.pop("PHOTOANALYZER_DB", None)
        out = {}
        photoanalyze = [*prefix, sys.executable, "-m", "photoanalyzer"]
        for command in (["status", "--json"], ["export"]):
            result = subprocess.run(
                [*photoanalyze, *command, "--db", str(catalog.path)],
                capture_output=True,
                text=True,
                env=env,
            )
            assert (result.returncode, result.stderr) == (0, ""), command
            out[command[0]] = result.stdout
        assert json.loads(out["status"])["schema"] == SCHEMA_VERSION
        assert out["export"] == ""  # no files indexed, and no error either
        folder.chmod(0o755)
        assert fingerprint(folder) == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(top)
