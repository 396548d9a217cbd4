"""Example pictures uploaded to the search page: the request body read in pieces into a
private temporary file, never past the limit (a body that says it is larger is refused before
a byte of it is read; one that grows past it is cut off there), decoded and encoded by the
search session's CLIP image tower as `search` encodes an image file, then deleted. Only the
vector stays, in memory, under a random id, for the searches that follow (the page's
filters, "more like this"), the last KEPT of them."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from photoanalyzer.outputs.search.query import Term

KEPT = 32
MAX_NAME = 200


class TooLarge(Exception):
    pass


class UploadStore:
    def __init__(self, limit_bytes: int, folder: Path):
        self.limit_bytes, self.folder = limit_bytes, folder
        self._kept: OrderedDict[str, Term] = OrderedDict()
        self._lock = threading.Lock()

    def check_length(self, declared: str | None) -> None:
        """Refuse at once a body whose Content-Length is over the limit."""
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit_bytes:
            raise TooLarge(self._too_large())

    async def receive(self, stream) -> Path:
        """The body (an async iterator of bytes) in a new temporary file; TooLarge as soon
        as it passes the limit, the partial file removed."""
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.folder)
        path, total = Path(name), 0
        try:
            with os.fdopen(fd, "wb") as file:
                async for chunk in stream:
                    total += len(chunk)
                    if total > self.limit_bytes:
                        raise TooLarge(self._too_large())
                    file.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def keep(self, vector: np.ndarray, random: bool, name: str) -> str:
        """Keep an encoded upload; its id for the search page's address."""
        key = secrets.token_urlsafe(12)
        term = Term(1, 1.0, vector=vector, random=random, name=name[:MAX_NAME] or "picture")
        with self._lock:
            self._kept[key] = term
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        return key

    def get(self, key: str) -> Term | None:
        with self._lock:
            term = self._kept.get(key)
            if term is not None:
                self._kept.move_to_end(key)
            return term

    def _too_large(self) -> str:
        return (
            f"the picture is larger than the {self.limit_bytes // 2**20} MB an upload may be; "
            "send a smaller copy"
        )
