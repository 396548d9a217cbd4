"""Grouping faces into persons, incrementally (pure: numpy arrays in, decisions out).

Each run, the faces without a person go through three steps:
1. The same face again: a face whose embedding is within `same_face` of an anchor (the
   embedding of a face a person was given before: the same photo analyzed again after a
   `--full` run or a move) takes that anchor's person, anchor and way it was assigned.
2. A known person: a face within `match` of some person's nearest anchor joins that person.
3. A face that overlaps a named face region (another program's tag) takes the person of
   that name, a new one where none has it.
4. The rest are clustered among themselves (Chinese whispers over the graph of pairs closer
   than `match`); each cluster of at least `min_cluster` faces becomes a new person.

A person never takes a face whose embedding is within `same_face` of one it rejected, and
faces smaller than `min_size_px` or blurrier than `min_sharpness` take part in no step: they
stay unassigned rather than pull persons together. Distances are dlib's: Euclidean between
128-d embeddings, 0.6 being dlib's documented "same person" limit (docs/people.md says what
was measured and chosen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

NEW = -1  # persons created by a grouping get ids NEW, NEW - 1, ... until stored


@dataclass(frozen=True)
class GroupSettings:
    match: float = 0.5
    same_face: float = 0.06
    min_cluster: int = 2
    min_size_px: int = 40
    min_sharpness: float = 20.0


class Candidate(NamedTuple):
    face_id: int
    embedding: np.ndarray
    size_px: int
    sharpness: float


class Anchor(NamedTuple):
    anchor_id: int
    person_id: int
    embedding: np.ndarray
    assigned: str


class Decision(NamedTuple):
    face_id: int
    person: int  # an existing person's id, or NEW - k for the k-th new one
    anchor: int | None  # the anchor the same face had, else None (a new anchor)
    assigned: str  # restored faces keep how they were assigned: match, cluster, region, user


def eligible(face: Candidate, settings: GroupSettings) -> bool:
    return face.size_px >= settings.min_size_px and face.sharpness >= settings.min_sharpness


class Grouping(NamedTuple):
    decisions: list[Decision]
    new_names: dict[int, str]  # new person (NEW - k) -> the name a face region gave it


def group(
    faces: list[Candidate],
    anchors: list[Anchor],
    rejections: list[tuple[int, np.ndarray]],
    settings: GroupSettings,
    region_names: dict[int, str] | None = None,
    named_persons: dict[str, int] | None = None,
) -> Grouping:
    """Who each face without a person is, where that can be said (see the module).
    `region_names`: face id -> the name of the named face region it overlaps (another
    program's tag, names_for_faces); `named_persons`: casefolded name -> person id. A face
    that is not the same face again takes its region's person by name (a new person of
    that name where none has it), unless that person rejected it: `assigned: region`."""
    region_names, named_persons = region_names or {}, dict(named_persons or {})
    faces = [f for f in faces if eligible(f, settings) or f.face_id in region_names]
    if not faces:
        return Grouping([], {})
    vectors = np.stack([face.embedding for face in faces]).astype(np.float32)
    banned = _rejected_persons(vectors, rejections, settings.same_face)
    decisions: list[Decision] = []
    new_names: dict[int, str] = {}
    left: list[int] = []
    nearest = _nearest_anchors(vectors, anchors, banned)
    for i, face in enumerate(faces):
        found = nearest[i]
        name = region_names.get(face.face_id)
        if found is not None and found[1] <= settings.same_face:
            same = anchors[found[0]]
            decisions.append(Decision(face.face_id, same.person_id, same.anchor_id, same.assigned))
        elif name is not None and named_persons.get(name.casefold()) not in banned[i]:
            person = named_persons.get(name.casefold())
            if person is None:
                person = NEW - len(new_names)
                named_persons[name.casefold()] = person
                new_names[person] = name
            decisions.append(Decision(face.face_id, person, None, "region"))
        elif not eligible(face, settings):
            continue  # its region's person rejected it, and it is too poor to group
        elif found is not None and found[1] <= settings.match:
            decisions.append(Decision(face.face_id, anchors[found[0]].person_id, None, "match"))
        else:
            left.append(i)
    labels = chinese_whispers(vectors[left], settings.match) if left else []
    new_ids: dict[int, int] = {}
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
    for i, label in zip(left, labels, strict=True):
        if sizes[label] < settings.min_cluster:
            continue
        person = new_ids.setdefault(int(label), NEW - len(new_names) - len(new_ids))
        decisions.append(Decision(faces[i].face_id, person, None, "cluster"))
    return Grouping(decisions, new_names)


def _rejected_persons(
    vectors: np.ndarray, rejections: list[tuple[int, np.ndarray]], same_face: float
) -> list[set[int]]:
    """Per face, the persons that rejected it (an embedding within same_face)."""
    banned: list[set[int]] = [set() for _ in range(len(vectors))]
    if not rejections:
        return banned
    persons = [person for person, _ in rejections]
    distances = pairwise(vectors, np.stack([vector for _, vector in rejections]))
    for i, j in zip(*np.nonzero(distances <= same_face), strict=True):
        banned[i].add(persons[j])
    return banned


def _nearest_anchors(
    vectors: np.ndarray, anchors: list[Anchor], banned: list[set[int]]
) -> list[tuple[int, float] | None]:
    """Per face, (index of the nearest anchor whose person did not reject it, distance)."""
    if not anchors:
        return [None] * len(vectors)
    persons = np.array([anchor.person_id for anchor in anchors])
    matrix = np.stack([anchor.embedding for anchor in anchors]).astype(np.float32)
    found: list[tuple[int, float] | None] = []
    for start in range(0, len(vectors), 1024):  # bounded memory: 1024 x anchors at a time
        distances = pairwise(vectors[start : start + 1024], matrix)
        for row, i in zip(distances, range(start, start + len(distances)), strict=True):
            if banned[i]:
                row = np.where(np.isin(persons, list(banned[i])), np.inf, row)
            best = int(np.argmin(row))
            found.append(None if not np.isfinite(row[best]) else (best, float(row[best])))
    return found


def pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances, len(a) x len(b)."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def chinese_whispers(vectors: np.ndarray, threshold: float, iterations: int = 20) -> np.ndarray:
    """Cluster labels 0..k-1 (Biemann's Chinese whispers, as dlib's
    chinese_whispers_clustering: every face starts as its own label, then repeatedly takes
    the label most common among its neighbours closer than `threshold`). Deterministic: a
    fixed visiting order from a seeded generator. Neighbours are found in blocks, so memory
    grows with the number of close pairs, not with the square of the faces."""
    count = len(vectors)
    neighbours = [np.zeros(0, dtype=np.int64)] * count
    for start in range(0, count, 1024):
        distances = pairwise(vectors[start : start + 1024], vectors)
        for offset, row in enumerate(distances):
            close = np.nonzero(row < threshold)[0]
            neighbours[start + offset] = close[close != start + offset]
    labels = np.arange(count)
    rng = np.random.default_rng(0)
    for _ in range(iterations):
        changed = False
        for node in rng.permutation(count):
            near = neighbours[node]
            if len(near) == 0:
                continue
            values, counts = np.unique(labels[near], return_counts=True)
            best = values[np.argmax(counts)]
            if best != labels[node]:
                labels[node], changed = best, True
        if not changed:
            break
    _, dense = np.unique(labels, return_inverse=True)
    return dense


def names_for_faces(
    boxes: list[tuple[float, float, float, float]],
    regions: list[tuple[str, tuple[float, float, float, float]]],
    min_iou: float = 0.3,
) -> dict[int, str]:
    """Face index -> name of the named region (MWG face region, normalized x, y, w, h with a
    top-left origin in the upright picture) it overlaps best, one face per region and one
    region per face, by IoU >= min_iou, the pairs taken best first. Regions of zero or
    negative size, or outside the picture, match nothing."""
    pairs = []
    for i, box in enumerate(boxes):
        for j, (_, region) in enumerate(regions):
            overlap = iou(box, region)
            if overlap >= min_iou:
                pairs.append((overlap, i, j))
    named: dict[int, str] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in named and j not in used:
            named[i] = regions[j][0]
            used.add(j)
    return named


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0 for an empty or inverted box."""
    if min(a[2], a[3], b[2], b[3]) <= 0:
        return 0.0
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
