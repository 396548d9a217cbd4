"""Pixels of camera RAW files for the content and ML phases, without demosaicing where the
camera already did it: the largest embedded preview (LibRaw's `extract_thumb`, and the JPEG
or RGB previews that rawmeta.py finds in the TIFF directories, a RAF's header, a CR3's PRVW),
turned upright by the RAW's EXIF orientation (cameras store previews as the sensor saw the
scene) and with black letterbox bars trimmed. Only when no preview covers the thumbnail is
the sensor data demosaiced, at half size (`postprocess(half_size=True)`, four times fewer
pixels, no interpolation) and under the content.max_pixels cap. A RAW with neither is an error
that says why.

rawpy (LibRaw) is an optional extra: without it, decoding a RAW raises DecoderMissing, whose
message says what to install; the file stays pending until it is there."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

from PIL import Image

from photoanalyzer.errors import DecoderMissing
from photoanalyzer.formats import rawmeta
from photoanalyzer.formats.bounded import BeyondFile
from photoanalyzer.pathnames import undecodable
from photoanalyzer.pixels.geometry import reduce_to_fit

INSTALL_HINT = "pip install 'photoanalyzer[raw]'"
# A border row or column is black when this share of its pixels is at most BLACK_LEVEL
# (JPEG ringing lifts a few pixels near the picture's edge above pure black).
BLACK_LEVEL = 16
BLACK_SHARE = 0.98
# LibRaw's `flip` -> the EXIF orientation it stands for.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


class RawUndecodable(ValueError):
    """Neither a preview large enough nor a demosaic: the message gives both reasons."""


@dataclass(frozen=True)
class RawPicture:
    image: Image.Image  # RGB, upright, longest side at most the size asked for
    stored_size: tuple[int, int]  # the sensor size as the metadata phase reports it
    orientation: int  # the EXIF orientation the picture was turned by
    source: str  # "preview WxH" or "half-size demosaic"
    decoder: str  # for the content record: "raw-preview" or "libraw" (the demosaic)


def import_rawpy():
    """rawpy, or DecoderMissing saying how to install it (the boundary tests simulate)."""
    try:
        import rawpy
    except ImportError as exc:
        raise DecoderMissing(
            f"decoding camera RAW files needs rawpy (LibRaw), which is not installed: "
            f"{INSTALL_HINT}"
        ) from exc
    return rawpy


def load_raw(path: str, file_type: str, longest_side: int, max_pixels: int) -> RawPicture:
    """The RAW at `path` as an upright RGB picture whose longest side is at most
    `longest_side`: from its largest preview if that covers `longest_side`, else a half-size
    demosaic; RawUndecodable when neither works."""
    rawpy = import_rawpy()
    with open(path, "rb") as fh:
        previews, unreadable = _own_previews(fh, file_type, max_pixels)
        orientation = rawmeta.orientation(fh, file_type)
        tags = rawmeta.cr3_tags(fh) if file_type == "RAW-CR3" else {}
        sensor = rawmeta.image_size(fh, file_type, tags)
    try:
        raw = _imread(rawpy, path)
    except (rawpy.LibRawError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the environment's failure, not the file's: phases keep it pending
        raw, libraw_error = None, _libraw_reason(exc)
    else:
        libraw_error = None
    try:
        if raw is not None:
            previews += _libraw_preview(raw, rawpy, max_pixels)
        best = max(previews, key=lambda p: p.width * p.height, default=None)
        if best is not None and max(best.size) >= longest_side:
            picture = _upright_preview(best, orientation, longest_side, sensor)
            size = f"{best.width}x{best.height}"
            return RawPicture(
                picture, sensor or best.size, orientation, f"preview {size}", "raw-preview"
            )
        why_not_preview = (
            f"its largest embedded preview is {best.width}x{best.height}, smaller than the "
            f"{longest_side} px thumbnail"
            if best is not None
            else f"its embedded preview cannot be read ({'; '.join(unreadable)})"
            if unreadable
            else "it has no embedded preview"
        )
        if raw is None:
            raise RawUndecodable(f"{why_not_preview}, and LibRaw cannot open it ({libraw_error})")
        stripped = _stripped(path, raw)
        if stripped:
            raise RawUndecodable(f"{why_not_preview}, and {stripped}")
        return _demosaic(raw, rawpy, longest_side, max_pixels, sensor, why_not_preview)
    finally:
        if raw is not None:
            raw.close()


def raw_upright_size(path: str) -> tuple[int, int]:
    """(width, height) of the RAW as displayed: the sensor size as the metadata phase reports
    it, sides swapped when its orientation turns it by 90 degrees. Needs no rawpy."""
    with open(path, "rb") as fh:
        file_type = rawmeta.file_type(fh) or ""
        tags = rawmeta.cr3_tags(fh) if file_type == "RAW-CR3" else {}
        size = rawmeta.image_size(fh, file_type, tags)
        orientation = rawmeta.orientation(fh, file_type)
    if size is None:
        raise RawUndecodable("its pixel size cannot be read from the container")
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _libraw_reason(exc: BaseException) -> str:
    message = exc.args[0] if exc.args else ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    return f"{type(exc).__name__}: {message}".rstrip(": ")


def _own_previews(fh, file_type: str, max_pixels: int) -> tuple[list[Image.Image], list[str]]:
    """The previews rawmeta finds that open, and why those that point past the end of the
    file were not read (said in the error when nothing else decodes the file). An RGB
    preview's size is checked against the pixel cap before its bytes are read."""
    previews, unreadable = [], []
    for spot in rawmeta.preview_spots(fh, file_type):
        if spot.rgb_size is not None and spot.rgb_size[0] * spot.rgb_size[1] > max_pixels:
            continue
        try:
            data = rawmeta.read_spot(fh, spot)
        except BeyondFile as exc:
            unreadable.append(str(exc))
            continue
        image = _open_preview(data, spot.rgb_size, max_pixels)
        if image is not None:
            previews.append(image)
    return previews, unreadable


def _open_preview(data: bytes, rgb_size, max_pixels: int) -> Image.Image | None:
    """A preview as an (unloaded, for JPEG) Pillow image; None when it is not readable (the
    stand-ins of stripped files) or declares more pixels than the cap."""
    try:
        if rgb_size is not None:
            image = Image.frombytes("RGB", rgb_size, data)
        else:
            image = Image.open(io.BytesIO(data))
            image.size  # noqa: B018 (the header was parsed: an unreadable one raised)
    except (OSError, ValueError, SyntaxError):
        return None
    return image if image.width * image.height <= max_pixels else None


def _libraw_preview(raw: Any, rawpy, max_pixels: int) -> list[Image.Image]:
    """LibRaw's preview: a JPEG, or a bitmap; none when the file has none."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, MemoryError):
        return []
    if thumb.format == rawpy.ThumbFormat.JPEG:
        image = _open_preview(thumb.data, None, max_pixels)
        return [image] if image is not None else []
    image = Image.fromarray(thumb.data).convert("RGB")
    return [image] if image.width * image.height <= max_pixels else []


def _upright_preview(
    image: Image.Image, orientation: int, longest_side: int, sensor: tuple[int, int] | None
) -> Image.Image:
    from photoanalyzer.pixels.geometry import UPRIGHT, draft_size, to_rgb

    if image.format == "JPEG":
        # The border trim looks at the picture at the size it is decoded at; a 1/8-scale
        # DCT decode keeps bars of even a few pixels.
        image.draft("RGB", draft_size(image.width, image.height, longest_side))
    rgb = trim_black_borders(to_rgb(image), sensor)
    rgb = reduce_to_fit(rgb, longest_side)
    return rgb.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else rgb


def trim_black_borders(image: Image.Image, sensor: tuple[int, int] | None = None) -> Image.Image:
    """The picture without black bars along its edges (previews letterboxed to 16:9 or
    padded to 4:3). The trim is kept only where it brings the picture to the sensor's aspect
    (both in stored orientation), or, the sensor's size unknown, where it keeps at least half
    of each side: a night sky's black rows are picture, not a bar."""
    import numpy as np

    grey = np.asarray(image.convert("L"))
    dark = grey <= BLACK_LEVEL
    rows, cols = dark.mean(axis=1) >= BLACK_SHARE, dark.mean(axis=0) >= BLACK_SHARE
    top, bottom = _run(rows), _run(rows[::-1])
    left, right = _run(cols), _run(cols[::-1])
    height, width = grey.shape
    if top + bottom >= height or left + right >= width or not (top or bottom or left or right):
        return image
    box = (left, top, width - right, height - bottom)
    kept_w, kept_h = box[2] - box[0], box[3] - box[1]
    if sensor is not None:
        target = sensor[0] / sensor[1]
        if abs(kept_w / kept_h - target) >= abs(width / height - target):
            return image
    elif kept_w < width / 2 or kept_h < height / 2:
        return image
    return image.crop(box)


def _run(flags) -> int:
    """How many leading entries of `flags` are true."""
    import numpy as np

    false = np.flatnonzero(~flags)
    return int(false[0]) if len(false) else len(flags)


# Lossy-compressed sensor data takes 3 to 4 bits a pixel, lossless 6 to 16: a file with less
# than one bit a pixel cannot hold its sensor data (stripped, as in exiftool's samples, or
# cut short), and LibRaw would demosaic whatever bytes follow into a pattern of noise.
_MIN_BITS_PER_PIXEL = 1


def _imread(rawpy, path: str) -> Any:
    """rawpy.imread, also for a file name that is not valid UTF-8 (pathnames.py): rawpy hands
    LibRaw a path as UTF-8, which such a name cannot be encoded as. That file is opened here
    and LibRaw given /proc/self/fd/N, the same file under an ASCII name; LibRaw opens its own
    handle at once, so ours is closed after."""
    if not undecodable(path) or not os.path.isdir("/proc/self/fd"):
        return rawpy.imread(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        return rawpy.imread(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _stripped(path: str, raw: Any) -> str | None:
    """Why the file's sensor data cannot be demosaiced into a picture, or None."""
    import os

    sizes = raw.sizes
    pixels = sizes.raw_width * sizes.raw_height
    size = os.path.getsize(path)
    if size * 8 < pixels * _MIN_BITS_PER_PIXEL:
        return (
            f"the file ({size:,} bytes) is too small to hold its {sizes.raw_width}x"
            f"{sizes.raw_height} sensor data (stripped or truncated)"
        )
    return None


def _demosaic(
    raw: Any,
    rawpy,
    longest_side: int,
    max_pixels: int,
    sensor: tuple[int, int] | None,
    why_not_preview: str,
) -> RawPicture:
    sizes = raw.sizes
    half_pixels = (sizes.width // 2) * (sizes.height // 2)
    if half_pixels > max_pixels:
        raise RawUndecodable(
            f"{why_not_preview}, and its half-size demosaic would have {half_pixels:,} pixels,"
            f" over the cap of {max_pixels:,} (content.max_pixels)"
        )
    try:
        # LibRaw turns the picture by its own reading of the orientation (`flip`).
        rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except (rawpy.LibRawError, MemoryError, ValueError) as exc:
        raise RawUndecodable(
            f"{why_not_preview}, and LibRaw cannot demosaic it ({_libraw_reason(exc)})"
        ) from exc
    if int(rgb.min()) == int(rgb.max()):
        raise RawUndecodable(f"{why_not_preview}, and its sensor data is blank (one value)")
    image = reduce_to_fit(Image.fromarray(rgb), longest_side)
    turned = _FLIP_TO_ORIENTATION.get(sizes.flip, 1)
    stored = sensor or (sizes.width, sizes.height)
    return RawPicture(image, stored, turned, "half-size demosaic", "libraw")
