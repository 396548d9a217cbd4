"""A search's result in each output form: `score<TAB>path` lines (a video's line adds the
second of its best frame), bare paths (newline- or NUL-terminated), JSON (docs/search.md),
and a self-contained HTML page of thumbnails. What a person must know about the result
(random weights, files without an embedding) is in every form: the lines go to stdout, so the
notes go to stderr. Bare paths are the file names' exact bytes, for programs (`xargs`); the
other forms show a name that is not valid UTF-8 readable (pathnames.py), JSON with its
exact bytes beside it."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from photoanalyzer.ml import random_weights
from photoanalyzer.outputs.search.engine import Hit, SearchResult
from photoanalyzer.outputs.search.query import Term
from photoanalyzer.pathnames import bytes_hex, exact_bytes, readable, readable_values


def lines(result: SearchResult) -> list[str]:
    return [_line(hit) for hit in result.hits]


def _line(hit: Hit) -> str:
    score = "-" if hit.score is None else f"{hit.score:.3f}"
    frame = "" if hit.seconds is None else f"\tat {hit.seconds:.1f} s"
    text = "" if hit.text_line is None else f"\t{_one_line(hit.text_line)}"
    return f"{score}\t{readable(hit.path)}{frame}{text}"


def _one_line(text: str) -> str:
    """A line of text as one terminal field: no tab or newline inside."""
    return " ".join(text.split())


def paths(result: SearchResult, end: bytes = b"\n") -> bytes:
    """Each result's path as the file system has it, each followed by `end`: a newline, or
    NUL for `xargs -0` (a name may hold a newline; none holds a NUL)."""
    return b"".join(exact_bytes(hit.path) + end for hit in result.hits)


def stderr_lines(result: SearchResult) -> list[str]:
    """What stderr says beside the lines: the random-weights warning, then the notes."""
    said = _warnings(result)
    said += [f"note: {readable(note)}" for note in result.notes]
    if not result.hits:
        said.append("No matches.")
    return said


def as_json(result: SearchResult) -> str:
    document = {
        "query": readable_values([term.as_dict() for term in result.terms]),
        "sort": result.sort,
        "top": result.top,
        "min_score": result.min_score,
        "random_weights": bool(result.random_weights),
        "random_models": list(result.random_weights),
        "warnings": _warnings(result),
        "not_embedded": result.not_embedded,
        "ml_failed": result.ml_failed,
        "notes": readable_values(result.notes),
        "results": [_hit_record(hit) for hit in result.hits],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _hit_record(hit: Hit) -> dict:
    return {
        "path": readable(hit.path),
        "path_bytes": bytes_hex(hit.path),
        "kind": hit.kind,
        "score": hit.score,
        "at_seconds": hit.seconds,
        "taken_at": hit.taken_at,
        "taken_at_utc": hit.taken_at_utc,
        "camera": hit.camera,
        "place": hit.place,
        "top_scene": hit.top_scene,
        "objects": hit.objects,
        "text_line": hit.text_line,
        "faces": hit.faces,
        "persons": [{"id": person, "name": name} for person, name in hit.persons],
        "thumbnail": hit.thumbnail,
        "random_weights": bool(hit.random_weights),
        "random_models": list(hit.random_weights),
    }


def _warnings(result: SearchResult) -> list[str]:
    """The random-weights warning, naming only what the random models made."""
    return [random_weights.warning(result.random_weights)] if result.random_weights else []


def describe_query(terms: list[Term]) -> str:
    parts = []
    for index, term in enumerate(terms):
        sign = "" if index == 0 and term.sign > 0 else ("+ " if term.sign > 0 else "- ")
        weight = "" if term.weight == 1 else f"{term.weight:g}:"
        parts.append(f"{sign}{weight}{term.shown()}")
    return " ".join(parts) or "(filters only)"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
.warning { background: #fdd; border: 2px solid #c00; padding: .6em; font-weight: bold; }
.note { background: #ffd; padding: .4em .6em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 220px; background: #fff; border: 1px solid #ddd; padding: 6px; }
figure img { width: 100%; height: 160px; object-fit: contain; background: #eee; }
.none { height: 160px; display: flex; align-items: center; justify-content: center;
        background: #eee; color: #777; }
figcaption { font-size: 12px; overflow-wrap: anywhere; margin-top: 4px; }
.score { font-weight: bold; font-size: 14px; }
.text-line { font-family: monospace; background: #eef; display: block; margin-top: 2px; }
"""


def html_page(result: SearchResult) -> str:
    """One file with everything in it: thumbnails as data: URIs, every name escaped."""
    query = describe_query(result.terms)
    head = f"photoanalyze search: {query}"
    banner = [f'<p class="warning">{html.escape(line)}</p>' for line in _warnings(result)]
    notes = [f'<p class="note">{html.escape(note)}</p>' for note in result.notes]
    figures = [_figure(hit) for hit in result.hits] or ["<p>No matches.</p>"]
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(head)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(head)}</h1>",
            f"<p>{len(result.hits)} results, by {html.escape(result.sort)}</p>",
            *banner,
            *notes,
            '<div class="grid">',
            *figures,
            "</div></body></html>",
            "",
        ]
    )
    return readable(page)  # UTF-8 text: names that are not valid UTF-8 shown readable


def _figure(hit: Hit) -> str:
    name = html.escape(Path(hit.path).name)
    picture = _embedded(hit.thumbnail)
    image = (
        f'<img src="{picture}" alt="{name}">' if picture else '<div class="none">no thumbnail</div>'
    )
    score = "" if hit.score is None else f'<span class="score">{hit.score:.3f}</span> '
    details = [hit.taken_at or "no capture time"]
    if hit.seconds is not None:
        details.append(f"at {hit.seconds:.1f} s")
    if hit.persons:
        details.append(", ".join(name or f"person {person}" for person, name in hit.persons))
    if hit.random_weights:
        details.append(random_weights.weights_named(hit.random_weights))
    line = (
        ""
        if hit.text_line is None
        else f'<span class="text-line">{html.escape(_one_line(hit.text_line))}</span>'
    )
    return (
        f'<figure title="{html.escape(hit.path)}">{image}<figcaption>{score}{name}<br>'
        f"{html.escape(' · '.join(details))}{line}</figcaption></figure>"
    )


def _embedded(thumbnail: str | None) -> str | None:
    """The thumbnail as a data: URI, or None when there is none (or it is gone)."""
    if not thumbnail:
        return None
    try:
        data = Path(thumbnail).read_bytes()
    except OSError:
        return None
    kind = "png" if data.startswith(b"\x89PNG") else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"
