"""Real camera RAW files (../shared/corpus/raw): metadata against exiftool's reference, with
the same field mapping and tolerances as the photo corpus (test_corpus.py), and what the
content phase does with each (their pixel data is stripped: most have no usable preview)."""

import json

import pytest

from conftest import CORPUS
from support.requirements import require_corpus
from test_corpus import agrees, expected_fields
from test_raw import HAVE_RAWPY, content_phase, needs_rawpy

RAW = CORPUS / "raw"
# The parameters below are read from the corpus: without it, the whole module skips (fails
# under CI) here, before they are read.
require_corpus(RAW / "reference.json")
# Sigma's own container (optional in issue 15): its EXIF is compared too, but not its size:
# ours is the sensor's from the X3F header, exiftool's that of the (stripped, 8x8) JPEG.
NOT_COMPARED = {"SigmaDP2.x3f": {"width", "height"}}
# Fields of the photo corpus's reference that the RAW reference does not list.
_ABSENT = ("size_bytes", "subsec_time_original", "lens_make", "gps_lat", "gps_lon", "gps_alt")


def references() -> list[dict]:
    return json.loads((RAW / "reference.json").read_text())["files"]


def expected(ref: dict) -> dict:
    fields = expected_fields({**dict.fromkeys(_ABSENT), **ref})
    if ref["file_type"] != "JPEG":  # the mislabelled .nef is a JPEG; the rest are RAW-<format>
        fields["file_type"] = "RAW-" + ref["file_type"]
    return fields


@pytest.mark.parametrize("name", [r["file"] for r in references()])
def test_metadata_agrees_with_exiftool_on_99_percent_of_values(name):
    from photoanalyzer.phases.metadata import MetadataPhase

    ref = next(r for r in references() if r["file"] == name)
    outcome = MetadataPhase().analyze(str(RAW / name), "photo")
    assert outcome.error is None, outcome.error
    skip = NOT_COMPARED.get(name, set())
    wanted = {k: v for k, v in expected(ref).items() if v is not None and k not in skip}
    mismatches = [
        (k, v, outcome.record[k]) for k, v in wanted.items() if not agrees(k, v, outcome.record[k])
    ]
    assert len(wanted) >= 9  # the comparison really covers the file
    assert 1 - len(mismatches) / len(wanted) >= 0.99, mismatches


@needs_rawpy
@pytest.mark.parametrize("name", [r["file"] for r in references()])
def test_content_succeeds_from_a_preview_or_says_why_not(tmp_path, name):
    """Every file: a thumbnail from a preview large enough, or an error naming both reasons
    (the preview missing or too small, and why no demosaic: LibRaw cannot open it, or the
    file is too small to hold its sensor data)."""
    from photoanalyzer.phases.base import analyze_safely
    from photoanalyzer.pixels.raw import load_raw

    assert HAVE_RAWPY
    ref = next(r for r in references() if r["file"] == name)
    outcome = analyze_safely(content_phase(tmp_path), str(RAW / name), "photo")
    preview = ref["preview"]
    if outcome.error is None:
        assert outcome.record["thumbnail"]
        if ref["file_type"] != "JPEG":
            picture = load_raw(str(RAW / name), "RAW-" + ref["file_type"], 640, 200_000_000)
            assert picture.source.startswith("preview ")
    else:
        assert "no embedded preview" in outcome.error or "smaller than the" in outcome.error
        assert "LibRaw cannot" in outcome.error or "too small to hold" in outcome.error
        if "width" in preview:  # LibRaw has one: the message gives its size
            assert f"{preview['width']}x{preview['height']}" in outcome.error
        if preview.get("none") == "LibRawFileUnsupportedError":
            assert "LibRawFileUnsupportedError" in outcome.error
