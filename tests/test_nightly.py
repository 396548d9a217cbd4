"""What a nightly cron run relies on: renames keep results, one run at a time, a killed or
interrupted run loses nothing committed, and the next run picks up where it stopped."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.library.locking import RunLock, lock_path
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.run import pipeline
from support.imagegen import full_spec, textured_photo, write_photo

CONFIG = load_config()


def index(catalog, root: Path):
    return pipeline.run([str(root)], [MetadataPhase(workers=1)], catalog, CONFIG)


def rows(catalog) -> dict[str, dict]:
    return {r["path"]: r for r in catalog.queries.export_rows()}


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    yield cat
    cat.close()


def test_renamed_and_moved_files_keep_their_results(tmp_path, catalog):
    lib = tmp_path / "lib"
    a = write_photo(lib / "a.jpg", full_spec(model="Camera A"), seed=1)
    b = write_photo(lib / "b.jpg", full_spec(model="Camera B"), seed=2)
    index(catalog, lib)
    before = rows(catalog)
    a.rename(lib / "renamed.jpg")
    (lib / "2024").mkdir()
    b.rename(lib / "2024" / "b.jpg")
    report = index(catalog, lib)
    assert (report.sync.moved, report.sync.new, report.sync.missing) == (2, 0, 0)
    assert report.phases[0].processed == 0  # nothing analyzed again
    after = rows(catalog)
    assert sorted(after) == [str(lib / "2024" / "b.jpg"), str(lib / "renamed.jpg")]
    for old, new in [(a, lib / "renamed.jpg"), (b, lib / "2024" / "b.jpg")]:
        assert {k: v for k, v in after[str(new)].items() if k != "path"} == {
            k: v for k, v in before[str(old)].items() if k != "path"
        }
    assert catalog.queries.file_counts() == {"photo": {"present": 2, "missing": 0}}


def test_a_file_moved_back_after_a_night_away_keeps_its_results(tmp_path, catalog):
    lib = tmp_path / "lib"
    a = write_photo(lib / "a.jpg", full_spec(), seed=1)
    index(catalog, lib)
    shutil.move(a, tmp_path / "away.jpg")
    assert index(catalog, lib).sync.missing == 1
    shutil.move(tmp_path / "away.jpg", lib / "back.jpg")
    report = index(catalog, lib)
    assert (report.sync.moved, report.phases[0].processed) == (1, 0)


def test_copies_are_new_files_and_full_hashes_tell_colliding_moves_apart(tmp_path, catalog):
    lib = tmp_path / "lib"
    original = write_photo(lib / "a.jpg", full_spec(), size=(64, 48))
    shutil.copy(original, lib / "copy.jpg")
    report = index(catalog, lib)
    assert report.sync.new == 2 and report.phases[0].processed == 2
    hashes = sqlite3.connect(catalog.path).execute("SELECT full_hash FROM files").fetchall()
    assert all(h for (h,) in hashes)  # the shared fingerprint made both get a full hash
    (lib / "copy.jpg").rename(lib / "copy renamed.jpg")
    moved = index(catalog, lib)
    assert (moved.sync.moved, moved.sync.new, moved.phases[0].processed) == (1, 0, 0)


def test_same_edges_but_different_middle_is_not_taken_for_a_move(tmp_path, catalog):
    lib = tmp_path / "lib"
    lib.mkdir()
    body = bytearray(os.urandom(300_000))
    (lib / "one.jpg").write_bytes(bytes(body))
    body[150_000] ^= 0xFF  # same size, first and last 64 KiB: only the middle differs
    (lib / "two.jpg").write_bytes(bytes(body))
    index(catalog, lib)
    (lib / "one.jpg").unlink()
    (lib / "two.jpg").rename(lib / "three.jpg")
    report = index(catalog, lib)
    # two.jpg's full hash was stored when it collided with one.jpg, so it is found exactly.
    assert report.sync.moved == 1 and report.sync.missing == 1
    moved_row = (
        sqlite3.connect(catalog.path).execute("SELECT path FROM files WHERE missing = 0").fetchall()
    )
    assert moved_row == [(str(lib / "three.jpg"),)]


# Files in the libraries the interruption tests stop mid-phase: enough that the run is still
# in its content phase when the signal arrives, also when a loaded machine delays the test
# between seeing the first results and sending it (40 was once not, under load average 5).
STOPPED = 120


def library_of(root: Path, count: int, size=(900, 600)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        textured_photo(size, seed=i).save(root / f"{i:03}.jpg", quality=90)
    return root


def no_ml(tmp_path: Path, commit_every: int = 500) -> Path:
    config = tmp_path / "no-ml.yaml"
    config.write_text(
        f"phases: [metadata, content]\ncatalog_options:\n  commit_every: {commit_every}\n"
    )
    return config


def test_second_run_on_a_held_catalog_exits_3_and_wait_queues_behind(cli, tmp_path):
    library = library_of(tmp_path / "lib", 2, size=(200, 150))
    db = tmp_path / "c.db"
    config = no_ml(tmp_path)
    with RunLock(lock_path(db)).acquire():  # another run, as far as the CLI can tell
        locked = cli("run", str(library), "--db", str(db), "--config", str(config), check=False)
        assert locked.returncode == 3
        assert f"pid {os.getpid()}" in locked.stderr and "--wait" in locked.stderr
        assert not db.exists()  # refused before touching the catalog
    holder = RunLock(lock_path(db)).acquire()
    threading.Timer(1.5, holder.release).start()
    waited = cli("run", str(library), "--db", str(db), "--config", str(config), "--wait")
    assert "Scanned 2 files" in waited.stdout


def test_a_lock_left_by_a_killed_run_is_taken_over(cli, tmp_path):
    library = library_of(tmp_path / "lib", 1, size=(200, 150))
    db = tmp_path / "c.db"
    lock_path(db).write_text(json.dumps({"pid": 999_999_999, "started": "2026-01-01T03:00:00"}))
    result = cli("run", str(library), "--db", str(db), "--config", str(no_ml(tmp_path)))
    assert "previous run (pid 999999999) ended without finishing" in result.stderr


def start_run(cli, library: Path, db: Path, config: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photoanalyzer",
            "run",
            str(library),
            "--db",
            str(db),
            "--config",
            str(config),
            "--quiet",
        ],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def wait_for_content_rows(db: Path, at_least: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the run ended before it could be interrupted; make the library larger")
        try:
            with sqlite3.connect(db) as connection:
                (count,) = connection.execute("SELECT COUNT(*) FROM content").fetchone()
            if count >= at_least:
                return count
        except sqlite3.OperationalError:
            pass  # not created yet
        time.sleep(0.05)
    pytest.fail("no content results appeared")


def assert_no_process_left(marker: str, timeout: float = 10.0) -> None:
    """No process of the killed run (its worker processes included) is still alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                alive.append(pid)
        if not alive:
            return
        time.sleep(0.1)
    pytest.fail(f"processes of the killed run are still alive: {alive}")


def export(cli, db: Path) -> list[dict]:
    return sorted(cli.export(db).values(), key=lambda r: r["path"])


def test_kill_9_mid_phase_loses_nothing_committed_and_rerun_matches_a_clean_run(cli, tmp_path):
    library = library_of(tmp_path / "lib", STOPPED)
    config = no_ml(tmp_path, commit_every=3)
    db = tmp_path / "killed.db"
    process = start_run(cli, library, db, config)
    committed = wait_for_content_rows(db, 6, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert_no_process_left(str(db))
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert check.execute("SELECT COUNT(*) FROM content").fetchone()[0] >= committed
    check.close()
    rerun = cli("run", str(library), "--db", str(db), "--config", str(config))
    assert "metadata  0 processed" in rerun.stdout  # metadata had finished before the kill
    assert f"content   {STOPPED} processed" not in rerun.stdout  # committed results were kept
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert check.execute("SELECT status FROM runs ORDER BY id").fetchall() == [
        ("crashed",),
        ("completed",),
    ]
    assert check.execute("SELECT COUNT(*) FROM content").fetchone()[0] == STOPPED  # no duplicates
    check.close()
    clean = tmp_path / "clean.db"
    cli("run", str(library), "--db", str(clean), "--config", str(config))
    assert export(cli, db) == export(cli, clean)


def test_an_interrupted_full_run_does_not_promise_to_continue():
    """--full redoes every file each time, so its interruption says the same command starts
    over (the message above, for a run without --full, says it continues)."""
    from photoanalyzer.cli.run import _interrupted_message

    assert "continue where this one stopped" in _interrupted_message(full=False)
    full = _interrupted_message(full=True)
    assert "continue" not in full and "--full starts over" in full


def test_sigint_stops_cleanly_and_the_next_run_resumes(cli, tmp_path):
    library = library_of(tmp_path / "lib", STOPPED)
    config = no_ml(tmp_path, commit_every=3)
    db = tmp_path / "c.db"
    process = start_run(cli, library, db, config)
    wait_for_content_rows(db, 3, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "run the same command again to continue" in stderr
    assert "Traceback" not in stderr
    with sqlite3.connect(db) as check:
        done = check.execute("SELECT COUNT(*) FROM content").fetchone()[0]
        assert check.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    assert 0 < done < STOPPED
    rerun = cli("run", str(library), "--db", str(db), "--config", str(config))
    assert f"content   {STOPPED - done} processed" in rerun.stdout
    status = json.loads(cli("status", "--db", str(db), "--json", "--config", str(config)).stdout)
    assert status["phases"]["content"] == all_done(status, STOPPED)
    assert [run["status"] for run in status["runs"]] == ["completed", "interrupted"]
    assert status["runs"][0]["duration_seconds"] > 0


def test_log_file_collects_summaries_and_errors(cli, tmp_path):
    library = library_of(tmp_path / "lib", 1, size=(200, 150))
    log = tmp_path / "nightly.log"
    config = no_ml(tmp_path)
    cli(
        "run",
        str(library),
        "--db",
        str(tmp_path / "c.db"),
        "--config",
        str(config),
        "--log",
        str(log),
        "--quiet",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("scan: 3\n")
    cli("run", str(library), "--config", str(bad), "--log", str(log), check=False)
    text = log.read_text()
    assert "photoanalyze run" in text and "Scanned 1 file in 1 folder" in text
    assert "error: config" in text and text.count("] photoanalyze run") == 2


def test_two_real_runs_at_once_the_second_exits_3(cli, tmp_path):
    library = library_of(tmp_path / "lib", 40)
    config = no_ml(tmp_path, commit_every=3)
    db = tmp_path / "c.db"
    first = start_run(cli, library, db, config)
    wait_for_content_rows(db, 1, first)  # the first run is in its content phase, lock held
    first.send_signal(signal.SIGSTOP)  # and stays there, however fast this machine is
    try:
        second = cli("run", str(library), "--db", str(db), "--config", str(config), check=False)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 3 and f"pid {first.pid}" in second.stderr
    first.communicate(timeout=120)
    assert first.returncode == 0


def test_sigterm_to_the_process_group_stops_cleanly_and_marks_no_file_failed(cli, tmp_path):
    """What `timeout`, systemd and most schedulers do: SIGTERM to every process of the run,
    its worker processes included, in the middle of the content phase."""
    library = library_of(tmp_path / "lib", STOPPED)
    config = no_ml(tmp_path, commit_every=3)
    db = tmp_path / "c.db"
    process = start_run(cli, library, db, config, start_new_session=True)
    wait_for_content_rows(db, 3, process)
    os.killpg(process.pid, signal.SIGTERM)  # the run leads its own session and group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    with sqlite3.connect(db) as check:
        failed = check.execute("SELECT * FROM phase_status WHERE error IS NOT NULL").fetchall()
        done = check.execute("SELECT COUNT(*) FROM content").fetchone()[0]
    assert failed == []  # no in-flight file taken for a crash
    assert 0 < done < STOPPED
    rerun = cli("run", str(library), "--db", str(db), "--config", str(config))
    assert f"content   {STOPPED - done} processed, 0 errors" in rerun.stdout
    status = json.loads(cli("status", "--db", str(db), "--json", "--config", str(config)).stdout)
    assert status["phases"]["content"] == all_done(status, STOPPED)


def all_done(status: dict, files: int) -> dict:
    """The content phase's status once all `files` are done by the last run's version (which
    is also the version of the config given to status)."""
    last = status["runs"][0]
    version = next(p["version"] for p in last["phases"] if p["phase"] == "content")
    return {
        "version": version,
        "version_run": last["id"],
        "done": files,
        "older": 0,
        "failed": 0,
        "never": 0,
        "config_version": version,
        "pending_for_config": 0,
        "left_out_pairs": 0,
    }


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (the run's worker processes), from /proc."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after "(comm)" and state
            found.append(int(entry))
    return found


def test_sigterm_reaching_the_workers_first_leaves_the_stopping_to_the_parent(cli, tmp_path):
    """A group-wide SIGTERM reaches the processes in no particular order. Workers that get it
    first must not stop, die or hand back an interruption: only the parent stops the run,
    so it can store what is finished and stop the workers in order."""
    library = library_of(tmp_path / "lib", 40)
    config = no_ml(tmp_path, commit_every=3)
    db = tmp_path / "c.db"
    process = start_run(cli, library, db, config, start_new_session=True)
    before = wait_for_content_rows(db, 3, process)
    workers = children_of(process.pid)
    assert workers, "the content phase should be running in worker processes"
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    wait_for_content_rows(db, before + 6, process)  # fails if the run stopped
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT * FROM phase_status WHERE error IS NOT NULL").fetchall() == []
    rerun = cli("run", str(library), "--db", str(db), "--config", str(config))
    assert "0 errors" in rerun.stdout.split("content", 1)[1]
