"""Both models on one backend, as staged prediction in the style of ultralytics' predictor:

    prepare (loader threads)  CLIP transform + YOLO letterbox of one upright picture
    infer (calling thread)    both models on the stacked batch
    postprocess               zero-shot scenes, NMS and boxes in original pixels -> records

Each stage is timed per model (`timing.StageClock`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from photoanalyzer.config import MlConfig
from photoanalyzer.ml.backends import Backend
from photoanalyzer.ml.clip_scenes import ClipModel, scene_probabilities, top_scenes
from photoanalyzer.ml.timing import StageClock
from photoanalyzer.ml.weights import Weights
from photoanalyzer.ml.yolo_objects import Letterboxed, YoloDetector


@dataclass(frozen=True)
class Prepared:
    """One upright picture, ready for both models."""

    clip_pixels: torch.Tensor  # (3, 224, 224) float32, normalised
    letterboxed: Letterboxed
    original: tuple[int, int]  # the upright original's (width, height): boxes are mapped to it


class Predictor:
    """CLIP scenes + embedding and YOLO objects for batches of prepared pictures."""

    def __init__(
        self,
        clip_weights: Weights,
        yolo_weights: Weights,
        backend: Backend,
        settings: MlConfig,
        cache_dir: Path,
        startup: StageClock,
    ):
        self.backend, self.settings = backend, settings
        self.clip_random, self.yolo_random = clip_weights.random, yolo_weights.random
        self.clock = StageClock()
        with startup.timing("models", "clip"):
            self.clip = ClipModel(clip_weights, backend, cache_dir / "clip")
        with startup.timing("labels"):
            self.label_features = self.clip.label_embeddings(
                settings.clip.labels, settings.clip.templates
            ).to(backend.device)
        with startup.timing("models", "yolo"):
            self.yolo = YoloDetector(
                yolo_weights,
                backend,
                settings.yolo.confidence,
                settings.yolo.image_size,
                cache_dir / "yolo",
            )
        with startup.timing("warmup"):
            self.warm_up()

    def warm_up(self) -> None:
        """A full batch of blank pictures through every stage, where the backend wants one;
        the stage clock starts afresh after it."""
        size = self.settings.yolo.image_size

        def full_batch() -> None:
            blank = self.prepare(Image.new("RGB", (size, size)), (size, size))
            self.infer([blank] * self.backend.max_batch)

        self.backend.warm_up(full_batch)
        self.clock = StageClock()

    def prepare(self, picture: Image.Image, original: tuple[int, int]) -> Prepared:
        """The loader threads' step: both models' preprocessing of one upright picture."""
        with self.clock.timing("preprocess", "clip"):
            clip_pixels = self.clip.preprocess(picture)
        with self.clock.timing("preprocess", "yolo"):
            letterboxed = self.yolo.preprocess(picture)
        return Prepared(clip_pixels, letterboxed, original)

    def infer(self, batch: list[Prepared]) -> list[dict[str, Any]]:
        """One record per picture: scenes, objects, counts, embedding."""
        clock, backend = self.clock, self.backend
        with clock.timing("inference", "clip"):
            embeddings = self.clip.encode_images(torch.stack([p.clip_pixels for p in batch]))
            backend.synchronize()
        with clock.timing("inference", "yolo"):
            raw = self.yolo.forward([p.letterboxed for p in batch])
            backend.synchronize()
        with clock.timing("postprocess", "clip"):
            probabilities = scene_probabilities(
                embeddings, self.label_features, self.clip.logit_scale
            )
            scenes = top_scenes(
                probabilities.cpu(), self.settings.clip.labels, self.settings.clip.top_k
            )
            vectors = embeddings.cpu().numpy().astype("float16")
        with clock.timing("postprocess", "yolo"):
            detections = self.yolo.postprocess(
                raw, [p.letterboxed for p in batch], [p.original for p in batch]
            )
        return [
            {
                "top_scene": scene[0][0],
                "scenes": scene,
                "objects": [d.as_dict() for d in found],
                "object_counts": dict(Counter(d.label for d in found).most_common()),
                "ml_random_weights": self.clip_random or self.yolo_random,
                "clip_random_weights": self.clip_random,
                "yolo_random_weights": self.yolo_random,
                "embedding": vector.tobytes(),
            }
            for scene, found, vector in zip(scenes, detections, vectors, strict=True)
        ]
