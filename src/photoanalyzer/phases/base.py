"""The interface every phase implements, and the guard that turns any exception from a reader
into a per-file error record."""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from PIL import UnidentifiedImageError

from photoanalyzer.catalog.results import MAX_TRIES
from photoanalyzer.errors import DecoderMissing


@dataclass(frozen=True)
class Outcome:
    """What a phase says about one file: its fields (possibly partial) and/or an error."""

    record: dict[str, Any] | None
    error: str | None = None
    # False: the failure was not the file's fault (the environment failed: file gone,
    # permission, I/O error, memory), so the file stays pending and the next run tries it
    # again. A phase that cannot run at all writes no outcome (run/pipeline.py).
    final: bool = True
    # Set on a non-final error that happened while reading this file (out of memory, an I/O
    # error): the error it becomes when the unchanged file has failed this way in
    # catalog.results.MAX_TRIES runs in a row. None: retried until the cause is fixed.
    final_error: str | None = None


class PhaseUnavailable(RuntimeError):
    """The whole phase cannot run (weights missing, no backend); the message says how to
    fix it. Its pending files are marked with the message and stay pending."""


class PhaseSkipped(PhaseUnavailable):
    """The phase needs an optional extra that is not installed (the faces phase without
    `photoanalyzer[faces]`): the run skips it with one line naming the extra, writes nothing
    for its files (they stay pending, with no error of their own) and is not a failure."""


class Phase(Protocol):
    """A phase that reads one file at a time; the pipeline spreads files over processes."""

    name: str
    # Changes whenever anything that changes the output changes; a file is pending for the
    # phase while it has no result of this exact version.
    version: str
    kinds: frozenset[str]  # which file kinds ("photo", "video") the phase handles
    workers: int  # processes to spread files over; 0 one per core, 1 the calling process
    # Below this many pending files a worker pool costs more to start than it saves: many
    # for a phase that takes a millisecond a file, few for one that takes a hundred.
    min_files_for_workers: int

    # `kind` is the scan's decision (photo or video), which every phase follows.
    def analyze(self, path: str, kind: str) -> Outcome: ...


class StoredMetadata(NamedTuple):
    """The metadata phase's position and capture time of a file, for the places phase (a
    NamedTuple: a first run makes one per file, and it is cheaper to build than a frozen
    dataclass)."""

    gps: tuple[float, float, float | None] | None = None  # latitude, longitude, altitude
    taken_at: str | None = None  # naive local wall-clock time (ISO 8601)
    taken_at_offset: str | None = None
    taken_at_utc: str | None = None
    taken_at_offset_source: str | None = None  # exif, video-utc, gps-utc, none (exif.py)


@dataclass(frozen=True)
class StoredInputs:
    """What earlier phases stored about a file, as far as a later phase reads it."""

    thumbnail: str | None = None  # the content phase's thumbnail, relative to its folder
    stored_size: tuple[int, int] | None = None  # the metadata phase's width and height
    # A video's analyzed frames: (frame number, seconds, thumbnail), in order.
    frames: tuple[tuple[int, float, str | None], ...] = ()
    # None while the metadata phase has not finished on the file as it is now (it has not
    # run since the file changed, or could not read it for a reason that was not the
    # file's); a file it finished on with a final error has an empty StoredMetadata.
    metadata: StoredMetadata | None = None


@dataclass(frozen=True)
class WorkItem:
    """One pending file as the pipeline hands it to a batch phase."""

    path: str
    kind: str  # "photo" or "video", as the scan decided
    stored: StoredInputs = StoredInputs()


@runtime_checkable
class BatchPhase(Protocol):
    """A phase that works on batches in the calling process (the ML phase). It streams one
    outcome per item, in order, and may raise PhaseUnavailable before the first. What it
    reports about the run as a whole (backend, rates, stage times) goes into `details`, a
    dict the pipeline owns and stores with the run."""

    name: str
    version: str
    kinds: frozenset[str]

    def analyze_stream(
        self, items: list[WorkItem], details: dict[str, Any]
    ) -> Iterator[Outcome]: ...


EMPTY_FILE = "empty file (0 bytes)"


class EmptyFile(ValueError):
    """The file has no bytes: said as such by every phase, not as the decoder's guess."""

    def __init__(self) -> None:
        super().__init__(EMPTY_FILE)


def refuse_empty(path: str) -> None:
    """EmptyFile when the file at `path` has 0 bytes (an interrupted copy, a placeholder)."""
    if os.stat(path).st_size == 0:
        raise EmptyFile()


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, EmptyFile):
        return EMPTY_FILE
    if isinstance(exc, UnidentifiedImageError):
        # Pillow's own text repeats the path (already in the record) or a file object's repr.
        return "cannot identify image: not a readable image (corrupt or mislabelled)"
    message = str(exc).strip() or "(no message)"
    return f"{type(exc).__name__}: {message}"


RETRY_NOTE = "not the file's fault: it stays pending and the next run tries it again"
COUNTED_RETRY_NOTE = (
    f"it stays pending and the next run tries it again, up to {MAX_TRIES} runs in a row"
)
GAVE_UP_NOTE = (
    f"the same in {MAX_TRIES} runs in a row on the unchanged file: not tried again until it"
    " changes (or a --full run)"
)
# Errors that say where the file is, not what it holds: it vanished, its permissions, a
# network file system away. Retried until fixed (a chmod changes no size or mtime, so a
# final error would outlive the fix); never counted against the file.
_UNREACHABLE = frozenset(
    {
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EACCES,
        errno.EPERM,
        errno.ESTALE,
        errno.ENOTCONN,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.ENODEV,
        errno.ENXIO,
    }
)


def outcome_for_exception(exc: BaseException) -> Outcome:
    """The outcome of a file whose reading raised `exc`. Errors of the environment (the file
    vanished, permission denied, I/O or network-filesystem errors, out of memory) are not
    final: a failed file is otherwise not retried until it changes, so a disk hiccup would
    lose it for good. Errors of the file's content (cannot identify, truncated, bad data)
    are final. Every phase, the ML phase included, classifies through here.

    Out of memory and I/O errors while reading the file may be the file's doing (a size
    field of 4 GiB, a bad sector): each is retried, and once it has happened in MAX_TRIES
    runs in a row on the unchanged file (the catalog counts), `final_error` is stored as the
    file's final error, so that a file is not read again every night and never shown as
    failed."""
    if is_environment_error(exc):
        described = describe_exception(exc)
        if counts_against_file(exc):
            return Outcome(
                None,
                f"{described} ({COUNTED_RETRY_NOTE})",
                final=False,
                final_error=f"{described} ({GAVE_UP_NOTE})",
            )
        return Outcome(None, f"{described} ({RETRY_NOTE})", final=False)
    return Outcome(None, describe_exception(exc))


def counts_against_file(exc: BaseException) -> bool:
    """True for environment errors that may be the file's doing (out of memory, I/O errors
    other than the file being unreachable); False for a missing decoder and for errors that
    say the file cannot be reached."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, OSError) and exc.errno is not None and exc.errno not in _UNREACHABLE


def is_environment_error(exc: BaseException) -> bool:
    """True for failures that say nothing about the file's content. Pillow raises plain
    OSError for broken data ("image file is truncated", "broken data stream") and
    UnidentifiedImageError (an OSError) for unknown formats, all without an errno; the
    operating system always sets one (ENOENT, EIO, ESTALE, EACCES ...). A decoder that is not
    installed (rawpy) is the machine's lack, not the file's."""
    if isinstance(exc, MemoryError | DecoderMissing):
        return True
    if isinstance(exc, UnidentifiedImageError):
        return False
    return isinstance(exc, OSError) and exc.errno is not None


def analyze_safely(phase: Phase, path: str, kind: str) -> Outcome:
    """phase.analyze(path, kind), with any exception recorded as the file's error. Readers of
    untrusted files raise anything (IndexError, struct.error, MemoryError, ...): none may stop
    the scan."""
    try:
        with warnings.catch_warnings():
            # Decoders warn about what they find odd in a file ("Truncated File Read",
            # "Corrupt EXIF data"); the outcome reports what matters, and warnings printed by
            # worker processes would only tear the progress bar.
            warnings.simplefilter("ignore")
            return phase.analyze(path, kind)
    except Exception as exc:
        return outcome_for_exception(exc)
