"""What the HTML report shows, read from the catalog in one pass: the same queries `status`
and `duplicates` use (file counts, phase summaries, runs, places, pHash groups with their
pick), and catalog.report's for the rest. Plain data; render.py turns it into pages."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from photoanalyzer.analysis import neardup
from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.people import PersonCard
from photoanalyzer.catalog.report_queries import QUALITY_LISTS
from photoanalyzer.ml import random_weights
from photoanalyzer.outputs.terminal import run_duration
from photoanalyzer.pathnames import shell_word

TOP = 10  # cameras, lenses, scenes and objects on the overview
RECENT_RUNS = 10


@dataclass(frozen=True)
class Member:
    """One photo of a near-duplicate group, with what the pick weighed."""

    file_id: int
    path: str
    thumbnail: str | None
    taken_at: str | None
    width: int
    height: int
    file_size: int
    sharpness: float
    distance: int  # pHash bits from the pick
    pick: bool
    missing: bool


@dataclass(frozen=True)
class DuplicateGroup:
    members: list[Member]  # the pick first
    reasons: list[str]  # why the pick won (neardup.pick)

    @property
    def others(self) -> list[str]:
        """The non-picks' paths, as the page's copy button gives them (a name that is not
        text as a shell word naming its bytes)."""
        return [shell_word(m.path) for m in self.members if not m.pick]


@dataclass(frozen=True)
class Tile:
    """A photo in a list or gallery: its thumbnail and the value it is listed by."""

    file_id: int
    path: str
    thumbnail: str | None
    value: float | None


@dataclass(frozen=True)
class TextCard:
    file_id: int
    path: str
    thumbnail: str | None
    lines: int
    first_words: str  # the start of its text, FIRST_WORDS words at most
    screenshot: bool


FIRST_WORDS = 12


def _text_cards(catalog: Catalog) -> list[TextCard]:
    cards = []
    for file_id, path, thumbnail, lines, text, screenshot in catalog.text.by_amount():
        words = text.split()
        first = " ".join(words[:FIRST_WORDS]) + (" …" if len(words) > FIRST_WORDS else "")
        cards.append(TextCard(file_id, path, thumbnail, lines, first, screenshot))
    return cards


@dataclass(frozen=True)
class ReportData:
    catalog: str
    generated_at: str
    files: dict[str, dict[str, int]]  # kind -> present / missing
    phases: dict[str, dict[str, Any]]  # as Queries.phase_summary gives them
    runs: list[dict[str, Any]]  # newest first, with duration_seconds
    places: dict[str, Any]  # as Queries.place_counts gives them
    random_weights: list[str]  # one warning per model whose random weights made results
    months: list[tuple[str, int]]
    cameras: list[tuple[str, int]]
    lenses: list[tuple[str, int]]
    scenes: list[tuple[str, int]]
    objects: list[tuple[str, int]]
    distance: int  # pHash bits near-duplicates may differ in
    compared: int  # photos with a pHash
    groups: list[DuplicateGroup]
    quality: dict[str, list[Tile]]  # QUALITY_LISTS name -> most severe first
    scene_gallery: dict[str, list[Tile]]  # label -> best score first
    object_gallery: dict[str, list[Tile]]
    videos: list[dict[str, Any]]  # as catalog.report.videos gives them
    problems: list[tuple[str, str, str]]  # (phase, message, path), sorted
    # Files with text, most first: path, thumbnail, lines, first words, screenshot
    text: list[TextCard] = ()  # type: ignore[assignment]
    # The faces phase's persons (People page), each person's photos, and the names of the
    # named persons each photo shows (on every photo card)
    persons: list[PersonCard] = ()  # type: ignore[assignment]
    person_photos: dict[int, list[Tile]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)

    @functools.cached_property
    def first_words(self) -> dict[str, str]:
        """path -> the first words of its text, for every photo card of every page (the
        galleries, quality lists and duplicate groups too, not only the Text page)."""
        return {card.path: card.first_words for card in self.text}


def gather(catalog: Catalog, phases: Iterable[tuple[str, Iterable[str]]], distance: int):
    """Everything the report shows. `phases`: (name, kinds) of each phase, for its summary."""
    queries, report = catalog.queries, catalog.report
    candidates = neardup.candidates_from_rows(queries.near_duplicate_candidates())
    groups = neardup.find_groups(candidates, distance)
    return ReportData(
        catalog=str(catalog.path),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        files=queries.file_counts(),
        phases={name: queries.phase_summary(name, kinds) for name, kinds in phases},
        runs=[
            {**run, "duration_seconds": run_duration(run)}
            for run in catalog.runs.recent(RECENT_RUNS)
        ],
        places=queries.place_counts(),
        text=_text_cards(catalog),
        random_weights=random_weights_warnings(report.random_weights_files()),
        months=report.months(),
        cameras=report.top_cameras(TOP),
        lenses=report.top_lenses(TOP),
        scenes=report.scene_counts(),
        objects=report.object_counts(),
        distance=distance,
        compared=len(candidates),
        groups=_groups(report, groups),
        quality={name: [Tile(*row) for row in report.quality(name)] for name in QUALITY_LISTS},
        scene_gallery=_by_label(report.scene_gallery()),
        object_gallery=_by_label(report.object_gallery()),
        videos=report.videos(),
        problems=report.problems(),
        persons=catalog.people.person_cards(),
        person_photos=_person_photos(catalog),
        names=catalog.people.names_by_path(),
    )


def _person_photos(catalog: Catalog) -> dict[int, list[Tile]]:
    photos: dict[int, list[Tile]] = {}
    for person, file_id, path, thumbnail, _ in catalog.people.photos_of_persons():
        photos.setdefault(person, []).append(Tile(file_id, path, thumbnail, None))
    return photos


def random_weights_warnings(files: dict[str, int]) -> list[str]:
    """Per model whose random weights made some current result, how many files and what of
    theirs is meaningless: "3 files have results made with RANDOM CLIP weights ...: their
    scenes, embeddings and search scores are meaningless"."""
    return [
        f"{n} {'file has' if n == 1 else 'files have'} results made with "
        f"{random_weights.weights_named([model])} (configured for testing): their "
        f"{random_weights.meaningless([model])} are meaningless."
        for model, n in files.items()
    ]


def _groups(report, groups: list[neardup.Group]) -> list[DuplicateGroup]:
    facts = report.member_facts(m.file_id for g in groups for m in g.members)
    return [
        DuplicateGroup(
            [
                Member(
                    file_id=m.file_id,
                    path=m.path,
                    thumbnail=facts.get(m.file_id, (None, None))[0],
                    taken_at=facts.get(m.file_id, (None, None))[1],
                    width=m.width,
                    height=m.height,
                    file_size=m.file_size,
                    sharpness=m.sharpness,
                    distance=(m.phash ^ g.best.phash).bit_count(),
                    pick=m is g.best,
                    missing=m.missing,
                )
                for m in g.members
            ],
            g.reasons,
        )
        for g in groups
    ]


def _by_label(rows) -> dict[str, list[Tile]]:
    """(label, file id, path, thumbnail, value) rows, already in order -> label -> tiles."""
    gallery: dict[str, list[Tile]] = {}
    for label, file_id, path, thumbnail, value in rows:
        gallery.setdefault(label, []).append(Tile(file_id, path, thumbnail, value))
    return gallery
