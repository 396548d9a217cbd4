"""`photoanalyze doctor` and `photoanalyze models`: what this machine can run, and which
weights are where. Text only; the CLI prints it."""

from __future__ import annotations

from pathlib import Path

from photoanalyzer.config import Config
from photoanalyzer.ml.weights import (
    WeightsUnavailable,
    is_online,
    prepare_environment,
    resolve_clip,
    resolve_yolo,
)


def doctor(config: Config, models_dir: Path) -> str:
    prepare_environment(models_dir, offline=True)  # looking, not downloading
    from photoanalyzer.ml.decoder_plan import plan_for
    from photoanalyzer.pixels import plan as decoders

    lines = []
    decoder_lines = decoders.report(plan_for(config.ml.backend, engine=config.engine))
    try:
        import torch
    except ImportError:
        lines.append("torch is not installed: pip install 'photoanalyzer[ml]' for the ML phase")
        return "\n".join([*lines, decoder_lines])
    from photoanalyzer.ml.backends import (
        REGISTRY,
        BackendUnavailable,
        real_probes,
        select_backend,
        why_not,
    )

    lines.append(f"torch {torch.__version__} (built for CUDA {torch.version.cuda or 'none'})")
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        lines.append(f"GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB")
    else:
        lines.append("GPU: none usable (torch.cuda.is_available() is False)")
    probes = real_probes()
    try:
        probes.import_tensorrt()
        lines.append("TensorRT: torch_tensorrt imports")
    except Exception as exc:  # a plain Exception when its libraries are missing
        lines.append(f"TensorRT: not available ({type(exc).__name__}: {exc})".strip())
    lines.append("Backends, fastest first:")
    for name, spec in REGISTRY.items():
        reason = why_not(name, probes)
        verdict = "available" if reason is None else f"no: {reason}"
        lines.append(f"  {name:<14} {spec.summary}: {verdict}")
    try:
        backend = select_backend(config.ml.backend)
        lines.append(f"ML backend ({config.ml.backend}): " + backend.describe())
    except BackendUnavailable as exc:
        lines.append(f"ML backend ({config.ml.backend}): unavailable: {exc}")
    lines.append(models_report(config, models_dir))
    lines.append(decoder_lines)
    return "\n".join(lines)


def models_report(config: Config, models_dir: Path) -> str:
    lines = [f"Model cache: {models_dir}"]
    clip, yolo = config.ml.clip, config.ml.yolo
    checks = (
        (
            f"CLIP {clip.model} ({clip.pretrained})",
            lambda: resolve_clip(clip.model, clip.pretrained, models_dir, offline=True),
        ),
        (
            f"YOLO {yolo.model} ({yolo.weights})",
            lambda: resolve_yolo(yolo.model, yolo.weights, models_dir, offline=True),
        ),
    )
    for label, resolve in checks:
        try:
            weights = resolve()
            where = "RANDOM weights (for tests and speed only)" if weights.random else weights.path
            lines.append(f"  {label}: available: {where}")
        except WeightsUnavailable as exc:
            lines.append(f"  {label}: MISSING: {exc}")
    return "\n".join(lines)


def fetch(config: Config, models_dir: Path) -> str:
    """Download the configured weights into the cache (needs network)."""
    if config.ml.offline or not is_online():
        raise WeightsUnavailable(
            "no network (huggingface.co is unreachable): fetch on a machine with network, copy "
            "the files here and run `photoanalyze models import FILE --for clip|yolo`"
        )
    prepare_environment(models_dir, offline=False)
    clip, yolo = config.ml.clip, config.ml.yolo
    found = [
        resolve_clip(clip.model, clip.pretrained, models_dir, offline=False),
        resolve_yolo(yolo.model, yolo.weights, models_dir, offline=False),
    ]
    return "\n".join(weights.describe() for weights in found)
