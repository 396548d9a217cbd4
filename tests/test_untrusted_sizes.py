"""Sizes a file states about itself are checked against the file before they are used: a
preview length, a TIFF value count, a box size or an item extent of 4 GiB in a small file is
a clear error naming the field (or a read cut at the end of the file), never a 4 GiB
allocation. And a failure that is not plainly the file's (out of memory, an I/O error)
repeated on the unchanged file becomes its final error after MAX_TRIES runs."""

from __future__ import annotations

import dataclasses
import errno
import os
import struct
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.results import MAX_TRIES
from photoanalyzer.config import load_config
from photoanalyzer.errors import DecoderMissing
from photoanalyzer.formats import filetypes, heif_boxes, rawmeta
from photoanalyzer.formats.bounded import BeyondFile, Clamped, read_at, read_at_most
from photoanalyzer.library import sidecars
from photoanalyzer.phases.base import Outcome, analyze_safely, outcome_for_exception
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.phases.metadata_reading import read_metadata
from photoanalyzer.run import pipeline
from support.imagegen import full_spec, write_photo
from support.requirements import needs, require_module
from support.synthetic_raw import DngSpec, write_dng

CONFIG = load_config()
FOUR_GIB = 0xFFFFFFFF
# Far below what any of the lies would allocate; above what reading these small files takes.
PEAK_LIMIT = 8 * 1024 * 1024
needs_rawpy = needs(modules=["rawpy"])


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python's allocations inside the block (tracemalloc), in bytes."""
    found: list[int] = []
    tracemalloc.start()
    try:
        yield found
    finally:
        found.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def ifd0_entries(data: bytes, tiff_start: int = 0) -> dict[int, int]:
    """Tag -> position of its 12-byte entry in IFD0 of the (little-endian) TIFF at
    `tiff_start`."""
    order = "<" if data[tiff_start : tiff_start + 2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, tiff_start + 4)
    (count,) = struct.unpack_from(order + "H", data, tiff_start + ifd)
    at = tiff_start + ifd + 2
    return {
        struct.unpack_from(order + "H", data, at + 12 * i)[0]: at + 12 * i for i in range(count)
    }


def lying(path: Path, tag: int, count: int = FOUR_GIB, tiff_start: int = 0) -> Path:
    """The file with the count of IFD0's `tag` overwritten (a StripByteCounts of one strip
    has its value there too: both are written)."""
    data = bytearray(path.read_bytes())
    entry = ifd0_entries(bytes(data), tiff_start)[tag]
    order = "<" if data[tiff_start : tiff_start + 2] == b"II" else ">"
    kind, n = struct.unpack_from(order + "HI", data, entry + 2)
    if n == 1 and kind == 4:  # a single LONG is its own value (a byte count)
        struct.pack_into(order + "I", data, entry + 8, count)
    else:
        struct.pack_into(order + "I", data, entry + 4, count)
    path.write_bytes(bytes(data))
    return path


# -- RAW ----------------------------------------------------------------------------------


@needs_rawpy
def test_a_raw_whose_preview_length_is_4_gib_is_a_final_error_naming_it(tmp_path):
    """A DNG with only its preview (LibRaw cannot open it), whose preview's byte count says
    4 GiB: the content phase says so, at once, as the file's final error."""
    path = lying(write_dng(tmp_path / "lie.dng", DngSpec(sensor_data=False)), 0x117)
    size = path.stat().st_size
    phase = ContentPhase(CONFIG.content, str(tmp_path / "thumbs"))
    started = time.perf_counter()
    with peak_memory() as peak:
        outcome = analyze_safely(phase, str(path), "photo")
    assert time.perf_counter() - started < 5
    assert peak[0] < PEAK_LIMIT
    assert outcome.final is True and outcome.record is None
    assert f"preview length {FOUR_GIB} exceeds file size {size}" in outcome.error


@needs_rawpy
def test_a_raw_with_a_lying_preview_is_still_made_from_its_sensor_data(tmp_path):
    path = lying(write_dng(tmp_path / "lie.dng"), 0x117)  # IFD0's strip is the preview
    phase = ContentPhase(replace(CONFIG.content, thumbnail_size=256), str(tmp_path / "thumbs"))
    with peak_memory() as peak:
        outcome = analyze_safely(phase, str(path), "photo")
    assert peak[0] < 64 * 1024 * 1024  # the demosaic's own arrays, not 4 GiB
    assert outcome.error is None and outcome.record["decoder"] == "libraw"


def test_the_metadata_of_a_raw_with_a_lying_preview_is_read(tmp_path):
    path = lying(write_dng(tmp_path / "lie.dng", DngSpec(make="Liar")), 0x117)
    outcome = read_metadata(str(path), "photo")
    assert outcome.error is None and outcome.record["make"] == "Liar"
    with open(path, "rb") as fh, pytest.raises(BeyondFile, match="preview length"):
        rawmeta.read_spot(fh, rawmeta.preview_spots(fh, "RAW-DNG")[0])


def test_an_rw2_whose_jpg_from_raw_count_is_4_gib_is_read_up_to_the_end_of_the_file(
    tmp_path,
):
    """A TIFF directory value (RW2's JpgFromRaw, located, not read, by tiffdir) whose count
    lies: its EXIF is read from what the file holds."""
    data = bytearray(write_dng(tmp_path / "a.dng", DngSpec(sensor_data=False)).read_bytes())
    data[2:4] = b"U\x00"  # Panasonic's magic: IIU\0
    entries = ifd0_entries(bytes(data))
    (preview_at,) = struct.unpack_from("<I", data, entries[0x111] + 8)
    struct.pack_into("<HHII", data, entries[0xC614], 0x2E, 7, FOUR_GIB, preview_at)
    path = tmp_path / "lie.rw2"
    path.write_bytes(bytes(data))
    with peak_memory() as peak:
        outcome = read_metadata(str(path), "photo")
        with open(path, "rb") as fh:
            streams = rawmeta.exif_streams(fh, "RAW-RW2")
    assert peak[0] < PEAK_LIMIT
    assert outcome.record["file_type"] == "RAW-RW2"
    assert len(streams) == 2 and streams[1].getvalue().startswith(b"\xff\xd8")


# -- TIFF values read by exifread -----------------------------------------------------------


def test_an_exif_text_whose_count_is_4_gib_is_read_without_allocating_it(tmp_path):
    """exifread reads an ASCII tag's byte count as the file gives it; the metadata phase
    hands it a file whose reads end at the end of the file."""
    path = write_photo(tmp_path / "a.jpg", full_spec(make="Liar", model="Model"))
    data = path.read_bytes()
    path = lying(path, 0x10F, tiff_start=data.index(b"Exif\x00\x00") + 6)
    with peak_memory() as peak:
        outcome = analyze_safely(MetadataPhase(), str(path), "photo")
    assert peak[0] < PEAK_LIMIT
    assert outcome.record["width"] == 64  # the header and the other tags are read
    assert outcome.record["model"] == "Model"


# -- HEIF boxes -----------------------------------------------------------------------------


def box(kind: bytes, body: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I4s", 8 + len(body) if size is None else size, kind) + body


def test_a_heif_meta_box_longer_than_the_file_is_named_and_not_read(tmp_path):
    path = tmp_path / "lie.heic"
    meta_size = 15 * 1024 * 1024  # under the 16 MiB any meta box may have
    path.write_bytes(box(b"ftyp", b"heic\0\0\0\0mif1heic") + box(b"meta", b"\0" * 16, meta_size))
    with peak_memory() as peak, open(path, "rb") as fh:
        rotation = filetypes.heif_rotation(fh)
        with pytest.raises(heif_boxes.HeifStructureError) as raised:
            heif_boxes.read_layout(fh)
    assert peak[0] < 1024 * 1024
    assert rotation is None
    assert f"meta box length {meta_size - 8} exceeds file size {path.stat().st_size}" in str(
        raised.value
    )


def test_a_heif_tile_extent_past_the_end_of_the_file_is_left_to_pillow_heif(tmp_path):
    pillow_heif = require_module("pillow_heif")
    require_module("av")
    from PIL import Image

    from photoanalyzer.pixels import heic as heif_decode

    pillow_heif.register_heif_opener()
    path = tmp_path / "a.heic"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(path, format="HEIF")
    with open(path, "rb") as fh:
        ((_, _, length),) = heif_boxes.read_layout(fh).tiles[0].extents
    data = bytearray(path.read_bytes())
    iloc = data.index(b"iloc")
    (iloc_size,) = struct.unpack_from(">I", data, iloc - 4)
    at = data.index(struct.pack(">I", length), iloc)  # the extent's 32-bit length
    assert at < iloc - 4 + iloc_size
    claimed = 60 * 1024 * 1024  # under the 64 MiB any tile may have
    struct.pack_into(">I", data, at, claimed)
    path.write_bytes(bytes(data))
    with peak_memory() as peak:
        fast, note = heif_decode.decode_or_explain(str(path), (64, 48), 1)
    assert peak[0] < PEAK_LIMIT
    assert fast is None
    assert f"extent length {claimed} exceeds file size {len(data)}" in note


def test_a_heic_grid_over_the_pixel_cap_is_not_decoded_by_the_fast_path(tmp_path):
    pillow_heif = require_module("pillow_heif")
    require_module("av")
    from PIL import Image

    from photoanalyzer.pixels import heic as heif_decode

    pillow_heif.register_heif_opener()
    path = tmp_path / "grid.heic"
    Image.new("RGB", (512, 384), (90, 120, 150)).save(path, format="HEIF", tile_size=256)
    with pytest.raises(heif_decode.FastPathUnavailable, match="over the cap of 100000"):
        heif_decode.decode(str(path), 1, max_pixels=100_000)
    assert heif_decode.decode(str(path), 1, max_pixels=512 * 384).full_size == (512, 384)


# -- video ----------------------------------------------------------------------------------


def test_a_video_over_the_pixel_cap_is_refused_before_a_frame_is_decoded(tmp_path):
    av = require_module("av")
    import numpy as np

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    capped = replace(CONFIG.content, max_pixels=64 * 48 - 1)
    outcome = analyze_safely(ContentPhase(capped, str(tmp_path / "thumbs")), str(path), "video")
    assert outcome.final is True and "video declares 64x48 pixels a frame" in outcome.error
    fits = analyze_safely(ContentPhase(CONFIG.content, str(tmp_path / "t")), str(path), "video")
    assert fits.error is None and fits.record["frames"]


# -- sidecars and the helpers ---------------------------------------------------------------


def test_a_sidecar_is_read_with_an_allocation_of_its_size(tmp_path):
    photo = write_photo(tmp_path / "a.jpg")
    Path(str(photo) + ".xmp").write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    with peak_memory() as peak:
        found = sidecars.read(str(photo))
    assert found is not None and found[1].startswith(b"<x:xmpmeta")
    assert peak[0] < 1024 * 1024  # not sidecars.READ_LIMIT (16 MiB)


def test_bounded_reads_name_the_field_and_clamp(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(100)))
    with open(path, "rb") as fh:
        assert read_at(fh, 10, 5, "x") == bytes(range(10, 15))
        with pytest.raises(BeyondFile, match="preview length 4294967295 exceeds file size 100"):
            read_at(fh, 0, FOUR_GIB, "preview")
        with pytest.raises(BeyondFile, match=r"thing \(20 bytes at offset 90\) runs past"):
            read_at(fh, 90, 20, "thing")
        assert read_at_most(fh, 90, FOUR_GIB) == bytes(range(90, 100))
        assert read_at_most(fh, 200, 10) == b""
        clamped = Clamped(fh)
        clamped.seek(95)
        assert clamped.read(FOUR_GIB) == bytes(range(95, 100)) and clamped.tell() == 100


# -- failures that repeat on an unchanged file ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrustingReader(MetadataPhase):
    """Metadata, read by a reader with the bug this issue was about: it takes a length from
    the file's first bytes and reads that much (`fh.read(n)` allocates n bytes first). A
    file that says 2**62 makes a real MemoryError, every time the unchanged file is read."""

    def analyze(self, path: str, kind: str) -> Outcome:
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            fh.read(length)
        return super().analyze(path, kind)


def test_out_of_memory_repeated_on_an_unchanged_file_becomes_final(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    liar = lib / "liar.jpg"
    liar.write_bytes(struct.pack("<Q", 2**62) + b"\0" * 32)
    catalog = Catalog(tmp_path / "c.db")
    phase = TrustingReader(workers=1)

    def run() -> tuple[int, int, dict]:
        report = pipeline.run([str(lib)], [phase], catalog, CONFIG).phases[0]
        counts = catalog.queries.phase_summary("metadata", ["photo"], phase.version)
        return report.processed, report.errors, counts

    try:
        for _ in range(MAX_TRIES - 1):
            processed, errors, counts = run()
            assert (processed, errors) == (1, 1)
            assert (counts["failed"], counts["pending_for_config"]) == (0, 1)
        processed, errors, counts = run()  # the last try: now the file's final error
        assert (processed, errors, counts["failed"], counts["pending_for_config"]) == (1, 1, 1, 0)
        errors_by_path = {r["path"]: r["errors"] for r in catalog.queries.export_rows()}
        assert "MemoryError" in errors_by_path[str(liar)]["metadata"]
        assert f"{MAX_TRIES} runs in a row" in errors_by_path[str(liar)]["metadata"]
        assert run()[0] == 0  # not read again
        os.utime(liar, ns=(1, 1))  # the file changed: tried again, and counted from one
        assert run()[:2] == (1, 1)
        assert catalog.queries.phase_summary("metadata", ["photo"], phase.version)["failed"] == 0
    finally:
        catalog.close()


def test_a_result_or_a_new_phase_version_restarts_the_count(tmp_path):
    lib = tmp_path / "lib"
    photo = write_photo(lib / "a.jpg", full_spec(model="Kept"))  # its first 8 bytes: 5e18
    catalog = Catalog(tmp_path / "c.db")

    def run(phase, full=False) -> dict:
        pipeline.run([str(lib)], [phase], catalog, CONFIG, full=full)
        (row,) = catalog.queries.export_rows()
        return row

    try:
        for _ in range(MAX_TRIES - 1):
            run(TrustingReader(workers=1))
        assert run(MetadataPhase(workers=1), full=True)["model"] == "Kept"  # ends the count
        for _ in range(MAX_TRIES - 1):  # failures keep the result while they are retried
            row = run(TrustingReader(workers=1), full=True)
            assert row["model"] == "Kept" and row["errors"] == {}
        assert "MemoryError" in run(TrustingReader(workers=1), full=True)["errors"]["metadata"]
        newer = dataclasses.replace(TrustingReader(workers=1), version="metadata-next")
        for _ in range(MAX_TRIES - 1):  # a new version of the phase: counted from one
            run(newer)
        counts = catalog.queries.phase_summary("metadata", ["photo"], newer.version)
        assert counts["pending_for_config"] == 1
        assert str(photo) in {r["path"] for r in catalog.queries.export_rows()}
    finally:
        catalog.close()


def test_which_environment_errors_count_against_the_file():
    counted = [MemoryError(), OSError(errno.EIO, "Input/output error")]
    retried_until_fixed = [
        DecoderMissing("needs rawpy"),
        PermissionError(errno.EACCES, "Permission denied"),
        FileNotFoundError(errno.ENOENT, "No such file"),
        OSError(errno.ESTALE, "Stale file handle"),
    ]
    for exc in counted:
        outcome = outcome_for_exception(exc)
        assert outcome.final is False and f"{MAX_TRIES} runs in a row" in outcome.final_error
    for exc in retried_until_fixed:
        outcome = outcome_for_exception(exc)
        assert outcome.final is False and outcome.final_error is None, exc
