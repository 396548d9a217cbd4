"""YOLO11n's forward pass on the CPU in NCHW against channels-last memory, and under
torch.compile: what decided the backends' `channels_last` and the choice not to compile.

    python benchmarks/ml_layout.py [--dtype bfloat16|float32] [--compile]

Batch 16 at 480x640 (a 640x480 thumbnail letterboxed), random weights (speed does not depend
on the values), in-process, best of two rounds of 6 batches after a warm-up batch."""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import torch


def seconds_per_batch(model, batch, rounds: int = 6) -> float:
    with torch.inference_mode():
        model(batch)
        started = time.perf_counter()
        for _ in range(rounds):
            model(batch)
    return (time.perf_counter() - started) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    model = DetectionModel("yolo11n.yaml", verbose=False).fuse(verbose=False).eval().to(dtype)
    torch.set_num_threads(threads)  # ultralytics lowers it
    batch = torch.rand(16, 3, 480, 640).to(dtype)
    nchw = min(seconds_per_batch(model, batch) for _ in range(2))
    last = model.to(memory_format=torch.channels_last)
    nhwc_batch = batch.contiguous(memory_format=torch.channels_last)
    nhwc = min(seconds_per_batch(last, nhwc_batch) for _ in range(2))
    print(f"{args.dtype}, {threads} threads, batch 16 at 480x640")
    print(f"NCHW          : {16 / nchw:6.1f} images/s")
    print(f"channels-last : {16 / nhwc:6.1f} images/s ({nchw / nhwc:.2f}x)")
    if args.compile:
        started = time.perf_counter()
        compiled = torch.compile(last)
        with torch.inference_mode():
            compiled(nhwc_batch)
        compile_seconds = time.perf_counter() - started
        fast = min(seconds_per_batch(compiled, nhwc_batch) for _ in range(2))
        print(f"compiled      : {16 / fast:6.1f} images/s after {compile_seconds:.0f} s compiling")


if __name__ == "__main__":
    main()
