"""One run: walk the folders, reconcile the walk with the catalog, then for each phase take
the pending files, analyze them (in worker processes where that pays) and store the outcomes
in batches. Data flows one way: scan -> catalog -> phase -> catalog."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import TextIO

from tqdm import tqdm

from photoanalyzer.catalog import Catalog, PendingFile, PhaseRecord, ResultRow, SyncCounts
from photoanalyzer.config import CatalogOptions, Config
from photoanalyzer.pairs import left_out, role
from photoanalyzer.phases.base import (
    BatchPhase,
    Outcome,
    Phase,
    PhaseUnavailable,
    StoredInputs,
    StoredMetadata,
    WorkItem,
    analyze_safely,
    describe_exception,
)
from photoanalyzer.reconcile import reconcile
from photoanalyzer.scan import ScanProblem, scan

WORKER_CRASH = (
    "the reader crashed while reading this file (its worker process died); the file is "
    "probably corrupt"
)
# The run report keeps this many error examples per phase; the catalog keeps all of them.
MAX_ERROR_SAMPLES = 50


@dataclass
class PhaseReport:
    name: str
    version: str
    processed: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_samples: list[tuple[str, str]] = field(default_factory=list)
    failure: str | None = None  # why the whole phase could not run, if it could not
    left_pending: int = 0  # files the failure left for the next run
    details: dict = field(default_factory=dict)  # backend, weights, GPU: what the phase reports

    def count(self, path: str, outcome: Outcome) -> None:
        self.processed += 1
        if outcome.error:
            self.errors += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append((path, outcome.error))


@dataclass
class RunReport:
    run_id: int
    catalog_path: str
    roots: list[str]
    sync: SyncCounts
    scan_seconds: float
    scan_problems: list[ScanProblem]
    phases: list[PhaseReport]


def index(
    roots: list[str],
    phases: list[Phase | BatchPhase],
    config: Config,
    catalog_path: Path,
    *,
    full: bool = False,
    wait: bool = False,
    show_progress: bool = False,
    note: Callable[[str], None] = lambda _: None,
) -> RunReport:
    """One whole run as `photoanalyze run` and `benchmark` make it: take the catalog's run
    lock (CatalogLocked, or wait), open (or create) the catalog, mark runs that died as
    crashed, and index. SIGTERM (cron, systemd, `timeout`) stops the run like Ctrl-C: a
    KeyboardInterrupt propagates after the finished files are stored."""
    from photoanalyzer.locking import RunLock, lock_path

    with RunLock(lock_path(catalog_path)).acquire(wait=wait) as lock:
        if lock.previous_holder:
            note(
                f"note: the previous run (pid {lock.previous_holder.get('pid')}) ended "
                "without finishing; its committed work is kept"
            )
        catalog = Catalog(catalog_path)
        catalog.runs.mark_abandoned()
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            return run(roots, phases, catalog, config, full=full, show_progress=show_progress)
        finally:
            signal.signal(signal.SIGTERM, previous)
            catalog.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(
    roots: list[str],
    phases: list[Phase | BatchPhase],
    catalog: Catalog,
    config: Config,
    *,
    full: bool = False,
    show_progress: bool = False,
) -> RunReport:
    """Index `roots` into an open `catalog` with `phases`. A KeyboardInterrupt propagates after the
    finished part of the current batch is stored and the run is recorded as interrupted."""
    roots = list(dict.fromkeys(os.path.abspath(root) for root in roots))  # each root once
    run_id = catalog.runs.start(roots, [phase.name for phase in phases])
    status = "interrupted"
    try:
        started = perf_counter()
        walk = scan(roots, config.scan)
        scan_seconds = perf_counter() - started
        reconciled = reconcile(catalog, run_id, roots, walk, scan_seconds)
        seen = {entry.path for entry in walk.files}
        reports = []
        for phase in phases:
            kinds = phase.kinds & set(config.kinds)
            pending = (
                catalog.results.pending(phase.name, phase.version, kinds, seen, full)
                if kinds
                else []
            )
            if getattr(phase, "reads_pixels", False):
                pending = _without_left_out_pairs(pending, catalog, config.scan.raw_pairs)
            reports.append(
                _run_phase(phase, pending, catalog, run_id, config.catalog_options, show_progress)
            )
        status = "completed"
    except KeyboardInterrupt:
        raise
    except BaseException:
        status = "failed"  # the scan or the catalog itself: the error ends the command
        raise
    finally:
        catalog.runs.finish(run_id, status)
    return RunReport(
        run_id,
        str(catalog.path),
        roots,
        reconciled.counts,
        scan_seconds,
        reconciled.problems,
        reports,
    )


def _without_left_out_pairs(
    pending: list[PendingFile], catalog: Catalog, mode: str
) -> list[PendingFile]:
    """The pending files less the halves of RAW+JPEG pairs that scan.raw_pairs leaves out of
    the pixel phases. They stay pending: a later run with `both` analyzes them."""
    excluded = left_out(catalog, mode)
    return [item for item in pending if item.file_id not in excluded] if excluded else pending


def _run_phase(
    phase: Phase | BatchPhase,
    pending: list[PendingFile],
    catalog: Catalog,
    run_id: int,
    commits: CatalogOptions,
    show_progress: bool,
) -> PhaseReport:
    report = PhaseReport(phase.name, phase.version)
    writer = _BatchWriter(catalog, run_id, phase, commits)
    started = perf_counter()
    with native_stderr_silenced() as terminal:
        bar = tqdm(
            total=len(pending),
            desc=phase.name,
            unit="file",
            disable=not show_progress,
            file=terminal,
            dynamic_ncols=True,
        )
        _analyze_and_store(phase, pending, catalog, writer, report, bar)
    report.seconds = perf_counter() - started
    catalog.runs.record_phase(
        run_id,
        PhaseRecord(
            phase.name,
            phase.version,
            report.processed,
            report.errors,
            report.seconds,
            report.failure,
            report.details,
        ),
    )
    return report


def _analyze_and_store(
    phase: Phase | BatchPhase,
    pending: list[PendingFile],
    catalog: Catalog,
    writer: _BatchWriter,
    report: PhaseReport,
    bar: tqdm,
) -> None:
    try:
        outcomes = _outcomes(phase, pending, catalog, report.details)
        outcomes = _stopping_cleanly(phase, outcomes, report.details)
        try:
            for item, outcome in zip(pending, outcomes, strict=True):
                writer.add(item.file_id, outcome)
                report.count(item.path, outcome)
                bar.update()
        except PhaseUnavailable as exc:
            # The files not reached are stored as not their fault: the reason becomes the error
            # of those with no status yet, the others keep what they had; pending stays pending.
            report.failure = str(exc)
            left = pending[report.processed :]
            report.left_pending = len(left)
            for item in left:
                writer.add(item.file_id, Outcome(None, str(exc), final=False))
    finally:
        # Also on Ctrl-C: what was analyzed is kept, so the next run resumes after it.
        bar.close()
        writer.flush()


def _stopping_cleanly(
    phase: Phase | BatchPhase, outcomes: Iterator[Outcome], details: dict
) -> Iterator[Outcome]:
    """The phase's outcomes; an exception the phase did not expect (a bug, a library
    failing in a new way) ends the phase as if it could not run, with the reason (and the
    traceback in the run's details), instead of ending the night's run: the files left stay
    pending and the other phases still run. Errors of the catalog are not caught here: they
    happen in the caller, which writes the outcomes."""
    try:
        yield from outcomes
    except (PhaseUnavailable, KeyboardInterrupt):
        raise
    except Exception as exc:
        details["traceback"] = traceback.format_exc()
        raise PhaseUnavailable(
            f"the {phase.name} phase stopped on an unexpected error: {describe_exception(exc)}"
            " (please report it with the traceback that `photoanalyze status --json` shows)"
        ) from exc


class _BatchWriter:
    """Collects outcomes and commits them every `commit_every` files or `commit_seconds`,
    whichever comes first: a crash loses at most one batch, and a slow phase still commits."""

    def __init__(self, catalog: Catalog, run_id: int, phase: Phase, commits: CatalogOptions):
        self.catalog, self.run_id, self.phase, self.commits = catalog, run_id, phase, commits
        self.batch: list[tuple[int, Outcome]] = []
        self.last_commit = perf_counter()

    def add(self, file_id: int, outcome: Outcome) -> None:
        self.batch.append((file_id, outcome))
        due = perf_counter() - self.last_commit >= self.commits.commit_seconds
        if len(self.batch) >= self.commits.commit_every or due:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            rows = [ResultRow(i, o.record, o.error, o.final) for i, o in self.batch]
            self.catalog.results.save(self.run_id, self.phase.name, self.phase.version, rows)
            self.batch = []
        self.last_commit = perf_counter()


def _outcomes(
    phase: Phase | BatchPhase, pending: list[PendingFile], catalog: Catalog, details: dict
) -> Iterator[Outcome]:
    """Batch phases stream their own outcomes from work items that carry what earlier phases
    stored (thumbnails, sizes, video frames); per-file phases go through worker processes."""
    if isinstance(phase, BatchPhase):
        return phase.analyze_stream(work_items(pending, catalog), details)
    return analyze_all(phase, [(item.path, item.kind) for item in pending])


def work_items(pending: list[PendingFile], catalog: Catalog) -> list[WorkItem]:
    """The pending files with what the metadata and content phases stored for them."""
    stored = catalog.results.stored_inputs([item.file_id for item in pending])
    return [WorkItem(item.path, item.kind, _stored(stored.get(item.file_id))) for item in pending]


def _stored(row: dict | None) -> StoredInputs:
    if row is None:
        return StoredInputs()
    size = (row["width"], row["height"]) if row["width"] and row["height"] else None
    return StoredInputs(row["thumbnail"], size, tuple(row["frames"]), _metadata(row["metadata"]))


def _metadata(facts: dict | None) -> StoredMetadata | None:
    if facts is None:
        return None
    lat, lon = facts["gps_lat"], facts["gps_lon"]
    gps = (lat, lon, facts["gps_alt"]) if lat is not None and lon is not None else None
    return StoredMetadata(
        gps,
        facts["taken_at"],
        facts["taken_at_offset"],
        facts["taken_at_utc"],
        facts["taken_at_offset_source"],
    )


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

    raws = any(role(path) == "raw" for path, _ in files)
    if raws and getattr(phase, "reads_pixels", False):
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
    _stderr_to_devnull()


@contextmanager
def native_stderr_silenced() -> Iterator[TextIO]:
    """Point file descriptor 2 at /dev/null while a phase runs, and yield a stream on the real
    stderr for the progress bar. libtiff ("Fax3Decode2D: Bad code word") and libjpeg ("Bogus
    marker length") write their warnings to fd 2 from C, past sys.stderr and warning filters,
    hundreds of lines for one bad file, from this process and from the ML phase's loader
    threads alike; cron would mail them all. The file's outcome says what matters. An error
    that ends the run is printed after fd 2 is back."""
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", encoding=sys.stderr.encoding or "utf-8")
    try:
        _stderr_to_devnull()
        yield terminal
    finally:
        terminal.close()
        os.dup2(saved, 2)
        os.close(saved)


def _stderr_to_devnull() -> None:
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
