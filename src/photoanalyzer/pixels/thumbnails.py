"""Thumbnails written atomically: a crash never leaves half a thumbnail under the final name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image


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
