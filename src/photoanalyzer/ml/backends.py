"""The one place that decides where and in which precision the models run, and says why.

Auto order, fastest first: tensorrt, cuda-amp-fp16, cuda-fp32, cpu-bf16, cpu-fp32. Each
backend that is skipped gets a reason; callers read `Backend.device`, `.dtype` and `.amp`
and never branch on the name themselves."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

AUTO_ORDER = ("tensorrt", "cuda-amp-fp16", "cuda-fp32", "cpu-bf16", "cpu-fp32")
# Names a user may ask for: a backend, "auto", or "fp32" (the best full-precision backend,
# which is what the baseline configuration measures).
CHOICES = ("auto", "fp32", *AUTO_ORDER)


class BackendUnavailable(RuntimeError):
    """A backend was asked for by name and this machine cannot run it."""


@dataclass(frozen=True)
class Backend:
    name: str
    device: str  # "cuda" or "cpu"
    dtype: str  # weights and inputs: "float32", "float16" (AMP autocast) or "bfloat16"
    amp: bool  # run under torch.autocast (CUDA FP16)
    tensorrt: bool
    device_name: str
    torch_version: str
    cuda_version: str | None
    skipped: dict[str, str] = field(default_factory=dict)  # faster backend -> why not

    def describe(self) -> str:
        lines = [
            f"backend {self.name} on {self.device_name} (torch {self.torch_version}"
            + (f", CUDA {self.cuda_version})" if self.cuda_version else ")")
        ]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "device": self.device,
            "dtype": self.dtype,
            "device_name": self.device_name,
            "torch": self.torch_version,
            "cuda": self.cuda_version,
            "skipped": dict(self.skipped),
        }


@dataclass
class Probes:
    """What the selector asks of the machine. Tests replace these at the true boundaries that
    cannot exist here (a GPU, TensorRT); everything else is the real thing."""

    cuda_available: Callable[[], bool]
    cuda_device_name: Callable[[], str]
    import_tensorrt: Callable[[], object]
    cpu_has_bf16: Callable[[], bool]
    bf16_agrees: Callable[[], tuple[bool, str]]


def real_probes() -> Probes:
    import torch

    def import_tensorrt() -> object:
        import torch_tensorrt  # raises a plain Exception when its TensorRT libraries are missing

        return torch_tensorrt

    return Probes(
        cuda_available=torch.cuda.is_available,
        cuda_device_name=lambda: torch.cuda.get_device_name(0),
        import_tensorrt=import_tensorrt,
        cpu_has_bf16=cpu_has_native_bf16,
        bf16_agrees=bf16_agrees_with_fp32,
    )


def select_backend(requested: str = "auto", probes: Probes | None = None) -> Backend:
    """The backend to run on: `requested` if it is a name (or BackendUnavailable saying why
    not), else the first of AUTO_ORDER that works, with the reasons the faster ones did not."""
    import torch

    if requested not in CHOICES:
        raise BackendUnavailable(
            f"unknown backend '{requested}' (choose from {', '.join(CHOICES)})"
        )
    probes = probes or real_probes()
    candidates = _candidates(requested, probes)
    skipped: dict[str, str] = {}
    for name in candidates:
        reason = _why_not(name, probes)
        if reason is None:
            return _backend(name, probes, skipped, torch)
        if requested not in ("auto", "fp32"):
            raise BackendUnavailable(f"backend {name} is not available here: {reason}")
        skipped[name] = reason
    raise BackendUnavailable(
        "no backend available: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
    )


def _candidates(requested: str, probes: Probes) -> tuple[str, ...]:
    if requested == "auto":
        return AUTO_ORDER
    if requested == "fp32":
        return ("cuda-fp32", "cpu-fp32")
    return (requested,)


def _why_not(name: str, probes: Probes) -> str | None:
    """None if `name` can run here, else the reason it cannot."""
    if name.startswith("cpu-"):
        if name == "cpu-bf16":
            if not probes.cpu_has_bf16():
                return "this CPU has no native bfloat16 instructions (AVX512-BF16 or AMX)"
            agrees, detail = probes.bf16_agrees()
            if not agrees:
                return f"bfloat16 results disagree with float32 here ({detail})"
        return None
    if not _safe(probes.cuda_available):
        return "no CUDA device (torch.cuda.is_available() is False)"
    if name == "tensorrt":
        try:
            probes.import_tensorrt()
        except Exception as exc:  # torch_tensorrt raises plain Exception without its libraries
            return f"torch_tensorrt cannot be imported: {type(exc).__name__}: {exc}"
    return None


def _safe(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:
        return False


def _backend(name: str, probes: Probes, skipped: dict[str, str], torch) -> Backend:
    cuda = name in ("tensorrt", "cuda-amp-fp16", "cuda-fp32")
    return Backend(
        name=name,
        device="cuda" if cuda else "cpu",
        dtype={"cuda-amp-fp16": "float16", "tensorrt": "float16", "cpu-bf16": "bfloat16"}.get(
            name, "float32"
        ),
        amp=name == "cuda-amp-fp16",
        tensorrt=name == "tensorrt",
        device_name=probes.cuda_device_name() if cuda else cpu_name(),
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
        skipped=skipped,
    )


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX on x86, or the BF16 extension on ARM: bfloat16 math in hardware.
    Without it torch emulates bfloat16 and it is slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16", " bf16"))


def bf16_agrees_with_fp32() -> tuple[bool, str]:
    """A quick numerical check that bfloat16 matrix products stay close to float32 here: a
    broken kernel would show up as a large relative error."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(64, 256, generator=generator)
    b = torch.randn(256, 64, generator=generator)
    exact = a @ b
    approx = (a.bfloat16() @ b.bfloat16()).float()
    error = float((approx - exact).norm() / exact.norm())
    return error < 0.02, f"relative error {error:.4f}"
