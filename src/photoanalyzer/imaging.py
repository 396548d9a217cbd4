"""Open and decode photos: reduced JPEG decoding, EXIF orientation applied once, every mode
turned into plain RGB, a pixel cap checked before decoding, thumbnails written atomically.

Pillow's own decompression-bomb check is switched off here in favour of the configurable
cap: it would refuse even to read the header of a large photo, and the metadata phase reads
headers only."""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile

Image.MAX_IMAGE_PIXELS = None  # see the module docstring; load_upright_rgb enforces the cap
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a grey half

# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Decoders that apply the container's rotation themselves (pillow-heif applies irot/imir).
_ROTATED_BY_DECODER = frozenset({"HEIF", "AVIF"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class ImageTooLarge(ValueError):
    """The header declares more pixels than the configured cap."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, upright, longest side at most the size asked for
    stored_size: tuple[int, int]  # width, height as stored in the file
    orientation: int  # EXIF orientation that was applied (1 when none)
    # Which decoder made the pixels: pillow, pillow-heif, ffmpeg-hevc, nvdec, nvjpeg,
    # raw-preview or libraw (docs/fields.md).
    decoder: str = "pillow"
    decoder_note: str | None = None  # why a faster decoder was not used, where one was tried


_heif_registered = False


def ensure_heif_support() -> None:
    """Register pillow-heif on first use; importing it costs start-up time rescans skip."""
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def load_upright_rgb(
    path: str | Path, longest_side: int, max_pixels: int, threads: int = 1, hevc: str = "cpu"
) -> Decoded:
    """Decode `path` once, as small as `longest_side` allows: JPEGs are decoded straight from
    the DCT at 1/2, 1/4 or 1/8 scale, at the smallest scale that still covers the size. HEIC
    goes through FFmpeg where heif_decode can (else pillow-heif), with `threads` threads, its
    tiles on NVDEC first when `hevc` is "cuda". Camera RAW files (told by their content) go
    to raw.py: embedded preview or demosaic."""
    raw_type = _raw_type(path)
    if raw_type is not None:
        from photoanalyzer.raw import load_raw

        picture = load_raw(str(path), raw_type, longest_side, max_pixels)
        return Decoded(
            picture.image, picture.stored_size, picture.orientation, picture.decoder, picture.source
        )
    ensure_heif_support()
    decoder, note = "pillow", None
    image = Image.open(path)
    try:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"image declares {width}x{height} pixels ({width * height / 1e6:.0f} MP), over "
                f"the cap of {max_pixels / 1e6:.0f} MP (content.max_pixels); not decoded"
            )
        orientation = _orientation(image)
        if image.format == "HEIF":
            from photoanalyzer.heif_decode import decode_or_explain

            fast, note = decode_or_explain(
                str(path), (width, height), threads, hevc, longest_side, max_pixels
            )
            decoder = "pillow-heif" if fast is None else fast.decoder
        if image.format == "JPEG":
            mode = None if image.mode == "CMYK" else image.mode
            image.draft(mode, _draft_size(width, height, longest_side))
        if decoder in ("pillow", "pillow-heif"):
            image.load()  # also closes the file: the decoded picture stays in memory
            rgb = reduce_to_fit(to_rgb(image), longest_side)
        else:
            image.close()
            rgb = fast.image  # RGB, reduced by heif_decode
    except BaseException:
        image.close()
        raise
    if orientation in _UPRIGHT:
        rgb = rgb.transpose(_UPRIGHT[orientation])
    orientation = orientation if orientation in _UPRIGHT else 1
    return Decoded(rgb, (width, height), orientation, decoder, note)


def reduce_to_fit(
    image: Image.Image, longest_side: int, full_size: tuple[int, int] | None = None
) -> Image.Image:
    """The picture reduced so that its longest side is `longest_side` (unchanged if smaller).
    Two steps, as Pillow's reducing gap takes them: an exact box reduce by whole factors
    (prereduce_factors), then BOX (area averaging) over the rest of the way: anti-aliased,
    and half the cost of bilinear for the typical 1/4-scale draft -> thumbnail step.

    `full_size`: the picture's size before it was reduced by prereduce_factors elsewhere (a
    HEIC's tiles, each reduced before the stitch: heif_decode); the result is the same as if
    the whole picture had come here."""
    full = full_size or image.size
    if max(full) <= longest_side:
        return image
    size = _fit(full, longest_side)
    factor_x, factor_y = prereduce_factors(full, longest_side)
    if image.size == full:
        if factor_x > 1 or factor_y > 1:
            image = image.reduce((factor_x, factor_y))
    elif image.size != (-(-full[0] // factor_x), -(-full[1] // factor_y)):
        raise ValueError(f"a {image.size} picture is not {full} reduced by the whole factors")
    # The box is the whole picture in reduced pixels: the last reduced row and column may
    # stand for fewer pixels than the others, and the resize weighs them so.
    box = (0, 0, full[0] / factor_x, full[1] / factor_y)
    return image.resize(size, Image.Resampling.BOX, box=box)


def prereduce_factors(size: tuple[int, int], longest_side: int) -> tuple[int, int]:
    """The whole factors (x, y) by which reduce_to_fit box-reduces a `size` picture first:
    Pillow's reducing gap of 2 (the reduce leaves at least twice the final size), rounded
    down to a power of two, so that they divide the 256 and 512 px tiles of HEIC grids
    and a tiled picture can be reduced tile by tile to the same result."""
    if max(size) <= longest_side:
        return 1, 1
    (width, height), (fit_w, fit_h) = size, _fit(size, longest_side)
    return _power_of_two_at_most(width // (2 * fit_w)), _power_of_two_at_most(height // (2 * fit_h))


def _power_of_two_at_most(value: int) -> int:
    return 1 << (value.bit_length() - 1) if value > 1 else 1


def _raw_type(path: str | Path) -> str | None:
    from photoanalyzer import rawmeta

    with open(path, "rb") as fh:
        kind = rawmeta.file_type(fh)
    return kind if rawmeta.is_raw(kind) else None


def upright_of(decoded: Decoded) -> tuple[int, int]:
    """The displayed (width, height) of a decoded photo's original."""
    width, height = decoded.stored_size
    return (height, width) if decoded.orientation in (5, 6, 7, 8) else (width, height)


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the picture as displayed: the stored size, sides swapped when the
    EXIF orientation turns it by 90 degrees. Reads the header only: a PNG's orientation is
    taken from what comes before its pixel data, so an eXIf chunk after them is not seen.
    A camera RAW's is its sensor size (raw.py), not its preview's."""
    if _raw_type(path) is not None:
        from photoanalyzer.raw import raw_upright_size

        return raw_upright_size(str(path))
    ensure_heif_support()
    with Image.open(path) as image:
        (width, height), orientation = image.size, _orientation(image, header_only=True)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _orientation(image: Image.Image, header_only: bool = False) -> int:
    if image.format in _ROTATED_BY_DECODER:
        return 1
    # PNG's getexif decodes the whole image to look for an eXIf chunk after the pixel data;
    # the base class's reads only what opening the file parsed (the chunks before them).
    exif = Image.Image.getexif(image) if header_only else image.getexif()
    value = exif.get(0x0112, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _draft_size(width: int, height: int, longest_side: int) -> tuple[int, int]:
    """The size to ask `draft` for: the stored image scaled so its longest side is exactly
    `longest_side`. draft picks the largest DCT scale that stays at or above it."""
    factor = longest_side / max(width, height)
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def _fit(size: tuple[int, int], longest_side: int) -> tuple[int, int]:
    factor = longest_side / max(size)
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: 16- and 32-bit grey scaled (not clipped), alpha composited
    over white, palettes and CMYK converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_to_8bit(image, mode)).convert("RGB")  # uint8 2-D -> L
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_8bit(values, mode: str):
    import numpy as np  # only deep images need it; rescans never get here

    values = np.asarray(values)
    if mode == "F":
        top = float(values.max()) if values.size else 1.0
        scaled = values / (top if top > 1.0 else 1.0) * 255.0
    else:
        # 16-bit data (I;16, and PNG/TIFF 16-bit grey that Pillow opens as I) spans 0..65535.
        scaled = values.astype(np.float32) / 257.0
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def write_thumbnail(image: Image.Image, destination: Path, quality: int) -> None:
    """Save as JPEG through a temporary file and a rename, so a crash never leaves half a
    thumbnail under the final name."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            image.save(out, "JPEG", quality=quality, optimize=False)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
