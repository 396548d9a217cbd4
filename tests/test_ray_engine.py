"""The Ray engine, on real local Ray instances (Ray's scheduling, retries and worker deaths
cannot be mocked meaningfully): one instance with 2 CPUs for the module, as a small cluster
would give. Compared with the local engine on the same library, with a worker process killed
mid-phase, a file that kills every worker, and the driver killed with SIGKILL."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config, resolve_models_dir, thumbnail_dir_beside
from photoanalyzer.outputs.terminal import format_run
from photoanalyzer.phases import PhaseContext, build_phases
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.run import pipeline
from support.imagegen import full_spec, write_photo, write_truncated_jpeg
from support.requirements import require_module

ray = require_module("ray")  # CI installs the [ray] extra with [dev]

REPO = Path(__file__).resolve().parents[1]
LABELS = '["a beach", "a forest", "a city street", "food"]'


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module; the phases' test subclasses below travel to
    the workers by value (the workers cannot import the tests folder)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@contextmanager
def deadline(seconds: int):
    """Fails the test instead of hanging it when a pipeline deadlocks."""

    def expired(signum, frame):
        raise TimeoutError(f"the run did not finish in {seconds} s: a deadlock?")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def config_file(path: Path, models: Path, engine: str = "local", extra: str = "") -> Path:
    path.write_text(
        f"engine: {engine}\n"
        f"ml:\n  models_dir: {models}\n  batch_size: 4\n"
        f"  clip:\n    pretrained: random\n    labels: {LABELS}\n    top_k: 2\n"
        "    templates: ['a photo of {}.']\n"
        "  yolo:\n    weights: random\n"
        f"catalog_options:\n  commit_every: 2\n  commit_seconds: 0.2\n{extra}"
    )
    return path


def library(root: Path, count: int, size=(640, 480)) -> Path:
    for i in range(count):
        spec = full_spec(iso=100 + i, gps=(48.85 + i / 100, 2.29, 35.0))
        write_photo(root / f"{i:03}.jpg", spec, size=size)
    return root


def index(lib: Path, db: Path, config_path: Path, names=None):
    config = load_config(config_path)
    context = PhaseContext(config, thumbnail_dir_beside(db), resolve_models_dir(config))
    phases = build_phases(names or config.phases, context)
    return pipeline.index([str(lib)], phases, config, db)


def export(db: Path) -> dict[str, dict]:
    catalog = Catalog(db)
    try:
        return {Path(row["path"]).name: row for row in catalog.queries.export_rows()}
    finally:
        catalog.close()


ML_SCORES = ("scenes", "objects")  # scores of the backend's precision


def assert_same_catalog(ray_rows: dict, local_rows: dict) -> None:
    """Every field equal, but ML scores within 0.01 and the same top classes."""
    assert ray_rows.keys() == local_rows.keys()
    for name, row in ray_rows.items():
        other = local_rows[name]
        plain = set(row) - set(ML_SCORES)
        assert {k: row[k] for k in plain} == {k: other[k] for k in plain}, name
        assert row.get("top_scene") == other.get("top_scene"), name
        _close(row, other, name)


def _close(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= 0.01, where
    else:
        assert a == b, where


def test_ray_engine_with_default_resources_gives_the_local_engines_catalog(cluster, tmp_path):
    """All four phases, ML with random weights; the default resources on 2 CPUs (the ML
    actor reserves half a CPU) must not deadlock."""
    require_module("torch")
    lib = library(tmp_path / "lib", 6)
    write_truncated_jpeg(lib / "broken.jpg")
    models = tmp_path / "models"
    local = index(lib, tmp_path / "local.db", config_file(tmp_path / "l.yaml", models))
    with deadline(240):
        remote = index(lib, tmp_path / "ray.db", config_file(tmp_path / "r.yaml", models, "ray"))
    assert [p.name for p in remote.phases] == ["metadata", "places", "content", "ml"]
    for mine, theirs in zip(remote.phases, local.phases, strict=True):
        assert (mine.processed, mine.errors, mine.failure) == (
            theirs.processed,
            theirs.errors,
            None,
        )
        assert mine.details["engine"]["cpus"] == 2
    workers = remote.phases[3].details["workers"]
    assert workers and all(
        w["backend"] == local.phases[3].details["backend"]["name"] for w in workers
    )
    summary = format_run(remote)
    assert "engine ray: 1 node, 2 CPUs, 0 GPUs" in summary
    assert f"pid {workers[0]['pid']}: {workers[0]['backend']} on" in summary
    rows = export(tmp_path / "ray.db")
    assert rows["000.jpg"]["ml_random_weights"] is True and rows["000.jpg"]["top_scene"]
    assert rows["000.jpg"]["place_country_code"] == "FR"
    assert_same_catalog(rows, export(tmp_path / "local.db"))


@dataclasses.dataclass(frozen=True)
class SlowContent(ContentPhase):
    """Content, a little slower, noting which process read which file: a worker killed
    mid-task is then known to have been reading files."""

    log: str = ""

    def analyze(self, path: str, kind: str):
        with open(self.log, "a") as out:
            out.write(f"{os.getpid()} {Path(path).name}\n")
        time.sleep(0.3)
        return super().analyze(path, kind)


def _kill_a_reader(log: Path, killed: list[int], stop: threading.Event) -> None:
    """SIGKILLs the first Ray worker process that has started reading files and is still
    running the content phase's task (its title names the task's function)."""
    while not stop.is_set() and not killed:
        readers = log.read_text().split()[::2] if log.exists() else []
        for pid in dict.fromkeys(readers):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::") and b"_analyze_files" in title:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.02)


def test_a_worker_killed_mid_phase_loses_no_file(cluster, tmp_path):
    lib = library(tmp_path / "lib", 12, size=(320, 240))
    config = load_config(config_file(tmp_path / "r.yaml", tmp_path / "models", "ray"))
    log = tmp_path / "reads.log"
    phase = SlowContent(config.content, str(tmp_path / "thumbs"), log=str(log))
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_reader, args=(log, killed, stop))
    killer.start()
    try:
        with deadline(180):
            report = pipeline.index([str(lib)], [phase], config, tmp_path / "c.db")
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was seen running the content phase"
    readers = {line.split()[0] for line in log.read_text().splitlines()}
    assert str(killed[0]) in readers  # the killed worker was reading files
    assert (report.phases[0].processed, report.phases[0].errors) == (12, 0)
    rows = export(tmp_path / "c.db")
    assert all(rows[f"{i:03}.jpg"]["sharpness"] is not None for i in range(12))


@dataclasses.dataclass(frozen=True)
class CrashingPhase(MetadataPhase):
    """Metadata, but reading one file kills the worker process (as a segfault would)."""

    def analyze(self, path: str, kind: str):
        if path.endswith("crash.jpg"):
            os._exit(139)
        return super().analyze(path, kind)


def test_a_file_that_kills_every_worker_is_that_files_error(cluster, tmp_path):
    lib = library(tmp_path / "lib", 6, size=(64, 48))
    write_photo(lib / "100-crash.jpg", size=(16, 12))
    config = load_config(config_file(tmp_path / "r.yaml", tmp_path / "m", "ray"))
    with deadline(180):
        report = pipeline.index([str(lib)], [CrashingPhase()], config, tmp_path / "c.db")
    assert (report.phases[0].processed, report.phases[0].errors) == (7, 1)
    rows = export(tmp_path / "c.db")
    assert rows["100-crash.jpg"]["errors"] == {"metadata": pipeline.WORKER_CRASH}
    assert all(rows[f"{i:03}.jpg"]["iso"] == 100 + i for i in range(6))


class BuggySession:
    def analyze(self, items):
        raise RuntimeError("a bug in the ML session")


def _with_buggy_session(ml):
    """The ML phase `ml`, but its session's analyze raises (a bug, not a dead worker)."""
    from photoanalyzer.phases.ml import MlPhase

    @dataclasses.dataclass(frozen=True)
    class BuggyMlPhase(MlPhase):
        def session(self, details):
            return BuggySession()

    return BuggyMlPhase(**{f.name: getattr(ml, f.name) for f in dataclasses.fields(ml)})


def test_a_bug_in_an_ml_actor_ends_the_phase_and_leaves_the_files_pending(cluster, tmp_path):
    """An exception in an actor is no dead worker: Ray Data would drop the block and its
    files would end as crashing their reader, for good. The phase ends as it would locally,
    with the worker's traceback, and the files stay pending."""
    require_module("torch")
    lib = library(tmp_path / "lib", 4, size=(64, 48))
    config = load_config(config_file(tmp_path / "r.yaml", tmp_path / "models", "ray"))
    context = PhaseContext(config, tmp_path / "thumbnails", resolve_models_dir(config))
    metadata, ml = build_phases(["metadata", "ml"], context)
    buggy = _with_buggy_session(ml)
    with deadline(180):
        report = pipeline.index([str(lib)], [metadata, buggy], config, tmp_path / "c.db")
    failure = report.phases[1].failure
    assert "an ML actor failed unexpectedly" in failure and "a bug in the ML session" in failure
    assert "a bug in the ML session" in report.phases[1].details["worker_traceback"]
    assert report.phases[1].left_pending == 4
    rows = export(tmp_path / "c.db")
    # Pending, with no error of their own (not WORKER_CRASH): the failure is the phase's.
    assert all("ml" not in row["errors"] and row["top_scene"] is None for row in rows.values())


def _content_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as connection:
            return connection.execute(
                "SELECT count(*) FROM phase_status WHERE phase = 'content'"
            ).fetchone()[0]
    except sqlite3.Error:
        return 0


def _stopped_mid_content(tmp_path: Path, address: str, stop: signal.Signals):
    """A `photoanalyze run --engine ray` driver (joined to the test's Ray instance), sent
    `stop` once the content phase has committed some files: (command, db, exit code)."""
    lib = tmp_path / "lib"
    if not lib.exists():
        library(lib, 40, size=(1024, 768))
    config = config_file(tmp_path / "r.yaml", tmp_path / "m", "ray")
    db = tmp_path / f"stopped-{stop.name}.db"
    command = [sys.executable, "-m", "photoanalyzer", "run", str(lib), "--db", str(db)]
    command += ["--config", str(config), "--phases", "metadata,content", "-q"]
    command += ["--ray-address", address]
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches the group.
    driver = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        started = time.monotonic()
        while _content_rows(db) == 0 and time.monotonic() - started < 120:
            assert driver.poll() is None, "the run ended before it could be stopped"
            time.sleep(0.05)
        assert driver.poll() is None, "the run ended before it could be stopped"
        os.killpg(driver.pid, stop)
        code = driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert 0 < _content_rows(db) < 40  # stopped mid-phase, with some work committed
    return command, db, code


def test_driver_killed_mid_run_leaves_a_catalog_the_next_run_completes(cluster, tmp_path):
    command, db, code = _stopped_mid_content(tmp_path, cluster, signal.SIGKILL)
    assert code == -signal.SIGKILL
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    clean = tmp_path / "clean.db"
    index(tmp_path / "lib", clean, tmp_path / "r.yaml", names=("metadata", "content"))
    assert export(db) == export(clean)


def test_ctrl_c_stores_the_finished_files_and_exits_130(cluster, tmp_path):
    _, db, code = _stopped_mid_content(tmp_path, cluster, signal.SIGINT)
    assert code == 130
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]


def test_local_engine_imports_no_ray_and_ray_engine_without_ray_says_what_to_install(tmp_path):
    lib = library(tmp_path / "lib", 2, size=(32, 24))
    local = (
        "import sys; from photoanalyzer.cli import main; sys.argv = ['photoanalyze', 'run', "
        f"{str(lib)!r}, '--db', {str(tmp_path / 'c.db')!r}, '--phases', 'metadata,content', '-q']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", local], check=True, timeout=120)
    without = (
        "import sys; sys.modules['ray'] = None; from photoanalyzer.cli import main; "
        f"sys.argv = ['photoanalyze', 'run', {str(lib)!r}, '--db', {str(tmp_path / 'r.db')!r}, "
        "'--engine', 'ray']; main()"
    )
    result = subprocess.run([sys.executable, "-c", without], capture_output=True, text=True)
    assert result.returncode == 2
    assert "pip install 'photoanalyzer[ray]'" in result.stderr
    assert not (tmp_path / "r.db").exists()  # refused before the catalog was created
