"""`photoanalyze benchmark` end to end on the CPU with random weights, and its agreement
arithmetic on known detections."""

import json

import numpy as np
import pytest

from photoanalyzer.benchmark.agreement import compare, iou, matched_detections
from support.requirements import require_module

require_module("torch")


def test_benchmark_json_has_every_figure_positive_and_the_agreement(cli, tmp_path):
    out = tmp_path / "bench.json"
    result = cli(
        "benchmark",
        "--samples",
        "4",
        "--repeat",
        "1",
        "--random-weights",
        "--batch-sizes",
        "2,4",
        "--library-size",
        "50000",
        "--json",
        str(out),
    )
    data = json.loads(out.read_text())
    assert data["samples"] == 4 and data["random_weights"] is True
    assert "RANDOM model weights" in result.stdout
    assert "ML stages, optimized (last repeat): read-wait" in result.stdout
    stages = data["ml_stages"]["optimized"]
    assert stages["inference"]["clip"] > 0 and stages["inference"]["yolo"] > 0
    for phase in ("metadata", "content", "ml"):
        row = data["phases"][phase]
        for name in ("baseline", "optimized"):
            assert row[name]["images_per_second"] > 0 and row[name]["seconds"] > 0
        assert row["speedup"] > 0
    assert data["backends"]["baseline"] == "cpu-fp32"
    assert data["backends"]["optimized"] in ("cpu-bf16", "cpu-fp32")
    agreement = data["agreement"]
    assert agreement["photos"] == 4
    assert 0 <= agreement["top1_agreement_pct"] <= 100
    assert 0.9 < agreement["mean_cosine"] <= 1.0001  # same weights, two precisions
    assert "detections_matched_pct" in agreement
    assert data["machine"]["cores"] >= 1 and data["machine"]["torch"]
    sweep = data["batch_sweep"]
    assert [run["batch_size"] for run in sweep["runs"]] == [2, 4]
    assert all(run["images_per_second"] > 0 for run in sweep["runs"])
    assert all(run["peak_memory_mib"]["process_resident"] > 0 for run in sweep["runs"])
    assert sweep["recommended_batch_size"] in (2, 4)
    estimate = data["library_estimate"]
    assert estimate["photos"] == 50000
    assert all(v > 0 for v in estimate["seconds"]["optimized"].values())
    assert not list(tmp_path.glob("home/data/photoanalyzer/*"))  # no user catalog touched


def test_benchmark_on_a_folder_reads_it_and_writes_nothing_there(cli, tmp_path):
    from support.imagegen import textured_photo

    library = tmp_path / "photos"
    library.mkdir()
    for i in range(3):
        textured_photo((400, 300), seed=i).save(library / f"{i}.jpg")
    before = sorted(p.name for p in library.iterdir())
    result = cli(
        "benchmark",
        str(library),
        "--samples",
        "2",
        "--repeat",
        "1",
        "--random-weights",
        "--min-cosine",
        "1.5",
    )
    assert "Benchmark: 2 photos" in result.stdout
    # No cosine reaches 1.5: the configurable threshold must produce the plain warning.
    assert "WARNING: mean_cosine is" in result.stdout and "below the threshold 1.5" in result.stdout
    assert sorted(p.name for p in library.iterdir()) == before


def test_without_weights_the_benchmark_says_how_to_measure_anyway(cli, tmp_path):
    library = tmp_path / "photos"
    library.mkdir()
    from support.imagegen import textured_photo

    textured_photo((300, 200)).save(library / "a.jpg")
    config = tmp_path / "offline.yaml"
    config.write_text(f"ml:\n  offline: true\n  models_dir: {tmp_path / 'none'}\n")
    result = cli(
        "benchmark",
        str(library),
        "--samples",
        "1",
        "--repeat",
        "1",
        "--baseline",
        str(config),
        "--optimized",
        str(config),
        check=False,
    )
    assert result.returncode == 2
    assert "not in the model cache" in result.stderr and "--random-weights" in result.stderr


def det(label, box, confidence=0.9):
    return {"class": label, "box": box, "confidence": confidence}


def test_detections_match_by_class_at_iou_half_each_candidate_once():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
    reference = [
        det("dog", [0, 0, 10, 10]),
        det("dog", [0, 0, 10, 10], 0.5),
        det("cat", [20, 20, 30, 30]),
    ]
    candidates = [
        det("dog", [1, 0, 11, 10]),
        det("cat", [40, 40, 50, 50]),
        det("car", [20, 20, 30, 30]),
    ]
    # one dog matches (IoU 0.82); the second dog has no candidate left; the cat's same-class
    # candidate does not overlap, and the overlapping box is another class.
    assert matched_detections(reference, candidates) == 1


def test_compare_reports_top1_cosine_and_detection_share():
    a = np.array([1.0, 0.0], dtype=np.float16).tobytes()
    b = np.array([0.6, 0.8], dtype=np.float16).tobytes()
    baseline = {"x": ("beach", a, [det("dog", [0, 0, 10, 10])]), "y": ("forest", a, [])}
    optimized = {"x": ("beach", b, [det("dog", [0, 0, 10, 10])]), "y": ("city", a, [])}
    result = compare(baseline, optimized)
    assert result.top1_agreement_pct == 50.0
    assert result.mean_cosine == pytest.approx((0.6 + 1.0) / 2, abs=1e-3)
    assert (result.detections_baseline, result.detections_matched_pct) == (1, 100.0)
    assert compare({"x": ("a", a, [])}, {"x": ("a", a, [])}).detections_matched_pct is None
