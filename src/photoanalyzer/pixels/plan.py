"""Which decoders the content phase uses on this machine, and why: the one place that
decides between the CPU decoders (Pillow's libjpeg-turbo with draft, FFmpeg's HEVC for HEIC,
pillow-heif as the fallback) and the GPU ones (nvJPEG, NVDEC), and what `doctor` shows.

The GPU decoders are chosen only when the ML backend runs on CUDA (the ML phase will hold
the GPU anyway; a CPU-only configuration never touches it) and a probe decoded a real
picture with each. The probes run in a spawned process: CUDA initialized in the parent would
break the content phase's forked workers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from photoanalyzer.errors import short_reason


@dataclass(frozen=True)
class DecodePlan:
    jpeg: str = "pillow"  # "pillow" or "nvjpeg"
    hevc: str = "cpu"  # where HEIC tiles are decoded: "cpu" (FFmpeg) or "cuda" (NVDEC)
    why_not: dict[str, str] = field(default_factory=dict)  # GPU decoder -> why not used

    @property
    def on_gpu(self) -> bool:
        return self.jpeg == "nvjpeg" or self.hevc == "cuda"


CPU_PLAN = DecodePlan()


@dataclass(frozen=True)
class GpuProbe:
    """What the spawned probe found: the ML backend's device and, on CUDA, whether nvJPEG
    and NVDEC each decoded a small picture (None) or the error they raised."""

    ml_device: str
    ml_why: str = ""
    nvjpeg_error: str | None = None
    nvdec_error: str | None = None


def plan_decoders(probe: GpuProbe) -> DecodePlan:
    """The decoders for what the probe found; every GPU decoder not chosen says why."""
    if probe.ml_device != "cuda":
        reason = probe.ml_why or f"the ML backend runs on {probe.ml_device}"
        return DecodePlan(why_not={"nvjpeg": reason, "nvdec": reason})
    why_not = {}
    if probe.nvjpeg_error:
        why_not["nvjpeg"] = probe.nvjpeg_error
    if probe.nvdec_error:
        why_not["nvdec"] = probe.nvdec_error
    return DecodePlan(
        jpeg="pillow" if probe.nvjpeg_error else "nvjpeg",
        hevc="cpu" if probe.nvdec_error else "cuda",
        why_not=why_not,
    )


def nvidia_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def _error_of(probe: Callable[[], None]) -> str | None:
    try:
        probe()
        return None
    except Exception as exc:  # whatever the GPU stack raises, it is the reason
        return short_reason(exc)


def _probe_nvjpeg() -> None:
    import tempfile

    from PIL import Image

    from photoanalyzer.pixels.gpu import decode_jpegs

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.jpg")
        Image.new("RGB", (64, 48), (200, 100, 50)).save(path, quality=90)
        (decoded,) = decode_jpegs([path], 32, 10**9)
        if decoded.image.size != (32, 24):
            raise RuntimeError(f"nvJPEG gave {decoded.image.size}")


def _probe_nvdec() -> None:
    import tempfile

    from PIL import Image

    from photoanalyzer.pixels.heic import decode
    from photoanalyzer.pixels.load import ensure_heif_support

    ensure_heif_support()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.heic")
        Image.new("RGB", (256, 256), (200, 100, 50)).save(path, format="HEIF", quality=90)
        if decode(path, 1, "cuda").image.size != (256, 256):
            raise RuntimeError("NVDEC gave a picture of the wrong size")


def report(plan: DecodePlan) -> str:
    """`doctor`'s lines: every decoder the content phase may use, available or why not."""
    lines = ["Decoders (content phase):"]
    lines.append(f"  JPEG: {'nvJPEG (GPU)' if plan.jpeg == 'nvjpeg' else 'Pillow ' + _pillow()}")
    lines.append(f"  HEIC: {_ffmpeg_hevc(plan)}")
    lines.append(f"  HEIC fallback: {_pillow_heif()}")
    lines.append(f"  AVIF: {_avif()}")
    for name, reason in plan.why_not.items():
        lines.append(f"  {name}: not used: {reason}")
    return "\n".join(lines)


def _pillow() -> str:
    from PIL import Image, features

    turbo = features.check_feature("libjpeg_turbo")
    return f"{Image.__version__} ({'libjpeg-turbo' if turbo else 'libjpeg'}, reduced-scale draft)"


def _ffmpeg_hevc(plan: DecodePlan) -> str:
    try:
        import av
    except ImportError:
        return "FFmpeg: unavailable (PyAV is not installed): pillow-heif decodes every HEIC"
    if "hevc" not in av.codecs_available:
        return f"FFmpeg: PyAV {av.__version__} has no HEVC decoder: pillow-heif decodes HEIC"
    where = "NVDEC (GPU), then FFmpeg on the CPU" if plan.hevc == "cuda" else "FFmpeg on the CPU"
    return f"{where} (PyAV {av.__version__}, libavcodec {_libavcodec(av)})"


def _libavcodec(av) -> str:
    version = av.library_versions.get("libavcodec", ())
    return ".".join(str(part) for part in version) or "unknown"


def _pillow_heif() -> str:
    try:
        import pillow_heif
    except ImportError:
        return "unavailable (pillow-heif is not installed)"
    decoders = pillow_heif.libheif_info().get("decoders", {})
    names = ", ".join(decoders) or "none"
    return f"pillow-heif {pillow_heif.__version__} (libheif decoders: {names})"


def _avif() -> str:
    """Pillow's own AVIF plugin (libavif, with dav1d in its wheels) decodes AVIF; FFmpeg's
    libdav1d, the same decoder, measured too little faster to add a second path
    (docs/performance.md)."""
    from PIL import features

    if features.check("avif"):
        return f"Pillow (libavif {features.version('avif')})"
    try:
        import pillow_heif

        if pillow_heif.libheif_info().get("AVIF"):
            return f"pillow-heif {pillow_heif.__version__}"
    except ImportError:
        pass
    return "no decoder: neither Pillow nor pillow-heif here has AVIF (AVIF files get an error)"


def probe_gpu_decoders(device: str) -> GpuProbe:
    """Decode a small JPEG with nvJPEG and a small HEIC with NVDEC on `device` (CUDA): the
    reason each failed, None where it worked."""
    return GpuProbe(device, "", _error_of(_probe_nvjpeg), _error_of(_probe_nvdec))


RAY_REASON = "the Ray engine's content tasks decode on the CPU (they reserve no GPU)"
