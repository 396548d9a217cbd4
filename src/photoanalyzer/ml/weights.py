"""Which model weights to load, and from where: an explicit path, else the local model cache,
else a download (the network is asked only then, and never with --offline), else a clear
error that names the model, where it looked, and how to provide the file. Random weights are
used only when the configuration says `random`, never as a fallback."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

RANDOM = "random"
DEFAULT = "default"
YOLO_RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0/{name}"
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".engine", ".onnx")


class WeightsUnavailable(RuntimeError):
    """The configured weights cannot be found or fetched; the message says how to fix it."""


@dataclass(frozen=True)
class Weights:
    kind: str  # "clip" or "yolo"
    model: str  # architecture: "ViT-B-32", "yolo11n"
    source: str  # what the config said: a tag, a path, "default" or "random"
    path: Path | None  # the file to load; None for random weights
    random: bool

    @property
    def tag(self) -> bool:
        """The configuration named an open_clip pretrained tag (the file is its cached copy)."""
        return (
            not self.random and self.source not in (DEFAULT,) and not looks_like_path(self.source)
        )

    @property
    def identity(self) -> str:
        """Names these exact weights for caches derived from them (text embeddings, TensorRT
        engines): the file's path, size and modification time, or the random seed. Cheap: a
        checkpoint of hundreds of megabytes is not hashed at every start."""
        if self.random or self.path is None:
            return f"{self.model}:random-seed-0"
        st = self.path.stat()
        return f"{self.model}:{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}"

    def describe(self) -> str:
        if self.random:
            return f"{self.kind} {self.model}: RANDOM weights (configured: {self.source})"
        return f"{self.kind} {self.model}: {self.path}"


def prepare_environment(models_dir: Path, offline: bool) -> None:
    """Set what open_clip, huggingface_hub and ultralytics read at import time: no network
    retries when offline, ultralytics' settings file in our cache instead of ~/.config, and
    no banner on stdout. Call before importing either library."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(models_dir / "ultralytics-settings"))
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ["YOLO_OFFLINE"] = "1"  # ultralytics probes DNS on import; we download ourselves
    os.environ["YOLO_AUTOINSTALL"] = "False"  # never pip-install packages in the middle of a run
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"


def is_online(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    import socket  # here, as urllib below: a search whose weights are cached never needs them

    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def looks_like_path(value: str) -> bool:
    return os.sep in value or value.startswith((".", "~")) or value.endswith(_CHECKPOINT_SUFFIXES)


def clip_cache_file(models_dir: Path, model: str, tag: str) -> Path:
    return models_dir / "clip" / f"{model}__{tag}.bin"


def yolo_cache_file(models_dir: Path, name: str) -> Path:
    return models_dir / "yolo" / name


def resolve_clip(model: str, pretrained: str, models_dir: Path, offline: bool) -> Weights:
    if pretrained == RANDOM:
        return Weights("clip", model, pretrained, None, True)
    if looks_like_path(pretrained):
        return Weights(
            "clip", model, pretrained, _existing(Path(pretrained), "CLIP checkpoint"), False
        )
    cached = clip_cache_file(models_dir, model, pretrained)
    if cached.is_file():
        return Weights("clip", model, pretrained, cached, False)
    if offline or not is_online():
        raise WeightsUnavailable(
            f"CLIP weights {model} '{pretrained}' are not in the model cache ({cached}) and this "
            "machine is offline. On a machine with network run `photoanalyze models fetch`, "
            f"then copy the file here and run `photoanalyze models import FILE --for clip`; or "
            "set ml.clip.pretrained to a checkpoint path"
        )
    return Weights("clip", model, pretrained, _download_clip(model, pretrained, cached), False)


def resolve_yolo(model: str, weights: str, models_dir: Path, offline: bool) -> Weights:
    if weights == RANDOM:
        return Weights("yolo", model, weights, None, True)
    if weights != DEFAULT and looks_like_path(weights):
        return Weights("yolo", model, weights, _existing(Path(weights), "YOLO weights"), False)
    name = f"{model}.pt" if weights == DEFAULT else weights
    cached = yolo_cache_file(models_dir, name)
    if cached.is_file():
        return Weights("yolo", model, weights, cached, False)
    if offline or not is_online():
        raise WeightsUnavailable(
            f"YOLO weights {name} are not in the model cache ({cached}) and this machine is "
            "offline. On a machine with network run `photoanalyze models fetch` (or download "
            f"{YOLO_RELEASE_URL.format(name=name)}), then `photoanalyze models import FILE "
            "--for yolo`; or set ml.yolo.weights to a file path"
        )
    return Weights(
        "yolo", model, weights, _download(YOLO_RELEASE_URL.format(name=name), cached), False
    )


def import_file(source: Path, kind: str, models_dir: Path, model: str, tag: str) -> Path:
    """Copy a weights file fetched elsewhere into the cache, where resolve_* will find it."""
    source = _existing(source, f"{kind} weights file")
    target = (
        clip_cache_file(models_dir, model, tag)
        if kind == "clip"
        else yolo_cache_file(models_dir, source.name)
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return target


def _existing(path: Path, what: str) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise WeightsUnavailable(f"{what} {path} does not exist or is not a file")
    return path


def _download_clip(model: str, tag: str, target: Path) -> Path:
    import open_clip.pretrained

    cfg = open_clip.pretrained.get_pretrained_cfg(model, tag)
    if not cfg:
        raise WeightsUnavailable(
            f"open_clip knows no pretrained tag '{tag}' for {model}; see "
            "open_clip.list_pretrained() for the valid ones"
        )
    try:
        downloaded = open_clip.pretrained.download_pretrained(
            cfg, cache_dir=str(target.parent / "hub")
        )
    except Exception as exc:
        raise WeightsUnavailable(f"downloading CLIP {model} '{tag}' failed: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(downloaded, target)
    return target


def _download(url: str, target: Path, timeout: float = 30.0) -> Path:
    import urllib.request  # 25 ms to import (email, http): only a download needs it

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise WeightsUnavailable(f"downloading {url} failed: {exc}") from exc
    partial.replace(target)
    return target
