"""Faces phase: the faces of each photo (and of the frames of each video that the content
phase analyzes), with box, landmarks, score, size, sharpness and a 128-d embedding.

A per-file phase: the pipeline spreads files over worker processes, each loading dlib's
models once. The picture is the original decoded as the content phase decodes it
(pixels.load: upright, JPEG draft scale, HEIC and RAW previews through the same dispatcher),
reduced to `picture_size`; docs/performance.md says why that and not the stored thumbnail.
Grouping faces into persons is not this phase's work: the pipeline does it once the phase
has stored its faces (run/people_step.py)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from photoanalyzer.analysis.faces import (
    DetectSettings,
    Face,
    FaceModels,
    find_faces,
    may_have_faces,
    missing_reason,
    models_for,
    models_identity,
    pack_embedding,
    save_hog_detector,
)
from photoanalyzer.config import ContentConfig, FacesConfig
from photoanalyzer.phases.base import Outcome, PhaseSkipped, refuse_empty
from photoanalyzer.phases.content import thumbnail_key

# Bump when the code changes what the phase finds; settings and models are hashed in apart.
# 2: grey HOG, candidates checked by the CNN, edge pass.
# 3: a first look on the content phase's thumbnail; no face nor candidate there: 0 faces.
CODE_VERSION = "faces-3"


def detect_settings(settings: FacesConfig, picture_side: int) -> DetectSettings:
    """dlib's settings for a picture whose longest side is `picture_side`: small pictures
    (crops, old scans, messenger copies) are doubled once, since HOG's 80 px window misses
    the faces of a small group photo otherwise."""
    upsample = settings.upsample + (1 if picture_side <= settings.small_picture else 0)
    return DetectSettings(
        detector=settings.detector,
        upsample=upsample,
        min_face_px=settings.min_face_px,
        max_faces=settings.max_faces,
    )


def phase_version(settings: FacesConfig, content: ContentConfig) -> str:
    """Everything that changes what the phase stores: the code, the detection settings, the
    model packages, and which frames of a video are analyzed (the content phase's)."""
    values = {
        "detector": settings.detector,
        "picture_size": settings.picture_size,
        "small_picture": settings.small_picture,
        "upsample": settings.upsample,
        "min_face_px": settings.min_face_px,
        "max_faces": settings.max_faces,
        "max_pixels": content.max_pixels,
        "video_frame_interval": content.video_frame_interval,
        "video_max_frames": content.video_max_frames,
        "models": models_identity(),
        # The detection defaults not in the config (candidates, edge pass).
        "detect": asdict(detect_settings(settings, settings.picture_size)),
    }
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]
    return f"{CODE_VERSION}-{digest}"


@dataclass(frozen=True)
class FacesPhase:
    settings: FacesConfig
    content: ContentConfig
    name: str = "faces"
    kinds: frozenset[str] = frozenset({"photo", "video"})
    reads_pixels: bool = True  # scan.raw_pairs decides which half of a RAW+JPEG pair it reads
    # Models load in about 0.3 s per worker and a photo takes about 0.1 s: a pool pays from
    # a handful of files on.
    min_files_for_workers: int = 4
    # The content phase's thumbnail folder, for the first look (None: always the full path).
    thumbnail_dir: str | None = None
    # Where dlib's HOG detector is kept in its quick-loading form (None: built per worker).
    models_dir: str | None = None

    @property
    def version(self) -> str:
        return phase_version(self.settings, self.content)

    @property
    def workers(self) -> int:
        return self.settings.workers

    def check_available(self) -> None:
        """PhaseSkipped naming the extra where dlib or the models are not installed: the
        pipeline skips the phase with that one line and the files stay pending."""
        reason = missing_reason()
        if reason is not None:
            raise PhaseSkipped(reason)
        if self.models_dir is not None and self.settings.detector == "hog":
            save_hog_detector(Path(self.models_dir))

    def analyze(self, path: str, kind: str) -> Outcome:
        refuse_empty(path)
        faces = self._video_faces(path) if kind == "video" else self._photo_faces(path)
        return Outcome({"face_count": len(faces), "faces": faces})

    def _photo_faces(self, path: str) -> list[dict]:
        from photoanalyzer.pixels.geometry import upright_of
        from photoanalyzer.pixels.load import load_upright_rgb

        if self._thumbnail_clear(path):
            return []
        decoded = load_upright_rgb(path, self.settings.picture_size, self.content.max_pixels)
        return [_row(face, None) for face in self._faces(decoded.image, upright_of(decoded))]

    def _thumbnail_clear(self, path: str) -> bool:
        """True where the content phase's stored thumbnail shows no face and no candidate to
        HOG: the photo has no face, and its original is not decoded (most of a camera roll).
        False (look at the original) where there is no thumbnail, where the original is
        small enough for the full path to upsample it (a group photo's faces are then below
        HOG's 80 px window in the thumbnail), and where the thumbnail shows something."""
        import numpy as np
        from PIL import Image

        if self.thumbnail_dir is None or self.settings.detector != "hog":
            return False
        stat = os.stat(path)
        thumbnail = os.path.join(
            self.thumbnail_dir, thumbnail_key(path, stat.st_size, stat.st_mtime_ns)
        )
        try:
            with Image.open(path) as original:  # the header only: its size
                if max(original.size) <= self.settings.small_picture:
                    return False
            with Image.open(thumbnail) as image:
                grey = np.asarray(image.convert("L"))
        except (OSError, ValueError, Image.DecompressionBombError):
            return False  # no thumbnail, or a format Pillow cannot size: the full path
        settings = detect_settings(self.settings, self.settings.picture_size)
        return not may_have_faces(grey, self._models(), settings)

    def _video_faces(self, path: str) -> list[dict]:
        """The frames the content phase analyzes (the same times: its settings), decoded at
        this phase's picture size rather than read from their 640 px thumbnails."""
        from photoanalyzer.pixels.video_frames import extract_frames

        content = self.content
        frames = extract_frames(
            path,
            content.video_frame_interval,
            content.video_max_frames,
            self.settings.picture_size,
            content.max_pixels,
        )
        return [
            _row(face, number)
            for number, (_, image) in enumerate(frames)
            for face in self._faces(image, image.size)
        ]

    def _models(self) -> FaceModels:
        cache = None if self.models_dir is None else Path(self.models_dir)
        return models_for(self.settings.detector, cache)

    def _faces(self, image, original_size: tuple[int, int]) -> list[Face]:
        import numpy as np

        rgb = np.asarray(image)
        settings = detect_settings(self.settings, max(image.size))
        return find_faces(rgb, self._models(), settings, original_size)


def _row(face: Face, frame: int | None) -> dict:
    """A face as catalog/people.py stores it."""
    x, y, w, h = face.box
    return {
        "frame": frame,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "landmarks": [round(v, 5) for v in face.landmarks],
        "score": face.score,
        "size_px": face.size_px,
        "sharpness": face.sharpness,
        "embedding": pack_embedding(face.embedding),
    }
