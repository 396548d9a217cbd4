"""Faces in one upright RGB picture: dlib's detector (HOG, or the CNN mmod model), the 5-point
landmarks and the 128-d ResNet embedding from the `face-recognition-models` package.

Pure functions on a numpy array; the models are loaded once per process (`FaceModels.load`).
dlib is imported only here and only when models are loaded, so that a machine without the
`faces` extra can still build the phase (its version, its name) and say what is missing.

Work per picture is bounded whatever it shows: detections below `min_face_px` are dropped
before anything else, and at most `max_faces` (the largest) get landmarks and an embedding,
so a photo of 500 tiny faces costs one detection pass and `max_faces` embeddings at most.
dlib runs on one thread here (the wheel has no BLAS); the pipeline spreads files over
processes."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from photoanalyzer.analysis.signals import laplacian_variance
from photoanalyzer.errors import DecoderMissing

EXTRA_HINT = "pip install 'photoanalyzer[faces]'"
DETECTORS = ("hog", "cnn")
MODEL_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_FILE = "mmod_human_face_detector.dat"
EMBEDDING_SIZE = 128
# The face crop the sharpness is measured on: a fixed size, so that a large and a small face
# of the same blur score alike.
SHARPNESS_CROP = 64


class FacesUnavailable(DecoderMissing):
    """dlib or the model files are not installed: the machine's lack, not the file's."""


@dataclass(frozen=True)
class DetectSettings:
    """How faces are looked for (every field changes the output: the phase version hashes
    them)."""

    detector: str = "hog"  # DETECTORS
    upsample: int = 0  # times dlib doubles the picture before detecting (finds smaller faces)
    min_face_px: int = 20  # in the analyzed picture; smaller detections are dropped
    max_faces: int = 64  # the largest this many get landmarks and an embedding
    hog_threshold: float = 0.0  # dlib's adjust_threshold: above 0 fewer, surer faces


class Face(NamedTuple):
    """One face, with everything normalized to the upright picture (0..1, top-left origin)."""

    box: tuple[float, float, float, float]  # x, y, w, h
    landmarks: tuple[float, ...]  # 5 points: x0, y0, x1, y1, ... (eyes' corners, nose)
    score: float  # the detector's confidence (HOG: SVM margin; CNN: its score)
    size_px: int  # the box's shorter side in pixels of the full-size original
    sharpness: float  # Laplacian variance of the face crop at SHARPNESS_CROP px
    embedding: np.ndarray  # 128 float32, unit-ish (dlib's metric: Euclidean, 0.6 "same")


def models_dir() -> Path | None:
    """The folder of the model files, found without importing the package (its __init__
    imports pkg_resources, which recent setuptools no longer ship)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def models_identity() -> str:
    """What the phase version records of the models: the packages' versions."""
    parts = []
    for dist in ("face-recognition-models", "dlib-bin"):
        try:
            parts.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist}=absent")
    return ",".join(parts)


def missing_reason() -> str | None:
    """Why faces cannot be found on this machine, or None when they can (no import)."""
    absent = [name for name in ("dlib", MODEL_PACKAGE) if importlib.util.find_spec(name) is None]
    if absent:
        return f"{' and '.join(absent)} not installed: {EXTRA_HINT}"
    folder = models_dir()
    files = (LANDMARKS_FILE, EMBEDDING_FILE)
    if folder is None or not all((folder / name).is_file() for name in files):
        return f"the face model files are missing from {folder}: {EXTRA_HINT}"
    return None


@dataclass
class FaceModels:
    """dlib's detector, landmark predictor and embedding network, loaded once per process."""

    dlib: Any
    detector: Any
    landmarks: Any
    encoder: Any
    cnn: bool

    @classmethod
    def load(cls, detector: str = "hog") -> FaceModels:
        reason = missing_reason()
        if reason is not None:
            raise FacesUnavailable(reason)
        import dlib

        folder = models_dir()
        assert folder is not None
        if detector == "cnn":
            found = dlib.cnn_face_detection_model_v1(str(folder / CNN_FILE))
        else:
            found = dlib.get_frontal_face_detector()
        return cls(
            dlib,
            found,
            dlib.shape_predictor(str(folder / LANDMARKS_FILE)),
            dlib.face_recognition_model_v1(str(folder / EMBEDDING_FILE)),
            detector == "cnn",
        )


_loaded: dict[str, FaceModels] = {}


def models_for(detector: str) -> FaceModels:
    """The models of this process (each worker loads them once: about 0.3 s)."""
    if detector not in _loaded:
        _loaded[detector] = FaceModels.load(detector)
    return _loaded[detector]


def find_faces(
    rgb: np.ndarray,
    models: FaceModels,
    settings: DetectSettings,
    original_size: tuple[int, int] | None = None,
) -> list[Face]:
    """The faces of one upright picture (H x W x 3 uint8). `original_size` (width, height of
    the full-size upright original) turns box sizes into the original's pixels; by default
    the picture's own."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    if min(height, width) < 8:
        return []  # a 1x1 picture: nothing a detector could see
    boxes = _detect(rgb, models, settings)
    boxes = [b for b in boxes if min(b[0].width(), b[0].height()) >= settings.min_face_px]
    # The largest first: a crowd's biggest faces are the ones a person would name.
    boxes.sort(key=lambda b: b[0].width() * b[0].height(), reverse=True)
    boxes = boxes[: settings.max_faces]
    if not boxes:
        return []
    shapes = [models.landmarks(rgb, rect) for rect, _ in boxes]
    vectors = models.encoder.compute_face_descriptor(
        rgb, models.dlib.full_object_detections(shapes)
    )
    scale = (original_size[0] / width) if original_size else 1.0
    return [
        _face(rgb, rect, score, shape, vector, scale)
        for (rect, score), shape, vector in zip(boxes, shapes, vectors, strict=True)
    ]


def _detect(rgb: np.ndarray, models: FaceModels, settings: DetectSettings) -> list[tuple]:
    """(rectangle clipped to the picture, score) per detection."""
    height, width = rgb.shape[:2]
    bounds = models.dlib.rectangle(0, 0, width - 1, height - 1)
    if models.cnn:
        found = [(d.rect, d.confidence) for d in models.detector(rgb, settings.upsample)]
    else:
        rects, scores, _ = models.detector.run(rgb, settings.upsample, settings.hog_threshold)
        found = list(zip(rects, scores, strict=True))
    clipped = []
    for rect, score in found:
        inside = rect.intersect(bounds)
        if inside.width() > 1 and inside.height() > 1:
            clipped.append((inside, float(score)))
    return clipped


def _face(rgb: np.ndarray, rect, score: float, shape, vector, scale: float) -> Face:
    height, width = rgb.shape[:2]
    left, top = rect.left(), rect.top()
    w, h = rect.width(), rect.height()
    points: list[float] = []
    for i in range(shape.num_parts):
        part = shape.part(i)
        points += [_unit(part.x / width), _unit(part.y / height)]
    return Face(
        box=(left / width, top / height, w / width, h / height),
        landmarks=tuple(points),
        score=score,
        size_px=round(min(w, h) * scale),
        sharpness=crop_sharpness(rgb, left, top, w, h),
        embedding=np.asarray(vector, dtype=np.float32),
    )


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def crop_sharpness(rgb: np.ndarray, left: int, top: int, width: int, height: int) -> float:
    """Variance of the Laplacian of the face's grey crop scaled to SHARPNESS_CROP pixels:
    a blurred or tiny upscaled face scores low, whatever its size in the photo."""
    from PIL import Image

    crop = rgb[max(0, top) : top + height, max(0, left) : left + width]
    if crop.size == 0:
        return 0.0
    grey = Image.fromarray(crop).convert("L").resize((SHARPNESS_CROP, SHARPNESS_CROP))
    return laplacian_variance(np.asarray(grey, dtype=np.float32))


def pack_embedding(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def unpack_embeddings(blobs: list[bytes]) -> np.ndarray:
    """N x 128 float32 from stored blobs (an empty 0 x 128 array for none)."""
    if not blobs:
        return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), EMBEDDING_SIZE)
