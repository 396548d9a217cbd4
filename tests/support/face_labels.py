"""Pairwise precision and recall of a face grouping over the labelled identities of the face
corpus (../shared/corpus/faces/labels.json), by one rule for which face is whose:

- a single-person photo: its largest face is the labelled person;
- a group photo naming people the corpus has single photos of: each named person is the
  face nearest (embedding distance) to the mean of that person's single-photo faces, an
  oracle that does not look at the grouping;
- the Curie photos (one picture stored twice, once turned by EXIF orientation): a face is the
  same person in both files when its upright box is at the same place (boxes within 0.05).

Pairs: every two labelled faces of one identity should share a person (recall); every two
labelled faces that share a person should be one identity (precision). An unassigned face
shares a person with nobody."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import NamedTuple

import numpy as np


class LabelledFace(NamedTuple):
    file: str
    index: int  # position in the file's face list
    identity: str


def labelled_faces(
    labels_path: Path, faces: dict[str, list[tuple[tuple[float, ...], int, np.ndarray]]]
) -> list[LabelledFace]:
    """`faces`: file name -> [(box, size_px, embedding)] in the grouping's order."""
    labels = json.loads(labels_path.read_text())
    found: list[LabelledFace] = []
    singles: dict[str, list[np.ndarray]] = {}
    for label in labels:
        mine = faces.get(label["file"], [])
        if label["category"] == "person" and mine:
            largest = max(range(len(mine)), key=lambda i: mine[i][1])
            found.append(LabelledFace(label["file"], largest, label["identity"]))
            singles.setdefault(label["identity"], []).append(mine[largest][2])
    curie = [label for label in labels if label["file"].startswith("immich_portrait")]
    for label in labels:
        mine = faces.get(label["file"], [])
        if label["category"] != "group" or not mine or label in curie:
            continue
        for identity in label["identities_present"]:
            if identity in singles:
                centre = np.mean(singles[identity], axis=0)
                nearest = min(range(len(mine)), key=lambda i: np.linalg.norm(mine[i][2] - centre))
                found.append(LabelledFace(label["file"], nearest, identity))
    found += _same_place(curie, faces)
    return found


def _same_place(labels: list[dict], faces: dict) -> list[LabelledFace]:
    """Faces of the same picture stored twice, told apart by where they are."""
    found = []
    places: list[tuple[float, float]] = []
    for label in labels:
        for i, (box, _, _) in enumerate(faces.get(label["file"], [])):
            centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
            close = [
                k
                for k, place in enumerate(places)
                if abs(place[0] - centre[0]) < 0.05 and abs(place[1] - centre[1]) < 0.05
            ]
            k = close[0] if close else len(places)
            if not close:
                places.append(centre)
            found.append(LabelledFace(label["file"], i, f"curie-{k}"))
    return found


def pairwise_scores(
    labelled: list[LabelledFace], person_of: dict[tuple[str, int], int | None]
) -> tuple[float, float, int, int]:
    """(precision, recall, same-identity pairs, same-person pairs) over the labelled faces."""
    same_identity = same_person = both = 0
    for a, b in combinations(labelled, 2):
        identity = a.identity == b.identity
        pa, pb = person_of.get((a.file, a.index)), person_of.get((b.file, b.index))
        person = pa is not None and pa == pb
        same_identity += identity
        same_person += person
        both += identity and person
    precision = both / same_person if same_person else 1.0
    recall = both / same_identity if same_identity else 1.0
    return precision, recall, same_identity, same_person
