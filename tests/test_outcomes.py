"""Which read failures are the file's fault (final: not retried until the file changes) and
which are the environment's (the file stays pending and the next run tries it again)."""

import dataclasses
import errno
import os
from pathlib import Path

import pytest
from PIL import Image

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.phases.base import analyze_safely, outcome_for_exception
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.run import pipeline
from support.imagegen import full_spec, write_photo, write_random_bytes, write_truncated_jpeg

CONFIG = load_config()


def raised_by(action) -> BaseException:
    try:
        action()
    except Exception as exc:  # the exception is the value under test
        return exc
    raise AssertionError("expected the action to raise")


def test_operating_system_errors_and_memory_are_not_final():
    # Real exceptions from the operating system where a root test can provoke them; the
    # others are built as the OS raises them (errno set), which is all the rule looks at.
    vanished = raised_by(lambda: os.stat("/nonexistent/photo.jpg"))
    for exc in (
        vanished,
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.EIO, "Input/output error"),
        OSError(errno.ESTALE, "Stale file handle"),
        MemoryError(),
    ):
        outcome = outcome_for_exception(exc)
        assert outcome.final is False and outcome.record is None, exc
        assert "next run tries it again" in outcome.error


def test_content_errors_from_real_broken_files_are_final(tmp_path):
    truncated = write_truncated_jpeg(tmp_path / "cut.jpg", keep=2000)
    noise = write_random_bytes(tmp_path / "noise.jpg")

    def decode(path):
        with Image.open(path) as image:
            image.load()

    for exc in (
        raised_by(lambda: decode(truncated)),  # OSError "image file is truncated", no errno
        raised_by(lambda: decode(noise)),  # UnidentifiedImageError
        ValueError("bad rational"),
        IndexError("list index out of range"),
    ):
        assert outcome_for_exception(exc).final is True, exc


def test_a_file_that_vanished_before_it_was_read_is_pending_not_failed(tmp_path):
    outcome = analyze_safely(MetadataPhase(workers=1), str(tmp_path / "gone.jpg"), "photo")
    assert outcome.final is False and "FileNotFoundError" in outcome.error


@dataclasses.dataclass(frozen=True)
class MovedAwayWhileReading(MetadataPhase):
    """Metadata, but another program moves the file away between the walk and the read (as
    a sync client or a slow network share does): a true environment boundary, so the test
    provokes it for real rather than faking the exception."""

    def analyze(self, path: str, kind: str):
        os.rename(path, path + ".away")
        return super().analyze(path, kind)


@pytest.fixture
def catalog(tmp_path: Path):
    cat = Catalog(tmp_path / "c.db")
    yield cat
    cat.close()


def test_an_environment_error_is_retried_by_the_next_run(tmp_path, catalog):
    lib = tmp_path / "lib"
    photo = write_photo(lib / "a.jpg", full_spec(model="Kept"))
    first = pipeline.run([str(lib)], [MovedAwayWhileReading(workers=1)], catalog, CONFIG)
    assert (first.phases[0].processed, first.phases[0].errors) == (1, 1)
    counts = catalog.queries.phase_summary("metadata", ["photo"], MetadataPhase().version)
    assert (counts["done"], counts["failed"], counts["never"]) == (0, 0, 1)  # not failed
    assert counts["pending_for_config"] == 1
    os.rename(str(photo) + ".away", photo)  # back, same size and mtime: not "changed"
    second = pipeline.run([str(lib)], [MetadataPhase(workers=1)], catalog, CONFIG)
    assert (second.sync.changed, second.phases[0].processed, second.phases[0].errors) == (0, 1, 0)
    (row,) = catalog.queries.export_rows()
    assert row["model"] == "Kept" and row["errors"] == {}


def test_a_truncated_jpeg_fails_for_good(tmp_path, catalog):
    lib = tmp_path / "lib"
    write_truncated_jpeg(lib / "cut.jpg", keep=2000)
    content = ContentPhase(CONFIG.content, str(tmp_path / "thumbs"))
    first = pipeline.run([str(lib)], [content], catalog, CONFIG)
    assert first.phases[0].errors == 1
    (row,) = catalog.queries.export_rows()
    assert "truncated" in row["errors"]["content"]
    assert pipeline.run([str(lib)], [content], catalog, CONFIG).phases[0].processed == 0
