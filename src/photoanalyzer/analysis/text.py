"""Text in a picture: PP-OCRv4 detection and recognition (rapidocr-onnxruntime's ONNX models,
shipped in its wheel) on upright RGB arrays, as lines with a box, the text and a confidence.

    gate        detection on a small picture (the stored thumbnail): no text region of
                some size there, and the photo is done (most camera photos end here)
    detect      detection on the larger picture, at `detect_side` on its long side
    crop        each box cut from the larger picture, straightened
    direction   optionally, the 180-degree classifier turns upside-down lines
    recognize   CTC recognition of each line (Latin letters, digits and Chinese)
    keep        lines at or above `min_confidence` with a letter or digit, at most `max_lines`

Pure: no files, no catalog. The ONNX sessions run one intra-op thread each, because the
text phase runs one reader per worker thread and the cores are shared that way."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

EXTRA = "text"
INSTALL_HINT = f"pip install 'photoanalyzer[{EXTRA}]'"
MODEL_PACKAGE = "rapidocr-onnxruntime"


class TextModelMissing(RuntimeError):
    """rapidocr-onnxruntime (the [text] extra) is not installed."""


@dataclass(frozen=True)
class TextSettings:
    """Everything that changes what is read; its hash is part of the text phase's version.
    The defaults were chosen by measurement (benchmarks/text_choice.py, docs/text.md)."""

    gate_side: int = 512  # long side of the first pass's detection
    # The first pass lets a picture through when recognition, on the small picture itself,
    # reads one of its boxes as a word, or when it found this many boxes (too many to be
    # hard edges: so many that reading them would cost more than it saves).
    gate_pass_boxes: int = 8
    detect_side: int = 1280  # long side of the full detection
    # A small picture is enlarged for the full detection until its short side has this many
    # pixels (PP-OCR's own rule says 736), at most detect_enlarge times, within detect_side:
    # at its own size the detector missed large thin letters on 600 x 450 photos that it
    # finds enlarged, and enlarged more than 3 times it lost lines of a small page.
    detect_short_side: int = 960
    detect_enlarge: float = 2.0
    crop_side: int = 2000  # long side of the picture lines are cut from (recognition)
    use_direction: bool = False  # the 180-degree classifier
    # Lines recognized per ONNX call. rapidocr's 6 pads a batch to its widest line and ran
    # slower per line than one at a time here (a page of 30 long lines: 17.5 s against 10.0).
    recognition_batch: int = 1
    box_threshold: float = 0.5  # detection: mean probability inside a box
    min_confidence: float = 0.6  # recognition: lines below are dropped
    max_lines: int = 400  # per picture; a dense page has about 60, a screenshot 100

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


class TextLine(NamedTuple):
    """One line: its quadrilateral (four (x, y) corners, clockwise from the top left, as
    fractions of the upright picture's width and height), the text and its confidence."""

    box: tuple[tuple[float, float], ...]
    text: str
    confidence: float


class PictureText(NamedTuple):
    lines: list[TextLine]
    gated: bool  # True: the first pass found nothing, so no full detection ran

    @property
    def text(self) -> str:
        return whole_text(self.lines)


def whole_text(lines: list[TextLine]) -> str:
    """The lines in reading order (they are kept in it), one per line."""
    return "\n".join(line.text for line in lines)


def missing_reason() -> str | None:
    """Why text cannot be read on this machine (the extra's packages not installed), or None
    when it can. Imports nothing: the run checks it before any file."""
    import importlib.util

    absent = [
        name
        for name in ("rapidocr_onnxruntime", "onnxruntime")
        if importlib.util.find_spec(name) is None
    ]
    if absent:
        return f"{' and '.join(absent)} not installed: {INSTALL_HINT}"
    return None


def model_files() -> dict[str, str]:
    """The model files rapidocr ships, name -> sha-256 prefix (for the phase's version)."""
    from pathlib import Path

    root = _rapidocr_root()
    digests = {}
    for name in sorted(p.name for p in (Path(root) / "models").glob("*.onnx")):
        data = (Path(root) / "models" / name).read_bytes()
        digests[name] = hashlib.sha256(data).hexdigest()[:12]
    return digests


def detector_model() -> str:
    """rapidocr's detection model file."""
    from rapidocr_onnxruntime.utils import read_yaml

    root = _rapidocr_root()
    return f"{root}/{read_yaml(f'{root}/config.yaml')['Det']['model_path']}"


def _rapidocr_root() -> str:
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise TextModelMissing(
            f"the text phase needs {MODEL_PACKAGE} (PP-OCRv4 models, no download): {INSTALL_HINT}"
        )
    from pathlib import Path

    return str(Path(spec.origin).parent)


class TextReader:
    """The three models, loaded once (about 0.3 s), used for many pictures. Not shared
    between threads: each worker thread makes its own."""

    def __init__(
        self, settings: TextSettings = TextSettings(), threads: int = 1, detector: str | None = None
    ):
        """`detector`: the detection model to load instead of rapidocr's own (the same graph
        rewritten: analysis/text_detector.py)."""
        self.settings = settings
        root = _rapidocr_root()
        # Imported here: onnxruntime and cv2 cost a second, which --help and rescans skip.
        from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.utils import read_yaml

        config = read_yaml(f"{root}/config.yaml")
        for part in ("Det", "Cls", "Rec"):
            config[part]["model_path"] = f"{root}/{config[part]['model_path']}"
            config[part]["intra_op_num_threads"] = threads
            config[part]["inter_op_num_threads"] = 1
        if detector is not None:
            config["Det"]["model_path"] = detector
        config["Det"]["box_thresh"] = settings.box_threshold
        config["Rec"]["rec_batch_num"] = settings.recognition_batch
        self._detector = TextDetector(config["Det"])
        self._classifier = TextClassifier(config["Cls"]) if settings.use_direction else None
        self._recognizer = TextRecognizer(config["Rec"])

    def has_text(self, rgb: np.ndarray) -> bool:
        """The first pass: detection at gate_side, then recognition of its boxes on this
        small picture; through when one reads as 2 letters or digits at the confidence
        floor (or when there are `gate_pass_boxes` boxes). A camera photo's boxes are most
        often hard edges (the synthetic camera roll: 25 pictures in 80 had 1 to 3), which
        recognition reads as nothing or one stray character of low confidence; without this
        reading, each such photo cost a full pass (1.3 s) for no line. On the text corpus
        every text photo had a box read as a word at 0.77 or more (docs/text.md)."""
        boxes = self.detect(rgb, self.settings.gate_side)
        if len(boxes) >= self.settings.gate_pass_boxes:
            return True
        if not len(boxes):
            return False
        crops = [_bgr(_crop(rgb, box)) for box in boxes]
        recognized, _ = self._recognizer(crops)
        return any(
            confidence >= self.settings.min_confidence and _word_characters(str(text)) >= 2
            for text, confidence in recognized
        )

    def detect(
        self, rgb: np.ndarray, long_side: int, short_side: int = 0, enlarge: float = 1.0
    ) -> np.ndarray:
        """Text boxes (n, 4, 2) in `rgb`'s pixels, detected at `long_side` at most, and a
        picture whose short side is under `short_side` enlarged to it (at most `enlarge`
        times, within `long_side`)."""
        bgr = _bgr(rgb)
        if min(bgr.shape[:2]) < 8:
            return np.zeros((0, 4, 2), np.float32)
        detector = self._detector
        tensor = _detection_input(bgr, long_side, short_side, enlarge)
        if tensor is None:
            return np.zeros((0, 4, 2), np.float32)
        probabilities = detector.infer(tensor)[0]
        boxes, _scores = detector.postprocess_op(probabilities, bgr.shape[:2])
        boxes = detector.filter_tag_det_res(boxes, bgr.shape[:2])
        return np.asarray(boxes, np.float32).reshape(-1, 4, 2)

    def read(self, rgb: np.ndarray, gate: np.ndarray | None = None) -> PictureText:
        """The lines of `rgb` (upright RGB, uint8). `gate`: a smaller picture of the same
        photo (the thumbnail) for the first pass; None runs it on `rgb` itself."""
        if not self.has_text(rgb if gate is None else gate):
            return PictureText([], gated=True)
        return PictureText(self.lines(rgb), gated=False)

    def lines(self, rgb: np.ndarray) -> list[TextLine]:
        """Full detection and recognition, without the first pass."""
        height, width = rgb.shape[:2]
        detect_on, scale = _reduced(rgb, self.settings.detect_side)
        boxes = (
            self.detect(
                detect_on,
                self.settings.detect_side,
                self.settings.detect_short_side,
                self.settings.detect_enlarge,
            )
            / scale
        )
        if not len(boxes):
            return []
        boxes = _reading_order(boxes)[: self.settings.max_lines * 2]
        crops = [_crop(rgb, box) for box in boxes]
        bgr_crops = [_bgr(crop) for crop in crops]
        if self._classifier is not None:
            bgr_crops, _, _ = self._classifier(bgr_crops)
        recognized, _ = self._recognizer(bgr_crops)
        lines = []
        for box, (text, confidence) in zip(boxes, recognized, strict=True):
            text = " ".join(str(text).split())
            if confidence < self.settings.min_confidence or not _has_word_character(text):
                continue
            lines.append(
                TextLine(_normalized(box, width, height), text, round(float(confidence), 4))
            )
            if len(lines) >= self.settings.max_lines:
                break
        return lines


def _bgr(rgb: np.ndarray) -> np.ndarray:
    # The PP-OCR models were trained on OpenCV's BGR pictures.
    return np.ascontiguousarray(rgb[..., ::-1])


def _detection_input(
    bgr: np.ndarray, long_side: int, short_side: int = 0, enlarge: float = 1.0
) -> np.ndarray | None:
    """The detector's input tensor, as rapidocr's DetPreProcess makes it (at most
    `long_side`, a short side under `short_side` enlarged towards it at most `enlarge` times,
    each side rounded to a multiple of 32, bilinear; (x / 255 - 0.5) / 0.5), computed in
    float32 in place: DetPreProcess normalizes in float64 with temporaries, which cost 8 ms
    of the first pass's 100 and 50 ms at 1280 px."""
    import cv2

    height, width = bgr.shape[:2]
    enlarged = min(enlarge, max(1.0, short_side / min(height, width)))
    ratio = min(enlarged, long_side / max(height, width))
    size = (round(int(width * ratio) / 32) * 32, round(int(height * ratio) / 32) * 32)
    if min(size) <= 0:
        return None
    resized = cv2.resize(bgr, size)
    tensor = np.empty((1, 3, size[1], size[0]), np.float32)
    for channel in range(3):
        plane = tensor[0, channel]
        plane[...] = resized[..., channel]
        plane *= 2 / 255
        plane -= 1.0
    return tensor


def _reduced(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """`rgb` at `long_side` at most (area resampling), and the scale applied."""
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def _crop(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The quadrilateral straightened into a rectangle; a tall one is turned to lie flat
    (as PaddleOCR does: recognition reads left to right)."""
    import cv2

    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(
        rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if height / width >= 1.5:
        crop = np.rot90(crop)
    return crop


def _reading_order(boxes: np.ndarray) -> np.ndarray:
    """Top to bottom, and left to right within a line (tops closer than half the box
    height count as one line)."""
    tops = boxes[:, :, 1].min(axis=1)
    heights = np.maximum(1.0, boxes[:, :, 1].max(axis=1) - tops)
    lefts = boxes[:, :, 0].min(axis=1)
    order = sorted(range(len(boxes)), key=lambda i: (tops[i], lefts[i]))
    rows: list[list[int]] = []
    for i in order:
        if rows and abs(tops[i] - tops[rows[-1][0]]) < heights[rows[-1][0]] / 2:
            rows[-1].append(i)
        else:
            rows.append([i])
    ordered = [i for row in rows for i in sorted(row, key=lambda i: lefts[i])]
    return boxes[ordered]


def _normalized(box: np.ndarray, width: int, height: int) -> tuple[tuple[float, float], ...]:
    return tuple(
        (
            round(min(max(float(x) / width, 0.0), 1.0), 4),
            round(min(max(float(y) / height, 0.0), 1.0), 4),
        )
        for x, y in box
    )


def _has_word_character(text: str) -> bool:
    return any(character.isalnum() for character in text)


def _word_characters(text: str) -> int:
    return sum(character.isalnum() for character in text)


def line_record(line: TextLine) -> dict[str, Any]:
    return {
        "box": [list(point) for point in line.box],
        "text": line.text,
        "confidence": line.confidence,
    }


def axis_aligned(box: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    """The quadrilateral's bounding rectangle: left, top, right, bottom (fractions)."""
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)
