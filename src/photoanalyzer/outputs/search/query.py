"""The query language, after rclip: words are texts or image paths; `+ WORD` adds one,
`- WORD` subtracts one; `2:snow` weighs a word twice. The query vector is the weighted sum of
the positive words' unit embeddings minus the negative ones', normalized, so that every score
is a cosine between -1 and 1 (rclip leaves the sum unnormalized; the ranking is the same)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from photoanalyzer.errors import UsageError

_WEIGHTED = re.compile(r"^(?P<weight>\d+(?:\.\d*)?|\.\d+):(?P<rest>.+)$", re.S)
_IMAGE_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".avif", ".webp",
    ".mov", ".mp4", ".m4v", ".3gp", ".avi", ".mkv",
)  # fmt: skip


@dataclass(frozen=True)
class Term:
    sign: int  # +1 or -1
    weight: float
    text: str | None = None
    image: str | None = None  # absolute path
    # An example the caller encoded itself (serve: an uploaded picture): its unit vector,
    # whether random CLIP weights made it, and what to call it.
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    random: bool = False
    name: str | None = None

    def as_dict(self) -> dict:
        if self.text is not None:
            what = {"text": self.text}
        elif self.vector is not None:
            what = {"upload": self.name}
        else:
            what = {"image": self.image}
        return {"sign": "+" if self.sign > 0 else "-", "weight": self.weight, **what}

    def shown(self) -> str:
        """The term as a person reads it: the text, the image's path or the upload's name."""
        return self.text if self.text is not None else self.image or f"(uploaded) {self.name}"


def parse_terms(words: Sequence[str], is_image: Callable[[str], bool]) -> list[Term]:
    """Terms from the QUERY words. `is_image(absolute path)` says whether a word names an
    image: a file on disk, or one the catalog knows."""
    terms: list[Term] = []
    sign: int | None = None
    for word in words:
        if word in ("+", "-"):
            if sign is not None:
                raise UsageError(f"QUERY: '{word}' must be followed by a query, not another sign")
            sign = 1 if word == "+" else -1
            continue
        terms.append(_term(word, 1 if sign is None else sign, is_image))
        sign = None
    if sign is not None:
        raise UsageError("QUERY: a '+' or '-' at the end must be followed by a query")
    return terms


def _term(word: str, sign: int, is_image: Callable[[str], bool]) -> Term:
    weight, rest = 1.0, word
    if not _names_image(word, is_image):
        match = _WEIGHTED.match(word)
        if match:
            weight, rest = float(match["weight"]), match["rest"]
            if weight <= 0:
                raise UsageError(f"QUERY: the weight in '{word}' must be above 0")
    if _names_image(rest, is_image):
        return Term(sign, weight, image=_absolute(rest))
    if _looks_like_path(rest):
        raise UsageError(
            f"QUERY: no image at {rest} (neither on disk nor in the catalog); to search for "
            "this as text, leave out the path"
        )
    if not rest.strip():
        raise UsageError("QUERY: an empty query")
    return Term(sign, weight, text=rest)


def _names_image(word: str, is_image: Callable[[str], bool]) -> bool:
    return bool(word.strip()) and is_image(_absolute(word))


def _absolute(word: str) -> str:
    return os.path.abspath(os.path.expanduser(word))


def _looks_like_path(word: str) -> bool:
    return word.startswith(("/", "./", "../", "~")) or word.lower().endswith(_IMAGE_SUFFIXES)


def combine(terms: Sequence[Term], vectors: np.ndarray) -> np.ndarray:
    """The unit query vector: sum of sign * weight * the term's unit vector (one row of
    `vectors` per term), normalized."""
    factors = np.array([term.sign * term.weight for term in terms], dtype=np.float32)
    units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    total = factors @ units
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise UsageError("QUERY: the positive and negative queries cancel out")
    return (total / norm).astype(np.float32)
