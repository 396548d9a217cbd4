"""Search queries through CLIP: texts from the text-embedding cache (numpy alone: no torch),
else through the text tower; images that the catalog holds no embedding for through the
image tower; each tower built only when a query needs it. The weights are resolved before
torch is imported, so a query that cannot run fails in a moment. Queries are encoded in
float32 (cuda-fp32 where CUDA works, else cpu-fp32): one query is not worth a TensorRT
engine or a bfloat16 cast."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from photoanalyzer.config import ContentConfig, MlConfig
from photoanalyzer.errors import ModelUnavailable, UsageError
from photoanalyzer.ml.text_cache import TextEmbeddingCache, model_identity
from photoanalyzer.ml.weights import WeightsUnavailable, prepare_environment, resolve_clip

_LIBRARIES = ("torch", "open_clip")
MISSING_LIBRARIES = (
    "searching by text or by an image the catalog has no embedding for needs torch and "
    "open_clip_torch: install them with pip install 'photoanalyzer[ml]'"
)


class QueryEncoder:
    def __init__(self, ml: MlConfig, content: ContentConfig, models_dir: Path):
        self.content, self.models_dir = content, models_dir
        prepare_environment(models_dir, ml.offline)
        if any(importlib.util.find_spec(name) is None for name in _LIBRARIES):
            raise ModelUnavailable(MISSING_LIBRARIES)
        try:
            self.weights = resolve_clip(ml.clip.model, ml.clip.pretrained, models_dir, ml.offline)
        except WeightsUnavailable as exc:
            raise ModelUnavailable(str(exc)) from exc
        self._model = None

    @property
    def random(self) -> bool:
        return self.weights.random

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) unit float32 embeddings: from the text-embedding cache where every text
        is in it (no torch, no model), else through the text tower alone."""
        cache = TextEmbeddingCache(self.models_dir / "clip" / "text", model_identity(self.weights))
        cached = cache.get(texts)
        if all(text in cached for text in texts):
            return np.stack([cached[text] for text in texts])
        return self._clip(image_tower=False).encode_text(list(texts)).numpy()

    def images(self, paths: Sequence[str]) -> np.ndarray:
        """(N, dim) unit float32 embeddings of the pictures at `paths`, decoded upright at
        the thumbnail size, as the ML phase sees photos."""
        import torch

        from photoanalyzer.pixels.load import load_upright_rgb

        model = self._clip(image_tower=True)
        pictures = []
        for path in paths:
            try:
                decoded = load_upright_rgb(
                    path, self.content.thumbnail_size, self.content.max_pixels
                )
            except Exception as exc:
                raise UsageError(f"QUERY: cannot read the image {path}: {exc}") from exc
            pictures.append(model.preprocess(decoded.image))
        return model.encode_images(torch.stack(pictures)).cpu().numpy()

    def _clip(self, image_tower: bool):
        """The model, built once; a text-only model is replaced when an image needs one."""
        if self._model is None or (image_tower and not self._has_image_tower):
            from photoanalyzer.ml.backends import select_backend
            from photoanalyzer.ml.clip_scenes import ClipModel

            backend = select_backend("fp32")
            self._model = ClipModel(self.weights, backend, self.models_dir / "clip", image_tower)
            self._has_image_tower = image_tower
        return self._model
