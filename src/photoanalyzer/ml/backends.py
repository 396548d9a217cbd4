"""The one place that knows the backends: which exist, which one this machine runs, and how a
model is prepared and run on it.

`REGISTRY` lists every backend, fastest first; config validation, `--backend` help, `doctor`
and the selector all read it. `select_backend` returns a `Backend`: the device, the compute
precision, autocast, how a model is prepared (device, weight casts, memory layout, TensorRT
engines from the cache), warm-up, the largest batch it accepts, the backend to fall back to,
and why faster backends were skipped. Models call its methods and never branch on its name.

torch is imported inside the functions: config validation and `--help` read the registry
without paying for it."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from photoanalyzer.ml.tensorrt import EngineRecipe


@dataclass(frozen=True)
class BackendSpec:
    name: str
    device: str  # "cuda" or "cpu"
    precision: str  # the compute precision: "float32", "float16" or "bfloat16"
    cast_weights: bool  # weights and inputs are stored in `precision`
    autocast: bool  # run under torch.autocast(device, precision)
    tensorrt: bool  # models become TensorRT engines
    summary: str  # one line for --help and doctor
    # Convolutional models (YOLO) get channels-last memory, where it was measured to be
    # faster (docs/performance.md: YOLO11n 1.5 times on the CPU, bfloat16 and float32 alike).
    # Not yet measured on a GPU, so the CUDA backends leave it off.
    channels_last: bool = False


# Fastest first: this is the order `auto` tries them in.
REGISTRY: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "tensorrt", "cuda", "float16", True, False, True, "TensorRT FP16 engines (NVIDIA GPU)"
        ),
        BackendSpec(
            "cuda-amp-fp16", "cuda", "float16", False, True, False, "CUDA, autocast to float16"
        ),
        BackendSpec("cuda-fp32", "cuda", "float32", False, False, False, "CUDA, float32"),
        BackendSpec(
            "cpu-bf16",
            "cpu",
            "bfloat16",
            True,
            True,
            False,
            "CPU, bfloat16 (CPUs with AVX512-BF16 or AMX)",
            channels_last=True,
        ),
        BackendSpec(
            "cpu-fp32", "cpu", "float32", False, False, False, "CPU, float32", channels_last=True
        ),
    )
}
AUTO_ORDER = tuple(REGISTRY)
# Names that choose among the backends rather than naming one.
ALIASES = {
    "auto": AUTO_ORDER,
    "fp32": ("cuda-fp32", "cpu-fp32"),  # the best full-precision backend: the baseline
}
CHOICES = (*ALIASES, *AUTO_ORDER)


class BackendUnavailable(RuntimeError):
    """A backend was asked for by name and this machine cannot run it."""


class UnknownBackend(ValueError):
    """A backend name that is not in the registry."""


def check_name(name: str) -> str:
    """`name` if it is a backend or an alias, else UnknownBackend listing the valid names."""
    if name not in CHOICES:
        raise UnknownBackend(f"unknown backend '{name}' (choose from {', '.join(CHOICES)})")
    return name


def choices_help() -> str:
    """The backend names with what each means, for --help."""
    names = ", ".join(f"{spec.name} ({spec.summary})" for spec in REGISTRY.values())
    return (
        f"auto (the fastest that works here, in this order: {', '.join(AUTO_ORDER)}), "
        f"fp32 (cuda-fp32, else cpu-fp32), or one of: {names}"
    )


@dataclass(frozen=True)
class Backend:
    """Where and how the models run. Made by `select_backend`; one per run."""

    spec: BackendSpec
    device_name: str
    torch_version: str
    cuda_version: str | None
    skipped: dict[str, str] = field(default_factory=dict)  # faster backend -> why not
    # What `auto` or an alias may still try if this one fails on its first batch.
    fallbacks: tuple[str, ...] = ()
    engine_dir: Path | None = None  # where TensorRT engines are cached
    # What the selector asked the machine; a fallback asks the same.
    probes: Probes | None = field(default=None, compare=False, repr=False)
    # The largest batch the models are given. TensorRT engines are built with a profile up to
    # exactly this size (the configured batch size), so a batch never exceeds the profile.
    max_batch: int = 16

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def device(self) -> str:
        return self.spec.device

    @property
    def computes_on_cpu(self) -> bool:
        """The models run on the cores the loader threads need too."""
        return self.spec.device == "cpu"

    @property
    def dtype(self) -> str:
        return self.spec.precision

    def torch_dtype(self):
        import torch

        return getattr(torch, self.spec.precision)

    def input_dtype(self):
        """What inputs are cast to: the weights' dtype."""
        import torch

        return self.torch_dtype() if self.spec.cast_weights else torch.float32

    # -- preparing and running models -------------------------------------------------------

    def prepare(self, module, recipe: EngineRecipe) -> Callable[[Any], Any]:
        """`module` ready to run here: in eval mode on the device, weights cast where the
        backend keeps them in low precision; on TensorRT, the engine that `recipe` describes,
        from the engine cache or built now."""
        module = module.eval()
        if self.spec.tensorrt:
            from photoanalyzer.ml.tensorrt import engine_for

            return engine_for(module.to("cuda"), recipe, self)
        module = module.to(self.device)
        module = module.to(self.torch_dtype()) if self.spec.cast_weights else module
        if recipe.convolutional and self.spec.channels_last:
            return _ChannelsLast(module)
        return module

    def to_input(self, batch, scale: Callable[[Any], Any] | None = None):
        """A CPU batch moved to the device in the dtype the prepared models expect. Pixels
        travel as bytes (a quarter of the size) and `scale` turns them into the model's float
        input on the device, in float32, before the cast to the backend's dtype."""
        batch = batch.to(self.device, non_blocking=True)
        if scale is not None:
            batch = scale(batch.float())
        return batch.to(self.input_dtype())

    def synchronize(self) -> None:
        """Wait for queued GPU work, so that a stage's time is its own."""
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    @contextmanager
    def running(self) -> Iterator[None]:
        """The context every forward pass runs in: no autograd, autocast where it applies."""
        import torch

        with (
            torch.inference_mode(),
            torch.autocast(self.device, dtype=self.torch_dtype(), enabled=self.spec.autocast),
        ):
            yield

    def warm_up(self, run: Callable[[], Any]) -> None:
        """Call `run` (a pass at the largest batch) where a first pass is slow for reasons
        unrelated to the images: CUDA kernel selection, engine loading. On the CPU the first
        batch pays little, and warming up would only delay the start."""
        if self.device != "cuda":
            return
        run()
        self.synchronize()

    def gpu_uuid(self) -> str | None:
        """The UUID of the GPU this backend runs on (for NVML), None on the CPU."""
        if self.device != "cuda":
            return None
        from photoanalyzer.ml.gpu import cuda_device_uuid

        return cuda_device_uuid()

    def release_memory(self) -> None:
        import torch

        if self.device == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def fallback(self, reason: str) -> Backend | None:
        """The next backend to try after this one failed to build or at its first batch
        (with `reason`), or None when there is none to try."""
        if not self.fallbacks:
            return None
        skipped = {**self.skipped, self.name: reason}
        try:
            chosen = _first_working(self.fallbacks, self.probes or real_probes(), skipped, True)
        except BackendUnavailable:
            return None
        return replace(chosen, engine_dir=self.engine_dir, max_batch=self.max_batch)

    # -- reporting --------------------------------------------------------------------------

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


class _ChannelsLast:
    """A convolutional model with its weights, and every input it is given, in channels-last
    memory order (NHWC), which oneDNN's convolutions run faster than NCHW."""

    def __init__(self, module):
        import torch

        self._format = torch.channels_last
        self.module = module.to(memory_format=self._format)

    def __call__(self, batch):
        return self.module(batch.contiguous(memory_format=self._format))


def real_probes() -> Probes:
    import torch

    def import_tensorrt() -> object:
        import torch_tensorrt  # raises a plain Exception when its TensorRT libraries are missing

        return torch_tensorrt

    return Probes(
        cuda_available=torch.cuda.is_available,
        cuda_device_name=lambda: torch.cuda.get_device_name(torch.cuda.current_device()),
        import_tensorrt=import_tensorrt,
        cpu_has_bf16=cpu_has_native_bf16,
        bf16_agrees=bf16_agrees_with_fp32,
    )


def select_backend(
    requested: str = "auto",
    probes: Probes | None = None,
    engine_dir: Path | None = None,
    max_batch: int = 16,
) -> Backend:
    """The backend to run on: `requested` if it names one (or BackendUnavailable saying why
    not), else the first of the alias's backends that works, with the reasons the faster ones
    did not. Unknown names raise UnknownBackend."""
    check_name(requested)
    alias = requested in ALIASES
    candidates = ALIASES.get(requested, (requested,))
    chosen = _first_working(candidates, probes or real_probes(), {}, alias)
    return replace(chosen, engine_dir=engine_dir, max_batch=max_batch)


def _first_working(
    candidates: tuple[str, ...], probes: Probes, skipped: dict[str, str], alias: bool
) -> Backend:
    import torch

    skipped = dict(skipped)
    for position, name in enumerate(candidates):
        if name in skipped:
            continue
        reason = why_not(name, probes)
        if reason is None:
            spec = REGISTRY[name]
            cuda = spec.device == "cuda"
            return Backend(
                spec=spec,
                device_name=probes.cuda_device_name() if cuda else cpu_name(),
                torch_version=torch.__version__,
                cuda_version=torch.version.cuda,
                skipped=skipped,
                fallbacks=candidates[position + 1 :] if alias else (),
                probes=probes,
            )
        if not alias:
            raise BackendUnavailable(f"backend {name} is not available here: {reason}")
        skipped[name] = reason
    raise BackendUnavailable(
        "no backend available: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
    )


def why_not(name: str, probes: Probes) -> str | None:
    """None if `name` can run here, else the reason it cannot."""
    spec = REGISTRY[name]
    if spec.device == "cpu":
        if spec.precision == "bfloat16":
            if not probes.cpu_has_bf16():
                return "this CPU has no native bfloat16 instructions (AVX512-BF16 or AMX)"
            agrees, detail = probes.bf16_agrees()
            if not agrees:
                return f"bfloat16 results disagree with float32 here ({detail})"
        return None
    if not _safe(probes.cuda_available):
        return "no CUDA device (torch.cuda.is_available() is False)"
    if spec.tensorrt:
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
