"""One run: walk the folders, reconcile the walk with the catalog, then for each phase take
the pending files, analyze them (in worker processes where that pays) and store the outcomes
in batches. Data flows one way: scan -> catalog -> phase -> catalog."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from time import perf_counter

from tqdm import tqdm

from photoanalyzer.catalog import Catalog, PendingFile, SyncCounts
from photoanalyzer.config import CatalogOptions, Config
from photoanalyzer.phases.base import (
    BatchPhase,
    Outcome,
    Phase,
    PhaseUnavailable,
    StoredInputs,
    WorkItem,
    analyze_safely,
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


def run(
    roots: list[str],
    phases: list[Phase],
    catalog: Catalog,
    config: Config,
    *,
    full: bool = False,
    show_progress: bool = False,
) -> RunReport:
    """Index `roots` into `catalog` with `phases`. A KeyboardInterrupt propagates after the
    finished part of the current batch is stored and the run is recorded as interrupted."""
    roots = list(dict.fromkeys(os.path.abspath(root) for root in roots))  # each root once
    run_id = catalog.start_run(roots, [phase.name for phase in phases])
    status = "interrupted"
    try:
        started = perf_counter()
        walk = scan(roots, config.scan)
        scan_seconds = perf_counter() - started
        sync = reconcile(catalog, run_id, roots, walk, scan_seconds)
        seen = {entry.path for entry in walk.files}
        reports = []
        for phase in phases:
            kinds = phase.kinds & set(config.kinds)
            pending = catalog.pending(phase.name, phase.version, kinds, seen, full) if kinds else []
            reports.append(
                _run_phase(phase, pending, catalog, run_id, config.catalog_options, show_progress)
            )
        status = "completed"
    finally:
        catalog.finish_run(run_id, status)
    return RunReport(run_id, str(catalog.path), roots, sync, scan_seconds, walk.problems, reports)


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
    bar = tqdm(
        total=len(pending),
        desc=phase.name,
        unit="file",
        disable=not show_progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        outcomes = _outcomes(phase, pending, catalog, report.details)
        try:
            for item, outcome in zip(pending, outcomes, strict=True):
                writer.add(item.file_id, outcome)
                report.count(item.path, outcome)
                bar.update()
        except PhaseUnavailable as exc:
            # Every file not yet done carries the reason, and stays pending for the next run.
            report.failure = str(exc)
            left = pending[report.processed :]
            report.left_pending = len(left)
            for item in left:
                writer.add(item.file_id, Outcome(None, str(exc), final=False))
    finally:
        # Also on Ctrl-C: what was analyzed is kept, so the next run resumes after it.
        bar.close()
        writer.flush()
        report.seconds = perf_counter() - started
        catalog.finish_phase(
            run_id,
            phase.name,
            phase.version,
            report.processed,
            report.errors,
            report.seconds,
            report.failure,
            report.details,
        )
    return report


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
            self.catalog.save_outcomes(self.run_id, self.phase.name, self.phase.version, self.batch)
            self.batch = []
        self.last_commit = perf_counter()


def _outcomes(
    phase: Phase | BatchPhase, pending: list[PendingFile], catalog: Catalog, details: dict
) -> Iterator[Outcome]:
    """Batch phases stream their own outcomes from work items that carry what earlier phases
    stored (thumbnails, sizes, video frames); per-file phases go through worker processes."""
    if isinstance(phase, BatchPhase):
        return phase.analyze_stream(work_items(pending, catalog), details)
    return analyze_all(phase, [item.path for item in pending])


def work_items(pending: list[PendingFile], catalog: Catalog) -> list[WorkItem]:
    """The pending files with what the metadata and content phases stored for them."""
    stored = catalog.stored_inputs([item.file_id for item in pending])
    return [WorkItem(item.path, item.kind, _stored(stored.get(item.file_id))) for item in pending]


def _stored(row: dict | None) -> StoredInputs:
    if row is None:
        return StoredInputs()
    size = (row["width"], row["height"]) if row["width"] and row["height"] else None
    return StoredInputs(row["thumbnail"], size, tuple(row["frames"]))


def analyze_all(phase: Phase, paths: list[str]) -> Iterator[Outcome]:
    """Outcomes for `paths`, in order; spread over worker processes when there are enough.
    A file that kills its worker (a crash inside a native decoder) becomes that file's error
    and the rest go on."""
    workers = phase.workers or os.cpu_count() or 1
    if workers <= 1 or len(paths) < phase.min_files_for_workers:
        for path in paths:
            with native_stderr_silenced():  # not around the yield: the progress bar draws there
                outcome = analyze_safely(phase, path)
            yield outcome
        return
    chunksize = max(1, min(64, len(paths) // (workers * 8)))
    done = 0
    while done < len(paths):
        try:
            for outcome in _pool_map(phase, paths[done:], workers, chunksize):
                yield outcome
                done += 1
        except BrokenProcessPool:
            # The culprit is among the files that were handed to workers but not returned:
            # at most (workers + 1) chunks. Read each of those alone to find it.
            suspects = paths[done : done + (workers + 1) * chunksize]
            for outcome in _isolated(phase, suspects):
                yield outcome
                done += 1


def _pool_map(phase: Phase, paths: list[str], workers: int, chunksize: int) -> Iterator[Outcome]:
    executor = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)
    try:
        yield from executor.map(partial(analyze_safely, phase), paths, chunksize=chunksize)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _isolated(phase: Phase, paths: list[str]) -> Iterator[Outcome]:
    for path in paths:
        with ProcessPoolExecutor(max_workers=1, initializer=_init_worker) as executor:
            try:
                yield executor.submit(analyze_safely, phase, path).result()
            except BrokenProcessPool:
                yield Outcome(None, WORKER_CRASH)


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
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while the calling process decodes, then back.
    libtiff ("Fax3Decode2D: Bad code word") and libjpeg ("Bogus marker length") write their
    warnings to fd 2 from C, past sys.stderr and warning filters, hundreds of lines for one
    bad file, which cron would mail. The file's outcome says what matters."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        _stderr_to_devnull()
        yield
    finally:
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
