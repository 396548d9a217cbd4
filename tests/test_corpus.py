"""Real photos from many cameras (../shared/corpus): exiftool's reference values, and the
run a user makes over them with --quiet."""

import importlib.util
import json
import math
import re

import pytest

from conftest import CORPUS
from support.requirements import needs

pytestmark = needs(corpus=CORPUS / "reference.json")

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


ML_INSTALLED = all(importlib.util.find_spec(name) for name in ("torch", "open_clip", "ultralytics"))


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """`photoanalyze run CORPUS/images --quiet` with every phase (the ML phase where the ml
    extra is installed) into a new catalog: (result, catalog path, cli). The ML phase runs
    on random weights, the only ones here; two labels, one template and a small YOLO input
    keep it short on a CPU without changing what runs."""
    from conftest import Cli

    home = tmp_path_factory.mktemp("home")
    cli = Cli(home)
    db = home / "corpus.db"
    config = home / "random.yaml"
    config.write_text(
        f"ml:\n  models_dir: {home / 'models'}\n"
        "  clip:\n    pretrained: random\n    top_k: 2\n    labels: [a beach, a forest]\n"
        "    templates: ['a photo of {}.']\n"
        "  yolo:\n    weights: random\n    image_size: 320\n"
    )
    phases = "metadata,content,ml" if ML_INSTALLED else "metadata,content"
    images = str(CORPUS / "images")
    run = cli(
        "run", images, "--quiet", "--db", str(db), "--config", str(config), "--phases", phases
    )
    return run, db, cli


@pytest.fixture(scope="module")
def corpus_export(corpus_run):
    run, db, cli = corpus_run
    reference = json.loads((CORPUS / "reference.json").read_text())["files"]
    return run, cli.export(db), reference


# What report.format_run prints between its first line ("Scanned ...") and its last
# ("Catalog: ..."): a line per phase, the phase's details indented below it, the problems.
_SUMMARY_BODY = re.compile(
    r"  (metadata|content|ml) +\d+ processed, \d+ errors?, .*"
    r"| {12}\S.*"
    r"|Problems \(\d+; every file error is kept in the catalog, see export\):"
    r"|  \[(scan|metadata|content|ml)\] .+: .+"
    r"|  \.\.\. and \d+ more"
)


def test_a_quiet_run_prints_the_summary_alone_and_nothing_on_stderr(corpus_run):
    """What cron mails: the summary and nothing else, with decoders, torch and ultralytics
    all at work on real files (broken ones among them)."""
    run, db, _ = corpus_run
    assert run.returncode == 0
    assert run.stderr == ""
    lines = run.stdout.split("\n")
    assert lines[0].startswith("Scanned ") and " files in 1 folder (" in lines[0]
    assert lines[-2:] == [f"Catalog: {db}", ""]  # the summary's last line, one newline
    stray = [line for line in lines[1:-2] if not _SUMMARY_BODY.fullmatch(line)]
    assert stray == []
    phases = [line.split()[0] for line in lines[1:-2] if re.match(r"  \w", line)]
    expected = ["metadata", "content", "ml"] if ML_INSTALLED else ["metadata", "content"]
    assert phases[: len(expected)] == expected


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
