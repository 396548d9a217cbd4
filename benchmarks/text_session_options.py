"""ONNX Runtime session options for the text detector at 512 px (the first pass), one thread:

    python benchmarks/text_session_options.py --roll DIR [--count 12] [--rounds 3]

DIR: a camera roll from `synthetic_library.py --camera-roll`; its thumbnails are made as the
content phase makes them. Each variant is a session of rapidocr's PP-OCRv4 detection model with
one intra-op thread; the variants alternate, and the best round's CPU ms a detection
(`time.process_time`) is printed with every round's."""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from photoanalyzer.analysis.text import _bgr, _detection_input, _rapidocr_root
from text_choice import thumbnail

ALL = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
VARIANTS = {
    "rapidocr's (arena off)": dict(arena=False),
    "arena on": dict(arena=True),
    "arena on, no spinning": dict(arena=True, config={"session.intra_op.allow_spinning": "0"}),
    "no spinning": dict(config={"session.intra_op.allow_spinning": "0"}),
    "denormals as zero": dict(config={"session.set_denormal_as_zero": "1"}),
    "optimization extended": dict(level=ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
}


def session(model: str, arena: bool = False, config: dict | None = None, level=ALL):
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.enable_cpu_mem_arena = arena
    options.graph_optimization_level = level
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roll", type=Path, required=True)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    (model,) = glob.glob(f"{_rapidocr_root()}/models/*det*.onnx")
    paths = sorted(args.roll.rglob("*.jpg"))[: args.count]
    tensors = [_detection_input(_bgr(thumbnail(p)), 512) for p in paths]
    sessions = {name: session(model, **kw) for name, kw in VARIANTS.items()}
    feed = sessions["rapidocr's (arena off)"].get_inputs()[0].name
    reference = sessions["rapidocr's (arena off)"].run(None, {feed: tensors[0]})[0]
    for name, s in sessions.items():  # warm-up, and the same map from each
        difference = np.abs(s.run(None, {feed: tensors[0]})[0] - reference).max()
        print(f"{name}: largest difference from rapidocr's map {difference:.1e}")
    rounds: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, s in sessions.items():
            started = time.process_time()
            for tensor in tensors:
                s.run(None, {feed: tensor})
            rounds[name].append(1000 * (time.process_time() - started) / len(tensors))
    for name, ms in rounds.items():
        runs = ", ".join(f"{m:.1f}" for m in ms)
        print(f"{name:24} {min(ms):.1f} ms a detection (rounds {runs})")


if __name__ == "__main__":
    main()
