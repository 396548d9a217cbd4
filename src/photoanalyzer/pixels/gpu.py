"""Pixel decoding on an NVIDIA GPU: JPEG through nvJPEG (torchvision.io.decode_jpeg with
device="cuda", a list of files per call, resized on the GPU before the pixels come back) and
HEVC tiles through NVDEC (FFmpeg's CUDA hwaccel, through PyAV).

Written to the APIs and NOT run here: the development machines have no GPU. Its tests cover
what can run without one (the CPU fallback, the choice in `decoders`); benchmarks/gpu_check.py
is the prepared check for a GPU machine. The content phase uses this module only where
`pixels.plan.plan_decoders` chose it (the ML backend runs on CUDA and the probes decoded)."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from photoanalyzer.pixels.geometry import (
    UPRIGHT,
    Decoded,
    ImageTooLarge,
    exif_orientation,
    fit_size,
)

NVJPEG, NVDEC = "nvjpeg", "nvdec"


def decode_jpegs(paths: list[str], longest_side: int, max_pixels: int) -> list[Decoded]:
    """JPEGs decoded in one nvJPEG call, each scaled on the GPU to `longest_side` (area
    averaging, as geometry's BOX resize) and turned upright by its EXIF orientation on the
    CPU. Raises what torchvision raises for the whole list: the caller decodes those files
    on the CPU instead."""
    import torch
    import torch.nn.functional as functional

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders for TorchCodec
        warnings.simplefilter("ignore")
        from torchvision.io import ImageReadMode, decode_jpeg

    headers = [_header(path, max_pixels) for path in paths]
    data = [
        torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8) for path in paths
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pictures = decode_jpeg(data, mode=ImageReadMode.RGB, device="cuda")
    decoded = []
    for picture, (size, orientation) in zip(pictures, headers, strict=True):
        height, width = picture.shape[1:]
        if max(width, height) > longest_side:
            new_width, new_height = fit_size((width, height), longest_side)
            scaled = functional.interpolate(
                picture[None].float(), size=(new_height, new_width), mode="area"
            )
            picture = scaled[0].round_().clamp_(0, 255).to(torch.uint8)
        rgb = Image.fromarray(picture.permute(1, 2, 0).contiguous().cpu().numpy())
        if orientation in UPRIGHT:
            rgb = rgb.transpose(UPRIGHT[orientation])
        decoded.append(Decoded(rgb, size, orientation if orientation in UPRIGHT else 1, NVJPEG))
    return decoded


def hevc_hwaccel():
    """PyAV's CUDA hwaccel for the HEVC decoder (NVDEC), with no silent software fallback:
    a stream NVDEC refuses raises, and pixels.heic falls back to the CPU decoder."""
    from av.codec.hwaccel import HWAccel

    return HWAccel(device_type="cuda", allow_software_fallback=False)


def _header(path: str, max_pixels: int) -> tuple[tuple[int, int], int]:
    with Image.open(path) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"image declares {width}x{height} pixels, over the cap of "
                f"{max_pixels / 1e6:.0f} MP (content.max_pixels); not decoded"
            )
        return (width, height), exif_orientation(image, header_only=True)
