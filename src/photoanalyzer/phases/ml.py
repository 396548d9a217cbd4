"""ML phase: CLIP zero-shot scenes with an image embedding, and YOLO objects, in batches on
the fastest backend.

    load (loader threads)        the content phase's stored thumbnail (or video frame
                                 thumbnails); a reduced decode of the original only where
                                 there is none
    prepare (loader threads)     both models' preprocessing (ml/predictor.py)
    infer + postprocess          batches on the backend -> one record per picture
    isolate failures             a batch that raises is retried file by file; a backend that
                                 fails its first batch gives way to the next, once

Results made with random weights say which model's were random (`clip_random_weights`,
`yolo_random_weights`; `ml_random_weights` when either was), and the run summary names what
they make meaningless (random_weights.py); random weights are used only when the
configuration asks for them."""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from photoanalyzer.config import ContentConfig, MlConfig
from photoanalyzer.ml.random_weights import random_models
from photoanalyzer.phases.base import (
    Outcome,
    PhaseUnavailable,
    WorkItem,
    describe_exception,
    outcome_for_exception,
    refuse_empty,
)

CODE_VERSION = "ml-2"
# Which weights were random: every picture of a run has the same (one session's models).
RANDOM_FLAGS = ("ml_random_weights", "clip_random_weights", "yolo_random_weights")
# The content settings that change the pictures this phase sees (ml results follow them).
_INPUT_SETTINGS = ("thumbnail_size", "max_pixels", "video_frame_interval", "video_max_frames")


@dataclass
class Loaded:
    """A pending file after the loader threads: its prepared pictures (one for a photo, one
    per analyzed frame for a video), or the outcome that says why it could not be loaded."""

    item: WorkItem
    pictures: list = field(default_factory=list)  # predictor.Prepared
    frames: list[tuple[int, float]] = field(default_factory=list)  # (number, seconds)
    failure: Outcome | None = None


@dataclass(frozen=True)
class MlPhase:
    settings: MlConfig
    content: ContentConfig
    thumbnail_dir: str
    models_dir: str
    name: str = "ml"
    kinds: frozenset[str] = frozenset({"photo", "video"})
    # A pixel phase: scan.raw_pairs decides which half of a RAW+JPEG pair it reads (pipeline).
    reads_pixels: bool = True

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
            {name: getattr(self.content, name) for name in _INPUT_SETTINGS},
        ]
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:10]
        return f"{CODE_VERSION}-{digest}"

    def analyze_stream(self, items: list[WorkItem], details: dict[str, Any]) -> Iterator[Outcome]:
        if not items:
            return
        yield from self.session(details).analyze(items)

    def session(self, details: dict[str, Any]) -> MlSession:
        """The models loaded on this machine's best backend, ready for any number of
        batches: one per local run, one per actor of the Ray engine."""
        return MlSession(self, details)

    def _outcome(self, done: Loaded, results: list) -> Outcome:
        if done.failure is not None:
            return done.failure
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            outcome = outcome_for_exception(failed)
            return replace(outcome, error=f"inference failed: {outcome.error}")
        if done.item.kind == "video":
            return Outcome(video_summary(done.frames, results, self.settings.clip.top_k))
        return Outcome(results[0])

    def _start(self, startup, details: dict[str, Any]) -> _Models:
        """Weights, imports, backend, models: the built models, or PhaseUnavailable saying
        why the phase cannot run. Weights come first: without them the phase fails in a
        moment instead of after seconds of importing torch."""
        from photoanalyzer.ml.backends import BackendUnavailable, select_backend
        from photoanalyzer.ml.weights import (
            WeightsUnavailable,
            prepare_environment,
            resolve_clip,
            resolve_yolo,
        )

        models_dir = Path(self.models_dir)
        prepare_environment(models_dir, self.settings.offline)
        _require_libraries()
        clip, yolo, offline = self.settings.clip, self.settings.yolo, self.settings.offline
        try:
            with startup.timing("weights"):
                clip_weights = resolve_clip(clip.model, clip.pretrained, models_dir, offline)
                yolo_weights = resolve_yolo(yolo.model, yolo.weights, models_dir, offline)
            with startup.timing("imports"):  # torch, open_clip, ultralytics: the first import
                _import_libraries()
            with startup.timing("backend"):
                backend = select_backend(
                    self.settings.backend,
                    engine_dir=models_dir / "engines",
                    max_batch=self.settings.batch_size,
                )
        except (WeightsUnavailable, BackendUnavailable) as exc:
            raise PhaseUnavailable(str(exc)) from exc
        details.update(
            weights={"clip": clip_weights.describe(), "yolo": yolo_weights.describe()},
            random_weights=list(random_models(clip_weights.random, yolo_weights.random)),
            batch_size=self.settings.batch_size,
        )
        models = _Models(self, clip_weights, yolo_weights, startup)
        models.build(backend, details)
        return models


class MlSession:
    """The phase's models, loaded once, and the streams of batches run on them. What the
    session reports (backend, weights, stage times) goes into `details`."""

    def __init__(self, phase: MlPhase, details: dict[str, Any]):
        from photoanalyzer.ml.timing import StageClock

        started = time.perf_counter()
        self.phase, self.details = phase, details
        self.startup = StageClock()
        self.runner = _Runner(phase._start(self.startup, details), details)
        self.startup_seconds = time.perf_counter() - started

    def analyze(self, items: list[WorkItem]) -> Iterator[Outcome]:
        """One outcome per item, in order."""
        from photoanalyzer.ml.batching import batches, prefetch_map

        runner, details, phase = self.runner, self.details, self.phase
        runner.watch_gpu()  # each stream reports the GPU use of its own batches
        size = phase.settings.batch_size
        clock = _Throughput(startup_seconds=self.startup_seconds)
        try:
            with warnings.catch_warnings():
                # Decoders warn about odd files from the loader threads; the outcome says what
                # matters, and a warning on the terminal would only reach the cron mail.
                warnings.simplefilter("ignore")
                loaded = prefetch_map(
                    runner.load,
                    items,
                    phase.settings.loader_threads,
                    3 * size,
                    behind_caller=runner.predictor.backend.computes_on_cpu,
                )
                timed = _waited(loaded, runner)
                for batch in batches(timed, size, weight=lambda done: len(done.pictures)):
                    pictures = [picture for done in batch for picture in done.pictures]
                    results = iter(runner.infer(pictures))
                    clock.batch_done(len(pictures))
                    for done in batch:
                        yield phase._outcome(done, [next(results) for _ in done.pictures])
        finally:
            details.update(
                batch_size_used=runner.backoff.batch_size,
                oom_halvings=runner.backoff.halvings,
                gpu=runner.sampler.stop(),
                gpu_note=runner.sampler.note,
                startup=self.startup.summary(),
                stages=runner.stages(),
                **clock.summary(),
            )


_LIBRARIES = ("torch", "open_clip", "ultralytics")
_MISSING_LIBRARIES = (
    "the ML phase needs torch, open_clip_torch and ultralytics: install them with "
    "pip install 'photoanalyzer[ml]'"
)


def _require_libraries() -> None:
    """PhaseUnavailable naming the extra when a library is not installed; imports nothing."""
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in _LIBRARIES):
        raise PhaseUnavailable(_MISSING_LIBRARIES)


def _import_libraries() -> None:
    try:
        import open_clip  # noqa: F401
        import torch  # noqa: F401

        from photoanalyzer.ml.yolo_objects import import_ultralytics
    except ImportError as exc:
        raise PhaseUnavailable(_MISSING_LIBRARIES) from exc
    import_ultralytics()


class _Models:
    """Builds the Predictor on a backend; if that fails, once on the backend after it.
    `predictor` is the one built last."""

    def __init__(self, phase: MlPhase, clip_weights, yolo_weights, startup):
        self.phase, self.clip_weights, self.yolo_weights = phase, clip_weights, yolo_weights
        self.startup = startup
        self.predictor = None

    def build(self, backend, details: dict[str, Any], fallback_allowed: bool = True):
        from photoanalyzer.ml.predictor import Predictor

        try:
            predictor = Predictor(
                self.clip_weights,
                self.yolo_weights,
                backend,
                self.phase.settings,
                Path(self.phase.models_dir),
                self.startup,
            )
        except Exception as exc:
            reason = f"building the models failed: {describe_exception(exc)}"
            fallback = backend.fallback(reason) if fallback_allowed else None
            if fallback is None:
                raise PhaseUnavailable(f"backend {backend.name}: {reason}") from exc
            return self.build(fallback, details, fallback_allowed=False)
        details["backend"] = backend.as_dict()
        self.predictor = predictor
        return predictor


class _Runner:
    """The loader threads' work and the batches' inference, with failures isolated: a batch
    that raises (other than out of memory, which halves the batch) is retried picture by
    picture; if nothing has worked on this backend yet and every picture fails alone, the
    backend gives way to the next one in order, once."""

    def __init__(self, models: _Models, details: dict[str, Any]):
        from photoanalyzer.ml.batching import OomBackoff

        self.models, self.details = models, details
        self.phase, self.predictor = models.phase, models.predictor
        self.backoff = OomBackoff(self.predictor.backend.max_batch, release=self._release)
        self.worked = False  # some batch has succeeded on the current backend
        self.fell_back = False
        self.read_wait = 0.0
        self.sampler = None  # ml.gpu.GpuSampler, once watch_gpu has started it

    def _release(self) -> None:
        self.predictor.backend.release_memory()

    def watch_gpu(self) -> None:
        """Sample the GPU the current backend runs on (nothing on a CPU backend). Called again
        after a fallback, whose backend may run elsewhere: the numbers describe the backend
        the run reports."""
        from photoanalyzer.ml.gpu import GpuSampler

        if self.sampler is not None:
            self.sampler.stop()
        self.sampler = GpuSampler(self.predictor.backend.gpu_uuid()).start()

    # -- loading (loader threads) ------------------------------------------------------------

    def load(self, item: WorkItem) -> Loaded:
        predictor = self.predictor
        try:
            with predictor.clock.timing("load"):
                refuse_empty(item.path)
                if item.kind == "video":
                    frames, pictures, original = self._video_pictures(item)
                else:
                    frames, (pictures, original) = [], self._photo_picture(item)
            prepared = [predictor.prepare(picture, original) for picture in pictures]
            return Loaded(item, prepared, frames)
        except Exception as exc:  # a vanished file stays pending; a broken one fails for good
            return Loaded(item, failure=outcome_for_exception(exc))

    def _photo_picture(self, item: WorkItem):
        """The stored thumbnail, else a reduced decode of the original."""
        from photoanalyzer.pixels.geometry import upright_of
        from photoanalyzer.pixels.load import load_upright_rgb

        thumbnail = self._open_thumbnail(item.stored.thumbnail)
        if thumbnail is not None:
            return [thumbnail], _original_size(item, thumbnail)
        content = self.phase.content
        decoded = load_upright_rgb(item.path, content.thumbnail_size, content.max_pixels)
        return [decoded.image], upright_of(decoded)

    def _video_pictures(self, item: WorkItem):
        """The stored frame thumbnails with their times, else the frames decoded here."""
        from photoanalyzer.pixels.video_frames import extract_frames

        stored = [(n, t, self._open_thumbnail(key)) for n, t, key in item.stored.frames]
        if stored and all(picture is not None for _, _, picture in stored):
            pictures = [picture for _, _, picture in stored]
            return [(n, t) for n, t, _ in stored], pictures, _original_size(item, pictures[0])
        content = self.phase.content
        extracted = extract_frames(
            item.path,
            content.video_frame_interval,
            content.video_max_frames,
            content.thumbnail_size,
            content.max_pixels,
        )
        pictures = [picture for _, picture in extracted]
        frames = [(n, when) for n, (when, _) in enumerate(extracted)]
        return frames, pictures, _original_size(item, pictures[0])

    def _open_thumbnail(self, key: str | None):
        if key is None:
            return None
        from PIL import Image

        path = Path(self.phase.thumbnail_dir) / key
        try:
            with Image.open(path) as opened:
                return opened.convert("RGB")
        except FileNotFoundError:  # the thumbnail cache was cleared: decode the original
            return None

    # -- inference (calling thread) ---------------------------------------------------------

    def infer(self, pictures: list) -> list:
        """A record or an exception per picture."""
        if not pictures:
            return []
        try:
            results = self.backoff.run(self.predictor.infer, pictures)
        except Exception as batch_error:
            results = [self._alone(picture) for picture in pictures]
            broken = not self.worked and all(isinstance(r, Exception) for r in results)
            if broken and self._fall_back(batch_error):
                return self.infer(pictures)
        self.worked = self.worked or any(not isinstance(r, Exception) for r in results)
        return results

    def _alone(self, picture):
        try:
            return self.predictor.infer([picture])[0]
        except Exception as exc:
            return exc

    def _fall_back(self, error: Exception) -> bool:
        """Rebuild on the next backend after one that failed its first batch; once a run."""
        if self.fell_back:
            return False
        self.fell_back = True
        backend = self.predictor.backend
        reason = f"failed on its first batch: {describe_exception(error)}"
        fallback = backend.fallback(reason)
        if fallback is None:
            return False
        try:
            self.predictor = self.models.build(fallback, self.details, fallback_allowed=False)
        except PhaseUnavailable:
            return False
        self.details["fallback"] = {"from": backend.name, "reason": reason}
        self.watch_gpu()
        return True

    def stages(self) -> dict[str, Any]:
        return {"read_wait": round(self.read_wait, 3), **self.predictor.clock.summary()}


def _waited(loaded: Iterator[Loaded], runner: _Runner) -> Iterator[Loaded]:
    """The loaded files, adding the time the models waited for each to runner.read_wait."""
    while True:
        started = time.perf_counter()
        done = next(loaded, None)
        runner.read_wait += time.perf_counter() - started
        if done is None:
            return
        yield done


def _original_size(item: WorkItem, picture) -> tuple[int, int]:
    """The upright original's (width, height): the stored size, turned to match the upright
    thumbnail. Without a stored size (no metadata phase yet) the original's header is read:
    the image's, or the video stream's."""
    if item.stored.stored_size is None:
        from photoanalyzer.pixels.load import upright_size
        from photoanalyzer.pixels.video_frames import display_size

        return display_size(item.path) if item.kind == "video" else upright_size(item.path)
    width, height = item.stored.stored_size
    landscape = picture.width >= picture.height
    return (width, height) if (width >= height) == landscape else (height, width)


def video_summary(
    frames: list[tuple[int, float]], records: list[dict[str, Any]], top_k: int
) -> dict[str, Any]:
    """A video's ML fields from its frames': scenes by votes of the frames' top scenes, every
    object class with its most confident detection (and when), the largest count of each class
    in one frame, and the mean embedding. The frames are kept as they are."""
    import numpy as np

    votes = Counter(record["top_scene"] for record in records).most_common(top_k)
    best: dict[str, dict] = {}
    counts: Counter = Counter()
    for (_, when), record in zip(frames, records, strict=True):
        for found in record["objects"]:
            if found["confidence"] > best.get(found["class"], {}).get("confidence", -1):
                best[found["class"]] = {**found, "timestamp": when}
        for label, count in record["object_counts"].items():
            counts[label] = max(counts[label], count)
    vectors = np.stack(
        [np.frombuffer(r["embedding"], dtype=np.float16).astype(np.float32) for r in records]
    )
    mean = vectors.mean(axis=0)
    mean /= np.linalg.norm(mean) or 1.0
    return {
        "top_scene": votes[0][0],
        "scenes": [(label, round(n / len(records), 4)) for label, n in votes],
        "objects": sorted(best.values(), key=lambda d: -d["confidence"]),
        "object_counts": dict(counts.most_common()),
        **{flag: records[0][flag] for flag in RANDOM_FLAGS},
        "embedding": mean.astype(np.float16).tobytes(),
        "frames": [
            {
                "frame": number,
                "timestamp": when,
                "top_scene": r["top_scene"],
                "scenes": r["scenes"],
                "objects": r["objects"],
                "embedding": r["embedding"],
            }
            for (number, when), r in zip(frames, records, strict=True)
        ],
    }


class _Throughput:
    """Start-up (weights, imports, backend, model build) apart from inference. Two rates: over
    every batch (`images_per_second`), and from the second batch on
    (`steady_images_per_second`), since the first also pays one-off kernel selection; a run
    of one batch has only the first."""

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
