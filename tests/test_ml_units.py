"""ML building blocks that need no model: the backend selector with the missing parts
simulated, out-of-memory back-off, the zero-shot arithmetic, weights resolution, prefetching.

The selector's probes, CUDA's out-of-memory error, torch.cuda's device queries and NVML are
replaced here: a GPU and TensorRT are true boundaries that cannot exist on the machines these
tests run on."""

import copy
from pathlib import Path

import pytest

from support.requirements import require_module

torch = require_module("torch")

from photoanalyzer.ml import backends  # noqa: E402
from photoanalyzer.ml.backends import (  # noqa: E402
    REGISTRY,
    BackendUnavailable,
    Probes,
    select_backend,
)
from photoanalyzer.ml.batching import OomBackoff, batches, prefetch_map  # noqa: E402
from photoanalyzer.ml.clip_scenes import (  # noqa: E402
    label_embeddings,
    scene_probabilities,
    top_scenes,
)
from photoanalyzer.ml.weights import (  # noqa: E402
    WeightsUnavailable,
    import_file,
    resolve_clip,
    resolve_yolo,
)


def probes(cuda=False, tensorrt_error: Exception | None = None, bf16=True, agrees=True):
    def import_tensorrt():
        if tensorrt_error is not None:
            raise tensorrt_error
        return object()

    return Probes(
        cuda_available=lambda: cuda,
        cuda_device_name=lambda: "Simulated GPU",
        import_tensorrt=import_tensorrt,
        cpu_has_bf16=lambda: bf16,
        bf16_agrees=lambda: (agrees, "relative error 0.5" if not agrees else "ok"),
    )


def test_no_cuda_falls_back_to_cpu_bf16_with_a_reason_for_each_gpu_backend():
    chosen = select_backend("auto", probes(cuda=False))
    assert (chosen.name, chosen.device, chosen.dtype) == ("cpu-bf16", "cpu", "bfloat16")
    assert list(chosen.skipped) == ["tensorrt", "cuda-amp-fp16", "cuda-fp32"]
    assert all("no CUDA device" in why for why in chosen.skipped.values())


def test_cpu_without_bf16_or_with_disagreeing_bf16_uses_fp32():
    plain = select_backend("auto", probes(bf16=False))
    assert plain.name == "cpu-fp32" and "no native bfloat16" in plain.skipped["cpu-bf16"]
    broken = select_backend("auto", probes(agrees=False))
    assert broken.name == "cpu-fp32" and "disagree" in broken.skipped["cpu-bf16"]


def test_tensorrt_raising_a_plain_exception_falls_back_to_amp_and_says_why():
    # torch_tensorrt raises a bare Exception, not ImportError, when its libraries are missing.
    error = Exception("libnvinfer.so.10: cannot open shared object file")
    chosen = select_backend("auto", probes(cuda=True, tensorrt_error=error))
    assert (chosen.name, chosen.device, chosen.spec.autocast) == ("cuda-amp-fp16", "cuda", True)
    assert chosen.device_name == "Simulated GPU"
    assert "libnvinfer.so.10" in chosen.skipped["tensorrt"]
    assert select_backend("auto", probes(cuda=True)).name == "tensorrt"


def test_forced_backend_fails_clearly_and_fp32_picks_the_best_full_precision():
    with pytest.raises(BackendUnavailable, match="cuda-amp-fp16 is not available here: no CUDA"):
        select_backend("cuda-amp-fp16", probes(cuda=False))
    with pytest.raises(backends.UnknownBackend, match="unknown backend"):
        select_backend("tpu", probes())
    assert select_backend("fp32", probes(cuda=False)).name == "cpu-fp32"
    assert select_backend("fp32", probes(cuda=True)).name == "cuda-fp32"
    assert select_backend("cpu-fp32", probes(cuda=True)).name == "cpu-fp32"


def test_real_probes_on_this_machine_pick_a_cpu_backend_without_cuda():
    chosen = select_backend("auto")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert chosen.name in ("cpu-bf16", "cpu-fp32")
    assert chosen.skipped["tensorrt"].startswith("no CUDA device")
    ok, detail = backends.bf16_agrees_with_fp32()
    assert ok, detail


def oom():
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_halves_the_batch_until_it_fits():
    calls = []

    def infer(chunk):
        calls.append(len(chunk))
        if len(chunk) > 4:
            raise oom()
        return [x * 10 for x in chunk]

    released = []
    backoff = OomBackoff(16, release=lambda: released.append(1))
    assert backoff.run(infer, list(range(16))) == [x * 10 for x in range(16)]
    assert (backoff.batch_size, backoff.halvings, len(released)) == (4, 2, 2)
    assert calls == [16, 8, 4, 4, 4, 4]
    assert backoff.run(infer, list(range(5))) == [x * 10 for x in range(5)]  # keeps size 4


def test_out_of_memory_at_batch_one_and_other_errors_propagate():
    def always_oom(chunk):
        raise oom()

    with pytest.raises(torch.cuda.OutOfMemoryError):
        OomBackoff(4).run(always_oom, [1, 2, 3, 4])

    def broken(chunk):
        raise RuntimeError("shape mismatch")

    backoff = OomBackoff(8)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        backoff.run(broken, [1, 2])
    assert backoff.batch_size == 8


# A stand-in text encoder whose outputs are known: each prompt maps to a fixed vector.
VECTORS = {
    "a photo of cat": [1.0, 0.0, 0.0],
    "a picture of cat": [1.0, 0.2, 0.0],
    "a photo of dog": [0.0, 1.0, 0.0],
    "a picture of dog": [0.0, 1.0, 0.2],
    "a photo of car": [0.0, 0.0, 1.0],
    "a picture of car": [0.2, 0.0, 1.0],
}


def fake_encode_text(prompts):
    return torch.tensor([VECTORS[p] for p in prompts])


def test_label_embeddings_average_normalised_templates_per_label():
    features = label_embeddings(
        fake_encode_text, ["cat", "dog", "car"], ["a photo of {}", "a picture of {}"]
    )
    assert features.shape == (3, 3)
    assert torch.allclose(features.norm(dim=-1), torch.ones(3))
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.nn.functional.normalize(torch.tensor([1.0, 0.2, 0.0]), dim=0)
    assert torch.allclose(features[0], torch.nn.functional.normalize((a + b) / 2, dim=0))


def test_scene_probabilities_use_the_logit_scale_and_softmax_over_labels():
    labels = torch.eye(3)  # label i is the unit vector e_i
    images = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.6, 0.8]])  # not unit length on purpose
    probabilities = scene_probabilities(images, labels, logit_scale=100.0)
    assert torch.allclose(probabilities.sum(dim=-1), torch.ones(2))  # over labels, per image
    expected_second = torch.softmax(torch.tensor([0.0, 60.0, 80.0]), dim=0)
    assert torch.allclose(probabilities[1], expected_second)
    assert probabilities[0, 0] > 0.99
    mild = scene_probabilities(images, labels, logit_scale=1.0)
    assert torch.allclose(mild[1], torch.softmax(torch.tensor([0.0, 0.6, 0.8]), dim=0))


def test_top_scenes_maps_indices_to_the_right_labels():
    probabilities = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert top_scenes(probabilities, ["cat", "dog", "car"], 2) == [
        [("dog", 0.7), ("car", 0.2)],
        [("cat", 0.5), ("car", 0.3)],
    ]


def test_weights_resolution_order_and_messages(tmp_path: Path):
    models = tmp_path / "models"
    assert resolve_clip("ViT-B-32", "random", models, offline=True).random
    assert resolve_yolo("yolo11n", "random", models, offline=True).path is None
    with pytest.raises(WeightsUnavailable) as missing:
        resolve_clip("ViT-B-32", "laion2b_s34b_b79k", models, offline=True)
    message = str(missing.value)
    assert "ViT-B-32" in message and str(models / "clip") in message
    assert "photoanalyze models import" in message
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        resolve_yolo("yolo11n", str(tmp_path / "nope.pt"), models, offline=True)
    fetched = tmp_path / "downloads" / "yolo11n.pt"
    fetched.parent.mkdir()
    fetched.write_bytes(b"weights")
    stored = import_file(fetched, "yolo", models, "ViT-B-32", "laion2b_s34b_b79k")
    found = resolve_yolo("yolo11n", "default", models, offline=True)
    assert found.path == stored and not found.random and stored.read_bytes() == b"weights"
    clip_file = tmp_path / "downloads" / "open_clip_pytorch_model.bin"
    clip_file.write_bytes(b"clip")
    import_file(clip_file, "clip", models, "ViT-B-32", "laion2b_s34b_b79k")
    assert resolve_clip("ViT-B-32", "laion2b_s34b_b79k", models, offline=True).path.is_file()


def test_cached_weights_are_used_online_without_asking_the_network(tmp_path, monkeypatch):
    import socket
    import urllib.request

    def no_network(*args, **kwargs):  # the network boundary: any use of it fails the test
        raise AssertionError("the network was asked although the weights are cached")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    models = tmp_path / "models"
    fetched = tmp_path / "yolo11n.pt"
    fetched.write_bytes(b"weights")
    stored = import_file(fetched, "yolo", models, "ViT-B-32", "laion2b_s34b_b79k")
    clip_file = tmp_path / "open_clip_pytorch_model.bin"
    clip_file.write_bytes(b"clip")
    import_file(clip_file, "clip", models, "ViT-B-32", "laion2b_s34b_b79k")
    assert resolve_yolo("yolo11n", "default", models, offline=False).path == stored
    assert resolve_clip("ViT-B-32", "laion2b_s34b_b79k", models, offline=False).path.is_file()


def test_prefetch_keeps_order_and_stays_bounded():
    started = []

    def load(x):
        started.append(x)
        return x * 2

    results = prefetch_map(load, range(100), threads=3, ahead=5)
    assert next(results) == 0
    assert len(started) <= 6  # the first item plus at most `ahead` more
    assert list(results) == [x * 2 for x in range(1, 100)]
    assert [len(b) for b in batches(range(10), 4)] == [4, 4, 2]
    # Weighted: a video of 3 frames fills most of a batch of 4 pictures.
    assert list(batches([1, 3, 1, 1, 2, 5, 1], 4, weight=lambda n: n)) == [
        [1, 3],
        [1, 1, 2],
        [5],
        [1],
    ]


def test_gpu_sampler_on_a_cpu_backend_records_nothing_and_says_so():
    from photoanalyzer.ml.gpu import GpuSampler

    sampler = GpuSampler(None, interval=0.01).start()
    assert sampler.stop() is None
    assert "run on the CPU: GPU utilization is not recorded" in sampler.note


class NVMLError(Exception):
    pass


def fake_nvml(utilization: dict[str, int | None]):
    """A stand-in for pynvml (the NVML boundary: no GPU here): devices by NVML's UUID with
    their utilization; None: the device has none of its own (a MIG instance), so asking for
    it fails as NVML's NOT_SUPPORTED does."""
    import types

    def rates(handle):
        if utilization[handle] is None:
            raise NVMLError("Not Supported")
        return types.SimpleNamespace(gpu=utilization[handle])

    return types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda index: list(utilization)[index],
        nvmlDeviceGetHandleByUUID=lambda uuid: uuid if uuid in utilization else _raise(NVMLError()),
        nvmlDeviceGetUtilizationRates=rates,
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=(utilization[h] or 0) * 2**20),
    )


def test_gpu_sampler_watches_the_backends_gpu_not_nvml_device_0(monkeypatch):
    """Simulated at the NVML boundary (no GPU here): two GPUs, the backend on the second."""
    import sys

    from photoanalyzer.ml.gpu import GpuSampler

    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml({"GPU-aaaa": 5, "GPU-bbbb": 93}))
    sampler = GpuSampler("GPU-bbbb", interval=0.005).start()
    stats = sampler.stop()  # at once: the first sample is taken all the same
    assert stats["utilization_peak"] == 93 and stats["memory_peak_mib"] == 93.0
    missing = GpuSampler("GPU-cccc", interval=0.005).start()
    assert missing.stop() is None and "GPU-cccc not found" in missing.note


class _TorchUuid:
    """Prints as torch's _CUuuid does: the bare 8-4-4-4-12 form, no NVML prefix."""

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text


def test_the_torch_devices_uuid_finds_its_gpu_or_mig_instance_through_nvml(monkeypatch):
    """Stand-ins at the torch.cuda and NVML boundaries (no GPU here). torch numbers the
    visible devices (CUDA_VISIBLE_DEVICES), NVML all of them: the UUID of torch's current
    device is what links the two. For a MIG instance CUDA reports the instance's UUID, which
    NVML knows as "MIG-...", not "GPU-..."."""
    import sys
    import types

    from photoanalyzer.ml.gpu import GpuSampler, cuda_device_uuid

    whole = "aaaaaaaa-1111-2222-3333-444444444444"
    mig = "bbbbbbbb-5555-6666-7777-888888888888"
    visible = [_TorchUuid(mig), _TorchUuid(whole)]  # torch's cuda:0 and cuda:1
    current = {"device": 1}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current["device"])
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid=visible[i])
    )
    # NVML's device 0 is torch's cuda:1; its device 1 is not visible to torch at all.
    nvml = fake_nvml(
        {f"GPU-{whole}": 93, "GPU-cccccccc-0000-0000-0000-000000000000": 1, f"MIG-{mig}": None}
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml)

    sampler = GpuSampler(cuda_device_uuid(), interval=0.005).start()
    assert sampler.stop()["utilization_peak"] == 93  # torch's cuda:1, found by its UUID

    current["device"] = 0
    on_mig = GpuSampler(cuda_device_uuid(), interval=0.005).start()
    on_mig._thread.join(timeout=5)  # it ends by itself at its first sample
    assert on_mig.stop() is None
    assert "not found" not in on_mig.note and "NVML gives no utilization" in on_mig.note

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda_device_uuid() is None


def _raise(exc):
    raise exc


def test_nvml_import_prints_no_warning():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import pynvml"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stderr == ""


def test_importing_yolo_leaves_pillow_open_alone(tmp_path: Path):
    from PIL import Image, UnidentifiedImageError

    from photoanalyzer.ml.yolo_objects import import_ultralytics

    import_ultralytics()
    assert Image.open.__module__ == "PIL.Image"
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(b"not an image at all" * 10)
    with pytest.raises(UnidentifiedImageError):
        Image.open(noise)


def test_no_batch_larger_than_the_backends_largest_reaches_the_models():
    """A video's frames can make a group heavier than the batch size (8 frames after 15
    photos); what reaches the models, a TensorRT profile among them, is cut to size."""
    seen = []

    def infer(chunk):
        seen.append(len(chunk))
        return chunk

    assert OomBackoff(16).run(infer, list(range(23))) == list(range(23))
    assert seen == [16, 7]


def test_a_convolutional_model_runs_channels_last_where_the_backend_keeps_it():
    """cpu-bf16 (chosen with the CPU's bfloat16 feature simulated at the probe) keeps a
    convolutional model's weights and inputs channels-last; the same answers as without."""
    from photoanalyzer.ml.tensorrt import EngineRecipe

    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)
    )
    batch = torch.rand(2, 3, 32, 48)
    with torch.inference_mode():
        expected = network(batch.to(torch.bfloat16).float()).float()
    recipe = EngineRecipe("net", "random", (3, 32, 48), convolutional=True)
    bf16 = select_backend("cpu-bf16", probes(bf16=True))
    prepared = bf16.prepare(copy.deepcopy(network), recipe)
    seen = []
    hook = prepared.module[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with bf16.running():
        got = prepared(bf16.to_input(batch)).float()
    hook.remove()
    assert seen[0].is_contiguous(memory_format=torch.channels_last)
    assert prepared.module[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(got, expected, atol=0.05)
    cuda = REGISTRY["cuda-fp32"]  # not measured on a GPU yet: left as it is there
    assert cuda.channels_last is False and REGISTRY["cpu-fp32"].channels_last is True
    not_convolutional = bf16.prepare(copy.deepcopy(network), EngineRecipe("n", "r", (3, 32, 48)))
    assert isinstance(not_convolutional, torch.nn.Module)
