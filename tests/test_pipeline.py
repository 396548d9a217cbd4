"""Runs against a real catalog: incremental rescans, missing files, errors, resumption."""

import dataclasses
import os
import sqlite3
from pathlib import Path

import pytest

from photoanalyzer.catalog import SCHEMA_VERSION, Catalog
from photoanalyzer.config import load_config
from photoanalyzer.errors import CatalogError
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.run import pipeline
from support.imagegen import full_spec, write_photo, write_random_bytes, write_zero_byte

CONFIG = load_config()


@pytest.fixture
def catalog(tmp_path: Path):
    cat = Catalog(tmp_path / "catalog" / "test.db")
    yield cat
    cat.close()


def index(catalog, root: Path, phase=None, full=False, config=CONFIG):
    phase = phase or MetadataPhase(workers=1)
    report = pipeline.run([str(root)], [phase], catalog, config, full=full)
    return report


def rows(catalog) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in catalog.queries.export_rows()}


def test_second_run_on_unchanged_folder_does_no_phase_work(tmp_path, catalog):
    for i in range(3):
        write_photo(tmp_path / "lib" / f"{i}.jpg", full_spec(iso=100 + i))
    first = index(catalog, tmp_path / "lib")
    second = index(catalog, tmp_path / "lib")
    assert (first.sync.new, first.phases[0].processed) == (3, 3)
    assert (second.sync.new, second.sync.changed, second.phases[0].processed) == (0, 0, 0)
    assert {r["iso"] for r in rows(catalog).values()} == {100, 101, 102}


def test_changed_file_is_processed_again(tmp_path, catalog):
    path = write_photo(tmp_path / "lib" / "a.jpg", full_spec(model="Before"))
    write_photo(tmp_path / "lib" / "b.jpg", full_spec())
    index(catalog, tmp_path / "lib")
    write_photo(path, full_spec(model="After (longer name)"))  # new size and mtime
    report = index(catalog, tmp_path / "lib")
    assert (report.sync.changed, report.phases[0].processed) == (1, 1)
    assert rows(catalog)["a.jpg"]["model"] == "After (longer name)"


def test_touched_file_with_same_size_is_processed_again(tmp_path, catalog):
    path = write_photo(tmp_path / "lib" / "a.jpg", full_spec())
    index(catalog, tmp_path / "lib")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert index(catalog, tmp_path / "lib").phases[0].processed == 1


def test_a_file_whose_extension_changes_kind_is_changed_and_analyzed_again(tmp_path, catalog):
    """Unchanged on disk, but the configured extensions now make it a video: its results were
    made for a photo, so it loses its phase status and takes the new kind."""
    write_photo(tmp_path / "lib" / "a.png", full_spec())
    index(catalog, tmp_path / "lib")
    scan = CONFIG.scan
    photos = tuple(ext for ext in scan.photo_extensions if ext != "png")
    as_video = dataclasses.replace(
        CONFIG,
        scan=dataclasses.replace(
            scan, photo_extensions=photos, video_extensions=(*scan.video_extensions, "png")
        ),
    )
    report = index(catalog, tmp_path / "lib", config=as_video)
    assert (report.sync.changed, report.phases[0].processed) == (1, 1)
    assert catalog.queries.file_counts() == {"video": {"present": 1, "missing": 0}}
    assert index(catalog, tmp_path / "lib", config=as_video).phases[0].processed == 0


def test_disappeared_file_is_marked_missing_not_deleted_and_can_return(tmp_path, catalog):
    path = write_photo(tmp_path / "lib" / "a.jpg", full_spec())
    write_photo(tmp_path / "lib" / "b.jpg", full_spec())
    index(catalog, tmp_path / "lib")
    moved_away = tmp_path / "a.jpg.away"
    path.rename(moved_away)
    report = index(catalog, tmp_path / "lib")
    assert report.sync.missing == 1
    assert sorted(rows(catalog)) == ["b.jpg"]
    assert catalog.queries.file_counts() == {"photo": {"present": 1, "missing": 1}}
    moved_away.rename(path)
    back = index(catalog, tmp_path / "lib")
    assert (back.sync.missing, back.phases[0].processed) == (0, 0)  # results were kept
    assert rows(catalog)["a.jpg"]["model"] == "Model X 12"


def test_files_below_an_unreadable_folder_are_not_marked_missing(tmp_path, catalog, monkeypatch):
    from test_scan import make_unreadable

    write_photo(tmp_path / "lib" / "locked" / "a.jpg", full_spec())
    write_photo(tmp_path / "lib" / "open" / "b.jpg", full_spec())
    index(catalog, tmp_path / "lib")
    make_unreadable(tmp_path / "lib" / "locked", monkeypatch)
    try:
        report = index(catalog, tmp_path / "lib")
    finally:
        (tmp_path / "lib" / "locked").chmod(0o755)
    assert (report.sync.missing, report.sync.unreachable) == (0, 1)
    assert [p.message for p in report.scan_problems] == [
        "cannot read folder: Permission denied; 1 known file below it was not checked"
        " (not marked missing)"
    ]
    assert sorted(rows(catalog)) == ["a.jpg", "b.jpg"]


def test_scanning_one_folder_leaves_files_of_another_alone(tmp_path, catalog):
    write_photo(tmp_path / "one" / "a.jpg")
    write_photo(tmp_path / "two" / "b.jpg")
    write_photo(tmp_path / "one-more" / "c.jpg")  # shares the prefix "one"
    index(catalog, tmp_path / "one")
    index(catalog, tmp_path / "two")
    index(catalog, tmp_path / "one-more")
    assert index(catalog, tmp_path / "one").sync.missing == 0
    assert sorted(rows(catalog)) == ["a.jpg", "b.jpg", "c.jpg"]


def test_full_and_a_new_phase_version_process_everything_again(tmp_path, catalog):
    for i in range(2):
        write_photo(tmp_path / "lib" / f"{i}.jpg")
    index(catalog, tmp_path / "lib")
    assert index(catalog, tmp_path / "lib", full=True).phases[0].processed == 2
    upgraded = dataclasses.replace(MetadataPhase(workers=1), version="metadata-next")
    assert index(catalog, tmp_path / "lib", phase=upgraded).phases[0].processed == 2
    assert index(catalog, tmp_path / "lib", phase=upgraded).phases[0].processed == 0


def test_broken_files_are_recorded_per_file_and_the_run_completes(tmp_path, catalog):
    write_photo(tmp_path / "lib" / "good.jpg", full_spec())
    write_zero_byte(tmp_path / "lib" / "empty.jpg")
    write_random_bytes(tmp_path / "lib" / "noise.jpg")
    (tmp_path / "lib" / "clip.mov").write_bytes(b"not really a video")
    report = index(catalog, tmp_path / "lib")
    assert (report.phases[0].processed, report.phases[0].errors) == (4, 3)
    found = rows(catalog)
    assert found["good.jpg"]["errors"] == {}
    assert found["empty.jpg"]["errors"] == {"metadata": "empty file (0 bytes)"}
    assert found["noise.jpg"]["errors"]["metadata"].startswith("cannot identify image")
    assert found["clip.mov"]["kind"] == "video" and "metadata" in found["clip.mov"]["errors"]
    # Failed files are not retried until they change.
    assert index(catalog, tmp_path / "lib").phases[0].processed == 0


def test_worker_processes_give_the_same_results(tmp_path, catalog):
    count = MetadataPhase.min_files_for_workers + 6
    for i in range(count):
        write_photo(tmp_path / "lib" / f"{i:03}.jpg", full_spec(iso=i + 1), size=(16, 12))
    write_zero_byte(tmp_path / "lib" / "zzz.jpg")
    report = index(catalog, tmp_path / "lib", phase=MetadataPhase(workers=2))
    assert (report.phases[0].processed, report.phases[0].errors) == (count + 1, 1)
    found = rows(catalog)
    assert all(found[f"{i:03}.jpg"]["iso"] == i + 1 for i in range(count))


def test_run_history_is_recorded(tmp_path, catalog):
    write_photo(tmp_path / "lib" / "a.jpg")
    index(catalog, tmp_path / "lib")
    (run,) = catalog.runs.recent()
    assert run["status"] == "completed" and run["roots"] == [str(tmp_path / "lib")]
    assert (run["files_seen"], run["files_new"]) == (1, 1)
    assert [(p["phase"], p["processed"], p["errors"]) for p in run["phases"]] == [
        ("metadata", 1, 0)
    ]
    assert run["ended_at"] >= run["started_at"]


@dataclasses.dataclass(frozen=True)
class InterruptedPhase(MetadataPhase):
    """Metadata, but Ctrl-C arrives while the third file is being read."""

    def analyze(self, path: str, kind: str):
        if path.endswith("2.jpg"):
            raise KeyboardInterrupt
        return super().analyze(path, kind)


def test_interrupted_run_keeps_finished_files_and_the_next_run_resumes(tmp_path, catalog):
    for i in range(5):
        write_photo(tmp_path / "lib" / f"{i}.jpg")
    with pytest.raises(KeyboardInterrupt):
        index(catalog, tmp_path / "lib", phase=InterruptedPhase(workers=1))
    assert catalog.runs.recent()[0]["status"] == "interrupted"
    version = MetadataPhase().version
    # No run finished the phase: the version is that of the results the interrupted run stored.
    assert catalog.queries.phase_summary("metadata", ["photo"], version) == {
        "version": version,
        "version_run": 1,
        "done": 2,
        "older": 0,
        "failed": 0,
        "never": 3,
        "config_version": version,
        "pending_for_config": 3,
        "left_out_pairs": 0,
    }
    assert index(catalog, tmp_path / "lib").phases[0].processed == 3


def test_status_judges_by_the_newest_run_that_finished_the_phase(tmp_path, catalog):
    from photoanalyzer.catalog import PhaseRecord

    for i in range(2):
        write_photo(tmp_path / "lib" / f"{i}.jpg")
    index(catalog, tmp_path / "lib")  # run 1: the metadata phase's current version
    # Run 2: a newer version of the phase that could not run at all (say, weights missing).
    failed = catalog.runs.start([str(tmp_path / "lib")], ["metadata"])
    catalog.runs.record_phase(failed, PhaseRecord("metadata", "metadata-9", 0, 0, 0.1, "no"))
    catalog.runs.finish(failed, "completed")
    assert catalog.queries.last_version("metadata") == (MetadataPhase.version, 1)
    summary = catalog.queries.phase_summary("metadata", ["photo"])
    assert (summary["done"], summary["older"], summary["never"]) == (2, 0, 0)
    upgraded = dataclasses.replace(MetadataPhase(workers=1), version="metadata-10")
    write_photo(tmp_path / "other" / "x.jpg")
    index(catalog, tmp_path / "other", phase=upgraded)  # run 3 finishes metadata-10
    summary = catalog.queries.phase_summary("metadata", ["photo"], MetadataPhase.version)
    assert (summary["version"], summary["version_run"]) == ("metadata-10", 3)
    assert (summary["done"], summary["older"], summary["pending_for_config"]) == (1, 2, 1)


def test_catalog_is_migrated_and_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "c.db"
    Catalog(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(CatalogError, match="newer than this program knows"):
        Catalog(path)


@dataclasses.dataclass(frozen=True)
class CrashingPhase(MetadataPhase):
    """Metadata, but reading one file kills the process the way a segfault in a native
    decoder would (no Python exception to catch)."""

    def analyze(self, path: str, kind: str):
        if path.endswith("crash.jpg"):
            os._exit(139)
        return super().analyze(path, kind)


def test_a_file_that_kills_its_worker_is_an_error_and_the_rest_go_on(tmp_path, catalog):
    count = MetadataPhase.min_files_for_workers * 2
    for i in range(count):
        write_photo(tmp_path / "lib" / f"{i:03}.jpg", full_spec(iso=i + 1), size=(16, 12))
    write_photo(tmp_path / "lib" / "100-crash.jpg", size=(16, 12))
    report = index(catalog, tmp_path / "lib", phase=CrashingPhase(workers=2))
    assert (report.phases[0].processed, report.phases[0].errors) == (count + 1, 1)
    found = rows(catalog)
    assert found["100-crash.jpg"]["errors"] == {"metadata": pipeline.WORKER_CRASH}
    assert all(found[f"{i:03}.jpg"]["iso"] == i + 1 for i in range(count))


def test_migration_splits_aware_capture_times_into_local_time_and_offset(tmp_path):
    """A catalog written before migration 7, when taken_at held aware times for some rows."""
    from photoanalyzer.catalog import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:6], 1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute("INSERT INTO files VALUES (1, '/a.jpg', 'photo', 1, 1, 0, 1, 1, NULL, NULL)")
    db.execute("INSERT INTO files VALUES (2, '/b.jpg', 'photo', 1, 1, 0, 1, 1, NULL, NULL)")
    db.execute("INSERT INTO files VALUES (3, '/c.mov', 'video', 1, 1, 0, 1, 1, NULL, NULL)")
    db.executemany(
        "INSERT INTO metadata (file_id, taken_at) VALUES (?, ?)",
        [
            (1, "2021-04-11T15:47:53-05:00"),
            (2, "2021-04-11T15:47:53"),
            (3, "2024-01-02T03:04:05+00:00"),
        ],
    )
    db.executemany(  # the metadata phase finished on each: its results are current
        "INSERT INTO phase_status VALUES (?, 'metadata', 'metadata-1', NULL, 1)", [(1,), (2,), (3,)]
    )
    db.commit()
    db.close()
    catalog = Catalog(path)
    found = {
        r["path"]: (r["taken_at"], r["taken_at_offset"], r["taken_at_utc"])
        for r in catalog.queries.export_rows()
    }
    catalog.close()
    assert found == {
        "/a.jpg": ("2021-04-11T15:47:53", "-05:00", "2021-04-11T20:47:53Z"),
        "/b.jpg": ("2021-04-11T15:47:53", None, None),
        "/c.mov": ("2024-01-02T03:04:05", "+00:00", "2024-01-02T03:04:05Z"),
    }


def test_a_record_whose_keys_are_not_the_tables_columns_is_refused(tmp_path):
    from photoanalyzer.catalog import ResultRow
    from photoanalyzer.catalog.results import RecordMismatch
    from photoanalyzer.phases.metadata_reading import RECORD_FIELDS

    catalog = Catalog(tmp_path / "c.db")
    try:
        assert set(catalog.results.columns("metadata")) == set(RECORD_FIELDS)
        record = dict.fromkeys(RECORD_FIELDS)
        with pytest.raises(RecordMismatch, match=r"unknown keys \['taken_at_ofset'\]"):
            catalog.results.save(
                0, "metadata", "v", [ResultRow(1, {**record, "taken_at_ofset": 1}, None)]
            )
        del record["iso"]
        with pytest.raises(RecordMismatch, match=r"missing keys \['iso'\]"):
            catalog.results.save(0, "metadata", "v", [ResultRow(1, record, None)])
    finally:
        catalog.close()
