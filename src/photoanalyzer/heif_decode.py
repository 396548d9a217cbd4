"""HEIC decoded through the HEVC decoder of the FFmpeg that PyAV bundles: 1.7 to 1.8 times
as fast as pillow-heif's libde265 on the corpus's phone photos, one thread each
(docs/performance.md).

The picture's layout comes from the HEIF boxes (heif_boxes): each tile of the grid is one
HEVC picture, decoded with the grid's shared `hvcC` as the decoder's configuration; each tile
is converted to RGB at full size (see below) in Pillow's four-byte layout, so that the
stitched canvas becomes an image without a copy and reduces before any copy into RGB; the
tiles are stitched, cropped to the grid's
output size and then by `clap`, and turned by `irot` and `imir` in the order the file lists
them, as libheif does (turns alone are applied while stitching, in the same copy). Colour:
the container's nclx (matrix, full or limited range) where there is one, else the
bitstream's own; 10-bit tiles are converted straight to 8-bit RGB.

Why full size, not scaled toward the thumbnail in the conversion: measured on the iPhone file,
swscale's unscaled 4:2:0 -> RGB path converts all 42 tiles in 9 ms, its scaling paths (AREA,
BILINEAR) take 15 to 28 ms, so scaling is not cheaper; and the two-stage resize (tiles at 1/4,
then BOX to the thumbnail) lands 32 dB from today's picture, under the 40 dB the pixel
agreement asks. The picture goes through imaging's one resize instead, as pillow-heif's does.

What this path does not handle raises FastPathUnavailable, and the caller decodes with
pillow-heif instead: alpha, HDR gain maps, codecs other than HEVC, tiles with differing
configurations or kept in `idat`, a `clap` from an odd corner over subsampled chroma, any
error from the decoder, and (decode_or_explain) a picture whose size is not the one
pillow-heif reports. The reason is kept for the record."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from PIL import Image

from photoanalyzer import heif_boxes
from photoanalyzer.heif_boxes import HeifLayout, Nclx

DECODER_NAME = "ffmpeg-hevc"
# ITU-T H.273 matrix coefficients -> swscale's colourspaces (2 = unspecified: BT.601, as
# libheif assumes).
_MATRIX = {1: "ITU709", 2: "ITU601", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M"}
_MATRIX.update({9: "BT2020", 10: "BT2020"})


class FastPathUnavailable(Exception):
    """The file needs pillow-heif: the message says why (recorded as the decoder note)."""


@dataclass(frozen=True)
class FastDecoded:
    # RGBX (RGB in Pillow's own four-byte layout, sharing the stitched canvas: reduce it
    # before converting to RGB), full size, transformed (clap, irot, imir)
    image: Image.Image
    decoder: str = DECODER_NAME


def decode_or_explain(
    path: str, expected_size: tuple[int, int], threads: int, device: str = "cpu"
) -> tuple[FastDecoded | None, str | None]:
    """The FFmpeg picture, or None and the reasons pillow-heif must decode the file instead.
    On `device` "cuda" NVDEC is tried first, then FFmpeg on the CPU. `expected_size` is what
    pillow-heif reports (after its transformations): a picture of another size means this
    path read the container differently, and it is not used."""
    reasons = []
    for on in ("cuda", "cpu") if device == "cuda" else ("cpu",):
        name = "nvdec" if on == "cuda" else DECODER_NAME
        try:
            fast = decode(path, threads, on)
            if fast.image.size == expected_size:
                return fast, "; ".join(reasons) or None
            reasons.append(f"{name}: made {fast.image.size}, pillow-heif reports {expected_size}")
        except FastPathUnavailable as exc:
            reasons.append(f"{name}: {exc}")
        except OSError as exc:  # the file went away or cannot be read: pillow-heif will say so
            reasons.append(f"{name}: {exc}")
    import pillow_heif

    pillow_heif.options.DECODE_THREADS = threads  # the fallback gets the same share of cores
    return None, "; ".join(reasons)


def decode(path: str, threads: int, device: str = "cpu") -> FastDecoded:
    """The primary picture of a HEIC file, turned as its container says (clap, irot, imir),
    decoded with `threads` FFmpeg threads, or by NVDEC when `device` is "cuda"."""
    with open(path, "rb") as fh:
        try:
            layout = heif_boxes.read_layout(fh)
            _check_supported(layout)
            payloads = [heif_boxes.item_bytes(fh, tile, b"") for tile in layout.tiles]
        except heif_boxes.HeifStructureError as exc:  # tiles in idat, or past the file's end
            raise FastPathUnavailable(str(exc)) from exc
    colour = heif_boxes.nclx_of(layout.primary) or heif_boxes.nclx_of(layout.tiles[0])
    try:
        frames = _decode_tiles(layout.tiles[0].properties["hvcC"], payloads, threads, device)
    except Exception as exc:  # av.error.* and anything the decoder raises: pillow-heif's turn
        from photoanalyzer.decoders import short_reason

        raise FastPathUnavailable(
            f"FFmpeg could not decode the tiles ({short_reason(exc)})"
        ) from exc
    if len(frames) != len(payloads):
        raise FastPathUnavailable(f"FFmpeg gave {len(frames)} of {len(payloads)} tiles")
    subsampled = frames[0].format.name.startswith(
        ("yuv420", "yuvj420", "yuv422", "yuvj422", "nv12", "p010")
    )
    tiles = [_to_rgb(frame, colour) for frame in frames]
    transforms = layout.primary.transforms
    if any(transform.kind == "clap" for transform in transforms):
        picture = _stitch(tiles, layout.columns, layout.output_size, ())
        picture = _apply_transforms(picture, transforms, subsampled)
    else:  # only turns: the tiles go straight to their turned places, one copy in all
        turns = tuple(_turn(transform) for transform in transforms)
        picture = _stitch(
            tiles, layout.columns, layout.output_size, tuple(t for t in turns if t is not None)
        )
    return FastDecoded(picture, "nvdec" if device == "cuda" else DECODER_NAME)


def default_threads(workers: int) -> int:
    """Decoder threads for one worker process: the cores shared out among the workers, so
    that workers times threads does not oversubscribe the machine."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _check_supported(layout: HeifLayout) -> None:
    if layout.primary.item_type not in ("grid", "hvc1"):
        raise FastPathUnavailable(f"primary item is {layout.primary.item_type!r}, not HEVC")
    if any(heif_boxes.is_alpha(kind) for kind in layout.auxiliary):
        raise FastPathUnavailable("has an alpha plane")
    if layout.has_gain_map or any("gainmap" in kind for kind in layout.auxiliary):
        raise FastPathUnavailable("has an HDR gain map")
    first = layout.tiles[0]
    for tile in layout.tiles:
        if tile.item_type != "hvc1" or "hvcC" not in tile.properties:
            raise FastPathUnavailable("a tile is not an HEVC image with its configuration")
        if tile.properties["hvcC"] != first.properties["hvcC"]:
            raise FastPathUnavailable("tiles have differing decoder configurations")
        if heif_boxes.ispe_size(tile) != heif_boxes.ispe_size(first):
            raise FastPathUnavailable("tiles have differing sizes")
        if tile.transforms and layout.is_grid:
            raise FastPathUnavailable("a tile has its own transformations")
        if not tile.extents:
            raise FastPathUnavailable("a tile has no data (iloc)")
    tile_w, tile_h = heif_boxes.ispe_size(first) or (0, 0)
    out_w, out_h = layout.output_size
    if not (tile_w and tile_h and out_w and out_h):
        raise FastPathUnavailable("no image size (ispe)")
    if tile_w * layout.columns < out_w or tile_h * layout.rows < out_h:
        raise FastPathUnavailable("the tiles do not cover the grid's output size")


def _decode_tiles(hvcc: bytes, payloads: list[bytes], threads: int, device: str = "cpu") -> list:
    """One HEVC decoder fed every tile as a packet: the tiles share one configuration, and
    frame threads decode several tiles at once. On "cuda" the decoder is NVDEC (PyAV's
    hwaccel; the frames come back to system memory for the conversion)."""
    import av

    hwaccel = None
    if device == "cuda":
        from photoanalyzer.gpu_decode import hevc_hwaccel

        hwaccel = hevc_hwaccel()
    codec = av.CodecContext.create("hevc", "r", hwaccel=hwaccel)
    codec.extradata = hvcc  # the HEVCDecoderConfigurationRecord, as MP4 carries it
    codec.thread_count = threads
    codec.thread_type = "FRAME" if threads > 1 else "SLICE"
    frames = []
    for payload in payloads:
        frames.extend(codec.decode(av.Packet(payload)))
    frames.extend(codec.decode(None))
    return frames


def _to_rgb(frame, colour: Nclx | None) -> np.ndarray:
    """A decoded tile -> 8-bit RGB plus a fourth byte, colour from the container's nclx
    where it has one. Four bytes a pixel because that is Pillow's own layout of RGB: the
    stitched canvas becomes an image without a copy (Image.frombuffer, "RGBX"), and a pixel
    moves as one 32-bit word when the stitch turns the picture."""
    matrix, full_range = _colour_of(frame, colour)
    rgb = frame.reformat(
        format="rgba",
        src_colorspace=matrix,
        src_color_range="JPEG" if full_range else "MPEG",
        dst_color_range="JPEG",
        threads=1,
    )
    return rgb.to_ndarray()


def _colour_of(frame, colour: Nclx | None) -> tuple[str, bool]:
    if colour is not None:
        return _MATRIX.get(colour.matrix, "ITU601"), colour.full_range
    # No nclx in the container (an ICC profile, or nothing): the bitstream's VUI stands.
    matrix = _MATRIX.get(int(frame.colorspace), "ITU601")
    return matrix, int(frame.color_range) == 2  # AVCOL_RANGE_JPEG


def _stitch(
    tiles: list[np.ndarray], columns: int, output_size: tuple[int, int], turns: tuple
) -> Image.Image:
    """Tiles in row-major order on one canvas of the grid's output size (the right and
    bottom tiles overhang it and are cut), turned by `turns` (Pillow transposes, in order) as
    they are copied: the canvas is written through the inverse turns' numpy view of the
    turned picture, which saves a second pass over 12 MP (37 ms for a turn of 16 MP)."""
    tile_h, tile_w = tiles[0].shape[:2]
    width, height = output_size
    sides_swap = sum(turn in _SWAPS_SIDES for turn in turns) % 2
    turned = np.empty((width, height, 4) if sides_swap else (height, width, 4), dtype=np.uint8)
    # Whole pixels as 32-bit words: a turned copy of 12 MP takes half the time of one that
    # moves bytes.
    canvas = turned.view(np.uint32)[..., 0]
    for turn in reversed(turns):
        canvas = _NUMPY_INVERSE[turn](canvas)
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * tile_h, (index % columns) * tile_w
        part = tile.view(np.uint32)[: min(tile_h, height - top), : min(tile_w, width - left), 0]
        canvas[top : top + part.shape[0], left : left + part.shape[1]] = part
    return Image.frombuffer("RGBX", turned.shape[1::-1], turned, "raw", "RGBX", 0, 1)


def _apply_transforms(picture: Image.Image, transforms, subsampled: bool) -> Image.Image:
    """clap, irot, imir in the order the file lists them (HEIF applies them in that order)."""
    for transform in transforms:
        if transform.kind == "clap":
            left, top, width, height = clap_rectangle(transform.value, *picture.size)
            if subsampled and (left % 2 or top % 2):
                # libheif crops the YCbCr planes before converting: from an odd corner its
                # chroma samples sit half a pixel off ours (23 dB apart on a noisy picture).
                raise FastPathUnavailable("clap at an odd corner over subsampled chroma")
            picture = picture.crop((left, top, left + width, top + height))
        elif (turn := _turn(transform)) is not None:  # FLIP_LEFT_RIGHT is 0: test for None
            picture = picture.transpose(turn)
    return picture


def _turn(transform) -> Image.Transpose | None:
    if transform.kind == "irot" and transform.value:
        return _ROTATIONS[transform.value]
    if transform.kind == "imir":
        # As libheif reads it (and so pillow-heif, and the pictures of today): axis 0 flips
        # top and bottom, 1 left and right (tested against pillow-heif).
        return _MIRRORS[transform.value]
    return None


_MIRRORS = {0: Image.Transpose.FLIP_TOP_BOTTOM, 1: Image.Transpose.FLIP_LEFT_RIGHT}
_SWAPS_SIDES = frozenset({Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270})
# Each turn's inverse as a numpy view (np.rot90 turns anticlockwise, as ROTATE_90 does).
_NUMPY_INVERSE = {
    Image.Transpose.ROTATE_90: lambda a: np.rot90(a, -1),
    Image.Transpose.ROTATE_180: lambda a: np.rot90(a, 2),
    Image.Transpose.ROTATE_270: lambda a: np.rot90(a, 1),
    Image.Transpose.FLIP_LEFT_RIGHT: lambda a: a[:, ::-1],
    Image.Transpose.FLIP_TOP_BOTTOM: lambda a: a[::-1],
}
_ROTATIONS = {
    90: Image.Transpose.ROTATE_90,  # irot turns anticlockwise, as PIL's ROTATE_90
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def clap_rectangle(values, width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a clean aperture inside a width x height picture, with
    libheif's rounding (its Box_clap: the left edge rounded down, the others to nearest)."""
    w_n, w_d, h_n, h_d, x_n, x_d, y_n, y_d = values
    if not (w_d and h_d and x_d and y_d):
        raise FastPathUnavailable("clap with a zero denominator")
    clean_w, clean_h = Fraction(w_n, w_d), Fraction(h_n, h_d)
    left = math.floor(Fraction(x_n, x_d) + Fraction(width - 1, 2) - (clean_w - 1) / 2)
    right = _round(clean_w - 1 + left)
    top = _round(Fraction(y_n, y_d) + Fraction(height - 1, 2) - (clean_h - 1) / 2)
    bottom = _round(clean_h - 1 + top)
    if left < 0 or top < 0 or right >= width or bottom >= height or right < left or bottom < top:
        raise FastPathUnavailable("clap reaches outside the picture")
    return left, top, right - left + 1, bottom - top + 1


def _round(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))  # halves up, as libheif's Fraction::round
