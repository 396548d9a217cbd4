"""The text detector rewritten once into the models folder (analysis/text_detector.py): the
same reading in fewer nodes, made once, made again when damaged, and the original where it
cannot be made, saying why."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from support.requirements import require_module

require_module("rapidocr_onnxruntime")
require_module("onnx")

from photoanalyzer.analysis.text import TextReader, detector_model  # noqa: E402
from photoanalyzer.analysis.text_detector import prepared_detector  # noqa: E402
from test_text import _sign  # noqa: E402


@pytest.fixture(scope="module")
def source() -> Path:
    return Path(detector_model())


def operations(model: Path) -> Counter:
    import onnx

    return Counter(node.op_type for node in onnx.load(str(model)).graph.node)


def test_the_rewritten_detector_reads_what_the_original_reads(source, tmp_path):
    prepared = prepared_detector(source, tmp_path)
    assert prepared.rewritten and prepared.path.parent == tmp_path, prepared.note
    before, after = operations(source), operations(prepared.path)
    assert after["HardSwish"] > 0 and after["Clip"] == 0 and after["Div"] == 0
    assert after["Mul"] < before["Mul"] and after["Conv"] == before["Conv"]
    picture = np.asarray(_sign())
    original, rewritten = TextReader(), TextReader(detector=str(prepared.path))
    for side in (512, 1280):  # the first pass's size and the full detection's
        expected, found = original.detect(picture, side), rewritten.detect(picture, side)
        assert len(expected) > 0 and np.allclose(expected, found, atol=1.0), side
    assert [line.text for line in rewritten.read(picture).lines] == [
        line.text for line in original.read(picture).lines
    ]


def test_it_is_made_once_and_made_again_when_damaged(source, tmp_path):
    first = prepared_detector(source, tmp_path)
    made = first.path.stat().st_mtime_ns
    again = prepared_detector(source, tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == made
    first.path.write_bytes(b"not a model")  # a disk error, an interrupted copy
    repaired = prepared_detector(source, tmp_path)
    assert repaired.rewritten and repaired.path == first.path
    assert operations(repaired.path)["HardSwish"] > 0
    assert not list(tmp_path.glob(".partial-*"))  # no half-written file left behind


def test_without_onnx_the_original_is_used_and_the_note_says_why(source, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the package were not installed
    prepared = prepared_detector(source, tmp_path)
    assert prepared.path == source and not prepared.rewritten
    assert "onnx" in prepared.note and "original" in prepared.note
    assert prepared_detector(source, None).path == source  # no models folder: the original
