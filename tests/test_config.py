from pathlib import Path

import pytest

from photoanalyzer.config import load_config, resolve_catalog_path, validate
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
