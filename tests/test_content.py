"""Content phase: decoding, signals moving the right way, thumbnails, near-duplicates."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from photoanalyzer.analysis.neardup import Candidate, find_groups
from photoanalyzer.config import load_config
from photoanalyzer.phases.base import analyze_safely
from photoanalyzer.phases.content import ContentPhase, thumbnail_key
from photoanalyzer.pixels.geometry import ImageTooLarge, draft_size
from photoanalyzer.pixels.load import load_upright_rgb, upright_size
from support.imagegen import (
    exif_of,
    full_spec,
    textured_photo,
    write_png_bomb,
    write_zero_byte,
)
from support.synthetic_raw import STORED

SETTINGS = load_config().content


def phase(tmp_path: Path, **changes) -> ContentPhase:
    from dataclasses import replace

    return ContentPhase(replace(SETTINGS, **changes), str(tmp_path / "thumbs"))


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def analyze(tmp_path: Path, path: Path, **changes) -> dict:
    outcome = phase(tmp_path, **changes).analyze(str(path), "photo")
    assert outcome.error is None, outcome.error
    return outcome.record


def difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_blurred_copy_scores_lower_sharpness_on_both_measures(tmp_path):
    original = textured_photo()
    sharp = analyze(tmp_path, save(original, tmp_path / "sharp.jpg", quality=92))
    blurred = analyze(
        tmp_path, save(original.filter(ImageFilter.GaussianBlur(4)), tmp_path / "b.jpg")
    )
    assert blurred["sharpness"] < sharp["sharpness"] / 4
    assert blurred["tenengrad"] < sharp["tenengrad"] / 2
    assert blurred["blurry"] and not sharp["blurry"]


def test_sharpness_does_not_depend_on_resolution(tmp_path):
    big = textured_photo((1600, 1200))
    a = analyze(tmp_path, save(big, tmp_path / "big.png"))
    b = analyze(
        tmp_path, save(big.resize((800, 600), Image.Resampling.LANCZOS), tmp_path / "s.png")
    )
    assert a["sharpness"] == pytest.approx(b["sharpness"], rel=0.25)


def test_darkened_copy_is_underexposed_and_brightened_is_overexposed(tmp_path):
    original = textured_photo()
    normal = analyze(tmp_path, save(original, tmp_path / "n.jpg"))
    dark = analyze(
        tmp_path, save(ImageEnhance.Brightness(original).enhance(0.15), tmp_path / "d.jpg")
    )
    bright = analyze(
        tmp_path, save(ImageEnhance.Brightness(original).enhance(3.0), tmp_path / "b.jpg")
    )
    assert not normal["underexposed"] and not normal["overexposed"]
    assert dark["underexposed"] and dark["brightness"] < normal["brightness"]
    assert dark["shadows_crushed"] > normal["shadows_crushed"]
    assert bright["overexposed"] and bright["highlights_clipped"] > normal["highlights_clipped"]


def test_contrast_colourfulness_and_dominant_colours(tmp_path):
    grey = analyze(
        tmp_path, save(Image.new("RGB", (300, 200), (128, 128, 128)), tmp_path / "g.png")
    )
    assert grey["contrast"] == pytest.approx(0, abs=1e-3)
    assert grey["colorfulness"] == pytest.approx(0, abs=1e-3)
    assert grey["dominant_colors"] == [("#808080", 1.0)]
    flag = Image.new("RGB", (300, 200), (255, 0, 0))
    flag.paste((0, 0, 255), (0, 0, 100, 200))  # left third blue, two thirds red
    colours = analyze(tmp_path, save(flag, tmp_path / "flag.png"))
    assert colours["colorfulness"] > 100 and colours["contrast"] > 0.05
    top = colours["dominant_colors"]
    assert [c for c, _ in top[:2]] == ["#ff0000", "#0000ff"]
    assert top[0][1] == pytest.approx(2 / 3, abs=0.02) and top[1][1] == pytest.approx(
        1 / 3, abs=0.02
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_decodes_upright(tmp_path, orientation):
    upright = textured_photo((400, 300))
    reference = load_upright_rgb(save(upright, tmp_path / "up.jpg", quality=95), 640, 10**9)
    transpose = STORED.get(orientation)  # none for 1
    stored = upright if transpose is None else upright.transpose(transpose)  # FLIP_LEFT_RIGHT is 0
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(stored, tmp_path / f"o{orientation}.jpg", quality=95, exif=exif.tobytes())
    decoded = load_upright_rgb(path, 640, 10**9)
    assert decoded.image.size == (400, 300)
    assert difference(decoded.image, reference.image) < 3.0  # JPEG noise only
    assert decoded.orientation == orientation


def test_cmyk_jpeg_decodes_to_the_right_rgb(tmp_path):
    rgb = textured_photo((320, 240))
    path = save(rgb.convert("CMYK"), tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    decoded = load_upright_rgb(path, 640, 10**9).image
    assert decoded.mode == "RGB"
    assert difference(decoded, rgb) < 4.0


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (64, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)  # uint16 -> mode I;16
    assert Image.open(path).mode.startswith("I")
    decoded = np.asarray(load_upright_rgb(path, 640, 10**9).image, dtype=np.int32)
    expected = np.round(ramp / 257.0).astype(np.int32)
    for channel in range(3):
        assert np.abs(decoded[..., channel] - expected).max() <= 1


def test_transparency_is_composited_over_white(tmp_path):
    rgba = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    rgba.paste((200, 0, 0, 255), (0, 0, 25, 50))
    decoded = load_upright_rgb(save(rgba, tmp_path / "alpha.png"), 640, 10**9).image
    assert decoded.getpixel((40, 10)) == (255, 255, 255)
    assert decoded.getpixel((10, 10)) == (200, 0, 0)
    palette = rgba.convert("P")  # keeps a transparent palette entry
    palette.info["transparency"] = palette.getpixel((40, 10))
    decoded = load_upright_rgb(
        save(palette, tmp_path / "p.png", transparency=palette.info["transparency"]), 640, 10**9
    ).image
    assert decoded.getpixel((40, 10)) == (255, 255, 255)


def test_pixel_bomb_is_refused_before_decoding(tmp_path):
    bomb = write_png_bomb(tmp_path / "bomb.png", side=30_000)
    with pytest.raises(ImageTooLarge, match="30000x30000"):
        load_upright_rgb(bomb, 640, 200_000_000)
    outcome = analyze_safely(phase(tmp_path), str(bomb), "photo")
    assert outcome.record is None and "over the cap of 200 MP" in outcome.error
    assert not (tmp_path / "thumbs").exists()


def test_upright_size_of_a_png_reads_its_header_and_decodes_no_pixels(tmp_path):
    """Pillow's getexif on a PNG without an eXIf chunk before the pixel data decodes the
    whole image to look for one after it. These pixels cannot be decoded, so only a header
    read succeeds; an eXIf after them is not seen (taking it would mean decoding)."""
    from support.imagegen import write_png_exif_after_broken_pixels

    late = write_png_exif_after_broken_pixels(tmp_path / "late.png", (64, 48), orientation=6)
    with pytest.raises(Exception):  # noqa: B017 - any decoder error: the pixels are garbage
        Image.open(late).load()
    assert upright_size(late) == (64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6
    early = save(textured_photo((64, 48)), tmp_path / "early.png", exif=exif.tobytes())
    assert upright_size(early) == (48, 64)  # an eXIf before the pixel data counts


def test_truncated_scan_data_is_an_error_not_a_grey_half(tmp_path):
    path = save(textured_photo((800, 600)), tmp_path / "cut.jpg", quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    outcome = analyze_safely(phase(tmp_path), str(path), "photo")
    assert outcome.record is None and "truncated" in outcome.error
    assert phase(tmp_path).analyze(str(write_zero_byte(tmp_path / "z.jpg")), "photo").error == (
        "empty file (0 bytes)"
    )


@pytest.mark.parametrize("size", [(4000, 3000), (3000, 4000), (641, 480), (5000, 100), (320, 240)])
def test_jpeg_draft_decodes_the_smallest_scale_that_covers_the_thumbnail(tmp_path, size):
    path = save(Image.new("RGB", size, (90, 120, 150)), tmp_path / "big.jpg")
    with Image.open(path) as image:
        image.draft("RGB", draft_size(*size, 640))
        drafted = image.size
    assert max(drafted) >= min(640, max(size))
    assert max(drafted) < 2 * 640 or drafted == size  # half the scale would not have covered it
    decoded = load_upright_rgb(path, 640, 10**9).image
    assert max(decoded.size) == min(640, max(size))


def test_thumbnail_lands_in_the_cache_never_beside_the_photo(tmp_path):
    library = tmp_path / "library"
    photo = save(textured_photo((1600, 1200)), library / "a.jpg", exif=b"")
    before = sorted(p.name for p in library.iterdir())
    record = analyze(tmp_path, photo, thumbnail_size=320)
    thumb = tmp_path / "thumbs" / record["thumbnail"]
    assert Image.open(thumb).size == (320, 240) and Image.open(thumb).format == "JPEG"
    assert sorted(p.name for p in library.iterdir()) == before
    st = photo.stat()
    assert record["thumbnail"] == thumbnail_key(str(photo), st.st_size, st.st_mtime_ns)
    assert thumbnail_key(str(photo), st.st_size, st.st_mtime_ns + 1) != record["thumbnail"]


def test_resized_reencoded_copy_is_a_near_duplicate_and_another_photo_is_not(tmp_path):
    original = textured_photo((1600, 1200), seed=1)
    paths = {
        "original": save(original, tmp_path / "orig.jpg", quality=95),
        "copy": save(
            original.resize((640, 480), Image.Resampling.LANCZOS), tmp_path / "copy.jpg", quality=60
        ),
        "other": save(textured_photo((1600, 1200), seed=2), tmp_path / "other.jpg", quality=95),
    }
    records = {name: analyze(tmp_path, path) for name, path in paths.items()}
    candidates = [
        Candidate(i, name, int(r["phash"], 16), r["sharpness"])
        for i, (name, r) in enumerate(records.items())
    ]
    groups = find_groups(candidates, SETTINGS.near_duplicate_distance)
    assert [sorted(m.path for m in g.members) for g in groups] == [["copy", "original"]]


def test_changed_threshold_changes_the_version_but_the_thumbnail_folder_does_not(tmp_path):
    base = phase(tmp_path)
    assert phase(tmp_path, blur_threshold=1.0).version != base.version
    assert phase(tmp_path, workers=7).version == base.version
    assert ContentPhase(SETTINGS, "/elsewhere").version == base.version


def test_metadata_and_content_survive_each_others_failures_end_to_end(cli, tmp_path):
    library = tmp_path / "lib"
    exif = exif_of(full_spec()).tobytes()
    good = save(textured_photo(), library / "good.jpg", exif=exif)
    cut = save(textured_photo(), library / "cut.jpg", quality=95, exif=exif)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 2 // 3])
    db = tmp_path / "c.db"
    cli("run", str(library), "--db", str(db), "--phases", "metadata", "--quiet")
    result = cli("run", str(library), "--db", str(db), "--phases", "content", "--quiet")
    assert "content   2 processed, 1 error" in result.stdout
    rows = cli.export(db)
    assert rows[str(cut)]["model"] == "Model X 12"  # metadata kept
    assert "truncated" in rows[str(cut)]["errors"]["content"]
    assert rows[str(good)]["sharpness"] > 0 and rows[str(good)]["errors"] == {}
    thumbs = tmp_path / "c.db-thumbnails"
    assert (thumbs / rows[str(good)]["thumbnail"]).is_file()
