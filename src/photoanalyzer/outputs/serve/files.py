"""The only files serve hands out: thumbnails from the catalog's thumbnail folder and indexed
originals, each found by its file id in the catalog. No part of a request becomes a path:
the key or path comes from the catalog, and even then

- a thumbnail is read only where its real path (links resolved) lies inside the real
  thumbnail folder, so a link planted in the cache leads nowhere;
- an original is read only while it is the file the catalog indexed (the size and
  modification time the last run recorded) and its first bytes still say the type the
  metadata phase found, of a kind browsers show (JPEG, PNG, WebP, GIF, AVIF), which is the
  type it is served as (never sniffed by the browser: nosniff). A camera RAW or a HEIC is
  not served; its page shows the thumbnail."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from photoanalyzer.catalog.photo_queries import Original
from photoanalyzer.formats.filetypes import sniff

MAX_THUMBNAIL_BYTES = 16 * 2**20  # a thumbnail is tens of KB; anything this big is not one
CHUNK = 256 * 1024
# The metadata phase's file types that browsers display, and how they are served.
BROWSER_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "AVIF": "image/avif",
}
_HEAD = 64  # what filetypes.sniff reads


def read_thumbnail(folder: Path, key: str) -> bytes | None:
    """The thumbnail stored under `key` (from the catalog), or None where it is gone, is no
    regular file, or resolves outside `folder`."""
    root = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(root, key))
    if os.path.commonpath([root, target]) != root or target == root:
        return None
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_THUMBNAIL_BYTES:
            return None
        return file.read(MAX_THUMBNAIL_BYTES + 1)[:MAX_THUMBNAIL_BYTES]


@dataclass(frozen=True)
class OpenedOriginal:
    media_type: str
    size: int
    name: str
    chunks: Iterator[bytes]


def browser_type(original: Original) -> str | None:
    """The media type an original would be served as, or None where it never is."""
    return BROWSER_TYPES.get(original.file_type or "")


def open_original(original: Original) -> OpenedOriginal | None:
    """The indexed original, opened, when it is still the file the catalog describes and of
    a type browsers show; else None."""
    media_type = browser_type(original)
    if media_type is None:
        return None
    try:
        # Links are followed as the scan follows them (a linked photo is that photo); what
        # is opened must still be the file indexed, which the checks below make sure of.
        fd = os.open(original.path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    file = os.fdopen(fd, "rb")
    info = os.fstat(file.fileno())
    unchanged = (
        stat.S_ISREG(info.st_mode)
        and info.st_size == original.size
        and info.st_mtime_ns == original.mtime_ns
    )
    if not unchanged or sniff(file.read(_HEAD)) != original.file_type:
        file.close()
        return None
    file.seek(0)
    return OpenedOriginal(media_type, info.st_size, os.path.basename(original.path), _chunks(file))


def _chunks(file) -> Iterator[bytes]:
    """The file in pieces (an original may be tens of MB), closed at the end or when the
    client goes away (the generator is closed)."""
    with file:
        while block := file.read(CHUNK):
            yield block
