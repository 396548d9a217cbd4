"""Text phase: the words in each photo (and in a video's analyzed frames), and whether a photo
is a screenshot. A batch phase after the content phase, because it reads what earlier phases
stored (the thumbnail for the first pass, a video's frame thumbnails); inside, worker threads
each run their own single-threaded ONNX sessions (ONNX Runtime and the decoders release the
GIL, so the threads use every core without a process per model copy).

    facts           the header (pixels untouched): name, format, size, camera, software,
                    UserComment -> may it be a screenshot?
    first pass      on the stored thumbnail (a reduced decode where there is none):
                    detection at `gate_side`; no text region, and the photo is done.
                    Likely screenshots skip it: their text is too small on a thumbnail
    full pass       the original decoded at `crop_side` (JPEG draft), detection at
                    `detect_side`, each line recognized from the larger picture
    video           each analyzed frame's thumbnail, first pass then full pass on it
    record          screenshot flag and reason, the whole text with its lines (box, text,
                    confidence, frame), the line count

Without rapidocr-onnxruntime (the [text] extra) the phase raises PhaseSkipped naming the extra:
the run prints that one line, writes nothing for the files (they stay pending) and does not
fail."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from photoanalyzer.analysis import screenshots
from photoanalyzer.analysis.text import (
    INSTALL_HINT,
    TextLine,
    TextModelMissing,
    TextReader,
    TextSettings,
    detector_model,
    missing_reason,
    model_files,
    whole_text,
)
from photoanalyzer.analysis.text_detector import PreparedDetector, prepared_detector
from photoanalyzer.config import ContentConfig
from photoanalyzer.phases.base import (
    Outcome,
    PhaseSkipped,
    PhaseUnavailable,
    WorkItem,
    outcome_for_exception,
    refuse_empty,
)

# text-1: PP-OCRv4 (rapidocr-onnxruntime 1.4.x), first pass on the thumbnail, screenshot rules.
# text-2: the first pass reads its boxes before letting a photo through; one line per
# recognition call.
CODE_VERSION = "text-2"
# The content phase's settings the phase consumes: the thumbnail it gates on, the pixel cap,
# which frames of a video it reads.
_INPUT_SETTINGS = ("thumbnail_size", "max_pixels", "video_frame_interval", "video_max_frames")
NO_FRAMES = (
    "the content phase has not analyzed this video's frames yet (run it first, or with this "
    "phase); it stays pending"
)


@dataclass
class TextPhase:
    content: ContentConfig
    thumbnail_dir: str
    # Where the detector rewritten for speed is kept (analysis/text_detector.py); None: the
    # original graph is loaded.
    models_dir: str | None = None
    settings: TextSettings = field(default_factory=TextSettings)
    workers: int = 0  # threads; 0: one per core
    name: str = "text"
    kinds: frozenset[str] = frozenset({"photo", "video"})

    @property
    def version(self) -> str:
        try:
            models = model_files()
        except TextModelMissing:
            return f"{CODE_VERSION}-unavailable"  # analyze_stream says why
        inputs = {key: getattr(self.content, key) for key in _INPUT_SETTINGS}
        identity = [CODE_VERSION, self.settings.digest(), models, inputs, _rules_digest()]
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
        return f"{CODE_VERSION}-{digest}"

    def check_available(self) -> None:
        """PhaseSkipped naming the extra where it is not installed: the pipeline skips the
        phase with that one line, and the files stay pending with no error of their own."""
        reason = missing_reason()
        if reason is not None:
            raise PhaseSkipped(reason)

    def analyze_stream(self, items: list[WorkItem], details: dict[str, Any]) -> Iterator[Outcome]:
        if not items:
            return
        try:
            details["models"] = model_files()
        except TextModelMissing as exc:  # uninstalled since check_available
            raise PhaseUnavailable(str(exc)) from exc
        try:
            import onnxruntime  # noqa: F401  (the extra's runtime: present, and importable)
        except ImportError as exc:
            # Installed but broken (a missing shared library): not the skip of an absent
            # extra, so the run says the phase failed (exit 4) and why.
            raise PhaseUnavailable(
                f"the text phase needs onnxruntime ({exc}): {INSTALL_HINT}"
            ) from exc
        workers = self.workers or os.cpu_count() or 1
        counts = {"first_pass_only": 0, "full_pass": 0, "with_text": 0, "screenshots": 0}
        details.update(workers=workers, settings=self.settings.__dict__)
        detector = self._detector()
        details["detector"] = detector._asdict() | {"path": str(detector.path)}
        readers = _Readers(self.settings, str(detector.path))
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="text") as pool:
                for outcome, stage in _in_order(pool, workers * 2, items, self, readers):
                    if stage:
                        counts[stage] += 1
                    if outcome.record and outcome.record["text_line_count"]:
                        counts["with_text"] += 1
                    if outcome.record and outcome.record["screenshot"]:
                        counts["screenshots"] += 1
                    yield outcome
        finally:
            details.update(counts)
            details["seconds"] = round(time.perf_counter() - started, 3)

    def _detector(self) -> PreparedDetector:
        """The same detection in fewer nodes, made once per models folder (1 s), where it
        can be: the first pass is most of this phase's time on a camera roll."""
        folder = Path(self.models_dir) / "text" if self.models_dir else None
        return prepared_detector(Path(detector_model()), folder)

    def analyze_item(self, item: WorkItem, reader: TextReader) -> tuple[Outcome, str | None]:
        """One file's outcome and which pass ended it."""
        try:
            refuse_empty(item.path)
            if item.kind == "video":
                return self._video(item, reader)
            return self._photo(item, reader)
        except Exception as exc:
            return outcome_for_exception(exc), None

    def _photo(self, item: WorkItem, reader: TextReader) -> tuple[Outcome, str]:
        facts = screenshots.file_facts(item.path)
        lines: list[TextLine] = []
        stage = "full_pass"
        if not screenshots.likely_screenshot(facts) and not reader.has_text(self._gate(item)):
            stage = "first_pass_only"
        else:
            lines = reader.lines(self._picture(item.path, self.settings.crop_side))
        reason = screenshots.screenshot_reason(facts, len(lines))
        return Outcome(_record(reason, [(-1, line) for line in lines])), stage

    def _video(self, item: WorkItem, reader: TextReader) -> tuple[Outcome, str | None]:
        if not item.stored.frames:
            return Outcome(None, NO_FRAMES, final=False), None
        found: list[tuple[int, TextLine]] = []
        seen: set[str] = set()
        stage = "first_pass_only"
        for frame, _seconds, key in item.stored.frames:
            picture = self._thumbnail(key)
            if picture is None or not reader.has_text(picture):
                continue
            stage = "full_pass"
            for line in reader.lines(picture):
                # The same sign in frame after frame is one line of the video's text.
                if line.text not in seen and len(found) < self.settings.max_lines:
                    seen.add(line.text)
                    found.append((frame, line))
        return Outcome(_record(None, found)), stage

    def _gate(self, item: WorkItem) -> np.ndarray:
        """The first pass's picture: the stored thumbnail, else a reduced decode."""
        picture = self._thumbnail(item.stored.thumbnail)
        if picture is None:
            picture = self._picture(item.path, self.content.thumbnail_size)
        return picture

    def _thumbnail(self, key: str | None) -> np.ndarray | None:
        if not key:
            return None
        from PIL import Image

        try:
            with Image.open(Path(self.thumbnail_dir) / key) as image:
                return np.asarray(image.convert("RGB"))
        except FileNotFoundError:  # the thumbnail cache was cleared: the original is read
            return None

    def _picture(self, path: str, long_side: int) -> np.ndarray:
        from photoanalyzer.pixels.load import load_upright_rgb

        decoded = load_upright_rgb(path, long_side, self.content.max_pixels)
        return np.asarray(decoded.image)


def _record(reason: str | None, lines: list[tuple[int, TextLine]]) -> dict[str, Any]:
    text = whole_text([line for _, line in lines])
    body = {
        "text": text,
        "lines": [
            {
                "frame": frame,
                "box": [list(point) for point in line.box],
                "text": line.text,
                "confidence": line.confidence,
            }
            for frame, line in lines
        ],
    }
    return {
        "screenshot": reason is not None,
        "screenshot_reason": reason,
        "text": body if lines else None,
        "text_line_count": len(lines),
    }


class _Readers:
    """One TextReader per worker thread (ONNX sessions are built once per thread)."""

    def __init__(self, settings: TextSettings, detector: str):
        self._settings, self._detector = settings, detector
        self._local = threading.local()

    def get(self) -> TextReader:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = TextReader(self._settings, threads=1, detector=self._detector)
            self._local.reader = reader
        return reader


def _in_order(
    pool: ThreadPoolExecutor, lookahead: int, items: list[WorkItem], phase: TextPhase, readers
) -> Iterator[tuple[Outcome, str | None]]:
    """Outcomes in the order of `items`, at most `lookahead` files in flight, so memory
    stays bounded however many files are pending."""
    flight: deque[Future] = deque()
    for item in items:
        flight.append(pool.submit(lambda item=item: phase.analyze_item(item, readers.get())))
        if len(flight) >= lookahead:
            yield flight.popleft().result()
    while flight:
        yield flight.popleft().result()


def _rules_digest() -> str:
    """The screenshot rules are part of the version: a new rule re-reads the flags."""
    rules = [
        screenshots.SCREENSHOT_NAMES.pattern,
        screenshots.SCREENSHOT_SOFTWARE.pattern,
        sorted(screenshots.SCREEN_SIZES),
        screenshots.MIN_TEXT_LINES,
        screenshots.MIN_PNG_SIDES,
        screenshots.EXPOSURE_TAGS,
    ]
    return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:10]
