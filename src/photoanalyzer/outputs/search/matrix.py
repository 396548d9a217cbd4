"""The search matrix: every searchable embedding of the catalog, normalized, as one float32
matrix in a .npy file beside the catalog (CATALOG.db-search/, config.beside_catalog),
memory-mapped for each query.

The catalog stays the source of truth. The matrix (raw float32, memory-mapped with np.memmap;
its shape is in the description file) and its rows are named after the catalog's
change stamp (catalog.search.stamp(), which the catalog moves in the same transaction as any
write that changes what search reads), and a matrix is used only when its stamp is the
catalog's current one; otherwise it is rebuilt from one read snapshot of the catalog before
the query runs. So a stale matrix is never used, whatever wrote to the catalog.

Each file's rows are together: a photo has one row (frame -1), a video one row per analyzed
frame, so a video matches by its best frame.

Searches run side by side (a cron job's, a person's), so no search may fail because of
another: each file is written under a temporary name and renamed; a search keeps the matrix
it built mapped and in memory, so nobody's housekeeping can take it away; and housekeeping
removes only what can never be used again: this catalog's matrices of an older stamp (the
counter only grows), never a newer one that a concurrent search has just written."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import legacy_beside_catalog
from photoanalyzer.errors import CatalogError
from photoanalyzer.library.ownpaths import matrix_folder

ROWS = np.dtype(
    [("file", "<i8"), ("frame", "<i4"), ("seconds", "<f4"), ("video", "u1"), ("random", "u1")]
)
CHUNK_ROWS = 65_536  # rows scored per matrix-vector product: 128 MiB of float32 at 512 values
# A partial file this old, or a matrix of another catalog (one that had this name before),
# is no concurrent search's: those are removed.
ABANDONED_SECONDS = 3600


@dataclass
class SearchMatrix:
    stamp: str
    vectors: np.ndarray  # (rows, dim) float32 unit vectors, memory-mapped
    rows: np.ndarray  # ROWS, one per vector
    left_out: int  # embeddings of another size (another model) that are not in the matrix
    left_files: np.ndarray  # the files those embeddings belong to
    rebuilt: bool = False

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0

    @cached_property
    def starts(self) -> np.ndarray:
        """Index of each file's first row."""
        files = self.rows["file"]
        return np.flatnonzero(np.r_[True, files[1:] != files[:-1]]) if len(files) else files

    @cached_property
    def files(self) -> np.ndarray:
        return self.rows["file"][self.starts]

    @cached_property
    def is_video(self) -> np.ndarray:
        return self.rows["video"][self.starts].astype(bool)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of every row with the unit `query`, computed in chunks of rows."""
        out = np.empty(len(self.rows), dtype=np.float32)
        for start in range(0, len(out), CHUNK_ROWS):
            end = min(start + CHUNK_ROWS, len(out))
            np.matmul(self.vectors[start:end], query, out=out[start:end])
        return out

    def best_per_file(self, scores: np.ndarray) -> np.ndarray:
        """Each file's best score (a video's best frame), in the order of `files`."""
        if not len(scores):
            return scores
        return np.maximum.reduceat(scores, self.starts)

    def best_row(self, file_index: int, scores: np.ndarray) -> int:
        """The row of the file's best score: which frame of a video matched."""
        start = int(self.starts[file_index])
        end = int(self.starts[file_index + 1]) if file_index + 1 < len(self.starts) else len(scores)
        return start + int(np.argmax(scores[start:end]))


def current_matrix(catalog: Catalog, folder: Path) -> SearchMatrix:
    """The matrix of the catalog as it is now: read from `folder` when its stamp is the
    catalog's, else rebuilt (and written there for the next query)."""
    found = _read(folder, catalog.search.stamp())
    return found if found is not None else build(catalog, folder)


def _read(folder: Path, stamp: str) -> SearchMatrix | None:
    """The matrix written for `stamp`; its description file is written last, so it exists
    only when the vectors and rows are complete."""
    try:
        meta = json.loads((folder / f"{stamp}.json").read_text())
        count, dim = int(meta["rows"]), int(meta["dim"])
        path = folder / f"{stamp}.vectors.f32"
        if meta.get("stamp") != stamp or path.stat().st_size != count * dim * 4:
            return None
        vectors = (
            np.memmap(path, dtype=np.float32, mode="r", shape=(count, dim))
            if count
            else np.zeros((0, dim), dtype=np.float32)
        )
        rows = np.load(folder / f"{stamp}.rows.npy")
        left_files = np.load(folder / f"{stamp}.left.npy")
    except (OSError, ValueError, KeyError):
        return None
    if len(rows) != count or rows.dtype != ROWS:
        return None
    return SearchMatrix(stamp, vectors, rows, int(meta.get("left_out", 0)), left_files)


def build(catalog: Catalog, folder: Path) -> SearchMatrix:
    """Rebuild from one read snapshot of the catalog (so the stamp names exactly the rows
    read), in one pass: each embedding size streams to its own file, and the most common
    size is kept (two sizes only while the catalog holds embeddings of two models). The
    matrix returned is the one built here, mapped before its files got their names: a
    concurrent search that removes them cannot take it away."""
    parts: dict[int, _Part] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with catalog.search.snapshot():
            stamp = catalog.search.stamp()
            for batch in catalog.search.embeddings():
                for size, rows in _by_size(batch):
                    if size not in parts:
                        parts[size] = _Part(folder, stamp, size)
                    parts[size].add(rows)
        kept = max(parts.values(), key=lambda p: (p.count, p.dim)) if parts else None
        matrix = _commit(folder, stamp, kept, [p for p in parts.values() if p is not kept])
    except OSError as exc:
        raise CatalogError(
            f"cannot write the search matrix to {folder}: {exc.strerror or exc}; the folder "
            "beside the catalog must be writable"
        ) from exc
    finally:
        for part in parts.values():
            part.discard()
    _remove_older(folder, stamp)
    _tidy_legacy_folder(catalog.path, folder, stamp)
    matrix.rebuilt = True
    return matrix


def _by_size(batch: list[tuple]) -> list[tuple[int, list[tuple]]]:
    sizes = {len(row[5]) for row in batch}
    if len(sizes) == 1:
        return [(sizes.pop(), batch)]
    return [(size, [row for row in batch if len(row[5]) == size]) for size in sorted(sizes)]


class _Part:
    """The unit float32 vectors of one embedding size, streamed to a raw file, and their
    rows."""

    def __init__(self, folder: Path, stamp: str, size: int):
        self.dim, self.count = size // 2, 0  # float16 values
        self.path = folder / f"{stamp}.{size}.vectors.{os.getpid()}.part"
        self.out = open(self.path, "wb")  # noqa: SIM115 - closed by finish() or discard()
        self.rows: list[np.ndarray] = []

    def add(self, batch: list[tuple]) -> None:
        files, frames, seconds, videos, randoms, blobs = zip(*batch, strict=True)
        chunk = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(batch), self.dim)
        chunk = chunk.astype(np.float32)
        chunk /= np.maximum(np.linalg.norm(chunk, axis=1, keepdims=True), 1e-12)
        self.out.write(chunk.tobytes())
        rows = np.empty(len(batch), dtype=ROWS)
        rows["file"], rows["frame"], rows["video"], rows["random"] = files, frames, videos, randoms
        rows["seconds"] = np.array(seconds, dtype=np.float64)  # None (photos) becomes NaN
        self.rows.append(rows)
        self.count += len(batch)

    def finish(self) -> np.ndarray:
        """Closes the file, on disk (fsync) before the description that vouches for it."""
        if self.out.closed:
            return np.concatenate(self.rows)
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        return np.concatenate(self.rows) if self.rows else np.empty(0, dtype=ROWS)

    def discard(self) -> None:
        if not self.out.closed:
            self.out.close()
        self.path.unlink(missing_ok=True)


def _commit(folder: Path, stamp: str, kept: _Part | None, others: list[_Part]) -> SearchMatrix:
    """The vectors, the rows, the files left out, then the description, each under its
    final name; returns the matrix, its vectors mapped from the file before it was named."""
    rows = kept.finish() if kept else np.empty(0, dtype=ROWS)
    dim = kept.dim if kept else 0
    target = folder / f"{stamp}.vectors.f32"
    if kept:
        vectors = np.memmap(kept.path, dtype=np.float32, mode="r", shape=(kept.count, dim))
        os.replace(kept.path, target)
    else:
        vectors = np.zeros((0, dim), dtype=np.float32)
        _write_atomically(target, "")
    left = [part.finish()["file"] for part in others]
    left_files = np.unique(np.concatenate(left)) if left else np.empty(0, dtype=np.int64)
    _save_atomically(folder / f"{stamp}.rows.npy", rows)
    _save_atomically(folder / f"{stamp}.left.npy", left_files)
    meta = {"stamp": stamp, "rows": len(rows), "dim": dim}
    left_out = sum(part.count for part in others)
    _write_atomically(folder / f"{stamp}.json", json.dumps({**meta, "left_out": left_out}))
    return SearchMatrix(stamp, vectors, rows, left_out, left_files)


def _save_atomically(path: Path, array: np.ndarray) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(partial, "wb") as out:
        np.save(out, array)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def _write_atomically(path: Path, text: str) -> None:
    """After a power cut the description exists only if the files it describes are whole."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(partial, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def _remove_older(folder: Path, stamp: str, others_too: bool = True, newest: int = 0) -> None:
    """Remove the matrices of this catalog's earlier stamps: the counter only grows, so they
    can never be used again. A newer one (a concurrent search read the catalog after a change
    that this one did not see) is kept, and partial files are left to the search writing
    them, unless they are abandoned (an hour old: that search died). With `others_too`,
    abandoned matrices of another catalog go as well (one that had this name before: a
    catalog deleted and made anew). `newest` 1 removes the matrix of this stamp too (from a
    folder this version no longer writes)."""
    token, counter = _parse(stamp)
    if counter is None:  # pragma: no cover - every stamp is TOKEN-COUNTER (catalog.search)
        return
    counter += newest
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:  # no such folder, or another search removed it
        return
    for name in names:
        their_token, their_counter = _parse(name.split(".", 1)[0])
        ours = their_token == token and their_counter is not None
        if ours and not name.endswith(".part") and their_counter < counter:
            _unlink(folder / name)
        elif (not ours and others_too) or name.endswith(".part"):
            _unlink_if_abandoned(folder / name)


def _tidy_legacy_folder(catalog_path: Path, folder: Path, stamp: str) -> None:
    """Before issue 24 the folder was named after the catalog's stem (`photos-search`), and
    catalogs sharing a stem shared it: this catalog's old matrices go from there, and the
    folder with them once empty. Not where that name is another catalog's own folder (a
    catalog file named `photos` beside `photos.db`)."""
    legacy = legacy_beside_catalog(catalog_path, "search")
    if folder != matrix_folder(catalog_path) or legacy == folder:
        return
    if catalog_path.with_name(catalog_path.stem).is_file():
        return
    _remove_older(legacy, stamp, others_too=False, newest=1)
    _remove_if_empty(legacy)


def _parse(stamp: str) -> tuple[str, int | None]:
    """'TOKEN-COUNTER' -> (TOKEN, COUNTER); a name of another form -> (name, None)."""
    token, _, counter = stamp.rpartition("-")
    return (token, int(counter)) if token and counter.isdigit() else (stamp, None)


def _unlink(path: Path) -> None:
    """A search that has the file mapped keeps its pages; one about to open it finds it gone
    and rebuilds (_read answers None). Gone already (another search removed it) or not
    removable (a read-only folder): left to the next search's housekeeping."""
    with contextlib.suppress(OSError):
        path.unlink()


def _unlink_if_abandoned(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime > ABANDONED_SECONDS:
            _unlink(path)
    except OSError:
        pass  # gone already


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (another catalog's files), or gone
        folder.rmdir()
