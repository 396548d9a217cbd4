"""`photoanalyze report`: a static HTML report of the catalog, opened from disk (no server, no
network): an overview, near-duplicate groups with their pick, quality lists, scene and object
galleries, videos with their frames, problems and places. See docs/report.md.

    data.py     what the report shows, read from the catalog (the only part that reads it)
    render.py   the pages from that data, through templates/ (Jinja2, autoescaped), with
                static/ (CSS and the little JavaScript) copied beside them
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from photoanalyzer.catalog import Catalog
from photoanalyzer.config import beside_catalog
from photoanalyzer.outputs.html_report.data import gather
from photoanalyzer.outputs.html_report.render import (
    MARKER,
    NotAReportFolder,
    Written,
    write_report,
)

__all__ = ["NotAReportFolder", "Written", "build_report", "default_folder", "earlier_default"]


def default_folder(catalog_path: Path) -> Path:
    """Where the report goes without --out: `CATALOG-report/` beside the catalog
    (`photos.db-report/`), so two catalogs in one folder never write into each other's."""
    return beside_catalog(catalog_path.absolute(), "report")


def earlier_default(catalog_path: Path) -> Path | None:
    """The default folder before it was named after the catalog, `report/` beside it, where
    a report is there (its mark): left as it is, since another catalog beside this one may
    have written it; the command says where the report goes now."""
    folder = catalog_path.absolute().parent / "report"
    return folder if (folder / MARKER).is_file() else None


def build_report(
    catalog: Catalog,
    phases: Iterable[tuple[str, Iterable[str]]],
    distance: int,
    out: Path,
    thumbnail_dir: Path,
    portable: bool,
) -> Written:
    """Read the catalog, then write every page into `out`. No image is decoded: thumbnails
    come from the content phase's cache."""
    return write_report(gather(catalog, phases, distance), out, thumbnail_dir, portable)
