"""The text phase's first-pass detector in int8 against fp32: speed of the ONNX detection
alone, and the first pass's decision (text or not) on every picture (issue 27; measured on a
processor with AVX-512 VNNI, not adopted: docs/performance.md says why).

    python benchmarks/text_int8.py --corpus ../../shared/corpus --roll /tmp/roll0 \\
        --roll /tmp/roll7 [--calibration-roll /tmp/roll0] [--variants qdq-channel,fused] \\
        [--rounds 5] [--speed-only]

Variants (ONNX Runtime's quantization tool, which needs the `onnx` package: the [ml] extra
brings it, the [text] extra does not):
  qdq-tensor, qdq-channel   static, QDQ, unsigned activations and signed weights (u8s8: ONNX
                            Runtime's VNNI kernels), weights per tensor or per channel
  qdq-tensor-s8s8           signed activations too
  qdq-tensor-conv           only the convolutions quantized
  qop-tensor, qop-channel   static, QOperator format
  dynamic                   ConvInteger, activations quantized per picture at run time
  fused                     no quantization: fp32 with the learnable affine blocks after each
                            convolution (a scalar Mul and Add) folded into its weights, and
                            the Add/Clip/Mul/Div chains written as HardSwish (`fuse`)
A "+fused" suffix quantizes the fused graph; "+mixed" calibrates on more pictures.

Calibration pictures (never the text corpus, which is the acceptance set): CALIBRATION_SCENES
generated ones (`text_scenes`: pages, signs, labels on plain or photo-like backgrounds;
`photo_scenes`: photo-like scenes without words, as most of a camera roll is); with "+mixed"
also the first CALIBRATION_ROLL thumbnails of --calibration-roll (`synthetic_library.py
--camera-roll`) and the CALIBRATION_IMAGES camera photos of `images/`. Each picture is what the
first pass sees: the content phase's thumbnail (640 px, JPEG 85), the detector's input at
512 px.

Speed: one intra-op thread (as the phase runs it), 12 thumbnails of the last --roll, every
variant in turn on each picture, the order rotated each round, CPU time of each
`session.run` (`time.process_time`); medians and quartiles per variant. Decisions:
`TextReader.has_text` (the first pass as the phase runs it: detection, then recognition of
its boxes, which stays fp32) with each detector, on the text corpus (text and no-text
photos), the camera photos of `images/` and every --roll; every picture whose decision or
box count differs from fp32's is listed."""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from photoanalyzer.analysis.text import TextReader, _bgr, _detection_input, _rapidocr_root
from text_choice import CONFIG, PHOTO_SUFFIXES, thumbnail

# name: (format, weights per channel, signed activations, only convolutions)
STATIC = {
    "qdq-tensor": ("QDQ", False, False, False),
    "qdq-channel": ("QDQ", True, False, False),
    "qdq-tensor-s8s8": ("QDQ", False, True, False),
    "qdq-tensor-conv": ("QDQ", False, False, True),
    "qop-tensor": ("QOperator", False, False, False),
    "qop-channel": ("QOperator", True, False, False),
}
OTHERS = ("dynamic", "fused")
OPSET = 14  # per-channel weights need 13 (the model is 12), HardSwish 14
CALIBRATION_SCENES = (24, 16)  # text_scenes, photo_scenes
CALIBRATION_ROLL = 16
CALIBRATION_IMAGES = (
    "exif-samples/jpg/Canon_40D.jpg",
    "exif-samples/jpg/Nikon_D70.jpg",
    "exif-samples/jpg/Fujifilm_FinePix_E500.jpg",
    "exif-samples/jpg/Olympus_C8080WZ.jpg",
    "exif-samples/jpg/Pentax_K10D.jpg",
    "exif-samples/jpg/Sony_HDR-HC3.jpg",
)
FONTS = sorted(
    p
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")
    for p in Path(folder).glob("*.ttf")
)
WORDS = (
    "OPEN", "EXIT", "SALE", "Coffee", "menu", "Station", "platform", "ticket", "TOTAL", "invoice",
    "wifi", "password", "2024", "12:45", "€3.50", "No parking", "Street", "Hotel", "receipt",
    "Monday", "free", "the", "and", "Museum", "bus", "stop", "ENTRANCE", "Apotheke", "café",
)  # fmt: skip


def source_model() -> Path:
    return Path(_rapidocr_root()) / "models" / "ch_PP-OCRv4_det_infer.onnx"


# ---- the graph: opset, shape inference, the exact fp32 rewrite ----


def prepare(source: Path, target: Path, fused: bool) -> None:
    """Opset 14, optionally `fuse`d, then the quantizer's own preparation (shape inference
    and ONNX Runtime's basic graph optimizations)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = version_converter.convert_version(onnx.load(str(source)), OPSET)
    if fused:
        fuse(model)
    onnx.save(model, str(target))
    quant_pre_process(str(target), str(target), skip_symbolic_shape=True)


def fuse(model) -> None:
    """In place: the text phase's own rewrite (photoanalyzer.analysis.text_detector): each
    Conv -> Mul(scalar) -> Add(scalar) folded into the Conv, each written-out hardswish one
    HardSwish node. The same arithmetic."""
    from photoanalyzer.analysis.text_detector import rewrite

    rewrite(model.graph)


# ---- quantization ----


def make_variant(variant: str, folder: Path, calibration: list[np.ndarray]) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    name, *suffixes = variant.split("+")
    prepared = folder / f"prepared{'-fused' if 'fused' in suffixes or name == 'fused' else ''}.onnx"
    if not prepared.exists():
        prepare(source_model(), prepared, fused=prepared.stem.endswith("fused"))
    if name == "fused":
        return prepared
    target = folder / f"{variant}.onnx"
    if name == "dynamic":
        quantize_dynamic(str(prepared), str(target), op_types_to_quantize=["Conv"])
        return target
    form, per_channel, signed, conv_only = STATIC[name]

    class Inputs(CalibrationDataReader):
        def __init__(self):
            self._left = iter(calibration)

        def get_next(self):
            return next(({"x": tensor} for tensor in self._left), None)

    quantize_static(
        str(prepared),
        str(target),
        Inputs(),
        quant_format=QuantFormat.QDQ if form == "QDQ" else QuantFormat.QOperator,
        per_channel=per_channel,
        activation_type=QuantType.QInt8 if signed else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"] if conv_only else None,
    )
    return target


# ---- pictures ----


def as_thumbnail(image: Image.Image) -> np.ndarray:
    """A generated picture as the content phase stores it: 640 px, JPEG 85."""
    image = image.copy()
    image.thumbnail((CONFIG.thumbnail_size, CONFIG.thumbnail_size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=CONFIG.thumbnail_quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def calibration_pictures(corpus: Path, roll: Path | None) -> list[np.ndarray]:
    scenes = text_scenes(CALIBRATION_SCENES[0]) + photo_scenes(CALIBRATION_SCENES[1])
    pictures = [as_thumbnail(scene) for scene in scenes]
    if roll is not None:
        pictures += [thumbnail(p) for p in sorted(roll.rglob("*.jpg"))[:CALIBRATION_ROLL]]
        pictures += [thumbnail(corpus / "images" / name) for name in CALIBRATION_IMAGES]
    return pictures


def text_scenes(count: int, seed: int = 0) -> list[Image.Image]:
    rng = random.Random(seed)
    kinds = (_page, _sign, _label)
    return [kinds[i % len(kinds)](rng) for i in range(count)]


def photo_scenes(count: int, seed: int = 0) -> list[Image.Image]:
    rng = random.Random(seed + 1)
    return [_photo(rng) for _ in range(count)]


def _size(rng: random.Random) -> tuple[int, int]:
    return rng.choice(((1600, 1200), (1200, 1600), (1600, 900)))


def _colour(rng: random.Random) -> tuple[int, ...]:
    return tuple(rng.randrange(256) for _ in range(3))


def _photo(rng: random.Random) -> Image.Image:
    """A graded background, blurred shapes, thin hard edges and grain."""
    width, height = _size(rng)
    top, bottom = (np.array([rng.randint(20, 230) for _ in range(3)], np.float32) for _ in "ab")
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1), np.float32)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(6, 16)):
        x, y = rng.randrange(width), rng.randrange(height)
        box = [x, y, x + rng.randint(80, 600), y + rng.randint(80, 600)]
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=_colour(rng))
    image = image.filter(ImageFilter.GaussianBlur(6))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(40, 120)):
        x, y = rng.randrange(width), rng.randrange(height)
        end = (x + rng.randint(-200, 200), y + rng.randint(-200, 200))
        draw.line([(x, y), end], fill=_colour(rng), width=2)
    return _grain(image, rng)


def _grain(image: Image.Image, rng: random.Random) -> Image.Image:
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 5, (image.height, image.width, 1))
    return Image.fromarray(np.clip(np.asarray(image, np.float32) + noise, 0, 255).astype(np.uint8))


def _background(rng: random.Random) -> Image.Image:
    if rng.random() < 0.5:
        return _photo(rng)
    shade = rng.randint(170, 250) if rng.random() < 0.8 else rng.randint(10, 70)
    tint = tuple(max(0, min(255, shade + rng.randint(-15, 15))) for _ in range(3))
    return _grain(Image.new("RGB", _size(rng), tint), rng)


def _ink(rng: random.Random, paper: tuple[int, ...]) -> tuple[int, ...]:
    base = rng.randint(0, 70) if sum(paper) / 3 > 128 else rng.randint(190, 255)
    return tuple(max(0, min(255, base + rng.randint(-30, 30))) for _ in range(3))


def _font(rng: random.Random, size: int):
    if not FONTS:  # Pillow's own font, where the system has none
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(rng.choice(FONTS)), size)


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _page(rng: random.Random) -> Image.Image:
    image = _background(rng)
    width, height = image.size
    x0, y0 = rng.randint(0, width // 5), rng.randint(0, height // 5)
    x1, y1 = width - rng.randint(0, width // 5), height - rng.randint(0, height // 5)
    paper = tuple(rng.randint(200, 250) for _ in range(3))
    draw = ImageDraw.Draw(image)
    draw.rectangle([x0, y0, x1, y1], fill=paper)
    size = rng.randint(24, 48)
    font = _font(rng, size)
    for y in range(y0 + size, y1 - size, int(size * rng.uniform(1.4, 2.0))):
        draw.text((x0 + size, y), _words(rng, rng.randint(3, 9)), fill=_ink(rng, paper), font=font)
    return image


def _sign(rng: random.Random) -> Image.Image:
    image = _background(rng)
    panel = _colour(rng)
    sign = Image.new("RGB", (rng.randint(500, 1100), rng.randint(220, 500)), panel)
    draw = ImageDraw.Draw(sign)
    size = rng.randint(70, 140)
    font = _font(rng, size)
    for row in range(rng.randint(1, 2)):
        position = (30, 20 + row * int(size * 1.2))
        draw.text(position, _words(rng, rng.randint(1, 3)), fill=_ink(rng, panel), font=font)
    sign = sign.rotate(rng.uniform(-15, 15), expand=True, fillcolor=panel)
    x = rng.randint(0, max(0, image.width - sign.width))
    image.paste(sign, (x, rng.randint(0, max(0, image.height - sign.height))))
    return image


def _label(rng: random.Random) -> Image.Image:
    image = _background(rng)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 4)):
        size = rng.randint(28, 80)
        x, y = rng.randint(0, image.width * 2 // 3), rng.randint(0, image.height - size * 2)
        text, font, paper = _words(rng, rng.randint(1, 3)), _font(rng, size), _colour(rng)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        draw.rectangle([left - 10, top - 10, right + 10, bottom + 10], fill=paper)
        draw.text((x, y), text, fill=_ink(rng, paper), font=font)
    return image


def evaluation_pictures(corpus: Path, rolls: list[Path]) -> list[tuple[str, str, np.ndarray]]:
    from photoanalyzer.pixels.load import load_upright_rgb

    labels = json.loads((corpus / "text" / "labels.json").read_text())
    found = []
    for entry in labels:
        group = "text" if entry["has_text"] else "no-text"
        found.append((group, entry["file"], thumbnail(corpus / "text" / entry["file"])))
    for path in sorted((corpus / "images").rglob("*")):
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            continue
        try:  # the corpus holds broken files on purpose
            load_upright_rgb(path, 64, CONFIG.max_pixels)
            picture = thumbnail(path)
        except Exception:
            continue
        found.append(("images", str(path.relative_to(corpus / "images")), picture))
    for roll in rolls:
        found += [(f"roll:{roll.name}", p.name, thumbnail(p)) for p in sorted(roll.rglob("*.jpg"))]
    return found


def tensors(pictures: list[np.ndarray]) -> list[np.ndarray]:
    return [_detection_input(_bgr(p), 512) for p in pictures]


# ---- measuring ----


def session(model: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def time_variants(models: dict[str, Path], inputs: list[np.ndarray], rounds: int) -> dict:
    sessions = {name: session(path) for name, path in models.items()}
    for run in sessions.values():  # warm-up: the first run plans its buffers
        run.run(None, {"x": inputs[0]})
    names = list(sessions)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for tensor in inputs:
            for name in order:
                started = time.process_time()
                sessions[name].run(None, {"x": tensor})
                times[name].append(1000 * (time.process_time() - started))
    return times


def first_pass_reader(model: Path | None) -> TextReader:
    """The phase's reader, its detector's session swapped for `model`'s: has_text (the
    first pass) then detects with it; recognition is unchanged."""
    reader = TextReader(threads=1)
    if model is not None:
        reader._detector.infer.session = session(model)
    return reader


def decisions(models: dict[str, Path | None], pictures) -> dict[str, list]:
    """has_text per picture per model, and the first pass's box count."""
    found = {}
    for name, path in models.items():
        reader = first_pass_reader(path)
        side = reader.settings.gate_side
        found[name] = [(reader.has_text(p), len(reader.detect(p, side))) for _, _, p in pictures]
    return found


def agreement(model: Path, inputs: list[np.ndarray]) -> float:
    """The largest difference between `model`'s probability map and fp32's."""
    ours, theirs = session(model), session(source_model())
    return max(
        float(np.abs(ours.run(None, {"x": x})[0] - theirs.run(None, {"x": x})[0]).max())
        for x in inputs
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../../shared/corpus"))
    parser.add_argument("--roll", type=Path, action="append", required=True)
    parser.add_argument("--calibration-roll", type=Path, help="for the +mixed variants")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default="qdq-tensor,qdq-channel,fused")
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args()
    variants = args.variants.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        models: dict[str, Path | None] = {"fp32": source_model()}
        for variant in variants:
            roll = args.calibration_roll if "mixed" in variant.split("+") else None
            calibration = tensors(calibration_pictures(args.corpus, roll))
            started = time.perf_counter()
            models[variant] = make_variant(variant, Path(tmp), calibration)
            print(f"{variant}: made in {time.perf_counter() - started:.1f} s "
                  f"({len(calibration)} calibration pictures)", flush=True)  # fmt: skip
        inputs = tensors([thumbnail(p) for p in sorted(args.roll[-1].rglob("*.jpg"))[:12]])
        if "fused" in models:
            difference = agreement(models["fused"], inputs)
            print(f"fused: largest map difference from fp32 {difference:.1e}")
        times = time_variants(models, inputs, args.rounds)
        base = statistics.median(times["fp32"])
        for name, values in times.items():
            median, (low, _, high) = statistics.median(values), statistics.quantiles(values, n=4)
            print(f"speed {name}: median {median:.1f} ms (quartiles {low:.1f}-{high:.1f}, "
                  f"{len(values)} runs), {base / median:.2f}x fp32", flush=True)  # fmt: skip
        if not args.speed_only:
            pictures = evaluation_pictures(args.corpus, args.roll)
            _print_decisions(pictures, decisions(models, pictures))


def _print_decisions(pictures, found: dict[str, list]) -> None:
    groups = [group for group, _, _ in pictures]
    for name, rows in found.items():
        through = [
            f"{group} {sum(r[0] for g, r in zip(groups, rows, strict=True) if g == group)}/"
            f"{groups.count(group)}"
            for group in sorted(set(groups))
        ]
        print(f"decisions {name}: through {', '.join(through)}")
        for (group, picture, _), ours, theirs in zip(pictures, rows, found["fp32"], strict=True):
            if ours[0] != theirs[0]:
                print(f"  CHANGED {group} {picture}: fp32 {theirs} -> {name} {ours}")
            elif ours[1] != theirs[1]:
                print(f"  boxes differ {group} {picture}: fp32 {theirs} -> {name} {ours}")


if __name__ == "__main__":
    main()
