"""Faces in one upright RGB picture: dlib's detector (HOG, or the CNN mmod model), the 5-point
landmarks and the 128-d ResNet embedding from the `face-recognition-models` package.

Pure functions on a numpy array; the models are loaded once per process (`FaceModels.load`).
dlib is imported only here and only when models are loaded, so that a machine without the
`faces` extra can still build the phase (its version, its name) and say what is missing.

Detection is HOG on the grey picture (a quarter cheaper than on RGB, the same faces), run
with a lowered threshold so that it also lists near misses ("candidates"). Only where that
pass found a face or a candidate (most camera-roll photos have neither, and pay for nothing
more) two cheap second looks follow: HOG again on the picture with its borders mirrored
outwards (`edge_pad`), which completes faces cut by the frame's edge, and dlib's CNN
detector on a small crop around each of the best `verify_max` candidates, which confirms
faces HOG scores low (profiles). docs/people.md and docs/performance.md say what each gave.

Work per picture is bounded whatever it shows: detections below `min_face_px` are dropped
before anything else, at most `verify_max` crops go to the CNN, and at most `max_faces` (the
largest) get landmarks and an embedding, so a photo of 500 tiny faces costs two detection
passes, `verify_max` small CNN runs and `max_faces` embeddings at most.
dlib runs on one thread here (the wheel has no BLAS); the pipeline spreads files over
processes."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
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
    # HOG detections scoring from here up to hog_threshold are candidates: faces only when
    # the CNN confirms them. None: no candidates (and no edge pass without a face).
    candidate_threshold: float | None = -0.7
    verify_max: int = 1  # candidates per picture the CNN looks at, the best first
    # The border mirrored outwards for the edge pass, as a share of the longest side; 0: none.
    edge_pad: float = 0.1


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
    files = (LANDMARKS_FILE, EMBEDDING_FILE, CNN_FILE)
    if folder is None or not all((folder / name).is_file() for name in files):
        return f"the face model files are missing from {folder}: {EXTRA_HINT}"
    return None


@dataclass
class FaceModels:
    """dlib's detector, landmark predictor and embedding network, loaded once per process.
    The predictor and the network load at the first face (`landmarks`, `encoder`): a worker
    given only photos without faces pays for the detector alone (the embedding network is
    the 21 MB file that made most of a worker's 1.75 s of CPU at start)."""

    dlib: Any
    detector: Any
    cnn: bool
    folder: Path
    verifier: Any = None  # the CNN detector for candidates (loaded on first use)
    _landmarks: Any = None
    _encoder: Any = None

    @property
    def landmarks(self) -> Any:
        if self._landmarks is None:
            self._landmarks = self.dlib.shape_predictor(str(self.folder / LANDMARKS_FILE))
        return self._landmarks

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            path = str(self.folder / EMBEDDING_FILE)
            self._encoder = self.dlib.face_recognition_model_v1(path)
        return self._encoder

    def candidate_verifier(self) -> Any:
        if self.cnn:
            return self.detector
        if self.verifier is None:
            self.verifier = self.dlib.cnn_face_detection_model_v1(str(self.folder / CNN_FILE))
        return self.verifier

    @classmethod
    def load(cls, detector: str = "hog", cache_dir: Path | None = None) -> FaceModels:
        reason = missing_reason()
        if reason is not None:
            raise FacesUnavailable(reason)
        import dlib

        folder = models_dir()
        assert folder is not None
        if detector == "cnn":
            found = dlib.cnn_face_detection_model_v1(str(folder / CNN_FILE))
        else:
            found = _frontal_detector(dlib, cache_dir)
        return cls(dlib, found, detector == "cnn", folder)


def save_hog_detector(cache_dir: Path) -> None:
    """Keep the HOG detector's quick-loading form in `cache_dir` (nothing where it is there
    already): called once in the parent before the workers start, so that they do not
    each build it."""
    import dlib

    _frontal_detector(dlib, cache_dir)


def _frontal_detector(dlib: Any, cache_dir: Path | None) -> Any:
    """dlib's HOG face detector. dlib builds it from a text form compiled into the library,
    1.3 s of CPU in each worker process (most of a worker's start); saved once in dlib's
    binary form in `cache_dir` (the models folder) it loads in about 2 ms, the same
    detector. Where the folder cannot be written, it is built each time."""
    if cache_dir is None:
        return dlib.get_frontal_face_detector()
    path = cache_dir / f"dlib-{dlib.__version__}-frontal-face-detector.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:
            pass  # a damaged file: built again and saved over below
    detector = dlib.get_frontal_face_detector()
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        detector.save(str(partial))
        os.replace(partial, path)  # whole or absent, whichever worker writes it
    except (OSError, RuntimeError):
        with contextlib.suppress(OSError):  # a folder that is not one: nothing was written
            partial.unlink(missing_ok=True)
    return detector


_loaded: dict[str, FaceModels] = {}


def models_for(detector: str, cache_dir: Path | None = None) -> FaceModels:
    """The models of this process, each loaded once, at its first use (FaceModels)."""
    if detector not in _loaded:
        _loaded[detector] = FaceModels.load(detector, cache_dir)
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


def may_have_faces(grey: np.ndarray, models: FaceModels, settings: DetectSettings) -> bool:
    """The cheap first look (on a small grey picture, the content phase's thumbnail): does
    HOG at the lowered threshold see a face or a candidate? False: `find_faces` on the
    larger picture is not needed. With the CNN detector there is no cheap look: True."""
    if models.cnn:
        return True
    low = settings.hog_threshold
    if settings.candidate_threshold is not None:
        low = min(low, settings.candidate_threshold)
    return bool(_hog(models, np.ascontiguousarray(grey), settings.upsample, low))


def _detect(rgb: np.ndarray, models: FaceModels, settings: DetectSettings) -> list[tuple]:
    """(rectangle clipped to the picture, score) per face."""
    height, width = rgb.shape[:2]
    if models.cnn:
        found = [(_box(d.rect), d.confidence) for d in models.detector(rgb, settings.upsample)]
        return _clipped(models, found, width, height)
    grey = _grey(rgb)
    low = settings.hog_threshold
    if settings.candidate_threshold is not None:
        low = min(low, settings.candidate_threshold)
    found = _hog(models, grey, settings.upsample, low)
    faces = [(box, score) for box, score in found if score >= settings.hog_threshold]
    if not found:
        return []  # no face, not even a near miss: most photos of a camera roll end here
    if settings.edge_pad > 0 and any(_near_edge(box, grey.shape, settings) for box, _ in found):
        faces = _merged(faces, _edge_faces(models, grey, settings))
    candidates = [
        (box, score)
        for box, score in found
        if score < settings.hog_threshold
        and not any(_covered_share(box, face) >= SAME_FACE_SHARE for face, _ in faces)
    ]
    candidates.sort(key=lambda c: c[1], reverse=True)
    faces += _verified(rgb, candidates[: settings.verify_max], faces, models)
    return _clipped(models, faces, width, height)


Box = tuple[int, int, int, int]  # left, top, right, bottom (inclusive, dlib's convention)

# A face of the edge pass counts when this share of its box lies inside the picture: a face
# cut by the frame's edge, completed by its mirror image, shows about half of its box; the
# mirror image of a whole face near the edge (a ghost) shows little of itself.
MIN_VISIBLE = 0.4
# Two boxes from this intersection over union on are one face.
SAME_FACE_IOU = 0.3
# The CNN sees a candidate's surroundings (VERIFY_CONTEXT times its box) scaled so that the
# box is VERIFY_BOX_PX wide: a fixed cost (a 300 px crop) whatever the photo's resolution,
# and a face of 40% of a low-scoring HOG box (profiles: HOG's box is loose there) still fills
# the CNN's 80 px window.
VERIFY_BOX_PX = 200
VERIFY_CONTEXT = 1.5
# A candidate mostly inside a face already found is that face, not another one.
SAME_FACE_SHARE = 0.5


def _grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma (Pillow's convert("L")): HOG on one channel instead of three."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).convert("L"))


def _box(rect) -> Box:
    return (rect.left(), rect.top(), rect.right(), rect.bottom())


def _hog(models: FaceModels, grey: np.ndarray, upsample: int, threshold: float) -> list:
    rects, scores, _ = models.detector.run(grey, upsample, threshold)
    return [(_box(rect), float(score)) for rect, score in zip(rects, scores, strict=True)]


def _edge_faces(models: FaceModels, grey: np.ndarray, settings: DetectSettings) -> list:
    """Faces cut by the frame's edge: HOG on the picture with its borders mirrored outwards,
    which completes a face cut near its middle into a whole one (in the picture's
    coordinates; boxes may reach outside it)."""
    height, width = grey.shape
    pad = min(round(settings.edge_pad * max(height, width)), height - 1, width - 1)
    padded = np.ascontiguousarray(np.pad(grey, pad, mode="reflect"))
    found = []
    for (left, top, right, bottom), score in _hog(
        models, padded, settings.upsample, settings.hog_threshold
    ):
        box = (left - pad, top - pad, right - pad, bottom - pad)
        if _visible_share(box, width, height) >= MIN_VISIBLE:
            found.append((box, score))
    return found


def _near_edge(box: Box, shape: tuple[int, ...], settings: DetectSettings) -> bool:
    """Whether a face or candidate lies within the mirrored border's width of the frame's
    edge: only then can the edge pass complete a face there (a photo whose faces are all in
    its middle pays no second HOG pass on a larger picture)."""
    height, width = shape[:2]
    margin = settings.edge_pad * max(height, width)
    left, top, right, bottom = box
    return min(left, top, width - 1 - right, height - 1 - bottom) < margin


def _verified(rgb: np.ndarray, candidates: list, faces: list, models: FaceModels) -> list:
    """The faces the CNN detector finds inside the candidates' boxes, on a crop around each
    (the CNN's box: a low-scoring HOG box is often much larger than the face in it)."""
    from PIL import Image

    height, width = rgb.shape[:2]
    confirmed: list = []
    for box, score in candidates:
        left, top, right, bottom = box
        side = max(right - left, bottom - top) + 1
        half = side * VERIFY_CONTEXT / 2
        cx, cy = (left + right) / 2, (top + bottom) / 2
        x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
        x1, y1 = min(width, round(cx + half)), min(height, round(cy + half))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        scale = VERIFY_BOX_PX / side
        crop = Image.fromarray(rgb[y0:y1, x0:x1])
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
        for found in models.candidate_verifier()(np.asarray(crop), 0):
            seen = found.rect
            face = (
                round(x0 + seen.left() / scale),
                round(y0 + seen.top() / scale),
                round(x0 + seen.right() / scale),
                round(y0 + seen.bottom() / scale),
            )
            centre = ((face[0] + face[2]) / 2, (face[1] + face[3]) / 2)
            inside = left <= centre[0] <= right and top <= centre[1] <= bottom
            known = any(_iou(face, other) >= SAME_FACE_IOU for other, _ in faces + confirmed)
            if inside and not known:
                confirmed.append((face, score))
    return confirmed


def _merged(faces: list, more: list) -> list:
    """`faces` and those of `more` that are not one of them (nor of each other)."""
    merged = list(faces)
    for box, score in sorted(more, key=lambda f: f[1], reverse=True):
        if not any(_iou(box, other) >= SAME_FACE_IOU for other, _ in merged):
            merged.append((box, score))
    return merged


def _area(box: Box) -> int:
    return max(0, box[2] - box[0] + 1) * max(0, box[3] - box[1] + 1)


def _intersection(a: Box, b: Box) -> Box:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _iou(a: Box, b: Box) -> float:
    common = _area(_intersection(a, b))
    union = _area(a) + _area(b) - common
    return common / union if union else 0.0


def _covered_share(box: Box, other: Box) -> float:
    """The share of `box` that lies inside `other`."""
    return _area(_intersection(box, other)) / max(1, _area(box))


def _visible_share(box: Box, width: int, height: int) -> float:
    return _area(_intersection(box, (0, 0, width - 1, height - 1))) / max(1, _area(box))


def _clipped(models: FaceModels, found: list, width: int, height: int) -> list[tuple]:
    """dlib rectangles clipped to the picture, with their scores (slivers dropped)."""
    clipped = []
    for box, score in found:
        left, top, right, bottom = _intersection(box, (0, 0, width - 1, height - 1))
        if right - left > 1 and bottom - top > 1:
            clipped.append((models.dlib.rectangle(left, top, right, bottom), float(score)))
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
