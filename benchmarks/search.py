"""`photoanalyze search` over a catalog of synthetic embeddings (written directly through the
catalog, no images): whole-process and in-process query times, the matrix rebuild after a
change, and rclip's approach (every blob read from SQLite per query) in the same run.

    python benchmarks/search.py [--photos 100000] [--repeat 5] [--keep DIR]

(a) example-image query of an indexed photo, whole process; target under 1 s for 100,000.
(b) text query, whole process including the text tower's load (a new text each time, so the
    text-embedding cache never answers), a text already encoded (the cache answers: no
    torch), and in-process once loaded.
(c) the first query after the catalog changed (the matrix is rebuilt), whole process.
Random CLIP weights for (b): real ones cannot be downloaded here; the text tower's build
from random weights (initialising the whole model) stands in for loading a checkpoint."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from photoanalyzer.catalog import Catalog, ResultRow
from photoanalyzer.catalog.files import FileFacts, SyncChanges, SyncCounts

DIM = 512
BATCH = 10_000
QUERY_INDEX = 123


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it.")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep, args.photos, args.repeat)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), args.photos, args.repeat)


def run(folder: Path, photos: int, repeat: int) -> None:
    db, library = folder / "catalog.db", folder / "library"
    started = time.perf_counter()
    query_photo = write_catalog(db, library, photos)
    print(f"{photos:,} embeddings written to {db} in {time.perf_counter() - started:.1f} s")
    config = folder / "random.yaml"
    config.write_text(f"ml:\n  models_dir: {folder / 'models'}\n  clip:\n    pretrained: random\n")
    base = [sys.executable, "-m", "photoanalyzer", "search", "--db", str(db)]
    example = [*base, str(query_photo), "--top", "20"]
    build_s, out = timed(example)  # the first query builds the matrix
    assert len(out.splitlines()) == 20, out
    print(f"first query (matrix built from the catalog), whole process: {build_s:.2f} s")
    results = {"photos": photos, "first_query_with_build_s": round(build_s, 2)}
    results["a_example_whole_process_s"] = spread([timed(example)[0] for _ in range(repeat)])
    timed([*base, "warm up the text cache folder", "--config", str(config)])
    texts = [[*base, f"a new query number {k}", "--config", str(config)] for k in range(repeat)]
    results["b_text_whole_process_s"] = spread([timed(command)[0] for command in texts])
    cached = [*base, "a new query number 0", "--config", str(config)]
    results["b_text_cached_whole_process_s"] = spread([timed(cached)[0] for _ in range(repeat)])
    results.update(in_process(db, config, query_photo, repeat))
    results["c_after_change_whole_process_s"] = spread(
        [changed_then_timed(db, example, 1 + k * 7919 % photos) for k in range(repeat)]
    )
    rclip = [sys.executable, "-c", RCLIP_STYLE, str(db), str(query_photo)]
    results["rclip_style_whole_process_s"] = spread([timed(rclip)[0] for _ in range(repeat)])
    print(json.dumps(results, indent=2))


def write_catalog(db: Path, library: Path, photos: int) -> Path:
    """`photos` files with random unit embeddings (float16, as the ML phase stores them);
    one of them exists on disk, as the example-image query."""
    rng = np.random.default_rng(0)
    paths = [str(library / f"{i // 1000:04d}" / f"{i:07d}.jpg") for i in range(photos)]
    query = Path(paths[QUERY_INDEX])
    query.parent.mkdir(parents=True, exist_ok=True)
    query.write_bytes(b"")  # the search finds its stored embedding; the file is never read
    catalog = Catalog(db)
    try:
        run_id = catalog.runs.start([str(library)], ["ml"])
        new = [(FileFacts(p, 1000, 1, "photo"), f"fp{i}") for i, p in enumerate(paths)]
        catalog.files.apply_sync(run_id, SyncChanges(SyncCounts(photos, photos, 0, 0), new), 0.0)
        ids = catalog.files.known_under([str(library)])
        for start in range(0, photos, BATCH):
            chunk = paths[start : start + BATCH]
            vectors = rng.standard_normal((len(chunk), DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows = [
                ResultRow(ids[path].file_id, record(vector), None)
                for path, vector in zip(chunk, vectors, strict=True)
            ]
            catalog.results.save(run_id, "ml", "bench", rows)
        catalog.runs.finish(run_id, "completed")
    finally:
        catalog.close()
    return query


def record(vector: np.ndarray) -> dict:
    return {
        "top_scene": "a beach",
        "scenes": [["a beach", 0.5]],
        "objects": [],
        "object_counts": {},
        "ml_random_weights": False,
        "clip_random_weights": False,  # per model since migration 16 (random_weights.py)
        "yolo_random_weights": False,
        "embedding": vector.astype(np.float16).tobytes(),
    }


def in_process(db: Path, config: Path, query_photo: Path, repeat: int) -> dict:
    """Inside one process, once everything is loaded: the matrix query (memory-mapped matrix,
    chunked cosine, top 20) against rclip's approach (every blob from SQLite, then the same
    arithmetic); and a new text through a text tower already built."""
    from photoanalyzer.config import load_config
    from photoanalyzer.ml.query_encoder import QueryEncoder
    from photoanalyzer.outputs.search.matrix import build, current_matrix, matrix_folder

    catalog = Catalog(db)
    blob, _ = catalog.search.stored_embedding(str(query_photo))
    query = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    query /= np.linalg.norm(query)

    def with_matrix() -> None:
        matrix = current_matrix(catalog, matrix_folder(db))
        top20(matrix.best_per_file(matrix.scores(query)))

    def rclip_style() -> None:
        vectors = np.concatenate(
            [
                np.frombuffer(b"".join(r[5] for r in batch), np.float16).reshape(len(batch), DIM)
                for batch in catalog.search.embeddings()
            ]
        ).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        top20(vectors @ query)

    results = {
        "matrix_query_in_process_s": spread([seconds(with_matrix) for _ in range(repeat)]),
        "rclip_style_query_in_process_s": spread([seconds(rclip_style) for _ in range(repeat)]),
    }
    cfg = load_config(config)
    encoder = QueryEncoder(cfg.ml, cfg.content, Path(cfg.ml.models_dir))
    results["b_text_tower_load_in_process_s"] = round(
        seconds(lambda: encoder.texts(["the first query loads the text tower"])), 2
    )
    texts = iter([f"an in-process query {k} {time.time()}" for k in range(repeat)])
    results["b_text_encode_once_loaded_in_process_s"] = spread(
        [seconds(lambda: encoder.texts([next(texts)])) for _ in range(repeat)]
    )
    results["b_text_query_once_loaded_in_process_s"] = round(
        results["b_text_encode_once_loaded_in_process_s"]["median"]
        + results["matrix_query_in_process_s"]["median"],
        3,
    )
    results["matrix_rebuild_in_process_s"] = round(
        seconds(lambda: build(catalog, matrix_folder(db))), 2
    )
    catalog.close()
    return results


def top20(scores: np.ndarray) -> np.ndarray:
    best = np.argpartition(-scores, 20)[:20]
    return best[np.argsort(-scores[best])]


def changed_then_timed(db: Path, command: list[str], file_id: int) -> float:
    """One file's ML result rewritten (the stamp moves), then the query, which rebuilds."""
    catalog = Catalog(db)
    try:
        run_id = catalog.runs.start(["bench"], ["ml"])
        vector = np.random.default_rng(file_id).standard_normal(DIM).astype(np.float32)
        vector /= np.linalg.norm(vector)
        catalog.results.save(run_id, "ml", "bench", [ResultRow(file_id, record(vector), None)])
        catalog.runs.finish(run_id, "completed")
    finally:
        catalog.close()
    return timed(command)[0]


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, result.stdout


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def spread(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "n": len(values),
    }


# rclip's approach as a whole process: open the catalog, read every embedding blob, score,
# print the top 20 (no CLI, no config: the least such a program does).
RCLIP_STYLE = """
import sys
import numpy as np
from photoanalyzer.catalog import Catalog
catalog = Catalog(sys.argv[1], create=False)
blob, _ = catalog.search.stored_embedding(sys.argv[2])
query = np.frombuffer(blob, np.float16).astype(np.float32)
ids, parts = [], []
for batch in catalog.search.embeddings():
    ids += [row[0] for row in batch]
    parts.append(np.frombuffer(b"".join(r[5] for r in batch), np.float16).reshape(len(batch), -1))
vectors = np.concatenate(parts).astype(np.float32)
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
scores = vectors @ (query / np.linalg.norm(query))
best = np.argpartition(-scores, 20)[:20]
facts = catalog.search.facts([ids[i] for i in best[np.argsort(-scores[best])]])
print("\\n".join(f"{scores[i]:.3f}\\t{facts[ids[i]]['path']}" for i in best))
"""


if __name__ == "__main__":
    main()
