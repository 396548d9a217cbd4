"""Keeping the model busy: images are loaded and preprocessed by background threads a few
batches ahead (memory stays bounded), and a batch that runs out of GPU memory is halved and
retried."""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


# When the loader threads share the cores with the models (CPU backends) they run only on a
# core nothing else wants (Linux's SCHED_IDLE; elsewhere, or where it is refused, at the
# lowest nice value). torch's parallel regions wait for their slowest thread, so a loader
# taking a core from one of them stalls the whole operator; idle, the loaders use the gaps
# between operators and batches, and the lookahead absorbs the rest (docs/performance.md).
LOADER_NICENESS = 19


def prefetch_map(
    function: Callable[[T], R],
    items: Iterable[T],
    threads: int,
    ahead: int,
    behind_caller: bool = False,
) -> Iterator[R]:
    """function(item) for each item, in order, computed by `threads` threads at most `ahead`
    items before the consumer; with `behind_caller`, the threads run at the lowest CPU
    priority. Exceptions are returned by the caller's function, not raised here: `function`
    should turn per-item failures into values."""
    with ThreadPoolExecutor(
        max_workers=threads,
        thread_name_prefix="loader",
        initializer=_lower_thread_priority if behind_caller else None,
    ) as pool:
        pending: deque[Future[R]] = deque()
        iterator = iter(items)
        for item in iterator:
            pending.append(pool.submit(function, item))
            if len(pending) >= ahead:
                break
        while pending:
            result = pending.popleft().result()
            for item in iterator:
                pending.append(pool.submit(function, item))
                break
            yield result


def _lower_thread_priority() -> None:
    """This thread alone to the idle class, else the lowest nice value (Linux threads have
    their own; elsewhere, where the calls apply to the whole process, leave it)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: this thread
    except (AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOADER_NICENESS)


def batches(
    items: Iterable[T], size: int, weight: Callable[[T], int] = lambda _: 1
) -> Iterator[list[T]]:
    """Consecutive groups of items whose weights add up to at least `size` (the last may be
    lighter). With the default weight of 1 each group holds `size` items; the ML phase weighs a
    video by its frames."""
    batch: list[T] = []
    total = 0
    for item in items:
        batch.append(item)
        total += weight(item)
        if total >= size:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


class OomBackoff:
    """Runs `infer` on a batch; on out-of-memory, halves the batch size (down to 1) and runs
    the batch again in halves. `batch_size` is the size that last worked."""

    def __init__(self, batch_size: int, release: Callable[[], None] = lambda: None):
        self.batch_size = batch_size
        self.halvings = 0
        self._release = release  # frees cached GPU memory before a retry

    def run(self, infer: Callable[[list[T]], list[R]], batch: list[T]) -> list[R]:
        results: list[R] = []
        start = 0
        while start < len(batch):
            chunk = batch[start : start + self.batch_size]
            try:
                results.extend(infer(chunk))
            except RuntimeError as exc:
                if not is_out_of_memory(exc) or self.batch_size == 1:
                    raise
                self._release()
                self.batch_size = max(1, self.batch_size // 2)
                self.halvings += 1
                continue
            start += len(chunk)
        return results
