"""Content phase: one reduced decode per photo -> a cached thumbnail and quality signals
(sharpness, exposure, contrast, colour, perceptual hashes) with the flags derived from them."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from photoanalyzer.config import ContentConfig
from photoanalyzer.errors import short_reason
from photoanalyzer.library.ownpaths import tag_cache_folder
from photoanalyzer.phases.base import EMPTY_FILE, Outcome
from photoanalyzer.pixels.plan import CPU_PLAN, DecodePlan

# Bump when the code changes what the phase produces; settings are hashed in separately.
# content-2: HEIC through FFmpeg where it can (pixels.heic), and the decoder recorded.
# content-3: reduce_to_fit's whole-factor reduce by powers of two (geometry.prereduce_factors):
# full-size decodes (HEIC, PNG, TIFF, RAW) that Pillow reduced by another factor (3 for a
# 12 MP phone photo) are reduced otherwise now; HEIC phone tiles reduced in YCbCr planes.
CODE_VERSION = "content-3"
# Settings that change the output (the thumbnail folder and worker count do not).
_OUTPUT_SETTINGS = (
    "thumbnail_size",
    "thumbnail_quality",
    "max_pixels",
    "blur_threshold",
    "underexposed_brightness",
    "underexposed_shadows",
    "overexposed_brightness",
    "overexposed_highlights",
    "video_frame_interval",
    "video_max_frames",
)


# What video_frames keeps of each frame's content analysis.
FRAME_CONTENT_FIELDS = ("thumbnail", "sharpness", "brightness", "colorfulness", "phash")


def frame_thumbnail_key(path: str, frame: int, size: int, mtime_ns: int) -> str:
    return thumbnail_key(f"{path}#frame={frame}", size, mtime_ns)


def settings_digest(settings: ContentConfig) -> str:
    values = {name: getattr(settings, name) for name in _OUTPUT_SETTINGS}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


def thumbnail_key(path: str, size: int, mtime_ns: int) -> str:
    """Relative path of a file's thumbnail; a changed file (size or mtime) gets a new one."""
    # surrogateescape: a name that is not valid UTF-8 hashes as its bytes (pathnames.py).
    key = f"{path}\0{size}\0{mtime_ns}".encode("utf-8", "surrogateescape")
    digest = hashlib.sha1(key, usedforsecurity=False)
    name = digest.hexdigest()
    return f"{name[:2]}/{name[2:]}.jpg"


@dataclass(frozen=True)
class ContentPhase:
    settings: ContentConfig
    thumbnail_dir: str
    name: str = "content"
    kinds: frozenset[str] = frozenset({"photo", "video"})
    # A pixel phase: scan.raw_pairs decides which half of a RAW+JPEG pair it reads (pipeline).
    reads_pixels: bool = True
    min_files_for_workers: int = 2
    # ml.decoder_plan.plan_for: GPU decoders where ML is on CUDA. Not part of the version: which
    # decoder made a picture is recorded per file (`decoder`), and the decoders are held to
    # agree (docs/content.md), so a GPU probe that fails one night, or the Ray engine (CPU
    # decoders) alternating with the local one, does not make every file pending again.
    decode_plan: DecodePlan = CPU_PLAN
    # Decoder threads per file; None: the cores shared out among the local workers. The Ray
    # engine sets it to the CPUs each of its tasks reserves.
    decode_threads: int | None = None

    @property
    def version(self) -> str:
        return f"{CODE_VERSION}-{settings_digest(self.settings)}"

    @property
    def workers(self) -> int:
        return self.settings.workers

    def analyze(self, path: str, kind: str) -> Outcome:
        st = os.stat(path)
        if st.st_size == 0:
            return Outcome(None, EMPTY_FILE)
        if kind == "video":
            return Outcome(self._video_record(path, st))
        # Imported here, in the worker: numpy, Pillow and imagehash cost a quarter of a second
        # that a rescan with nothing to analyze should not pay.
        decoded = self._decode(path)
        key = thumbnail_key(path, st.st_size, st.st_mtime_ns)
        record = self._picture_record(decoded.image, key)
        record.update(decoder=decoded.decoder, decoder_note=decoded.decoder_note)
        return Outcome(record)

    def _decode(self, path: str):
        from photoanalyzer.pixels.heic import default_threads
        from photoanalyzer.pixels.load import load_upright_rgb

        settings, plan = self.settings, self.decode_plan
        size, cap = settings.thumbnail_size, settings.max_pixels
        note = None
        if plan.jpeg == "nvjpeg" and _is_jpeg(path):
            from photoanalyzer.pixels.gpu import decode_jpegs

            try:
                return decode_jpegs([path], size, cap)[0]
            except Exception as exc:  # nvJPEG refuses some files (CMYK, arithmetic coding)
                note = f"nvjpeg: {short_reason(exc)}"
        threads = self.decode_threads or default_threads(self.workers or os.cpu_count() or 1)
        decoded = load_upright_rgb(path, size, cap, threads, plan.hevc)
        return decoded if note is None else replace(decoded, decoder_note=note)

    def _picture_record(self, image, key: str) -> dict:
        """Thumbnail and signals of one upright picture (a photo, or a frame of a video)."""
        from photoanalyzer.analysis.signals import measure
        from photoanalyzer.pixels.thumbnails import write_thumbnail

        # Tagged before the first thumbnail lands, so no walk takes the folder for photos
        # (ownpaths.py), wherever it is; one stat once the tag is there.
        tag_cache_folder(Path(self.thumbnail_dir))
        write_thumbnail(image, Path(self.thumbnail_dir) / key, self.settings.thumbnail_quality)
        signals = measure(image)
        record = asdict(signals)
        record.update(
            thumbnail=key,
            blurry=signals.sharpness < self.settings.blur_threshold,
            underexposed=(
                signals.brightness < self.settings.underexposed_brightness
                or signals.shadows_crushed > self.settings.underexposed_shadows
            ),
            overexposed=(
                signals.brightness > self.settings.overexposed_brightness
                or signals.highlights_clipped > self.settings.overexposed_highlights
            ),
        )
        return record

    def _video_record(self, path: str, st: os.stat_result) -> dict:
        """A few frames, each through the photo analysis; the video's own fields are those of
        its middle frame, and every frame is kept (catalog table video_frames)."""
        from photoanalyzer.pixels.video_frames import extract_frames

        settings = self.settings
        frames = extract_frames(
            path,
            settings.video_frame_interval,
            settings.video_max_frames,
            settings.thumbnail_size,
            settings.max_pixels,
        )
        records = [
            self._picture_record(image, frame_thumbnail_key(path, i, st.st_size, st.st_mtime_ns))
            for i, (_, image) in enumerate(frames)
        ]
        video = dict(records[len(records) // 2])
        video.update(decoder="pyav", decoder_note=None)
        video["frames"] = [
            {"frame": i, "timestamp": when, **{k: r[k] for k in FRAME_CONTENT_FIELDS}}
            for i, ((when, _), r) in enumerate(zip(frames, records, strict=True))
        ]
        return video


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(3) == b"\xff\xd8\xff"
