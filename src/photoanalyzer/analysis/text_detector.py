"""The text detector's graph rewritten once into the models folder: the same arithmetic in fewer
nodes, so every photo's first pass costs less (benchmarks/text_int8.py measured 1.15 to 1.2
times faster detection, the probability map within 5e-5 of the original's).

rapidocr's PP-OCRv4 detector (PP-LCNetV3) was exported with two patterns that ONNX Runtime
leaves as they are:
    Conv -> Mul(scalar s) -> Add(scalar b)     a "learnable affine block" after a convolution:
                                               folded into the convolution (weights times s,
                                               bias times s plus b)
    x -> Add 3 -> Clip 0..6 -> Mul x -> Div 6  hardswish written out: one HardSwish node
                                               (opset 14)
The rewritten graph is checked against the original on a fixed picture before it is kept;
where anything fails (the `onnx` package missing, a graph of another shape, a folder that
cannot be written, a difference), the original is used and `prepared_detector` says why,
which the text phase records in its run details."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

REWRITE = "fuse-1"  # in the file name: a change of the rules makes a new file
OPSET = 14  # HardSwish
# The largest difference of the probability map allowed between the two graphs: the same
# arithmetic in another order differs by float32 rounding (5e-5 measured); a wrong rewrite
# differs by far more.
TOLERANCE = 1e-3


class PreparedDetector(NamedTuple):
    path: Path  # the model the text phase loads
    rewritten: bool
    note: str  # where it came from, or why the original is used


def prepared_detector(source: Path, folder: Path | None) -> PreparedDetector:
    """The rewritten detector in `folder` (made there on first use), else `source`."""
    if folder is None:
        return PreparedDetector(source, False, "the original detector (no models folder)")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = folder / f"text-det-{digest}-{REWRITE}.onnx"
    if target.is_file() and _agrees(source, target):
        return PreparedDetector(target, True, f"rewritten once into {target}")
    try:
        _write(_rewritten(source), target)
    except Exception as exc:  # onnx absent, a graph of another shape, a folder not writable
        return PreparedDetector(
            source, False, f"the original detector: {type(exc).__name__}: {exc}"
        )
    if not _agrees(source, target):
        target.unlink(missing_ok=True)
        return PreparedDetector(source, False, "the original detector: the rewrite disagreed")
    return PreparedDetector(target, True, f"rewritten into {target}")


def _rewritten(source: Path):
    import onnx
    from onnx import version_converter

    model = version_converter.convert_version(onnx.load(str(source)), OPSET)
    rewrite(model.graph)
    onnx.checker.check_model(model)
    return model


def _write(model, target: Path) -> None:
    """Whole or not at all: a run stopped mid-write, or two writing at once, leave no half
    file under the final name."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=".onnx")
    os.close(handle)
    try:
        onnx.save(model, temporary)
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _agrees(source: Path, candidate: Path) -> bool:
    """Both graphs give the same probability map on a fixed picture (a corrupt or foreign
    file fails to load and does not agree)."""
    picture = _check_picture()
    try:
        return float(np.abs(_run(source, picture) - _run(candidate, picture)).max()) <= TOLERANCE
    except Exception:
        return False


def _check_picture() -> np.ndarray:
    """A normalized 1x3x256x320 input with dark strokes on a light page, as the detector's
    input is made: text-like edges, so the map is not all zeros."""
    rng = np.random.default_rng(0)
    page = np.full((256, 320), 0.8, np.float32) + rng.normal(0, 0.05, (256, 320)).astype(np.float32)
    for row in range(40, 240, 40):
        for start in range(20, 280, 60):
            page[row : row + 12, start : start + 40 : 3] = -0.9  # letter-like strokes
    return np.ascontiguousarray(np.broadcast_to(page, (1, 3, 256, 320)))


def _run(model: Path, picture: np.ndarray) -> np.ndarray:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # the original's unused initializers are not worth a line
    session = onnxruntime.InferenceSession(str(model), options, ["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: picture})[0]


# -- the rewrite -----------------------------------------------------------------------------


def rewrite(graph) -> None:
    """In place, on an ONNX graph at opset 14 or later: the two patterns of the module's
    docstring, then the constants nothing reads any more."""
    _fold_affine_blocks(graph)
    _join_hardswish(graph)
    _drop_unused_initializers(graph)


class _Graph:
    """Constant values by name and the nodes that read each value."""

    def __init__(self, graph):
        from onnx import numpy_helper

        self.values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.users: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.users.setdefault(name, []).append(node)

    def sole(self, value: str, op: str):
        """The one node that reads `value`, if there is one and it is an `op`."""
        found = self.users.get(value, [])
        return found[0] if len(found) == 1 and found[0].op_type == op else None

    def scalar(self, node, other: str) -> float | None:
        """The constant scalar `node` combines with `other`, if that is what it does."""
        rest = [name for name in node.input if name != other]
        value = self.values.get(rest[0]) if len(rest) == 1 else None
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _fold_affine_blocks(graph) -> None:
    from onnx import numpy_helper

    known, dropped = _Graph(graph), []
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        mul = known.sole(conv.output[0], "Mul")
        scale = known.scalar(mul, conv.output[0]) if mul else None
        add = known.sole(mul.output[0], "Add") if scale is not None else None
        shift = known.scalar(add, mul.output[0]) if add else None
        if shift is None or conv.input[1] not in known.values:
            continue
        weights = known.values[conv.input[1]].astype(np.float32)
        bias = known.values[conv.input[2]] if len(conv.input) > 2 else np.zeros(len(weights))
        names = [conv.input[0], f"{conv.name}_folded_w", f"{conv.name}_folded_b"]
        graph.initializer.extend(
            [
                numpy_helper.from_array(weights * np.float32(scale), names[1]),
                numpy_helper.from_array((bias * scale + shift).astype(np.float32), names[2]),
            ]
        )
        del conv.input[:]
        conv.input.extend(names)
        conv.output[0] = add.output[0]
        dropped += [mul, add]
    for node in dropped:
        graph.node.remove(node)


def _join_hardswish(graph) -> None:
    from onnx import helper

    known, dropped = _Graph(graph), []
    for add in [n for n in graph.node if n.op_type == "Add"]:
        x = next((name for name in add.input if known.scalar(add, name) == 3.0), None)
        clip = known.sole(add.output[0], "Clip") if x else None
        bounds = [known.values.get(name) for name in clip.input[1:3]] if clip else []
        if len(bounds) != 2 or any(b is None for b in bounds):
            continue
        if [float(b) for b in bounds] != [0.0, 6.0]:
            continue
        mul = known.sole(clip.output[0], "Mul")
        div = known.sole(mul.output[0], "Div") if mul and x in mul.input else None
        if div is None or known.scalar(div, mul.output[0]) != 6.0:
            continue
        swish = helper.make_node("HardSwish", [x], [div.output[0]], name=f"{div.name}_hardswish")
        graph.node.insert(list(graph.node).index(div), swish)
        dropped += [add, clip, mul, div]
    for node in dropped:
        graph.node.remove(node)


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input}
    for initializer in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(initializer)
