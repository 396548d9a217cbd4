"""Unit text embeddings per model and weights, one small .npy file per text: labels,
templates and search queries are encoded once. numpy only, so that a search for a text
already encoded needs neither torch nor a model."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from photoanalyzer.ml.weights import Weights


def model_identity(weights: Weights) -> str:
    """Names the model and its exact weights: the key of the cache's folder."""
    return f"{weights.model}|{weights.identity}"


class TextEmbeddingCache:
    def __init__(self, folder: Path, model_identity: str):
        key = hashlib.sha256(model_identity.encode()).hexdigest()[:16]
        self.folder = folder / key

    def _path(self, text: str) -> Path:
        digest = hashlib.sha256(text.encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest[2:]}.npy"

    def get(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        found = {}
        for text in texts:
            try:
                found[text] = np.load(self._path(text))
            except (OSError, ValueError):  # not cached (or a partial file from a crash)
                continue
        return found

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        for text, vector in vectors.items():
            path = self._path(text)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.part")
            with open(partial, "wb") as out:
                np.save(out, np.asarray(vector, dtype=np.float32))
            os.replace(partial, path)
