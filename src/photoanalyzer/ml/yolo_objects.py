"""YOLO object detection (ultralytics) on a backend, with boxes mapped back to the upright
original's pixel coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from photoanalyzer.ml.backends import Backend
from photoanalyzer.ml.weights import Weights

RANDOM_SEED = 0


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


class YoloObjects:
    def __init__(
        self,
        weights: Weights,
        backend: Backend,
        confidence: float,
        image_size: int,
        engine_dir: Path,
    ):
        from ultralytics import YOLO

        self.confidence, self.image_size, self.backend = confidence, image_size, backend
        if weights.random:
            torch.manual_seed(RANDOM_SEED)
            self.model = YOLO(f"{weights.model}.yaml")
            self.model.model.names = _coco_names()
        else:
            self.model = YOLO(str(weights.path))
        if backend.tensorrt:
            self.model = YOLO(str(self._engine(weights, engine_dir)), task="detect")
        self.device = "cuda:0" if backend.device == "cuda" else "cpu"
        # ultralytics' half mode is CUDA-only; on a bfloat16 CPU the convolutions run under
        # CPU autocast instead (about twice as fast as float32 with AVX512-BF16).
        self.half = backend.device == "cuda" and backend.dtype == "float16"
        self.cpu_bf16 = backend.device == "cpu" and backend.dtype == "bfloat16"
        self._warm_up()

    def _warm_up(self) -> None:
        """One tiny prediction, so that ultralytics sets up its predictor now. On the CPU that
        setup calls torch.set_num_threads(cpu_count - 1), which on a 2-core machine halves the
        speed of both models: the thread count is put back afterwards."""
        threads = torch.get_num_threads()
        self.detect([Image.new("RGB", (64, 64))], [(64, 64)])
        torch.set_num_threads(threads)

    def _engine(self, weights: Weights, engine_dir: Path) -> Path:
        """ultralytics' own TensorRT export, cached per GPU and weights file."""
        gpu = "".join(c if c.isalnum() else "-" for c in self.backend.device_name)
        stem = "random" if weights.random else Path(str(weights.path)).stem
        target = engine_dir / gpu / f"{stem}-{self.image_size}.engine"
        if not target.is_file():
            exported = Path(
                self.model.export(
                    format="engine",
                    half=True,
                    imgsz=self.image_size,
                    dynamic=True,
                    batch=32,
                    verbose=False,
                )
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            exported.replace(target)
        return target

    def detect(
        self, images: list[Image.Image], originals: list[tuple[int, int]]
    ) -> list[list[Detection]]:
        """Detections per image; `originals` are the upright originals' (width, height)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cpu_bf16):
            results = self.model.predict(
                images,
                imgsz=self.image_size,
                conf=self.confidence,
                device=self.device,
                half=self.half,
                verbose=False,
            )
        names = self.model.names
        out = []
        for image, original, result in zip(images, originals, results, strict=True):
            sx, sy = original[0] / image.width, original[1] / image.height
            boxes = result.boxes
            xyxy = boxes.xyxy.float().cpu().tolist()
            out.append(
                [
                    Detection(str(names[int(c)]), float(p), (x1 * sx, y1 * sy, x2 * sx, y2 * sy))
                    for (x1, y1, x2, y2), c, p in zip(
                        xyxy, boxes.cls.tolist(), boxes.conf.tolist(), strict=True
                    )
                ]
            )
        return out


def import_yolo():
    """ultralytics' YOLO class, with PIL.Image.open given back to Pillow. Importing
    ultralytics replaces Image.open process-wide with a wrapper that, on the first file Pillow
    cannot identify, tries to install and register pi-heif; here pillow-heif is registered
    already and an unidentifiable file must stay a plain per-file error."""
    from PIL import Image
    from ultralytics import YOLO

    if getattr(Image.open, "__module__", "").startswith("ultralytics"):
        from ultralytics.utils import patches

        original = getattr(patches, "_image_open", None)  # where ultralytics keeps Pillow's
        if original is None:
            raise RuntimeError("cannot undo ultralytics' PIL.Image.open patch in this version")
        Image.open = original
    return YOLO


def _coco_names() -> dict[int, str]:
    """The 80 COCO class names that the official weights use, so random-weight results look
    like real ones in shape (they are marked random everywhere)."""
    import ultralytics
    import yaml

    path = Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml"
    return dict(yaml.safe_load(path.read_text())["names"])
