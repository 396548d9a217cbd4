"""Real photos from many cameras (../shared/corpus) against exiftool's reference values."""

import json
import math

import pytest

from conftest import CORPUS

pytestmark = pytest.mark.skipif(
    not (CORPUS / "reference.json").is_file(),
    reason=f"the shared photo corpus is not at {CORPUS} (it lives beside the repository)",
)

# Tolerances from the corpus README.
ABSOLUTE = {
    "gps_lat": 1e-6,
    "gps_lon": 1e-6,
    "gps_alt": 1e-3,
    "f_number": 1e-3,
    "focal_length": 1e-3,
}
RELATIVE = {"exposure_time": 1e-4}


def expected_fields(ref: dict) -> dict:
    """Reference record -> our export's field names and forms."""
    fields = {
        "file_size": ref["size_bytes"],
        "file_type": ref["file_type"],
        "width": ref["width"],
        "height": ref["height"],
        "orientation": ref["orientation"],
        "subsec": ref["subsec_time_original"],
        "make": ref["make"],
        "model": ref["model"],
        "lens": ref["lens"],
        "lens_make": ref["lens_make"],
        "exposure_time": ref["exposure_time"],
        "f_number": ref["f_number"],
        "iso": ref["iso"],
        "focal_length": ref["focal_length"],
        "focal_length_35mm": ref["focal_length_35mm"],
        "gps_lat": ref["gps_lat"],
        "gps_lon": ref["gps_lon"],
        "gps_alt": ref["gps_alt"],
        "taken_at": None,
        # Only where OffsetTimeOriginal exists (the reference does not list OffsetTime).
        "taken_at_offset": ref["offset_time_original"],
    }
    if ref["datetime_original"]:
        stamp = ref["datetime_original"]
        fields["taken_at"] = stamp[:10].replace(":", "-") + "T" + stamp[11:]  # naive local
    return fields


def agrees(name: str, expected, actual) -> bool:
    if actual is None:
        return False
    if name in ABSOLUTE:
        return math.isclose(actual, expected, rel_tol=0, abs_tol=ABSOLUTE[name])
    if name in RELATIVE:
        return math.isclose(actual, expected, rel_tol=RELATIVE[name])
    return actual == expected


@pytest.fixture(scope="module")
def corpus_export(tmp_path_factory):
    from conftest import Cli

    home = tmp_path_factory.mktemp("home")
    cli = Cli(home)
    db = home / "corpus.db"
    run = cli("run", str(CORPUS / "images"), "--db", str(db), "--phases", "metadata,content")
    reference = json.loads((CORPUS / "reference.json").read_text())["files"]
    return run, cli.export(db), reference


def test_metadata_agrees_with_exiftool_on_99_percent_of_values(corpus_export):
    _, rows, reference = corpus_export
    total, mismatches = 0, []
    for ref in reference:
        if ref["bad_input"]:
            continue
        row = rows[str(CORPUS / "images" / ref["file"])]
        for name, expected in expected_fields(ref).items():
            if expected is None:
                continue
            total += 1
            if not agrees(name, expected, row[name]):
                mismatches.append((ref["file"], name, expected, row[name]))
    assert total > 500  # the comparison really covers the corpus
    assert 1 - len(mismatches) / total >= 0.99, mismatches


def test_no_file_stops_the_scan_and_unreadable_bad_inputs_carry_an_error(corpus_export):
    run, rows, reference = corpus_export
    assert run.returncode == 0
    assert len(rows) == len(reference)
    for ref in reference:
        row = rows[str(CORPUS / "images" / ref["file"])]
        unreadable = ref["observed"]["pillow_13_0_pillow_heif_1_8_1"]["width"] is None
        if ref["bad_input"] and unreadable:
            assert row["errors"].get("metadata"), ref["file"]
        if not ref["bad_input"]:
            assert row["errors"] == {}, (ref["file"], row["errors"])
