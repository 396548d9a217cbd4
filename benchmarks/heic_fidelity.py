"""How close the content phase's pictures of phone HEIC are to references, in PSNR (dB).

    python benchmarks/heic_fidelity.py [--side 640] [--side 320] [--source FILE ...]

Per source (by default the corpus's iPhone XR and Nokia 8.3 photos), at each thumbnail side:

  resize        geometry.reduce_to_fit (box reduce by a power of two, then BOX), Pillow's own
                reducing gap (box reduce by Pillow's factor, then BOX) and a gap of 1 (box
                reduce by the largest power of two, then a BOX step under 2), each against
                a plain area average (BOX over the whole decode, no reduce first), all from
                pillow-heif's full decode
  FFmpeg path   heif_decode's picture (planes reduced before the conversion, for phone tiles)
                against the same file converted at full size by heif_decode and then
                reduced, and both against pillow-heif's full decode reduced by reduce_to_fit
                (the agreement tests/test_heif_decode.py asks to stay above 40 dB)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from gpu_check import psnr
from photoanalyzer.pixels import heic as heif_decode
from photoanalyzer.pixels.geometry import fit_size, reduce_to_fit, to_rgb
from photoanalyzer.pixels.load import ensure_heif_support

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "images" / "exif-samples"
SOURCES = (CORPUS / "heic" / "IMG_5195.HEIC", CORPUS / "heic" / "mobile" / "HMD_Nokia_8.3_5G.heif")


def measure(source: Path, side: int) -> str:
    with Image.open(source) as image:
        decoded = to_rgb(image)
    size = fit_size(decoded.size, side)
    area = decoded.resize(size, Image.Resampling.BOX)
    ours = reduce_to_fit(decoded, side)
    pillows = decoded.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    gap_one = _reduced_by_gap_one(decoded, size)
    fast = heif_decode.decode(str(source), 1, longest_side=side)
    full = to_rgb(reduce_to_fit(heif_decode.decode(str(source), 1).image, side))
    return (
        f"{source.name} at {side} px: reduce_to_fit {psnr(ours, area):.1f}, Pillow's gap "
        f"{psnr(pillows, area):.1f}, gap of 1 {psnr(gap_one, area):.1f} from the area average; "
        f"FFmpeg picture ({fast.reduced_in}) "
        f"{psnr(fast.image, full):.1f} from the full-size conversion; against pillow-heif: "
        f"FFmpeg picture {psnr(fast.image, ours):.1f}, full-size conversion "
        f"{psnr(full, ours):.1f}"
    )


def _reduced_by_gap_one(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    factors = [
        1 << ((side // fit).bit_length() - 1) for side, fit in zip(image.size, size, strict=True)
    ]
    box = (0, 0, image.width / factors[0], image.height / factors[1])
    return image.reduce(tuple(factors)).resize(size, Image.Resampling.BOX, box=box)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, action="append", help="thumbnail sides (640)")
    parser.add_argument("--source", type=Path, action="append", help="HEIC files")
    args = parser.parse_args()
    ensure_heif_support()
    for source in args.source or SOURCES:
        for side in args.side or [640]:
            print(measure(source, side))


if __name__ == "__main__":
    main()
