"""The filter options of `search`, checked and turned into a catalog.FileFilter. A value that
cannot mean anything is a UsageError (exit 2) that names its option."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from photoanalyzer.catalog.people import person_number
from photoanalyzer.catalog.search_queries import FileFilter
from photoanalyzer.errors import UsageError
from photoanalyzer.outputs.labels import without_article

_DATE_FORMATS = ("%Y", "%Y-%m", "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_OBJECT = re.compile(r"^(?P<name>.*?)(?::(?P<count>[^:]*))?$")


@dataclass(frozen=True)
class FilterOptions:
    """The filter options as given on the command line."""

    after: str | None = None
    before: str | None = None
    cameras: Sequence[str] = ()
    lenses: Sequence[str] = ()
    folders: Sequence[str] = ()
    kinds: Sequence[str] = ()
    scenes: Sequence[str] = ()
    objects: Sequence[str] = ()
    near: Sequence[str] = ()
    places: Sequence[str] = ()
    has_gps: bool = False
    rating_min: float | None = None
    keywords: Sequence[str] = ()
    sharp: bool = False
    blurry: bool = False
    dark: bool = False
    overexposed: bool = False
    texts: Sequence[str] = ()  # --text values: words and "quoted phrases", all of them
    screenshots: bool | None = None  # --screenshots True, --no-screenshots False
    persons: Sequence[str] = ()  # --person values: names (any case) or person ids
    all_persons: bool = False  # --all-persons: every --person must be in the picture
    faces: str | None = None  # --faces N (at least N) or N-M (N to M)
    no_faces: bool = False
    known_scenes: Callable[[], Sequence[str]] = field(default=lambda: ())
    # (id, name) of every person: what --person names are resolved against
    known_persons: Callable[[], Sequence[tuple[int, str | None]]] = field(default=lambda: ())


def file_filter(options: FilterOptions) -> FileFilter:
    after = parse_date(options.after, "--after")
    before = parse_date(options.before, "--before")
    if after and before and after >= before:
        raise UsageError(f"--after ({options.after}) must be earlier than --before")
    return FileFilter(
        after=after,
        before=before,
        cameras=_texts(options.cameras, "--camera"),
        lenses=_texts(options.lenses, "--lens"),
        folders=tuple(_folder(path) for path in options.folders),
        kinds=tuple(options.kinds),
        scenes=_scenes(options.scenes, options.known_scenes),
        objects=tuple(parse_object(value) for value in options.objects),
        near=tuple(parse_near(value) for value in options.near),
        places=_texts(options.places, "--place"),
        has_gps=options.has_gps,
        rating_min=_rating(options.rating_min),
        keywords=_texts(options.keywords, "--keyword"),
        blurry=(*((False,) if options.sharp else ()), *((True,) if options.blurry else ())),
        exposure=(
            *(("underexposed",) if options.dark else ()),
            *(("overexposed",) if options.overexposed else ()),
        ),
        texts=tuple(term for value in options.texts for term in parse_text(value)),
        screenshots=() if options.screenshots is None else (options.screenshots,),
        persons=_persons(options.persons, options.known_persons),
        all_persons=options.all_persons,
        face_counts=_face_counts(options.faces, options.no_faces),
    )


_TEXT_TERM = re.compile(r'"([^"]*)"|(\S+)')


def parse_text(value: str) -> list[str]:
    """'RE16 "Main Street"' -> ['RE16', 'Main Street']: words and quoted phrases, each to be
    found somewhere in the photo's text (any case, any accents; a phrase keeps its spaces).
    An unclosed quote counts as a plain character."""
    terms = [m[1] if m[1] is not None else m[2] for m in _TEXT_TERM.finditer(value)]
    terms = [term.strip() for term in terms if term and term.strip()]
    if not terms:
        raise UsageError(f"--text: '{value}' holds no word to look for")
    return terms


def parse_date(value: str | None, option: str) -> str | None:
    """The start of the year, month, day or minute given, as taken_at is stored (naive
    local time, ISO 8601): '2023-07' -> '2023-07-01T00:00:00'."""
    if value is None:
        return None
    text = value.strip().replace(" ", "T")
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).isoformat(timespec="seconds")
        except ValueError:
            continue
    raise UsageError(
        f"{option}: '{value}' is not a date; give YYYY, YYYY-MM, YYYY-MM-DD or "
        "YYYY-MM-DDTHH:MM[:SS] (local time, as the camera's clock showed it)"
    )


def parse_object(value: str) -> tuple[str, int]:
    """'person' -> ('person', 1); 'dog:2' -> ('dog', 2)."""
    match = _OBJECT.match(value.strip())
    name, count = match["name"].strip(), match["count"]
    least = _whole(count, "--object", value) if count is not None else 1
    if not name or least < 1:
        raise UsageError(
            f"--object: '{value}' should be CLASS or CLASS:MIN_COUNT with a count of 1 or "
            "more, e.g. person or dog:2"
        )
    return name, least


def parse_near(value: str) -> tuple[float, float, float]:
    """'48.8584,2.2945,5' -> (48.8584, 2.2945, 5.0)."""
    parts = [part.strip() for part in value.split(",")]
    try:
        lat, lon, km = (float(part) for part in parts)
    except ValueError:
        lat = lon = km = float("nan")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km > 0):
        raise UsageError(
            f"--near: '{value}' should be LAT,LON,KM: latitude -90 to 90, longitude -180 to "
            "180 (decimal degrees, south and west negative) and a radius above 0 km, e.g. "
            "48.8584,2.2945,5"
        )
    return lat, lon, km


def _whole(text: str, option: str, value: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{option}: '{value}': '{text}' is not a whole number") from None


def _texts(values: Sequence[str], option: str) -> tuple[str, ...]:
    if any(not value.strip() for value in values):
        raise UsageError(f"{option} needs some text")
    return tuple(value.strip() for value in values)


def _folder(path: str) -> str:
    """Absolute, as the catalog stores paths, but not looked up on disk: a folder on a disk
    that is not mounted now still holds the files the catalog keeps for it."""
    if not path.strip():
        raise UsageError("--in needs a path")
    return os.path.abspath(os.path.expanduser(path))


def _scenes(values: Sequence[str], known: Callable[[], Sequence[str]]) -> tuple[str, ...]:
    """The labels as the catalog stores them that the values name in any letter case, with
    or without the label's article ("beach" for "a beach", as `xmp write` keywords it): the
    filter then compares stored text as it is, with no function called per file."""
    if not values:
        return ()
    stored = list(known())
    spelled: dict[str, list[str]] = {}
    shortened: dict[str, list[str]] = {}
    for label in stored:
        spelled.setdefault(label.casefold(), []).append(label)
        shortened.setdefault(without_article(label).casefold(), []).append(label)
    labels: list[str] = []
    for value in values:
        asked = value.strip().casefold()
        found = spelled.get(asked) or shortened.get(asked)  # the label itself first
        if not found:
            listed = ", ".join(sorted(stored)) or "none yet: run `photoanalyze run`"
            raise UsageError(f"--scene: '{value}' is not a scene label (labels: {listed})")
        labels.extend(found)
    return tuple(dict.fromkeys(labels))


def _rating(value: float | None) -> float | None:
    if value is not None and not -1 <= value <= 5:
        raise UsageError(f"--rating-min: {value:g} is not a rating (XMP ratings are -1 to 5)")
    return value


def _persons(
    values: Sequence[str], known: Callable[[], Sequence[tuple[int, str | None]]]
) -> tuple[tuple[int, ...], ...]:
    """Each --person as the ids of the persons it names: a person's number as `people` lists
    it (digits are a number there too), else a name in any case (every person with that
    name). An unknown name is an error that lists the names closest to it."""
    if not values:
        return ()
    persons = list(known())
    by_name: dict[str, list[int]] = {}
    for person_id, name in persons:
        if name:
            by_name.setdefault(name.casefold(), []).append(person_id)
    ids = {person_id for person_id, _ in persons}
    resolved = []
    for value in _texts(values, "--person"):
        number = person_number(value)  # None for a name, which no id equals
        found = [number] if number in ids else by_name.get(value.casefold())
        if not found:
            raise UsageError(_unknown_person(value, persons))
        resolved.append(tuple(found))
    return tuple(resolved)


def _unknown_person(value: str, persons: list[tuple[int, str | None]]) -> str:
    names = sorted({name for _, name in persons if name}, key=str.casefold)
    if not persons:
        return (
            f"--person: no person '{value}': the catalog has no persons yet (the faces phase "
            "finds them: `photoanalyze run --phases faces`; docs/people.md)"
        )
    if not names:
        return (
            f"--person: no person '{value}': no person has a name yet "
            '(`photoanalyze people` lists them, `photoanalyze people name ID "Name"` names one)'
        )
    folded = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(value.casefold(), list(folded), n=5, cutoff=0.5)
    # A part of a name ("anna" for "Anna Berg") is close too.
    close += [k for k in folded if value.casefold() in k.split() and k not in close]
    if close:
        return f"--person: no person '{value}'; did you mean: " + ", ".join(
            folded[k] for k in close
        )
    listed = ", ".join(names[:20]) + (f" (and {len(names) - 20} more)" if len(names) > 20 else "")
    return f"--person: no person '{value}'; named persons: {listed}"


_FACE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def _face_counts(value: str | None, no_faces: bool) -> tuple[tuple[int, int | None], ...]:
    """--faces N: at least N faces; N-M: N to M (2-2: exactly two); --no-faces: none."""
    if value is not None and no_faces:
        raise UsageError("--faces and --no-faces contradict each other: choose one")
    if no_faces:
        return ((0, 0),)
    if value is None:
        return ()
    match = _FACE_RANGE.match(value)
    least = int(match[1]) if match else -1
    most = int(match[2]) if match and match[2] is not None else None
    if not match or (most is not None and most < least):
        raise UsageError(
            f"--faces: '{value}' should be N (at least N faces, e.g. 2) or N-M (N to M faces, "
            "e.g. 1-3; 2-2 is exactly two)"
        )
    return ((least, most),)
