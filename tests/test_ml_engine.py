"""The staged ML engine, run in this process so its boundaries can be watched: stored
thumbnails reach it through the catalog (the originals are never opened), a failure stays
with its file, a backend that fails gives way to the next, ultralytics' patch of Pillow is
undone, and CLIP's text tower is built only for texts not yet cached.

Random weights throughout (the only ones available here). Replaced, and said so at each
place: the CPU's bfloat16 feature, a GPU with NVML and torch_tensorrt (hardware and libraries
this machine lacks), and, to inject failures, the models' forward passes."""

import builtins
import json
import os
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from conftest import random_weights_yaml
from support.imagegen import textured_photo
from support.requirements import require_module

torch = require_module("torch")
require_module("open_clip")
require_module("ultralytics")

from photoanalyzer.catalog import Catalog  # noqa: E402
from photoanalyzer.config import load_config, validate  # noqa: E402
from photoanalyzer.phases import PHASE_ORDER, PhaseContext, build_phases  # noqa: E402
from photoanalyzer.run import pipeline  # noqa: E402

LABELS = ["a beach", "a forest", "a city street", "food"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """One model cache for the module: random weights and text embeddings are made once."""
    return tmp_path_factory.mktemp("models")


def config_for(folder: Path, models: Path, labels=LABELS, **ml):
    extra = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in ml.items())
    path = folder / f"config-{len(labels)}-{len(list(folder.glob('config-*')))}.yaml"
    path.write_text(
        f"ml:\n  models_dir: {models}\n  batch_size: 2\n{extra}"
        f"  clip:\n    pretrained: random\n    top_k: 2\n    labels: {json.dumps(labels)}\n"
        f"  yolo:\n    weights: random\n    confidence: 0.0\n"
    )
    return validate(load_config(path), PHASE_ORDER)


# Every phase but faces, which is opt-in and has its own tests (tests/test_faces_*.py).
INDEXED = tuple(phase for phase in PHASE_ORDER if phase != "faces")


def index(roots, config, db: Path, phases=INDEXED) -> pipeline.RunReport:
    context = PhaseContext(config, db.with_name("thumbnails"), Path(config.ml.models_dir))
    catalog = Catalog(db)
    try:
        return pipeline.run([str(r) for r in roots], build_phases(phases, context), catalog, config)
    finally:
        catalog.close()


def ml_report(report: pipeline.RunReport) -> pipeline.PhaseReport:
    return next(phase for phase in report.phases if phase.name == "ml")


def rows(db: Path) -> dict[str, dict]:
    catalog = Catalog(db)
    try:
        return {row["path"]: row for row in catalog.queries.export_rows()}
    finally:
        catalog.close()


def photos(folder: Path, count: int, size=(900, 600)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        path = folder / f"photo{seed}.jpg"
        textured_photo(size, seed=seed).save(path, quality=90)
        paths.append(path)
    return paths


def test_moved_file_then_new_prompts_reads_stored_thumbnails_never_the_originals(
    tmp_path, models, monkeypatch
):
    library = tmp_path / "library"
    photos(library / "2023", 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    textured_photo((900, 600), seed=7).save(library / "2023" / "turned.jpg", exif=exif.tobytes())
    db = tmp_path / "catalog.db"
    index([library], config_for(tmp_path, models), db)
    (library / "2023").rename(library / "2024")
    moved = index([library], config_for(tmp_path, models), db)
    assert moved.sync.moved == 4 and ml_report(moved).processed == 0

    opened: list[str] = []
    real_open = builtins.open

    def watching_open(file, *args, **kwargs):  # the file-open boundary
        if isinstance(file, (str, os.PathLike)):
            opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", watching_open)
    rerun = index([library], config_for(tmp_path, models, labels=[*LABELS, "snow"]), db)
    monkeypatch.undo()

    assert ml_report(rerun).processed == 4 and ml_report(rerun).errors == 0
    assert not [path for path in opened if path.startswith(str(library))]
    thumbnails = str(tmp_path / "thumbnails")
    assert len([path for path in opened if path.startswith(thumbnails)]) == 4
    found = rows(db)
    turned = found[str(library / "2024" / "turned.jpg")]
    assert turned["top_scene"] in [*LABELS, "snow"]
    for box in (found["box"] for found in turned["objects"]):
        # boxes in the upright original's pixels: portrait, 600 wide and 900 high
        assert 0 <= box[0] <= box[2] <= 600 and 0 <= box[1] <= box[3] <= 900


def test_a_file_that_breaks_inference_gets_the_error_and_the_run_goes_on(
    tmp_path, models, monkeypatch
):
    from photoanalyzer.ml.yolo_objects import YoloDetector

    library = tmp_path / "library"
    photos(library, 4)
    # Sorted by path it is second, so it shares the first batch (batch size 2) with photo0:
    # that batch raises as a whole and must be run again picture by picture.
    poison = library / "photo0-poison.jpg"
    textured_photo((333, 555), seed=5).save(poison, quality=90)
    real_forward = YoloDetector.forward
    batch_sizes = []

    def forward(self, items):  # the model boundary: this picture makes inference raise
        batch_sizes.append(len(items))
        if any(item.picture_size == (333, 555) for item in items):
            raise RuntimeError("injected: the model rejects this picture")
        return real_forward(self, items)

    monkeypatch.setattr(YoloDetector, "forward", forward)
    db = tmp_path / "catalog.db"
    report = index([library], config_for(tmp_path, models), db)
    ml = ml_report(report)
    assert ml.failure is None and ml.processed == 5 and ml.errors == 1
    assert batch_sizes[:3] == [2, 1, 1]  # the shared batch, then each of its pictures alone
    found = rows(db)
    assert "injected: the model rejects" in found[str(poison)]["errors"]["ml"]
    for path in [*photos_in(library)]:  # its batch-mate, and the files after it
        assert found[str(path)]["top_scene"] in LABELS and found[str(path)]["errors"] == {}
    catalog = Catalog(db)
    assert catalog.runs.recent(1)[0]["status"] == "completed"
    catalog.close()


def random_weights_config(folder: Path, models: Path) -> Path:
    """A config file for `photoanalyze run`: every other setting its default."""
    config = folder / "random.yaml"
    config.write_text(random_weights_yaml(models))
    return config


def photos_in(library: Path) -> list[Path]:
    return sorted(p for p in library.glob("photo*.jpg") if "poison" not in p.name)


def test_an_unexpected_error_in_the_phase_ends_the_phase_not_the_run(tmp_path, models, monkeypatch):
    """A bug in the phase (simulated: the outcome step raises a TypeError) is recorded as the
    phase's failure with its traceback; the files stay pending, the run is completed."""
    from photoanalyzer.phases.ml import MlPhase

    library = tmp_path / "library"
    photos(library, 2)

    def broken(self, done, results):
        raise TypeError("injected: a bug in the phase")

    monkeypatch.setattr(MlPhase, "_outcome", broken)
    db = tmp_path / "c.db"
    report = index([library], config_for(tmp_path, models), db)
    ml = ml_report(report)
    assert "unexpected error: TypeError: injected: a bug in the phase" in ml.failure
    assert "Traceback" in ml.details["traceback"] and "_outcome" in ml.details["traceback"]
    catalog = Catalog(db)
    try:
        (run,) = catalog.runs.recent(1)
        assert run["status"] == "completed"
        (recorded,) = [p for p in run["phases"] if p["phase"] == "ml"]
        assert "TypeError" in recorded["details"]["traceback"]
        version = build_phases(
            ("ml",), PhaseContext(config_for(tmp_path, models), tmp_path, models)
        )
        counts = catalog.queries.phase_summary("ml", {"photo"}, version[0].version)
        assert counts["pending_for_config"] == 2 and counts["done"] == 0
    finally:
        catalog.close()
    monkeypatch.undo()
    again = ml_report(index([library], config_for(tmp_path, models), db))
    assert again.failure is None and again.processed == 2 and again.errors == 0


def test_a_run_that_fails_outside_the_phases_is_recorded_failed_not_interrupted(
    tmp_path, models, monkeypatch
):
    library = tmp_path / "library"
    photos(library, 1)

    def broken_scan(roots, config, own=()):  # simulated: the walk itself fails (a bug, say)
        raise ValueError("injected: the walk failed")

    monkeypatch.setattr(pipeline, "scan", broken_scan)
    db = tmp_path / "c.db"
    with pytest.raises(ValueError, match="injected"):
        index([library], config_for(tmp_path, models), db)
    catalog = Catalog(db)
    assert catalog.runs.recent(1)[0]["status"] == "failed"
    catalog.close()


def test_after_a_production_ml_run_pillow_open_is_pillows_own(cli, tmp_path, models):
    """Pillow's open, torch's thread count and ultralytics' settings file after a run. In a
    fresh process, as a user runs it: nothing imported ultralytics beforehand, so the patch
    ultralytics applies on import is in force unless the phase gives Pillow its own function
    back."""
    library = tmp_path / "library"
    photos(library, 1)
    config = random_weights_config(tmp_path, models)
    script = (
        "import sys\n"
        "from PIL import Image\n"
        "import torch\n"
        "pillows_own, threads = Image.open, torch.get_num_threads()\n"
        "from photoanalyzer import cli\n"
        f"sys.argv = ['photoanalyze', 'run', {str(library)!r}, '--db', {str(tmp_path / 'c.db')!r},"
        f" '--config', {str(config)!r}, '--quiet']\n"
        "try:\n    cli.main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
        "assert 'ultralytics' in sys.modules\n"  # the run did import it
        "assert torch.get_num_threads() == threads, (torch.get_num_threads(), threads)\n"
        "print('same' if Image.open is pillows_own else f'patched by {Image.open.__module__}')\n"
    )
    # As on a user's machine: no ultralytics settings folder chosen by an earlier test here.
    env = {k: v for k, v in cli.env.items() if not k.startswith(("YOLO_", "HF_HUB_"))}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ml        1 processed, 0 errors" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "same"
    # ultralytics' settings live in our model cache, not in the user's ~/.config
    assert (models / "ultralytics-settings").is_dir()
    assert not (cli.home / ".config" / "Ultralytics").exists()


def test_the_loader_threads_yield_to_the_models_on_a_cpu_backend():
    from photoanalyzer.ml.batching import prefetch_map

    def policy(_):
        return os.sched_getscheduler(0)  # 0: the calling thread

    base = policy(None)
    behind = list(prefetch_map(policy, range(4), threads=2, ahead=2, behind_caller=True))
    alongside = list(prefetch_map(policy, range(4), threads=2, ahead=2))
    assert behind == [os.SCHED_IDLE] * 4 and alongside == [base] * 4
    assert policy(None) == base != os.SCHED_IDLE  # the calling thread (the models') keeps its


def test_a_backend_failing_its_first_batch_gives_way_to_the_next_once(
    tmp_path, models, monkeypatch
):
    """The GPU numbers follow the fallback too: they describe the backend that ran."""
    from photoanalyzer.ml import backends
    from photoanalyzer.ml.predictor import Predictor
    from test_ml_units import fake_nvml

    real = backends.real_probes

    def probes_with_bf16():  # the CPU feature boundary: pretend this CPU has bfloat16
        return replace(real(), cpu_has_bf16=lambda: True, bf16_agrees=lambda: (True, "ok"))

    monkeypatch.setattr(backends, "real_probes", probes_with_bf16)
    # The GPU boundary (none here): the failing backend stands for one on a GPU that NVML
    # (a stand-in) sees busy; the backend it gives way to runs on the CPU.
    monkeypatch.setattr(
        backends.Backend, "gpu_uuid", lambda self: "GPU-sim" if self.name == "cpu-bf16" else None
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml({"GPU-sim": 97}))
    real_infer = Predictor.infer

    def infer(self, batch):  # the model boundary: every batch fails on cpu-bf16
        if self.backend.name == "cpu-bf16":
            raise RuntimeError("simulated kernel failure")
        return real_infer(self, batch)

    monkeypatch.setattr(Predictor, "infer", infer)
    library = tmp_path / "library"
    photos(library, 3)
    report = index([library], config_for(tmp_path, models), tmp_path / "c.db", ("ml",))
    ml = ml_report(report)
    assert ml.failure is None and ml.errors == 0 and ml.processed == 3
    assert ml.details["backend"]["name"] == "cpu-fp32"
    assert ml.details["fallback"]["from"] == "cpu-bf16"
    assert "simulated kernel failure" in ml.details["backend"]["skipped"]["cpu-bf16"]
    assert ml.details["gpu"] is None and "run on the CPU" in ml.details["gpu_note"]


def test_a_backend_whose_models_fail_to_build_gives_way_to_the_next(monkeypatch, tmp_path):
    """Simulated: no GPU or TensorRT exists here. The predictor's construction is the
    boundary: it fails on the tensorrt backend as a failed engine build would."""
    from photoanalyzer.ml import predictor
    from photoanalyzer.ml.backends import Probes, select_backend
    from photoanalyzer.ml.timing import StageClock
    from photoanalyzer.phases.ml import _Models

    built = []

    class FakePredictor:
        def __init__(self, clip, yolo, backend, settings, cache, startup):
            if backend.spec.tensorrt:
                raise RuntimeError("TensorRT engine build failed: unsupported op")
            built.append(backend)

    gpu = Probes(
        cuda_available=lambda: True,
        cuda_device_name=lambda: "Simulated GPU",
        import_tensorrt=lambda: object(),
        cpu_has_bf16=lambda: False,
        bf16_agrees=lambda: (True, "ok"),
    )
    monkeypatch.setattr(predictor, "Predictor", FakePredictor)
    details: dict = {}
    phase = types.SimpleNamespace(settings=None, models_dir=str(tmp_path))
    _Models(phase, None, None, StageClock()).build(select_backend("auto", gpu), details)
    (chosen,) = built
    assert chosen.name == "cuda-amp-fp16"
    assert "TensorRT engine build failed" in details["backend"]["skipped"]["tensorrt"]


def test_unknown_backend_names_are_refused_with_the_registry(cli, tmp_path):
    from photoanalyzer.ml.backends import CHOICES, REGISTRY

    library = tmp_path / "lib"
    library.mkdir()
    given = cli(
        "run", str(library), "--db", str(tmp_path / "c.db"), "--backend", "tpu", check=False
    )
    assert given.returncode == 2
    assert "unknown backend 'tpu'" in given.stderr
    assert all(name in given.stderr for name in CHOICES)
    config = tmp_path / "c.yaml"
    config.write_text("ml:\n  backend: gpu-fast\n")
    configured = cli("run", str(library), "--config", str(config), check=False)
    assert configured.returncode == 1 and "unknown backend 'gpu-fast'" in configured.stderr
    assert all(name in configured.stderr for name in CHOICES)
    assert all(name in cli("run", "--help").stdout for name in REGISTRY)


def test_text_tower_is_built_only_for_texts_not_yet_cached(tmp_path, monkeypatch):
    import open_clip

    from photoanalyzer.ml.backends import select_backend
    from photoanalyzer.ml.clip_scenes import ClipModel
    from photoanalyzer.ml.weights import resolve_clip

    builds = []
    real_create = open_clip.create_model

    def counting_create(name, *args, **kwargs):  # the open_clip boundary
        if kwargs.get("device") != "meta":  # a skeleton on `meta` has no weights: not a build
            builds.append(name)
        return real_create(name, *args, **kwargs)

    monkeypatch.setattr(open_clip, "create_model", counting_create)
    weights = resolve_clip("ViT-B-32", "random", tmp_path, offline=True)
    backend = select_backend("cpu-fp32")
    templates = ["a photo of {}."]
    cold = ClipModel(weights, backend, tmp_path / "clip")
    first = cold.label_embeddings(LABELS, templates)
    assert builds == ["ViT-B-32"]  # the random weights are made once, text tower with them
    warm = ClipModel(weights, backend, tmp_path / "clip")
    again = warm.label_embeddings(LABELS, templates)
    assert builds == ["ViT-B-32"]  # image tower from the cache, labels from the text cache
    assert torch.allclose(first, again)
    warm.label_embeddings([*LABELS, "snow"], templates)
    assert builds == ["ViT-B-32", "ViT-B-32"]  # a new prompt: the text tower is built
    query = warm.encode_text(["a dog on a beach"])
    assert query.shape == (1, first.shape[1])
    assert builds == ["ViT-B-32", "ViT-B-32"]  # built once per ClipModel, then reused


def test_tensorrt_engines_are_cached_per_gpu_weights_precision_and_batch_profile(
    tmp_path, monkeypatch
):
    """Simulated: torch_tensorrt cannot compile without a GPU, so a stand-in records the
    compile calls at that boundary. What is tested is the engine cache around it."""
    from photoanalyzer.ml.backends import Probes, select_backend
    from photoanalyzer.ml.tensorrt import EngineRecipe, engine_for

    compiled = []

    def compile_(module, **kwargs):
        compiled.append(kwargs["inputs"][0]["max_shape"])
        return module

    fake = types.SimpleNamespace(
        Input=lambda **shape: shape,
        compile=compile_,
        save=lambda module, path, **kwargs: Path(path).write_bytes(b"engine"),
        load=lambda path: types.SimpleNamespace(module=lambda: ("engine from", path)),
    )
    monkeypatch.setitem(sys.modules, "torch_tensorrt", fake)
    gpu = Probes(
        cuda_available=lambda: True,
        cuda_device_name=lambda: "Simulated GPU",
        import_tensorrt=lambda: fake,
        cpu_has_bf16=lambda: False,
        bf16_agrees=lambda: (True, "ok"),
    )
    backend = select_backend("auto", gpu, engine_dir=tmp_path / "engines", max_batch=16)
    assert backend.name == "tensorrt"
    recipe = EngineRecipe("clip-visual", "ViT-B-32:weights-a", (3, 224, 224))
    module = torch.nn.Linear(4, 4)
    first = engine_for(module, recipe, backend)
    assert compiled == [(16, 3, 224, 224)] and first[0] == "engine from"
    assert engine_for(module, recipe, backend) == first and len(compiled) == 1  # cached
    engine_for(module, recipe, replace(backend, max_batch=32))  # a larger batch: new profile
    assert compiled[-1] == (32, 3, 224, 224)
    engine_for(module, replace(recipe, weights_id="ViT-B-32:weights-b"), backend)
    assert len(compiled) == 3
    assert not list((tmp_path / "engines").rglob("*.part"))


def test_a_photo_that_cannot_be_read_now_stays_pending_for_the_ml_phase(
    tmp_path, models, monkeypatch
):
    import errno

    from photoanalyzer.pixels import load as imaging

    library = tmp_path / "library"
    photos(library, 2)
    real = imaging.load_upright_rgb

    def flaky(path, *args, **kwargs):  # the disk boundary: a network share that dropped
        if str(path).endswith("photo1.jpg"):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(imaging, "load_upright_rgb", flaky)
    config = config_for(tmp_path, models)
    db = tmp_path / "c.db"
    first = ml_report(index([library], config, db, ("ml",)))
    assert (first.processed, first.errors) == (2, 1)
    assert "Input/output error" in first.error_samples[0][1]
    monkeypatch.undo()
    second = ml_report(index([library], config, db, ("ml",)))
    assert (second.processed, second.errors) == (1, 0)  # only the one that failed, now read
    assert rows(db)[str(library / "photo1.jpg")]["top_scene"] in LABELS


def test_clip_inputs_are_open_clips_own_transform_split_across_threads(models):
    """The loader threads do open_clip's resize and crop (uint8); scaling and normalising
    happen on the batch. The model must see exactly what open_clip's transform gives."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from photoanalyzer.ml.backends import select_backend
    from photoanalyzer.ml.clip_scenes import ClipModel
    from photoanalyzer.ml.weights import resolve_clip

    weights = resolve_clip("ViT-B-32", "random", models, offline=True)
    model = ClipModel(weights, select_backend("cpu-fp32"), models / "clip")
    pictures = [textured_photo((900, 600), seed=1), textured_photo((500, 800), seed=2)]
    ours = model.encode_images(torch.stack([model.preprocess(p) for p in pictures]))
    reference_transform = image_transform_v2(PreprocessCfg(), is_train=False)
    with torch.inference_mode():
        reference = model._visual(torch.stack([reference_transform(p) for p in pictures]))
    reference = torch.nn.functional.normalize(reference.float(), dim=-1)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_a_broken_torch_install_is_a_phase_that_cannot_run_naming_the_extra(cli, tmp_path, models):
    """A torch that cannot be imported (here: a package of that name, first on the path, that
    raises ImportError, as a half-removed install does) gives exit 4 and the extra to install,
    not a traceback; metadata and content still run."""
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('libtorch_cpu.so: not found')")
    library = tmp_path / "library"
    photos(library, 1)
    config = random_weights_config(tmp_path, models)
    path = os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = cli(
        "run", str(library), "--db", str(tmp_path / "c.db"), "--config", str(config),
        check=False, env={"PYTHONPATH": path},
    )  # fmt: skip
    assert result.returncode == 4, result.stderr[-2000:]
    assert "pip install 'photoanalyzer[ml]'" in result.stdout
    assert "content   1 processed, 0 errors" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
