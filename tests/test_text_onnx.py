"""Text queries without torch: the CLIP text tower exported to ONNX (ml/text_export.py), run in
ONNX Runtime with our tokenizer (ml/text_onnx.py, ml/clip_tokenizer.py). Real open_clip
ViT-B-32 with random weights (the only weights here), exported once for the module."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photoanalyzer.catalog import Catalog, ResultRow
from photoanalyzer.catalog.files import FileFacts, SyncChanges, SyncCounts
from photoanalyzer.config import load_config
from photoanalyzer.ml import text_onnx
from photoanalyzer.ml.weights import Weights
from support.requirements import require_module

SUBJECTS = (
    "a dog", "two cats", "a red car", "an old man", "a little girl", "a bicycle", "a sailboat",
    "a birthday cake", "the Eiffel Tower", "a snowy mountain", "a crowded market",
    "a plate of sushi", "a golden retriever puppy", "fireworks", "a wedding couple",
    "a lighthouse", "a steam train", "sunflowers", "a koala", "a skateboarder",
)  # fmt: skip
SETTINGS = (
    "", " at sunset", " on a beach", " in the rain", " at night with neon lights",
    " in winter, covered in snow!", " (black & white photo)", " near Tromsø in 2019",
    " — blurry, out of focus", " seen from above, 4K HDR",
)  # fmt: skip
QUERIES = tuple(subject + setting for setting in SETTINGS for subject in SUBJECTS)  # 200
UNUSUAL = (
    "",
    "   ",
    "&amp;lt;b&amp;gt; bold &quot;quoted&quot;",
    "mojibake: cafÃ© crÃ¨me",
    "control\x01char\x1b[31m red\x7f",
    "curly “quotes” — and ﬁne ligatures",
    "\uff26\uff35\uff2c\uff2c width and straße İstanbul",  # full-width FULL
    "夜の東京タワー",
    "emoji 🐶🏖️ party",
    "<start_of_text>typed<END_OF_TEXT> specials",
    "wow!!! ?! ...",
    "I'M HERE, you'll SEE it's done",
    "\u00a0non-breaking\u2028line\r\nbreaks\ttabs",
    "two people riding bicycles " * 12,  # longer than the context: truncated
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A QueryEncoder with random weights whose first texts build the export; its notes, and
    the ONNX vectors of QUERIES."""
    require_module("torch")
    require_module("open_clip")
    require_module("onnxruntime")
    from photoanalyzer.ml.query_encoder import QueryEncoder

    models = tmp_path_factory.mktemp("models")
    ml = random_ml()
    notes: list[str] = []
    encoder = QueryEncoder(ml, load_config(None).content, models, notify=notes.append)
    vectors = encoder.texts(list(QUERIES))
    return models, notes, vectors, encoder


def random_ml():
    ml = load_config(None).ml
    return dataclasses.replace(ml, clip=dataclasses.replace(ml.clip, pretrained="random"))


def torch_reference(texts) -> np.ndarray:
    """open_clip's encode_text, as the torch path builds the random model (seed 0)."""
    import open_clip
    import torch

    from photoanalyzer.ml.clip_scenes import _build_full_model

    weights = Weights("clip", "ViT-B-32", "random", None, True)
    model = _build_full_model(weights)
    with torch.no_grad():
        tokens = open_clip.get_tokenizer("ViT-B-32")(list(texts))
        return model.encode_text(tokens, normalize=True).numpy()


def export_of(models: Path) -> Path:
    return text_onnx.export_folder(models, Weights("clip", "ViT-B-32", "random", None, True))


def test_the_first_text_query_exports_the_tower_once_and_says_so(exported):
    models, notes, _, _ = exported
    assert len(notes) == 2, notes
    assert notes[0].startswith("Exporting the text tower of CLIP ViT-B-32 to ONNX")
    assert notes[1].startswith("Exported in") and "cosine" in notes[1]
    folder = export_of(models)
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json", "text.onnx", "text.onnx.data", "tokenizer.json",
    ]  # fmt: skip
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == "ViT-B-32" and manifest["random_weights"] is True
    assert manifest["least_cosine_on_probes"] >= 0.9999
    assert not list(folder.parent.glob("*.part"))  # the scratch folder was renamed
    # A new encoder, as the next search process has: new texts, no export, no note.
    from photoanalyzer.ml.query_encoder import QueryEncoder

    later: list[str] = []
    again = QueryEncoder(random_ml(), load_config(None).content, models, notify=later.append)
    assert again.texts(["a text never searched before"]).shape == (1, 512)
    assert later == [] and again._tower is not None and again._model is None


def test_onnx_agrees_with_torch_on_200_queries(exported):
    _, _, vectors, _ = exported
    reference = torch_reference(QUERIES)
    cosines = np.sum(vectors * reference, axis=1)
    assert len(cosines) == 200 and cosines.min() >= 0.999, cosines.min()
    # Not a constant output that agrees trivially: the queries differ from each other.
    between = vectors @ vectors.T
    assert between[~np.eye(200, dtype=bool)].min() < 0.99
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_unusual_texts_agree_too(exported):
    _, _, _, encoder = exported
    vectors = encoder.texts(list(UNUSUAL))
    cosines = np.sum(vectors * torch_reference(UNUSUAL), axis=1)
    assert cosines.min() >= 0.999, dict(zip(UNUSUAL, cosines.round(5), strict=True))


def test_the_tokenizer_gives_open_clips_ids(exported):
    open_clip = require_module("open_clip")
    from photoanalyzer.ml.clip_tokenizer import ClipTokenizer
    from photoanalyzer.ml.text_export import open_clip_ids

    texts = [*QUERIES, *UNUSUAL]
    ours = ClipTokenizer(export_of(exported[0]))
    assert ours.ids(texts) == open_clip_ids(open_clip.get_tokenizer("ViT-B-32"), texts)
    tokens = ours(["a dog", "a photo of a cat"])  # padded to the longest, not to 77
    assert tokens.shape == (2, 7) and tokens[0, 4:].tolist() == [0, 0, 0]


def test_cleaning_skips_ftfy_only_where_it_would_change_nothing():
    tokenizer = require_module("open_clip.tokenizer")
    from photoanalyzer.ml.clip_tokenizer import clean_lower

    ascii_texts = ["Plain  ASCII, with 'quotes' and <tags> & entities &amp; too", "tab\there"]
    for text in [*QUERIES, *UNUSUAL, *ascii_texts]:
        assert clean_lower(text) == tokenizer._clean_lower(text), text


def test_the_export_is_keyed_by_the_weights_identity(tmp_path):
    checkpoint = tmp_path / "clip.pt"
    checkpoint.write_bytes(b"weights")
    weights = Weights("clip", "ViT-B-32", str(checkpoint), checkpoint, False)
    random = Weights("clip", "ViT-B-32", "random", None, True)
    other_model = Weights("clip", "ViT-B-16", "random", None, True)
    folders = {text_onnx.export_folder(tmp_path, w) for w in (weights, random, other_model)}
    assert len(folders) == 3
    first = text_onnx.export_folder(tmp_path, weights)
    checkpoint.write_bytes(b"other weights")  # the file changed: another export
    assert text_onnx.export_folder(tmp_path, weights) != first
    assert text_onnx.export_folder(tmp_path, random) == text_onnx.export_folder(tmp_path, random)


def test_a_model_the_export_does_not_cover_is_refused_once_then_left_to_torch(
    tmp_path, monkeypatch
):
    torch = require_module("torch")
    open_clip = require_module("open_clip")
    from photoanalyzer.ml import text_export
    from photoanalyzer.ml.query_encoder import QueryEncoder

    class NotClip(torch.nn.Module):  # the boundary: a text encoder of another kind
        def encode_text(self, tokens):
            return torch.ones(len(tokens), 4)

    monkeypatch.setattr(open_clip, "create_model", lambda *a, **k: NotClip())
    notes: list[str] = []
    encoder = QueryEncoder(random_ml(), load_config(None).content, tmp_path, notify=notes.append)
    vectors = encoder.texts(["a dog"])
    assert np.allclose(vectors, 0.5)  # through torch: the stand-in's unit vector
    assert "was not exported" in notes[-1] and "NotClip" in notes[-1]
    folder = export_of(tmp_path)
    assert text_onnx.refusal(folder).startswith("ExportRefused: its text encoder is a NotClip")
    assert not (folder / "text.onnx").exists()

    def never(*args):
        raise AssertionError("a refused model is not exported again")

    monkeypatch.setattr(text_export, "export_text_tower", never)
    later: list[str] = []
    again = QueryEncoder(random_ml(), load_config(None).content, tmp_path, notify=later.append)
    assert np.allclose(again.texts(["a cat"]), 0.5) and later == []


def test_a_damaged_export_is_said_and_texts_go_through_torch(exported, tmp_path):
    import shutil

    from photoanalyzer.ml.query_encoder import QueryEncoder

    damaged = export_of(tmp_path)
    shutil.copytree(export_of(exported[0]), damaged)
    (damaged / "text.onnx").write_bytes(b"not a graph")
    notes: list[str] = []
    encoder = QueryEncoder(random_ml(), load_config(None).content, tmp_path, notify=notes.append)
    vector = encoder.texts(["a dog at the damaged export"])
    assert len(notes) == 1 and "cannot be loaded" in notes[0] and str(damaged) in notes[0]
    reference = torch_reference(["a dog at the damaged export"])
    assert float(vector[0] @ reference[0]) > 0.9999  # torch's own vector


_QUERY_THEN_MODULES = (
    "import sys\n"
    "from photoanalyzer import cli\n"
    "sys.argv = ['photoanalyze', 'search', *sys.argv[1:]]\n"
    "try:\n    cli.main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
    "print(sorted(m for m in ('torch', 'open_clip', 'torchvision') if m in sys.modules))\n"
)


def test_a_text_query_in_a_fresh_process_never_imports_torch(exported, tmp_path, cli):
    models, _, _, _ = exported
    db = tmp_path / "c.db"
    texts = ["a dog", "a cat", "a car", "a puppy", "a sofa"]
    write_catalog(db, tmp_path / "lib", torch_reference(texts))

    def search(text: str, models: Path, env: dict | None = None) -> tuple[dict, str]:
        config = tmp_path / f"{models.name}.yaml"
        config.write_text(f"ml:\n  models_dir: {models}\n  clip:\n    pretrained: random\n")
        done = subprocess.run(
            [sys.executable, "-c", _QUERY_THEN_MODULES, text, "--db", str(db),
             "--config", str(config), "--json"],
            capture_output=True, text=True, env={**cli.env, **(env or {})}, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        *out, imported = done.stdout.splitlines()
        return json.loads("\n".join(out)), imported

    def scores(found: dict) -> dict[str, float]:
        return {Path(r["path"]).name: r["score"] for r in found["results"]}

    found, imported = search("a puppy on a sofa", models)
    assert imported == "[]"
    assert len(found["results"]) == len(texts) and found["random_weights"] is True
    # The torch path, in a model folder of its own (the text is in no cache there).
    by_torch, torch_imported = search("a puppy on a sofa", tmp_path / "torch-models",
                                      {text_onnx.SWITCH: "torch"})  # fmt: skip
    assert "torch" in torch_imported
    assert list(scores(found)) == list(scores(by_torch))  # the same ranking
    assert scores(found) == pytest.approx(scores(by_torch), abs=2e-3)  # float16 embeddings


def write_catalog(db: Path, library: Path, vectors: np.ndarray) -> None:
    """One present photo per vector, with that embedding as its current ML result."""
    paths = [str(library / f"{i}.jpg") for i in range(len(vectors))]
    catalog = Catalog(db)
    try:
        run_id = catalog.runs.start([str(library)], ["ml"])
        new = [(FileFacts(p, 1000, 1, "photo"), f"fp{i}") for i, p in enumerate(paths)]
        counts = SyncCounts(len(paths), len(paths), 0, 0)
        catalog.files.apply_sync(run_id, SyncChanges(counts, new), 0.0)
        ids = catalog.files.known_under([str(library)])
        rows = [
            ResultRow(ids[path].file_id, ml_record(vector), None)
            for path, vector in zip(paths, vectors, strict=True)
        ]
        catalog.results.save(run_id, "ml", "test", rows)
        catalog.runs.finish(run_id, "completed")
    finally:
        catalog.close()


def ml_record(vector: np.ndarray) -> dict:
    return {
        "top_scene": "a beach",
        "scenes": [["a beach", 0.5]],
        "objects": [],
        "object_counts": {},
        "ml_random_weights": True,
        "clip_random_weights": True,
        "yolo_random_weights": True,
        "embedding": vector.astype(np.float16).tobytes(),
    }
