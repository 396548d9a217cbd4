"""The search matrix: every searchable embedding of the catalog, normalized, as one float32
matrix in a .npy file beside the catalog (CATALOG-search/), memory-mapped for each query.

The catalog stays the source of truth. The matrix's files are named after the catalog's
change stamp (catalog.search.stamp(), which the catalog moves in the same transaction as any
write that changes what search reads), and a matrix is used only when its stamp is the
catalog's current one; otherwise it is rebuilt from one read snapshot of the catalog before
the query runs. So a stale matrix is never used, whatever wrote to the catalog.

Rows are ordered by file and frame: a photo has one row (frame -1), a video one row per
analyzed frame, so a video matches by its best frame."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from photoanalyzer.catalog import Catalog
from photoanalyzer.errors import CatalogError

ROWS = np.dtype(
    [("file", "<i8"), ("frame", "<i4"), ("seconds", "<f4"), ("video", "u1"), ("random", "u1")]
)
CHUNK_ROWS = 65_536  # rows scored per matrix-vector product: 128 MiB of float32 at 512 values


@dataclass
class SearchMatrix:
    stamp: str
    vectors: np.ndarray  # (rows, dim) float32 unit vectors, memory-mapped
    rows: np.ndarray  # ROWS, one per vector
    left_out: int  # embeddings of another size (another model) that are not in the matrix
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


def matrix_folder(catalog_path: Path) -> Path:
    return catalog_path.with_name(catalog_path.stem + "-search")


def current_matrix(catalog: Catalog, folder: Path) -> SearchMatrix:
    """The matrix of the catalog as it is now: read from `folder` when its stamp is the
    catalog's, else rebuilt (and written there for the next query)."""
    found = _read(folder, catalog.search.stamp())
    return found if found is not None else build(catalog, folder)


def _read(folder: Path, stamp: str) -> SearchMatrix | None:
    """The matrix written for `stamp`; its description file is written last, so it exists
    only when the vectors and rows are complete."""
    described = folder / f"{stamp}.json"
    try:
        meta = json.loads(described.read_text())
        vectors = np.load(folder / f"{stamp}.vectors.npy", mmap_mode="r")
        rows = np.load(folder / f"{stamp}.rows.npy")
    except (OSError, ValueError):
        return None
    if meta.get("stamp") != stamp or len(rows) != len(vectors) or rows.dtype != ROWS:
        return None
    return SearchMatrix(stamp, vectors, rows, int(meta.get("left_out", 0)))


def build(catalog: Catalog, folder: Path) -> SearchMatrix:
    """Rebuild from one read snapshot of the catalog (so the stamp names exactly the rows
    read), writing each file under a temporary name first."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with catalog.search.snapshot():
            stamp = catalog.search.stamp()
            sizes = catalog.search.embedding_sizes()
            size = max(sizes, key=lambda s: (sizes[s], s)) if sizes else 0
            vectors_part, rows_part = _write_rows(catalog, folder, stamp, size, sizes.get(size, 0))
        left_out = sum(sizes.values()) - sizes.get(size, 0)
        os.replace(vectors_part, folder / f"{stamp}.vectors.npy")
        os.replace(rows_part, folder / f"{stamp}.rows.npy")
        _write_atomically(
            folder / f"{stamp}.json", json.dumps({"stamp": stamp, "left_out": left_out})
        )
    except OSError as exc:
        raise CatalogError(
            f"cannot write the search matrix to {folder}: {exc.strerror or exc}; the folder "
            "beside the catalog must be writable"
        ) from exc
    _remove_others(folder, stamp)
    matrix = _read(folder, stamp)
    if matrix is None:  # pragma: no cover - only if the files vanished under us
        raise CatalogError(f"the search matrix in {folder} could not be read back")
    matrix.rebuilt = True
    return matrix


def _write_rows(catalog: Catalog, folder: Path, stamp: str, size: int, count: int):
    dim = size // 2  # float16 values
    suffix = f"{os.getpid()}.part"
    vectors_part = folder / f"{stamp}.vectors.npy.{suffix}"
    rows_part = folder / f"{stamp}.rows.npy.{suffix}"
    vectors = np.lib.format.open_memmap(
        vectors_part, mode="w+", dtype=np.float32, shape=(count, dim)
    )
    rows = np.empty(count, dtype=ROWS)
    done = 0
    for batch in catalog.search.embeddings(size) if count else ():
        end = done + len(batch)
        blob = b"".join(row[5] for row in batch)
        chunk = np.frombuffer(blob, dtype=np.float16).reshape(len(batch), dim).astype(np.float32)
        chunk /= np.maximum(np.linalg.norm(chunk, axis=1, keepdims=True), 1e-12)
        vectors[done:end] = chunk
        rows[done:end] = [(f, fr, np.nan if s is None else s, v, r) for f, fr, s, v, r, _ in batch]
        done = end
    if done != count:  # pragma: no cover - the snapshot makes this impossible
        raise CatalogError(f"the catalog changed while the search matrix was read ({done}/{count})")
    vectors.flush()
    del vectors
    with open(rows_part, "wb") as out:
        np.save(out, rows)
    return vectors_part, rows_part


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_text(text)
    os.replace(partial, path)


def _remove_others(folder: Path, stamp: str) -> None:
    """Matrices of earlier stamps can never be used again. Partial files are left to the
    search that writes them, unless they are an hour old (that search died)."""
    for path in folder.iterdir():
        if path.name.startswith(f"{stamp}."):
            continue
        try:
            if not path.name.endswith(".part") or time.time() - path.stat().st_mtime > 3600:
                path.unlink()
        except OSError:
            pass  # another search process removed it already
