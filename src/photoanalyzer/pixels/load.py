"""Open and decode photos: reduced JPEG decoding, EXIF orientation applied once, every mode
turned into plain RGB, a pixel cap checked before decoding, thumbnails written atomically.

Pillow's own decompression-bomb check is switched off here in favour of the configurable
cap: it would refuse even to read the header of a large photo, and the metadata phase reads
headers only."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageFile

from photoanalyzer.pixels.geometry import (
    UPRIGHT,
    Decoded,
    ImageTooLarge,
    draft_size,
    exif_orientation,
    reduce_to_fit,
    to_rgb,
)

Image.MAX_IMAGE_PIXELS = None  # see the module docstring; load_upright_rgb enforces the cap
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a grey half


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
    goes through FFmpeg where pixels.heic can (else pillow-heif), with `threads` threads, its
    tiles on NVDEC first when `hevc` is "cuda". Camera RAW files (told by their content) go
    to raw.py: embedded preview or demosaic."""
    raw_type = _raw_type(path)
    if raw_type is not None:
        from photoanalyzer.pixels.raw import load_raw

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
        orientation = exif_orientation(image)
        if image.format == "HEIF":
            from photoanalyzer.pixels.heic import decode_or_explain

            fast, note = decode_or_explain(
                str(path), (width, height), threads, hevc, longest_side, max_pixels
            )
            decoder = "pillow-heif" if fast is None else fast.decoder
        if image.format == "JPEG":
            mode = None if image.mode == "CMYK" else image.mode
            image.draft(mode, draft_size(width, height, longest_side))
        if decoder in ("pillow", "pillow-heif"):
            image.load()  # also closes the file: the decoded picture stays in memory
            rgb = reduce_to_fit(to_rgb(image), longest_side)
        else:
            image.close()
            rgb = fast.image  # RGB, reduced by pixels.heic
    except BaseException:
        image.close()
        raise
    if orientation in UPRIGHT:
        rgb = rgb.transpose(UPRIGHT[orientation])
    orientation = orientation if orientation in UPRIGHT else 1
    return Decoded(rgb, (width, height), orientation, decoder, note)


def _raw_type(path: str | Path) -> str | None:
    from photoanalyzer.formats import rawmeta

    with open(path, "rb") as fh:
        kind = rawmeta.file_type(fh)
    return kind if rawmeta.is_raw(kind) else None


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the picture as displayed: the stored size, sides swapped when the
    EXIF orientation turns it by 90 degrees. Reads the header only: a PNG's orientation is
    taken from what comes before its pixel data, so an eXIf chunk after them is not seen.
    A camera RAW's is its sensor size (raw.py), not its preview's."""
    if _raw_type(path) is not None:
        from photoanalyzer.pixels.raw import raw_upright_size

        return raw_upright_size(str(path))
    ensure_heif_support()
    with Image.open(path) as image:
        (width, height), orientation = image.size, exif_orientation(image, header_only=True)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
