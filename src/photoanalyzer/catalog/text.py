"""The text phase's rows beyond its own table: each line in `text_lines`, the folded whole text
in `text_index` (and so in the trigram index `text_fts`, through triggers), written in the
transaction that stores the result; the text conditions of search; the matching lines of
results; one file's text (serve's photo page); the counts `status` and the report show."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from photoanalyzer.catalog.schema import result_is_current

TEXT_CURRENT = result_is_current("text")
# FTS5's trigram tokenizer matches substrings of three characters or more; shorter terms go
# through LIKE on the same folded text (a scan of the photos with text, fast enough).
TRIGRAM = 3


def fold(text: str) -> str:
    """Text as the index holds it and queries are compared: case folded and accents taken
    off (NFKD, combining marks dropped), so that `cafe` finds `Café` on every SQLite,
    whether or not its trigram tokenizer can remove diacritics (3.45 and later)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def write_derived(db: sqlite3.Connection, file_id: int, record: dict[str, Any] | None) -> None:
    """The lines and the index of one file's text result (None: the result went)."""
    db.execute("DELETE FROM text_lines WHERE file_id = ?", (file_id,))
    db.execute("DELETE FROM text_index WHERE file_id = ?", (file_id,))
    if record is None or not record.get("text"):
        return
    body = record["text"]
    db.executemany(
        "INSERT INTO text_lines (file_id, frame, line, box, text, confidence)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (file_id, line["frame"], n, json.dumps(line["box"]), line["text"], line["confidence"])
            for n, line in enumerate(body["lines"])
        ],
    )
    if body["text"]:
        db.execute(
            "INSERT INTO text_index (file_id, folded) VALUES (?, ?)", (file_id, fold(body["text"]))
        )


def has_fts(db: sqlite3.Connection) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'text_fts'")
    return found.fetchone() is not None


def text_conditions(db: sqlite3.Connection, terms: Iterable[str]) -> tuple[list[str], list[Any]]:
    """SQL conditions on `f.id` (every term must occur in the file's current text) and their
    arguments. Terms of three characters or more go through the trigram index where the
    catalog has one; shorter ones, and all of them without it, through LIKE."""
    clauses: list[str] = [TEXT_CURRENT]
    args: list[Any] = []
    folded = [fold(term) for term in terms]
    long_terms = [t for t in folded if len(t) >= TRIGRAM] if has_fts(db) else []
    if long_terms:
        clauses.append("f.id IN (SELECT rowid FROM text_fts WHERE text_fts MATCH ?)")
        args.append(" AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms))
    for term in folded:
        if term in long_terms:
            continue
        clauses.append(
            "EXISTS (SELECT 1 FROM text_index ti WHERE ti.file_id = f.id"
            " AND ti.folded LIKE ? ESCAPE '\\')"
        )
        args.append("%" + _like_escaped(term) + "%")
    return clauses, args


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class FileText(NamedTuple):
    screenshot: bool | None
    screenshot_reason: str | None
    lines: list[str]


class TextQueries:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def matching_lines(self, file_ids: list[int], terms: list[str]) -> dict[int, str]:
        """Per file, its first line (in reading order, frames in order) holding one of the
        terms, else the first line holding part of the query; files without text left out."""
        folded = [fold(term) for term in terms]
        found: dict[int, str] = {}
        for file_id, lines in self._lines(file_ids):
            best = next((text for text in lines if any(t in fold(text) for t in folded)), None)
            if best is not None:
                found[file_id] = best
        return found

    def first_lines(self, file_ids: list[int], count: int = 3) -> dict[int, list[str]]:
        """The first lines of each file's current text (the report's photo cards)."""
        return {file_id: lines[:count] for file_id, lines in self._lines(file_ids)}

    def _lines(self, file_ids: list[int]) -> Iterator[tuple[int, list[str]]]:
        for start in range(0, len(file_ids), 500):
            chunk = file_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            lines: dict[int, list[str]] = {}
            for file_id, text in self._db.execute(
                "SELECT l.file_id, l.text FROM text_lines l JOIN files f ON f.id = l.file_id"
                f" WHERE l.file_id IN ({marks}) AND {TEXT_CURRENT}"
                " ORDER BY l.file_id, l.frame, l.line",
                chunk,
            ):
                lines.setdefault(file_id, []).append(text)
            yield from lines.items()

    def of_file(self, file_id: int) -> FileText | None:
        """A present file's current text result (serve's photo page): the screenshot flag
        with its reason, and every line in reading order; None where it has none."""
        row = self._db.execute(
            "SELECT t.screenshot, t.screenshot_reason FROM files f JOIN text t"
            f" ON t.file_id = f.id WHERE f.id = ? AND f.missing = 0 AND {TEXT_CURRENT}",
            (file_id,),
        ).fetchone()
        if row is None:
            return None
        lines = dict(self._lines([file_id])).get(file_id, [])
        return FileText(None if row[0] is None else bool(row[0]), row[1], lines)

    def counts(self) -> dict[str, int]:
        """Present files whose current text result holds text, and screenshots."""
        with_text, screenshots = self._db.execute(
            "SELECT COALESCE(SUM(t.text_line_count > 0), 0), COALESCE(SUM(t.screenshot = 1), 0)"
            f" FROM files f JOIN text t ON t.file_id = f.id WHERE f.missing = 0 AND {TEXT_CURRENT}"
        ).fetchone()
        return {"with_text": with_text, "screenshots": screenshots}

    def by_amount(self) -> list[tuple[int, str, str | None, int, str, bool]]:
        """(file id, path, thumbnail key, lines, whole text, screenshot) of the present files whose
        current text result holds text, most text (in characters) first."""
        content_now = result_is_current("content")
        rows = self._db.execute(
            "SELECT f.id, f.path, c.thumbnail, t.text_line_count, json_extract(t.text, '$.text'),"
            " t.screenshot FROM files f JOIN text t ON t.file_id = f.id"
            f" LEFT JOIN content c ON c.file_id = f.id AND {content_now}"
            f" WHERE f.missing = 0 AND t.text_line_count > 0 AND {TEXT_CURRENT}"
            " ORDER BY length(json_extract(t.text, '$.text')) DESC, f.path"
        )
        return [
            (file_id, path, thumb, n, text or "", bool(shot))
            for file_id, path, thumb, n, text, shot in rows
        ]
