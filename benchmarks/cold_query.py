"""A new text query from the shell, as a whole process, with the text tower in ONNX Runtime (no
torch) against the torch path, alternated; and where the time of the ONNX path goes.

    python benchmarks/cold_query.py [--photos 100000] [--repeat 5] [--keep DIR]

The catalog holds N synthetic 512-value embeddings (search.py's, written through the
catalog's API); CLIP has random weights (real ones cannot be downloaded here). Steps:
1. the first text query: builds the search matrix and exports the text tower (once per model
   and weights), whole process;
2. `search "a new text K"` (a new text each time, so the text-embedding cache never answers),
   alternating the ONNX path and the torch one (PHOTOANALYZER_TEXT_TOWER=torch), K in
   1..repeat, whole process; the median of each;
3. an example-image query of an indexed photo (its stored embedding), whole process;
4. the ONNX query under `python -X importtime`: the slowest imports, and an in-process split
   of the query (encoder, matrix, ranking) for the same text.
Target (issue 28): step 2's ONNX median under 1.0 s on 2 cores for 100,000 photos."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from search import spread, write_catalog  # benchmarks/search.py: the synthetic catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--keep", type=Path, help="Work in this folder and keep it (a second run reuses it)."
    )
    parser.add_argument(
        "--no-torch", action="store_true", help="Leave out the torch path (seconds a query)."
    )
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep, args.photos, args.repeat, not args.no_torch)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), args.photos, args.repeat, not args.no_torch)


def run(folder: Path, photos: int, repeat: int, with_torch: bool) -> None:
    db = folder / "catalog.db"
    if db.exists():
        query_photo = folder / "library" / "0000" / "0000123.jpg"
        print(f"reusing the catalog {db}")
    else:
        started = time.perf_counter()
        query_photo = write_catalog(db, folder / "library", photos)
        print(f"{photos:,} embeddings written to {db} in {time.perf_counter() - started:.1f} s")
    config = folder / "random.yaml"
    config.write_text(f"ml:\n  models_dir: {folder / 'models'}\n  clip:\n    pretrained: random\n")
    base = [sys.executable, "-m", "photoanalyzer", "search", "--db", str(db)]
    base += ["--config", str(config)]
    stamp = int(time.time())  # texts never searched before, also with --keep
    first_s, err = timed([*base, f"the first text query {stamp}"])
    print(f"first text query (matrix and/or ONNX export built), whole process: {first_s:.2f} s")
    print(err.strip())
    onnx, torch = [], []
    for k in range(repeat):
        onnx.append(timed([*base, f"a new text {stamp} {k}"])[0])
        if with_torch:
            torch.append(timed([*base, f"a new text {stamp} {k} torch"], torch=True)[0])
    results = {
        "photos": photos,
        "first_text_query_s": round(first_s, 2),
        "text_onnx_whole_process_s": spread(onnx),
        "text_torch_whole_process_s": spread(torch) if torch else None,
        "example_image_whole_process_s": spread(
            [timed([*base, str(query_photo)])[0] for _ in range(repeat)]
        ),
        "help_whole_process_s": spread(
            [timed([sys.executable, "-m", "photoanalyzer", "--help"])[0] for _ in range(repeat)]
        ),
    }
    print(json.dumps(results, indent=2))
    print_imports([base[0], "-X", "importtime", *base[1:], f"imports {stamp}"])
    print(json.dumps(in_process(db, config, stamp), indent=2))


def timed(command: list[str], torch: bool = False) -> tuple[float, str]:
    env = dict(os.environ)
    # As an installed package runs: its modules compiled once to bytecode (pip does it at
    # install; an editable install on its first run), not compiled again by every process
    # (this environment sets PYTHONDONTWRITEBYTECODE, which cost 0.05 s a query).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if torch:
        env["PHOTOANALYZER_TEXT_TOWER"] = "torch"
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - started, done.stderr


def print_imports(command: list[str], shown: int = 15) -> None:
    """The modules whose import (with what they import) took longest, top level first."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    stderr = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stderr
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    print(f"slowest imports of an ONNX text query (cumulative ms; {'torch' in stderr=}):")
    for micros, name in sorted(rows, reverse=True)[:shown]:
        print(f"  {micros / 1000:7.1f}  {name}")


def in_process(db: Path, config: Path, stamp: int) -> dict:
    """One new text in this process, split into the encoder (tokenizer and session load, the
    run) and the matrix query."""
    from photoanalyzer.config import load_config, resolve_models_dir
    from photoanalyzer.ml.query_encoder import QueryEncoder
    from photoanalyzer.outputs.search.engine import SearchRequest, SearchSettings, search

    cfg = load_config(config)
    models = resolve_models_dir(cfg)
    started = time.perf_counter()
    encoder = QueryEncoder(cfg.ml, cfg.content, models)
    made = time.perf_counter()
    encoder.texts([f"in process {stamp}"])
    encoded = time.perf_counter()
    encoder.texts([f"in process {stamp} again"])
    again = time.perf_counter()
    settings = SearchSettings(db, db.parent / "thumbnails", models, cfg.ml, cfg.content)
    search(settings, SearchRequest(words=[f"in process {stamp}"]))  # the text is cached now
    searched = time.perf_counter()
    return {
        "encoder_made_s": round(made - started, 3),
        "first_text_encoded_s (tokenizer, session, run)": round(encoded - made, 3),
        "second_text_encoded_s": round(again - encoded, 3),
        "search_with_cached_text_s (catalog, matrix, ranking, facts)": round(searched - again, 3),
    }


if __name__ == "__main__":
    main()
