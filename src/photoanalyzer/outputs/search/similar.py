"""`duplicates --by embedding`: groups of visually similar photos from their stored CLIP
embeddings, with the pick of neardup's rules."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from photoanalyzer.analysis.neardup import Candidate, Group, embedding_groups
from photoanalyzer.catalog import Catalog

DEFAULT_MIN_COSINE = 0.95


@dataclass(frozen=True)
class SimilarGroups:
    groups: list[Group]
    embedded: int  # files compared
    random_ids: frozenset[int]  # files whose embedding came from random CLIP weights


def similar_groups(
    catalog: Catalog, min_cosine: float, include_missing: bool = False
) -> SimilarGroups:
    rows = catalog.search.embedding_candidates(include_missing)
    if rows:  # one model's embeddings: the most common size
        size = Counter(len(row[9]) for row in rows).most_common(1)[0][0]
        rows = [row for row in rows if len(row[9]) == size]
    candidates = [
        Candidate(row[0], row[1], 0, *row[2:9], missing=row[11], is_raw=row[12]) for row in rows
    ]
    vectors = (
        np.stack([np.frombuffer(row[9], dtype=np.float16) for row in rows]).astype(np.float32)
        if rows
        else np.zeros((0, 1), dtype=np.float32)
    )
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    groups = embedding_groups(candidates, vectors, min_cosine)
    random_ids = frozenset(row[0] for row in rows if row[10])
    return SimilarGroups(groups, len(candidates), random_ids)
