"""Typed configuration: built-in defaults from configs/default.yaml, a user file merged over
them, then command-line overrides. Every problem is a ConfigError that names the key."""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from photoanalyzer.errors import ConfigError, UsageError

ENV_DB = "PHOTOANALYZER_DB"
KINDS = frozenset({"photo", "video"})
RAW_PAIR_MODES = ("both", "jpeg-only", "raw-only")


@dataclass(frozen=True)
class ScanConfig:
    photo_extensions: tuple[str, ...]
    video_extensions: tuple[str, ...]
    follow_symlinked_folders: bool
    raw_pairs: str  # RAW_PAIR_MODES: which of a RAW+JPEG pair the content and ML phases read


@dataclass(frozen=True)
class MetadataConfig:
    workers: int


@dataclass(frozen=True)
class ContentConfig:
    workers: int
    thumbnail_size: int
    thumbnail_quality: int
    thumbnail_dir: str | None
    max_pixels: int
    blur_threshold: float
    underexposed_brightness: float
    underexposed_shadows: float
    overexposed_brightness: float
    overexposed_highlights: float
    near_duplicate_distance: int
    video_frame_interval: float
    video_max_frames: int


@dataclass(frozen=True)
class ClipConfig:
    model: str
    pretrained: str
    top_k: int
    labels: tuple[str, ...]
    templates: tuple[str, ...]


@dataclass(frozen=True)
class YoloConfig:
    model: str
    weights: str
    confidence: float
    image_size: int


@dataclass(frozen=True)
class MlConfig:
    backend: str
    batch_size: int
    loader_threads: int
    offline: bool
    models_dir: str | None
    clip: ClipConfig
    yolo: YoloConfig


@dataclass(frozen=True)
class FacesConfig:
    workers: int
    detector: str  # hog or cnn (analysis/faces.py DETECTORS)
    picture_size: int
    small_picture: int
    upsample: int
    min_face_px: int
    max_faces: int
    match_threshold: float
    same_face: float
    min_cluster: int
    min_size_px: int
    min_sharpness: float
    region_iou: float


@dataclass(frozen=True)
class CatalogOptions:
    commit_every: int
    commit_seconds: float


@dataclass(frozen=True)
class RayTaskConfig:
    cpus_per_task: float


@dataclass(frozen=True)
class RayActorConfig:
    cpus_per_actor: float
    gpus_per_actor: float | None  # None: 1 when the cluster has GPUs, else 0
    min_actors: int
    max_actors: int | None  # None: one per GPU of the cluster (1 without GPUs)


@dataclass(frozen=True)
class RayConfig:
    address: str | None
    task_retries: int
    metadata: RayTaskConfig
    content: RayTaskConfig
    ml: RayActorConfig


@dataclass(frozen=True)
class Config:
    catalog: str | None
    phases: tuple[str, ...]
    kinds: tuple[str, ...]
    scan: ScanConfig
    metadata: MetadataConfig
    content: ContentConfig
    ml: MlConfig
    faces: FacesConfig
    catalog_options: CatalogOptions
    engine: str
    ray: RayConfig


def shipped_config(name: str) -> Path:
    """configs/NAME.yaml as installed inside the package (default, baseline, optimized)."""
    packaged = resources.files("photoanalyzer").joinpath(f"configs/{name}.yaml")
    if packaged.is_file():
        return Path(str(packaged))
    # An editable install runs from the source tree, where configs/ is at the repository root.
    return Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml"


def default_config_text() -> str:
    """The text of configs/default.yaml: the built-in defaults."""
    return shipped_config("default").read_text(encoding="utf-8")


def load_config(path: Path | None = None) -> Config:
    """Defaults, with the YAML file at `path` (if any) merged over them."""
    data = _parse_yaml(default_config_text(), "built-in defaults")
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        user = _parse_yaml(text, str(path)) or {}
        if not isinstance(user, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys, not {user!r}")
        data = _deep_merge(data, user)
    return _build(Config, data, where=str(path) if path else "built-in defaults", prefix="")


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {where} is not valid YAML: {exc}") from exc


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _deep_merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, data: Any, where: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(
            f"config {where}: '{prefix.rstrip('.') or 'top level'}' must be a mapping"
        )
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        names = ", ".join(sorted(known))
        raise ConfigError(f"config {where}: unknown key '{prefix}{unknown[0]}' (known: {names})")
    values = {}
    for name in known:
        key = prefix + name
        if name not in data:
            raise ConfigError(f"config {where}: missing key '{key}'")
        values[name] = _coerce(hints[name], data[name], where, key)
    return cls(**values)


def _coerce(kind: Any, value: Any, where: str, key: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where, key + ".")
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _coerce(inner, value, where, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"config {where}: '{key}' must be a list, got {value!r}")
        (item_kind, _ellipsis) = typing.get_args(kind)
        return tuple(_coerce(item_kind, item, where, f"{key}[]") for item in value)
    # bool is a subclass of int: refuse `workers: true` and `follow: 1` alike.
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"config {where}: '{key}' must be a whole number, got {value!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is not int and not isinstance(value, kind):
        raise ConfigError(f"config {where}: '{key}' must be {kind.__name__}, got {value!r}")
    return value


def validate(config: Config, known_phases: typing.Iterable[str]) -> Config:
    """Checks that need more than types: ranges and names."""
    if config.metadata.workers < 0:
        raise ConfigError("config: 'metadata.workers' must be 0 (one per core) or more")
    if not config.kinds or set(config.kinds) - KINDS:
        raise ConfigError(f"config: 'kinds' must list some of {', '.join(sorted(KINDS))}")
    if config.scan.raw_pairs not in RAW_PAIR_MODES:
        raise ConfigError(f"config: 'scan.raw_pairs' must be one of {', '.join(RAW_PAIR_MODES)}")
    content = config.content
    if content.workers < 0:
        raise ConfigError("config: 'content.workers' must be 0 (one per core) or more")
    if not 32 <= content.thumbnail_size <= 4096:
        raise ConfigError("config: 'content.thumbnail_size' must be between 32 and 4096 pixels")
    if not 1 <= content.thumbnail_quality <= 95:
        raise ConfigError("config: 'content.thumbnail_quality' must be between 1 and 95")
    if content.max_pixels < 1:
        raise ConfigError("config: 'content.max_pixels' must be positive")
    if content.video_frame_interval <= 0 or not 1 <= content.video_max_frames <= 64:
        raise ConfigError(
            "config: 'content.video_frame_interval' must be above 0 and "
            "'content.video_max_frames' between 1 and 64"
        )
    if not 0 <= content.near_duplicate_distance <= 32:
        raise ConfigError("config: 'content.near_duplicate_distance' must be between 0 and 32")
    _validate_ml(config.ml)
    _validate_faces(config.faces)
    if config.catalog_options.commit_every < 1 or config.catalog_options.commit_seconds <= 0:
        raise ConfigError(
            "config: 'catalog_options.commit_every' must be at least 1 and "
            "'catalog_options.commit_seconds' above 0"
        )
    _validate_engine(config)
    known = set(known_phases)
    for phase in config.phases:
        if phase not in known:
            raise ConfigError(
                f"config: unknown phase '{phase}' in 'phases' (known: {', '.join(sorted(known))})"
            )
    return config


def _validate_faces(faces: FacesConfig) -> None:
    if faces.workers < 0:
        raise ConfigError("config: 'faces.workers' must be 0 (one per core) or more")
    if faces.detector not in ("hog", "cnn"):
        raise ConfigError("config: 'faces.detector' must be hog or cnn")
    if not 64 <= faces.picture_size <= 8192 or not 0 <= faces.upsample <= 2:
        raise ConfigError(
            "config: 'faces.picture_size' must be between 64 and 8192 and 'faces.upsample'"
            " between 0 and 2"
        )
    if not 1 <= faces.max_faces <= 1000 or faces.min_cluster < 1:
        raise ConfigError(
            "config: 'faces.max_faces' must be between 1 and 1000, 'faces.min_cluster' 1 or more"
        )
    if not 0 < faces.same_face < faces.match_threshold <= 2:
        raise ConfigError(
            "config: 'faces.same_face' must be above 0 and below 'faces.match_threshold',"
            " which is at most 2"
        )
    if not 0 < faces.region_iou <= 1:
        raise ConfigError("config: 'faces.region_iou' must be above 0 and at most 1")


def _validate_ml(ml: MlConfig) -> None:
    # The backend registry reads no torch: validating a config stays cheap.
    from photoanalyzer.ml.backends import UnknownBackend, check_name

    try:
        check_name(ml.backend)
    except UnknownBackend as exc:
        raise ConfigError(f"config: 'ml.backend': {exc}") from exc
    if ml.batch_size < 1 or ml.loader_threads < 1:
        raise ConfigError("config: 'ml.batch_size' and 'ml.loader_threads' must be at least 1")
    if not ml.clip.labels:
        raise ConfigError("config: 'ml.clip.labels' needs at least one label")
    if not ml.clip.templates or any("{}" not in t for t in ml.clip.templates):
        raise ConfigError("config: every 'ml.clip.templates' entry must contain {} for the label")
    if not 1 <= ml.clip.top_k <= len(ml.clip.labels):
        raise ConfigError("config: 'ml.clip.top_k' must be between 1 and the number of labels")
    if not 0.0 <= ml.yolo.confidence <= 1.0:
        raise ConfigError("config: 'ml.yolo.confidence' must be between 0 and 1")
    if ml.yolo.image_size < 32 or ml.yolo.image_size % 32:
        raise ConfigError("config: 'ml.yolo.image_size' must be a multiple of 32")


def _validate_engine(config: Config) -> None:
    if config.engine not in ("local", "ray"):
        raise ConfigError(f"config: 'engine' must be local or ray, got {config.engine!r}")
    ray = config.ray
    tasks = (ray.metadata.cpus_per_task, ray.content.cpus_per_task, ray.ml.cpus_per_actor)
    if any(cpus <= 0 for cpus in tasks) or (ray.ml.gpus_per_actor or 0) < 0:
        raise ConfigError(
            "config: the 'ray' CPUs per task and per actor must be above 0, GPUs 0 or more"
        )
    top = ray.ml.max_actors
    if ray.ml.min_actors < 1 or (top is not None and top < ray.ml.min_actors):
        raise ConfigError(
            "config: 'ray.ml.min_actors' must be at least 1 and 'ray.ml.max_actors' null or "
            "at least min_actors"
        )
    if ray.task_retries < 0:
        raise ConfigError("config: 'ray.task_retries' must be 0 or more")


def with_engine(config: Config, engine: str | None, address: str | None) -> Config:
    """The config with the run command's --engine and --ray-address applied."""
    if engine is not None and engine not in ("local", "ray"):
        raise UsageError(f"--engine takes local or ray, not {engine!r}")
    ray = dataclasses.replace(config.ray, address=address or config.ray.address)
    return dataclasses.replace(config, engine=engine or config.engine, ray=ray)


def with_ml_overrides(
    config: Config, backend: str | None = None, batch_size: int | None = None, offline: bool = False
) -> Config:
    """The config with the run command's --backend, --batch-size and --offline applied."""
    from photoanalyzer.ml.backends import UnknownBackend, check_name

    if backend is not None:
        try:
            check_name(backend)
        except UnknownBackend as exc:
            raise UsageError(f"--backend: {exc}") from exc
    ml = config.ml
    ml = dataclasses.replace(
        ml,
        backend=backend if backend is not None else ml.backend,
        batch_size=batch_size if batch_size is not None else ml.batch_size,
        offline=offline or ml.offline,
    )
    updated = dataclasses.replace(config, ml=ml)
    _validate_ml(updated.ml)
    return updated


def with_kinds(config: Config, text: str) -> Config:
    """The config covering the kinds named in `text` ("photo,video")."""
    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    if not kinds or set(kinds) - KINDS:
        raise UsageError(f"--kinds takes {', '.join(sorted(KINDS))} or both, comma-separated")
    return dataclasses.replace(config, kinds=kinds)


def resolve_models_dir(config: Config) -> Path:
    if config.ml.models_dir:
        return Path(config.ml.models_dir).expanduser().absolute()
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "photoanalyzer" / "models"


def xdg_dir(env_var: str, fallback: str) -> Path:
    """An XDG base folder: the variable when it holds an absolute path, else ~/<fallback>."""
    value = os.environ.get(env_var, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def beside_catalog(catalog_path: Path, purpose: str) -> Path:
    """A folder the program keeps for one catalog, beside it, named from the catalog's whole
    file name: `photos.db-thumbnails`, `photos.db-search`. So catalogs whose names share a
    stem in one folder (photos.db, photos.sqlite) never share one. The one place these names
    are made."""
    return catalog_path.with_name(f"{catalog_path.name}-{purpose}")


def legacy_beside_catalog(catalog_path: Path, purpose: str) -> Path:
    """Such a folder's name before issue 24, from the catalog's stem: `photos-thumbnails`."""
    return catalog_path.with_name(f"{catalog_path.stem}-{purpose}")


def resolve_thumbnail_dir(
    config: Config, catalog_path: Path, cli_db_given: bool, for_run: bool = False
) -> Path:
    """The configured folder; else beside a catalog chosen with --db or PHOTOANALYZER_DB (so
    that catalogs kept apart keep their thumbnails apart; thumbnail_dir_beside); else the XDG
    cache folder."""
    if config.content.thumbnail_dir:
        return Path(config.content.thumbnail_dir).expanduser().absolute()
    if cli_db_given or os.environ.get(ENV_DB) or config.catalog:
        return thumbnail_dir_beside(catalog_path, for_run)
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "photoanalyzer" / "thumbnails"


def thumbnail_dir_beside(catalog_path: Path, for_run: bool = False) -> Path:
    """The thumbnail folder beside a catalog: `CATALOG-thumbnails` (beside_catalog). The
    content phase's results name thumbnails relative to the folder, so a catalog made before
    issue 24, whose folder is named after its stem (`photos-thumbnails`), keeps using that
    one until `run` renames it (move_legacy_thumbnails): nothing is analyzed again. A run
    (`for_run`) uses the new name, since it moves the old folder there first; where another
    catalog in the same folder shares the stem, the old folder holds its thumbnails too, is
    never moved, and both catalogs keep it. A catalog not made yet gets the new name."""
    folder = beside_catalog(catalog_path, "thumbnails")
    legacy = legacy_beside_catalog(catalog_path, "thumbnails")
    if legacy == folder or folder.exists() or not legacy.is_dir():
        return folder
    if not catalog_path.exists():  # a new catalog: the old folder is another one's
        return folder
    return folder if for_run and not _stem_shared(catalog_path) else legacy


def move_legacy_thumbnails(catalog_path: Path) -> None:
    """Give a thumbnail folder of the name before issue 24 its new name (thumbnail_dir_beside).
    `run` calls it under the run lock, so that no other run is writing into the folder; a
    rename in the same folder is one atomic step. Where it fails (a read-only folder), the
    old folder stays and is used, and the thumbnails this run writes go to the new one."""
    folder = beside_catalog(catalog_path, "thumbnails")
    legacy = legacy_beside_catalog(catalog_path, "thumbnails")
    if legacy == folder or folder.exists() or not legacy.is_dir():
        return
    if not catalog_path.exists() or _stem_shared(catalog_path):
        return
    with contextlib.suppress(OSError):
        legacy.rename(folder)


def _stem_shared(catalog_path: Path) -> bool:
    """Whether the folder of the old name may hold another catalog's thumbnails: a file named
    the stem itself (`photos`, or `photos.db` beside `photos.db.sqlite`), whose folder has
    that name under either rule, or another SQLite file with the same stem (`photos.sqlite`
    beside `photos.db`), which shared it before issue 24."""
    if catalog_path.with_name(catalog_path.stem).is_file():
        return True
    for path in catalog_path.parent.glob(glob.escape(catalog_path.stem) + ".*"):
        if path == catalog_path or path.stem != catalog_path.stem:
            continue
        try:
            with open(path, "rb") as head:
                if head.read(16) == b"SQLite format 3\x00":
                    return True
        except OSError:
            continue  # a folder, or unreadable: not a catalog this program could open
    return False


def resolve_catalog_path(cli_db: Path | None, config: Config) -> Path:
    """--db, then $PHOTOANALYZER_DB, then the config's `catalog`, then the XDG data folder."""
    if cli_db is not None:
        chosen = Path(cli_db)
    elif os.environ.get(ENV_DB):
        chosen = Path(os.environ[ENV_DB])
    elif config.catalog:
        chosen = Path(config.catalog)
    else:
        chosen = xdg_dir("XDG_DATA_HOME", ".local/share") / "photoanalyzer" / "catalog.db"
    return chosen.expanduser().absolute()
