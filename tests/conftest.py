from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


class Cli:
    """Runs `python -m photoanalyzer` in a child process, as a user would, with HOME and the
    XDG folders inside the test's temporary folder so no real catalog is touched."""

    def __init__(self, home: Path):
        self.home = home
        self.env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        self.env.pop("PHOTOANALYZER_DB", None)

    def __call__(self, *args: str, check: bool = True, env: dict | None = None):
        result = subprocess.run(
            [sys.executable, "-m", "photoanalyzer", *args],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"photoanalyze {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def export(self, db: Path) -> dict[str, dict]:
        out = self("export", "--db", str(db), "--format", "jsonl").stdout
        return {row["path"]: row for row in map(json.loads, out.splitlines())}


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(home)
