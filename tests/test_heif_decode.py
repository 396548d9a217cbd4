"""HEIC through FFmpeg (heif_decode): the upright picture agrees with pillow-heif's, the
reference, at thumbnail size (PSNR above 40 dB) and so do the content signals, within the
tolerances docs/content.md gives; what the fast path does not handle falls back, and the
record says which decoder ran. Files: the corpus's phone HEIC, and files made here with
pillow-heif's encoder (grids, 10-bit, nclx ranges and matrices), rebuilt by tests/heifgen.py
with the transformations it cannot write (irot, imir, clap)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CORPUS
from photoanalyzer.analysis.signals import measure
from photoanalyzer.formats import heif_boxes
from photoanalyzer.pixels import heic as heif_decode
from photoanalyzer.pixels.geometry import prereduce_factors, reduce_to_fit, to_rgb
from photoanalyzer.pixels.load import load_upright_rgb
from support import heifgen
from support.imagegen import textured_photo
from support.requirements import corpus_cases, require_module

pillow_heif = require_module("pillow_heif")
require_module("av")
pillow_heif.register_heif_opener()

THUMB = 640
MIN_PSNR = 40.0
# The planes reduced before the conversion against the RGB picture reduced: rounding and the
# few pixels whose RGB clips (performance.md: 45.7 to 48.4 dB on the corpus's phones).
PLANES_MIN_PSNR = 45.0
# docs/content.md, "Decoders": how far two decoders' pictures of one file may move a signal.
PHASH_BITS, SHARPNESS_RELATIVE, BRIGHTNESS_ABSOLUTE = 4, 0.05, 0.01


def pillow_heif_picture(path: Path, thumb: int = THUMB) -> Image.Image:
    """Today's picture: pillow-heif's full decode, then imaging's one resize."""
    with Image.open(path) as image:
        image.load()
        return reduce_to_fit(to_rgb(image), thumb)


def psnr(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255**2 / error)


def assert_agrees(path: Path, thumb: int = THUMB) -> str:
    """The decoder's picture against pillow-heif's; returns the decoder that ran."""
    decoded = load_upright_rgb(path, thumb, 10**9)
    reference = pillow_heif_picture(path, thumb)
    if decoded.decoder == "pillow-heif":
        assert decoded.decoder_note, "a fallback says why"
    assert decoded.image.size == reference.size
    assert psnr(decoded.image, reference) > MIN_PSNR
    ours, theirs = measure(decoded.image), measure(reference)
    bits = bin(int(ours.phash, 16) ^ int(theirs.phash, 16)).count("1")
    assert bits <= PHASH_BITS
    assert ours.sharpness == pytest.approx(theirs.sharpness, rel=SHARPNESS_RELATIVE)
    assert abs(ours.brightness - theirs.brightness) <= BRIGHTNESS_ABSOLUTE
    return decoded.decoder


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return textured_photo((1200, 900), seed=3)


def write_heic(path: Path, picture: Image.Image, **options) -> Path:
    picture.save(path, format="HEIF", quality=92, **options)
    return path


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory, photo) -> Path:
    return write_heic(tmp_path_factory.mktemp("heic") / "grid.heic", photo, tile_size=256)


@pytest.mark.parametrize("tile_size", [256, 0], ids=["grid", "no-grid"])
def test_grid_and_single_image_decode_through_ffmpeg_and_agree(tmp_path, photo, tile_size):
    path = write_heic(tmp_path / "p.heic", photo, tile_size=tile_size)
    with open(path, "rb") as fh:
        layout = heif_boxes.read_layout(fh)
    assert layout.is_grid == bool(tile_size)
    if tile_size:
        assert (layout.rows, layout.columns, layout.output_size) == (4, 5, (1200, 900))
    assert assert_agrees(path) == "ffmpeg-hevc"


@pytest.mark.parametrize(
    "properties",
    [
        [heifgen.irot(90)],
        [heifgen.irot(180)],
        [heifgen.irot(270)],
        [heifgen.imir(0)],
        [heifgen.imir(1)],
        [heifgen.clap(800, 600, 20, -40)],
        [heifgen.clap(700, 500, -30, 10), heifgen.irot(90), heifgen.imir(1)],
    ],
    ids=["irot90", "irot180", "irot270", "imir0", "imir1", "clap", "clap-irot-imir"],
)
# 640: the 1200 x 900 grid is converted at full size; 256 and 128: its planes are reduced by
# 2 and by 4 first, chroma by 1 and 2 (test_planes_reduced_before_the_conversion_...).
@pytest.mark.parametrize("thumb", [THUMB, 256, 128])
def test_transformations_match_libheif(tmp_path, grid_file, properties, thumb):
    path = tmp_path / "t.heic"
    path.write_bytes(heifgen.with_properties(grid_file.read_bytes(), properties))
    assert assert_agrees(path, thumb) == "ffmpeg-hevc"
    cropped = any(b"clap" in prop[4:8] for prop in properties)
    planes = thumb != THUMB and not cropped
    reduced_in = heif_decode.decode(str(path), 1, longest_side=thumb).reduced_in
    assert reduced_in == ("ycbcr" if planes else "rgb")


@pytest.mark.parametrize(
    ("size", "tile_size", "reduced_in"),
    [
        ((1202, 900), 0, "ycbcr"),  # one image, its lines padded by FFmpeg (1216 bytes)
        ((1024, 767), 256, "rgb"),  # 767 px is under twice 192: the height is not reduced
    ],
    ids=["single-padded-lines", "one-side-unreduced"],
)
def test_which_pictures_have_their_planes_reduced(tmp_path, size, tile_size, reduced_in):
    path = write_heic(tmp_path / "s.heic", textured_photo(size, seed=7), tile_size=tile_size)
    if not tile_size:
        with open(path, "rb") as fh:
            layout = heif_boxes.read_layout(fh)
            payload = heif_boxes.item_bytes(fh, layout.primary, b"")
        (frame,) = heif_decode._decode_tiles(layout.primary.properties["hvcC"], [payload], 1)
        assert frame.planes[0].line_size != frame.width  # the planes are read with a stride
    fitted = heif_decode.decode(str(path), 1, longest_side=256)
    assert fitted.reduced_in == reduced_in
    assert assert_agrees(path, 256) == "ffmpeg-hevc"


@pytest.fixture(scope="module")
def odd_grid_file(tmp_path_factory) -> Path:
    """A grid whose output size is odd both ways (1201 x 899 of the 1280 x 1024 its tiles
    cover): the last reduced row and column stand for one pixel, not two, and the tiles
    overhang the picture with more picture, which no reduced pixel may take in."""
    picture = textured_photo((1280, 1024), seed=5)
    full = write_heic(tmp_path_factory.mktemp("heic") / "odd.heic", picture, tile_size=256)
    full.write_bytes(heifgen.with_grid_cut(full.read_bytes(), (4, 5, 1280, 1024), (1201, 899)))
    return full


@pytest.mark.parametrize(
    ("grid", "properties", "reduced_in"),
    [
        ("even", [], "ycbcr"),
        ("even", [heifgen.irot(90)], "ycbcr"),
        ("even", [heifgen.irot(270), heifgen.imir(0)], "ycbcr"),
        ("even", [heifgen.imir(1)], "ycbcr"),
        ("odd", [], "ycbcr"),  # short blocks at the right and bottom edges, as in the whole
        ("odd", [heifgen.irot(180)], "rgb"),  # a turn would carry them to the top and left
        ("odd", [heifgen.imir(0)], "rgb"),
        ("even", [heifgen.clap(800, 600, 20, -40)], "rgb"),
    ],
    ids=["plain", "irot90", "irot270-imir0", "imir1", "odd", "odd-irot180", "odd-imir0", "clap"],
)
def test_planes_reduced_before_the_conversion_where_the_blocks_line_up(
    tmp_path, grid_file, odd_grid_file, grid, properties, reduced_in
):
    """8-bit 4:2:0 tiles have their Y, Cb and Cr planes reduced before the conversion to RGB
    in the blocks reduce_to_fit would reduce the whole RGB picture in: the same picture but
    for rounding (checked against the whole picture reduced, and against pillow-heif's).
    Where a turn would move the short blocks, or a crop would, the tiles are converted at
    full size."""
    source = grid_file if grid == "even" else odd_grid_file
    path = tmp_path / "r.heic"
    path.write_bytes(heifgen.with_properties(source.read_bytes(), properties))
    whole = heif_decode.decode(str(path), 1)
    fitted = heif_decode.decode(str(path), 1, longest_side=256)
    assert (whole.image.mode, whole.image.size) == ("RGBX", whole.full_size)
    assert fitted.full_size == whole.full_size
    assert fitted.reduced_in == reduced_in
    expected = to_rgb(reduce_to_fit(whole.image, 256))
    if reduced_in == "rgb":
        assert fitted.image.tobytes() == expected.tobytes()
    else:
        assert psnr(fitted.image, expected) > PLANES_MIN_PSNR
    assert assert_agrees(path, 256) == "ffmpeg-hevc"  # and libheif reads the cut grid alike


def test_the_whole_factors_are_powers_of_two_and_checked():
    # Pillow's reducing gap would reduce 4608 -> 640 by 3; 3 does not divide a 512 px tile.
    assert prereduce_factors((4608, 3456), 640) == (2, 2)
    assert prereduce_factors((2566, 3313), 640) == (2, 2)
    assert prereduce_factors((12000, 9000), 640) == (8, 8)
    assert prereduce_factors((1200, 900), 640) == (1, 1)
    assert prereduce_factors((500, 400), 640) == (1, 1)
    reduced = Image.new("RGB", (601, 450))
    with pytest.raises(ValueError, match="whole factors"):
        reduce_to_fit(reduced, 128, (1201, 899))


def test_clap_at_an_odd_corner_falls_back(tmp_path, grid_file):
    path = tmp_path / "odd.heic"
    path.write_bytes(
        heifgen.with_properties(grid_file.read_bytes(), [heifgen.clap(801, 601, 0, 1)])
    )
    assert assert_agrees(path) == "pillow-heif"
    assert "odd corner" in load_upright_rgb(path, THUMB, 10**9).decoder_note


@pytest.mark.parametrize(
    "options",
    [
        {"full_range_flag": 0},
        {"matrix_coefficients": 1, "color_primaries": 1},
        {"matrix_coefficients": 9, "color_primaries": 9},
    ],
    ids=["limited-range", "bt709", "bt2020"],
)
def test_nclx_range_and_matrix_are_honoured(tmp_path, photo, options):
    path = write_heic(tmp_path / "c.heic", photo, tile_size=256, **options)
    assert assert_agrees(path) == "ffmpeg-hevc"


@pytest.mark.parametrize("thumb", [THUMB, 256])
def test_ten_bit_heic(tmp_path, photo, thumb):
    deep = (np.asarray(photo, np.uint16) * 257).astype("<u2")
    heif = pillow_heif.from_bytes(mode="RGB;16", size=photo.size, data=deep.tobytes())
    path = tmp_path / "deep.heic"
    heif.save(path, quality=92)
    with open(path, "rb") as fh:
        assert heif_boxes.bit_depth(heif_boxes.read_layout(fh).primary) == 10
    assert assert_agrees(path, thumb) == "ffmpeg-hevc"
    assert heif_decode.decode(str(path), 1, longest_side=thumb).reduced_in == "rgb"


def test_alpha_falls_back_to_pillow_heif(tmp_path, photo):
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    path = write_heic(tmp_path / "alpha.heic", rgba)
    assert assert_agrees(path) == "pillow-heif"
    assert "alpha" in load_upright_rgb(path, THUMB, 10**9).decoder_note


def test_an_ffmpeg_decoder_error_falls_back_and_says_why(tmp_path, grid_file):
    path = tmp_path / "bad-config.heic"
    path.write_bytes(heifgen.hvcc_corrupted(grid_file.read_bytes()))
    assert assert_agrees(path) == "pillow-heif"
    assert "FFmpeg could not decode" in load_upright_rgb(path, THUMB, 10**9).decoder_note


def test_a_gain_map_is_left_to_pillow_heif(grid_file):
    with open(grid_file, "rb") as fh:
        layout = heif_boxes.read_layout(fh)
    layout.has_gain_map = True
    with pytest.raises(heif_decode.FastPathUnavailable, match="gain map"):
        heif_decode._check_supported(layout)
    layout.has_gain_map = False
    layout.auxiliary = ["urn:com:apple:photo:2020:aux:hdrgainmap"]
    with pytest.raises(heif_decode.FastPathUnavailable, match="gain map"):
        heif_decode._check_supported(layout)


def test_decoder_threads_share_the_cores_among_the_workers():
    cores = os.cpu_count() or 1
    assert heif_decode.default_threads(cores) == 1
    assert heif_decode.default_threads(1) == cores
    assert heif_decode.default_threads(0) == cores


def test_the_fallback_decodes_with_the_same_thread_share(tmp_path, photo):
    rgba = photo.convert("RGBA")
    path = write_heic(tmp_path / "alpha.heic", rgba)
    load_upright_rgb(path, THUMB, 10**9, threads=3)
    assert pillow_heif.options.DECODE_THREADS == 3


def test_the_content_record_names_the_decoder(tmp_path, grid_file):
    from photoanalyzer.config import load_config
    from photoanalyzer.phases.content import ContentPhase

    phase = ContentPhase(load_config().content, str(tmp_path / "thumbs"))
    record = phase.analyze(str(grid_file), "photo").record
    assert (record["decoder"], record["decoder_note"]) == ("ffmpeg-hevc", None)
    jpeg = tmp_path / "p.jpg"
    textured_photo((320, 240)).save(jpeg, quality=90)
    assert phase.analyze(str(jpeg), "photo").record["decoder"] == "pillow"


def heif_files(corpus: Path) -> list[Path]:
    return sorted(
        p
        for p in corpus.rglob("*")
        if p.suffix.lower() in (".heic", ".heif", ".avif") and p.is_file()
    )


@pytest.mark.parametrize(
    "path", corpus_cases(CORPUS, heif_files, "HEIF files"), ids=lambda p: getattr(p, "name", p)
)
def test_corpus_heif_agrees_or_fails_alike(path):
    """Every HEIC/HEIF of the corpus: the same picture as pillow-heif's, or, for the broken
    ones, the same refusal (pillow-heif's error) after the fast path said why it stepped
    aside."""
    try:
        reference = pillow_heif_picture(path)
    except (OSError, ValueError, SyntaxError) as exc:
        with pytest.raises(type(exc)):
            load_upright_rgb(path, THUMB, 10**9)
        fast, note = heif_decode.decode_or_explain(str(path), (0, 0), 1)
        assert fast is None and note
        return
    assert reference is not None
    decoder = assert_agrees(path)
    if path.name in ("IMG_5195.HEIC", "HMD_Nokia_8.3_5G.heif"):
        assert decoder == "ffmpeg-hevc"  # the phone grids: the case the fast path is for


def test_frame_threads_keep_the_tiles_in_order(grid_file):
    one = heif_decode.decode(str(grid_file), 1).image.tobytes()
    assert heif_decode.decode(str(grid_file), 3).image.tobytes() == one


def test_tiles_past_the_end_of_the_file_are_left_to_pillow_heif(tmp_path, grid_file):
    """What pillow-heif makes of a cut file is its own matter (as before content-2); the fast
    path steps aside and says why."""
    path = tmp_path / "cut.heic"
    path.write_bytes(grid_file.read_bytes()[:-5000])
    fast, note = heif_decode.decode_or_explain(str(path), (1200, 900), 1)
    assert fast is None and "cut short" in note
    try:
        decoded = load_upright_rgb(path, THUMB, 10**9)
    except OSError:
        return
    assert (decoded.decoder, decoded.decoder_note) == ("pillow-heif", note)
