"""Frame extraction from a generated 1080p video of 60 seconds (H.264, 30 fps).

    python benchmarks/video_frames.py [--seconds 60] [--repeat 5]

Reports frames/s for the content phase's extraction (seek to each time, decode, scale to the
thumbnail size, turn upright), the whole-video decode it avoids, and the process's peak
memory for a video of the given length and one twice as long: seeking keeps memory flat."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from photoanalyzer.config import load_config
from photoanalyzer.pixels.video_frames import extract_frames


def write_1080p(path: Path, seconds: int, fps: int = 30) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": "60"})
    stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
    stream.set_display_rotation(-90)  # a phone held upright
    base = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    for i in range(seconds * fps):
        picture = np.roll(base, i * 8, axis=1)  # moving detail, so frames differ
        for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def peak_memory_mib(video: Path) -> float:
    """Peak resident memory of a fresh process that extracts the frames of `video`."""
    code = (
        "import resource, sys; from photoanalyzer.pixels.video_frames import extract_frames;"
        "extract_frames(sys.argv[1], 10.0, 8, 640);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(video)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    content = load_config().content
    with tempfile.TemporaryDirectory() as tmp:
        short = write_1080p(Path(tmp) / "short.mp4", args.seconds)
        long = write_1080p(Path(tmp) / "long.mp4", args.seconds * 2)
        rates, count = [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            frames = extract_frames(
                str(short),
                content.video_frame_interval,
                content.video_max_frames,
                content.thumbnail_size,
            )
            rates.append(len(frames) / (time.perf_counter() - started))
            count = len(frames)
        started = time.perf_counter()
        with av.open(str(short)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        full_rate = decoded / (time.perf_counter() - started)
        memory = (peak_memory_mib(short), peak_memory_mib(long))
        size_mb = short.stat().st_size / 1e6
    print(f"video: 1920x1080 H.264, {args.seconds} s at 30 fps, {size_mb:.0f} MB")
    print(
        f"extraction: {count} frames, median {statistics.median(rates):.1f} frames/s "
        f"({count / statistics.median(rates):.2f} s per video) over {args.repeat} runs"
    )
    print(
        f"decoding every frame instead: {full_rate:.1f} frames/s "
        f"({decoded / full_rate:.1f} s per video)"
    )
    print(
        f"peak memory of one extraction: {memory[0]:.0f} MiB ({args.seconds} s video), "
        f"{memory[1]:.0f} MiB ({2 * args.seconds} s video)"
    )


if __name__ == "__main__":
    main()
