"""The HTML report's pages, served live: the same data (html_report.data.gather) and the same
templates, rendered one page per request and never written to disk. The data is gathered
again when the catalog changed (a run wrote to it: the catalog file or its write-ahead log
changed size or time), at most by one request at a time; thumbnails, face crops and links
point at the server's own addresses by id instead of files on disk."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.people import PersonCard
from photoanalyzer.outputs.html_report.data import ReportData, gather
from photoanalyzer.outputs.html_report.render import (
    STATIC,
    STATIC_FOLDER,
    environment,
    page_renderers,
)
from photoanalyzer.pathnames import readable

STATIC_TYPES = {"report.css": "text/css", "report.js": "text/javascript"}


class LiveReport:
    def __init__(
        self,
        catalog_path: Path,
        thumbnail_dir: Path,
        phases: Iterable[tuple[str, Iterable[str]]],
        distance: int,
        card_crop: Callable[[PersonCard], str | None],
    ):
        """`card_crop(card)`: the address of a person card's face crop (None: a
        placeholder)."""
        self.catalog_path, self.thumbnail_dir = catalog_path, thumbnail_dir
        self.card_crop = card_crop
        self.phases, self.distance = list(phases), distance
        self._lock = threading.Lock()
        self._state: tuple | None = None
        self._data: ReportData | None = None
        # One environment for the server's life (its templates compiled once); the catalog
        # its links look paths up in is the rendering thread's own.
        self._env = environment(
            thumb=self._thumb, link=self._link, live=True, face_crop=self._face_crop
        )
        self._rendering = threading.local()

    def page(self, name: str) -> str | None:
        """The page called `name` (index.html, duplicates-2.html, ...), or None where the
        report has no such page."""
        data = self._current()
        render = page_renderers(data, self._env).get(name)
        if render is None:
            return None
        self._rendering.catalog = Catalog(self.catalog_path, create=False)
        self._rendering.cards = {card.id: card for card in data.persons}
        try:
            return readable(render())
        finally:
            self._rendering.catalog.close()
            self._rendering.catalog = None
            self._rendering.cards = None

    @staticmethod
    def static(name: str) -> tuple[bytes, str] | None:
        """The report's CSS or script by its fixed name (no other name is looked up)."""
        if name not in STATIC:
            return None
        return (STATIC_FOLDER / name).read_bytes(), STATIC_TYPES[name]

    def _current(self) -> ReportData:
        with self._lock:
            state = _state(self.catalog_path)
            if self._data is None or state != self._state:
                catalog = Catalog(self.catalog_path, create=False)
                try:
                    self._data = gather(catalog, self.phases, self.distance)
                finally:
                    catalog.close()
                self._state = state
            return self._data

    def _thumb(self, key: str | None, file_id: int | None, frame: int | None = None):
        """The server's address of a thumbnail the cache still holds, else None (a
        placeholder, never a broken image)."""
        if not key or file_id is None or not os.path.isfile(self.thumbnail_dir / key):
            return None
        return f"/thumb/{file_id}" + (f"/{frame}" if frame is not None else "")

    def _face_crop(self, person_id: int) -> str | None:
        """The server's address of a person's face crop (/face/ID), else None."""
        card = self._rendering.cards.get(person_id)
        return self.card_crop(card) if card is not None else None

    def _link(self, path: str, file_id: int | None = None) -> str:
        """A photo's page on this server; a path the catalog does not hold (a scan problem)
        links nowhere."""
        if file_id is None:
            file_id = self._rendering.catalog.search.known(path)
        return f"/photo/{file_id}" if file_id is not None else "#"


def _state(catalog_path: Path) -> tuple:
    """What changes when anything writes to the catalog: the file and its write-ahead log."""
    parts = []
    for path in (catalog_path, catalog_path.with_name(catalog_path.name + "-wal")):
        try:
            info = os.stat(path)
            parts.append((info.st_size, info.st_mtime_ns))
        except OSError:
            parts.append(None)
    return tuple(parts)
