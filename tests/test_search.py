"""`photoanalyze search` and `duplicates --by embedding`.

A library of real files goes through the real metadata and content phases (so dates,
cameras, GPS, sharpness and exposure flags, thumbnails, near-duplicate hashes and video
frames are what the program itself measured). Their ML results are then stored through the
catalog, as the ML phase stores them, with known embeddings: unit vectors along chosen axes,
so every score below is a cosine that can be worked out by hand.

Text queries go through the real query encoder and ClipModel with a stand-in at the
open_clip boundary (`standin_open_clip`: open_clip.create_model and get_tokenizer give a
model whose text tower maps each known text to a known vector). Nothing else is replaced.
One test runs the real model class with random weights end to end."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from conftest import Cli, random_weights_yaml
from photoanalyzer.catalog import Catalog, ResultRow
from photoanalyzer.errors import UsageError
from photoanalyzer.outputs.search.filters import (
    FilterOptions,
    file_filter,
    parse_near,
    parse_object,
)
from photoanalyzer.outputs.search.query import combine, parse_terms
from support.imagegen import exif_of, full_spec, textured_photo
from support.requirements import require_module

DIM = 512
SNOW, BEACH, CAR, DARK, BLUR, FRAME0, FRAME2, NESTED, BRIGHT, NOISE = range(10)
# Files (relative to the library): capture time, camera, GPS, ML facts, embedding.
PHOTOS = {
    "beach.jpg": dict(
        taken="2021:06:01 10:00:00", make="Canon", model="Canon EOS R5",
        lens="RF24-105mm F4 L IS USM", gps=(48.8584, 2.2945, 30.0),
        scene="a beach", objects={"person": 2}, vector={BEACH: 1},
    ),
    "snow.jpg": dict(
        taken="2023:05:01 12:00:00", make="Apple", model="iPhone 12",
        gps=(59.9139, 10.7522, 10.0), scene="snow", objects={"dog": 1}, vector={SNOW: 1},
    ),
    "snowbeach.jpg": dict(
        taken="2022:01:15 09:00:00", make="Google", model="Pixel 7",
        scene="a beach", objects={"person": 1, "dog": 3}, vector={SNOW: 1, BEACH: 1},
    ),
    "car.jpg": dict(scene="a car", vector={CAR: 1}),
    "dark.jpg": dict(taken="2020:12:24 20:00:00", scene="the night sky", vector={DARK: 1}),
    "blurry.jpg": dict(taken="2021:06:02 08:00:00", scene="a park", vector={BLUR: 1}),
    "bright.jpg": dict(taken="2022:07:01 14:00:00", scene="snow", vector={BRIGHT: 1}),
    "sub/nested.jpg": dict(
        taken="2021:01:01 10:00:00", scene="a park", vector={SNOW: 0.6, NESTED: 0.8}
    ),
    "pending.jpg": dict(taken="2019:01:01 00:00:00"),  # no ML result: no embedding yet
}  # fmt: skip
VIDEO_FRAMES = [{FRAME0: 1}, {SNOW: 0.9, FRAME2: math.sqrt(1 - 0.81)}, {FRAME2: 1}]


def unit(axes: dict[int, float]) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    for axis, value in axes.items():
        vector[axis] = value
    return vector / np.linalg.norm(vector)


def blob(vector: np.ndarray) -> bytes:
    return vector.astype(np.float16).tobytes()


def save_picture(path: Path, image: Image.Image, **exif) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not exif.get("taken") and not exif.get("make"):
        image.save(path, quality=92)
        return
    spec = full_spec(
        make=exif.get("make"), model=exif.get("model"), lens=exif.get("lens"),
        lens_make=exif.get("make") if exif.get("lens") else None,
        datetime_original=exif.get("taken"), offset_time_original=None, gps=exif.get("gps"),
    )  # fmt: skip
    image.save(path, quality=92, exif=exif_of(spec).tobytes())


def picture_for(name: str, seed: int) -> Image.Image:
    image = textured_photo((800, 600), seed=seed)
    if name == "blurry.jpg":
        return image.filter(ImageFilter.GaussianBlur(6))
    if name == "dark.jpg":
        return image.point(lambda v: v // 12)
    if name == "bright.jpg":
        return image.point(lambda v: 235 + v // 12)
    return image


def ml_record(facts: dict, vector: np.ndarray, random: bool = False) -> dict:
    objects = facts.get("objects", {})
    return {
        "top_scene": facts["scene"],
        "scenes": [[facts["scene"], 0.9]],
        "objects": [{"class": k, "confidence": 0.9, "box": [0, 0, 1, 1]} for k in objects],
        "object_counts": objects,
        "ml_random_weights": random,
        "clip_random_weights": random,
        "yolo_random_weights": random,
        "embedding": blob(vector),
    }


def store_ml(db: Path, records: dict[str, dict]) -> None:
    """ML results as the ML phase stores them: one batch through catalog.results.save."""
    catalog = Catalog(db)
    try:
        known = catalog.files.known_under(list(records))
        run_id = catalog.runs.start(["test"], ["ml"])
        rows = [ResultRow(known[path].file_id, record, None) for path, record in records.items()]
        catalog.results.save(run_id, "ml", "ml-test", rows)
    finally:
        catalog.close()


def video_record(db: Path, video: Path, random: bool = False) -> dict:
    catalog = Catalog(db)
    frames = catalog.results.video_frames(str(video))
    catalog.close()
    assert len(frames) == len(VIDEO_FRAMES)
    vectors = [unit(axes) for axes in VIDEO_FRAMES]
    mean = np.mean(vectors, axis=0)
    record = ml_record({"scene": "snow"}, mean / np.linalg.norm(mean), random)
    record["frames"] = [
        {"frame": f["frame"], "timestamp": f["timestamp"], "top_scene": "snow",
         "scenes": [["snow", 0.9]], "objects": [], "embedding": blob(v)}
        for f, v in zip(frames, vectors, strict=True)
    ]  # fmt: skip
    return record


def build_library(root: Path, names=tuple(PHOTOS), video: bool = True) -> tuple[Path, Path]:
    from test_video import write_video

    library = root / "lib"
    for seed, name in enumerate(names):
        save_picture(library / name, picture_for(name, seed), **PHOTOS[name])
    if "beach.jpg" in names:  # a resized, re-encoded copy: a near-duplicate of beach.jpg
        with Image.open(library / "beach.jpg") as original:
            original.resize((400, 300), Image.Resampling.LANCZOS).save(
                library / "beach small.jpg", quality=75
            )
    if video:
        tags = {"com.apple.quicktime.creationdate": "2022-02-01T10:00:00+0100"}
        write_video(library / "clip.mov", seconds=25, fps=4, audio=False, tags=tags)
    cli = Cli(root / "home")
    (root / "home").mkdir(exist_ok=True)
    db = root / "c.db"
    cli("run", str(library), "--db", str(db), "--quiet", "--phases", "metadata,content")
    records = {
        str(library / name): ml_record(PHOTOS[name], unit(PHOTOS[name]["vector"]))
        for name in names
        if "vector" in PHOTOS[name]
    }
    if "beach.jpg" in names:
        copy = ml_record(PHOTOS["beach.jpg"], unit({BEACH: 1, NOISE: 0.1}))
        records[str(library / "beach small.jpg")] = copy
    if video:
        records[str(library / "clip.mov")] = video_record(db, library / "clip.mov")
    store_ml(db, records)
    return library, db


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    library, db = build_library(root)
    return library, db, root


@pytest.fixture
def fresh(indexed, tmp_path):
    """A copy of the indexed catalog (and its thumbnails) that a test may change."""
    library, db, _ = indexed
    shutil.copy(db, tmp_path / "c.db")
    shutil.copytree(db.with_name("c.db-thumbnails"), tmp_path / "c.db-thumbnails")
    return library, tmp_path / "c.db"


class InProcess:
    """`photoanalyze search ...` through cli.main in this process, so that the stand-in at
    the open_clip boundary is in force. Returns (exit code, stdout, stderr)."""

    def __init__(self, capsys, monkeypatch, config: Path):
        self.capsys, self.monkeypatch, self.config = capsys, monkeypatch, config

    def __call__(self, db: Path, *args: str) -> tuple[int, str, str]:
        from photoanalyzer import cli

        argv = ["photoanalyze", "search", "--db", str(db), "--config", str(self.config), *args]
        self.monkeypatch.setattr(sys, "argv", argv)
        self.capsys.readouterr()
        try:
            cli.main()
            code = 0
        except SystemExit as end:
            code = end.code or 0
        out, err = self.capsys.readouterr()
        return code, out, err


TEXTS = {"snow": {SNOW: 1}, "beach": {BEACH: 1}, "a car": {CAR: 1}}


@pytest.fixture
def standin_open_clip(monkeypatch):
    """The open_clip boundary: create_model builds a model whose text tower gives each
    known text its known vector; get_tokenizer numbers the known texts. Records every model
    construction, so tests can tell what was built."""
    torch = require_module("torch")
    open_clip = require_module("open_clip")
    table = torch.stack([torch.from_numpy(unit(axes)) for axes in TEXTS.values()])
    built = []

    class StandInClip(torch.nn.Module):
        def encode_text(self, tokens):
            return table[tokens[:, 0]] * 3.0  # not unit length: the encoder must normalize

    def create_model(name, *args, **kwargs):
        built.append((name, kwargs.get("device")))
        return StandInClip()

    def tokenizer(texts):
        return torch.tensor([[list(TEXTS).index(text)] for text in texts])

    monkeypatch.setattr(open_clip, "create_model", create_model)
    monkeypatch.setattr(open_clip, "get_tokenizer", lambda name: tokenizer)
    return built


def standin_config(folder: Path, random: bool = False) -> Path:
    """A checkpoint path (the stand-in ignores its content), or random weights."""
    weights = folder / "standin-clip.pt"
    weights.write_bytes(b"stand-in")
    config = folder / f"standin-{random}.yaml"
    pretrained = "random" if random else str(weights)
    config.write_text(
        f"ml:\n  models_dir: {folder / 'models'}\n  clip:\n    pretrained: {pretrained}\n"
    )
    return config


@pytest.fixture
def search(capsys, monkeypatch, tmp_path, standin_open_clip):
    return InProcess(capsys, monkeypatch, standin_config(tmp_path))


def ranked(out: str, library: Path) -> list[tuple[str, float]]:
    """(path relative to the library, score) of each `score<TAB>path` line."""
    rows = []
    for line in out.splitlines():
        score, path, *_ = line.split("\t")
        rows.append((str(Path(path).relative_to(library)), float(score)))
    return rows


def names(out: str, library: Path) -> list[str]:
    return [str(Path(line.split("\t")[1]).relative_to(library)) for line in out.splitlines()]


# -- the query language -------------------------------------------------------------------------


def test_query_words_give_signs_weights_texts_and_images(tmp_path):
    photo = tmp_path / "racing car.jpg"
    photo.write_bytes(b"")
    indexed = {str(photo), "/library/gone.jpg"}
    terms = parse_terms(
        [str(photo), "-", "2:sports car", "+", "0.5:snow", "/library/gone.jpg"],
        indexed.__contains__,
    )
    assert [(t.sign, t.weight, t.text, t.image) for t in terms] == [
        (1, 1.0, None, str(photo)),
        (-1, 2.0, "sports car", None),
        (1, 0.5, "snow", None),
        (1, 1.0, None, "/library/gone.jpg"),  # known to the catalog, though not on disk
    ]
    for words, message in (
        (["snow", "+"], "at the end"),
        (["snow", "-", "+", "car"], "not another sign"),
        (["0:snow"], "must be above 0"),
        (["./not-there.jpg"], "no image at ./not-there.jpg"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_terms(words, lambda path: False)


def test_the_query_vector_is_the_weighted_sum_normalized():
    terms = parse_terms(["2:snow", "-", "beach", "+", "a car"], lambda path: False)
    vectors = np.stack([unit({SNOW: 1}), 5 * unit({BEACH: 1}), unit({CAR: 1})])
    expected = unit({SNOW: 2, BEACH: -1, CAR: 1})
    assert np.allclose(combine(terms, vectors), expected, atol=1e-6)
    with pytest.raises(UsageError, match="cancel out"):
        combine(parse_terms(["snow", "-", "snow"], lambda p: False), vectors[[0, 0]])


def test_filter_values_that_cannot_mean_anything_name_their_option(tmp_path):
    assert parse_object("dog:2") == ("dog", 2) and parse_object("person") == ("person", 1)
    assert parse_near("48.8584, 2.2945, 5") == (48.8584, 2.2945, 5.0)
    where = file_filter(FilterOptions(after="2023", before="2023-07-14T18:30", sharp=True))
    assert (where.after, where.before, where.blurry) == (
        "2023-01-01T00:00:00",
        "2023-07-14T18:30:00",
        (False,),
    )
    bad = {
        "--after": FilterOptions(after="2023-13-01"),
        "--before": FilterOptions(before="last week"),
        "--after (2024)": FilterOptions(after="2024", before="2023"),
        "--object": FilterOptions(objects=["dog:0"]),
        "--object: 'dog:two'": FilterOptions(objects=["dog:two"]),
        "--near": FilterOptions(near=["48.8,2.3"]),
        "--near: '95,": FilterOptions(near=["95,2,5"]),
        "--camera": FilterOptions(cameras=[" "]),
        "--scene": FilterOptions(scenes=["beaches"], known_scenes=lambda: ["a beach"]),
    }
    for option, options in bad.items():
        with pytest.raises(UsageError) as raised:
            file_filter(options)
        assert str(raised.value).startswith(option), (option, str(raised.value))
    # --scene in any letter case names every label stored so (compared as stored, in SQL).
    known = lambda: ["a beach", "A Beach", "snow"]  # noqa: E731
    chosen = file_filter(FilterOptions(scenes=[" A BEACH", "Snow"], known_scenes=known))
    assert chosen.scenes == ("a beach", "A Beach", "snow")
    # Without its article too, as `xmp write` keywords it; a label that is the word itself
    # is that label only.
    shortened = file_filter(FilterOptions(scenes=["beach"], known_scenes=known))
    assert shortened.scenes == ("a beach", "A Beach")
    both = lambda: ["a beach", "beach"]  # noqa: E731
    assert file_filter(FilterOptions(scenes=["Beach"], known_scenes=both)).scenes == ("beach",)
    # --person: digits are a person's number first, as `people` reads them (an older
    # catalog may hold a name of digits); "#8" too; other digits ("²") are a name.
    persons = lambda: [(3, "8"), (8, None), (9, "²")]  # noqa: E731
    for value in ("8", "#8"):
        assert file_filter(FilterOptions(persons=[value], known_persons=persons)).persons == ((8,),)
    assert file_filter(FilterOptions(persons=["²"], known_persons=persons)).persons == ((9,),)
    # --in takes any path, on disk or not (a disk that is not mounted): made absolute only.
    nowhere = file_filter(FilterOptions(folders=["nowhere/photos", str(tmp_path / "gone")]))
    assert nowhere.folders == (str(Path.cwd() / "nowhere" / "photos"), str(tmp_path / "gone"))


# -- ranking, weights, videos -------------------------------------------------------------------


def test_text_queries_rank_by_cosine_and_videos_match_by_their_best_frame(indexed, search):
    library, db, _ = indexed
    code, out, err = search(db, "snow")
    assert code == 0, err
    rows = ranked(out, library)
    assert rows[:4] == [
        ("snow.jpg", 1.0),
        ("clip.mov", 0.9),  # its second frame
        ("snowbeach.jpg", pytest.approx(0.707, abs=1e-3)),
        ("sub/nested.jpg", 0.6),
    ]
    assert {score for _, score in rows[4:]} == {0.0}
    assert len(rows) == 10  # every embedded file; pending.jpg has no embedding
    video_line = out.splitlines()[1]
    catalog = Catalog(db)
    second = catalog.results.video_frames(str(library / "clip.mov"))[1]["timestamp"]
    catalog.close()
    assert video_line == f"0.900\t{library / 'clip.mov'}\tat {second:.1f} s"
    assert "RANDOM" not in out + err


def test_plus_minus_and_weights_combine_queries_as_rclip_does(indexed, search):
    library, db, _ = indexed
    both = ranked(search(db, "snow", "+", "beach", "--top", "3")[1], library)
    assert both[0] == ("snowbeach.jpg", 1.0)
    assert {name for name, _ in both[1:]} <= {"snow.jpg", "beach.jpg"}
    without = ranked(search(db, "snow", "-", "beach")[1], library)
    assert without[0] == ("snow.jpg", pytest.approx(0.707, abs=1e-3))
    assert without[-2:] == [
        ("beach small.jpg", pytest.approx(-0.704, abs=2e-3)),
        ("beach.jpg", pytest.approx(-0.707, abs=1e-3)),
    ]
    assert dict(without)["snowbeach.jpg"] == 0.0
    snow_heavy = dict(ranked(search(db, "2:snow", "+", "beach")[1], library))
    beach_heavy = dict(ranked(search(db, "snow", "+", "2:beach")[1], library))
    assert snow_heavy["snow.jpg"] == pytest.approx(2 / math.sqrt(5), abs=1e-3)
    assert snow_heavy["beach.jpg"] == pytest.approx(1 / math.sqrt(5), abs=1e-3)
    assert beach_heavy["beach.jpg"] == pytest.approx(2 / math.sqrt(5), abs=1e-3)


def test_an_indexed_example_image_uses_its_stored_embedding_and_is_not_listed(
    indexed, search, standin_open_clip
):
    library, db, _ = indexed
    code, out, _ = search(db, str(library / "snow.jpg"), "-", "beach", "--top", "2")
    assert code == 0
    assert names(out, library) == ["clip.mov", "sub/nested.jpg"]  # snow.jpg itself left out
    assert standin_open_clip == [("ViT-B-32", None)]  # only the text needed a model
    code, out, _ = search(db, str(library / "beach small.jpg"), "--top", "1")
    assert ranked(out, library) == [("beach.jpg", pytest.approx(0.995, abs=1e-3))]
    assert standin_open_clip == [("ViT-B-32", None)]  # the example image needed none


def test_text_queries_build_the_text_tower_only_for_new_texts(indexed, search, standin_open_clip):
    library, db, _ = indexed
    assert search(db, "a car", "--top", "1")[1].split("\t")[1].strip() == str(library / "car.jpg")
    assert standin_open_clip == [("ViT-B-32", None)]  # the text tower alone: no meta skeleton
    search(db, "a car", "--top", "1")
    assert standin_open_clip == [("ViT-B-32", None)]  # from the text-embedding cache


# -- filters ----------------------------------------------------------------------------------


def test_a_listing_without_a_query_is_the_start_of_the_whole_listing(indexed, search):
    """Without a query SQLite sorts and stops at --top (catalog.search.by_date): a page is
    the start of the whole listing, also with near-duplicates left out before the cut."""
    library, db, _ = indexed

    def listed(*options: str) -> list[str]:
        code, out, err = search(db, *options)
        assert code == 0, err
        return names(out, library)

    everything = listed("--top", "0")
    unique = listed("--top", "0", "--no-duplicates")
    left_out = [i for i, name in enumerate(everything) if name not in unique]
    assert left_out, "the library should hold near-duplicates"
    for top in range(1, len(everything) + 1):
        assert listed("--top", str(top)) == everything[:top]
    page = left_out[0] + 1  # the first near-duplicate left out falls inside the page
    assert len(unique) >= page  # so the page is full only if the cut comes after leaving out
    assert listed("--top", str(page), "--no-duplicates") == unique[:page]


def test_every_filter_alone_is_a_catalog_query_by_date(indexed, search):
    library, db, _ = indexed
    exported = Cli(indexed[2] / "home").export(db)

    def listed(*options: str) -> list[str]:
        code, out, err = search(db, *options, "--top", "0")
        assert code == 0, err
        assert all(line.startswith("-\t") for line in out.splitlines())  # no score
        return names(out, library)

    def flagged(field: str) -> set[str]:
        return {str(Path(p).relative_to(library)) for p, row in exported.items() if row[field]}

    assert listed("--after", "2022-02-01") == ["clip.mov", "bright.jpg", "snow.jpg"]
    assert listed("--before", "2021-06-02") == [
        "pending.jpg", "dark.jpg", "sub/nested.jpg", "beach.jpg",
    ]  # fmt: skip
    assert listed("--camera", "canon") == ["beach.jpg"]
    assert listed("--camera", "IPHONE", "--camera", "pixel") == ["snowbeach.jpg", "snow.jpg"]
    assert listed("--lens", "rf24-105") == ["beach.jpg"]
    assert listed("--in", str(library / "sub")) == ["sub/nested.jpg"]
    assert listed("--kind", "video") == ["clip.mov"]
    assert "clip.mov" not in listed("--kind", "photo") and len(listed("--kind", "photo")) == 10
    assert listed("--scene", "A Beach") == ["beach.jpg", "snowbeach.jpg", "beach small.jpg"]
    assert listed("--scene", "snow", "--scene", "a car") == [
        "clip.mov", "bright.jpg", "snow.jpg", "car.jpg",
    ]  # fmt: skip
    assert listed("--object", "person") == ["beach.jpg", "snowbeach.jpg", "beach small.jpg"]
    assert listed("--object", "person:2") == ["beach.jpg", "beach small.jpg"]
    assert listed("--object", "Dog:2", "--object", "person:2") == [
        "beach.jpg", "snowbeach.jpg", "beach small.jpg",
    ]  # fmt: skip
    assert listed("--near", "48.86,2.29,5") == ["beach.jpg"]  # Paris
    assert listed("--near", "48.86,2.29,5", "--near", "59.91,10.75,10") == [
        "beach.jpg", "snow.jpg",
    ]  # fmt: skip
    assert listed("--near", "48.86,2.29,0.1") == []  # 400 m off
    assert listed("--has-gps") == ["beach.jpg", "snow.jpg"]
    assert "blurry.jpg" in flagged("blurry") and "beach.jpg" not in flagged("blurry")
    assert set(listed("--blurry")) == flagged("blurry")
    assert set(listed("--sharp")) == set(listed("--kind", "photo", "--kind", "video")) - flagged(
        "blurry"
    )
    assert "dark.jpg" in flagged("underexposed") and "bright.jpg" in flagged("overexposed")
    assert set(listed("--dark")) == flagged("underexposed")
    assert set(listed("--overexposed")) == flagged("overexposed")
    assert set(listed("--dark", "--overexposed")) == flagged("underexposed") | flagged(
        "overexposed"
    )
    everything = listed()
    assert everything[0] == "pending.jpg" and everything[-2:] == ["beach small.jpg", "car.jpg"]
    assert "beach small.jpg" not in listed("--no-duplicates")  # the pick is beach.jpg
    assert "beach.jpg" in listed("--no-duplicates")


def test_filters_combine_and_the_score_cutoff_and_date_order_apply(indexed, search):
    library, db, _ = indexed
    cut = ranked(search(db, "snow", "--min-score", "0.5")[1], library)
    assert [name for name, _ in cut] == ["snow.jpg", "clip.mov", "snowbeach.jpg", "sub/nested.jpg"]
    by_date = names(search(db, "snow", "--min-score", "0.5", "--sort", "date")[1], library)
    assert by_date == ["sub/nested.jpg", "snowbeach.jpg", "clip.mov", "snow.jpg"]
    best_two_by_date = names(search(db, "snow", "--top", "2", "--sort", "date")[1], library)
    assert best_two_by_date == ["clip.mov", "snow.jpg"]
    combined = search(db, "snow", "--kind", "photo", "--after", "2021-06", "--min-score", "0.5")
    assert names(combined[1], library) == ["snow.jpg", "snowbeach.jpg"]
    beachy = search(db, "snow", "--scene", "a beach", "--object", "dog", "--no-duplicates")
    assert ranked(beachy[1], library) == [("snowbeach.jpg", pytest.approx(0.707, abs=1e-3))]
    facts_only = search(db, "--camera", "canon", "--has-gps", "--before", "2022")
    assert names(facts_only[1], library) == ["beach.jpg"]


def test_files_without_an_embedding_are_counted_in_a_note(indexed, search):
    library, db, _ = indexed
    code, out, err = search(db, "snow")
    assert code == 0 and "note: 1 photo has no embedding yet: run `photoanalyze run`" in err
    code, out, err = search(db, "snow", "--before", "2020")
    assert code == 0 and out == ""
    assert "1 photo has no embedding yet" in err and "No matches." in err
    _, out, err = search(db, "snow", "--kind", "video")
    assert names(out, library) == ["clip.mov"] and "no embedding" not in err
    document = json.loads(search(db, "snow", "--json")[1])
    assert document["not_embedded"] == {"photo": 1}
    assert document["notes"] == ["1 photo has no embedding yet: run `photoanalyze run`"]


def fail_ml(db: Path, paths: list[Path], final: bool = True) -> None:
    """The ML phase's errors for these files, as it stores them: final (the file could not
    be read), or not (not the file's fault: it stays pending)."""
    catalog = Catalog(db)
    try:
        known = catalog.files.known_under([str(path) for path in paths])
        run_id = catalog.runs.start(["test"], ["ml"])
        rows = [ResultRow(known[str(p)].file_id, None, "truncated", final=final) for p in paths]
        catalog.results.save(run_id, "ml", "ml-test", rows)
    finally:
        catalog.close()


FAILED_NOTE = (
    "{} could not be read by the ML phase (tried again when {} or the ML settings do): "
    "`photoanalyze report` lists {} under Problems"
)


def test_files_the_ml_phase_failed_on_are_counted_apart_from_those_a_run_embeds(fresh, search):
    library, db = fresh
    fail_ml(db, [library / "dark.jpg", library / "blurry.jpg"])  # a run gives them nothing
    fail_ml(db, [library / "pending.jpg"], final=False)  # the next run tries it again
    yet = "note: 1 photo has no embedding yet: run `photoanalyze run`"
    code, out, err = search(db, "snow")
    assert code == 0 and yet in err
    assert "note: " + FAILED_NOTE.format("2 photos", "they change", "them") in err
    assert not {"dark.jpg", "blurry.jpg"} & set(names(out, library))
    # A filter: the files without an embedding among those that pass (dark.jpg, pending.jpg)
    _, _, err = search(db, "snow", "--before", "2021")
    assert yet in err and FAILED_NOTE.format("1 photo", "it changes", "it") in err
    document = json.loads(search(db, "snow", "--json")[1])
    assert document["not_embedded"] == {"photo": 3} and document["ml_failed"] == {"photo": 2}
    assert len(document["notes"]) == 2


def test_missing_files_are_never_listed(fresh, search):
    library, db = fresh
    assert "snow.jpg" in names(search(db, "snow")[1], library)
    with sqlite3.connect(db) as raw:  # as a run that no longer sees the file marks it
        raw.execute("UPDATE files SET missing = 1 WHERE path = ?", (str(library / "snow.jpg"),))
    for args in (["snow"], ["--top", "0"], ["--has-gps"], ["--min-score", "0.9", "snow"]):
        assert "snow.jpg" not in names(search(db, *args)[1], library), args


def test_no_filter_matches_what_an_overwritten_file_used_to_be(tmp_path, capsys, monkeypatch):
    """Three photos overwritten with other pictures, then a run whose phases did not reach
    them (only the places phase): their stored camera, GPS, date, scene, objects, blur and
    exposure describe the old pictures, and no filter may match them."""
    library, db = build_library(
        tmp_path, names=("dark.jpg", "blurry.jpg", "beach.jpg"), video=False
    )
    search = InProcess(capsys, monkeypatch, standin_config(tmp_path))
    filters = {
        "--dark": "dark.jpg",
        "--blurry": "blurry.jpg",
        "--camera canon": "beach.jpg",
        "--lens rf24": "beach.jpg",
        "--has-gps": "beach.jpg",
        "--near 48.86,2.29,5": "beach.jpg",
        "--after 2021-06-02": "blurry.jpg",
        "--before 2021": "dark.jpg",
        "--scene a_beach": "beach.jpg",
        "--object person:2": "beach.jpg",
    }

    def listed(option: str) -> list[str]:
        name, value = option.split(" ") if " " in option else (option, None)
        args = [name, value.replace("_", " ")] if value else [name]
        code, out, err = search(db, *args, "--top", "0")
        assert code == 0, (option, err)
        return names(out, library)

    for option, name in filters.items():
        assert name in listed(option), option  # what each filter finds before
    for seed, name in enumerate(("dark.jpg", "blurry.jpg", "beach.jpg")):
        textured_photo((640, 480), seed=20 + seed).save(library / name, quality=90)
    Cli(tmp_path / "home")("run", str(library), "--db", str(db), "--quiet", "--phases", "places")
    for option, name in filters.items():
        assert name not in listed(option), option
    assert "blurry.jpg" not in listed("--sharp")  # not known to be sharp either, yet
    assert "beach small.jpg" in listed("--object person:2")  # untouched files still match


def test_in_takes_a_folder_of_a_disk_that_is_not_mounted(fresh, search):
    """The catalog keeps the files of an unplugged disk as present until a run looks there:
    `--in` finds them without the folder on disk. A path the catalog does not know gives no
    result and a note saying so, never an error."""
    library, db = fresh
    disk = "/media/unplugged-disk/photos"
    with sqlite3.connect(db) as raw:  # the library as indexed on a disk now unplugged
        raw.execute("UPDATE files SET path = ? || substr(path, ?)", (disk, len(str(library)) + 1))

    def listed(*args: str) -> tuple[list[str], str]:
        code, out, err = search(db, *args, "--top", "0")
        assert code == 0, err
        return [line.split("\t")[1] for line in out.splitlines()], err

    assert listed("--in", f"{disk}/sub") == ([f"{disk}/sub/nested.jpg"], "")
    assert listed("--in", f"{disk}/snow.jpg")[0] == [f"{disk}/snow.jpg"]  # a file's own path
    assert listed("snow", "--in", f"{disk}/sub/")[0] == [f"{disk}/sub/nested.jpg"]
    for args in (["--in", "/media/other-disk"], ["snow", "--in", "/media/other-disk"]):
        found, err = listed(*args)
        assert found == [], args
        assert "note: --in /media/other-disk: the catalog knows no file there" in err, args
        assert "No matches." in err
    both, err = listed("--in", f"{disk}/sub", "--in", "/media/other-disk")
    assert both == [f"{disk}/sub/nested.jpg"] and "the catalog knows no file there" in err
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE files SET missing = 1 WHERE path LIKE ?", (f"{disk}/sub/%",))
    found, err = listed("--in", f"{disk}/sub")
    assert found == [] and "every file the catalog knows there was missing" in err


# -- output forms --------------------------------------------------------------------------------


def test_paths_only_json_and_html_forms(indexed, search, tmp_path):
    library, db, _ = indexed
    lines = search(db, "snow", "--top", "3")[1].splitlines()
    assert lines[0] == f"1.000\t{library / 'snow.jpg'}"
    bare = search(db, "snow", "--top", "3", "-f")[1].splitlines()
    assert bare == [line.split("\t")[1] for line in lines]
    document = json.loads(search(db, "snow", "+", "2:beach", "--top", "3", "--json")[1])
    assert list(document) == [
        "query", "sort", "top", "min_score", "random_weights", "random_models", "warnings",
        "not_embedded", "ml_failed", "notes", "results",
    ]  # fmt: skip
    assert document["query"] == [
        {"sign": "+", "weight": 1.0, "text": "snow"},
        {"sign": "+", "weight": 2.0, "text": "beach"},
    ]
    first = document["results"][0]
    assert list(first) == [
        "path", "path_bytes", "kind", "score", "at_seconds", "taken_at", "taken_at_utc",
        "camera", "place", "top_scene", "objects", "text_line", "faces", "persons", "thumbnail",
        "random_weights", "random_models",
    ]  # fmt: skip
    assert first["path"] == str(library / "snowbeach.jpg")
    assert first["taken_at"] == "2022-01-15T09:00:00" and first["camera"] == "Google Pixel 7"
    assert first["objects"] == {"person": 1, "dog": 3} and first["top_scene"] == "a beach"
    assert Path(first["thumbnail"]).is_file() and first["random_weights"] is False
    video = json.loads(search(db, "snow", "--kind", "video", "--json")[1])["results"][0]
    assert video["kind"] == "video" and video["at_seconds"] == pytest.approx(12.5, abs=0.5)
    catalog = Catalog(db)
    best_frame = catalog.results.video_frames(str(library / "clip.mov"))[1]
    catalog.close()
    assert video["thumbnail"] == str(db.with_name("c.db-thumbnails") / best_frame["thumbnail"])
    page = tmp_path / "page.html"
    code, out, _ = search(db, "snow", "--top", "4", "--html", str(page))
    assert code == 0 and out.splitlines() == search(db, "snow", "--top", "4")[1].splitlines()
    text = page.read_text()
    assert text.count("<figure") == 4 and text.count('src="data:image/jpeg;base64,') == 4
    assert "<script" not in text and "http" not in text.replace("http-equiv", "")
    assert "1.000" in text and "snow.jpg" in text and "at 12." in text


def test_the_html_page_escapes_names(tmp_path, capsys, monkeypatch, standin_open_clip):
    library, db = build_library(tmp_path, names=("snow.jpg",), video=False)
    odd = library / 'a<b>&"c.jpg'
    shutil.copy(library / "snow.jpg", odd)
    Cli(tmp_path / "home")(
        "run", str(library), "--db", str(db), "--quiet", "--phases", "metadata,content"
    )
    page = tmp_path / "odd.html"
    search = InProcess(capsys, monkeypatch, standin_config(tmp_path))
    assert search(db, "--html", str(page))[0] == 0
    text = page.read_text()
    assert "a&lt;b&gt;&amp;&quot;c.jpg" in text and 'a<b>&"c.jpg' not in text


def test_random_weights_are_said_in_every_output_form(
    tmp_path, capsys, monkeypatch, standin_open_clip
):
    library, db = build_library(tmp_path, names=("snow.jpg", "car.jpg"), video=False)
    store_ml(db, {str(library / "car.jpg"): ml_record(PHOTOS["car.jpg"], unit({CAR: 1}), True)})
    search = InProcess(capsys, monkeypatch, standin_config(tmp_path))
    page = tmp_path / "r.html"
    for args in (["a car"], ["a car", "-f"], ["--scene", "a car"]):
        code, out, err = search(db, *args)
        assert (
            code == 0 and "made with RANDOM CLIP and YOLO weights" in err and "RANDOM" not in out
        ), args
    document = json.loads(search(db, "a car", "--json")[1])
    assert document["random_weights"] is True and "RANDOM" in document["warnings"][0]
    assert [r["random_weights"] for r in document["results"]] == [True, False]
    search(db, "a car", "--html", str(page))
    assert 'class="warning">WARNING: made with RANDOM CLIP and YOLO weights' in page.read_text()
    # Stored embeddings made with real weights, the query encoded with random ones:
    random_query = InProcess(capsys, monkeypatch, standin_config(tmp_path, random=True))
    code, out, err = random_query(db, "snow", "--top", "1")
    assert names(out, library) == ["snow.jpg"] and "made with RANDOM CLIP weights" in err


# -- the search matrix --------------------------------------------------------------------------


def test_the_change_stamp_moves_with_every_write_that_search_reads(fresh):
    from photoanalyzer.catalog.files import FileFacts, SyncChanges, SyncCounts

    library, db = fresh
    catalog = Catalog(db)
    stamps = [catalog.search.stamp()]

    def moved(what: str) -> None:
        stamps.append(catalog.search.stamp())
        assert stamps[-1] != stamps[-2], f"{what} did not move the stamp"

    known = catalog.files.known_under([str(library)])
    snow, car = known[str(library / "snow.jpg")], known[str(library / "car.jpg")]
    run = catalog.runs.start([str(library)], ["ml"])
    record = ml_record(PHOTOS["car.jpg"], unit({CAR: 1, SNOW: 1}))
    catalog.results.save(run, "ml", "ml-test", [ResultRow(car.file_id, record, None)])
    moved("an ML result")
    catalog.results.save(run, "ml", "ml-test", [ResultRow(car.file_id, None, "broken")])
    moved("an ML failure")
    counts = SyncCounts(0, 0, 0, 0)
    target = FileFacts(str(library / "moved.jpg"), 1, 1, "photo")
    for what, changes in (
        ("a move", SyncChanges(counts, moves=[(snow.file_id, target)])),
        ("a file gone missing", SyncChanges(counts, gone=[snow.file_id])),
        ("a file back", SyncChanges(counts, returned=[snow.file_id])),
        ("a changed file", SyncChanges(counts, changed=[(snow.file_id, target, "x")])),
        ("a new file", SyncChanges(counts, new=[(FileFacts("/new.jpg", 1, 1, "photo"), "y")])),
    ):
        catalog.files.apply_sync(run, changes, 0.0)
        moved(what)
    video = known[str(library / "clip.mov")].file_id
    with sqlite3.connect(db) as raw:  # as the content phase replaces a video's frames
        raw.execute("DELETE FROM video_frames WHERE file_id = ?", (video,))
    moved("a video's frames replaced")
    catalog.results.save(run, "metadata", "m-test", [ResultRow(car.file_id, None, "x")])
    assert catalog.search.stamp() == stamps[-1]  # metadata is read at query time: no rebuild
    catalog.close()
    assert stamps[0].split("-")[0] == stamps[-1].split("-")[0]  # the catalog's own token


def test_a_stale_matrix_is_never_used(fresh, search):
    from photoanalyzer.outputs.search.matrix import current_matrix, matrix_folder

    library, db = fresh
    folder = matrix_folder(db)
    assert not folder.exists()
    assert ranked(search(db, "a car", "--top", "1")[1], library) == [("car.jpg", 1.0)]
    (first,) = folder.glob("*.json")
    catalog = Catalog(db)
    assert current_matrix(catalog, folder).rebuilt is False  # current: read, not rebuilt
    catalog.close()
    # Another program writes through plain SQL: the catalog's triggers still move the stamp.
    moved_car = blob(unit({CAR: 1, NOISE: 3}))
    with sqlite3.connect(db) as raw:
        raw.execute(
            "UPDATE ml SET embedding = ? WHERE file_id = (SELECT id FROM files WHERE path = ?)",
            (moved_car, str(library / "car.jpg")),
        )
    assert ranked(search(db, "a car", "--top", "1")[1], library) == [
        ("car.jpg", pytest.approx(0.316, abs=1e-3))
    ]
    assert not first.exists() and len(list(folder.glob("*.json"))) == 1  # the old one is gone
    store_ml(db, {str(library / "pending.jpg"): ml_record({"scene": "a car"}, unit({CAR: 1}))})
    assert ranked(search(db, "a car", "--top", "1")[1], library) == [("pending.jpg", 1.0)]


def test_no_search_removes_a_newer_matrix_or_fails_because_of_another(fresh, monkeypatch, tmp_path):
    """Searches run side by side. One that read the catalog before a change writes its
    (older) matrix after another search wrote the newer one: the newer one stays. And one
    whose files another search removes right after they were written still answers."""
    from photoanalyzer.outputs.search import matrix
    from photoanalyzer.outputs.search.matrix import build, current_matrix, matrix_folder

    library, db = fresh
    folder = matrix_folder(db)
    assert folder.name == "c.db-search"
    before = shutil.copy(db, tmp_path / "before.db")  # the catalog as the slower search read it
    store_ml(db, {str(library / "pending.jpg"): ml_record({"scene": "a car"}, unit({CAR: 1}))})
    now, earlier = Catalog(db), Catalog(before)
    try:
        newer = build(now, folder)
        build(earlier, folder)  # the slower search finishes after the newer one
        assert (folder / f"{newer.stamp}.json").is_file()
        assert current_matrix(now, folder).rebuilt is False
        stale = earlier.search.stamp()
        assert (folder / f"{stale}.json").is_file()
        build(now, folder)  # the next rebuild of the current state tidies the older one away
        assert not list(folder.glob(f"{stale}.*"))

        written = matrix._write_atomically

        def then_removed_by_another(path, text):
            written(path, text)
            if path.suffix == ".json":  # the description, written last
                for other in folder.iterdir():
                    other.unlink()

        monkeypatch.setattr(matrix, "_write_atomically", then_removed_by_another)
        rebuilt = build(now, folder)  # answers, from what it built
        best = rebuilt.best_per_file(rebuilt.scores(unit({CAR: 1})))
        assert len(best) == len(newer.files) and round(float(best.max()), 3) == 1.0
    finally:
        now.close()
        earlier.close()


def test_catalogs_that_share_a_stem_keep_their_matrices_apart(fresh, search, tmp_path):
    """photos.db and photos.sqlite in one folder: each has its own matrix folder, named from
    its whole file name, and a search of one never removes the other's."""
    from photoanalyzer.outputs.search.matrix import current_matrix, matrix_folder

    library, db = fresh
    first, second = tmp_path / "photos.db", tmp_path / "photos.sqlite"
    shutil.copy(db, first)
    shutil.copy(db, second)
    example = str(library / "snow.jpg")  # indexed: its stored embedding, no model needed
    assert search(first, example, "--top", "1")[0] == 0
    store_ml(second, {str(library / "pending.jpg"): ml_record({"scene": "snow"}, unit({SNOW: 1}))})
    assert search(second, example, "--top", "1")[0] == 0
    assert matrix_folder(first).name == "photos.db-search"
    assert matrix_folder(second).name == "photos.sqlite-search"
    assert not (tmp_path / "photos-search").exists()
    catalog = Catalog(first)
    try:
        assert current_matrix(catalog, matrix_folder(first)).rebuilt is False
    finally:
        catalog.close()


def test_a_matrix_folder_of_the_old_name_is_tidied_away(fresh, search):
    """Before issue 24 the folder was named after the stem (`c-search`): the first search
    builds `c.db-search` and removes this catalog's matrices from the old folder, then the
    folder."""
    from photoanalyzer.outputs.search.matrix import matrix_folder

    library, db = fresh
    assert search(db, str(library / "snow.jpg"), "--top", "1")[0] == 0
    old = db.with_name("c-search")
    matrix_folder(db).rename(old)
    assert search(db, str(library / "snow.jpg"), "--top", "1")[0] == 0
    assert matrix_folder(db).is_dir() and not old.exists()


def test_embeddings_of_another_model_are_left_out_and_said_so(fresh, search, tmp_path):
    library, db = fresh
    other = np.zeros(256, dtype=np.float32)
    other[0] = 1.0  # a 256-value embedding: another CLIP model than the catalog's others
    store_ml(db, {str(library / "pending.jpg"): ml_record({"scene": "snow"}, other)})
    code, out, err = search(db, "snow")
    assert code == 0 and "pending.jpg" not in out
    assert "note: 1 embedding was made by another CLIP model and left out" in err
    assert "no embedding yet" not in err  # it has one, of the other model
    alone, _ = build_library(tmp_path / "small", names=("car.jpg",), video=False)
    small = tmp_path / "small" / "c.db"
    store_ml(small, {str(alone / "car.jpg"): ml_record(PHOTOS["car.jpg"], other)})
    code, _, err = search(small, "a car")
    assert code == 1 and "indexed with another CLIP model than ml.clip.model" in err


# -- command line: help, exit codes, start-up ---------------------------------------------------


def test_search_help_shows_three_examples_one_piped_to_xargs(cli):
    text = cli("search", "--help").stdout
    examples = [
        line.strip() for line in text.splitlines() if line.strip().startswith("photoanalyze search")
    ]
    assert len(examples) >= 3
    assert any("-0 | xargs -0 " in example for example in examples)
    assert any("--person" in example for example in examples)
    options = ("--top", "--min-score", "--sort", "--near", "--object", "--no-duplicates")
    for option in (*options, "--person", "--all-persons", "--faces", "--no-faces"):
        assert option in text


def test_exit_codes_name_what_is_wrong(indexed, cli, tmp_path):
    _, db, _ = indexed
    missing = cli("search", "snow", "--db", str(tmp_path / "none.db"), check=False)
    assert missing.returncode == 1 and "no catalog at" in missing.stderr
    for args, option in (
        (["--after", "2023-13-01"], "--after"),
        (["--near", "a,b,c"], "--near"),
        (["--object", "dog:0"], "--object"),
        (["--scene", "beaches"], "--scene"),
        (["--min-score", "0.5"], "--min-score"),
        (["snow", "--min-score", "2"], "--min-score"),
        (["--sort", "score"], "--sort"),
        (["--kind", "cat"], "--kind"),
        (["snow", "--json", "-f"], "--paths-only"),
    ):
        result = cli("search", "--db", str(db), *args, check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert option in result.stderr, (args, result.stderr)
    offline = cli("search", "a dog", "--db", str(db), "--offline", check=False)
    assert offline.returncode == 4
    assert "CLIP weights ViT-B-32" in offline.stderr and "models import" in offline.stderr


_IMPORTS_AFTER = (
    "import sys\n"
    "from photoanalyzer import cli\n"
    "sys.argv = ['photoanalyze', 'search', *sys.argv[1:]]\n"
    "try:\n    cli.main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
    "print('torch' in sys.modules, 'open_clip' in sys.modules)\n"
)


def heavy_imports(cli: Cli, *args: str) -> tuple[str, str]:
    """(stdout without its last line, "torch? open_clip?") of a search in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS_AFTER, *args],
        capture_output=True, text=True, env=cli.env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    *out, imported = result.stdout.splitlines()
    return "\n".join(out), imported


def test_filters_and_indexed_examples_never_import_torch(indexed, cli):
    library, db, _ = indexed
    for args in (["--camera", "canon"], [str(library / "snow.jpg"), "--in", str(library)]):
        assert heavy_imports(cli, "--db", str(db), *args)[1] == "False False", args


def test_a_text_already_encoded_needs_neither_torch_nor_a_model(
    indexed, search, cli, standin_open_clip
):
    library, db, _ = indexed
    search(db, "a car", "--top", "1")  # through the stand-in, into the text-embedding cache
    assert standin_open_clip == [("ViT-B-32", None)]
    out, imported = heavy_imports(cli, "--db", str(db), "--config", str(search.config), "a car")
    assert imported == "False False"
    assert out.splitlines()[0] == f"1.000\t{library / 'car.jpg'}"


# -- duplicates by embedding ------------------------------------------------------------------


def test_duplicates_by_embedding_groups_similar_photos_with_the_usual_pick(indexed, cli):
    library, db, _ = indexed
    groups = json.loads(cli("duplicates", "--db", str(db), "--by", "embedding", "--json").stdout)
    assert [(g["pick"], sorted(m["path"] for m in g["members"])) for g in groups] == [
        (str(library / "beach.jpg"), [str(library / "beach small.jpg"), str(library / "beach.jpg")])
    ]
    assert groups[0]["why"][0].startswith("largest picture (800x600 vs 400x300)")
    copy = next(m for m in groups[0]["members"] if m["path"].endswith("beach small.jpg"))
    assert copy["cosine_to_pick"] == pytest.approx(0.995, abs=1e-3)
    assert copy["random_weights"] is False and "phash" not in copy
    loose = json.loads(
        cli(
            "duplicates", "--db", str(db), "--by", "embedding", "--threshold", "0.7", "--json"
        ).stdout
    )
    (group,) = loose  # snow - snowbeach - beach - beach small, linked at 0.707
    assert sorted(Path(m["path"]).name for m in group["members"]) == [
        "beach small.jpg", "beach.jpg", "snow.jpg", "snowbeach.jpg",
    ]  # fmt: skip
    text = cli("duplicates", "--db", str(db), "--by", "embedding").stdout
    assert (
        "1 group of similar photos (2 of 10 embedded files, embedding cosine >= 0.95 to another"
        " member; single linkage, so a member may be further from the pick)" in text
    )
    assert f"* {library / 'beach.jpg'}  (800x600, sharpness" in text and "cosine 1.000" in text
    refused = cli("duplicates", "--db", str(db), "--threshold", "0.9", check=False)
    assert refused.returncode == 2 and "--by embedding" in refused.stderr


# -- the real model class, random weights --------------------------------------------------------


def test_an_example_image_finds_its_original_with_the_real_model(tmp_path, cli):
    """Real open_clip ViT-B-32 and YOLO with random weights through `photoanalyze run`; then
    `search ./copy.jpg` from the library folder, as a user types it."""
    require_module("torch")
    require_module("open_clip")
    library = tmp_path / "lib"
    library.mkdir()
    original = textured_photo((1200, 900), seed=3)
    original.save(library / "original.jpg", quality=95)
    original.resize((600, 450), Image.Resampling.LANCZOS).save(library / "copy.jpg", quality=70)
    for seed, size in ((11, (900, 1200)), (12, (1000, 700)), (13, (800, 800))):
        textured_photo(size, seed=seed).rotate(seed * 20).save(library / f"other{seed}.jpg")
    config = tmp_path / "random.yaml"
    config.write_text(random_weights_yaml(tmp_path / "models"))
    db = tmp_path / "c.db"
    cli("run", str(library), "--db", str(db), "--config", str(config), "--quiet")
    found = subprocess.run(
        [sys.executable, "-m", "photoanalyzer", "search", "./copy.jpg", "--db", str(db)],
        capture_output=True, text=True, env=cli.env, cwd=library, timeout=300,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines()[0].split("\t")[1] == str(library / "original.jpg")
    assert "made with RANDOM CLIP and YOLO weights" in found.stderr
    outside = tmp_path / "elsewhere.jpg"  # not indexed: encoded by the real image tower
    original.resize((500, 375)).save(outside, quality=60)
    encoded = cli("search", str(outside), "--db", str(db), "--config", str(config))
    best_two = {line.split("\t")[1] for line in encoded.stdout.splitlines()[:2]}
    assert best_two == {str(library / "original.jpg"), str(library / "copy.jpg")}
    assert "made with RANDOM CLIP and YOLO weights" in encoded.stderr


def test_duplicates_by_embedding_lists_missing_members_only_when_asked(indexed, cli, tmp_path):
    import shutil
    import sqlite3

    library, db, _ = indexed
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as marked:  # as a run marks a file gone from disk
        marked.execute(
            "UPDATE files SET missing = 1 WHERE path = ?", (str(library / "beach small.jpg"),)
        )
    args = ("duplicates", "--db", str(copy), "--by", "embedding")
    assert json.loads(cli(*args, "--json").stdout) == []
    (group,) = json.loads(cli(*args, "--json", "--include-missing").stdout)
    assert {Path(m["path"]).name: m["missing"] for m in group["members"]} == {
        "beach.jpg": False,
        "beach small.jpg": True,
    }
    text = cli(*args, "--include-missing").stdout
    assert f"  {library / 'beach small.jpg'}  [missing]  (400x300" in text
