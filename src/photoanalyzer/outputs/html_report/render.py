"""Pages of the HTML report from ReportData, through the Jinja2 templates beside this module
(autoescaped: every path and label is escaped where it lands, in text or in an attribute).

Thumbnails are linked by relative path from the report folder to the thumbnail cache, or with
`portable` copied into the report's thumbs/ folder (only those not already there: an
unchanged catalog re-renders without copying). A photo with no thumbnail, or whose cached
thumbnail is gone, gets a placeholder box, never a broken image. Long lists are split into
pages of PAGE_SIZE (near-duplicate groups: GROUPS_PER_PAGE). Links to originals carry the
name's exact bytes (percent-encoded), so they open a file whose name is not valid UTF-8; its
text on the page is readable (pathnames.py)."""

from __future__ import annotations

import functools
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from pathlib import Path
from urllib.parse import quote

import jinja2

from photoanalyzer.library.ownpaths import REPORT_MARKER
from photoanalyzer.outputs.html_report.data import ReportData
from photoanalyzer.outputs.html_report.faces import face_crops
from photoanalyzer.pathnames import readable

PAGE_SIZE = 300
GROUPS_PER_PAGE = 200
VIDEOS_PER_PAGE = 100
PROBLEMS_PER_PAGE = 1000
# Written into every report folder: a folder that holds files but not this one is not a
# report, and is never written into (old pages of a report are removed on re-rendering).
MARKER = REPORT_MARKER  # and a walk never indexes what is below it (ownpaths.py)
STATIC = ("report.css", "report.js")
STATIC_FOLDER = Path(__file__).parent / "static"
QUALITY_TITLES = {
    "blurry": ("Blurry", "sharpness (variance of the Laplacian; lower is blurrier)", "{:.0f}"),
    "dark": ("Too dark", "mean brightness, 0 to 255", "{:.0f}"),
    "washed_out": ("Washed out", "share of clipped highlights", "{:.1%}"),
}
QUALITY_PAGES = {"blurry": "blurry", "dark": "dark", "washed_out": "washed-out"}


class NotAReportFolder(Exception):
    pass


@dataclass(frozen=True)
class Written:
    index: Path
    pages: int
    largest_page_bytes: int
    thumbnails_copied: int


class Thumbnails:
    """Thumbnail cache key -> URL relative to the report folder, or None for a placeholder."""

    def __init__(self, cache: Path, out: Path, portable: bool):
        self.cache, self.out, self.portable = cache, out, portable
        self.copied = 0
        self._urls: dict[str, str | None] = {}
        # Worked out once: a report of 100,000 photos resolves as many keys.
        self._cache_text, self._out_text = str(cache), str(out)
        self._relative = Path(os.path.relpath(cache, out)).as_posix()

    def url(self, key: str | None) -> str | None:
        if not key:
            return None
        if key not in self._urls:
            self._urls[key] = self._resolve(key)
        return self._urls[key]

    def _resolve(self, key: str) -> str | None:
        # os calls rather than pathlib: up to three per photo, 100,000 photos.
        source = os.path.join(self._cache_text, key)
        try:
            size = os.stat(source).st_size
        except OSError:
            return None  # never written, or deleted from the cache: a placeholder
        if not self.portable:
            return quote(f"{self._relative}/{key}")
        target = os.path.join(self._out_text, "thumbs", key)
        try:
            there = os.stat(target).st_size == size
        except OSError:
            there = False
        if not there:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
            self.copied += 1
        return quote(f"thumbs/{key}")


def write_report(data: ReportData, out: Path, thumbnail_dir: Path, portable: bool) -> Written:
    """Render every page into `out` (created where needed); pages an earlier rendering wrote
    that this one does not are removed. Raises NotAReportFolder for a folder that holds files
    but is not a report."""
    out = out.absolute()
    _claim(out)
    thumbs = Thumbnails(thumbnail_dir.absolute(), out, portable)
    env = environment(
        thumb=lambda key, file_id=None, frame=None: thumbs.url(key),
        link=lambda path, file_id=None: file_uri(path),
        face_crop=face_crops(data.persons, thumbnail_dir.absolute(), out).get,
    )
    pages = {name: readable(render()) for name, render in page_renderers(data, env).items()}
    for name in STATIC:
        (out / name).write_bytes((STATIC_FOLDER / name).read_bytes())
    for name, html in pages.items():
        (out / name).write_text(html, encoding="utf-8")
    for old in out.glob("*.html"):
        if old.name not in pages:
            old.unlink()
    return Written(
        index=out / "index.html",
        pages=len(pages),
        largest_page_bytes=max(len(html.encode()) for html in pages.values()),
        thumbnails_copied=thumbs.copied,
    )


def _claim(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise NotAReportFolder(
            f"{out} holds files but is not a photoanalyze report folder; choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `photoanalyze report`; safe to delete\n")


def environment(
    thumb: Callable[..., str | None],
    link: Callable[..., str],
    live: bool = False,
    face_crop: Callable[[int], str | None] = lambda person_id: None,
) -> jinja2.Environment:
    """The templates' environment. `thumb(key, file_id, frame=None)` gives a thumbnail's URL
    (None: a placeholder), `link(path, file_id=None)` where a photo links to: the static
    report uses the key and the path (file:// URLs), serve the file id (its own pages).
    `face_crop(person_id)` is the URL of a person's face picture (None: a placeholder); the
    static report cuts them into its folder, serve serves them by face id (/face/ID)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("photoanalyzer.outputs.html_report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(thumb=thumb, link=link, live=live, face_crop=face_crop)
    env.filters["name"] = os.path.basename
    env.filters["bytes"] = _bytes
    env.filters["grouped"] = lambda rows: [
        (key, [row[2] for row in group]) for key, group in groupby(rows, key=lambda r: r[:2])
    ]
    return env


@functools.lru_cache(maxsize=200_000)  # a photo is on several pages (scene, objects, quality)
def file_uri(path: str) -> str:
    """The file:// URL of an absolute path, every character that needs it percent-encoded
    (what Path.as_uri gives, at a fraction of its cost on POSIX paths)."""
    if os.name == "posix" and path.startswith("/"):
        return "file://" + quote(os.fsencode(path))
    return Path(path).as_uri()


def _bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def page_name(base: str, number: int) -> str:
    """'duplicates.html', 'duplicates-2.html', ..."""
    return f"{base}.html" if number == 1 else f"{base}-{number}.html"


def _split(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _render(env: jinja2.Environment, template: str, **context) -> str:
    return env.get_template(template).render(**context)


def _paged(pages: dict, env, template: str, base: str, items: list, size: int, **context):
    """Adds each page of `items`, with links to the others, to `pages`."""
    chunks = _split(items, size)
    for number, chunk in enumerate(chunks, 1):
        pager = {
            "number": number,
            "count": len(chunks),
            "names": [page_name(base, n) for n in range(1, len(chunks) + 1)],
            "first": (number - 1) * size,
            "total": len(items),
        }
        pages[page_name(base, number)] = partial(
            _render, env, template, items=chunk, pager=pager, **context
        )


def page_renderers(data: ReportData, env: jinja2.Environment) -> dict[str, Callable[[], str]]:
    """File name -> a function that renders that page: `report` renders them all, serve the
    one a request asks for."""
    common = {
        "data": data,
        "quality_pages": QUALITY_PAGES,
        "quality_titles": QUALITY_TITLES,
        # The persons' names on a photo's card (tiles.html), by path.
        "names_of": lambda path: data.names.get(path, ()),
    }
    pages: dict[str, Callable[[], str]] = {
        "index.html": partial(
            _render, env, "overview.html", chart=bar_chart(data.months), page="overview",
            **common,
        )
    }  # fmt: skip
    _paged(
        pages, env, "duplicates.html", "duplicates", data.groups, GROUPS_PER_PAGE,
        page="duplicates", **common,
    )  # fmt: skip
    for name, base in QUALITY_PAGES.items():
        _paged(
            pages, env, "quality.html", base, data.quality[name], PAGE_SIZE,
            page="quality", measure=name, **common,
        )  # fmt: skip
    for kind, gallery, counts in (
        ("scene", data.scene_gallery, data.scenes),
        ("object", data.object_gallery, data.objects),
    ):
        labels = [(label, n, f"{kind}-{i + 1:03d}") for i, (label, n) in enumerate(counts)]
        pages[f"{kind}s.html"] = partial(
            _render, env, "labels.html", kind=kind, labels=labels, page=f"{kind}s", **common
        )
        for label, _, base in labels:
            _paged(
                pages, env, "gallery.html", base, gallery.get(label, []), PAGE_SIZE,
                kind=kind, label=label, page=f"{kind}s", **common,
            )  # fmt: skip
    _paged(
        pages, env, "videos.html", "videos", data.videos, VIDEOS_PER_PAGE, page="videos",
        **common,
    )  # fmt: skip
    _paged(
        pages, env, "problems.html", "problems", data.problems, PROBLEMS_PER_PAGE,
        page="problems", problem_counts=Counter(row[:2] for row in data.problems), **common,
    )  # fmt: skip
    pages["places.html"] = partial(_render, env, "places.html", page="places", **common)
    _paged(pages, env, "text.html", "text", list(data.text), PAGE_SIZE, page="text", **common)
    pages["people.html"] = partial(_render, env, "people.html", page="people", **common)
    for person in data.persons:
        _paged(
            pages, env, "person.html", f"person-{person.id}",
            data.person_photos.get(person.id, []), PAGE_SIZE,
            page="people", person=person, **common,
        )  # fmt: skip
    return pages


def bar_chart(months: list[tuple[str, int]], height: int = 120, bar: int = 14) -> dict:
    """Geometry of the photos-per-month chart: one bar per month from the first to the last
    (months without photos included, so the time axis is even), years labelled."""
    if not months:
        return {"bars": [], "width": 0, "height": height, "years": []}
    counts = dict(months)
    first, last = months[0][0], months[-1][0]
    year, month = int(first[:4]), int(first[5:7])
    bars, years = [], []
    peak = max(counts.values())
    while f"{year:04d}-{month:02d}" <= last:
        key = f"{year:04d}-{month:02d}"
        n = counts.get(key, 0)
        x = len(bars) * bar
        h = round(n / peak * (height - 20)) if n else 0
        bars.append({"x": x, "y": height - 16 - h, "h": h, "label": key, "n": n})
        if month == 1 or not years:
            years.append({"x": x, "label": str(year)})
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return {"bars": bars, "width": len(bars) * bar, "height": height, "years": years, "bar": bar}
