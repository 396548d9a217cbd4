"""YOLO object detection (ultralytics) as three steps, the way ultralytics' own predictor
splits them: `preprocess` letterboxes one picture (in a loader thread), `forward` runs a
stacked batch on the backend, `postprocess` applies non-maximum suppression and maps the
boxes back to the upright original's pixel coordinates."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from photoanalyzer.ml.backends import Backend
from photoanalyzer.ml.tensorrt import EngineRecipe
from photoanalyzer.ml.weights import Weights

RANDOM_SEED = 0
PAD_VALUE = 114  # ultralytics' letterbox grey
IOU = 0.7  # ultralytics' default NMS IoU for prediction
MAX_DETECTIONS = 300


@dataclass(frozen=True)
class Detection:
    label: str
    confidence: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the upright original's pixels

    def as_dict(self) -> dict:
        return {
            "class": self.label,
            "confidence": round(self.confidence, 4),
            "box": [round(v, 1) for v in self.box],
        }


@dataclass(frozen=True)
class Letterboxed:
    """A picture scaled to fit the model's input, padded to a multiple of the stride."""

    pixels: torch.Tensor  # uint8, (3, H, W), RGB
    scale: float  # input pixels per picture pixel
    left: int  # padding before the picture, in input pixels
    top: int
    picture_size: tuple[int, int]  # the picture's (width, height) before letterboxing


class YoloDetector:
    def __init__(
        self,
        weights: Weights,
        backend: Backend,
        confidence: float,
        image_size: int,
        cache_dir: Path,
    ):
        self.confidence, self.image_size, self.backend = confidence, image_size, backend
        model = load_fused_model(weights, cache_dir)
        self.names = dict(model.names)
        self.stride = int(max(model.stride))
        self.end2end = bool(getattr(model, "end2end", False))
        recipe = EngineRecipe(
            f"yolo-{weights.model}",
            weights.identity,
            (3, image_size, image_size),
            suffix=".engine",
            build=self._export_engine,
            load=self._load_engine,
            convolutional=True,
        )
        self._model = backend.prepare(model, recipe)

    # -- the three steps --------------------------------------------------------------------

    def preprocess(self, picture: Image.Image) -> Letterboxed:
        """Letterbox as ultralytics does: scale the longer side to the input size (bilinear),
        then pad each side to a multiple of the stride with grey, the picture centred."""
        import cv2

        width, height = picture.size
        scale = self.image_size / max(width, height)
        inner = (max(1, round(width * scale)), max(1, round(height * scale)))
        array = np.asarray(picture)
        if inner != (width, height):
            array = cv2.resize(array, inner, interpolation=cv2.INTER_LINEAR)
        pad_w, pad_h = (-inner[0]) % self.stride, (-inner[1]) % self.stride
        left, top = round(pad_w / 2 - 0.1), round(pad_h / 2 - 0.1)
        array = cv2.copyMakeBorder(
            array,
            top,
            pad_h - top,
            left,
            pad_w - left,
            cv2.BORDER_CONSTANT,
            value=(PAD_VALUE,) * 3,
        )
        pixels = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        return Letterboxed(pixels, scale, left, top, (width, height))

    def forward(self, items: list[Letterboxed]):
        """Raw predictions for a batch. Pictures of different shapes (landscape and portrait)
        are padded at the bottom and right to the largest, which moves no box."""
        height = max(item.pixels.shape[1] for item in items)
        width = max(item.pixels.shape[2] for item in items)
        batch = torch.full((len(items), 3, height, width), PAD_VALUE, dtype=torch.uint8)
        for row, item in zip(batch, items, strict=True):
            row[:, : item.pixels.shape[1], : item.pixels.shape[2]] = item.pixels
        with self.backend.running():
            return self._model(self.backend.to_input(batch, scale=lambda x: x.div_(255)))

    def postprocess(
        self, predictions, items: list[Letterboxed], originals: list[tuple[int, int]]
    ) -> list[list[Detection]]:
        """Detections per picture; `originals` are the upright originals' (width, height)."""
        from ultralytics.utils import nms

        kept = nms.non_max_suppression(
            _first(predictions).float(),
            self.confidence,
            IOU,
            max_det=MAX_DETECTIONS,
            end2end=self.end2end,
        )
        return [
            self._detections(found.cpu(), item, original)
            for found, item, original in zip(kept, items, originals, strict=True)
        ]

    def _detections(self, found, item: Letterboxed, original: tuple[int, int]) -> list[Detection]:
        # input pixels -> picture pixels -> original pixels
        sx = original[0] / item.picture_size[0] / item.scale
        sy = original[1] / item.picture_size[1] / item.scale
        detections = []
        for x1, y1, x2, y2, confidence, label in found.tolist():
            box = (
                _clip((x1 - item.left) * sx, original[0]),
                _clip((y1 - item.top) * sy, original[1]),
                _clip((x2 - item.left) * sx, original[0]),
                _clip((y2 - item.top) * sy, original[1]),
            )
            detections.append(Detection(str(self.names[int(label)]), float(confidence), box))
        return detections

    # -- TensorRT (used only when the backend is tensorrt) -----------------------------------

    def _export_engine(self, module, path: Path, max_batch: int) -> None:
        """ultralytics' own TensorRT export (through ONNX), FP16, dynamic batch up to
        `max_batch`. It writes beside the model's file, so the model is given one in a
        scratch folder."""
        from ultralytics.engine.exporter import Exporter

        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
            module.pt_path = str(Path(scratch) / "model.pt")
            exporter = Exporter(
                overrides={
                    "format": "engine",
                    "half": True,
                    "imgsz": self.image_size,
                    "dynamic": True,
                    "batch": max_batch,
                    "device": "0",
                    "verbose": False,
                }
            )
            with keep_torch_threads():
                exported = exporter(model=module)
            os.replace(exported, path)

    def _load_engine(self, path: Path):
        from ultralytics.nn.autobackend import AutoBackend

        with keep_torch_threads():
            return AutoBackend(str(path), device=torch.device("cuda"), fp16=True, verbose=False)


def load_fused_model(weights: Weights, cache_dir: Path):
    """The detection model (an nn.Module), its batch norms fused into the convolutions, in
    float32 on the CPU. Loading a checkpoint through ultralytics and fusing it costs most of a
    second, and building random weights several (a forward pass on the CPU), so the fused
    model is kept in the model cache per weights and library versions and loaded from there."""
    import ultralytics

    key = f"{weights.identity}|{ultralytics.__version__}|{torch.__version__}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache_dir / "fused" / f"{weights.model}-{digest}.pt"
    if path.is_file():
        import_ultralytics()  # the pickle refers to ultralytics' classes
        return torch.load(path, map_location="cpu", weights_only=False)
    with keep_torch_threads():
        model = _build_model(weights).fuse(verbose=False).float().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    torch.save(model, partial)
    os.replace(partial, path)
    return model


def _build_model(weights: Weights):
    YOLO = import_ultralytics()
    if not weights.random:
        return YOLO(str(weights.path), task="detect").model
    torch.manual_seed(RANDOM_SEED)
    model = YOLO(f"{weights.model}.yaml", task="detect").model
    model.names = coco_names()
    return model


def _first(predictions):
    return predictions[0] if isinstance(predictions, (list, tuple)) else predictions


def _clip(value: float, limit: int) -> float:
    return min(max(value, 0.0), float(limit))


@contextlib.contextmanager
def keep_torch_threads() -> Iterator[None]:
    """ultralytics sets torch to cpu_count - 1 threads when it picks a device, which on a
    2-core machine halves the speed of both models: whatever it does, the count is put back."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def import_ultralytics():
    """ultralytics' YOLO class, with PIL.Image.open given back to Pillow. Importing
    ultralytics replaces Image.open process-wide with a wrapper that, on the first file Pillow
    cannot identify, tries to pip-install pi-heif; here pillow-heif is registered already and
    an unidentifiable file must stay a plain per-file error. Call weights.prepare_environment
    first: it keeps ultralytics' settings in our model cache and its auto-install off."""
    import ultralytics.utils.patches as patches
    from ultralytics import YOLO

    if Image.open is getattr(patches, "image_open", None):
        original = getattr(patches, "_image_open", None)  # where ultralytics keeps Pillow's
        if original is None:
            raise RuntimeError("cannot undo ultralytics' PIL.Image.open patch in this version")
        Image.open = original
    return YOLO


def coco_names() -> dict[int, str]:
    """The 80 COCO class names that the official weights use, so random-weight results look
    like real ones in shape (they are marked random everywhere)."""
    import ultralytics
    import yaml

    path = Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml"
    return dict(yaml.safe_load(path.read_text())["names"])
