"""The interface every phase implements, and the guard that turns any exception from a reader
into a per-file error record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Outcome:
    """What a phase says about one file: its fields (possibly partial) and/or an error."""

    record: dict[str, Any] | None
    error: str | None = None


class Phase(Protocol):
    name: str
    # Changes whenever anything that changes the output changes; a file is pending for the
    # phase while it has no result of this exact version.
    version: str
    kinds: frozenset[str]  # which file kinds ("photo", "video") the phase handles
    workers: int  # processes to spread files over; 1 runs in the calling process

    def analyze(self, path: str) -> Outcome: ...


def describe_exception(exc: BaseException) -> str:
    message = str(exc).strip() or "(no message)"
    return f"{type(exc).__name__}: {message}"


def analyze_safely(phase: Phase, path: str) -> Outcome:
    """phase.analyze(path), with any exception recorded as the file's error. Readers of
    untrusted files raise anything (IndexError, struct.error, MemoryError, ...): none may stop
    the scan."""
    try:
        return phase.analyze(path)
    except Exception as exc:
        return Outcome(None, describe_exception(exc))
