"""The files and folders photoanalyzer keeps for a catalog, in one list, so that a walk never
takes them for the library: a catalog kept inside the library (`run lib --db lib/pa.db`)
would otherwise index its own thumbnails, and their thumbnails on the next run, and so on.

Two ways to know them: by name, from the catalog's path (`own_paths`: the catalog and
SQLite's files beside it, the run lock, the thumbnail folders, the search matrix folder);
and by a mark in the folder itself, for folders that can be anywhere: a report folder
(`report --out DIR`, with its `--portable` copies of thumbnails) holds REPORT_MARKER, and a
thumbnail folder holds a CACHEDIR.TAG (https://bford.info/cachedir/, which backup tools
skip too), so another catalog's thumbnails inside this library are left out as well.

Light on purpose (no numpy, no jinja2): every run imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

from photoanalyzer.config import (
    Config,
    beside_catalog,
    legacy_beside_catalog,
    resolve_thumbnail_dir,
)
from photoanalyzer.library.locking import lock_path

REPORT_MARKER = ".photoanalyze-report"
CACHE_TAG = "CACHEDIR.TAG"
CACHE_TAG_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"
_CACHE_TAG_TEXT = (
    CACHE_TAG_SIGNATURE + b"\n# This folder holds thumbnails made by photoanalyze (photoanalyzer)."
    b"\n# They are made again when deleted. For information about cache folder tags, see"
    b" https://bford.info/cachedir/\n"
)
# SQLite's files beside a catalog: the write-ahead log, its index, a rollback journal.
_SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")


def matrix_folder(catalog_path: Path) -> Path:
    """Where search keeps the catalog's embedding matrix (outputs/search/matrix.py)."""
    return beside_catalog(catalog_path, "search")


def own_paths(catalog_path: Path, config: Config) -> list[Path]:
    """Every file and folder photoanalyzer writes for the catalog at `catalog_path`, whether
    or not it exists yet: the catalog, SQLite's files beside it, the run lock, the search
    matrix folder, and the thumbnail folder: the configured one, else the one beside the
    catalog (where `--db` puts it) and the XDG cache one (where it goes without), both, since
    which one a command uses depends on how it was given the catalog. Report folders are not
    here: `report --out` puts them anywhere, and they are known by REPORT_MARKER."""
    catalog_path = catalog_path.absolute()
    sqlite = [catalog_path.with_name(catalog_path.name + s) for s in _SQLITE_SUFFIXES]
    thumbnails = {resolve_thumbnail_dir(config, catalog_path, given) for given in (True, False)}
    return [
        catalog_path,
        *sqlite,
        lock_path(catalog_path),
        matrix_folder(catalog_path),
        *sorted(thumbnails),
        # the names these folders had before issue 24 (config.legacy_beside_catalog): an old
        # catalog's, kept or left over until its next run moves or tidies them
        *(legacy_beside_catalog(catalog_path, purpose) for purpose in ("search", "thumbnails")),
    ]


def is_marked_own(folder: str, names: set[str]) -> bool:
    """Whether the folder whose entry names are `names` is one photoanalyzer made: a report
    folder, or a cache folder with a valid CACHEDIR.TAG. Reads a file only where one of
    those names is present."""
    if REPORT_MARKER in names:
        return True
    if CACHE_TAG not in names:
        return False
    try:
        with open(os.path.join(folder, CACHE_TAG), "rb") as tag:
            return tag.read(len(CACHE_TAG_SIGNATURE)) == CACHE_TAG_SIGNATURE
    except OSError:
        return False


def tag_cache_folder(folder: Path) -> None:
    """Mark a folder of derived files (thumbnails) with a CACHEDIR.TAG, once: any walk, ours
    or a backup tool's, can then tell it is not a photo folder, wherever it is."""
    tag = folder / CACHE_TAG
    if tag.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{CACHE_TAG}.{os.getpid()}.part"
    partial.write_bytes(_CACHE_TAG_TEXT)
    os.replace(partial, tag)  # never a half-written tag, with two runs at once
