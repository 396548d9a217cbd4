"""CLIP's text tower in ONNX Runtime, without torch: where the export of a model and its
weights lives, and running it.

An export is a folder under MODELS_DIR/clip/text-onnx/, named by a hash of the weights'
identity (the model, the weights file's path, size and modification time or the random
seed, the configured pretrained tag), the open_clip version that exported it and the export
format: any of these changing makes another folder, which the next text query builds
(ml/text_export.py, with torch). It holds text.onnx, its weights (text.onnx.data),
tokenizer.json and manifest.json, which is written last: a folder without it is not used. A
model the export does not cover gets a folder with refused.json instead (the reason), so it
is not tried at every query; deleting the folder (or all of text-onnx/) makes the next query
try again."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import numpy as np

from photoanalyzer.ml.clip_tokenizer import ClipTokenizer
from photoanalyzer.ml.weights import Weights

FORMAT = 1  # bump when the exported graph or the tokenizer file change meaning
LIBRARIES = ("onnxruntime", "regex")
# PHOTOANALYZER_TEXT_TOWER=torch: texts go through torch as before the export existed (for
# comparisons: benchmarks/cold_query.py alternates both).
SWITCH = "PHOTOANALYZER_TEXT_TOWER"
GRAPH = "text.onnx"  # its weights are beside it in text.onnx.data
TEXT_BATCH = 64


def export_root(models_dir: Path) -> Path:
    return models_dir / "clip" / "text-onnx"


def export_key(weights: Weights) -> str:
    """What the export depends on, as text; its hash names the folder."""
    return (
        f"format {FORMAT}|{weights.model}|{weights.identity}|{weights.source}|"
        f"open_clip {open_clip_version()}"
    )


def open_clip_version() -> str:
    """open_clip's version from its version.py, read without importing open_clip (torch) or
    importlib.metadata (40 ms here, a tenth of a text query's budget)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        return "none"
    try:
        text = (Path(spec.origin).parent / "version.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r"""__version__\s*=\s*['"]([^'"]+)['"]""", text)
    return found.group(1) if found else "unknown"


def export_folder(models_dir: Path, weights: Weights) -> Path:
    digest = hashlib.sha256(export_key(weights).encode()).hexdigest()[:16]
    return export_root(models_dir) / f"{weights.model}-{digest}"


def runtime_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in LIBRARIES)


def is_complete(folder: Path) -> bool:
    return (folder / "manifest.json").is_file()


def refusal(folder: Path) -> str | None:
    """Why this model's text tower is not exported, if an earlier query found out."""
    try:
        return json.loads((folder / "refused.json").read_text())["reason"]
    except (OSError, ValueError, KeyError):
        return None


def open_session(path: Path, many_queries: bool = False):
    """An ONNX Runtime session on the CPU, set up to start in milliseconds: the graph was
    optimized when it was exported, so it is not again, and the weights stay memory-mapped.
    Prepacking the weights for the matrix products copies every matrix (about 0.3 s here)
    and then saves most of each run's time: worth it for `many_queries` (a process that
    answers many), not for the one query of a command. One thread: a query's few tokens gain
    nothing from more on two cores."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.disable_prepacking", "0" if many_queries else "1")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxTextTower:
    """`encode(texts)`: (N, dim) unit float32 embeddings, as open_clip's encode_text gives."""

    def __init__(self, folder: Path, many_queries: bool = False):
        self.folder = folder
        self.tokenizer = ClipTokenizer(folder)
        self.session = open_session(folder / GRAPH, many_queries)

    def encode(self, texts: list[str]) -> np.ndarray:
        parts = [
            self.session.run(None, {"tokens": self.tokenizer(texts[start : start + TEXT_BATCH])})[0]
            for start in range(0, len(texts), TEXT_BATCH)
        ]
        vectors = np.concatenate(parts).astype(np.float32)
        # The graph normalizes; again here so that float rounding never leaves a norm of 1.00001
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
