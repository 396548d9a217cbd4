"""Analysis phases. Each is a small object with a name, a version and `analyze(path)`; the
pipeline decides what is pending and the catalog stores what comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from photoanalyzer.config import Config
from photoanalyzer.errors import UsageError
from photoanalyzer.phases.base import BatchPhase, Outcome, Phase

# Every phase the program knows of, in the order they run. Later phases read what earlier ones
# stored, so a run always performs the phases it was asked for in this order.
PHASE_ORDER = ("metadata", "places", "content", "faces", "ml", "text")


@dataclass(frozen=True)
class PhaseContext:
    """What phases are built from: the configuration and the folders they may write to."""

    config: Config
    thumbnail_dir: Path
    models_dir: Path
    # False where phases are built only for their names, kinds and versions (status,
    # report): the content phase then keeps the CPU decoders instead of starting the GPU
    # probe (a CUDA subprocess of up to 120 s). No version depends on the decoders.
    probe_decoders: bool = True


__all__ = [
    "IMPLEMENTED",
    "PHASE_ORDER",
    "Outcome",
    "Phase",
    "PhaseContext",
    "build_phases",
    "parse_phase_list",
]


def parse_phase_list(text: str) -> tuple[str, ...]:
    """'metadata,content' -> ('metadata', 'content'), checked against the known phases."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise UsageError("--phases needs at least one phase name, for example --phases metadata")
    return names


def build_phases(names: tuple[str, ...], context: PhaseContext) -> list[Phase | BatchPhase]:
    """Phase objects for `names`, in run order; unknown and unbuilt phases are refused."""
    for name in names:
        if name not in PHASE_ORDER:
            raise UsageError(f"unknown phase '{name}' (phases: {', '.join(PHASE_ORDER)})")
        if name not in _FACTORIES:
            raise UsageError(
                f"the '{name}' phase is not available in this version yet "
                f"(available: {', '.join(IMPLEMENTED)}); run with --phases {','.join(IMPLEMENTED)}"
            )
    return [_FACTORIES[name](context) for name in PHASE_ORDER if name in names]


def _metadata_phase(context: PhaseContext) -> Phase:
    # Imported here, as every phase is: `--help` and the commands that read the catalog build
    # no phase.
    from photoanalyzer.phases.metadata import MetadataPhase

    return MetadataPhase(workers=context.config.metadata.workers)


def _places_phase(context: PhaseContext) -> BatchPhase:
    # Its version includes the metadata phase's: it derives from what that phase stored.
    from photoanalyzer.phases.metadata import MetadataPhase
    from photoanalyzer.phases.places import PlacesPhase

    return PlacesPhase(metadata_version=MetadataPhase.version)


def _content_phase(context: PhaseContext) -> Phase:
    from photoanalyzer.ml.decoder_plan import plan_for
    from photoanalyzer.phases.content import ContentPhase
    from photoanalyzer.pixels.plan import CPU_PLAN

    config = context.config
    plan = CPU_PLAN
    if context.probe_decoders:  # GPU decoders where ML is on CUDA
        plan = plan_for(config.ml.backend, engine=config.engine)
    return ContentPhase(config.content, str(context.thumbnail_dir), decode_plan=plan)


def _faces_phase(context: PhaseContext) -> Phase:
    # Builds without dlib (status and report read its name and version); a run without the
    # faces extra skips it with one line (FacesPhase.check_available). The thumbnail folder:
    # its first look is on the content phase's thumbnails; the models folder: dlib's HOG
    # detector is kept there in a form that loads quickly.
    from photoanalyzer.phases.faces import FacesPhase

    config = context.config
    folders = {"thumbnail_dir": str(context.thumbnail_dir), "models_dir": str(context.models_dir)}
    return FacesPhase(config.faces, config.content, **folders)


def _ml_phase(context: PhaseContext) -> BatchPhase:
    from photoanalyzer.phases.ml import MlPhase

    config = context.config
    return MlPhase(config.ml, config.content, str(context.thumbnail_dir), str(context.models_dir))


def _text_phase(context: PhaseContext) -> BatchPhase:
    from photoanalyzer.phases.text import TextPhase

    return TextPhase(
        context.config.content, str(context.thumbnail_dir), models_dir=str(context.models_dir)
    )


_FACTORIES: dict[str, Callable[[PhaseContext], Phase | BatchPhase]] = {
    "metadata": _metadata_phase,
    "places": _places_phase,
    "content": _content_phase,
    "faces": _faces_phase,
    "ml": _ml_phase,
    "text": _text_phase,
}
IMPLEMENTED = tuple(name for name in PHASE_ORDER if name in _FACTORIES)
