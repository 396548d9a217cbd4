"""CLIP (open_clip): image embeddings, text embeddings and zero-shot scenes, each tower built
only when it is needed.

The image tower is built on its own: the model's skeleton is made on torch's `meta` device
(no memory, no random initialisation) and only the image tower is materialised and given its
weights. The text tower is built only when a text is not in the text-embedding cache (a new
label, template or search query); cached texts need no model at all.

The zero-shot rule, in the functions at the top: every label is written into every prompt
template, the normalised text embeddings are averaged per label and normalised again; an
image's label probabilities are softmax(logit_scale * image @ labels.T) over the labels."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from photoanalyzer.ml.backends import Backend
from photoanalyzer.ml.tensorrt import EngineRecipe
from photoanalyzer.ml.text_cache import TextEmbeddingCache, model_identity
from photoanalyzer.ml.weights import Weights

RANDOM_SEED = 0  # random weights come from a fixed seed, so cached embeddings stay valid
# open_clip's initial logit scale, ln(1/0.07): what a randomly initialised model has.
RANDOM_LOGIT_SCALE = math.log(1 / 0.07)
TEXT_BATCH = 64


def label_embeddings(
    encode_text: Callable[[Sequence[str]], torch.Tensor],
    labels: Sequence[str],
    templates: Sequence[str],
) -> torch.Tensor:
    """(labels, dim) unit vectors: per label, the mean of its normalised template embeddings."""
    prompts = [template.format(label) for label in labels for template in templates]
    embedded = torch.nn.functional.normalize(encode_text(prompts).float(), dim=-1)
    per_label = embedded.reshape(len(labels), len(templates), -1).mean(dim=1)
    return torch.nn.functional.normalize(per_label, dim=-1)


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


class ClipModel:
    """One open_clip model on a backend. `preprocess` (PIL -> tensor) is thread-safe and runs
    in the loader threads; `encode_images` and `encode_text` return unit float32 vectors.
    With image_tower=False (text search queries) only `encode_text` works, and nothing of the
    image tower is built."""

    def __init__(self, weights: Weights, backend: Backend, cache_dir: Path, image_tower=True):
        self.weights, self.backend, self.cache_dir = weights, backend, cache_dir
        self.text_cache = TextEmbeddingCache(cache_dir / "text", self.identity)
        if image_tower:
            self._build_image_tower()

    def _build_image_tower(self) -> None:
        import open_clip
        from open_clip.transform import PreprocessCfg, image_transform_v2

        weights, backend = self.weights, self.backend
        with _quiet_logging(), torch.device("meta"):
            # The skeleton: both towers' structure, no memory and no initialisation.
            skeleton = open_clip.create_model(
                weights.model, pretrained=None, device="meta", **_tag_options(weights)
            )
        config = PreprocessCfg(**skeleton.visual.preprocess_cfg)
        self._picture_steps = _picture_steps(image_transform_v2(config, is_train=False))
        self._mean = torch.tensor(config.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(config.std).view(1, 3, 1, 1)
        self.image_size = _pair(config.size)
        visual_state, self.logit_scale = self._visual_weights()
        visual = skeleton.visual
        # assign: the meta tensors are replaced by the loaded ones, no copy is made.
        visual.load_state_dict(visual_state, strict=True, assign=True)
        self._visual = backend.prepare(
            visual,
            EngineRecipe(f"clip-{weights.model}-visual", weights.identity, (3, *self.image_size)),
        )

    @property
    def identity(self) -> str:
        return model_identity(self.weights)

    # -- images -----------------------------------------------------------------------------

    def preprocess(self, picture) -> torch.Tensor:
        """open_clip's resize and crop of one PIL picture, as uint8 (3, H, W). Runs in the
        loader threads, so it does no torch arithmetic: torch's parallel regions started from
        several threads at once would compete with the models for the cores."""
        pixels = np.array(self._picture_steps(picture), dtype=np.uint8)
        return torch.from_numpy(pixels).permute(2, 0, 1)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, dim) unit float32 embeddings from a stack of `preprocess` outputs: scaled and
        normalised as open_clip's ToTensor and Normalize would, on the device."""
        mean, std = self._mean.to(self.backend.device), self._std.to(self.backend.device)
        with self.backend.running():
            inputs = self.backend.to_input(pixels, scale=lambda x: (x / 255 - mean) / std)
            features = self._visual(inputs)
        return torch.nn.functional.normalize(features.float(), dim=-1)

    # -- texts ------------------------------------------------------------------------------

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, dim) unit float32 embeddings; cached texts are not encoded again, and the text
        tower is built only if some text is not cached."""
        found = {text: torch.from_numpy(v) for text, v in self.text_cache.get(texts).items()}
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            found.update(self._encode_uncached(missing))
        return torch.stack([found[text] for text in texts])

    def label_embeddings(self, labels: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
        return label_embeddings(self.encode_text, labels, templates)

    def _encode_uncached(self, texts: list[str]) -> dict[str, torch.Tensor]:
        import open_clip

        model = self.text_model()
        if getattr(self, "_tokenizer", None) is None:  # reading its vocabulary takes a while
            self._tokenizer = open_clip.get_tokenizer(self.weights.model)
        tokenizer = self._tokenizer
        encoded: dict[str, torch.Tensor] = {}
        with torch.inference_mode():
            for start in range(0, len(texts), TEXT_BATCH):
                chunk = texts[start : start + TEXT_BATCH]
                vectors = model.encode_text(tokenizer(chunk)).float()
                vectors = torch.nn.functional.normalize(vectors, dim=-1)
                encoded.update(zip(chunk, vectors, strict=True))
        self.text_cache.put({text: vector.numpy() for text, vector in encoded.items()})
        return encoded

    def text_model(self):
        """The whole model with its weights, for its text tower (float32 on the CPU: a few
        hundred prompts take seconds, once, and the result is cached)."""
        if getattr(self, "_full_model", None) is None:
            self._full_model = _build_full_model(self.weights)
        return self._full_model

    # -- weights ----------------------------------------------------------------------------

    def _visual_weights(self) -> tuple[dict[str, torch.Tensor], float]:
        """The image tower's state dict and exp(logit_scale). Random weights are made once
        from the fixed seed and kept in the model cache, so later runs load them instead of
        initialising 90 million parameters again."""
        if self.weights.random:
            return self._random_visual_weights()
        state = _load_checkpoint(self.weights.path)
        visual = {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
        scale = float(state["logit_scale"].exp()) if "logit_scale" in state else _exp_random()
        return visual, scale

    def _random_visual_weights(self) -> tuple[dict[str, torch.Tensor], float]:
        path = self.cache_dir / "random" / f"{self.weights.model}-seed{RANDOM_SEED}-visual.pt"
        if path.is_file():
            return torch.load(path, map_location="cpu", mmap=True, weights_only=True), (
                _exp_random()
            )
        model = _build_full_model(self.weights)
        self._full_model = model  # the text tower may be needed next: keep it
        state = model.visual.state_dict()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        torch.save(state, partial)
        os.replace(partial, path)
        return state, float(model.logit_scale.detach().exp())


def _load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's state dict, memory-mapped where the format allows (only the image
    tower's pages are then read), with the layouts open_clip accepts."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError:  # an old, non-zip checkpoint: mmap needs the zip format
            state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items()}


def _build_full_model(weights: Weights):
    """The complete open_clip model with its weights (or the seeded random ones)."""
    import open_clip

    with _quiet_logging():
        if weights.random:
            torch.manual_seed(RANDOM_SEED)
            model = open_clip.create_model(weights.model, pretrained=None)
        else:
            model = open_clip.create_model(
                weights.model, pretrained=str(weights.path), **_tag_options(weights)
            )
    return model.eval()


def _tag_options(weights: Weights) -> dict:
    """What open_clip would take from a pretrained tag's card (its image normalisation and
    activation) when it is given the cached file of that tag instead of the tag itself."""
    import open_clip

    card = open_clip.get_pretrained_cfg(weights.model, weights.source) if weights.tag else {}
    options: dict = {}
    preprocess = {k: card[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in card}
    if preprocess:
        options["force_preprocess_cfg"] = preprocess
    if card.get("quick_gelu"):
        options["force_quick_gelu"] = True
    return options


def _exp_random() -> float:
    return math.exp(RANDOM_LOGIT_SCALE)


def _picture_steps(transform):
    """The steps of open_clip's evaluation transform that work on the PIL picture (resize,
    crop, RGB), without the ToTensor and Normalize at its end, which encode_images does."""
    from torchvision.transforms import Compose, Normalize, ToTensor

    steps = list(getattr(transform, "transforms", []))
    if len(steps) < 2 or not (isinstance(steps[-2], ToTensor) and isinstance(steps[-1], Normalize)):
        raise RuntimeError(f"unexpected open_clip image transform {transform}: cannot split it")
    return Compose(steps[:-2])


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)[-2:]


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
