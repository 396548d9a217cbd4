"""Engines: where a phase's analysis runs. The pipeline decides what is pending and stores
what comes back with its batch writer; an engine only turns a phase's pending files into
(position in the pending list, Outcome) pairs, in any order. `local` (the default) runs in
this process and its worker processes; `ray` runs on a Ray cluster (run/ray_engine.py)
and is imported only when asked for, so that a local run never imports Ray."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from photoanalyzer.catalog import PendingFile
from photoanalyzer.errors import UsageError
from photoanalyzer.phases.base import BatchPhase, Outcome, Phase, WorkItem

ENGINES = ("local", "ray")
RAY_MISSING = (
    "--engine ray needs Ray Data: install it with pip install 'photoanalyzer[ray]' "
    "(or pip install 'ray[data]')"
)


class Engine(Protocol):
    name: str

    def outcomes(
        self,
        phase: Phase | BatchPhase,
        pending: list[PendingFile],
        items: Callable[[], list[WorkItem]],
        details: dict[str, Any],
    ) -> Iterator[tuple[int, Outcome]]:
        """One (position in `pending`, outcome) per pending file, in any order. `items` gives
        the pending files with what earlier phases stored (for batch phases); `details` is
        the phase's run details, which the engine may add to."""
        ...

    def close(self) -> None: ...


def open_engine(name: str, ray_options: Any = None, address: str | None = None) -> Engine:
    """The engine called `name`; UsageError when it is unknown or Ray is not installed."""
    if name == "local":
        from photoanalyzer.run.local import LocalEngine

        return LocalEngine()
    if name != "ray":
        raise UsageError(f"unknown engine '{name}' (engines: {', '.join(ENGINES)})")
    try:
        import ray.data  # noqa: F401  (Ray Data's own dependencies, pyarrow and pandas, too)
    except ImportError as exc:
        raise UsageError(RAY_MISSING) from exc
    from photoanalyzer.run.ray_engine import RayEngine

    return RayEngine(ray_options, address)
