"""The torture run, small, on every clone: files of each kind made here, 60 files fuzzed from
them (tests/fuzzgen.py), `photoanalyze run --quiet` with the metadata, places and content
phases: exit 0, nothing on stderr, no traceback, every file a result or a per-file error,
and a rescan with nothing to do. benchmarks/torture.py is the full run (the shared corpus,
500 fuzzed files, the ML phase too). Below it, one test per failure the torture run found."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from photoanalyzer.config import load_config
from photoanalyzer.formats import heif_boxes
from photoanalyzer.formats.heif_boxes import HeifStructureError
from photoanalyzer.phases.base import analyze_safely
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.phases.metadata import MetadataPhase
from support.fuzzgen import _write_video, copy_seeds, fuzz_library, run_and_check, write_seeds
from support.requirements import require_module

CONFIG = load_config()


def have_rawpy() -> bool:
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return False
    return True


def test_sixty_fuzzed_files_give_per_file_errors_and_nothing_else(tmp_path):
    # Without rawpy a RAW file stays pending (DecoderMissing: the machine's lack), as it
    # should: the fuzzing then leaves RAW files out.
    seeds = write_seeds(tmp_path / "seeds", raw=have_rawpy())
    library = tmp_path / "library"
    copy_seeds(seeds, tmp_path / "seeds", library / "made")
    fuzzed = fuzz_library(seeds, library / "fuzzed", 60, seed=24)
    problems, facts = run_and_check(library, tmp_path / "work", ["metadata", "places", "content"])
    assert not problems, "\n".join(problems)
    assert facts["files"] >= len(fuzzed)
    assert facts["with_errors"] >= 10  # the fuzzing broke files, and they say so


# -- what the torture run found -------------------------------------------------------------


@pytest.fixture
def clip(tmp_path) -> Path:
    require_module("av")
    return _write_video(tmp_path / "clip.mp4")


def outcomes(path: Path, tmp_path: Path) -> list:
    content = ContentPhase(CONFIG.content, str(tmp_path / "thumbs"))
    return [analyze_safely(phase, str(path), "video") for phase in (MetadataPhase(), content)]


def test_a_video_ffmpeg_cannot_seek_in_is_a_final_error(clip, tmp_path):
    """Without its movie header FFmpeg's seek fails with EPERM ("Operation not permitted"),
    an OSError with an errno: it was taken for the disk's fault and retried every night."""
    clip.write_bytes(clip.read_bytes().replace(b"mvhd", b"free"))
    content = outcomes(clip, tmp_path)[1]
    assert content.final is True
    assert "FFmpeg cannot seek" in content.error and "not the file's fault" not in content.error


def test_a_video_of_an_unknown_codec_says_so(clip, tmp_path):
    """An unknown sample entry (and no decoder configuration to guess one from) leaves
    PyAV's stream without a codec context: it was an AttributeError ('NoneType' object has no
    attribute 'width')."""
    clip.write_bytes(clip.read_bytes().replace(b"mp4v", b"zzzz").replace(b"esds", b"free"))
    for outcome in outcomes(clip, tmp_path):
        assert outcome.final is True
        assert "no decoder for its video stream" in outcome.error


def test_a_heif_box_of_2_to_the_63_bytes_is_the_files_error(tmp_path):
    """exifread seeks to the end of a box it does not know; a 64-bit size near 2**63 made
    that an OSError with an errno (EINVAL), taken for the disk's fault and retried."""
    unknown = struct.pack(">I4sQ", 1, b"zzzz", 2**63 - 64) + b"\0" * 16
    meta = b"\0\0\0\0" + unknown
    path = tmp_path / "huge.heic"
    path.write_bytes(
        struct.pack(">I4s", 24, b"ftyp")
        + b"heic\0\0\0\0mif1heic"
        + struct.pack(">I4s", 8 + len(meta), b"meta")
        + meta
    )
    outcome = analyze_safely(MetadataPhase(), str(path), "photo")
    assert outcome.final is True and "Errno" not in outcome.error


def test_a_heif_item_with_65535_extents_of_no_bytes_is_not_walked(tmp_path):
    """exifread walks an iloc by its counts: items of 65535 extents whose offset and length
    have no bytes are a loop that reads nothing (92 s for one fuzzed file). The metadata
    phase checks the item locations first and reads such a file's EXIF with Pillow only."""
    items = 1000  # 65 million empty steps for exifread: half a minute at least
    entries = b"".join(struct.pack(">HHHH", i + 1, 0, 0, 65535) for i in range(items))
    iloc = b"\x01\0\0\0" + b"\0\0" + struct.pack(">H", items) + entries  # version 1, sizes 0
    meta = b"\0\0\0\0" + struct.pack(">I4s", 8 + len(iloc), b"iloc") + iloc
    path = tmp_path / "loop.heic"
    path.write_bytes(
        struct.pack(">I4s", 24, b"ftyp")
        + b"heic\0\0\0\0mif1heic"
        + struct.pack(">I4s", 8 + len(meta), b"meta")
        + meta
    )
    started = time.perf_counter()
    outcome = analyze_safely(MetadataPhase(), str(path), "photo")
    assert time.perf_counter() - started < 10
    assert outcome.final is True
    with open(path, "rb") as fh, pytest.raises(HeifStructureError, match="65535 extents of no"):
        heif_boxes.check_item_locations(fh)
