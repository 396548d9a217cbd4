"""The suite on a fresh clone (tests/support/requirements.py): with no ../shared corpus and
no program or module a test needs, pytest collects and exits 0, each skip saying in one line
what is missing; under CI=true the same run fails, at collection and at run time.

Each check runs pytest in a child process over a copy of the tests placed where no
../shared exists, as `git clone` elsewhere gives it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from support.requirements import CORPUS_VARIABLE

# Tests that read the corpus: at collection (test_raw_corpus.py's and test_xmp.py's
# parameters) and at run time (test_corpus.py). Few, so that the children start quickly.
CORPUS_TESTS = ["tests/test_raw_corpus.py", "tests/test_xmp.py", "tests/test_corpus.py"]
PROBES = {
    # What a test of an extra does at module level.
    "test_probe_module.py": """
from support.requirements import require_module

require_module("photoanalyzer_no_such_module")


def test_never_runs():
    raise AssertionError("collected although its module is missing")
""",
    # In a test, in a fixture and as a mark.
    "test_probe_calls.py": """
import pytest

from support.requirements import needs, require_binary, require_module


@pytest.fixture
def program():
    return require_binary("photoanalyzer-no-such-program")


def test_a_program(program):
    raise AssertionError("ran without its program")


def test_a_module():
    require_module("photoanalyzer_no_such_module")
    raise AssertionError("ran without its module")


@needs(modules=("photoanalyzer_no_such_module",), binaries=("sh",))
def test_a_marked_module():
    raise AssertionError("ran without its module")


@needs(modules=("json",), binaries=("sh",))
def test_what_is_there_runs():
    pass
""",
}


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The tests and pyproject.toml (pytest's settings) in a folder with no ../shared."""
    root = tmp_path_factory.mktemp("elsewhere") / "photoanalyzer"
    shutil.copytree(REPO / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    for name, text in PROBES.items():
        (root / "tests" / name).write_text(text)
    assert not (root.parent / "shared").exists()
    return root


def pytest_in(clone: Path, *args: str, ci: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CI": ci,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop(CORPUS_VARIABLE, None)  # the corpus is looked for where a clone has none
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_corpus_programs_or_modules_everything_skips_saying_why(clone):
    probes = [f"tests/{name}" for name in PROBES]
    result = pytest_in(clone, *CORPUS_TESTS, *probes, "-k", "corpus or probe", ci="")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    # One line each, at the test that skipped (not in the helper), with what is missing.
    assert skipped and all(
        re.match(r"SKIPPED \[\d+\] tests/test_\w+\.py:\d+: ", s) for s in skipped
    )
    reasons = "\n".join(skipped)
    for module in ("test_raw_corpus", "test_xmp", "test_corpus"):
        assert re.search(rf"{module}\.py:\d+: the shared corpus is not at \S+", reasons), module
    assert str(clone.parent / "shared" / "corpus") in reasons
    assert "test_probe_module.py" in reasons
    assert reasons.count("photoanalyzer_no_such_module is not installed") == 2
    assert "photoanalyzer_no_such_module not installed" in reasons  # the mark's reason
    assert "photoanalyzer-no-such-program is not installed" in reasons
    assert "1 passed" in out  # what is there runs


def test_under_ci_a_missing_corpus_or_module_fails_the_collection(clone):
    for files in (["tests/test_raw_corpus.py"], ["tests/test_probe_module.py"]):
        result = pytest_in(clone, "--collect-only", *files, ci="true")
        out = result.stdout + result.stderr
        assert result.returncode == pytest.ExitCode.INTERRUPTED, out
        assert f"ERROR {files[0]}" in out and "under CI=true a failure, not a skip" in out


def test_under_ci_a_missing_corpus_program_or_module_fails_the_test(clone):
    result = pytest_in(
        clone, "tests/test_probe_calls.py", "tests/test_xmp.py", "-k", "corpus or probe", ci="true"
    )
    out = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert "skipped" not in out.splitlines()[-1]
    assert "1 passed" in out
    for test in (
        "test_a_program",
        "test_a_module",
        "test_a_marked_module",
        "test_the_corpus_is_all_there_when_present",
        "test_every_corpus_sidecar_reads_the_rating_and_subjects_exiftool_reads[no-corpus]",
    ):
        assert re.search(rf"(FAILED|ERROR) tests/\S+::{re.escape(test)} - ", out), test


def test_no_test_skips_on_its_own():
    """Every skip for something missing goes through tests/support/requirements.py, the one
    place that knows CI must fail instead: no importorskip, no CI variable read elsewhere."""
    offenders = [
        f"{path.name}:{number}"
        for path in sorted((REPO / "tests").glob("test_*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"importorskip\(|environ(\.get)?\W+CI\b", line)
        and path.name != Path(__file__).name
    ]
    assert not offenders
