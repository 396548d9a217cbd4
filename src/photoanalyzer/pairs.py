"""RAW+JPEG pairs: a camera shooting RAW+JPEG writes IMG_0001.CR2 beside IMG_0001.JPG. Two
files are a pair when they are in the same folder, their names differ only in the extension
(compared without case: camera cards are FAT), one is a RAW and the other a JPEG (by
extension, as the scan knows files). `scan.raw_pairs` decides which of a pair the pixel
phases (content, ML) analyze; both keep their metadata."""

from __future__ import annotations

import os
from collections.abc import Iterable

from photoanalyzer.rawmeta import RAW_EXTENSIONS

JPEG_EXTENSIONS = frozenset({"jpg", "jpeg"})


def role(path: str) -> str | None:
    """'raw', 'jpeg', or None for a file that cannot be half of a pair."""
    extension = os.path.splitext(path)[1][1:].lower()
    if extension in RAW_EXTENSIONS:
        return "raw"
    return "jpeg" if extension in JPEG_EXTENSIONS else None


def find_pairs(paths: Iterable[str]) -> dict[str, str]:
    """path -> its sibling, both ways, for every pair among `paths`. Where a name has more
    than one RAW or JPEG (IMG_1.JPG and IMG_1.jpeg), the first by path of each is paired."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for path in paths:
        kind = role(path)
        if kind is not None:
            stem = os.path.splitext(path)[0]
            key = (os.path.dirname(stem), os.path.basename(stem).casefold())
            groups.setdefault(key, {}).setdefault(kind, []).append(path)
    pairs: dict[str, str] = {}
    for members in groups.values():
        if "raw" in members and "jpeg" in members:
            raw, jpeg = min(members["raw"]), min(members["jpeg"])
            pairs[raw], pairs[jpeg] = jpeg, raw
    return pairs


def skipped(paired: Iterable[tuple[int, str]], mode: str) -> set[int]:
    """The ids of the paired files (id, path) that the pixel phases leave out under `mode`
    (config.RAW_PAIR_MODES): the RAWs for jpeg-only, the JPEGs for raw-only."""
    left_out = {"jpeg-only": "raw", "raw-only": "jpeg"}.get(mode)
    return {file_id for file_id, path in paired if left_out and role(path) == left_out}
