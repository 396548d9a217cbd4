"""Camera RAW files on their own fixtures: DNGs written by the tests (real Bayer data, an
embedded JPEG preview, an Orientation tag; support.synthetic_raw), through sniffing,
metadata, the content and ML phases, RAW+JPEG pairs and scan.raw_pairs."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CORPUS, REPO, random_weights_yaml
from photoanalyzer.analysis.neardup import Candidate, pick
from photoanalyzer.config import load_config
from photoanalyzer.errors import DecoderMissing
from photoanalyzer.formats import rawmeta
from photoanalyzer.library.pairs import find_pairs, skipped
from photoanalyzer.phases.base import analyze_safely
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.phases.metadata import MetadataPhase
from support.imagegen import write_photo
from support.requirements import installed, needs, require_binary, require_corpus
from support.synthetic_raw import DngSpec, write_dng

# rawpy is in the dev extra, so CI has it; a machine without it skips the decoding tests
# (under CI=true they fail instead).
HAVE_RAWPY = installed("rawpy")
needs_rawpy = needs(modules=("rawpy",))
SETTINGS = load_config().content


def content_phase(tmp_path: Path, **changes) -> ContentPhase:
    return ContentPhase(replace(SETTINGS, **changes), str(tmp_path / "thumbs"))


def red_share(image: Image.Image, rows: slice) -> float:
    """The share of strongly red pixels in the given rows (the scene's band is at the top)."""
    pixels = np.asarray(image.convert("RGB")).astype(int)[rows]
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    return float(red.mean())


def test_dngs_are_sniffed_as_raw_and_plain_tiffs_stay_tiffs(tmp_path):
    dng = write_dng(tmp_path / "a.dng")
    tiff = write_photo(tmp_path / "scan.tif", fmt="TIFF")
    with open(dng, "rb") as fh:
        assert rawmeta.file_type(fh) == "RAW-DNG"
    with open(tiff, "rb") as fh:
        assert rawmeta.file_type(fh) == "TIFF"


def test_metadata_of_a_dng_has_its_sensor_size_orientation_and_exif(tmp_path):
    dng = write_dng(tmp_path / "a.dng", DngSpec(sensor_size=(600, 400), orientation=6))
    outcome = MetadataPhase().analyze(str(dng), "photo")
    assert outcome.error is None
    record = outcome.record
    assert record["file_type"] == "RAW-DNG"
    assert (record["width"], record["height"]) == (600, 400)  # the sensor's, not the preview's
    assert record["orientation"] == 6
    assert (record["make"], record["model"]) == ("Testcam", "Testcam DNG One")
    assert record["taken_at"] == "2024-05-06T07:08:09"
    assert record["iso"] == 200
    assert record["f_number"] == pytest.approx(2.8)


@pytest.mark.parametrize("description_words", [0, 12000])  # 12,000 words: a 100 KB packet
def test_xmp_that_lightroom_writes_into_a_dng_is_read(tmp_path, description_words):
    """Lightroom (and exiftool, here) write a DNG's rating and keywords into the DNG itself,
    IFD0's tag 700; a packet over 64 KB is found from its directory entry, read bounded."""
    exiftool = require_binary("exiftool")
    dng = write_dng(tmp_path / "a.dng")
    description = " ".join(f"w{i}" for i in range(description_words)) or "short"
    args = tmp_path / "xmp.args"
    args.write_text(f"-XMP-xmp:Rating=3\n-XMP-dc:Subject=raw\n-XMP-dc:Description={description}\n")
    subprocess.run([exiftool, "-q", "-m", "-overwrite_original", "-@", str(args), str(dng)])
    seen = subprocess.run([exiftool, "-j", "-XMP:all", str(dng)], capture_output=True, check=True)
    expected = json.loads(seen.stdout)[0]
    outcome = MetadataPhase().analyze(str(dng), "photo")
    assert outcome.error is None
    record = outcome.record
    assert (record["rating"], record["keywords"]) == (expected["Rating"], [expected["Subject"]])
    assert record["description"] == str(expected["Description"]) == description
    assert record["xmp_source"] == "embedded" and record["file_type"] == "RAW-DNG"


def test_the_rating_given_on_a_canon_camera_is_read_from_the_cr3(tmp_path):
    """A CR3 keeps XMP in a top-level uuid box, where the camera writes the rating (the
    corpus's CR3 has 0); exiftool writes 4 there in a copy."""
    original = require_corpus(CORPUS / "raw") / "CanonRaw.cr3"
    assert MetadataPhase().analyze(str(original), "photo").record["rating"] == 0
    cr3 = tmp_path / "rated.cr3"
    cr3.write_bytes(original.read_bytes())
    exiftool = require_binary("exiftool")
    subprocess.run([exiftool, "-q", "-overwrite_original", "-XMP-xmp:Rating=4", str(cr3)])
    seen = subprocess.run([exiftool, "-j", "-XMP:Rating", str(cr3)], capture_output=True)
    outcome = MetadataPhase().analyze(str(cr3), "photo")
    assert outcome.error is None
    assert outcome.record["rating"] == json.loads(seen.stdout)[0]["Rating"] == 4
    assert outcome.record["xmp_source"] == "embedded"


def test_a_dng_whose_xmp_entry_lies_keeps_its_record_and_says_so(tmp_path):
    dng = write_dng(tmp_path / "a.dng")
    subprocess.run(
        [require_binary("exiftool"), "-q", "-overwrite_original", "-XMP-xmp:Rating=2", str(dng)],
        check=True,
    )
    data = bytearray(dng.read_bytes())
    order = "<" if data[:2] == b"II" else ">"
    (first,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, first)
    entry = next(  # IFD0's tag 700
        first + 2 + 12 * i
        for i in range(count)
        if struct.unpack_from(order + "H", data, first + 2 + 12 * i)[0] == 700
    )
    lies = {"count": (4, 2**20), "place": (8, len(data) + 10)}  # (field offset, value)
    for what, (field, value) in lies.items():
        told = bytearray(data)
        struct.pack_into(order + "I", told, entry + field, value)
        dng.write_bytes(bytes(told))
        outcome = MetadataPhase().analyze(str(dng), "photo")
        assert outcome.record["make"] == "Testcam" and outcome.record["rating"] is None, what
        assert outcome.error.startswith("embedded XMP: XMP packet "), (what, outcome.error)


def test_the_upright_size_of_a_raw_is_its_sensor_size_turned(tmp_path):
    from photoanalyzer.pixels.load import upright_size

    dng = write_dng(tmp_path / "t.dng", DngSpec(sensor_size=(600, 400), orientation=8))
    assert upright_size(dng) == (400, 600)  # not the 480x320 preview Pillow would open


@needs_rawpy
def test_content_from_the_preview_is_upright_and_has_signals(tmp_path):
    """Orientation 6: the camera stored the scene turned; the thumbnail must show it upright
    (portrait, the red band at the top), made from the preview (960x640), not a demosaic."""
    dng = write_dng(
        tmp_path / "turned.dng",
        DngSpec(sensor_size=(1200, 800), preview_size=(960, 640), orientation=6),
    )
    from photoanalyzer.pixels.raw import load_raw

    picture = load_raw(str(dng), "RAW-DNG", 640, SETTINGS.max_pixels)
    assert picture.source == "preview 960x640"
    outcome = content_phase(tmp_path).analyze(str(dng), "photo")
    assert outcome.error is None, outcome.error
    record = outcome.record
    with Image.open(tmp_path / "thumbs" / record["thumbnail"]) as thumb:
        assert thumb.size == (427, 640)
        assert red_share(thumb, slice(0, 80)) > 0.9
        assert red_share(thumb, slice(-80, None)) < 0.05
    assert record["sharpness"] > 0 and record["phash"] and record["dominant_colors"]
    assert (record["decoder"], record["decoder_note"]) == ("raw-preview", "preview 960x640")


@needs_rawpy
def test_black_bars_of_a_letterboxed_preview_are_trimmed(tmp_path):
    dng = write_dng(
        tmp_path / "bars.dng",
        DngSpec(sensor_size=(1200, 800), preview_size=(960, 640), preview_bars=60),
    )
    record = content_phase(tmp_path).analyze(str(dng), "photo").record
    with Image.open(tmp_path / "thumbs" / record["thumbnail"]) as thumb:
        assert thumb.size == (640, 427)  # the 3:2 picture, not the 960x760 canvas
        top = np.asarray(thumb.convert("L"))[:3]
        assert top.mean() > 60  # the red band, not a black bar


def test_a_dark_picture_of_the_sensors_aspect_is_not_trimmed():
    from photoanalyzer.pixels.raw import trim_black_borders

    night = Image.new("RGB", (300, 200), (0, 0, 0))
    night.paste(Image.new("RGB", (40, 40), (200, 200, 200)), (130, 80))  # the moon
    assert trim_black_borders(night, (3000, 2000)).size == (300, 200)
    bars = Image.new("RGB", (300, 260), (0, 0, 0))
    bars.paste(Image.new("RGB", (300, 200), (120, 90, 60)), (0, 30))
    assert trim_black_borders(bars, (3000, 2000)).size == (300, 200)


@needs_rawpy
def test_without_a_large_enough_preview_the_raw_is_demosaiced_at_half_size(tmp_path):
    dng = write_dng(
        tmp_path / "small.dng", DngSpec(sensor_size=(800, 600), preview_size=(160, 120))
    )
    from photoanalyzer.pixels.raw import load_raw

    picture = load_raw(str(dng), "RAW-DNG", 640, SETTINGS.max_pixels)
    assert (picture.source, picture.decoder) == ("half-size demosaic", "libraw")
    assert picture.image.size == (400, 300)  # half of 800x600, under the 640 px thumbnail
    assert red_share(picture.image, slice(0, 40)) > 0.5
    outcome = analyze_safely(content_phase(tmp_path, max_pixels=100_000), str(dng), "photo")
    assert outcome.record is None  # (800/2)*(600/2) = 120,000 pixels > the cap
    assert "smaller than the 640 px thumbnail" in outcome.error
    assert "over the cap" in outcome.error and "content.max_pixels" in outcome.error


@needs_rawpy
def test_a_raw_whose_name_is_not_utf8_is_demosaiced_like_any_other(tmp_path):
    """rawpy passes LibRaw its path as UTF-8, which a Latin-1 name cannot be encoded as."""
    dng = write_dng(
        tmp_path / os.fsdecode(b"caf\xe9.dng"), DngSpec(sensor_size=(800, 600), preview_size=None)
    )
    from photoanalyzer.pixels.raw import load_raw

    picture = load_raw(str(dng), "RAW-DNG", 640, SETTINGS.max_pixels)
    assert (picture.source, picture.decoder) == ("half-size demosaic", "libraw")
    assert picture.image.size == (400, 300) and red_share(picture.image, slice(0, 40)) > 0.5


def test_without_rawpy_metadata_works_and_pixel_phases_say_what_to_install(tmp_path, monkeypatch):
    """The missing package is simulated at the import boundary (sys.modules entry None makes
    `import rawpy` raise ImportError), as on a machine without the [raw] extra."""
    dng = write_dng(tmp_path / "a.dng")
    monkeypatch.setitem(sys.modules, "rawpy", None)
    assert MetadataPhase().analyze(str(dng), "photo").record["file_type"] == "RAW-DNG"
    outcome = analyze_safely(content_phase(tmp_path), str(dng), "photo")
    assert "pip install 'photoanalyzer[raw]'" in outcome.error
    assert outcome.final is False  # stays pending: installing rawpy and rerunning fixes it
    from photoanalyzer.pixels.load import load_upright_rgb

    with pytest.raises(DecoderMissing):
        load_upright_rgb(dng, 224, SETTINGS.max_pixels)  # the ML phase's loader's path


@needs_rawpy
def test_two_content_workers_on_raw_files_do_not_hang_after_openmp_ran_here(tmp_path):
    """The parent demosaics first (OpenMP starts its threads in this process), then the
    content phase spreads RAW files over two workers: forked workers would hang in LibRaw's
    first parallel region; the pool must not. Run in a child process with a timeout."""
    files = [
        write_dng(tmp_path / f"r{i}.dng", DngSpec(preview_size=None), seed=i) for i in range(4)
    ]
    script = textwrap.dedent(
        f"""
        import rawpy
        from dataclasses import replace
        from photoanalyzer.config import load_config
        from photoanalyzer.phases.content import ContentPhase
        from photoanalyzer.run.local import analyze_all

        if __name__ == "__main__":
            with rawpy.imread({str(files[0])!r}) as raw:
                raw.postprocess(half_size=True)
            settings = replace(load_config().content, workers=2)
            phase = ContentPhase(settings, {str(tmp_path / "thumbs")!r})
            outcomes = list(analyze_all(phase, [(p, "photo") for p in {[str(f) for f in files]!r}]))
            print([o.error for o in outcomes])
        """
    )
    (tmp_path / "pool.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "pool.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([None] * 4)


def test_pairs_are_same_folder_same_stem_raw_and_jpeg():
    pairs = find_pairs(
        ["/a/IMG_1.CR2", "/a/img_1.jpg", "/a/IMG_2.NEF", "/b/IMG_2.JPG", "/a/IMG_3.png"]
    )
    assert pairs == {"/a/IMG_1.CR2": "/a/img_1.jpg", "/a/img_1.jpg": "/a/IMG_1.CR2"}
    paired = [(1, "/a/IMG_1.CR2"), (2, "/a/img_1.jpg")]
    assert skipped(paired, "jpeg-only") == {1}
    assert skipped(paired, "raw-only") == {2}
    assert skipped(paired, "both") == set()


def test_the_near_duplicate_pick_prefers_the_raw_of_a_pair():
    jpeg = Candidate(1, "/a/IMG_1.JPG", 0, 300.0, 6000, 4000, 9_000_000, True, True)
    raw = Candidate(2, "/a/IMG_1.CR2", 0, 250.0, 6000, 4000, 8_000_000, True, True, is_raw=True)
    best, reasons = pick([jpeg, raw])
    assert best is raw
    assert reasons == ["camera RAW (the master of its JPEG)"]


def _library(tmp_path: Path) -> Path:
    library = tmp_path / "library"
    write_dng(library / "IMG_0001.DNG", DngSpec(preview_size=(960, 640)))
    write_photo(library / "IMG_0001.JPG", size=(96, 64))
    write_photo(library / "other.jpg", size=(96, 64), seed=3)
    return library


@needs_rawpy
def test_pairs_are_exported_and_raw_pairs_decides_what_the_content_phase_reads(tmp_path, cli):
    library = _library(tmp_path)
    db = tmp_path / "c.db"
    config = tmp_path / "jpeg-only.yaml"
    config.write_text("scan:\n  raw_pairs: jpeg-only\n")
    args = ("--db", str(db), "--phases", "metadata,content", "--quiet")
    cli("run", str(library), *args, "--config", str(config))
    rows = cli.export(db)
    raw, jpeg, other = (str(library / n) for n in ("IMG_0001.DNG", "IMG_0001.JPG", "other.jpg"))
    assert rows[raw]["pair_of"] == jpeg and rows[jpeg]["pair_of"] == raw
    assert rows[other]["pair_of"] is None
    assert rows[raw]["file_type"] == "RAW-DNG"  # metadata for both halves
    assert rows[raw]["thumbnail"] is None and rows[raw]["errors"] == {}  # left out, no error
    assert rows[jpeg]["thumbnail"] is not None
    status = json.loads(cli("status", "--db", str(db), "--json", "--config", str(config)).stdout)
    content = status["phases"]["content"]
    assert content["left_out_pairs"] == 1 and content["pending_for_config"] == 0
    assert status["phases"]["metadata"]["left_out_pairs"] == 0
    cli("run", str(library), *args)  # raw_pairs: both (the default) now reads the RAW too
    rows = cli.export(db)
    assert rows[raw]["thumbnail"] is not None and rows[raw]["errors"] == {}
    cli("run", jpeg, *args)  # a walk of the JPEG alone sees no RAW: the pair stays whole
    rows = cli.export(db)
    assert rows[raw]["pair_of"] == jpeg and rows[jpeg]["pair_of"] == raw
    (library / "IMG_0001.JPG").unlink()
    cli("run", str(library), *args)
    assert cli.export(db)[raw]["pair_of"] is None  # the pair is gone with its JPEG


@needs_rawpy
@needs(modules=("torch", "open_clip", "ultralytics"))
def test_the_ml_phase_embeds_the_raw_from_its_preview(tmp_path, cli):
    """Random weights (the only ones here): what is checked is that the RAW went through
    the ML phase from its preview, both through the content phase's thumbnail and, with no
    content phase, decoding the RAW itself."""
    library = tmp_path / "library"
    write_dng(library / "a.dng", DngSpec(preview_size=(960, 640), orientation=8))
    config = tmp_path / "random.yaml"
    config.write_text(random_weights_yaml(tmp_path / "models"))
    for phases in ("metadata,content,ml", "metadata,ml"):
        db = tmp_path / f"{phases}.db"
        cli("run", str(library), "--db", str(db), "--config", str(config), "--phases", phases)
        row = cli.export(db)[str(library / "a.dng")]
        assert row["errors"] == {} and row["top_scene"] is not None
        with sqlite3.connect(db) as con:
            (embedding,) = con.execute("SELECT embedding FROM ml").fetchone()
        assert embedding is not None and len(embedding) > 0


def test_raw_extensions_in_any_case_are_photos_and_raw_pairs_is_checked(tmp_path):
    from photoanalyzer.config import validate
    from photoanalyzer.errors import ConfigError
    from photoanalyzer.library.scan import scan
    from photoanalyzer.phases import PHASE_ORDER

    config = load_config()
    for name in ("A.CR2", "b.cr3", "c.Nef", "d.ARW", "e.dng", "f.ORF", "g.rw2", "h.PEF"):
        (tmp_path / name).write_bytes(b"x")
    for name in ("i.raf", "j.SRW", "k.iiq", "l.X3F"):
        (tmp_path / name).write_bytes(b"x")
    found = scan([str(tmp_path)], config.scan).files
    assert len(found) == 12 and {f.kind for f in found} == {"photo"}
    wrong = replace(config, scan=replace(config.scan, raw_pairs="raw-first"))
    with pytest.raises(ConfigError, match=r"scan\.raw_pairs"):
        validate(wrong, PHASE_ORDER)


@needs_rawpy
def test_duplicates_groups_a_raw_with_its_jpeg_and_picks_the_raw(tmp_path, cli):
    """The camera's JPEG is the same picture as the RAW: one near-duplicate group, whose pick
    is the RAW although the JPEG measures far sharper (the RAW's 480x320 preview is below the
    thumbnail size, so its picture is a half-size demosaic): the sharpness rule alone would
    have picked the JPEG."""
    import json

    from support.synthetic_raw import scene

    library = tmp_path / "library"
    dng = write_dng(library / "IMG_0007.DNG", DngSpec(sensor_size=(600, 400)))
    scene((600, 400)).save(library / "IMG_0007.JPG", quality=100)
    db = tmp_path / "c.db"
    cli("run", str(library), "--db", str(db), "--phases", "metadata,content", "--quiet")
    groups = json.loads(cli("duplicates", "--db", str(db), "--json").stdout)
    assert len(groups) == 1 and len(groups[0]["members"]) == 2, groups
    assert groups[0]["pick"] == str(dng)
    assert groups[0]["why"] == ["camera RAW (the master of its JPEG)"]
    jpeg = next(m for m in groups[0]["members"] if m["path"].endswith(".JPG"))
    assert jpeg["sharpness"] > 1.2 * groups[0]["members"][0]["sharpness"]


def test_pixel_workers_come_from_a_forkserver_for_raws_tiffs_and_gpu_decoders():
    """Forked workers hang in LibRaw's OpenMP after the parent ran it, and cannot use CUDA
    after the parent initialized it: those pools start from a forkserver. A TIFF may be a
    RAW by content (a DNG saved as .tif), so TIFFs count too."""
    from photoanalyzer.phases.content import ContentPhase
    from photoanalyzer.phases.metadata import MetadataPhase
    from photoanalyzer.pixels.plan import DecodePlan
    from photoanalyzer.run.local import _pool_context

    content = ContentPhase(SETTINGS, "/tmp/thumbs")
    on_gpu = replace(content, decode_plan=DecodePlan(jpeg="nvjpeg"))
    cases = [
        (content, "a.jpg", "fork"),
        (content, "a.CR2", "forkserver"),
        (content, "a.TIF", "forkserver"),
        (on_gpu, "a.jpg", "forkserver"),
        (MetadataPhase(), "a.CR2", "fork"),  # metadata reads RAW containers without LibRaw
    ]
    for phase, name, expected in cases:
        assert _pool_context(phase, [(name, "photo")]).get_start_method() == expected, name
