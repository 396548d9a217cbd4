"""Image quality signals, computed with numpy on an already decoded, upright RGB picture.
Each function documents its range; docs/content.md says how to read them."""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

# Sharpness is measured on a grey image of this longest side, so it does not depend on the
# resolution of the original (nor on the thumbnail size).
ANALYSIS_SIDE = 512
# Colours, clipping and hashes use smaller copies: shares and a 32 x 32 DCT do not need every
# pixel, and each resize of a 640 px picture costs milliseconds.
COLOUR_SIDE = 128
PALETTE_SIDE = 64
HIGHLIGHT_LEVEL, SHADOW_LEVEL = 250 / 255, 5 / 255
# ITU-R BT.601 luma, as JPEG's YCbCr uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Signals:
    sharpness: float  # variance of the Laplacian, 0.. (grey levels 0..255)
    tenengrad: float  # mean squared Sobel gradient magnitude, 0.. (grey levels 0..255)
    brightness: float  # mean luma, 0..1
    highlights_clipped: float  # share of pixels with luma >= 250/255, 0..1
    shadows_crushed: float  # share of pixels with luma <= 5/255, 0..1
    contrast: float  # RMS contrast: standard deviation of luma, 0..0.5
    colorfulness: float  # Hasler and Suesstrunk M, 0.. (about 0 grey, 109+ extremely colourful)
    dominant_colors: list[tuple[str, float]]  # up to 5 (hex, share), largest share first
    phash: str  # 64-bit perceptual (DCT) hash, 16 hex digits
    dhash: str  # 64-bit difference hash, 16 hex digits


def measure(image: Image.Image) -> Signals:
    grey = np.asarray(resize_longest(image.convert("L"), ANALYSIS_SIDE), dtype=np.float32)
    small = resize_longest(image, COLOUR_SIDE)
    small_grey = small.convert("L")
    rgb = np.asarray(small, dtype=np.float32) / 255.0
    luma = rgb @ _LUMA
    return Signals(
        sharpness=laplacian_variance(grey),
        tenengrad=tenengrad(grey),
        brightness=float(luma.mean()),
        highlights_clipped=float((luma >= HIGHLIGHT_LEVEL).mean()),
        shadows_crushed=float((luma <= SHADOW_LEVEL).mean()),
        contrast=float(luma.std()),
        colorfulness=colorfulness(rgb * 255.0),
        dominant_colors=dominant_colors(resize_longest(small, PALETTE_SIDE)),
        phash=str(imagehash.phash(small_grey)),
        dhash=str(imagehash.dhash(small_grey)),
    )


def resize_longest(image: Image.Image, side: int) -> Image.Image:
    """Scale so the longest side is exactly `side` (up or down): a fixed measuring scale."""
    factor = side / max(image.size)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    if size == image.size:
        return image
    if factor > 1:  # small originals: interpolate, since BOX would draw blocks with hard edges
        return image.resize(size, Image.Resampling.BILINEAR)
    return image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: high for crisp edges, low for blur."""
    if min(grey.shape) < 3:
        return 0.0
    centre = grey[1:-1, 1:-1]
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * centre
    return float(laplacian.var())


def tenengrad(grey: np.ndarray) -> float:
    """Mean of the squared Sobel gradient magnitude. The Sobel kernels average across three
    rows or columns, so sensor noise moves this less than it moves the Laplacian."""
    if min(grey.shape) < 3:
        return 0.0
    gx = (grey[:-2, 2:] + 2 * grey[1:-1, 2:] + grey[2:, 2:]) - (
        grey[:-2, :-2] + 2 * grey[1:-1, :-2] + grey[2:, :-2]
    )
    gy = (grey[2:, :-2] + 2 * grey[2:, 1:-1] + grey[2:, 2:]) - (
        grey[:-2, :-2] + 2 * grey[:-2, 1:-1] + grey[:-2, 2:]
    )
    return float(np.mean(gx * gx + gy * gy))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness M on 0..255 RGB."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    centre = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * centre)


def dominant_colors(image: Image.Image, count: int = 5) -> list[tuple[str, float]]:
    """Up to `count` colours by median-cut quantization, with the share of pixels each covers."""
    quantized = image.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    pixels = image.width * image.height
    colours = []
    for share, index in sorted(quantized.getcolors(count) or [], reverse=True):
        r, g, b = palette[3 * index : 3 * index + 3]
        colours.append((f"#{r:02x}{g:02x}{b:02x}", round(share / pixels, 4)))
    return colours
