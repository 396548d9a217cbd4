"""One search: the files that pass the filters, the query vector (stored embeddings for
indexed example images, the encoder only for what must be encoded), cosine scores over the
search matrix, the ranking and cut-off, and the facts each result shows."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from photoanalyzer.catalog import Catalog, FileFilter
from photoanalyzer.config import ContentConfig, MlConfig
from photoanalyzer.errors import FatalError, UsageError
from photoanalyzer.ml.random_weights import MODELS, random_models
from photoanalyzer.outputs.search.filters import FilterOptions, file_filter
from photoanalyzer.outputs.search.matrix import SearchMatrix, current_matrix, matrix_folder
from photoanalyzer.outputs.search.query import Term, combine, parse_terms
from photoanalyzer.pathnames import shell_argument

SORTS = ("score", "date")


@dataclass(frozen=True)
class SearchRequest:
    words: Sequence[str] = ()
    filters: FilterOptions = field(default_factory=FilterOptions)
    top: int = 20  # 0: every match
    min_score: float | None = None
    sort: str | None = None  # None: by score with a query, by date without
    no_duplicates: bool = False
    # Terms the caller made itself, after the words' terms: serve's "more like this" (an
    # indexed file's path) and an uploaded picture (a file the server wrote). Their images
    # may be read from disk even where the words' may not.
    examples: Sequence[Term] = ()
    # False where the words come from a stranger (serve's search box): a word then names an
    # image only where the catalog knows its path, and no path a word names is ever opened.
    words_read_disk: bool = True


@dataclass(frozen=True)
class SearchSettings:
    catalog_path: Path
    thumbnail_dir: Path
    models_dir: Path
    ml: MlConfig
    content: ContentConfig


@dataclass(frozen=True)
class Hit:
    file_id: int
    path: str
    kind: str
    score: float | None  # None for a query by facts alone
    seconds: float | None  # a video's best-matching frame
    frame: int | None  # that frame's number, whose thumbnail `thumbnail` is
    taken_at: str | None
    taken_at_utc: str | None  # where the instant is known
    camera: str | None
    place: str | None  # "city, country" from the places phase
    top_scene: str | None
    objects: dict[str, int]
    thumbnail: str | None  # absolute path
    # The models whose random weights made some of what it shows: "clip" (its scene, its
    # embedding and so its score), "yolo" (its objects).
    random_weights: tuple[str, ...]
    text_line: str | None = None  # with --text: the first line of its text that matches
    faces: int | None = None  # faces the faces phase found; None: not analyzed (or stale)
    persons: tuple[tuple[int, str | None], ...] = ()  # (id, name) of the persons shown


@dataclass
class SearchResult:
    terms: list[Term]
    sort: str
    top: int
    min_score: float | None
    hits: list[Hit] = field(default_factory=list)
    # The models whose random weights made some vector, score or label of the result
    random_weights: tuple[str, ...] = ()
    not_embedded: dict[str, int] = field(default_factory=dict)  # kind -> files left unranked
    # kind -> those of them the ML phase failed on for good: another run does not help them
    ml_failed: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class SearchSession:
    """What a long-running process (serve) keeps between searches: the query encoder, so
    that its model is loaded once and not once per query, and the search matrix of the
    catalog's current stamp, mapped once. Searches on several threads share it: encoding is
    one at a time (a model being built or run is not shared mid-way), and so is a rebuild of
    the matrix (its files' temporary names are per process, not per thread)."""

    def __init__(self, many_queries: bool = False) -> None:
        # True in a server: the encoder prepares its ONNX session for many queries
        # (ml/query_encoder.py), which one command's single query would only pay for.
        self.many_queries = many_queries
        self._encoder = None
        self._lock = threading.Lock()
        self._matrix: SearchMatrix | None = None
        self._matrix_lock = threading.Lock()
        self._stamped: dict[str, tuple[str, Any]] = {}  # what was counted, per stamp

    def matrix(self, catalog: Catalog, folder: Path) -> SearchMatrix:
        """The matrix of the catalog's current stamp: the one mapped before while the stamp
        has not moved, else read or rebuilt (matrix.current_matrix)."""
        stamp = catalog.search.stamp()
        with self._matrix_lock:
            if self._matrix is None or self._matrix.stamp != stamp:
                self._matrix = current_matrix(catalog, folder)
            return self._matrix

    def present_by_kind(self, catalog: Catalog) -> dict[str, int]:
        """Present files per kind (a scan of the files table: 0.2 s at 100,000), counted
        again only when the stamp moved: the triggers move it with every file added, marked
        missing or back, or changed in kind."""
        return self._per_stamp(catalog, "present", catalog.search.present_by_kind)

    def ml_failed(self, catalog: Catalog) -> dict[int, str]:
        """The files the ML phase failed on for good (catalog.search.ml_failed, through the
        index of error rows), read again only when the stamp moved: every ML status written
        moves it."""
        return self._per_stamp(catalog, "ml_failed", catalog.search.ml_failed)

    def _per_stamp(self, catalog: Catalog, name: str, read: Callable[[], Any]) -> Any:
        stamp = catalog.search.stamp()
        cached = self._stamped.get(name)
        if cached is None or cached[0] != stamp:
            cached = self._stamped[name] = (stamp, read())
        return cached[1]

    def encode(self, settings: SearchSettings, images: list[str], texts: list[str]):
        """(image vectors, text vectors, whether the weights are random)."""
        from photoanalyzer.ml.query_encoder import QueryEncoder

        with self._lock:
            if self._encoder is None:
                self._encoder = QueryEncoder(
                    settings.ml,
                    settings.content,
                    settings.models_dir,
                    many_queries=self.many_queries,
                )
            encoder = self._encoder
            return (
                encoder.images(images) if images else [],
                encoder.texts(texts) if texts else [],
                encoder.random,
            )


def search(
    settings: SearchSettings, request: SearchRequest, session: SearchSession | None = None
) -> SearchResult:
    """One search. `session` keeps the query encoder for the next one; without it, the
    encoder (when a query needs one) lives for this search alone, as one command does."""
    catalog = Catalog(settings.catalog_path, create=False)
    try:
        return _Search(catalog, settings, request, session or SearchSession()).run()
    finally:
        catalog.close()


class _Search:
    def __init__(
        self,
        catalog: Catalog,
        settings: SearchSettings,
        request: SearchRequest,
        session: SearchSession,
    ):
        self.catalog, self.settings, self.request = catalog, settings, request
        self.session = session
        self.random_encoder = False

    def run(self) -> SearchResult:
        request = self.request
        terms = parse_terms(request.words, self._is_image) + list(request.examples)
        sort = _check(request, terms)
        where = file_filter(
            replace(
                request.filters,
                known_scenes=self._scene_labels,
                known_persons=self.catalog.search.person_names,
            )
        )
        excluded = self._duplicates() if request.no_duplicates else set()
        result = SearchResult(terms, sort, request.top, request.min_score)
        if terms:
            allowed = Passing.of(self.catalog.search.matching(where)) if where.active else None
            excluded |= {self.catalog.search.known(t.image) for t in terms if t.image} - {None}
            self._rank(result, allowed, excluded)
        else:
            self._list(result, where, excluded)
        if where.texts:
            result.hits = self._with_text_lines(result.hits, list(where.texts))
        result.hits = self._with_people(result.hits)
        result.notes = self._unknown_paths(where.folders) + result.notes
        result.random_weights = _union(
            result.random_weights, *(h.random_weights for h in result.hits)
        )
        return result

    def _with_text_lines(self, hits: list[Hit], terms: list[str]) -> list[Hit]:
        ids = [self.catalog.search.known(hit.path) for hit in hits]
        found = self.catalog.text.matching_lines([i for i in ids if i is not None], terms)
        return [replace(hit, text_line=found.get(i)) for hit, i in zip(hits, ids, strict=True)]

    def _with_people(self, hits: list[Hit]) -> list[Hit]:
        ids = [self.catalog.search.known(hit.path) for hit in hits]
        found = self.catalog.search.people([i for i in ids if i is not None])
        with_people = []
        for hit, file_id in zip(hits, ids, strict=True):
            faces, persons = found.get(file_id, (None, []))
            with_people.append(replace(hit, faces=faces, persons=tuple(persons)))
        return with_people

    # -- queries by facts alone -----------------------------------------------------------

    def _list(self, result: SearchResult, where: FileFilter, excluded: set[int]) -> None:
        """The files that pass, by date (catalog.search.by_date), the first `top` of them."""
        limit = result.top + len(excluded) if result.top else None
        ids = [i for i in self.catalog.search.by_date(where, limit) if i not in excluded]
        facts = self.catalog.search.facts(ids[: result.top or None])
        result.hits = [self._hit(file_id, facts[file_id]) for file_id in ids if file_id in facts]

    # -- similarity -----------------------------------------------------------------------

    def _rank(self, result: SearchResult, allowed: Passing | None, excluded: set[int]) -> None:
        query, random_query = self._query_vector(result.terms)
        matrix = self.session.matrix(self.catalog, matrix_folder(self.settings.catalog_path))
        self._check_size(matrix, query)
        scores = matrix.scores(query)
        best = matrix.best_per_file(scores)
        keep = _kept(matrix.files, best, allowed, excluded, result.min_score)
        chosen = _top(np.flatnonzero(keep), best, result.top)
        result.hits = self._scored_hits(matrix, scores, best, chosen)
        if result.sort == "date":
            result.hits = _by_date(result.hits)
        result.random_weights = ("clip",) if random_query else ()
        result.not_embedded, result.ml_failed = self._not_embedded(matrix, allowed)
        result.notes = _notes(result.not_embedded, result.ml_failed, matrix.left_out)

    def _check_size(self, matrix: SearchMatrix, query: np.ndarray) -> None:
        if len(matrix.rows) and matrix.dim != len(query):
            raise FatalError(
                f"the query's embedding has {len(query)} values and the catalog's have "
                f"{matrix.dim}: the catalog was indexed with another CLIP model than "
                f"ml.clip.model ({self.settings.ml.clip.model}); search with the config it "
                "was indexed with"
            )

    def _scored_hits(self, matrix: SearchMatrix, scores, best, chosen) -> list[Hit]:
        ids = [int(matrix.files[i]) for i in chosen]
        facts = self.catalog.search.facts(ids)
        hits = []
        for index, file_id in zip(chosen, ids, strict=True):
            if file_id not in facts:  # gone since the matrix was read
                continue
            row = matrix.rows[matrix.best_row(int(index), scores)]
            frame = int(row["frame"]) if row["frame"] >= 0 else None
            hit = self._hit(file_id, facts[file_id], frame)
            hits.append(
                replace(
                    hit,
                    score=round(float(best[index]), 4),
                    seconds=None if frame is None else round(float(row["seconds"]), 2),
                    random_weights=_union(hit.random_weights, ("clip",) if row["random"] else ()),
                )
            )
        return hits

    def _query_vector(self, terms: list[Term]) -> tuple[np.ndarray, bool]:
        """The unit query vector, and whether any part of it came from random CLIP weights."""
        vectors: list[np.ndarray | None] = [None] * len(terms)
        random = False
        to_encode: list[int] = []
        for index, term in enumerate(terms):
            if term.vector is not None:  # encoded by the caller
                vectors[index] = term.vector
                random = random or term.random
                continue
            stored = self.catalog.search.stored_embedding(term.image) if term.image else None
            if stored is None:
                to_encode.append(index)
                continue
            vectors[index] = np.frombuffer(stored[0], dtype=np.float16).astype(np.float32)
            random = random or stored[1]
        if to_encode:
            encoded = self._encode([terms[i] for i in to_encode])
            for index, vector in zip(to_encode, encoded, strict=True):
                vectors[index] = vector
            random = random or self.random_encoder
        if len({len(v) for v in vectors}) > 1:
            raise FatalError(
                "the stored embeddings of the example images and the encoded queries differ in "
                "size: the catalog was indexed with another CLIP model than ml.clip.model"
            )
        return combine(terms, np.stack(vectors)), random

    def _encode(self, terms: list[Term]) -> list[np.ndarray]:
        """Images first: a model built with its image tower then serves the texts too."""
        for term in terms:
            if term.image and not self._may_read(term):
                where = " and is not on disk to be encoded" if self.request.words_read_disk else ""
                raise UsageError(f"QUERY: {term.image} has no embedding in the catalog yet{where}")
        images = [t.image for t in terms if t.image]
        texts = [t.text for t in terms if t.text is not None]
        image_vectors, text_vectors, self.random_encoder = self.session.encode(
            self.settings, images, texts
        )
        image_vectors, text_vectors = iter(image_vectors), iter(text_vectors)
        return [next(image_vectors) if t.image else next(text_vectors) for t in terms]

    def _may_read(self, term: Term) -> bool:
        """Whether an example image may be decoded from disk: the words' only where they
        may name files (the command line), the caller's own examples always."""
        allowed = self.request.words_read_disk or term in self.request.examples
        return allowed and os.path.isfile(term.image)

    def _not_embedded(
        self, matrix: SearchMatrix, allowed: Passing | None
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Per kind, the files that pass the filters but have no searchable embedding, and
        those of them the ML phase failed on for good. The failures are read only where
        some file lacks an embedding: a fully indexed library pays nothing for them."""
        if allowed is None and not len(matrix.left_files):
            present = self.session.present_by_kind(self.catalog)
            videos = int(matrix.is_video.sum())
            embedded = {"photo": len(matrix.files) - videos, "video": videos}
            counts = Counter({kind: n - embedded.get(kind, 0) for kind, n in present.items()})
            # Every failed file is present and has no current ML result, so it is counted.
            gone = self.session.ml_failed(self.catalog) if any(counts.values()) else {}
            failed = Counter(gone.values())
        else:  # embeddings of another model are no embedding "yet": the other note counts them
            if allowed is None:
                allowed = Passing.of(self.catalog.search.matching(FileFilter()))
            ids = allowed.ids
            missing = ~np.isin(ids, matrix.files) & ~np.isin(ids, matrix.left_files)
            # Few files lack an embedding: only theirs are looked at (not 100,000 in Python).
            rows = [allowed.rows[i] for i in np.flatnonzero(missing)]
            counts = Counter(kind for _, kind in rows)
            gone = self.session.ml_failed(self.catalog) if rows else {}
            failed = Counter(kind for file_id, kind in rows if file_id in gone)
        return _by_kind(counts), _by_kind(failed)

    # -- helpers ----------------------------------------------------------------------------

    def _hit(self, file_id: int, facts: dict, frame: int | None = None) -> Hit:
        key, shown = facts["thumbnail"], None
        frame_key = (
            self.catalog.search.frame_thumbnail(file_id, frame) if frame is not None else None
        )
        if frame_key:
            key, shown = frame_key, frame
        return Hit(
            file_id=file_id,
            path=facts["path"],
            kind=facts["kind"],
            score=None,
            seconds=None,
            frame=shown,
            taken_at=facts["taken_at"],
            taken_at_utc=facts["taken_at_utc"],
            camera=_camera(facts["make"], facts["model"]),
            place=", ".join(filter(None, (facts["place_city"], facts["place_country"]))) or None,
            top_scene=facts["top_scene"],
            objects=facts["object_counts"],
            thumbnail=str(self.settings.thumbnail_dir / key) if key else None,
            random_weights=random_models(
                facts["clip_random_weights"], facts["yolo_random_weights"]
            ),
        )

    def _unknown_paths(self, paths: Sequence[str]) -> list[str]:
        """A note for each --in path under which the catalog has no present file: a typo,
        a folder never indexed, or one whose files were all missing at the last run."""
        notes = []
        for path in paths:
            present, missing = self.catalog.search.known_at_or_below(path)
            if present:
                continue
            if missing:
                notes.append(
                    f"--in {path}: every file the catalog knows there was missing at the last "
                    "run (missing files are never listed)"
                )
            else:
                notes.append(
                    f"--in {path}: the catalog knows no file there; "
                    f"`photoanalyze run {shell_argument(path)}` indexes it"
                )
        return notes

    def _is_image(self, path: str) -> bool:
        if self.catalog.search.known(path) is not None:
            return True
        return self.request.words_read_disk and os.path.isfile(path)

    def _scene_labels(self) -> list[str]:
        return sorted({*self.catalog.search.scene_labels(), *self.settings.ml.clip.labels})

    def _duplicates(self) -> set[int]:
        """Every member of a near-duplicate group but its pick (neardup's pick rule)."""
        from photoanalyzer.analysis import neardup

        candidates = [
            neardup.Candidate(file_id, path, int(phash, 16), *facts)
            for file_id, path, phash, *facts in self.catalog.queries.near_duplicate_candidates()
        ]
        groups = neardup.find_groups(candidates, self.settings.content.near_duplicate_distance)
        return {m.file_id for g in groups for m in g.members if m is not g.best}


def _check(request: SearchRequest, terms: list[Term]) -> str:
    """The sort order, after refusing options that need a query when there is none."""
    if request.sort is not None and request.sort not in SORTS:
        raise UsageError(f"--sort takes {' or '.join(SORTS)}, not '{request.sort}'")
    if request.top < 0:
        raise UsageError("--top must be 0 (every match) or more")
    if request.min_score is not None and not -1 <= request.min_score <= 1:
        raise UsageError("--min-score is a cosine: between -1 and 1")
    if not terms:
        if request.min_score is not None:
            raise UsageError("--min-score needs a QUERY to score against")
        if request.sort == "score":
            raise UsageError("--sort score needs a QUERY; without one, results are by date")
    return request.sort or ("score" if terms else "date")


class Passing(NamedTuple):
    """The present files that pass a search's filters: (file id, kind) rows by id, and their
    ids as an array, made once for the matrix's masks."""

    rows: list[tuple[int, str]]
    ids: np.ndarray

    @classmethod
    def of(cls, rows: list[tuple[int, str]]) -> Passing:
        return cls(rows, np.fromiter((row[0] for row in rows), np.int64, len(rows)))


def _kept(
    files: np.ndarray, best: np.ndarray, allowed: Passing | None, excluded: set[int], least
) -> np.ndarray:
    """Which of the matrix's files pass the filters, are not query images, and score at least
    `least`."""
    keep = np.ones(len(files), dtype=bool)
    if allowed is not None:
        keep &= np.isin(files, allowed.ids)
    if excluded:
        keep &= ~np.isin(files, np.fromiter(excluded, dtype=np.int64))
    if least is not None:
        keep &= best >= least
    return keep


def _top(candidates: np.ndarray, best: np.ndarray, top: int) -> np.ndarray:
    """The candidates with the highest scores, best first (ties by position)."""
    if top and len(candidates) > top:
        part = np.argpartition(-best[candidates], top - 1)[:top]
        candidates = candidates[part]
    order = np.lexsort((candidates, -best[candidates]))
    return candidates[order]


def _by_date(hits: list[Hit]) -> list[Hit]:
    """Oldest first by capture time: the UTC instant where it is known (photos from several
    time zones then fall in true order), else the local time as if it were UTC; files
    without a capture time last, by path."""

    def when(hit: Hit) -> str:  # both forms sort alike: "2023-05-01T10:00:00[Z]"
        return hit.taken_at_utc or hit.taken_at or ""

    return sorted(hits, key=lambda h: (not when(h), when(h), h.path))


def _camera(make: str | None, model: str | None) -> str | None:
    if make and model and model.casefold().startswith(make.casefold()):
        return model  # "Canon" + "Canon EOS R5"
    return " ".join(part for part in (make, model) if part) or None


def _by_kind(counts: Counter) -> dict[str, int]:
    return {kind: n for kind, n in sorted(counts.items()) if n > 0}


def _notes(not_embedded: dict[str, int], ml_failed: dict[str, int], left_out: int) -> list[str]:
    notes = []
    # A run gives an embedding to the files it has not analyzed yet, never to those the ML
    # phase could not read: those are told apart, with where their errors are listed.
    waiting = _by_kind(Counter(not_embedded) - Counter(ml_failed))
    if waiting:
        verb = "has" if sum(waiting.values()) == 1 else "have"
        notes.append(f"{_counted(waiting)} {verb} no embedding yet: run `photoanalyze run`")
    if ml_failed:
        one = sum(ml_failed.values()) == 1
        it, changes = ("it", "it changes") if one else ("them", "they change")
        notes.append(
            f"{_counted(ml_failed)} could not be read by the ML phase (tried again when "
            f"{changes} or the ML settings do): `photoanalyze report` lists {it} under Problems"
        )
    if left_out:
        were = "embedding was" if left_out == 1 else "embeddings were"
        notes.append(
            f"{left_out:,} {were} made by another CLIP model and left out: "
            "`photoanalyze run` redoes them with the configured one"
        )
    return notes


def _counted(by_kind: dict[str, int]) -> str:
    """'1,204 photos and 1 video'."""
    return " and ".join(f"{n:,} {kind}{'' if n == 1 else 's'}" for kind, n in by_kind.items())


def _union(*models: tuple[str, ...]) -> tuple[str, ...]:
    """The models named in any of these, in the one order warnings name them."""
    named = {model for each in models for model in each}
    return tuple(model for model in MODELS if model in named)
