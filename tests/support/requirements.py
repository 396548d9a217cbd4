"""What a test needs that a fresh clone may lack: the shared corpus beside the repository, a
program (exiftool, chromium), a module of an extra, a file fetched from a package registry.

Where it is missing, the test skips with a one-line reason. Under CI (the environment variable
CI set to "true", as GitHub Actions, GitLab and .ci/run's hosts set it) it fails instead: CI
installs everything, so a missing piece there is a broken install or setup, and a skip would
turn it green. Called at module level, the failure is a collection error."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
# Where the corpus is when it is not beside the repository (../shared/corpus).
CORPUS_VARIABLE = "PHOTOANALYZER_TEST_CORPUS"

# Where each optional module comes from, for the reason a test gives.
MODULE_SOURCES = {
    "torch": "the ml extra",
    "torchvision": "the ml extra",
    "open_clip": "the ml extra (open_clip_torch)",
    "onnxruntime": "the ml extra",
    "ultralytics": "the ml extra",
    "rawpy": "the raw extra, in dev",
    "rapidocr_onnxruntime": "the text extra (rapidocr-onnxruntime)",
    "ray": "the ray extra, in dev",
    "selenium": "the dev extra",
    "starlette": "the serve extra",
    "uvicorn": "the serve extra",
    "httpx": "the dev extra (Starlette's test client)",
    "importlinter.cli": "the dev extra (import-linter)",
    "av": "a dependency (PyAV)",
    "pillow_heif": "a dependency (pillow-heif)",
    "dlib": "the faces extra (dlib-bin)",
    "face_recognition_models": "the faces extra (face-recognition-models)",
}
BINARY_SOURCES = {
    "exiftool": "Debian: libimage-exiftool-perl",
    "chromium": "Debian: chromium",
    "chromedriver": "Debian: chromium-driver",
}


def corpus_root() -> Path:
    """The shared corpus: $PHOTOANALYZER_TEST_CORPUS, else ../shared/corpus beside the repo."""
    return Path(os.environ.get(CORPUS_VARIABLE) or REPO.parent / "shared" / "corpus")


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it under CI; usable in a test, a fixture, a setup
    hook and at module level (where the failure stops the collection)."""
    __tracebackhide__ = True
    reason = " ".join(reason.split())  # one line in the short summary
    if under_ci():
        pytest.fail(f"{reason}; under CI=true a failure, not a skip", pytrace=False)
    # Reported at the test (as a skipif mark is), and at collection at the test module's
    # line (these frames are hidden): the summary's one line says which test skipped and why.
    raise pytest.skip.Exception(reason, allow_module_level=True, _use_item_location=True)


def corpus_reason(path: Path) -> str:
    return (
        f"the shared corpus is not at {path} (it lives beside the repository, in "
        f"../shared/corpus, or where ${CORPUS_VARIABLE} says)"
    )


def require_corpus(path: Path) -> Path:
    """`path`, a file or folder of the shared corpus, if it is there."""
    __tracebackhide__ = True
    if not path.exists():
        missing(corpus_reason(path))
    return path


def require_binary(name: str) -> str:
    """The full path of program `name` on the PATH."""
    __tracebackhide__ = True
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed ({BINARY_SOURCES.get(name, 'not on the PATH')})")
    return found


def require_module(name: str) -> ModuleType:
    """Module `name`, imported (pytest.importorskip, but failing under CI)."""
    __tracebackhide__ = True
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not installed ({MODULE_SOURCES.get(name, 'optional')}): {exc}")


def installed(name: str) -> bool:
    """Whether module `name` can be imported, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require_installed(*names: str) -> None:
    """Modules `names` installed, not imported: for tests whose child processes import them."""
    __tracebackhide__ = True
    absent = [name for name in names if not installed(name)]
    if absent:
        sources = sorted({MODULE_SOURCES.get(name, "optional") for name in absent})
        missing(f"{', '.join(absent)} not installed ({'; '.join(sources)})")


def needs(
    *, corpus: Path | None = None, binaries: Sequence[str] = (), modules: Sequence[str] = ()
) -> pytest.MarkDecorator:
    """A mark that checks, before the test runs, that the corpus path exists, the programs
    are on the PATH and the modules are installed (not imported: the test's child processes
    import them); conftest's setup hook reads it. The decorator form of the require_ calls."""
    return pytest.mark.requires(corpus=corpus, binaries=tuple(binaries), modules=tuple(modules))


def check_mark(mark: pytest.Mark) -> None:
    """What a `requires` mark (from `needs` or `corpus_cases`) asks for, else `missing`."""
    __tracebackhide__ = True
    if mark.kwargs.get("reason"):
        missing(mark.kwargs["reason"])
    if mark.kwargs.get("corpus") is not None:
        require_corpus(Path(mark.kwargs["corpus"]))
    for name in mark.kwargs.get("binaries", ()):
        require_binary(name)
    require_installed(*mark.kwargs.get("modules", ()))


def corpus_cases(folder: Path, find: Callable[[Path], list], what: str) -> list:
    """Parameters read from the corpus while the tests are collected: `find(folder)`, or, with
    no folder or nothing found, one case whose run skips (fails under CI) saying so. Reading
    the corpus at collection must not stop the collection of a clone without it, and an empty
    parameter list would be a skip that CI cannot tell from a pass."""
    cases = find(folder) if folder.exists() else []
    if cases:
        return cases
    reason = f"no {what} under {folder}" if folder.exists() else corpus_reason(folder)
    return [pytest.param(None, id="no-corpus", marks=pytest.mark.requires(reason=reason))]
