"""A library that moves as a whole or in parts (a new disk, a folder dragged into another):
every moved file keeps its results, whichever folder it came from; copies stay separate
files. All three phases (random weights) run on the first index, so "no work" is checked for
each of them."""

import json
import os
import shutil
from pathlib import Path

import pytest

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config, validate
from photoanalyzer.outputs.terminal import format_run
from photoanalyzer.phases import PHASE_ORDER, PhaseContext, build_phases
from photoanalyzer.run import pipeline
from support.imagegen import textured_photo
from support.requirements import require_module


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


# Every phase but faces, which is opt-in and has its own tests (tests/test_faces_*.py).
INDEXED = tuple(phase for phase in PHASE_ORDER if phase != "faces")


def index(catalog, config, *roots: Path, phases=INDEXED) -> pipeline.RunReport:
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
        (phase, 0) for phase in INDEXED
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


def test_a_library_renamed_as_a_whole_keeps_every_result(cli, tmp_path, catalog, config):
    require_module("torch")
    old, new = tmp_path / "Pictures", tmp_path / "photos"
    photos(old, "a.jpg", "2024/b.jpg", "2024/trip/c.jpg")
    first = index(catalog, config, old)
    assert [(p.processed, p.errors) for p in first.phases] == [(3, 0)] * len(first.phases)
    assert [p.name for p in first.phases] == list(INDEXED)  # every phase but faces
    before = exported(catalog)
    assert all(row["top_scene"] and row["thumbnail"] for row in before.values())
    os.rename(old, new)
    report = index(catalog, config, new)
    assert (report.sync.moved, report.sync.new, report.sync.missing) == (3, 0, 0)
    assert (report.sync.unreachable, report.scan_problems) == (0, [])
    assert_kept_results(catalog, before, {old: new})
    # The results were made with this module's config (random weights: not the default ML
    # version); status without that config still counts them as done.
    text, state = status_of(cli, catalog)
    ml = build_phases(("ml",), PhaseContext(config, tmp_path, Path(config.ml.models_dir)))[0]
    assert (state["phases"]["ml"]["version"], state["phases"]["ml"]["version_run"]) == (
        ml.version,
        2,
    )
    assert (
        "  ml        3 done, 0 with results of an older version, 0 failed, 0 never analysed"
        f" (version {ml.version}, as run #2 used)\n" in text
    )


def test_a_folder_moved_into_a_scanned_root_from_outside_keeps_its_results(
    tmp_path, catalog, config
):
    require_module("torch")
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
    require_module("torch")
    one, two = tmp_path / "disk1", tmp_path / "disk2"
    photos(one, "keep.jpg", "2019/a.jpg", "2019/b.jpg")
    photos(two, "z.jpg")
    index(catalog, config, one, two)
    before = exported(catalog)
    shutil.move(one / "2019", two / "2019")
    report = index(catalog, config, one, two)
    assert (report.sync.moved, report.sync.new, report.sync.missing) == (2, 0, 0)
    assert_kept_results(catalog, before, {one / "2019": two / "2019"})


def test_a_root_that_is_gone_because_it_moved_into_another_root(tmp_path, catalog, config):
    old, new = tmp_path / "old disk", tmp_path / "new disk"
    photos(old, "a.jpg")
    photos(new, "b.jpg")
    metadata_run(catalog, config, old, new)
    os.rename(old, new / "old disk")
    report = metadata_run(catalog, config, old, new)  # the same command line as every night
    assert (report.sync.moved, report.sync.new, report.sync.unreachable) == (1, 0, 0)
    assert [p.message for p in report.scan_problems] == ["No such file or directory"]


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
    old, new = tmp_path / "a", tmp_path / "b"
    photos(old, "1.jpg", "2.jpg")
    index(catalog, config, old, phases=("metadata",))
    os.rename(old, new)
    text = format_run(index(catalog, config, new, phases=("metadata",)))
    assert "(0 new, 0 changed, 2 moved, 0 now missing" in text
    assert sorted(exported(catalog)) == [str(new / "1.jpg"), str(new / "2.jpg")]


def metadata_run(catalog, config, *roots: Path) -> pipeline.RunReport:
    return index(catalog, config, *roots, phases=("metadata",))


def test_files_deleted_outside_the_scanned_roots_are_marked_missing(tmp_path, catalog, config):
    here, there = tmp_path / "here", tmp_path / "there"
    photos(here, "h.jpg")
    photos(there, "kept.jpg", "deleted.jpg", "album/gone with its folder.jpg")
    metadata_run(catalog, config, here, there)
    (there / "deleted.jpg").unlink()
    shutil.rmtree(there / "album")
    report = metadata_run(catalog, config, here)
    assert (report.sync.missing, report.sync.unreachable) == (1, 1)
    assert sorted(exported(catalog)) == sorted(
        str(p)
        for p in (here / "h.jpg", there / "kept.jpg", there / "album/gone with its folder.jpg")
    )
    assert catalog.queries.file_counts() == {"photo": {"present": 3, "missing": 1}}
    assert [(p.path, p.message) for p in report.scan_problems] == [
        (
            str(there / "album"),
            "folder not found: 1 known file below it was not checked (an unmounted disk? a moved"
            " folder: run on its new place and they keep their results)",
        )
    ]


def status_of(cli, catalog) -> tuple[str, dict]:
    text = cli("status", "--db", str(catalog.path)).stdout
    return text, json.loads(cli("status", "--db", str(catalog.path), "--json").stdout)


def test_an_unmounted_disk_given_on_the_command_line_keeps_its_files(
    cli, tmp_path, catalog, config
):
    disk = tmp_path / "mnt" / "photos"
    photos(disk, "a.jpg", "2020/b.jpg")
    metadata_run(catalog, config, disk)
    os.rename(disk, tmp_path / "unplugged")  # the mount point is gone with the disk
    report = metadata_run(catalog, config, disk)
    assert (report.sync.missing, report.sync.unreachable) == (0, 2)
    gone = (
        "folder not found: 2 known files below it were not checked (an unmounted disk? a moved"
        " folder: run on its new place and they keep their results)"
    )
    assert [(p.path, p.message) for p in report.scan_problems] == [(str(disk), gone)]
    assert "0 now missing, 2 unreachable)" in format_run(report)
    assert catalog.queries.file_counts() == {"photo": {"present": 2, "missing": 0}}
    text, state = status_of(cli, catalog)
    assert (
        f"  At the last run (#2, {state['last_walk']['started_at']}) 2 of the 2 known files were"
        " not seen:\n    0 missing (0 marked by that run; results kept)\n    2 unreachable"
        f" (not checked, not marked missing):\n      {disk}: {gone}\n" in text
    )
    assert state["last_walk"] == {
        "run_id": 2,
        "started_at": state["runs"][0]["started_at"],
        "newly_missing": 0,
        "unreachable": 2,
        "unreachable_folders": [{"path": str(disk), "message": gone, "unchecked": 2}],
    }
    assert state["runs"][0]["files_unreachable"] == 2
    os.rename(tmp_path / "unplugged", disk)  # mounted again: nothing to do
    back = metadata_run(catalog, config, disk)
    assert (back.sync.new, back.sync.unreachable, back.phases[0].processed) == (0, 0, 0)
    assert (
        "(#3, " in (text := status_of(cli, catalog)[0]) and "all 2 known files were there." in text
    )


def test_an_unmounted_disk_not_on_the_command_line_keeps_its_files(cli, tmp_path, catalog, config):
    disk, home = tmp_path / "media" / "usb", tmp_path / "home"
    photos(disk, "a.jpg", "deep/er/b.jpg")
    photos(home, "c.jpg")
    metadata_run(catalog, config, disk, home)
    os.rename(tmp_path / "media", tmp_path / "unplugged")
    report = metadata_run(catalog, config, home)
    assert (report.sync.missing, report.sync.unreachable) == (0, 2)
    assert [p.path for p in report.scan_problems] == [str(tmp_path / "media")]  # the highest
    assert catalog.queries.file_counts() == {"photo": {"present": 3, "missing": 0}}
    text, state = status_of(cli, catalog)
    assert "2 of the 3 known files were not seen:\n    0 missing" in text
    assert f"\n      {tmp_path / 'media'}: folder not found: 2 known files below it" in text
    assert state["last_walk"]["unreachable_folders"][0]["unchecked"] == 2


def test_runs_from_before_unreachable_counts_show_no_guess(tmp_path):
    """A catalog made before migration 8: its runs have no unreachable count (NULL, not 0),
    so status says nothing about what they did not see until the next run."""
    import sqlite3

    from photoanalyzer.catalog import MIGRATIONS
    from photoanalyzer.outputs.terminal import CatalogState, format_status

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:7], 1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute(
        "INSERT INTO runs (started_at, status, roots, phases) VALUES ('t', 'completed', '[]', '[]')"
    )
    db.execute("INSERT INTO scan_problems VALUES (1, '/gone', 'No such file or directory')")
    db.commit()
    db.close()
    catalog = Catalog(path)
    (run,) = catalog.runs.recent()
    assert (run["files_unreachable"], run["scan_problems"]) == (None, 1)
    assert catalog.runs.last_walk() is None
    state = CatalogState(str(path), 8, {}, {}, [run], catalog.runs.last_walk())
    catalog.close()
    text = format_status(state)
    assert "not seen" not in text and "unreachable" not in text and "1 scan problems" in text


def make_unsearchable(folder: Path, monkeypatch) -> None:
    """chmod 000: a stat of anything below it fails with EACCES. Root passes the OS's check,
    so for root (the tests here run as root) that one boundary is simulated."""
    folder.chmod(0)
    if os.geteuid() == 0:
        real_stat = os.stat

        def stat(path, *args, **kwargs):
            if str(path).startswith(f"{folder}/"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", stat)


def test_a_known_file_that_cannot_be_checked_counts_as_there(
    tmp_path, catalog, config, monkeypatch
):
    """EACCES is not 'gone': the file is neither marked missing nor taken for moved."""
    locked, root = tmp_path / "locked", tmp_path / "root"
    photos(locked, "a.jpg")
    root.mkdir()
    metadata_run(catalog, config, locked)
    shutil.copy2(locked / "a.jpg", root / "a.jpg")
    make_unsearchable(locked, monkeypatch)
    try:
        report = metadata_run(catalog, config, root)
    finally:
        locked.chmod(0o755)
    assert (report.sync.new, report.sync.moved, report.sync.missing) == (1, 0, 0)
    assert report.sync.unreachable == 0
    assert catalog.queries.file_counts() == {"photo": {"present": 2, "missing": 0}}
