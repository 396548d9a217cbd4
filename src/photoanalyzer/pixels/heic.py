"""HEIC decoded through the HEVC decoder of the FFmpeg that PyAV bundles: 1.7 to 1.8 times
as fast as pillow-heif's libde265 on the corpus's phone photos, one thread each
(docs/performance.md).

The picture's layout comes from the HEIF boxes (heif_boxes): each tile of the grid is one
HEVC picture, decoded with the grid's shared `hvcC` as the decoder's configuration. The
picture is cropped to the grid's output size and then by `clap`, and turned by `irot` and
`imir` in the order the file lists them, as libheif does. Colour: the container's nclx
(matrix, full or limited range) where there is one, else the bitstream's own.

Given the size the picture is for (the content phase's thumbnail size), phone tiles (8-bit
4:2:0) are reduced before they are converted: each tile's Y plane is box-reduced in place by
the whole factor geometry.reduce_to_fit would reduce the whole picture by (a power of two,
used where it divides the tiles), its chroma planes, at half size already, by half of it;
the three planes are stitched, turned, taken the rest of the way by reduce_to_fit, and
converted to RGB at the thumbnail's size. The conversion is affine, so this is the RGB
picture's reduction but for rounding and clipped pixels (46 to 48 dB from it on the
corpus's phones at 640 px), and it is closer to pillow-heif's than converting at full size
(52.8 against 50.0 dB on the iPhone photo, 50.1 against 44.4 on the Nokia's): swscale's fast
4:2:0 -> RGB path rounds more coarsely than its 4:4:4 one. Everything else is converted at
full size in Pillow's four-byte layout, each tile as the stitch reaches it, into one canvas
that becomes an image without a copy (turns alone are applied in the same copy), and reduced
before the copy into RGB: 10-bit and other layouts, a `clap`, a picture under twice the size
asked for on either side, a factor that does not divide the tiles, and a turn that would
carry the short blocks of an edge that is not a multiple of the factor to the other side.
10-bit tiles are converted straight to 8-bit RGB.

Not scaled inside swscale: measured on the iPhone file, its unscaled 4:2:0 -> RGB path
converts all 42 tiles in 9 ms, its scaling paths (AREA, BILINEAR) take 15 to 28 ms, and
the two-stage resize (tiles at 1/4, then BOX to the thumbnail) lands 32 dB from
pillow-heif's picture, under the 40 dB the pixel agreement asks.

What this path does not handle raises FastPathUnavailable, and the caller decodes with
pillow-heif instead: alpha, HDR gain maps, codecs other than HEVC, tiles with differing
configurations or kept in `idat`, a `clap` from an odd corner over subsampled chroma, any
error from the decoder, a tile decoded at another size than its `ispe`, a grid row or
column outside its output size, and (decode_or_explain) a picture whose size is not the one
pillow-heif reports. The reason is kept for the record."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from PIL import Image

from photoanalyzer.formats import heif_boxes
from photoanalyzer.formats.heif_boxes import HeifLayout, Nclx
from photoanalyzer.pixels.geometry import prereduce_factors, reduce_to_fit, to_rgb

DECODER_NAME = "ffmpeg-hevc"
# ITU-T H.273 matrix coefficients -> swscale's colourspaces (2 = unspecified: BT.601, as
# libheif assumes).
_MATRIX = {1: "ITU709", 2: "ITU601", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M"}
_MATRIX.update({9: "BT2020", 10: "BT2020"})


class FastPathUnavailable(Exception):
    """The file needs pillow-heif: the message says why (recorded as the decoder note)."""


@dataclass(frozen=True)
class FastDecoded:
    # Transformed (clap, irot, imir). Given the size to reduce to: RGB, reduced to it.
    # Without: full size, RGBX (RGB in Pillow's four-byte layout, sharing the stitched canvas).
    image: Image.Image
    full_size: tuple[int, int]  # the transformed picture's size before any reduction
    decoder: str = DECODER_NAME
    # "rgb": converted at full size, then reduced; "ycbcr": the planes reduced, then converted
    reduced_in: str = "rgb"


def decode_or_explain(
    path: str,
    expected_size: tuple[int, int],
    threads: int,
    device: str = "cpu",
    longest_side: int | None = None,
    max_pixels: int | None = None,
) -> tuple[FastDecoded | None, str | None]:
    """The FFmpeg picture, or None and the reasons pillow-heif must decode the file instead.
    On `device` "cuda" NVDEC is tried first, then FFmpeg on the CPU. `expected_size` is what
    pillow-heif reports (after its transformations): a picture of another size means this
    path read the container differently, and it is not used."""
    reasons = []
    for on in ("cuda", "cpu") if device == "cuda" else ("cpu",):
        name = "nvdec" if on == "cuda" else DECODER_NAME
        try:
            fast = decode(path, threads, on, longest_side, max_pixels)
            if fast.full_size == expected_size:
                return fast, "; ".join(reasons) or None
            reasons.append(f"{name}: made {fast.full_size}, pillow-heif reports {expected_size}")
        except FastPathUnavailable as exc:
            reasons.append(f"{name}: {exc}")
        except OSError as exc:  # the file went away or cannot be read: pillow-heif will say so
            reasons.append(f"{name}: {exc}")
    import pillow_heif

    pillow_heif.options.DECODE_THREADS = threads  # the fallback gets the same share of cores
    return None, "; ".join(reasons)


def decode(
    path: str,
    threads: int,
    device: str = "cpu",
    longest_side: int | None = None,
    max_pixels: int | None = None,
) -> FastDecoded:
    """The primary picture of a HEIC file, turned as its container says (clap, irot, imir),
    decoded with `threads` FFmpeg threads, or by NVDEC when `device` is "cuda". Given
    `longest_side`, reduced to it by geometry.reduce_to_fit: from 8-bit 4:2:0 tiles (phones)
    the planes are reduced before the conversion to RGB where the blocks allow it
    (_tile_factors), else the whole RGB picture is."""
    with open(path, "rb") as fh:
        try:
            layout = heif_boxes.read_layout(fh)
            _check_supported(layout)
            _check_pixels(layout, max_pixels)
            payloads = [heif_boxes.item_bytes(fh, tile, b"") for tile in layout.tiles]
        except heif_boxes.HeifStructureError as exc:  # tiles in idat, or past the file's end
            raise FastPathUnavailable(str(exc)) from exc
    colour = heif_boxes.nclx_of(layout.primary) or heif_boxes.nclx_of(layout.tiles[0])
    try:
        frames = _decode_tiles(layout.tiles[0].properties["hvcC"], payloads, threads, device)
    except Exception as exc:  # av.error.* and anything the decoder raises: pillow-heif's turn
        from photoanalyzer.errors import short_reason

        raise FastPathUnavailable(
            f"FFmpeg could not decode the tiles ({short_reason(exc)})"
        ) from exc
    if len(frames) != len(payloads):
        raise FastPathUnavailable(f"FFmpeg gave {len(frames)} of {len(payloads)} tiles")
    tile_size = heif_boxes.ispe_size(layout.tiles[0])
    if any((frame.width, frame.height) != tile_size for frame in frames):
        # The stitch places tiles by their ispe: a tile decoded at another size would leave
        # gaps or overlaps.
        raise FastPathUnavailable("FFmpeg decoded a tile at another size than its ispe")
    decoder = "nvdec" if device == "cuda" else DECODER_NAME
    transforms = layout.primary.transforms
    if any(transform.kind == "clap" for transform in transforms):
        subsampled = frames[0].format.name.startswith(
            ("yuv420", "yuvj420", "yuv422", "yuvj422", "nv12", "p010")
        )
        picture = _stitch(frames, colour, layout.columns, layout.output_size, ())
        picture = _apply_transforms(picture, transforms, subsampled)
        return FastDecoded(_fitted(picture, longest_side), picture.size, decoder)
    turns = tuple(turn for turn in map(_turn, transforms) if turn is not None)
    width, height = layout.output_size
    full_size = (height, width) if _swaps_sides(turns) else (width, height)
    factors = _tile_factors(tile_size, layout.output_size, turns, full_size, longest_side)
    if factors != (1, 1) and frames[0].format.name in _PLANAR_420:
        planes = _stitch_planes(frames, layout.columns, layout.output_size, factors)
        picture = _fit_planes(planes, turns, full_size, longest_side, frames[0], colour)
        return FastDecoded(picture, full_size, decoder, reduced_in="ycbcr")
    # Full size: the tiles go straight to their turned places, one copy in all.
    picture = _stitch(frames, colour, layout.columns, layout.output_size, turns)
    return FastDecoded(_fitted(picture, longest_side), full_size, decoder)


def _check_pixels(layout: heif_boxes.HeifLayout, max_pixels: int | None) -> None:
    """The grid's sizes are the file's word: before a tile is decoded (or the canvas made),
    the output and the tiles must be within the pixel cap (the tiles may overhang the output
    by one row and one column of padding)."""
    if max_pixels is None:
        return
    width, height = layout.output_size
    tile_w, tile_h = heif_boxes.ispe_size(layout.tiles[0]) or (0, 0)
    padding = (layout.rows + layout.columns) * tile_w * tile_h
    if width * height > max_pixels or len(layout.tiles) * tile_w * tile_h > max_pixels + padding:
        raise FastPathUnavailable(
            f"the grid declares {width}x{height} pixels in {len(layout.tiles)} tiles of"
            f" {tile_w}x{tile_h}, over the cap of {max_pixels} (content.max_pixels)"
        )


def _fitted(picture: Image.Image, longest_side: int | None) -> Image.Image:
    if longest_side is None:
        return picture
    return to_rgb(reduce_to_fit(picture, longest_side))  # reduced before the copy into RGB


def _tile_factors(
    tile_size: tuple[int, int],
    output_size: tuple[int, int],
    turns: tuple,
    full_size: tuple[int, int],
    longest_side: int | None,
) -> tuple[int, int]:
    """The whole factors (x, y, in the stored grid's axes) by which each tile can be
    box-reduced before the stitch, in the blocks geometry.reduce_to_fit would reduce the whole
    picture in (it reduces the turned picture by prereduce_factors, its blocks counted from
    the turned picture's corner), both at least 2; (1, 1) where the blocks would not line up
    or one side is not reduced."""
    if longest_side is None:
        return 1, 1
    factor_x, factor_y = prereduce_factors(full_size, longest_side)
    if _swaps_sides(turns):
        factor_x, factor_y = factor_y, factor_x
    tile_w, tile_h = tile_size
    if factor_x < 2 or factor_y < 2:
        return 1, 1  # one side not reduced: its chroma, at half size, would need upsampling
    if tile_w % factor_x or tile_h % factor_y:
        return 1, 1  # blocks would straddle tiles (prereduce_factors keeps to powers of two)
    width, height = output_size
    if turns and (width % factor_x or height % factor_y):
        # A turn or mirror carries the short blocks of the last row or column to the first:
        # the turned picture's blocks would not be the tiles' blocks.
        return 1, 1
    return factor_x, factor_y


def _stitch_planes(
    frames: list, columns: int, output_size: tuple[int, int], factors: tuple[int, int]
) -> list[Image.Image]:
    """The 8-bit 4:2:0 tiles as three planes (Y, Cb, Cr) of the grid's output size reduced by
    `factors`: luma box-reduced as Pillow reduces (the short blocks of a cut edge average
    the pixels they have), chroma, already at half size, by half the factors. Each plane is
    read in place from the decoder's frame."""
    tile_w, tile_h = frames[0].width, frames[0].height
    factor_x, factor_y = factors
    width, height = output_size
    size = (-(-width // factor_x), -(-height // factor_y))
    planes = [Image.new("L", size) for _ in range(3)]
    for index, frame in enumerate(frames):
        top, left = (index // columns) * tile_h, (index % columns) * tile_w
        cut_w, cut_h = min(tile_w, width - left), min(tile_h, height - top)
        chroma_box = (0, 0, -(-cut_w // 2), -(-cut_h // 2))
        place = (left // factor_x, top // factor_y)
        planes[0].paste(_plane(frame, 0).reduce(factors, box=(0, 0, cut_w, cut_h)), place)
        for number in (1, 2):  # a reduce by (1, 1) is the crop to the box
            chroma = _plane(frame, number).reduce((factor_x // 2, factor_y // 2), box=chroma_box)
            planes[number].paste(chroma, place)
    return planes


def _plane(frame, number: int) -> Image.Image:
    plane = frame.planes[number]
    return Image.frombuffer("L", (plane.width, plane.height), plane, "raw", "L", plane.line_size, 1)


def _fit_planes(
    planes: list[Image.Image],
    turns: tuple,
    full_size: tuple[int, int],
    longest_side: int,
    frame,
    colour: Nclx | None,
) -> Image.Image:
    """The reduced planes turned, taken the rest of the way by geometry's one resize (the
    whole picture was `full_size`), then converted to RGB: at 0.3 MP instead of 8.5."""
    fitted = []
    for plane in planes:
        for turn in turns:
            plane = plane.transpose(turn)
        fitted.append(np.asarray(reduce_to_fit(plane, longest_side, full_size)))
    import av

    picture = av.VideoFrame.from_ndarray(np.stack(fitted), format="yuv444p")
    return Image.fromarray(_reformat(picture, "rgb24", *_colour_of(frame, colour)))


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
    if tile_w * (layout.columns - 1) >= out_w or tile_h * (layout.rows - 1) >= out_h:
        raise FastPathUnavailable("a row or column of tiles lies outside the grid's output size")


def _decode_tiles(hvcc: bytes, payloads: list[bytes], threads: int, device: str = "cpu") -> list:
    """One HEVC decoder fed every tile as a packet: the tiles share one configuration, and
    frame threads decode several tiles at once. On "cuda" the decoder is NVDEC (PyAV's
    hwaccel; the frames come back to system memory for the conversion)."""
    import av

    hwaccel = None
    if device == "cuda":
        from photoanalyzer.pixels.gpu import hevc_hwaccel

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
    return _reformat(frame, "rgba", *_colour_of(frame, colour))


def _reformat(frame, pixel_format: str, matrix: str, full_range: bool) -> np.ndarray:
    converted = frame.reformat(
        format=pixel_format,
        src_colorspace=matrix,
        src_color_range="JPEG" if full_range else "MPEG",
        dst_color_range="JPEG",
        threads=1,
    )
    return converted.to_ndarray()


def _colour_of(frame, colour: Nclx | None) -> tuple[str, bool]:
    if colour is not None:
        return _MATRIX.get(colour.matrix, "ITU601"), colour.full_range
    # No nclx in the container (an ICC profile, or nothing): the bitstream's VUI stands.
    matrix = _MATRIX.get(int(frame.colorspace), "ITU601")
    return matrix, int(frame.color_range) == 2  # AVCOL_RANGE_JPEG


def _stitch(
    frames: list, colour: Nclx | None, columns: int, output_size: tuple[int, int], turns: tuple
) -> Image.Image:
    """Tiles in row-major order on one canvas of the grid's output size (the right and
    bottom tiles overhang it and are cut), each converted to RGBX as the stitch reaches it,
    turned by `turns` (Pillow transposes, in order) as they are copied: the canvas is written
    through the inverse turns' numpy view of the turned picture, which saves a second pass
    over 12 MP (37 ms for a turn of 16 MP)."""
    tile_w, tile_h = frames[0].width, frames[0].height
    width, height = output_size
    shape = (width, height, 4) if _swaps_sides(turns) else (height, width, 4)
    turned = np.empty(shape, dtype=np.uint8)
    # Whole pixels as 32-bit words: a turned copy of 12 MP takes half the time of one that
    # moves bytes.
    canvas = turned.view(np.uint32)[..., 0]
    for turn in reversed(turns):
        canvas = _NUMPY_INVERSE[turn](canvas)
    for index, frame in enumerate(frames):
        top, left = (index // columns) * tile_h, (index % columns) * tile_w
        part = _to_rgb(frame, colour).view(np.uint32)[: height - top, : width - left, 0]
        canvas[top : top + part.shape[0], left : left + part.shape[1]] = part
    return Image.frombuffer("RGBX", turned.shape[1::-1], turned, "raw", "RGBX", 0, 1)


def _swaps_sides(turns: tuple) -> bool:
    return sum(turn in _SWAPS_SIDES for turn in turns) % 2 == 1


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


# Decoded tiles whose planes _stitch_planes reduces: 8-bit 4:2:0, what phones write.
_PLANAR_420 = frozenset({"yuv420p", "yuvj420p"})
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
