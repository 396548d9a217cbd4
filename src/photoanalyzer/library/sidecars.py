"""Where a photo's XMP sidecar is, and the short signature of it that the folder walk keeps
with the file, so that editing, adding or deleting a sidecar makes the photo's metadata
pending again (a sidecar is part of the photo's metadata, not a file of its own).

Names, in the order they are looked for (the order Immich prefers them): `photo.jpg.xmp`
(darktable, digiKam's default), then `photo.xmp` (Lightroom, digiKam's "commercial programs"
option). Each in lower case first, then `.XMP`."""

from __future__ import annotations

import os
import stat
from collections.abc import Container

from photoanalyzer.formats.bounded import read_at_most

SUFFIXES = (".xmp", ".XMP")
# Read at most this much of a sidecar: more than the XMP reader accepts (it says so). Cut at
# the sidecar's size: a plain read(READ_LIMIT) would allocate all of it for every sidecar.
READ_LIMIT = 16 * 1024 * 1024 + 1


def candidate_names(name: str) -> list[str]:
    """The sidecar names for the file `name` (a base name or a path), in precedence order."""
    stem = os.path.splitext(name)[0]
    names = [name + suffix for suffix in SUFFIXES]
    if stem and stem != name:
        names += [stem + suffix for suffix in SUFFIXES]
    return names


def is_sidecar_name(name: str) -> bool:
    return name.endswith(SUFFIXES)


def signature_in(folder: str, name: str, sidecar_names: Container[str]) -> str:
    """The signature of the sidecar of `folder/name`, given the sidecar names a listing of the
    folder holds (so a folder without sidecars costs no system call); "" when there is none."""
    for candidate in candidate_names(name):
        if candidate in sidecar_names:
            found = _signature(os.path.join(folder, candidate))
            if found:
                return found
    return ""


def signature(path: str) -> str:
    """The signature of the sidecar of the file at `path`, looked up with one stat a name."""
    for candidate in candidate_names(path):
        found = _signature(candidate)
        if found:
            return found
    return ""


def _signature(path: str) -> str:
    """`name:size:mtime_ns` of a regular file, "" when there is none at `path`. A sidecar we
    cannot stat (permission) is treated as absent: the metadata phase will say why it could
    not read it if it can see it at all."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if not stat.S_ISREG(st.st_mode):
        return ""
    return f"{os.path.basename(path)}:{st.st_size}:{st.st_mtime_ns}"


def read(path: str) -> tuple[str, bytes] | None:
    """(sidecar path, its bytes) for the file at `path`, the first name that exists; None when
    it has none. Errors other than absence (permission, I/O) are raised: they are the file's
    environment, and the caller decides."""
    for candidate in candidate_names(path):
        try:
            with open(candidate, "rb") as fh:
                return candidate, read_at_most(fh, 0, READ_LIMIT)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
    return None
