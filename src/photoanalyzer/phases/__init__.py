"""Analysis phases. Each is a small object with a name, a version and `analyze(path)`; the
pipeline decides what is pending and the catalog stores what comes back."""

from __future__ import annotations

from collections.abc import Callable

from photoanalyzer.config import Config
from photoanalyzer.errors import UsageError
from photoanalyzer.phases.base import Outcome, Phase

# Every phase the program knows of, in the order they run. Later phases read what earlier ones
# stored, so a run always performs the phases it was asked for in this order.
PHASE_ORDER = ("metadata", "content", "ml")

__all__ = ["IMPLEMENTED", "PHASE_ORDER", "Outcome", "Phase", "build_phases", "parse_phase_list"]


def parse_phase_list(text: str) -> tuple[str, ...]:
    """'metadata,content' -> ('metadata', 'content'), checked against the known phases."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise UsageError("--phases needs at least one phase name, for example --phases metadata")
    return names


def build_phases(names: tuple[str, ...], config: Config) -> list[Phase]:
    """Phase objects for `names`, in run order; unknown and unbuilt phases are refused."""
    for name in names:
        if name not in PHASE_ORDER:
            raise UsageError(f"unknown phase '{name}' (phases: {', '.join(PHASE_ORDER)})")
        if name not in _FACTORIES:
            raise UsageError(
                f"the '{name}' phase is not available in this version yet "
                f"(available: {', '.join(IMPLEMENTED)}); run with --phases {','.join(IMPLEMENTED)}"
            )
    return [_FACTORIES[name](config) for name in PHASE_ORDER if name in names]


def _metadata_phase(config: Config) -> Phase:
    # Imported here: the phase pulls in exifread and Pillow, which `--help` skips.
    from photoanalyzer.phases.metadata import MetadataPhase

    return MetadataPhase(workers=config.metadata.workers)


_FACTORIES: dict[str, Callable[[Config], Phase]] = {"metadata": _metadata_phase}
IMPLEMENTED = tuple(name for name in PHASE_ORDER if name in _FACTORIES)
