"""Video metadata, on small videos written here with PyAV (H.264 in MP4 and MOV, with a
display rotation and a location tag), and on broken ones."""

import io
import json
import struct
import subprocess
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import random_weights_yaml
from photoanalyzer.formats.bmff import XMP_UUID, xmp_packet
from photoanalyzer.formats.video import creation_time, parse_iso6709
from photoanalyzer.phases.base import analyze_safely
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.phases.metadata_reading import read_metadata
from support.requirements import needs, require_binary, require_module

av = require_module("av")


def write_video(
    path: Path,
    *,
    rotation=0,
    location=None,
    seconds=2,
    fps=10,
    audio=True,
    tags: dict | None = None,
    size=(320, 240),
    codec="libx264",
    container_format: str | None = None,  # None: from the name (MOV, MP4)
) -> Path:
    # use_metadata_tags lets the MOV/MP4 muxers write any key, as phones do.
    options = {} if container_format else {"movflags": "use_metadata_tags"}
    container = av.open(str(path), "w", format=container_format, options=options)
    for key, value in {**(tags or {}), **({"location": location} if location else {})}.items():
        container.metadata[key] = value
    video = container.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
    if rotation:
        video.set_display_rotation(rotation)
    sound = container.add_stream("aac", rate=44100) if audio else None
    for i in range(seconds * fps):
        pixels = np.full((size[1], size[0], 3), (i * 9) % 256, np.uint8)
        for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if sound is not None:
        write_silence(container, sound, seconds * 44100 // 1024)
    container.close()
    return path


def write_silence(container, sound, frames: int) -> None:
    """`frames` frames of 1024 silent mono AAC samples."""
    for i in range(frames):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = 44100, i * 1024, Fraction(1, 44100)
        for packet in sound.encode(frame):
            container.mux(packet)
    for packet in sound.encode():
        container.mux(packet)


IPHONE_TAGS = {
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15",
    "com.apple.quicktime.creationdate": "2023-07-14T18:30:05+0200",
    "creation_time": "2023-07-14T16:30:05.000000Z",
}


def test_iphone_style_mov_gives_every_field(tmp_path):
    path = write_video(
        tmp_path / "IMG_0001.MOV",
        rotation=-90,
        tags=IPHONE_TAGS,
        location="+48.8582+002.2945+035.000/",
    )
    outcome = read_metadata(str(path), "video")
    assert outcome.error is None
    record = outcome.record
    assert record["file_type"] == "MOV" and record["video_codec"] == "h264"
    assert (record["width"], record["height"]) == (320, 240)  # as stored
    assert record["rotation"] == 90  # shown portrait: turn 90 degrees clockwise (exiftool)
    assert record["duration"] == pytest.approx(2.0, abs=0.1)
    assert record["frame_rate"] == pytest.approx(10.0)
    # Apple's local time and zone
    assert (record["taken_at"], record["taken_at_offset"], record["taken_at_utc"]) == (
        "2023-07-14T18:30:05",
        "+02:00",
        "2023-07-14T16:30:05Z",
    )
    assert record["taken_at_offset_source"] == "exif"  # the file recorded the zone
    assert (record["make"], record["model"]) == ("Apple", "iPhone 15")
    assert (record["gps_lat"], record["gps_lon"], record["gps_alt"]) == (48.8582, 2.2945, 35.0)
    assert record["has_audio"] is True and record["bitrate"] > 0


def test_android_style_mp4_with_utc_time_southern_location_and_no_audio(tmp_path):
    path = write_video(
        tmp_path / "VID_0002.mp4",
        audio=False,
        location="-33.8568+151.2153/",
        tags={"creation_time": "2024-01-02T03:04:05.000000Z"},
        seconds=3,
    )
    record = read_metadata(str(path), "video").record
    assert record["file_type"] == "MP4" and record["rotation"] == 0
    assert record["duration"] == pytest.approx(3.0, abs=0.1)
    # Only the UTC creation_time: the local time is unknown, so taken_at is the UTC wall time.
    assert (record["taken_at"], record["taken_at_offset"], record["taken_at_utc"]) == (
        "2024-01-02T03:04:05",
        "+00:00",
        "2024-01-02T03:04:05Z",
    )
    assert record["taken_at_offset_source"] == "video-utc"  # +00:00 is not where it was shot
    assert (record["gps_lat"], record["gps_lon"], record["gps_alt"]) == (-33.8568, 151.2153, None)
    assert record["has_audio"] is False and record["make"] is None


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mov"])
def test_xmp_written_into_a_video_is_read_as_exiftool_reads_it(tmp_path, name):
    """Lightroom and Premiere keep a video's rating and keywords in the video: an MP4's XMP
    uuid box, a QuickTime file's moov/udta/XMP_ (where exiftool writes it in both cases)."""
    exiftool = require_binary("exiftool")
    path = write_video(tmp_path / name, seconds=1)
    tags = ["-XMP-xmp:Rating=5", "-XMP-dc:Subject=holiday", "-XMP-dc:Subject=sea"]
    subprocess.run([exiftool, "-q", "-overwrite_original", *tags, str(path)], check=True)
    seen = subprocess.run([exiftool, "-j", "-XMP:all", str(path)], capture_output=True)
    expected = json.loads(seen.stdout)[0]
    outcome = MetadataPhase(workers=1).analyze(str(path), "video")
    assert outcome.error is None
    record = outcome.record
    assert record["rating"] == expected["Rating"] == 5
    assert record["keywords"] == expected["Subject"] == ["holiday", "sea"]
    assert record["xmp_source"] == "embedded" and record["duration"] > 0


def test_a_video_xmp_box_whose_size_lies_keeps_the_video_and_says_so(tmp_path):
    path = write_video(tmp_path / "clip.mp4", seconds=1)
    with open(path, "ab") as fh:  # a last top-level box that states 1 MB, with 40 bytes
        fh.write(struct.pack(">I4s", 2**20, b"uuid") + XMP_UUID + b"<x:xmpmeta/>" * 2)
    outcome = MetadataPhase(workers=1).analyze(str(path), "video")
    assert outcome.record["duration"] > 0 and outcome.record["rating"] is None
    assert outcome.error.startswith("embedded XMP: uuid box length 1048568 exceeds file size")


def test_moov_udta_xmp_is_found_and_a_child_that_does_not_fit_is_no_xmp():
    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body

    ftyp = box(b"ftyp", b"qt  \0\0\0\0")
    udta = box(b"udta", box(b"XMP_", b"<x:xmpmeta/>"))
    found = xmp_packet(io.BytesIO(ftyp + box(b"moov", box(b"mvhd", b"\0" * 100) + udta)))
    assert found == b"<x:xmpmeta/>"
    bad_child = struct.pack(">I4s", 4000, b"trak") + b"\0" * 20  # states 4,000 of 28 bytes
    assert xmp_packet(io.BytesIO(ftyp + box(b"moov", bad_child + udta))) is None
    # A 64-bit size whose 8 bytes the end of a cut file took: no XMP, not an error.
    cut_large = struct.pack(">I4s", 1, b"free")
    assert (
        xmp_packet(io.BytesIO(ftyp + box(b"moov", box(b"mvhd", b"\0" * 100) + cut_large))) is None
    )


def test_a_long_movies_xmp_after_a_large_sample_table_is_found_by_box_heads(tmp_path):
    """A movie of many hours has a moov of tens of MB (its sample tables) before udta: the
    XMP is still found, and only box heads are read on the way (the file is sparse, so the
    test costs no disk)."""

    def head(kind: bytes, body_length: int) -> bytes:
        return struct.pack(">I4s", 8 + body_length, kind)

    udta = head(b"udta", 8 + 12) + head(b"XMP_", 12) + b"<x:xmpmeta/>"
    table_length = 40 * 1024 * 1024
    path = tmp_path / "long.mov"
    with open(path, "wb") as fh:
        fh.write(head(b"ftyp", 8) + b"qt  \0\0\0\0")
        fh.write(head(b"moov", 8 + table_length + len(udta)) + head(b"trak", table_length))
        fh.seek(table_length, io.SEEK_CUR)
        fh.write(udta)
    tracemalloc.start()
    try:
        with open(path, "rb") as fh:
            found = xmp_packet(fh)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == b"<x:xmpmeta/>"
    assert peak < 1024 * 1024


def test_broken_videos_are_per_file_errors(tmp_path):
    good = write_video(tmp_path / "good.mp4")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (tmp_path / "empty.mov").write_bytes(b"")
    audio_only = tmp_path / "voice.mp4"
    container = av.open(str(audio_only), "w")
    write_silence(container, container.add_stream("aac", rate=44100), 20)
    container.close()
    phase = MetadataPhase(workers=1)
    assert analyze_safely(phase, str(truncated), "video").error
    assert (
        analyze_safely(phase, str(tmp_path / "empty.mov"), "video").error == "empty file (0 bytes)"
    )
    assert "no video stream (audio)" in analyze_safely(phase, str(audio_only), "video").error


def test_videos_are_indexed_beside_photos_and_kinds_selects(cli, tmp_path):
    from support.imagegen import full_spec, write_photo

    library = tmp_path / "lib"
    library.mkdir()
    write_photo(library / "a.jpg", full_spec())
    write_video(library / "b.mov", tags=IPHONE_TAGS)
    broken = library / "c.mp4"
    broken.write_bytes(write_video(tmp_path / "src.mp4").read_bytes()[:2000])
    db = tmp_path / "c.db"
    photos_only = cli(
        "run", str(library), "--db", str(db), "--phases", "metadata", "--kinds", "photo"
    ).stdout
    assert "metadata  1 processed" in photos_only
    both = cli("run", str(library), "--db", str(db), "--phases", "metadata").stdout
    assert "metadata  2 processed, 1 error" in both  # the videos; the scan went on
    rows = cli.export(db)
    video = rows[str(library / "b.mov")]
    assert video["kind"] == "video" and video["model"] == "iPhone 15"
    assert video["duration"] == pytest.approx(2.0, abs=0.1) and video["errors"] == {}
    assert "metadata" in rows[str(broken)]["errors"]
    assert rows[str(library / "a.jpg")]["duration"] is None
    bad = cli("run", str(library), "--db", str(db), "--kinds", "audio", check=False)
    assert bad.returncode == 2 and "--kinds takes photo, video" in bad.stderr


def test_iso6709_and_creation_time_parsing():
    assert parse_iso6709("+40.6892-074.0445+010.5/") == (40.6892, -74.0445, 10.5)
    assert parse_iso6709("-22.9519-043.2105/") == (-22.9519, -43.2105, None)
    assert parse_iso6709("garbage") == (None, None, None)
    assert parse_iso6709("+95.0+010.0/") == (None, None, None)
    assert creation_time({"creation_time": "1904-01-01T00:00:00.000000Z"})["taken_at"] is None
    assert creation_time({"com.apple.quicktime.creationdate": "2020-02-29T23:59:59-0330"}) == {
        "taken_at": "2020-02-29T23:59:59",
        "taken_at_offset": "-03:30",
        "taken_at_utc": "2020-03-01T03:29:59Z",
        "taken_at_offset_source": "exif",
        "taken_at_source": "quicktime:creationdate",
    }
    # An impossible Apple date falls back to the UTC time instead of losing the record.
    broken = {**IPHONE_TAGS, "com.apple.quicktime.creationdate": "2020-13-40T10:00:00+0200"}
    assert creation_time(broken)["taken_at_utc"] == "2023-07-14T16:30:05Z"


def test_frame_times_one_per_interval_between_one_and_the_maximum():
    from photoanalyzer.pixels.video_frames import frame_times

    assert frame_times(5.0, 10.0, 8) == [2.5]
    assert frame_times(60.0, 10.0, 8) == [5.0, 15.0, 25.0, 35.0, 45.0, 55.0]
    assert len(frame_times(600.0, 10.0, 8)) == 8
    assert frame_times(None, 10.0, 8) == [0.0]


def test_video_summary_votes_scenes_and_keeps_the_best_detection_per_class():
    from photoanalyzer.phases.ml import video_summary

    unit = np.array([1.0, 0.0], dtype=np.float16).tobytes()
    other = np.array([0.0, 1.0], dtype=np.float16).tobytes()

    def frame(scene, objects, embedding=unit):
        counts = {}
        for found in objects:
            counts[found["class"]] = counts.get(found["class"], 0) + 1
        return {
            "top_scene": scene,
            "scenes": [(scene, 0.9)],
            "objects": objects,
            "object_counts": counts,
            "ml_random_weights": False,
            "clip_random_weights": False,
            "yolo_random_weights": False,
            "embedding": embedding,
        }

    dog = {"class": "dog", "confidence": 0.5, "box": [0, 0, 1, 1]}
    best_dog = {"class": "dog", "confidence": 0.9, "box": [2, 2, 3, 3]}
    summary = video_summary(
        [(0, 1.0), (1, 2.0), (2, 3.0)],
        [frame("a beach", [dog, dog]), frame("a beach", [best_dog], other), frame("snow", [])],
        top_k=2,
    )
    assert summary["top_scene"] == "a beach"
    assert summary["scenes"] == [("a beach", 0.6667), ("snow", 0.3333)]
    assert summary["objects"] == [{**best_dog, "timestamp": 2.0}]
    assert summary["object_counts"] == {"dog": 2}  # the most in any one frame
    mean = np.frombuffer(summary["embedding"], dtype=np.float16).astype(np.float32)
    assert np.allclose(mean, [2 / np.sqrt(5), 1 / np.sqrt(5)], atol=1e-3)
    assert [f["timestamp"] for f in summary["frames"]] == [1.0, 2.0, 3.0]
    assert [f["frame"] for f in summary["frames"]] == [0, 1, 2]


@needs(modules=("torch", "open_clip"))
def test_video_frames_go_through_content_and_ml_as_children_of_the_video(cli, tmp_path):
    from photoanalyzer.catalog import Catalog

    library = tmp_path / "lib"
    library.mkdir()
    video = write_video(library / "clip.mov", rotation=-90, seconds=25, fps=4, audio=False)
    config = tmp_path / "random.yaml"
    config.write_text(random_weights_yaml(tmp_path / "models"))
    db = tmp_path / "c.db"
    result = cli("run", str(library), "--db", str(db), "--config", str(config))
    assert "content   1 processed, 0 errors" in result.stdout
    catalog = Catalog(db)
    frames = catalog.results.video_frames(str(video))
    catalog.close()
    assert [f["frame"] for f in frames] == [0, 1, 2]  # 25 s: one frame per 10 s, rounded up
    assert [f["timestamp"] for f in frames] == pytest.approx([4.17, 12.5, 20.83], abs=0.3)
    from PIL import Image

    for found in frames:
        thumbnail = Image.open(tmp_path / "c.db-thumbnails" / found["thumbnail"])
        assert thumbnail.height > thumbnail.width  # rotation applied: shown portrait
        assert found["top_scene"] and found["embedding"] and found["sharpness"] is not None
    row = cli.export(db)[str(video)]
    assert row["kind"] == "video" and row["errors"] == {}
    assert abs(sum(share for _, share in row["scenes"]) - 1.0) < 0.01  # votes of 3 frames
    assert row["top_scene"] == row["scenes"][0][0] and row["ml_random_weights"] is True


@needs(modules=("torch", "open_clip"))
def test_the_ml_phase_alone_reads_a_video_nothing_else_has_seen(cli, tmp_path):
    """No metadata (no stored size) and no content phase (no stored frames): the ML phase
    extracts the frames itself and reads the display size from the video's headers."""
    library = tmp_path / "lib"
    library.mkdir()
    video = write_video(library / "clip.mp4", rotation=-90, seconds=3, fps=4, audio=False)
    config = tmp_path / "random.yaml"
    config.write_text(random_weights_yaml(tmp_path / "models", yolo="confidence: 0.0"))
    db = tmp_path / "c.db"
    result = cli("run", str(library), "--db", str(db), "--config", str(config), "--phases", "ml")
    assert "ml        1 processed, 0 errors" in result.stdout
    row = cli.export(db)[str(video)]
    assert row["errors"] == {} and row["top_scene"] and row["ml_random_weights"] is True
    for found in row["objects"]:  # boxes in the upright picture: 240 wide, 320 high
        x0, y0, x1, y1 = found["box"]
        assert 0 <= x0 <= x1 <= 240 and 0 <= y0 <= y1 <= 320


def test_an_extension_added_to_the_video_list_is_a_video_in_every_phase(cli, tmp_path):
    """The scan decides the kind from the configured extensions; the phases follow it (they
    used to decide again from a list of their own and decoded a .webm as a photo)."""
    library = tmp_path / "lib"
    library.mkdir()
    write_video(
        library / "clip.webm",
        codec="libvpx-vp9",
        container_format="webm",
        audio=False,
        size=(160, 120),
    )
    config = tmp_path / "webm.yaml"
    config.write_text("scan:\n  video_extensions: [mov, mp4, webm]\n")
    db = tmp_path / "c.db"
    cli(
        "run",
        str(library),
        "--db",
        str(db),
        "--config",
        str(config),
        "--phases",
        "metadata,content",
    )
    row = cli.export(db)[str(library / "clip.webm")]
    assert row["kind"] == "video" and row["errors"] == {}
    assert row["duration"] == pytest.approx(2.0, abs=0.2) and row["video_codec"] == "vp9"
    assert row["sharpness"] is not None


@needs(modules=("torch", "open_clip"))
def test_new_frame_settings_rerun_ml_and_frames_never_mix_generations(cli, tmp_path):
    from photoanalyzer.catalog import Catalog

    library = tmp_path / "lib"
    library.mkdir()
    # 3 fps: decoded frame times (multiples of 1/3 s) differ from the planned ones (2.5 s ...)
    video = write_video(library / "clip.mp4", seconds=25, fps=3, audio=False)
    ml = random_weights_yaml(tmp_path / "models")
    three = tmp_path / "three.yaml"  # one frame per 10 s: 3 frames
    three.write_text(ml)
    five = tmp_path / "five.yaml"  # one frame per 5 s: 5 frames
    five.write_text(ml + "content:\n  video_frame_interval: 5.0\n")
    db = tmp_path / "c.db"

    def frames():
        catalog = Catalog(db)
        try:
            return catalog.results.video_frames(str(video))
        finally:
            catalog.close()

    cli("run", str(library), "--db", str(db), "--config", str(three))
    assert len(frames()) == 3 and all(f["top_scene"] for f in frames())
    cli("run", str(library), "--db", str(db), "--config", str(five), "--phases", "content")
    assert len(frames()) == 5
    assert all(f["top_scene"] is None and f["embedding"] is None for f in frames())  # no mix
    decoded_times = [f["timestamp"] for f in frames()]
    rerun = cli("run", str(library), "--db", str(db), "--config", str(five)).stdout
    assert "ml        1 processed, 0 errors" in rerun  # its input changed: it runs again
    after = frames()
    assert len(after) == 5 and all(f["top_scene"] and f["embedding"] for f in after)
    assert [f["timestamp"] for f in after] == decoded_times  # one time per frame, kept by ML
    assert decoded_times == pytest.approx([2.5, 7.5, 12.5, 17.5, 22.5], abs=0.4)
    assert decoded_times != [2.5, 7.5, 12.5, 17.5, 22.5]  # so the check above can tell


@needs(modules=("torch", "open_clip"))
def test_a_content_rerun_that_rewrites_frames_leaves_ml_pending_for_the_video(cli, tmp_path):
    """A content setting the ML version does not hash (the blur threshold) re-runs only the
    content phase, whose new frame rows carry no ML columns: the video must be pending for ML
    again, or its frames' ML results would be lost for good."""
    from photoanalyzer.catalog import Catalog

    library = tmp_path / "lib"
    library.mkdir()
    video = write_video(library / "clip.mp4", seconds=12, fps=2, audio=False)  # 2 frames
    ml = random_weights_yaml(tmp_path / "models")
    before = tmp_path / "before.yaml"
    before.write_text(ml)
    after = tmp_path / "after.yaml"
    after.write_text(ml + "content:\n  blur_threshold: 10.0\n")
    db = tmp_path / "c.db"

    def frames():
        catalog = Catalog(db)
        try:
            return catalog.results.video_frames(str(video))
        finally:
            catalog.close()

    def ml_pending(config) -> int:
        out = cli("status", "--db", str(db), "--config", str(config), "--json").stdout
        return json.loads(out)["phases"]["ml"]["pending_for_config"]

    cli("run", str(library), "--db", str(db), "--config", str(before))
    assert len(frames()) == 2 and all(f["top_scene"] for f in frames())
    assert ml_pending(before) == 0
    rerun = cli("run", str(library), "--db", str(db), "--config", str(after), "--phases", "content")
    assert "content   1 processed, 0 errors" in rerun.stdout
    assert all(f["top_scene"] is None for f in frames())  # new rows: no ML columns yet
    assert ml_pending(after) == 1
    again = cli("run", str(library), "--db", str(db), "--config", str(after)).stdout
    assert "ml        1 processed, 0 errors" in again
    assert len(frames()) == 2 and all(f["top_scene"] and f["embedding"] for f in frames())
    assert ml_pending(after) == 0
