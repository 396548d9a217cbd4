"""Which decoders the content phase uses (decoders.plan_decoders / plan_for), and the CPU
fallback of the GPU decoders. There is no GPU here: the probe results that a GPU machine
would give are passed in as GpuProbe values (the true boundary); the fallbacks are the real
thing, because nvJPEG and NVDEC really fail on this machine. What this does NOT test: that
nvJPEG and NVDEC decode correctly and fast on a GPU (benchmarks/gpu_check.py, not yet run)."""

from __future__ import annotations

import json
import re
import sys

import pytest
from PIL import Image

from photoanalyzer import errors
from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.ml import decoder_plan
from photoanalyzer.ml.decoder_plan import plan_for
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.pixels import plan as decoders
from photoanalyzer.pixels.load import load_upright_rgb
from photoanalyzer.pixels.plan import CPU_PLAN, DecodePlan, GpuProbe, plan_decoders
from support.imagegen import textured_photo
from support.requirements import require_module


def test_the_cpu_decoders_when_the_ml_backend_is_not_on_cuda():
    plan = plan_decoders(GpuProbe("cpu"))
    assert (plan.jpeg, plan.hevc, plan.on_gpu) == ("pillow", "cpu", False)
    assert plan.why_not == {
        "nvjpeg": "the ML backend runs on cpu",
        "nvdec": "the ML backend runs on cpu",
    }


def test_the_gpu_decoders_when_ml_runs_on_cuda_and_each_probe_decoded():
    plan = plan_decoders(GpuProbe("cuda"))
    assert (plan.jpeg, plan.hevc, plan.why_not, plan.on_gpu) == ("nvjpeg", "cuda", {}, True)


def test_each_gpu_decoder_that_failed_its_probe_is_left_out_with_the_reason():
    plan = plan_decoders(GpuProbe("cuda", nvdec_error="RuntimeError: no NVDEC for HEVC"))
    assert (plan.jpeg, plan.hevc) == ("nvjpeg", "cpu")
    assert plan.why_not == {"nvdec": "RuntimeError: no NVDEC for HEVC"}
    plan = plan_decoders(GpuProbe("cuda", nvjpeg_error="RuntimeError: nvjpeg"))
    assert (plan.jpeg, plan.hevc, plan.on_gpu) == ("pillow", "cuda", True)


def test_a_cpu_backend_by_name_needs_no_probe():
    def probe(_name):
        raise AssertionError("a CPU backend must not start the GPU probe")

    assert plan_for("cpu-fp32", probe) == plan_decoders(GpuProbe("cpu"))


def test_auto_and_cuda_backends_ask_the_probe():
    seen = []

    def probe(name):
        seen.append(name)
        return GpuProbe("cuda")

    assert plan_for("auto", probe).on_gpu and plan_for("cuda-fp32", probe).on_gpu
    assert seen == ["auto", "cuda-fp32"]


def test_the_ray_engine_decodes_on_the_cpu_and_starts_no_probe():
    def probe(_name):
        raise AssertionError("the Ray engine's plan must not probe the driver's GPU")

    plan = plan_for("cuda-fp32", probe, engine="ray")
    assert not plan.on_gpu and "Ray engine" in plan.why_not["nvjpeg"]


@pytest.mark.skipif(decoders.nvidia_driver_present(), reason="this machine has an NVIDIA driver")
def test_without_a_driver_the_plan_says_so_and_starts_no_probe():
    plan = plan_for("auto")
    assert plan == DecodePlan(why_not=dict.fromkeys(("nvjpeg", "nvdec"), plan.why_not["nvjpeg"]))
    assert "no NVIDIA driver" in plan.why_not["nvjpeg"]


def test_the_content_version_does_not_name_the_decoders():
    """Which decoder made a picture is recorded per file; the version stays, so a night
    whose GPU probe failed does not make the whole library pending."""
    settings = load_config().content
    cpu = ContentPhase(settings, "t")
    gpu = ContentPhase(settings, "t", decode_plan=plan_decoders(GpuProbe("cuda")))
    assert cpu.decode_plan == CPU_PLAN and gpu.decode_plan.on_gpu
    assert gpu.version == cpu.version


class FakeProbe:
    """The GPU boundary: the spawned probe (torch, CUDA) and the driver check. `answer` is
    what the probe finds; with None, a call raises. Every call is recorded."""

    def __init__(self, monkeypatch, answer: GpuProbe | None):
        self.answer, self.calls = answer, []
        monkeypatch.setattr(decoders, "nvidia_driver_present", lambda: True)
        monkeypatch.setattr(decoder_plan, "probe_in_subprocess", self)

    def __call__(self, ml_backend: str) -> GpuProbe:
        self.calls.append(ml_backend)
        if self.answer is None:
            raise AssertionError("this command must not start the GPU probe")
        return self.answer


def in_process(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`photoanalyze ARGS` through cli.main in this process, so the fake probe is in force."""
    from photoanalyzer import cli

    monkeypatch.setattr(sys, "argv", ["photoanalyze", *args])
    capsys.readouterr()
    try:
        cli.main()
        code = 0
    except SystemExit as end:
        code = end.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def gpu_library(tmp_path, monkeypatch):
    """Two photos, a catalog path, and a config whose ML backend may be CUDA ('auto'); the
    content phase runs in this process (workers: 1), so the fake probe reaches it."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / "cache"))
    monkeypatch.delenv("PHOTOANALYZER_DB", raising=False)
    library = tmp_path / "lib"
    library.mkdir()
    for seed in range(2):
        textured_photo((320, 240), seed=seed).save(library / f"p{seed}.jpg", quality=90)
    config = tmp_path / "gpu.yaml"
    config.write_text("content:\n  workers: 1\nml:\n  backend: auto\n")
    return library, tmp_path / "c.db", config


def test_a_night_without_the_gpu_decoders_leaves_nothing_pending(gpu_library, monkeypatch, capsys):
    """A run with the GPU plan, then one whose probe failed (another job held the GPU): the
    second run finds nothing to do in the content phase, and status calls nothing older."""
    library, db, config = gpu_library
    run = ("run", str(library), "--db", str(db), "--config", str(config), "--quiet")
    probe = FakeProbe(monkeypatch, GpuProbe("cuda"))
    code, out, err = in_process(monkeypatch, capsys, *run, "--phases", "metadata,content")
    assert code == 0, err
    assert re.search(r"content\s+2 processed", out) and probe.calls == ["auto"]
    records = [
        row for row in Catalog(db, create=False).queries.export_rows() if row["kind"] == "photo"
    ]
    # The GPU plan was in force: nvJPEG decoded, or (no GPU here) said why Pillow did.
    assert all(
        row["decoder"] == "nvjpeg" or row["decoder_note"].startswith("nvjpeg: ") for row in records
    )
    probe.answer = GpuProbe("cpu", "the GPU probe failed (TimeoutError: )")
    code, out, err = in_process(monkeypatch, capsys, *run, "--phases", "content")
    assert code == 0, err
    assert re.search(r"content\s+0 processed", out) and probe.calls == ["auto", "auto"]
    status = in_process(monkeypatch, capsys, "status", "--db", str(db), "--json", "--config",
                        str(config))[1]  # fmt: skip
    content = json.loads(status)["phases"]["content"]
    assert (content["done"], content["older"], content["pending_for_config"]) == (2, 0, 0)


def test_status_report_search_and_export_never_start_the_gpu_probe(
    gpu_library, monkeypatch, capsys, tmp_path
):
    library, db, config = gpu_library
    FakeProbe(monkeypatch, GpuProbe("cpu"))  # the run's own probe: allowed
    run = ("run", str(library), "--db", str(db), "--config", str(config), "--quiet")
    assert in_process(monkeypatch, capsys, *run, "--phases", "metadata,content")[0] == 0
    probe = FakeProbe(monkeypatch, None)
    common = ("--db", str(db), "--config", str(config))
    for args in (
        ("status", *common),
        ("status", "--db", str(db)),
        ("report", *common, "--out", str(tmp_path / "report")),
        ("search", *common, "--kind", "photo", "--no-duplicates"),
        ("export", *common),
        ("duplicates", *common),
    ):
        code, _, err = in_process(monkeypatch, capsys, *args)
        assert code == 0, (args, err)
    assert probe.calls == []


def test_nvjpeg_failing_falls_back_to_pillow_and_says_why(tmp_path):
    """No GPU here: torchvision's CUDA decode really raises, and the phase decodes on the CPU."""
    require_module("torchvision")
    path = tmp_path / "p.jpg"
    textured_photo((800, 600)).save(path, quality=90)
    phase = ContentPhase(
        load_config().content, str(tmp_path / "th"), decode_plan=DecodePlan("nvjpeg")
    )
    record = phase.analyze(str(path), "photo").record
    assert record["decoder"] == "pillow"
    assert record["decoder_note"].startswith("nvjpeg: ")
    assert "\n" not in record["decoder_note"] and len(record["decoder_note"]) <= 208
    cpu = ContentPhase(load_config().content, str(tmp_path / "th2")).analyze(str(path), "photo")
    assert record["phash"] == cpu.record["phash"]


def test_nvdec_failing_falls_back_to_ffmpeg_on_the_cpu(tmp_path):
    require_module("pillow_heif")
    path = tmp_path / "p.heic"
    textured_photo((600, 400)).save(path, format="HEIF", quality=90)
    decoded = load_upright_rgb(path, 640, 10**9, 1, "cuda")
    assert decoded.decoder == "ffmpeg-hevc"
    assert decoded.decoder_note.startswith("nvdec: ")
    cpu = load_upright_rgb(path, 640, 10**9)
    assert (cpu.decoder, cpu.decoder_note) == ("ffmpeg-hevc", None)
    assert decoded.image.tobytes() == cpu.image.tobytes()


def test_doctor_lists_the_decoders():
    text = decoders.report(plan_decoders(GpuProbe("cpu")))
    assert "JPEG: Pillow" in text
    assert "HEIC: FFmpeg on the CPU (PyAV" in text
    assert "HEIC fallback: pillow-heif" in text
    assert "AVIF: Pillow (libavif" in text  # Pillow 13's own plugin, not pillow-heif's
    assert "nvjpeg: not used: the ML backend runs on cpu" in text
    gpu = decoders.report(plan_decoders(GpuProbe("cuda")))
    assert "JPEG: nvJPEG (GPU)" in gpu and "HEIC: NVDEC (GPU), then FFmpeg on the CPU" in gpu


def test_the_gpu_probe_selects_the_backend_as_the_ml_phase_does():
    require_module("torch")
    assert decoder_plan.probe_gpu("cpu-fp32") == GpuProbe("cpu")


def test_a_short_reason_is_one_line():
    error = RuntimeError("CUDA error: no device\nSearch for cudaErrorNoDevice\n" + "x" * 500)
    assert errors.short_reason(error) == "RuntimeError: CUDA error: no device"
    assert len(errors.short_reason(RuntimeError("y" * 500))) == 200


def test_gpu_decode_checks_the_pixel_cap_before_decoding(tmp_path):
    from photoanalyzer.pixels.geometry import ImageTooLarge
    from photoanalyzer.pixels.gpu import decode_jpegs

    path = tmp_path / "big.jpg"
    Image.new("RGB", (400, 300)).save(path)
    with pytest.raises(ImageTooLarge, match="400x300"):
        decode_jpegs([str(path)], 64, 1000)
