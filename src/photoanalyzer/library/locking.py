"""One run at a time per catalog. An advisory lock (flock) on CATALOG.lock: the kernel
releases it when the holder dies, even by kill -9, so a lock left by a killed run is taken
over at once. The lock file names its holder, for the message the second run prints."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from photoanalyzer.errors import CatalogError, CatalogLocked


@dataclass
class RunLock:
    path: Path
    _fd: int | None = None
    previous_holder: dict | None = None  # a holder that died without releasing, if any

    def acquire(self, wait: bool = False, poll_seconds: float = 0.5) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CatalogError(
                f"cannot create the catalog's lock file {self.path}: {exc.strerror}; choose a "
                "writable location with --db or PHOTOANALYZER_DB"
            ) from exc
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise CatalogLocked(_locked_message(self.path, holder)) from None
                time.sleep(poll_seconds)
        self.previous_holder = _stale_holder(_read_holder(fd))
        _write_holder(fd)
        self._fd = fd
        _HELD.add(fd)
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            _HELD.discard(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# Worker processes are forked while the lock is held and would inherit its descriptor: if the
# run were then killed, orphaned workers would keep the catalog locked until they exit.
# Children close their copies at once (closing a copy does not release the parent's lock).
_HELD: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


def lock_path(catalog_path: Path) -> Path:
    return catalog_path.with_name(catalog_path.name + ".lock")


def _read_holder(fd: int) -> dict | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", errors="replace").strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def _write_holder(fd: int) -> None:
    holder = {"pid": os.getpid(), "started": datetime.now(UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(holder).encode())


def _stale_holder(holder: dict | None) -> dict | None:
    """A holder recorded in the file although we got the lock: it died without releasing."""
    return holder if holder and holder.get("pid") != os.getpid() else None


def _locked_message(path: Path, holder: dict | None) -> str:
    who = f"run (pid {holder['pid']}, started {holder['started']})" if holder else "run"
    return (
        f"another photoanalyze {who} is using this catalog ({path.with_suffix('')}); "
        "wait for it to finish, or pass --wait to queue behind it"
    )
