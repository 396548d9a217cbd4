"""The search page's query string -> a SearchRequest for outputs/search/, so the web page
has exactly the query language and the filters of `photoanalyze search`: each parameter is
named after its option (`after` for --after, `object` for --object, ...), a repeated one
means what the repeated option means ("any of"; "all of" for `text`), and a bad value is the
same UsageError, naming the option. Nothing here opens a path: the words come from a
stranger (words_read_disk=False), and the examples are a file id of the catalog or an upload
the server encoded itself."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from photoanalyzer.errors import UsageError
from photoanalyzer.outputs.search.engine import SearchRequest
from photoanalyzer.outputs.search.filters import FilterOptions
from photoanalyzer.outputs.search.query import Term

DEFAULT_TOP = 60
MAX_TOP = 500  # a page of thumbnails, not the whole library
MAX_QUERY_CHARS = 1000
# Repeatable text filters: query parameter -> FilterOptions field.
_MANY = {
    "camera": "cameras", "lens": "lenses", "in": "folders", "kind": "kinds",
    "scene": "scenes", "object": "objects", "near": "near", "place": "places",
    "keyword": "keywords", "text": "texts", "person": "persons",
}  # fmt: skip
_FLAGS = ("has_gps", "sharp", "blurry", "dark", "overexposed", "all_persons", "no_faces")
# `screenshots`: --screenshots (1) or --no-screenshots (0); empty or absent: either.
_SCREENSHOTS = {"1": True, "0": False, "": None}
# `a dog + 2:snow - car`: a sign stands alone between spaces, as it does on the command line.
_SIGN = re.compile(r"(?:^|\s+)([+-])\s+")


@dataclass(frozen=True)
class Examples:
    """What the page found the example terms from: "more like this" by file id (its
    indexed path) and an upload (its encoded vector), each looked up by the caller."""

    like_path: Callable[[int], str | None]
    upload: Callable[[str], Term | None]


def query_words(text: str) -> list[str]:
    """The search box's text as the words `search` takes: `beach at sunset - people +
    2:dog` -> ['beach at sunset', '-', 'people', '+', '2:dog']."""
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"QUERY: longer than {MAX_QUERY_CHARS} characters")
    parts = _SIGN.split(" " + text.strip()) if text.strip() else []
    return [part.strip() for part in parts if part.strip()]


def search_request(params, examples: Examples) -> SearchRequest:
    """`params`: a multi-dict (Starlette's QueryParams): getlist(name), get(name)."""
    options = {field: tuple(v for v in params.getlist(name) if v) for name, field in _MANY.items()}
    filters = FilterOptions(
        after=params.get("after") or None,
        before=params.get("before") or None,
        rating_min=_number(params.get("rating_min"), "--rating-min"),
        screenshots=_screenshots(params.get("screenshots")),
        faces=params.get("faces") or None,
        **options,
        **{flag: _flag(params.get(flag)) for flag in _FLAGS},
    )
    return SearchRequest(
        words=query_words(params.get("q", "")),
        filters=filters,
        top=_top(params.get("top")),
        min_score=_number(params.get("min_score"), "--min-score"),
        sort=params.get("sort") or None,
        no_duplicates=_flag(params.get("no_duplicates")),
        examples=_examples(params, examples),
        words_read_disk=False,
    )


def _examples(params, examples: Examples) -> tuple[Term, ...]:
    terms = []
    for value in params.getlist("like"):
        if not value.isdigit():
            raise UsageError(f"like: '{value}' is not a file id")
        path = examples.like_path(int(value))
        if path is None:
            raise UsageError(
                f"like: the catalog has no photo {value} with an embedding (it is missing, "
                "or the ML phase has not run on it yet)"
            )
        terms.append(Term(1, 1.0, image=path))
    for value in params.getlist("upload"):
        term = examples.upload(value)
        if term is None:
            raise UsageError(
                "upload: that uploaded picture is no longer kept by the server; upload it again"
            )
        terms.append(term)
    return tuple(terms)


def _flag(value: str | None) -> bool:
    return value not in (None, "", "0", "false", "off")


def _screenshots(value: str | None) -> bool | None:
    if (value or "").strip() not in _SCREENSHOTS:
        raise UsageError(f"screenshots: '{value}': give 1 (--screenshots) or 0 (--no-screenshots)")
    return _SCREENSHOTS[(value or "").strip()]


def _number(value: str | None, option: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{option}: '{value}' is not a number") from None


def _top(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_TOP
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_TOP:
        raise UsageError(f"--top: give a whole number from 1 to {MAX_TOP}, not '{value}'")
    return int(value)
