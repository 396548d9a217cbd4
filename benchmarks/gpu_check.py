"""The prepared check for a GPU machine (NOT yet run: no GPU has been lent to this project's
sessions so far). Three parts, in one short run (about 5 minutes on a 16-core machine):

  1. JPEG: Pillow with draft on every core against nvJPEG in batches of --batch, both to the
     thumbnail size, on generated 12 MP JPEGs; PSNR of the GPU pictures against the CPU's.
  2. HEIC: FFmpeg's HEVC on every core against NVDEC, on generated 12 MP HEIC with 512 px
     tiles (or --heic files); PSNR likewise.
  3. The whole `photoanalyze run` (metadata, content, ml; --backend auto, random weights)
     over both sets, with GPU, decoder and memory use sampled through NVML every 0.2 s, and
     the decoders the content records name.

    python benchmarks/gpu_check.py [--jpegs 96] [--heics 48] [--out DIR]

Prints one JSON document (also written to DIR/gpu_check.json) for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from photoanalyzer.benchmark.synthetic import camera_photo
from photoanalyzer.config import load_config
from photoanalyzer.ml.decoder_plan import plan_for
from photoanalyzer.pixels import gpu as gpu_decode
from photoanalyzer.pixels import heic as heif_decode
from photoanalyzer.pixels.load import ensure_heif_support, load_upright_rgb

SIDE = load_config().content.thumbnail_size


def write_inputs(folder: Path, jpegs: int, heics: int) -> tuple[list[str], list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor() as pool:
        jpeg_paths = list(pool.map(_write_one, [(folder, i, "jpg") for i in range(jpegs)]))
        heic_paths = list(pool.map(_write_one, [(folder, i, "heic") for i in range(heics)]))
    return jpeg_paths, heic_paths


def _write_one(job) -> str:
    folder, index, kind = job
    ensure_heif_support()
    picture = camera_photo(index)
    path = folder / f"{kind}{index:03d}.{kind}"
    if kind == "jpg":
        picture.save(path, quality=92)
    else:
        picture.save(path, format="HEIF", quality=80, tile_size=512)
    return str(path)


def cpu_decode(path: str) -> bytes:
    return load_upright_rgb(path, SIDE, 10**9).image.tobytes()


def cpu_rate(paths: list[str]) -> tuple[float, list[Image.Image]]:
    with ProcessPoolExecutor() as pool:
        list(pool.map(cpu_decode, paths[: os.cpu_count() or 1]))  # workers started
        started = time.perf_counter()
        data = list(pool.map(cpu_decode, paths, chunksize=2))
        seconds = time.perf_counter() - started
    pictures = [load_upright_rgb(p, SIDE, 10**9).image for p in paths[:8]]
    assert all(a.tobytes() == b for a, b in zip(pictures, data, strict=False))
    return len(paths) / seconds, pictures


def nvjpeg_rate(paths: list[str], batch: int) -> tuple[float, list[Image.Image]]:
    gpu_decode.decode_jpegs(paths[:batch], SIDE, 10**9)  # CUDA context, nvJPEG handles
    started = time.perf_counter()
    pictures = []
    for start in range(0, len(paths), batch):
        pictures += [
            d.image for d in gpu_decode.decode_jpegs(paths[start : start + batch], SIDE, 10**9)
        ]
    return len(paths) / (time.perf_counter() - started), pictures[:8]


def nvdec_rate(paths: list[str]) -> tuple[float, list[Image.Image], list[str]]:
    load_upright_rgb(paths[0], SIDE, 10**9, 1, "cuda")
    started = time.perf_counter()
    results = [load_upright_rgb(p, SIDE, 10**9, 1, "cuda") for p in paths]
    rate = len(paths) / (time.perf_counter() - started)
    return rate, [r.image for r in results[:8]], sorted({r.decoder for r in results})


def psnr(a: Image.Image, b: Image.Image) -> float:
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 99.0 if error == 0 else float(10 * np.log10(255**2 / error))


class NvmlSampler:
    """GPU, NVDEC and memory use of device 0 every 0.2 s, in a thread."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml, self._handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
        self.samples: list[tuple[int, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        nvml, handle = self._nvml, self._handle
        while not self._stop.wait(0.2):
            gpu = nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            nvdec = nvml.nvmlDeviceGetDecoderUtilization(handle)[0]
            memory = nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
            self.samples.append((gpu, nvdec, memory))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        gpu, nvdec, memory = zip(*self.samples, strict=True)
        return {
            "gpu_util_mean": statistics.fmean(gpu),
            "gpu_util_max": max(gpu),
            "nvdec_util_mean": statistics.fmean(nvdec),
            "memory_mib_max": max(memory),
            "samples": len(gpu),
        }


def whole_run(library: Path, workdir: Path) -> dict:
    """The whole run with random CLIP and YOLO weights (the GPU machine has no network to
    fetch real ones; speed is the same, labels are meaningless and marked so)."""
    config = workdir / "random-weights.yaml"
    config.write_text(
        f"ml:\n  models_dir: {workdir / 'models'}\n  clip:\n    pretrained: random\n"
        "  yolo:\n    weights: random\n"
    )
    command = [
        sys.executable,
        "-m",
        "photoanalyzer",
        "run",
        str(library),
        "--db",
        str(workdir / "gpu.db"),
        "--config",
        str(config),
        "--quiet",
    ]
    environment = dict(os.environ, HF_HUB_OFFLINE="1", YOLO_OFFLINE="1")
    with NvmlSampler() as sampler:
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        seconds = time.perf_counter() - started
    export = subprocess.run(
        [sys.executable, "-m", "photoanalyzer", "export", "--db", str(workdir / "gpu.db")],
        capture_output=True,
        text=True,
    )
    rows = [json.loads(line) for line in export.stdout.splitlines() if line.startswith("{")]
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("decoder"))] = counts.get(str(row.get("decoder")), 0) + 1
    return {
        "command": " ".join(command),
        "exit": done.returncode,
        "seconds": seconds,
        "files": len(rows),
        "decoders": counts,
        "nvml": sampler.summary(),
        "summary_tail": done.stdout[-2000:] + done.stderr[-2000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jpegs", type=int, default=96)
    parser.add_argument("--heics", type=int, default=48)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    args = parser.parse_args()
    result: dict = {"plan": plan_for("auto").__dict__, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        jpegs, heics = write_inputs(workdir / "library", args.jpegs, args.heics)
        cpu_jpeg, cpu_jpeg_pictures = cpu_rate(jpegs)
        gpu_jpeg, gpu_jpeg_pictures = nvjpeg_rate(jpegs, args.batch)
        result["jpeg"] = {
            "cpu_images_per_s": cpu_jpeg,
            "nvjpeg_images_per_s": gpu_jpeg,
            "psnr_min": min(map(psnr, cpu_jpeg_pictures, gpu_jpeg_pictures)),
        }
        cpu_heic, cpu_heic_pictures = cpu_rate(heics)
        gpu_heic, gpu_heic_pictures, used = nvdec_rate(heics)
        result["heic"] = {
            "cpu_images_per_s": cpu_heic,
            "nvdec_images_per_s_one_process": gpu_heic,
            "decoders_used": used,
            "psnr_min": min(map(psnr, cpu_heic_pictures, gpu_heic_pictures)),
            "fast_path_threads": heif_decode.default_threads(os.cpu_count() or 1),
        }
        result["whole_run"] = whole_run(workdir / "library", workdir)
    text = json.dumps(result, indent=2, default=str)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(text)


if __name__ == "__main__":
    main()
