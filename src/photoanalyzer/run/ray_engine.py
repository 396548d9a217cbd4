"""The Ray engine: each phase as a Ray Data pipeline over its pending files, on a Ray
cluster (or a local Ray instance started for the run). The driver (this process) walked,
reconciled and chose the pending files, and stays the catalog's only writer: the outcomes
stream back here and the pipeline's batch writer stores them as with the local engine.

    metadata, content   Ray tasks, each over a block of files (ray.content.cpus_per_task)
    ml                  an actor pool; each actor loads the models once (MlSession) on the
                        best backend of its own node and runs batches of ml.batch_size
    places              on the driver: it looks up what the metadata phase stored, no file

Faults: Ray runs a task whose worker died again (ray.task_retries); a block that still
fails is skipped by Ray Data, and its files are then run one per task; a file whose own task
still dies ends as that file's error (WORKER_CRASH), as with the local engine. Workers read
the photos at the driver's paths and the content phase writes thumbnails to the configured
folder: both must be the same shared storage on every node (docs/scale-out.md)."""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import socket
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import ray
import ray.data

from photoanalyzer.catalog import PendingFile
from photoanalyzer.config import RayConfig
from photoanalyzer.phases.base import (
    BatchPhase,
    Outcome,
    Phase,
    PhaseUnavailable,
    WorkItem,
    analyze_safely,
)
from photoanalyzer.run.local import WORKER_CRASH, LocalEngine

# Files per task of a per-file phase: enough that a task's start-up (milliseconds) does not
# count, few enough that the cluster's CPUs all get work and a retried task redoes little.
MAX_FILES_PER_TASK = 64


class RayEngine:
    name = "ray"

    def __init__(self, options: RayConfig, address: str | None = None):
        self.options = options
        # A Ray the caller started (a test, a notebook) is used as it is and left running.
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            ray.init(
                address=address or options.address,
                include_dashboard=False,
                log_to_driver=False,  # workers' output stays in Ray's logs, off the terminal
                logging_level=logging.WARNING,
            )
        self.cluster = cluster_size()

    def close(self) -> None:
        if self.owns_ray:
            ray.shutdown()

    def outcomes(
        self,
        phase: Phase | BatchPhase,
        pending: list[PendingFile],
        items: Callable[[], list[WorkItem]],
        details: dict[str, Any],
    ) -> Iterator[tuple[int, Outcome]]:
        details["engine"] = {"name": "ray", **self.cluster}
        if isinstance(phase, BatchPhase) and not hasattr(phase, "session"):
            # The places phase reads only the catalog's values: a vectorised lookup here
            # is faster than shipping them to the cluster and back.
            details["engine"]["where"] = "driver"
            return LocalEngine().outcomes(phase, pending, items, details)
        if isinstance(phase, BatchPhase):
            return self._actor_phase(phase, items(), details)
        return self._task_phase(phase, pending)

    # -- metadata, content: tasks --------------------------------------------------------

    def _task_phase(self, phase: Phase, pending: list[PendingFile]) -> Iterator[tuple]:
        rows = [
            {"position": i, "item": pickle.dumps((f.path, f.kind))} for i, f in enumerate(pending)
        ]
        resources = getattr(self.options, phase.name, None)
        cpus = resources.cpus_per_task if resources is not None else 1.0
        if hasattr(phase, "decode_threads"):  # the decoders use the CPUs the task reserves
            phase = replace(phase, decode_threads=max(1, int(cpus)))
        per_task = max(1, min(MAX_FILES_PER_TASK, len(rows) // max(1, self.cluster["cpus"] * 4)))

        def stage(dataset: ray.data.Dataset, files_per_task: int) -> ray.data.Dataset:
            return dataset.map_batches(
                _analyze_files,
                fn_kwargs={"phase": phase},
                batch_size=files_per_task,
                batch_format="numpy",
                num_cpus=cpus,
                max_retries=self.options.task_retries,
            )

        return _isolating_failures(rows, per_task, stage, {})

    # -- ml: an actor pool ---------------------------------------------------------------

    def _actor_phase(
        self, phase: BatchPhase, items: list[WorkItem], details: dict[str, Any]
    ) -> Iterator[tuple]:
        rows = [{"position": i, "item": pickle.dumps(item)} for i, item in enumerate(items)]
        settings = self.options.ml
        gpus = settings.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if self.cluster["gpus"] else 0.0
        most = settings.max_actors or (max(1, int(self.cluster["gpus"] // gpus)) if gpus else 1)
        least = min(settings.min_actors, most)
        batch = phase.settings.batch_size
        details["engine"].update(actors=[least, most], gpus_per_actor=gpus)

        def stage(dataset: ray.data.Dataset, rows_per_call: int) -> ray.data.Dataset:
            return dataset.map_batches(
                MlActor,
                fn_constructor_kwargs={"phase": phase},
                batch_size=rows_per_call,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(min_size=least, max_size=most),
                num_cpus=settings.cpus_per_actor,
                num_gpus=gpus,
                # A dead actor is restarted (its models load again); its batch is retried
                # this many times, then its files are run alone (see _isolating_failures).
                max_restarts=-1,
                max_task_retries=self.options.task_retries,
            )

        return _isolating_failures(rows, batch, stage, details)


def cluster_size() -> dict[str, Any]:
    """The cluster's nodes, CPUs and GPUs as Ray sees them now."""
    resources = ray.cluster_resources()
    return {
        "nodes": sum(1 for node in ray.nodes() if node.get("Alive")),
        "cpus": int(resources.get("CPU", 0)),
        "gpus": int(resources.get("GPU", 0)),
    }


def _isolating_failures(
    rows: list[dict],
    per_block: int,
    stage: Callable[[ray.data.Dataset, int], ray.data.Dataset],
    details: dict[str, Any],
) -> Iterator[tuple[int, Outcome]]:
    """(position, outcome) for every row, as the cluster answers. Blocks that failed even
    after Ray's retries are skipped by Ray Data; their files go round again, one per block,
    and a file whose own block fails again is an error of that file."""
    workers: dict[str, dict] = {}
    missing = yield from _streamed(rows, per_block, stage, details, workers)
    if missing:
        again = [row for row in rows if row["position"] in missing]
        missing = yield from _streamed(again, 1, stage, details, workers)
    for position in sorted(missing):
        yield position, Outcome(None, WORKER_CRASH)


def _streamed(rows, per_block, stage, details, workers) -> Iterator[tuple[int, Outcome]]:
    """Runs one pipeline over `rows`; returns the positions that got no outcome."""
    if not rows:
        return set()
    context = ray.data.DataContext.get_current()
    context.max_errored_blocks = -1  # a failed block is skipped: its files go round again
    context.enable_progress_bars = False  # the pipeline's own bar counts stored files
    context.print_on_execution_start = False
    dataset = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / per_block))
    left = {row["position"] for row in rows}
    for batch in stage(dataset, per_block).iter_batches(batch_size=None, batch_format="numpy"):
        for position, blob, worker in zip(
            batch["position"], batch["outcome"], batch["worker"], strict=True
        ):
            if worker:  # ML actors report themselves; tasks have nothing to say
                _note_worker(json.loads(worker), details, workers)
            left.discard(int(position))
            yield int(position), pickle.loads(blob)
    return left


def _note_worker(report: dict, details: dict[str, Any], workers: dict[str, dict]) -> None:
    """Keeps each ML actor's backend for the run details; an actor whose models could not be
    built ends the phase as the local engine would (the files stay pending)."""
    if report.get("unavailable"):
        raise PhaseUnavailable(report["unavailable"])
    if report.get("unexpected"):
        # A bug on the worker, not a file that kills it: the phase ends as it would locally
        # (pipeline._stopping_cleanly keeps the traceback), and the files stay pending.
        details["worker_traceback"] = report["unexpected"]
        last = report["unexpected"].strip().splitlines()[-1]
        raise RuntimeError(f"an ML actor failed unexpectedly ({last})")
    key = f"{report['node']}:{report['pid']}"
    if key not in workers:
        workers[key] = report
        details.update(report.pop("details", {}))
        details["workers"] = list(workers.values())


# -- on the workers ----------------------------------------------------------------------


def _analyze_files(batch: dict[str, np.ndarray], phase: Phase) -> dict[str, np.ndarray]:
    """A block of files through a per-file phase (a Ray task)."""
    blobs = []
    for item in batch["item"]:
        path, kind = pickle.loads(item)
        blobs.append(pickle.dumps(analyze_safely(phase, path, kind)))
    return _answer(batch, blobs, [""] * len(blobs))


class MlActor:
    """One actor of the ML pool: the models load once, here, on this node's best backend."""

    def __init__(self, phase: BatchPhase):
        self.details: dict[str, Any] = {}
        self.reported = False
        self.report: dict[str, Any] = {"node": socket.gethostname(), "pid": os.getpid()}
        try:
            self.session = phase.session(self.details)
        except PhaseUnavailable as exc:
            self.session = None
            self.report["unavailable"] = str(exc)
            return
        except Exception:  # reported to the driver rather than restarting the actor forever
            self.session = None
            self.report["unexpected"] = traceback.format_exc()
            return
        backend = self.details.get("backend", {})
        self.report.update(backend=backend.get("name"), device=backend.get("device_name"))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [pickle.loads(item) for item in batch["item"]]
        if self.session is None:
            why = self.report.get("unavailable") or "the ML actor failed (see the run details)"
            outcomes = [Outcome(None, why, final=False)] * len(items)
        else:
            try:
                outcomes = list(self.session.analyze(items))
            except Exception:
                # Not a dead worker: without this, Ray Data would drop the block and its
                # files would end as crashing their reader, for good.
                self.report["unexpected"] = traceback.format_exc()
                outcomes = [Outcome(None, "the ML actor failed", final=False)] * len(items)
        # The first answer of each actor carries its details (backend, weights, timings).
        report = dict(self.report, details=self.details) if not self.reported else self.report
        self.reported = True
        worker = json.dumps(report, default=str)
        return _answer(batch, [pickle.dumps(o) for o in outcomes], [worker] * len(items))


def _answer(batch: dict[str, np.ndarray], blobs: list[bytes], workers: list[str]) -> dict:
    return {
        "position": np.asarray(batch["position"], dtype=np.int64),
        "outcome": np.array(blobs, dtype=object),
        "worker": np.array(workers, dtype=object),
    }
