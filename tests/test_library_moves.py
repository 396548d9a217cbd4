"""A library that moves as a whole or in parts (a new disk, a folder dragged into another):
every moved file keeps its results, whichever folder it came from; copies stay separate
files. All three phases (random weights) run on the first index, so "no work" is checked for
each of them."""

import os
import shutil
from pathlib import Path

import pytest

from imagegen import textured_photo
from photoanalyzer import pipeline
from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config, validate
from photoanalyzer.phases import PHASE_ORDER, PhaseContext, build_phases


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """All phases, ML with random weights in one model cache for the module."""
    folder = tmp_path_factory.mktemp("config")
    path = folder / "random.yaml"
    path.write_text(
        f"ml:\n  models_dir: {folder / 'models'}\n  batch_size: 4\n"
        "  clip:\n    pretrained: random\n    top_k: 1\n    labels: [a beach, a forest]\n"
        "  yolo:\n    weights: random\n"
    )
    return validate(load_config(path), PHASE_ORDER)


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    yield cat
    cat.close()


def index(catalog, config, *roots: Path, phases=PHASE_ORDER) -> pipeline.RunReport:
    thumbnails = catalog.path.with_name("thumbnails")
    context = PhaseContext(config, thumbnails, Path(config.ml.models_dir))
    return pipeline.run([str(r) for r in roots], build_phases(phases, context), catalog, config)


def photos(folder: Path, *names: str) -> None:
    for seed, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        textured_photo((160, 120), seed=seed + len(str(folder))).save(folder / name, quality=85)


def exported(catalog) -> dict[str, dict]:
    return {row["path"]: row for row in catalog.queries.export_rows()}


def assert_kept_results(catalog, before: dict, moves: dict[Path, Path]) -> None:
    """The run analyzed nothing, and the export is the one from before with each moved
    folder's paths replaced: every record, ML results and thumbnails included, moved along."""
    (run,) = catalog.runs.recent(1)
    assert [(p["phase"], p["processed"]) for p in run["phases"]] == [
        (phase, 0) for phase in PHASE_ORDER
    ]
    expected = {}
    for path, row in before.items():
        moved = _replaced(path, moves)
        expected[moved] = {**row, "path": moved}
    assert exported(catalog) == expected
    assert catalog.queries.file_counts() == {"photo": {"present": len(before), "missing": 0}}


def _replaced(path: str, moves: dict[Path, Path]) -> str:
    for old, new in moves.items():
        if Path(path).is_relative_to(old):
            return str(new / Path(path).relative_to(old))
    return path


def test_a_library_renamed_as_a_whole_keeps_every_result(tmp_path, catalog, config):
    pytest.importorskip("torch")
    old, new = tmp_path / "Pictures", tmp_path / "photos"
    photos(old, "a.jpg", "2024/b.jpg", "2024/trip/c.jpg")
    first = index(catalog, config, old)
    assert [(p.processed, p.errors) for p in first.phases] == [(3, 0)] * 3
    before = exported(catalog)
    assert all(row["top_scene"] and row["thumbnail"] for row in before.values())
    os.rename(old, new)
    report = index(catalog, config, new)
    assert (report.sync.moved, report.sync.new, report.sync.missing) == (3, 0, 0)
    assert_kept_results(catalog, before, {old: new})


def test_a_folder_moved_into_a_scanned_root_from_outside_keeps_its_results(
    tmp_path, catalog, config
):
    pytest.importorskip("torch")
    root, outside = tmp_path / "root", tmp_path / "elsewhere" / "trip"
    photos(root, "a.jpg")
    photos(outside, "x.jpg", "day 2/y.jpg")
    index(catalog, config, root, outside)
    before = exported(catalog)
    os.rename(outside, root / "trip")
    report = index(catalog, config, root)
    assert (report.sync.seen, report.sync.moved, report.sync.new, report.sync.missing) == (
        3,
        2,
        0,
        0,
    )
    assert_kept_results(catalog, before, {outside: root / "trip"})


def test_a_subfolder_moved_to_another_root_on_the_same_command_line(tmp_path, catalog, config):
    pytest.importorskip("torch")
    one, two = tmp_path / "disk1", tmp_path / "disk2"
    photos(one, "keep.jpg", "2019/a.jpg", "2019/b.jpg")
    photos(two, "z.jpg")
    index(catalog, config, one, two)
    before = exported(catalog)
    shutil.move(one / "2019", two / "2019")
    report = index(catalog, config, one, two)
    assert (report.sync.moved, report.sync.new, report.sync.missing) == (2, 0, 0)
    assert_kept_results(catalog, before, {one / "2019": two / "2019"})


def test_a_copy_of_a_file_outside_the_scanned_roots_is_a_new_file(tmp_path, catalog, config):
    outside, root = tmp_path / "old disk", tmp_path / "new disk"
    photos(outside, "a.jpg")
    root.mkdir()
    index(catalog, config, outside, phases=("metadata",))
    shutil.copy2(outside / "a.jpg", root / "a.jpg")
    report = index(catalog, config, root, phases=("metadata",))
    assert (report.sync.new, report.sync.moved, report.phases[0].processed) == (1, 0, 1)
    assert sorted(exported(catalog)) == sorted([str(outside / "a.jpg"), str(root / "a.jpg")])


def test_the_moved_run_is_described_in_the_summary(tmp_path, catalog, config):
    from photoanalyzer.report import format_run

    old, new = tmp_path / "a", tmp_path / "b"
    photos(old, "1.jpg", "2.jpg")
    index(catalog, config, old, phases=("metadata",))
    os.rename(old, new)
    text = format_run(index(catalog, config, new, phases=("metadata",)))
    assert "(0 new, 0 changed, 2 moved, 0 now missing" in text
    assert sorted(exported(catalog)) == [str(new / "1.jpg"), str(new / "2.jpg")]
