"""Walk folders and list the photo and video files in them. Reads directory entries only:
no file is opened here. Problems (an unreadable folder, a dangling link, a loop) are
returned as ScanProblem records so the walk goes on. The catalog's own files and folders
(ownpaths.py: thumbnails, search matrix, reports, the catalog and its lock) are never
listed, wherever they are."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from photoanalyzer.config import ScanConfig
from photoanalyzer.library import sidecars
from photoanalyzer.library.ownpaths import is_marked_own


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute, as reached from the root (symlinks are not resolved)
    size: int
    mtime_ns: int
    kind: str  # "photo" or "video"
    # `name:size:mtime_ns` of its XMP sidecar (sidecars.py), "" without one: a sidecar that
    # appears, changes or goes makes the file's metadata pending again.
    sidecar: str = ""


@dataclass(frozen=True)
class ScanProblem:
    path: str
    message: str


@dataclass
class ScanResult:
    """Everything a walk found. `incomplete` lists folders whose contents are unknown, so
    that files the catalog knows below them are not taken for missing."""

    files: list[FileEntry]
    problems: list[ScanProblem]
    incomplete: list[str]
    # Folders left out as photoanalyzer's own (ownpaths.py): files the catalog knows below
    # them were indexed by an older version and are forgotten (reconcile.py).
    own: list[str] = field(default_factory=list)


def kinds_by_extension(config: ScanConfig) -> dict[str, str]:
    kinds = {ext.lower().lstrip("."): "video" for ext in config.video_extensions}
    kinds.update({ext.lower().lstrip("."): "photo" for ext in config.photo_extensions})
    return kinds


def is_hidden(name: str) -> bool:
    # Dot files cover macOS "._*" resource forks, .DS_Store, .thumbnails and the like.
    return name.startswith(".")


def scan(roots: list[str], config: ScanConfig, own: Iterable[Path] = ()) -> ScanResult:
    """Walk `roots`. `own`: the catalog's own paths (ownpaths.own_paths), never listed;
    they are compared by device and inode, so a link or another spelling of the path does
    not let them in."""
    own = list(own)
    result = ScanResult(files=[], problems=[], incomplete=[])
    kinds = kinds_by_extension(config)
    visited: set[tuple[int, int]] = set()
    owned = _identities(own)
    for root in roots:
        root_path = os.path.abspath(root)
        try:
            st = os.stat(root_path)
        except OSError as exc:
            result.problems.append(ScanProblem(root_path, _describe(exc)))
            result.incomplete.append(root_path)
            continue
        if (st.st_dev, st.st_ino) in owned:
            result.own.append(root_path)
        elif stat.S_ISDIR(st.st_mode):
            _walk(root_path, config, kinds, visited, owned, result)
        elif (kind := kinds.get(_extension(root_path))) is not None:
            entry = FileEntry(
                root_path, st.st_size, st.st_mtime_ns, kind, sidecars.signature(root_path)
            )
            result.files.append(entry)
        else:
            result.problems.append(ScanProblem(root_path, "not a folder or a supported file"))
    # Roots may overlap (a file inside a given folder, a root given twice as a path, not as a
    # folder, which `visited` already skips): the catalog holds each path once.
    result.files = _unique(result.files)
    # Under their own names too, present or not: an old catalog's thumbnail folder that `run`
    # renamed before this walk (config.legacy_beside_catalog) left rows that are forgotten,
    # not missing.
    result.own.extend(str(path) for path in own if str(path) not in result.own)
    return result


def _identities(paths: Iterable[Path]) -> set[tuple[int, int]]:
    """(device, inode) of each path that exists."""
    found = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return found


def _unique(files: list[FileEntry]) -> list[FileEntry]:
    seen: set[str] = set()
    return [f for f in files if not (f.path in seen or seen.add(f.path))]


def _walk(
    top: str,
    config: ScanConfig,
    kinds: dict[str, str],
    visited: set[tuple[int, int]],
    owned: set[tuple[int, int]],
    result: ScanResult,
) -> None:
    # An explicit stack instead of recursion: deep trees cannot exhaust Python's stack.
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            identity = (st.st_dev, st.st_ino)
            if identity in owned:  # under every spelling, so that reconcile forgets them all
                result.own.append(folder)
                continue
            if identity in visited:
                continue  # a symlink loop, or a folder reached twice through links
            visited.add(identity)
            with os.scandir(folder) as entries:
                listing = list(entries)
        except OSError as exc:
            result.problems.append(ScanProblem(folder, f"cannot read folder: {_describe(exc)}"))
            result.incomplete.append(folder)
            continue
        if is_marked_own(folder, {entry.name for entry in listing}):
            result.own.append(folder)
            continue
        subfolders = []
        # Sidecars are not files of the catalog: their names only, for the photos' signatures.
        xmp_names = {e.name for e in listing if sidecars.is_sidecar_name(e.name)}
        for entry in listing:
            if is_hidden(entry.name):
                continue
            subfolder = _visit(entry, config, kinds, owned, result, xmp_names)
            if subfolder:
                subfolders.append(subfolder)
        # Reversed so that the stack pops folders in name order, for a stable walk.
        stack.extend(sorted(subfolders, reverse=True))


def _visit(
    entry: os.DirEntry,
    config: ScanConfig,
    kinds: dict[str, str],
    owned: set[tuple[int, int]],
    result: ScanResult,
    xmp_names: set[str],
) -> str | None:
    """Record a file entry; return the path when it is a folder to descend into."""
    try:
        is_link = entry.is_symlink()
        if entry.is_dir(follow_symlinks=False):
            return entry.path
        kind = kinds.get(_extension(entry.name))
        if kind is None and not is_link:
            return None
        st = entry.stat(follow_symlinks=True)  # a link to a file counts as that file
    except FileNotFoundError:
        result.problems.append(ScanProblem(entry.path, "broken symlink: its target does not exist"))
        return None
    except OSError as exc:
        result.problems.append(ScanProblem(entry.path, _describe(exc)))
        return None
    if stat.S_ISDIR(st.st_mode):
        return entry.path if config.follow_symlinked_folders else None
    if kind is not None and stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in owned:
        sidecar = (
            sidecars.signature_in(os.path.dirname(entry.path), entry.name, xmp_names)
            if xmp_names
            else ""
        )
        result.files.append(FileEntry(entry.path, st.st_size, st.st_mtime_ns, kind, sidecar))
    return None


def _extension(name: str) -> str:
    return os.path.splitext(name)[1][1:].lower()


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop (too many levels of symbolic links)"
    return exc.strerror or str(exc)
