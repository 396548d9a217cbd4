"""ML phase: CLIP zero-shot scenes with an image embedding, and YOLO objects, in batches on
the fastest backend. Reads the content phase's thumbnail when there is one, else decodes the
original once at reduced size. Background threads load the next batches while the models run.

Results made with random weights carry `ml_random_weights: true`, and the run summary says
so; random weights are used only when the configuration asks for them."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photoanalyzer.config import ContentConfig, MlConfig
from photoanalyzer.phases.base import Outcome, PhaseUnavailable, describe_exception

CODE_VERSION = "ml-1"


@dataclass(frozen=True)
class LoadedImage:
    image: Any  # PIL RGB, upright, at most the thumbnail size
    original: tuple[int, int]  # the upright original's width and height
    clip_pixels: Any  # the CLIP-preprocessed tensor


@dataclass(frozen=True)
class LoadedVideo:
    frames: list[LoadedImage]  # the frames the content phase analyzed, in order
    times: list[float]  # their times in seconds


@dataclass(frozen=True)
class MlPhase:
    settings: MlConfig
    content: ContentConfig
    thumbnail_dir: str
    models_dir: str
    name: str = "ml"
    kinds: frozenset[str] = frozenset({"photo", "video"})
    workers: int = 1  # batches run in this process; loader threads feed them
    min_files_for_workers: int = 2**62
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def version(self) -> str:
        clip, yolo = self.settings.clip, self.settings.yolo
        identity = [
            clip.model,
            clip.pretrained,
            clip.top_k,
            clip.labels,
            clip.templates,
            yolo.model,
            yolo.weights,
            yolo.confidence,
            yolo.image_size,
        ]
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:10]
        return f"{CODE_VERSION}-{digest}"

    @property
    def random_weights(self) -> bool:
        return "random" in (self.settings.clip.pretrained, self.settings.yolo.weights)

    def analyze(self, path: str) -> Outcome:
        return next(self.analyze_stream([path]))

    def analyze_stream(self, paths: list[str]) -> Iterator[Outcome]:
        if not paths:
            return
        started = time.perf_counter()
        engine = self._start()
        from photoanalyzer.ml.batching import OomBackoff, batches, prefetch_map
        from photoanalyzer.ml.gpu import GpuSampler

        sampler = GpuSampler().start()
        backoff = OomBackoff(self.settings.batch_size, release=engine.release_memory)
        size = self.settings.batch_size
        loaded = prefetch_map(engine.load, paths, self.settings.loader_threads, ahead=3 * size)
        clock = _Throughput(startup_seconds=time.perf_counter() - started)
        try:
            # A batch holds about `size` pictures: a video counts as its frames.
            for batch in batches(loaded, size, weight=lambda item: len(_images(item))):
                images = [image for item in batch for image in _images(item)]
                records = iter(backoff.run(engine.infer, images) if images else [])
                clock.batch_done(len(images))
                for item in batch:
                    if isinstance(item, str):
                        yield Outcome(None, item)
                    elif isinstance(item, LoadedImage):
                        yield Outcome(next(records))
                    else:
                        frames = [next(records) for _ in item.frames]
                        yield Outcome(video_summary(item.times, frames, self.settings.clip.top_k))
        finally:
            self.details.update(
                batch_size_used=backoff.batch_size,
                oom_halvings=backoff.halvings,
                gpu=sampler.stop(),
                gpu_note=sampler.note,
                **clock.summary(),
                **engine.timings(),
            )

    def _start(self) -> _Engine:
        """Resolve weights, choose the backend, build the models: PhaseUnavailable with the
        reason if any of it cannot be done."""
        from photoanalyzer.ml.weights import is_online, prepare_environment

        models_dir = Path(self.models_dir)
        offline = self.settings.offline or not is_online()
        prepare_environment(models_dir, offline)
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise PhaseUnavailable(
                "the ML phase needs torch, open_clip_torch and ultralytics: install them with "
                "pip install 'photoanalyzer[ml]'"
            ) from exc
        from photoanalyzer.ml.backends import BackendUnavailable, select_backend
        from photoanalyzer.ml.weights import WeightsUnavailable, resolve_clip, resolve_yolo

        clip, yolo = self.settings.clip, self.settings.yolo
        try:
            clip_weights = resolve_clip(clip.model, clip.pretrained, models_dir, offline)
            yolo_weights = resolve_yolo(yolo.model, yolo.weights, models_dir, offline)
            backend = select_backend(self.settings.backend)
        except (WeightsUnavailable, BackendUnavailable) as exc:
            raise PhaseUnavailable(str(exc)) from exc
        engine = _build_engine(self, clip_weights, yolo_weights, backend, models_dir)
        self.details.update(
            backend=engine.backend.as_dict(),
            weights={"clip": clip_weights.describe(), "yolo": yolo_weights.describe()},
            random_weights=self.random_weights,
            batch_size=self.settings.batch_size,
        )
        return engine


def _images(item) -> list[LoadedImage]:
    if isinstance(item, LoadedImage):
        return [item]
    return item.frames if isinstance(item, LoadedVideo) else []


def video_summary(times: list[float], frames: list[dict[str, Any]], top_k: int) -> dict[str, Any]:
    """A video's ML fields from its frames': scenes by votes of the frames' top scenes, every
    object class with its most confident detection (and when), the largest count of each class
    in one frame, and the mean embedding. The frames are kept as they are."""
    import numpy as np

    votes = Counter(frame["top_scene"] for frame in frames).most_common(top_k)
    best: dict[str, dict] = {}
    counts: Counter = Counter()
    for when, frame in zip(times, frames, strict=True):
        for found in frame["objects"]:
            if found["confidence"] > best.get(found["class"], {}).get("confidence", -1):
                best[found["class"]] = {**found, "timestamp": when}
        for label, count in frame["object_counts"].items():
            counts[label] = max(counts[label], count)
    vectors = np.stack(
        [np.frombuffer(f["embedding"], dtype=np.float16).astype(np.float32) for f in frames]
    )
    mean = vectors.mean(axis=0)
    mean /= np.linalg.norm(mean) or 1.0
    return {
        "top_scene": votes[0][0],
        "scenes": [(label, round(n / len(frames), 4)) for label, n in votes],
        "objects": sorted(best.values(), key=lambda d: -d["confidence"]),
        "object_counts": dict(counts.most_common()),
        "ml_random_weights": frames[0]["ml_random_weights"],
        "embedding": mean.astype(np.float16).tobytes(),
        "frames": [
            {
                "frame": i,
                "timestamp": when,
                "top_scene": f["top_scene"],
                "scenes": f["scenes"],
                "objects": f["objects"],
                "embedding": f["embedding"],
            }
            for i, (when, f) in enumerate(zip(times, frames, strict=True))
        ],
    }


class _Throughput:
    """Start-up (weights, backend, model build) apart from inference. Two rates: over every
    batch (`images_per_second`), and from the second batch on (`steady_images_per_second`),
    since the first also pays one-off kernel selection; a run of one batch has only the first."""

    def __init__(self, startup_seconds: float):
        self.startup_seconds = startup_seconds
        self.ready = self.last_done = time.perf_counter()
        self.first_done: float | None = None
        self.first_images = self.images = 0

    def batch_done(self, images: int) -> None:
        self.last_done = time.perf_counter()
        self.images += images
        if self.first_done is None:
            self.first_done, self.first_images = self.last_done, images

    def summary(self) -> dict[str, float]:
        result = {"startup_seconds": round(self.startup_seconds, 2)}
        if self.images and self.last_done > self.ready:
            result["images_per_second"] = round(self.images / (self.last_done - self.ready), 2)
        steady = self.images - self.first_images
        if self.first_done is not None and steady > 0 and self.last_done > self.first_done:
            result["steady_images_per_second"] = round(
                steady / (self.last_done - self.first_done), 2
            )
        return result


def _build_engine(phase: MlPhase, clip_weights, yolo_weights, backend, models_dir: Path) -> _Engine:
    """Build both models on `backend`. If TensorRT compilation fails, record why and build on
    the next backend in the auto order instead."""
    from dataclasses import replace

    from photoanalyzer.ml.backends import select_backend

    try:
        return _Engine(phase, clip_weights, yolo_weights, backend, models_dir)
    except Exception as exc:
        if not backend.tensorrt:
            raise PhaseUnavailable(
                f"building the models failed: {describe_exception(exc)}"
            ) from exc
        fallback = select_backend("cuda-amp-fp16")
        skipped = {**backend.skipped, "tensorrt": f"compiling failed: {describe_exception(exc)}"}
        return _Engine(
            phase, clip_weights, yolo_weights, replace(fallback, skipped=skipped), models_dir
        )


class _Engine:
    """The two models on one backend, with the per-image load and the per-batch inference."""

    def __init__(self, phase: MlPhase, clip_weights, yolo_weights, backend, models_dir: Path):
        from photoanalyzer.ml.clip_scenes import ClipScenes
        from photoanalyzer.ml.yolo_objects import YoloObjects

        settings = phase.settings
        self.phase, self.backend = phase, backend
        self.clip = ClipScenes(
            clip_weights,
            backend,
            settings.clip.labels,
            settings.clip.templates,
            models_dir / "text",
        )
        self.yolo = YoloObjects(
            yolo_weights,
            backend,
            settings.yolo.confidence,
            settings.yolo.image_size,
            models_dir / "engines",
        )
        self.random_weights = clip_weights.random or yolo_weights.random
        self.clip_seconds = self.yolo_seconds = 0.0

    def load(self, path: str) -> LoadedImage | LoadedVideo | str:
        """The picture(s) to analyze, or an error text: a photo's thumbnail (if the content
        phase made one, else a reduced decode), or the frames of a video."""
        from PIL import Image

        from photoanalyzer.filetypes import is_video_path
        from photoanalyzer.imaging import load_upright_rgb, upright_of, upright_size
        from photoanalyzer.phases.content import thumbnail_key

        if is_video_path(path):
            return self._load_video(path)
        try:
            st = os.stat(path)
            thumbnail = Path(self.phase.thumbnail_dir) / thumbnail_key(
                path, st.st_size, st.st_mtime_ns
            )
            if thumbnail.is_file():
                with Image.open(thumbnail) as opened:
                    image = opened.convert("RGB")
                original = upright_size(path)
            else:
                content = self.phase.content
                decoded = load_upright_rgb(path, content.thumbnail_size, content.max_pixels)
                image, original = decoded.image, upright_of(decoded)
            return LoadedImage(image, original, self.clip.preprocess(image))
        except Exception as exc:
            return describe_exception(exc)

    def _load_video(self, path: str) -> LoadedVideo | str:
        from PIL import Image

        from photoanalyzer.phases.content import frame_thumbnail_key
        from photoanalyzer.video import extract_frames, frame_plan

        content = self.phase.content
        try:
            st = os.stat(path)
            times, shown = frame_plan(path, content.video_frame_interval, content.video_max_frames)
            folder = Path(self.phase.thumbnail_dir)
            keys = [
                frame_thumbnail_key(path, i, st.st_size, st.st_mtime_ns) for i in range(len(times))
            ]
            if all((folder / key).is_file() for key in keys):
                pictures = []
                for key in keys:
                    with Image.open(folder / key) as opened:
                        pictures.append(opened.convert("RGB"))
            else:  # no content phase yet: decode the frames here
                extracted = extract_frames(
                    path,
                    content.video_frame_interval,
                    content.video_max_frames,
                    content.thumbnail_size,
                )
                times, pictures = [t for t, _ in extracted], [p for _, p in extracted]
            frames = [LoadedImage(p, shown, self.clip.preprocess(p)) for p in pictures]
            return LoadedVideo(frames, times)
        except Exception as exc:
            return describe_exception(exc)

    def infer(self, items: list[LoadedImage]) -> list[dict[str, Any]]:
        import numpy as np
        import torch

        started = time.perf_counter()
        embeddings = self.clip.embed(torch.stack([item.clip_pixels for item in items]))
        scenes = self.clip.scenes(embeddings, self.phase.settings.clip.top_k)
        middle = time.perf_counter()
        detections = self.yolo.detect([i.image for i in items], [i.original for i in items])
        self.clip_seconds += middle - started
        self.yolo_seconds += time.perf_counter() - middle
        vectors = embeddings.cpu().numpy().astype(np.float16)
        return [
            {
                "top_scene": scene[0][0],
                "scenes": scene,
                "objects": [d.as_dict() for d in found],
                "object_counts": dict(Counter(d.label for d in found).most_common()),
                "ml_random_weights": self.random_weights,
                "embedding": vector.tobytes(),
            }
            for scene, found, vector in zip(scenes, detections, vectors, strict=True)
        ]

    def timings(self) -> dict[str, float]:
        return {
            "clip_seconds": round(self.clip_seconds, 2),
            "yolo_seconds": round(self.yolo_seconds, 2),
        }

    def release_memory(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
