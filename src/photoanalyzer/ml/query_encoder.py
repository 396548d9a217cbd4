"""Search queries through CLIP: texts from the text-embedding cache (numpy alone: no torch),
else through the text tower exported to ONNX and run in ONNX Runtime (no torch either; the
first text query after a model change builds the export with torch, ml/text_export.py), else,
where the export is refused or ONNX Runtime is missing, through open_clip's text tower in
torch; images that the catalog holds no embedding for through the image tower. Each tower is
built only when a query needs it. The weights are resolved before torch is imported, so a
query that cannot run fails in a moment. Queries are encoded in float32 (cuda-fp32 where
CUDA works, else cpu-fp32): one query is not worth a TensorRT engine or a bfloat16 cast."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from photoanalyzer.config import ContentConfig, MlConfig
from photoanalyzer.errors import ModelUnavailable, UsageError
from photoanalyzer.ml import text_onnx
from photoanalyzer.ml.text_cache import TextEmbeddingCache, model_identity
from photoanalyzer.ml.weights import WeightsUnavailable, prepare_environment, resolve_clip

_LIBRARIES = ("torch", "open_clip")
MISSING_LIBRARIES = (
    "searching by text or by an image the catalog has no embedding for needs torch and "
    "open_clip_torch: install them with pip install 'photoanalyzer[ml]'"
)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class QueryEncoder:
    """`notify` is told, as it happens, what a query does that takes long: building the ONNX
    text tower, or why texts go through torch. `many_queries`: this encoder will answer many
    (a server), so the ONNX session prepacks its weights once (ml/text_onnx.open_session)."""

    def __init__(
        self,
        ml: MlConfig,
        content: ContentConfig,
        models_dir: Path,
        notify: Callable[[str], None] = _to_stderr,
        many_queries: bool = False,
    ):
        self.content, self.models_dir, self.notify = content, models_dir, notify
        self.many_queries = many_queries
        prepare_environment(models_dir, ml.offline)
        if any(importlib.util.find_spec(name) is None for name in _LIBRARIES):
            raise ModelUnavailable(MISSING_LIBRARIES)
        try:
            self.weights = resolve_clip(ml.clip.model, ml.clip.pretrained, models_dir, ml.offline)
        except WeightsUnavailable as exc:
            raise ModelUnavailable(str(exc)) from exc
        self._model = None
        self._tower: text_onnx.OnnxTextTower | None = None

    @property
    def random(self) -> bool:
        return self.weights.random

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) unit float32 embeddings: from the text-embedding cache where a text is in
        it (no model), else through the ONNX text tower (no torch once it is exported), else
        through open_clip's in torch. New texts join the cache."""
        cache = TextEmbeddingCache(self.models_dir / "clip" / "text", model_identity(self.weights))
        found = cache.get(texts)
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            tower = self._onnx_tower()
            if tower is None:  # torch: ClipModel puts them in the cache itself
                vectors = self._clip(image_tower=False).encode_text(missing).numpy()
            else:
                vectors = tower.encode(missing)
                cache.put(dict(zip(missing, vectors, strict=True)))
            found.update(zip(missing, vectors, strict=True))
        return np.stack([found[text] for text in texts])

    def _onnx_tower(self) -> text_onnx.OnnxTextTower | None:
        """The exported text tower, exported first if this model and weights have none; None
        where ONNX Runtime is missing or the model's export was refused."""
        if self._tower is not None:
            return self._tower
        if os.environ.get(text_onnx.SWITCH) == "torch":
            return None
        if not text_onnx.runtime_available():
            self.notify(
                "note: text queries go through torch (seconds to start): install "
                "onnxruntime with pip install 'photoanalyzer[ml]'"
            )
            return None
        folder = text_onnx.export_folder(self.models_dir, self.weights)
        if not text_onnx.is_complete(folder) and (
            text_onnx.refusal(folder) is not None or not self._export(folder)
        ):
            return None
        try:
            self._tower = text_onnx.OnnxTextTower(folder, self.many_queries)
        except Exception as exc:  # damaged files, an ONNX Runtime that cannot read them
            self.notify(
                f"note: the ONNX text tower in {folder} cannot be loaded ({exc}); texts go "
                "through torch. Delete that folder: the next text query exports it again."
            )
        return self._tower

    def _export(self, folder: Path) -> bool:
        """Builds the export in a scratch folder and renames it into place (a concurrent
        search that finished first wins; its export is the same). False, with a note and a
        refused.json that keeps later queries from trying again, where it cannot be done."""
        import open_clip

        from photoanalyzer.ml.text_export import export_text_tower

        self.notify(
            f"Exporting the text tower of CLIP {self.weights.model} to ONNX, once for these "
            f"weights, so that text queries need no torch: {folder}"
        )
        staging = folder.with_name(f"{folder.name}.{os.getpid()}.part")
        _remove_abandoned(folder)
        try:
            model = self._clip(image_tower=False).text_model()
            report = export_text_tower(model, open_clip.get_tokenizer(self.weights.model), staging)
        except Exception as exc:
            _write_refusal(folder, f"{type(exc).__name__}: {exc}")
            self.notify(
                f"note: the text tower was not exported ({exc}); text queries of this model "
                f"go through torch. Delete {folder} to try again."
            )
            return False
        (staging / "manifest.json").write_text(json.dumps(self._manifest(report), indent=1))
        try:
            staging.rename(folder)
        except OSError:  # another search renamed its export first
            shutil.rmtree(staging, ignore_errors=True)
        self.notify(
            f"Exported in {report.seconds:.1f} s (agrees with torch to cosine "
            f"{report.least_cosine:.5f}); later text queries load it without torch."
        )
        return True

    def _manifest(self, report) -> dict:
        from importlib.metadata import version

        return {
            "key": text_onnx.export_key(self.weights),
            "model": self.weights.model,
            "random_weights": self.weights.random,
            "torch": version("torch"),
            "onnxruntime": version("onnxruntime"),
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(report.seconds, 2),
            "least_cosine_on_probes": report.least_cosine,
        }

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


def _write_refusal(folder: Path, reason: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"refused.json.{os.getpid()}.part"
    partial.write_text(json.dumps({"reason": reason}))
    partial.replace(folder / "refused.json")


def _remove_abandoned(folder: Path, older_than: float = 3600) -> None:
    """Scratch folders of exports that were killed (an interrupted export removes its own):
    a concurrent export's is younger than an hour."""
    for partial in folder.parent.glob(f"{folder.name}.*.part"):
        try:
            if time.time() - partial.stat().st_mtime > older_than:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            continue
