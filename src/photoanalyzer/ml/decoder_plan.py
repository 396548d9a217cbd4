"""The content phase's decoder plan for a configured ML backend: GPU decoders only where that
backend runs on CUDA and a probe, in a spawned process that selects the backend as the ML
phase will, decoded a real picture with each (pixels/plan.py has the plan and the probes)."""

from __future__ import annotations

from collections.abc import Callable

from photoanalyzer.ml.backends import REGISTRY
from photoanalyzer.pixels import plan
from photoanalyzer.pixels.plan import DecodePlan, GpuProbe, plan_decoders


def plan_for(
    ml_backend: str, probe: Callable[[str], GpuProbe] | None = None, engine: str = "local"
) -> DecodePlan:
    """The plan for a configured ML backend name and engine. Without an NVIDIA driver no
    probe runs (and torch is not imported): the CPU plan, saying so. The Ray engine's
    content tasks reserve no GPU, and a probe here would test the driver's machine, not
    theirs: the CPU plan, saying so."""
    if engine == "ray":
        return DecodePlan(why_not={"nvjpeg": plan.RAY_REASON, "nvdec": plan.RAY_REASON})

    if ml_backend in REGISTRY and REGISTRY[ml_backend].device != "cuda":
        return plan_decoders(GpuProbe(REGISTRY[ml_backend].device))
    if probe is None:
        if not plan.nvidia_driver_present():  # tests replace it there
            return plan_decoders(GpuProbe("cpu", "no NVIDIA driver on this machine"))
        probe = probe_in_subprocess
    return plan_decoders(probe(ml_backend))


def probe_in_subprocess(ml_backend: str) -> GpuProbe:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(probe_gpu, ml_backend).result(timeout=120)
        except Exception as exc:  # a probe that crashes or hangs leaves the CPU decoders
            return GpuProbe("cpu", f"the GPU probe failed ({type(exc).__name__}: {exc})")


def probe_gpu(ml_backend: str) -> GpuProbe:
    """Runs in the spawned process: select the ML backend as the ML phase will, then decode a
    small JPEG with nvJPEG and a small HEIC with NVDEC."""
    from photoanalyzer.ml.backends import BackendUnavailable, select_backend

    try:
        device = select_backend(ml_backend).device
    except BackendUnavailable as exc:
        return GpuProbe("cpu", f"no ML backend: {exc}")
    if device != "cuda":
        return GpuProbe(device)
    return plan.probe_gpu_decoders(device)
