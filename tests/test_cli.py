"""End to end through the command line, in a child process as a user runs it."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from photoanalyzer.phases.metadata import MetadataPhase
from support.imagegen import full_spec, write_photo, write_truncated_jpeg, write_zero_byte

# The CLI tests cover the command line itself; the ML phase (which needs weights this machine
# cannot download) has its own tests in test_ml_phase.py.
NO_ML = ("--phases", "metadata,content")


def make_library(root: Path) -> Path:
    write_photo(root / "2023" / "beach.jpg", full_spec())
    write_photo(root / "2023" / "café ☕.jpg", full_spec(gps=(-33.8568, -151.2153, -2.0)))
    write_zero_byte(root / "broken" / "empty.jpg")
    write_truncated_jpeg(root / "broken" / "cut.jpg")
    return root


def test_help_lists_commands_and_each_command_explains_itself(cli):
    top = cli("--help").stdout
    for command in ("run", "export", "status"):
        assert command in top
        assert "Usage" in cli(command, "--help").stdout
    run_help = cli("run", "--help").stdout
    for option in ("--db", "--config", "--phases", "--full", "--quiet"):
        assert option in run_help


def test_run_then_export_jsonl_and_csv(cli, tmp_path):
    library = make_library(tmp_path / "lib")
    db = tmp_path / "cat.db"
    result = cli("run", str(library), "--db", str(db), *NO_ML)
    assert "Scanned 4 files" in result.stdout
    assert "2 errors" in result.stdout and "empty file (0 bytes)" in result.stdout
    rows = cli.export(db)
    beach = rows[str(library / "2023" / "beach.jpg")]
    assert list(beach) == [
        "path",
        "path_bytes",
        "kind",
        "file_size",
        "pair_of",
        "pair_of_bytes",
        "file_type",
        "width",
        "height",
        "orientation",
        "taken_at",
        "subsec",
        "make",
        "model",
        "lens",
        "lens_make",
        "exposure_time",
        "f_number",
        "iso",
        "focal_length",
        "focal_length_35mm",
        "gps_lat",
        "gps_lon",
        "gps_alt",
        "duration",
        "frame_rate",
        "video_codec",
        "rotation",
        "has_audio",
        "bitrate",
        "taken_at_offset",
        "taken_at_utc",
        "taken_at_offset_source",
        "rating",
        "label",
        "keywords",
        "description",
        "xmp_source",
        "taken_at_source",
        "place_city",
        "place_region",
        "place_country",
        "place_country_code",
        "place_distance_km",
        "timezone",
        "place_note",
        "thumbnail",
        "sharpness",
        "tenengrad",
        "blurry",
        "brightness",
        "highlights_clipped",
        "shadows_crushed",
        "underexposed",
        "overexposed",
        "contrast",
        "colorfulness",
        "dominant_colors",
        "phash",
        "dhash",
        "decoder",
        "decoder_note",
        "face_count",
        "faces",
        "top_scene",
        "scenes",
        "objects",
        "object_counts",
        "ml_random_weights",
        "clip_random_weights",
        "yolo_random_weights",
        "screenshot",
        "screenshot_reason",
        "text",
        "text_line_count",
        "errors",
    ]
    assert (beach["taken_at"], beach["taken_at_offset"], beach["taken_at_utc"]) == (
        "2023-07-14T18:30:05",
        "+02:00",
        "2023-07-14T16:30:05Z",
    )
    assert beach["taken_at_source"] == "exif:DateTimeOriginal"
    assert beach["errors"] == {}
    assert rows[str(library / "2023" / "café ☕.jpg")]["gps_lon"] < 0
    assert rows[str(library / "broken" / "empty.jpg")]["errors"] == {
        "metadata": "empty file (0 bytes)",
        "content": "empty file (0 bytes)",
    }
    out = tmp_path / "out.csv"
    cli("export", "--db", str(db), "--format", "csv", "--out", str(out))
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(table) == 4
    cut = next(r for r in table if r["path"].endswith("cut.jpg"))
    assert "metadata" in json.loads(cut["errors"])


def test_second_run_reports_no_work_and_status_shows_counts(cli, tmp_path):
    library = make_library(tmp_path / "lib")
    db = str(tmp_path / "cat.db")
    cli("run", str(library), "--db", db, "--quiet", *NO_ML)
    again = cli("run", str(library), "--db", db, "--quiet", *NO_ML).stdout
    assert "0 new, 0 changed" in again and "metadata  0 processed" in again
    status = cli("status", "--db", db).stdout
    assert "photos: 4 present, 0 missing" in status
    assert (
        "metadata  2 done, 0 with results of an older version, 2 failed, 0 never analysed"
        f" (version {MetadataPhase.version}, as run #2 used)\n" in status
    )
    assert status.count("completed") == 2


def content_line(status_text: str) -> str:
    return next(line for line in status_text.splitlines() if line.startswith("  content "))


def test_status_counts_results_of_the_last_runs_version_whatever_config_it_is_given(cli, tmp_path):
    """Results made with --config X are done, also for a status given no config (whose own
    content version differs); results of an earlier version are told apart, not pending."""
    library, more = make_library(tmp_path / "lib"), tmp_path / "more"
    write_photo(more / "new.jpg", full_spec())
    small, smaller = tmp_path / "small.yaml", tmp_path / "smaller.yaml"
    small.write_text("phases: [metadata, content]\ncontent:\n  thumbnail_size: 320\n")
    smaller.write_text("phases: [metadata, content]\ncontent:\n  thumbnail_size: 200\n")
    db = str(tmp_path / "c.db")
    cli("run", str(library), "--db", db, "--config", str(small), "--quiet")
    state = json.loads(cli("status", "--db", db, "--json").stdout)["phases"]["content"]
    version = state["version"]
    assert (state["done"], state["failed"], state["pending_for_config"]) == (2, 2, None)
    assert content_line(cli("status", "--db", db).stdout) == (
        "  content   2 done, 0 with results of an older version, 2 failed, 0 never analysed"
        f" (version {version}, as run #1 used)"
    )
    assert content_line(cli("status", "--db", db, "--config", str(small)).stdout).endswith(
        "; 0 pending for this config"
    )
    cli("run", str(more), "--db", db, "--config", str(smaller), "--quiet")  # a newer version
    newer = json.loads(cli("status", "--db", db, "--json").stdout)["phases"]["content"]
    assert newer["version"] != version and newer["version_run"] == 2
    assert (newer["done"], newer["older"], newer["failed"], newer["never"]) == (1, 2, 2, 0)
    plain = tmp_path / "plain.yaml"
    plain.write_text("phases: [metadata, content]\n")  # the default content version
    status = json.loads(cli("status", "--db", db, "--json", "--config", str(plain)).stdout)
    assert status["phases"]["content"]["pending_for_config"] == 5  # none has its results
    assert status["phases"]["content"]["done"] == 1  # the same counts, whatever the config


def test_not_on_a_terminal_prints_no_progress_bar(cli, tmp_path):
    library = make_library(tmp_path / "lib")
    result = cli("run", str(library), "--db", str(tmp_path / "c.db"), *NO_ML)
    assert "file/s" not in result.stderr and "it/s" not in result.stderr


def test_default_catalog_is_in_the_xdg_data_folder_and_env_overrides_it(cli, tmp_path):
    library = make_library(tmp_path / "lib")
    cli("run", str(library), "--quiet", *NO_ML)
    assert (cli.home / "data" / "photoanalyzer" / "catalog.db").is_file()
    env_db = tmp_path / "env.db"
    cli("run", str(library), "--quiet", *NO_ML, env={"PHOTOANALYZER_DB": str(env_db)})
    assert env_db.is_file()


def test_unknown_phases_are_refused_before_anything_is_touched(cli, tmp_path):
    result = cli(
        "run",
        str(tmp_path),
        "--db",
        str(tmp_path / "c.db"),
        "--phases",
        "metadata,colour",
        check=False,
    )
    assert result.returncode == 2
    assert (
        "unknown phase 'colour' (phases: metadata, places, content, faces, ml, text)"
        in result.stderr
    )
    assert not (tmp_path / "c.db").exists()


def test_fatal_problems_exit_1_with_one_line_naming_the_fix(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli("run", str(tmp_path), "--db", str(blocker / "cat.db"), check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert str(blocker / "cat.db") in result.stderr and "choose a writable location with --db" in (
        result.stderr
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("metadata:\n  workers: many\n")
    result = cli("run", str(tmp_path), "--config", str(bad), check=False)
    assert result.returncode == 1
    assert "'metadata.workers' must be a whole number" in result.stderr
    assert result.stderr.count("\n") == 1


def test_config_file_is_merged_over_defaults(cli, tmp_path):
    library = make_library(tmp_path / "lib")
    config = tmp_path / "my.yaml"
    config.write_text(f"catalog: {tmp_path / 'from-config.db'}\nscan:\n  photo_extensions: [png]\n")
    result = cli("run", str(library), "--config", str(config), "--quiet")
    assert "Scanned 0 files" in result.stdout  # only .png counts now; there are none
    assert (tmp_path / "from-config.db").is_file()


def test_cli_does_not_import_ml_libraries():
    code = (
        "import sys; from photoanalyzer import cli, catalog;"
        "from photoanalyzer.run import pipeline; from photoanalyzer.outputs import terminal;"
        "from photoanalyzer.phases import metadata;"
        "heavy = ('torch', 'open_clip', 'ultralytics', 'numpy');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unchanged_rescan_imports_no_reader(cli, tmp_path):
    """A nightly rescan where nothing changed builds the phases only to learn their versions:
    it must not pay for the readers (exifread, Pillow, numpy) or for typer's pydantic
    (docs/performance.md, "Issues 24 and 25": each is a tenth of an unchanged rescan)."""
    library = make_library(tmp_path / "lib")
    db = str(tmp_path / "c.db")
    cli("run", str(library), "--db", db, "--phases", "metadata,content", "--quiet")
    code = (
        "import runpy, sys;"
        f"sys.argv = ['photoanalyze', 'run', {str(library)!r}, '--db', {db!r},"
        " '--phases', 'metadata,content', '--quiet'];"
        "exec('try: runpy.run_module(\\'photoanalyzer\\', run_name=\\'__main__\\')\\n"
        "except SystemExit: pass');"
        "heavy = ('exifread', 'PIL.Image', 'numpy', 'pydantic', 'torch');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "0 new, 0 changed" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("photoanalyze")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("photoanalyze ")


def test_overlapping_arguments_index_every_file_once(cli, tmp_path):
    library = make_library(tmp_path / "lib")
    db = str(tmp_path / "c.db")
    beach = library / "2023" / "beach.jpg"
    # A folder before its parent, a file inside a given folder, the same root twice.
    args = [str(library / "2023"), str(library), str(beach), str(library), f"{library}/./2023"]
    result = cli("run", *args, "--db", db, "--phases", "metadata", check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Scanned 4 files in 3 folders" in result.stdout  # lib/./2023 is lib/2023
    assert len(cli.export(Path(db))) == 4
    again = cli("run", *args, "--db", db, "--phases", "metadata").stdout
    assert "0 new, 0 changed, 0 moved, 0 now missing" in again


def test_reading_commands_refuse_a_catalog_that_does_not_exist(cli, tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    for db in (folder / "typo.db", folder / "no-such-folder" / "typo.db"):
        for command in (["status"], ["status", "--json"], ["export"], ["duplicates"]):
            result = cli(*command, "--db", str(db), check=False)
            assert result.returncode == 1, (command, result.stderr)
            assert result.stderr == (
                f"photoanalyze: error: no catalog at {db}: run `photoanalyze run FOLDER` first\n"
            )
            assert result.stdout == ""
    assert list(folder.iterdir()) == []  # no catalog, -wal, -shm, thumbnails or folder
    # Without --db, the default catalog is not created either.
    assert cli("status", check=False).returncode == 1
    assert not (cli.home / "data").exists()


def test_quiet_run_over_noisy_broken_files_prints_only_the_summary(cli, tmp_path):
    from support.imagegen import write_broken_fax_tiff

    # One file is decoded in the calling process; three go through worker processes.
    for count in (1, 3):
        library = tmp_path / f"lib{count}"
        for i in range(count):
            write_broken_fax_tiff(library / f"fax{i}.tif", seed=i)
        db = str(tmp_path / f"c{count}.db")
        result = cli("run", str(library), "--db", db, "--quiet", *NO_ML)
        assert result.stderr == ""
        lines = result.stdout.splitlines()
        scanned = f"Scanned {count} file{'s' if count > 1 else ''} in 1 folder"
        assert lines[0].startswith(scanned) and lines[-1] == f"Catalog: {db}"
        assert all(line.startswith("  ") for line in lines[1:-1]), lines  # the phase lines
    # The noise is real: libtiff does complain about these files.
    decode = "import sys; from PIL import Image; Image.open(sys.argv[1]).load()"
    probe = subprocess.run(
        [sys.executable, "-c", decode, str(tmp_path / "lib1" / "fax0.tif")],
        capture_output=True,
        text=True,
    )
    assert "Bad code word" in probe.stderr


def thumbnails_shown(cli, db: Path) -> list[Path]:
    """The thumbnail each present photo shows in `search --json` (absolute paths)."""
    out = cli("search", "--db", str(db), "--kind", "photo", "--json").stdout
    return [Path(hit["thumbnail"]) for hit in json.loads(out)["results"]]


def test_catalogs_that_share_a_stem_keep_their_thumbnails_apart(cli, tmp_path):
    """photos.db and photos.sqlite in one folder: each catalog's thumbnails are in a folder
    named from its whole file name."""
    library = tmp_path / "lib"
    write_photo(library / "a.jpg", full_spec())
    for name in ("photos.db", "photos.sqlite"):
        cli("run", str(library), "--db", str(tmp_path / name), "--quiet", *NO_ML)
        (shown,) = thumbnails_shown(cli, tmp_path / name)
        assert shown.is_file() and shown.is_relative_to(tmp_path / f"{name}-thumbnails")
    assert not (tmp_path / "photos-thumbnails").exists()


def test_a_thumbnail_folder_of_the_old_name_is_used_then_moved_by_run(cli, tmp_path):
    """A catalog made before issue 24 keeps its thumbnails in `old-thumbnails` (named after
    its stem), and its content results name them relative to that folder: readers use it,
    and the next run renames it, analyzing nothing again."""
    library = tmp_path / "lib"
    write_photo(library / "a.jpg", full_spec())
    db = tmp_path / "old.db"
    cli("run", str(library), "--db", str(db), "--quiet", *NO_ML)
    (tmp_path / "old.db-thumbnails").rename(tmp_path / "old-thumbnails")  # as it was named
    (shown,) = thumbnails_shown(cli, db)
    assert shown.is_file() and shown.is_relative_to(tmp_path / "old-thumbnails")
    assert not (tmp_path / "old.db-thumbnails").exists()  # a reader moves nothing
    again = cli("run", str(library), "--db", str(db), "--quiet", *NO_ML).stdout
    assert "content   0 processed" in again
    assert not (tmp_path / "old-thumbnails").exists()
    (shown,) = thumbnails_shown(cli, db)
    assert shown.is_file() and shown.is_relative_to(tmp_path / "old.db-thumbnails")


def test_an_old_thumbnail_folder_two_catalogs_share_stays_theirs(cli, tmp_path):
    """photos.db and photos.sqlite, made before issue 24, share `photos-thumbnails`: it holds
    both catalogs' thumbnails, so it is not moved, and both keep it."""
    library = tmp_path / "lib"
    write_photo(library / "a.jpg", full_spec())
    shared = tmp_path / "photos-thumbnails"
    for name in ("photos.db", "photos.sqlite"):
        cli("run", str(library), "--db", str(tmp_path / name), "--quiet", *NO_ML)
    for name in ("photos.db", "photos.sqlite"):
        folder = tmp_path / f"{name}-thumbnails"
        for thumbnail in folder.rglob("*.jpg"):  # as the old version put them: in one folder
            target = shared / thumbnail.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            thumbnail.replace(target)
        for sub in sorted(folder.rglob("*"), reverse=True):  # the old version had no tag
            sub.rmdir() if sub.is_dir() else sub.unlink()
        folder.rmdir()
    for name in ("photos.db", "photos.sqlite"):
        again = cli("run", str(library), "--db", str(tmp_path / name), "--quiet", *NO_ML)
        assert "content   0 processed" in again.stdout
        (shown,) = thumbnails_shown(cli, tmp_path / name)
        assert shown.is_file() and shown.is_relative_to(shared)
    assert not (tmp_path / "photos.db-thumbnails").exists()
