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
from photoanalyzer.outputs.html_report.data import gather
from photoanalyzer.outputs.html_report.render import NotAReportFolder, Written, write_report

__all__ = ["NotAReportFolder", "Written", "build_report", "default_folder"]


def default_folder(catalog_path: Path) -> Path:
    """Where the report goes without --out: `report/` beside the catalog."""
    return catalog_path.absolute().parent / "report"


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
