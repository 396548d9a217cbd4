"""Grouping faces into persons (analysis/persons.py) and names from face regions: pure
functions on synthetic embeddings, no dlib."""

from __future__ import annotations

import numpy as np

from photoanalyzer.analysis.persons import (
    NEW,
    Anchor,
    Candidate,
    GroupSettings,
    chinese_whispers,
    group,
    iou,
    names_for_faces,
)

SETTINGS = GroupSettings(match=0.5, same_face=0.06, min_cluster=2, min_size_px=40)
rng = np.random.default_rng(7)


def identity() -> np.ndarray:
    """A random point; other identities are about 1.4 away (random unit-ish vectors)."""
    vector = rng.normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(centre: np.ndarray, distance: float) -> np.ndarray:
    step = rng.normal(size=128).astype(np.float32)
    return (centre + step / np.linalg.norm(step) * distance).astype(np.float32)


def face(face_id: int, vector: np.ndarray, size: int = 100, sharp: float = 500.0) -> Candidate:
    return Candidate(face_id, vector, size, sharp)


def test_unmatched_faces_cluster_into_new_persons_and_singletons_stay_unassigned():
    anna, ben, loner = identity(), identity(), identity()
    faces = [face(1, near(anna, 0.2)), face(2, near(anna, 0.2)), face(3, near(anna, 0.2))]
    faces += [face(4, near(ben, 0.2)), face(5, near(ben, 0.2)), face(6, loner)]
    decisions = {d.face_id: d for d in group(faces, [], [], SETTINGS).decisions}
    assert set(decisions) == {1, 2, 3, 4, 5}  # the single face forms no person
    assert decisions[1].person == decisions[2].person == decisions[3].person
    assert decisions[4].person == decisions[5].person != decisions[1].person
    assert all(
        d.person <= NEW and d.assigned == "cluster" and d.anchor is None for d in decisions.values()
    )


def test_a_new_face_joins_the_person_of_its_nearest_anchor():
    anna, ben = identity(), identity()
    anchors = [Anchor(10, 1, anna, "cluster"), Anchor(11, 2, ben, "user")]
    (decision,) = group([face(1, near(ben, 0.3))], anchors, [], SETTINGS).decisions
    assert (decision.person, decision.anchor, decision.assigned) == (2, None, "match")


def test_the_same_face_again_takes_back_its_anchor_and_how_it_was_assigned():
    anna = identity()
    anchors = [Anchor(10, 1, near(anna, 0.3), "cluster"), Anchor(11, 1, anna, "region")]
    (decision,) = group([face(1, anna + 1e-4)], anchors, [], SETTINGS).decisions
    assert (decision.person, decision.anchor, decision.assigned) == (1, 11, "region")


def test_a_rejected_face_never_returns_to_the_person_that_rejected_it():
    anna = identity()
    rejected = near(anna, 0.3)
    anchors = [Anchor(10, 1, anna, "cluster"), Anchor(12, 3, near(rejected, 0.4), "cluster")]
    (decision,) = group([face(1, rejected)], anchors, [(1, rejected)], SETTINGS).decisions
    assert decision.person == 3  # the next nearest person that did not reject it
    assert group([face(1, rejected)], anchors[:1], [(1, rejected)], SETTINGS).decisions == []


def test_small_or_blurred_faces_take_part_in_nothing():
    anna = identity()
    anchors = [Anchor(10, 1, anna, "cluster")]
    faces = [face(1, anna, size=20), face(2, anna, sharp=1.0)]
    assert group(faces, anchors, [], SETTINGS).decisions == []


def test_chinese_whispers_is_deterministic_and_separates_groups():
    a, b = identity(), identity()
    vectors = np.stack([near(a, 0.2) for _ in range(5)] + [near(b, 0.2) for _ in range(4)])
    labels = chinese_whispers(vectors, 0.5)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]
    assert (chinese_whispers(vectors, 0.5) == labels).all()


def test_iou_and_names_from_regions():
    assert iou((0, 0, 0.5, 0.5), (0, 0, 0.5, 0.5)) == 1.0
    assert iou((0, 0, 0.2, 0.2), (0.5, 0.5, 0.2, 0.2)) == 0.0
    assert abs(iou((0, 0, 0.2, 0.2), (0.1, 0, 0.2, 0.2)) - 1 / 3) < 1e-9
    faces = [(0.1, 0.1, 0.2, 0.3), (0.6, 0.1, 0.2, 0.3)]
    regions = [
        ("Anna", (0.58, 0.08, 0.24, 0.34)),
        ("Ben", (0.12, 0.12, 0.2, 0.3)),
        ("Zero", (0.1, 0.1, 0.0, 0.3)),  # zero width: matches nothing
        ("Negative", (0.1, 0.1, -0.2, 0.3)),
        ("Outside", (1.5, 1.5, 0.2, 0.2)),
    ]
    assert names_for_faces(faces, regions, 0.3) == {0: "Ben", 1: "Anna"}


def test_one_region_names_one_face_and_many_regions_stay_bounded():
    faces = [(0.1, 0.1, 0.2, 0.3), (0.12, 0.1, 0.2, 0.3)]
    assert list(names_for_faces(faces, [("Anna", (0.1, 0.1, 0.2, 0.3))]).values()) == ["Anna"]
    regions = [(f"p{i}", (i / 20000, 0.5, 0.001, 0.001)) for i in range(20000)]
    assert names_for_faces(faces, regions) == {}


def test_a_named_region_names_or_creates_the_person_unless_it_rejected_the_face():
    anna, ben = identity(), identity()
    anchors = [Anchor(10, 1, anna, "cluster")]
    faces = [face(1, near(ben, 0.2)), face(2, near(ben, 0.2), size=10), face(3, identity())]
    names = {1: "Ben", 2: "ben", 3: "Anna"}
    grouping = group(faces, anchors, [], SETTINGS, names, {"anna": 1})
    decisions = {d.face_id: d for d in grouping.decisions}
    assert decisions[3].person == 1 and decisions[3].assigned == "region"
    # one new person for both spellings, the small face included (the user named it)
    assert decisions[1].person == decisions[2].person <= NEW
    assert grouping.new_names == {decisions[1].person: "Ben"}
    rejected = faces[2].embedding
    again = group(faces[2:], anchors, [(1, rejected)], SETTINGS, {3: "Anna"}, {"anna": 1})
    assert all(d.person != 1 for d in again.decisions)
