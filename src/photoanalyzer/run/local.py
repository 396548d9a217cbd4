"""The local engine: per-file phases in worker processes of this machine (a file that kills
its worker becomes that file's error), batch phases in this process."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

from photoanalyzer.catalog import PendingFile
from photoanalyzer.library.pairs import role
from photoanalyzer.phases.base import BatchPhase, Outcome, Phase, WorkItem, analyze_safely

WORKER_CRASH = (
    "the reader crashed while reading this file (its worker process died); the file is "
    "probably corrupt"
)


class LocalEngine:
    name = "local"

    def outcomes(
        self,
        phase: Phase | BatchPhase,
        pending: list[PendingFile],
        items: Callable[[], list[WorkItem]],
        details: dict[str, Any],
    ) -> Iterator[tuple[int, Outcome]]:
        """Batch phases stream their own outcomes from work items that carry what earlier
        phases stored (thumbnails, sizes, video frames); per-file phases go through worker
        processes. Both in order."""
        if isinstance(phase, BatchPhase):
            return enumerate(phase.analyze_stream(items(), details))
        return enumerate(analyze_all(phase, [(item.path, item.kind) for item in pending]))

    def close(self) -> None:
        pass


def analyze_all(phase: Phase, files: list[tuple[str, str]]) -> Iterator[Outcome]:
    """Outcomes for `files` (path, kind), in order; spread over worker processes when there
    are enough. A file that kills its worker (a crash inside a native decoder) becomes that
    file's error and the rest go on."""
    workers = phase.workers or os.cpu_count() or 1
    if workers <= 1 or len(files) < phase.min_files_for_workers:
        for path, kind in files:
            yield analyze_safely(phase, path, kind)
        return
    chunksize = max(1, min(64, len(files) // (workers * 8)))
    done = 0
    while done < len(files):
        try:
            for outcome in _pool_map(phase, files[done:], workers, chunksize):
                yield outcome
                done += 1
        except BrokenProcessPool:
            # The culprit is among the files that were handed to workers but not returned:
            # at most (workers + 1) chunks. Read each of those alone to find it.
            suspects = files[done : done + (workers + 1) * chunksize]
            for outcome in _isolated(phase, suspects):
                yield outcome
                done += 1


def _pool_map(
    phase: Phase, files: list[tuple[str, str]], workers: int, chunksize: int
) -> Iterator[Outcome]:
    executor = ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, mp_context=_pool_context(phase, files)
    )
    paths, kinds = [path for path, _ in files], [kind for _, kind in files]
    try:
        yield from executor.map(partial(analyze_safely, phase), paths, kinds, chunksize=chunksize)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _isolated(phase: Phase, files: list[tuple[str, str]]) -> Iterator[Outcome]:
    for path, kind in files:
        with ProcessPoolExecutor(
            max_workers=1, initializer=_init_worker, mp_context=_pool_context(phase, files)
        ) as executor:
            try:
                yield executor.submit(analyze_safely, phase, path, kind).result()
            except BrokenProcessPool:
                yield Outcome(None, WORKER_CRASH)


def _pool_context(phase: Phase, files: list[tuple[str, str]]):
    """Workers are forked (cheap, nothing to re-import), except where a pixel phase has RAW
    files to decode: rawpy's LibRaw runs OpenMP, and a process forked from one where OpenMP
    has run (this process, when its ML phase or a search decoded a RAW) hangs in its first
    parallel region. Those get workers from a forkserver: a clean process started once, which
    has never run OpenMP. (The metadata phase reads RAW containers without LibRaw.)"""
    import multiprocessing

    # By extension, and TIFF too: a DNG saved as .tif is a RAW by content (pixels.load).
    raws = any(role(path) == "raw" or path.lower().endswith((".tif", ".tiff")) for path, _ in files)
    if raws and getattr(phase, "reads_pixels", False):
        return multiprocessing.get_context("forkserver")
    # CUDA does not survive a fork either: once this process has initialized it (an ML phase
    # or a warm-up ran here), forked workers cannot use nvJPEG or NVDEC.
    if getattr(getattr(phase, "decode_plan", None), "on_gpu", False):
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context()  # the platform's default: fork on Linux


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group, and so does SIGTERM from `timeout`, systemd or a
    # scheduler; only the parent handles them, so that it can store what is done and stop the
    # workers in order. A worker that died of SIGTERM would break the pool, and the files in
    # flight would be recorded as crashing their reader; one that inherited the parent's
    # handler would hand an interruption back as its result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    # Workers only decode; the parent owns the terminal (summary, progress bars). Outcomes
    # and crashes come back through the pool, so nothing a worker could print is needed.
    stderr_to_devnull()


def stderr_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _die_with_parent() -> None:
    """If the run is killed (kill -9), its workers would wait for work forever: the other
    workers hold the task pipe open. On Linux, ask the kernel to end this worker with its
    parent; elsewhere the workers end when their pipe breaks."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
