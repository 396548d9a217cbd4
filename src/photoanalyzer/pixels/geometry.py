"""Picture geometry with Pillow and nothing of this package: EXIF orientation, sizes that fit, the
one resize to a thumbnail (reduce_to_fit), any mode to 8-bit RGB. Every decoder shares them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


# Decoders that apply the container's rotation themselves (pillow-heif applies irot/imir).
ROTATED_BY_DECODER = frozenset({"HEIF", "AVIF"})


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


def reduce_to_fit(
    image: Image.Image, longest_side: int, full_size: tuple[int, int] | None = None
) -> Image.Image:
    """The picture reduced so that its longest side is `longest_side` (unchanged if smaller).
    Two steps, as Pillow's reducing gap takes them: an exact box reduce by whole factors
    (prereduce_factors), then BOX (area averaging) over the rest of the way: anti-aliased,
    and half the cost of bilinear for the typical 1/4-scale draft -> thumbnail step.

    `full_size`: the picture's size before it was reduced by prereduce_factors elsewhere (a
    HEIC's tiles, each reduced before the stitch: pixels.heic); the result is the same as if
    the whole picture had come here."""
    full = full_size or image.size
    if max(full) <= longest_side:
        return image
    size = fit_size(full, longest_side)
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
    (width, height), (fit_w, fit_h) = size, fit_size(size, longest_side)
    return power_of_two_at_most(width // (2 * fit_w)), power_of_two_at_most(height // (2 * fit_h))


def power_of_two_at_most(value: int) -> int:
    return 1 << (value.bit_length() - 1) if value > 1 else 1


def upright_of(decoded: Decoded) -> tuple[int, int]:
    """The displayed (width, height) of a decoded photo's original."""
    width, height = decoded.stored_size
    return (height, width) if decoded.orientation in (5, 6, 7, 8) else (width, height)


def exif_orientation(image: Image.Image, header_only: bool = False) -> int:
    if image.format in ROTATED_BY_DECODER:
        return 1
    # PNG's getexif decodes the whole image to look for an eXIf chunk after the pixel data;
    # the base class's reads only what opening the file parsed (the chunks before them).
    exif = Image.Image.getexif(image) if header_only else image.getexif()
    value = exif.get(0x0112, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def draft_size(width: int, height: int, longest_side: int) -> tuple[int, int]:
    """The size to ask `draft` for: the stored image scaled so its longest side is exactly
    `longest_side`. draft picks the largest DCT scale that stays at or above it."""
    factor = longest_side / max(width, height)
    return max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))


def fit_size(size: tuple[int, int], longest_side: int) -> tuple[int, int]:
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
