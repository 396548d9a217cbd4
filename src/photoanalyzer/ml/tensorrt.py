"""TensorRT engines, built once and cached per (GPU, weights, precision, batch profile, input).

A model describes its engine with an `EngineRecipe`; the backend calls `engine_for` only when
it runs on TensorRT. The default way to build is torch_tensorrt's dynamo compile, saved as an
exported program; a model may bring its own (YOLO uses ultralytics' engine export). The
profile runs from batch 1 to the backend's `max_batch` (the configured batch size), so no
batch the phase makes is larger than the engine accepts.

This code needs an NVIDIA GPU and torch-tensorrt (`pip install 'photoanalyzer[tensorrt]'`);
the development machines have neither, so tests replace torch_tensorrt and say so."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from photoanalyzer.ml.backends import Backend

# Bump when the way engines are built changes, so old cached engines are not reused.
ENGINE_FORMAT = "1"


@dataclass(frozen=True)
class EngineRecipe:
    name: str  # the model: "clip-ViT-B-32-visual", "yolo11n"
    weights_id: str  # identifies the weights (see Weights.identity)
    input_shape: tuple[int, ...]  # one item's shape: (3, 224, 224)
    suffix: str = ".ep"
    # Custom build and load: build(module, path, max_batch) writes the engine file at path;
    # load(path) gives the callable. None: torch_tensorrt compile, save and load.
    build: Callable[[Any, Path, int], None] | None = None
    load: Callable[[Path], Any] | None = None
    # A convolutional network: backends that keep channels-last memory use it for this model.
    convolutional: bool = False


def engine_path(recipe: EngineRecipe, backend: Backend) -> Path:
    """Where the engine for `recipe` on `backend` lives: one file per GPU model, weights,
    precision, batch profile and input shape."""
    if backend.engine_dir is None:
        raise RuntimeError("the TensorRT backend needs an engine folder")
    key = "|".join(
        [
            ENGINE_FORMAT,
            backend.device_name,
            recipe.weights_id,
            backend.dtype,
            f"batch 1-{backend.max_batch}",
            "x".join(map(str, recipe.input_shape)),
            backend.torch_version,
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    gpu = "".join(c if c.isalnum() else "-" for c in backend.device_name)
    return backend.engine_dir / gpu / f"{recipe.name}-b{backend.max_batch}-{digest}{recipe.suffix}"


def engine_for(module, recipe: EngineRecipe, backend: Backend):
    """The engine for `module`: loaded from the cache, else built, stored and loaded."""
    path = engine_path(recipe, backend)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.part")
        try:
            build = recipe.build or _compile_with_torch_tensorrt(recipe.input_shape)
            build(module, partial, backend.max_batch)
            os.replace(partial, path)  # a crash mid-build never leaves half an engine
        finally:
            partial.unlink(missing_ok=True)
    return (recipe.load or _load)(path)


def _compile_with_torch_tensorrt(input_shape: tuple[int, ...]):
    def build(module, path: Path, max_batch: int) -> None:
        compile_torch_module(module, path, max_batch, input_shape)

    return build


def compile_torch_module(module, path: Path, max_batch: int, input_shape: tuple[int, ...]) -> None:
    """FP16 TensorRT compile of a torch module with a dynamic batch of 1..max_batch, saved as
    an exported program."""
    import torch
    import torch_tensorrt

    device = next(module.parameters()).device  # the GPU the backend put the module on
    example = torch.randn(min(max_batch, 2), *input_shape, device=device, dtype=torch.float16)
    compiled = torch_tensorrt.compile(
        module.half(),
        ir="dynamo",
        inputs=[
            torch_tensorrt.Input(
                min_shape=(1, *input_shape),
                opt_shape=(max_batch, *input_shape),
                max_shape=(max_batch, *input_shape),
                dtype=torch.float16,
            )
        ],
        enabled_precisions={torch.float16},
    )
    torch_tensorrt.save(compiled, str(path), output_format="exported_program", inputs=[example])


def _load(path: Path):
    import torch_tensorrt

    return torch_tensorrt.load(str(path)).module()
