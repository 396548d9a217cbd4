"""Seconds per stage and model, added up across the threads that ran the stage. Imports no
torch, so the ML phase can start its clock before the heavy imports it times."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StageClock:
    """Seconds per (stage, model), summed over every thread that ran the stage."""

    def __init__(self) -> None:
        self._seconds: dict[tuple[str, str], float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def timing(self, stage: str, model: str = "") -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, model, time.perf_counter() - started)

    def add(self, stage: str, model: str, seconds: float) -> None:
        with self._lock:
            self._seconds[(stage, model)] += seconds

    def summary(self) -> dict[str, Any]:
        """{"load": s, "inference": {"clip": s, "yolo": s}, ...}, rounded, in the order the
        stages first ran."""
        result: dict[str, Any] = {}
        with self._lock:
            for (stage, model), seconds in self._seconds.items():
                if model:
                    result.setdefault(stage, {})[model] = round(seconds, 3)
                else:
                    result[stage] = round(seconds, 3)
        return result
