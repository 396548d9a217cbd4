"""CLIP zero-shot scenes and image embeddings (open_clip).

The zero-shot rule, in the functions at the top: every label is written into every prompt
template, the normalised text embeddings are averaged per label and normalised again; an
image's label probabilities are softmax(logit_scale * image @ labels.T) over the labels."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from photoanalyzer.ml.backends import Backend
from photoanalyzer.ml.weights import Weights

RANDOM_SEED = 0  # random weights are built from a fixed seed so cached text embeddings match


def label_embeddings(
    encode_text: Callable[[Sequence[str]], torch.Tensor],
    labels: Sequence[str],
    templates: Sequence[str],
) -> torch.Tensor:
    """(labels, dim) unit vectors: per label, the mean of its normalised template embeddings."""
    rows = []
    for label in labels:
        prompts = [template.format(label) for template in templates]
        embedded = torch.nn.functional.normalize(encode_text(prompts).float(), dim=-1)
        rows.append(torch.nn.functional.normalize(embedded.mean(dim=0), dim=-1))
    return torch.stack(rows)


def scene_probabilities(
    image_features: torch.Tensor, label_features: torch.Tensor, logit_scale: float
) -> torch.Tensor:
    """(images, labels) probabilities; each row sums to 1 over the labels."""
    images = torch.nn.functional.normalize(image_features.float(), dim=-1)
    logits = logit_scale * images @ label_features.float().T
    return logits.softmax(dim=-1)


def top_scenes(
    probabilities: torch.Tensor, labels: Sequence[str], k: int
) -> list[list[tuple[str, float]]]:
    values, indices = probabilities.topk(k, dim=-1)
    return [
        [(labels[int(i)], round(float(v), 4)) for v, i in zip(row_v, row_i, strict=True)]
        for row_v, row_i in zip(values, indices, strict=True)
    ]


class ClipScenes:
    """An open_clip model on a backend: preprocess (thread-safe, for the loader threads),
    image embeddings, and scene probabilities against cached label embeddings."""

    def __init__(
        self,
        weights: Weights,
        backend: Backend,
        labels: Sequence[str],
        templates: Sequence[str],
        text_cache: Path,
    ):
        import open_clip

        self.labels = list(labels)
        self.backend = backend
        with _quiet_logging():
            if weights.random:
                torch.manual_seed(RANDOM_SEED)
                model, _, self.preprocess = open_clip.create_model_and_transforms(
                    weights.model, pretrained=None
                )
            else:
                model, _, self.preprocess = open_clip.create_model_and_transforms(
                    weights.model, pretrained=str(weights.path)
                )
        model.eval()
        self.logit_scale = float(model.logit_scale.detach().exp())
        self.label_features = self._cached_label_embeddings(
            model, open_clip.get_tokenizer(weights.model), weights, templates, text_cache
        ).to(backend.device)
        self.visual = self._prepare_visual(model.visual)
        del model  # the text tower is not needed any more

    def _cached_label_embeddings(
        self, model, tokenizer, weights: Weights, templates: Sequence[str], cache_dir: Path
    ) -> torch.Tensor:
        identity = {
            "model": weights.model,
            "weights": f"random-seed-{RANDOM_SEED}" if weights.random else str(weights.path),
            "labels": self.labels,
            "templates": list(templates),
        }
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
        path = cache_dir / f"{key}.pt"
        if path.is_file():
            return torch.load(path, map_location="cpu")
        with torch.inference_mode():
            features = label_embeddings(
                lambda texts: model.encode_text(tokenizer(texts)), self.labels, templates
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(features, path)
        return features

    def _prepare_visual(self, visual: torch.nn.Module) -> torch.nn.Module:
        backend = self.backend
        visual = visual.to(backend.device)
        if backend.dtype == "bfloat16":
            visual = visual.to(torch.bfloat16)
        if backend.tensorrt:
            visual = _compile_tensorrt(visual)
        return visual.eval() if isinstance(visual, torch.nn.Module) else visual

    def input_dtype(self) -> torch.dtype:
        if self.backend.tensorrt:
            return torch.float16
        return torch.bfloat16 if self.backend.dtype == "bfloat16" else torch.float32

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, dim) unit-length float32 image embeddings from preprocessed pixels."""
        pixels = pixels.to(self.backend.device, self.input_dtype(), non_blocking=True)
        with torch.inference_mode(), _autocast(self.backend):
            features = self.visual(pixels)
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def scenes(self, embeddings: torch.Tensor, k: int) -> list[list[tuple[str, float]]]:
        probabilities = scene_probabilities(embeddings, self.label_features, self.logit_scale)
        return top_scenes(probabilities.cpu(), self.labels, k)


def _compile_tensorrt(visual: torch.nn.Module):
    """FP16 TensorRT engine for the image tower. Called only when the selector found
    torch_tensorrt importable; a failure here propagates and the phase reports it."""
    import torch_tensorrt

    example = torch.randn(1, 3, 224, 224, device="cuda", dtype=torch.float16)
    return torch_tensorrt.compile(
        visual.half(),
        ir="dynamo",
        inputs=[
            torch_tensorrt.Input(
                min_shape=(1, 3, 224, 224),
                opt_shape=(16, 3, 224, 224),
                max_shape=(64, 3, 224, 224),
                dtype=torch.float16,
            )
        ],
        enabled_precisions={torch.float16},
        example_inputs=[example],
    )


@contextmanager
def _autocast(backend: Backend):
    if backend.amp:
        with torch.autocast("cuda", dtype=torch.float16):
            yield
    else:
        yield


@contextmanager
def _quiet_logging():
    # open_clip logs "Model initialized randomly" and download chatter on the root logger; the
    # phase reports weights itself, plainly, in the run summary.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
