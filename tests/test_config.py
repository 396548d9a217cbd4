from pathlib import Path

import pytest

from photoanalyzer.config import (
    beside_catalog,
    load_config,
    move_legacy_thumbnails,
    resolve_catalog_path,
    thumbnail_dir_beside,
    validate,
)
from photoanalyzer.errors import ConfigError
from photoanalyzer.phases import PHASE_ORDER

REPO = Path(__file__).resolve().parents[1]


def test_defaults_come_from_configs_default_yaml():
    config = load_config()
    assert config.phases == ("metadata", "places", "content", "ml")
    assert "heic" in config.scan.photo_extensions and "mov" in config.scan.video_extensions
    assert config.metadata.workers == 0


def test_packaged_default_is_the_repository_file():
    from photoanalyzer.config import default_config_text

    assert default_config_text() == (REPO / "configs" / "default.yaml").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scan:\n  colour: 3\n", "unknown key 'scan.colour'"),
        ("metadata: 4\n", "'metadata' must be a mapping"),
        ("phases: metadata\n", "'phases' must be a list"),
        ("scan:\n  follow_symlinked_folders: 1\n", "must be bool"),
        ("metadata:\n  workers: true\n", "must be a whole number"),
        ("metadata: [unclosed\n", "not valid YAML"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_invalid_files_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(path)


def test_validation_of_ranges_and_phase_names(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("phases: [metadata, colour]\n")
    with pytest.raises(ConfigError, match="unknown phase 'colour'"):
        validate(load_config(path), PHASE_ORDER)
    path.write_text("metadata:\n  workers: -1\n")
    with pytest.raises(ConfigError, match="workers"):
        validate(load_config(path), PHASE_ORDER)


def test_catalog_path_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PHOTOANALYZER_DB", raising=False)
    config = load_config()
    assert resolve_catalog_path(None, config) == tmp_path / "xdg" / "photoanalyzer" / "catalog.db"
    path = tmp_path / "c.yaml"
    path.write_text(f"catalog: {tmp_path / 'conf.db'}\n")
    assert resolve_catalog_path(None, load_config(path)) == tmp_path / "conf.db"
    monkeypatch.setenv("PHOTOANALYZER_DB", str(tmp_path / "env.db"))
    assert resolve_catalog_path(None, load_config(path)) == tmp_path / "env.db"
    assert resolve_catalog_path(tmp_path / "cli.db", config) == tmp_path / "cli.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine: spark\n", "'engine' must be local or ray"),
        ("ray:\n  ml:\n    min_actors: 0\n", "'ray.ml.min_actors' must be at least 1"),
        ("ray:\n  ml:\n    min_actors: 3\n    max_actors: 2\n", "at least min_actors"),
        ("ray:\n  content:\n    cpus_per_task: 0\n", "CPUs per task and per actor must be above 0"),
    ],
)
def test_engine_settings_are_checked(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        validate(load_config(tmp_path / "c.yaml"), PHASE_ORDER)


def test_engine_defaults_to_local_with_fractional_ml_actors():
    config = load_config()
    assert config.engine == "local" and config.ray.address is None
    assert config.ray.ml.cpus_per_actor < 1  # whole-CPU actors deadlock a 2-CPU machine


SQLITE = b"SQLite format 3\x00"


def test_folders_beside_a_catalog_are_named_from_its_whole_file_name(tmp_path):
    assert beside_catalog(tmp_path / "photos.db", "search") == tmp_path / "photos.db-search"
    assert beside_catalog(tmp_path / "photos", "thumbnails") == tmp_path / "photos-thumbnails"


def test_a_lone_catalogs_old_thumbnail_folder_is_read_then_moved_by_a_run(tmp_path):
    catalog = tmp_path / "lone.db"
    catalog.write_bytes(SQLITE)
    (tmp_path / "lone-thumbnails" / "ab").mkdir(parents=True)
    (tmp_path / "lone").mkdir()  # a folder named like the stem is no catalog
    assert thumbnail_dir_beside(catalog) == tmp_path / "lone-thumbnails"  # readers
    assert thumbnail_dir_beside(catalog, for_run=True) == tmp_path / "lone.db-thumbnails"
    move_legacy_thumbnails(catalog)
    assert (tmp_path / "lone.db-thumbnails" / "ab").is_dir()
    assert not (tmp_path / "lone-thumbnails").exists()
    assert thumbnail_dir_beside(catalog) == tmp_path / "lone.db-thumbnails"


def test_an_old_thumbnail_folder_that_may_be_another_catalogs_is_never_moved(tmp_path):
    """`photos.db-thumbnails` is photos.db's folder now, and was photos.db.sqlite's before
    issue 24; `shared-thumbnails` was shared.db's and shared.sqlite's: neither moves."""
    (tmp_path / "photos.db").write_bytes(SQLITE)
    (tmp_path / "photos.db-thumbnails").mkdir()
    (tmp_path / "shared.sqlite").write_bytes(SQLITE)
    (tmp_path / "shared-thumbnails").mkdir()
    for catalog, folder in (
        (tmp_path / "photos.db.sqlite", tmp_path / "photos.db-thumbnails"),
        (tmp_path / "shared.db", tmp_path / "shared-thumbnails"),
    ):
        catalog.write_bytes(SQLITE)
        assert thumbnail_dir_beside(catalog, for_run=True) == folder
        move_legacy_thumbnails(catalog)
        assert folder.is_dir() and not beside_catalog(catalog, "thumbnails").exists()


def test_a_new_catalog_never_takes_an_old_folder(tmp_path):
    (tmp_path / "photos-thumbnails").mkdir()  # another catalog's, from before issue 24
    catalog = tmp_path / "photos.db"  # not made yet
    assert thumbnail_dir_beside(catalog, for_run=True) == tmp_path / "photos.db-thumbnails"
    move_legacy_thumbnails(catalog)
    assert (tmp_path / "photos-thumbnails").is_dir()
