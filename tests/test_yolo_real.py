"""YOLO with real, trained weights (a 2-class person detector, see conftest.py): the staged
steps (letterbox in a loader thread, forward on a batch, NMS, boxes mapped to the original)
find what ultralytics' own predictor finds, and boxes follow EXIF orientation."""

from pathlib import Path

import pytest
from PIL import Image

from support.requirements import require_module

torch = require_module("torch")
require_module("ultralytics")

from photoanalyzer.ml.backends import select_backend  # noqa: E402
from photoanalyzer.ml.weights import Weights  # noqa: E402
from photoanalyzer.ml.yolo_objects import YoloDetector, import_ultralytics  # noqa: E402
from photoanalyzer.pixels.load import load_upright_rgb  # noqa: E402


@pytest.fixture(scope="module")
def zidane() -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets" / "zidane.jpg"  # 1280x720, 2 people


def detect(detector: YoloDetector, picture: Image.Image, original: tuple[int, int]):
    prepared = detector.preprocess(picture)
    return detector.postprocess(detector.forward([prepared]), [prepared], [original])[0]


def test_staged_detection_matches_ultralytics_predict(tmp_path, detector_weights, zidane):
    weights = Weights("yolo", "fall", str(detector_weights), detector_weights, False)
    detector = YoloDetector(weights, select_backend("cpu-fp32"), 0.25, 640, tmp_path)
    with Image.open(zidane) as opened:
        picture = opened.convert("RGB")
    ours = sorted(detect(detector, picture, picture.size), key=lambda d: -d.confidence)
    YOLO = import_ultralytics()
    reference = YOLO(str(detector_weights)).predict(str(zidane), conf=0.25, verbose=False)[0]
    assert Image.open.__module__ == "PIL.Image"
    boxes = reference.boxes
    expected = sorted(
        zip(boxes.conf.tolist(), boxes.cls.tolist(), boxes.xyxy.tolist(), strict=True),
        key=lambda row: -row[0],
    )
    assert len(ours) == len(expected) >= 2  # two standing people
    for found, (confidence, label, box) in zip(ours, expected, strict=True):
        assert found.label == reference.names[int(label)] == "Normal"
        assert found.confidence == pytest.approx(confidence, abs=0.02)
        assert found.box == pytest.approx(box, abs=2.0)  # pixels of the 1280x720 original


def test_boxes_follow_exif_orientation_to_the_upright_original(tmp_path, detector_weights, zidane):
    weights = Weights("yolo", "fall", str(detector_weights), detector_weights, False)
    detector = YoloDetector(weights, select_backend("cpu-fp32"), 0.25, 640, tmp_path)
    with Image.open(zidane) as opened:
        upright = opened.convert("RGB")
    # Stored turned a quarter (as a phone held upright writes it), tagged orientation 6.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "turned.jpg", quality=95, exif=exif.tobytes())
    decoded = load_upright_rgb(tmp_path / "turned.jpg", 640, 10**9)
    assert decoded.image.size == (640, 360)  # upright again, thumbnail-sized
    turned = sorted(detect(detector, decoded.image, (1280, 720)), key=lambda d: d.box[0])
    direct = sorted(detect(detector, upright, (1280, 720)), key=lambda d: d.box[0])
    assert len(turned) == len(direct) >= 2
    for a, b in zip(turned, direct, strict=True):
        # the thumbnail is half the size: boxes agree to a few original pixels
        assert a.box == pytest.approx(b.box, abs=12.0)
