"""One run: walk the folders, reconcile the walk with the catalog, then for each phase take
the pending files, analyze them (in worker processes where that pays) and store the outcomes
in batches. Data flows one way: scan -> catalog -> phase -> catalog."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import TextIO

from tqdm import tqdm

from photoanalyzer.catalog import Catalog, PendingFile, PhaseRecord, ResultRow, SyncCounts
from photoanalyzer.config import CatalogOptions, Config
from photoanalyzer.library.ownpaths import own_paths
from photoanalyzer.library.pairs import left_out
from photoanalyzer.library.reconcile import reconcile
from photoanalyzer.library.scan import ScanProblem, scan
from photoanalyzer.phases.base import (
    BatchPhase,
    Outcome,
    Phase,
    PhaseSkipped,
    PhaseUnavailable,
    StoredInputs,
    StoredMetadata,
    WorkItem,
    describe_exception,
)
from photoanalyzer.run.engines import Engine, open_engine
from photoanalyzer.run.local import WORKER_CRASH, LocalEngine, stderr_to_devnull

__all__ = ["WORKER_CRASH", "PhaseReport", "RunReport", "index", "run", "work_items"]
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
    # The phase needs an extra that is not installed: `failure` says which; nothing was
    # written for its files, which stay pending, and the run does not count as failed.
    skipped: bool = False

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
    engine: Engine | None = None,
    under_lock: Callable[[], None] | None = None,
) -> RunReport:
    """One whole run as `photoanalyze run` and `benchmark` make it: take the catalog's run
    lock (CatalogLocked, or wait), open (or create) the catalog, mark runs that died as
    crashed, and index. SIGTERM (cron, systemd, `timeout`) stops the run like Ctrl-C: a
    KeyboardInterrupt propagates after the finished files are stored. `engine` runs the
    phases' analysis: given, the caller closes it; else the config's is opened here.
    `under_lock` runs first once the lock is held, where no other run writes beside the
    catalog (`run` moves an old thumbnail folder to its new name there)."""
    from photoanalyzer.library.locking import RunLock, lock_path

    with RunLock(lock_path(catalog_path)).acquire(wait=wait) as lock:
        if under_lock is not None:
            under_lock()
        if lock.previous_holder:
            note(
                f"note: the previous run (pid {lock.previous_holder.get('pid')}) ended "
                "without finishing; its committed work is kept"
            )
        # The engine (a Ray cluster's connection) is opened once per run, before the catalog:
        # `--engine ray` without Ray installed ends here, having written nothing.
        opened = engine is None
        engine = engine or open_engine(config.engine, config.ray)
        catalog = Catalog(catalog_path)
        catalog.runs.mark_abandoned()
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            return run(
                roots,
                phases,
                catalog,
                config,
                full=full,
                show_progress=show_progress,
                engine=engine,
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
            catalog.close()
            if opened:
                engine.close()


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
    engine: Engine | None = None,
) -> RunReport:
    """Index `roots` into an open `catalog` with `phases`. A KeyboardInterrupt propagates after the
    finished part of the current batch is stored and the run is recorded as interrupted."""
    roots = list(dict.fromkeys(os.path.abspath(root) for root in roots))  # each root once
    engine = engine or LocalEngine()
    run_id = catalog.runs.start(roots, [phase.name for phase in phases])
    status = "interrupted"
    try:
        started = perf_counter()
        walk = scan(roots, config.scan, own_paths(catalog.path, config))
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
                _run_phase(
                    phase, pending, catalog, run_id, config.catalog_options, show_progress, engine
                )
            )
            if phase.name == "faces" and not reports[-1].skipped:
                # Persons from the faces stored, this run's and the ones left unassigned.
                # Imported here: grouping needs numpy, which a run without faces never pays.
                from photoanalyzer.run.people_step import group_people

                reports[-1].details["people"] = group_people(catalog, run_id, config.faces)
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
    engine: Engine,
) -> PhaseReport:
    report = PhaseReport(phase.name, phase.version)
    writer = _BatchWriter(catalog, run_id, phase, commits)
    started = perf_counter()
    try:
        getattr(phase, "check_available", lambda: None)()
    except PhaseSkipped as exc:
        report.failure, report.skipped, report.left_pending = str(exc), True, len(pending)
        pending = []
    with native_stderr_silenced() as terminal:
        bar = tqdm(
            total=len(pending),
            desc=phase.name,
            unit="file",
            disable=not show_progress,
            file=terminal,
            dynamic_ncols=True,
        )
        _analyze_and_store(phase, pending, catalog, writer, report, bar, engine)
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
    engine: Engine,
) -> None:
    stored: set[int] = set()  # positions in `pending`: engines may answer in any order
    try:
        items = partial(work_items, pending, catalog)
        outcomes = engine.outcomes(phase, pending, items, report.details)
        outcomes = _stopping_cleanly(phase, outcomes, report.details)
        try:
            for position, outcome in outcomes:
                item = pending[position]
                writer.add(item.file_id, outcome)
                report.count(item.path, outcome)
                stored.add(position)
                bar.update()
            if len(stored) != len(pending):  # an engine's bug, not the files' fault
                raise PhaseUnavailable(
                    f"the {engine.name} engine returned {len(stored)} results for "
                    f"{len(pending)} files"
                )
        except PhaseUnavailable as exc:
            # The phase's failure, not the files': it is the run's record (the summary, status,
            # the report's runs), and nothing is written for the files not reached, which stay
            # as they were (pending stays pending), as for a phase skipped for a missing extra.
            # Written to each, it read as every file's own error in export and the report.
            report.failure = str(exc)
            report.left_pending = len(pending) - len(stored)
    finally:
        # Also on Ctrl-C: what was analyzed is kept, so the next run resumes after it.
        bar.close()
        writer.flush()


def _stopping_cleanly(
    phase: Phase | BatchPhase, outcomes: Iterator[tuple[int, Outcome]], details: dict
) -> Iterator[tuple[int, Outcome]]:
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
            rows = [ResultRow(i, o.record, o.error, o.final, o.final_error) for i, o in self.batch]
            self.catalog.results.save(self.run_id, self.phase.name, self.phase.version, rows)
            self.batch = []
        self.last_commit = perf_counter()


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
        stderr_to_devnull()
        yield terminal
    finally:
        terminal.close()
        os.dup2(saved, 2)
        os.close(saved)
