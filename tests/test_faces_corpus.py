"""Acceptance of the faces phase on the labelled face corpus (../shared/corpus/faces):
faces found per photo, none where there is no person, and the grouping's pairwise precision
and recall over the labelled identities (tests/support/face_labels.py says which face is
whose). docs/performance.md records the figures and the threshold. The content phase runs
first, as in a full run, so that the faces phase's first look on its thumbnails is held to
the same acceptance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS
from photoanalyzer.catalog import Catalog
from photoanalyzer.config import load_config
from photoanalyzer.phases import PhaseContext, build_phases
from photoanalyzer.run import pipeline
from support.face_labels import labelled_faces, pairwise_scores
from support.requirements import require_corpus, require_module

FACES = CORPUS / "faces"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Path:
    require_module("dlib")
    require_corpus(FACES)
    work = tmp_path_factory.mktemp("faces")
    config = load_config()
    context = PhaseContext(config, work / "thumbs", work / "models", probe_decoders=False)
    catalog = Catalog(work / "pa.db")
    try:
        report = pipeline.run(
            [str(FACES)], build_phases(("metadata", "content", "faces"), context), catalog, config
        )
    finally:
        catalog.close()
    faces = report.phases[-1]
    assert faces.name == "faces" and faces.errors == 0 and not faces.failure, faces
    return work / "pa.db"


def _labels() -> list[dict]:
    return json.loads((FACES / "labels.json").read_text())


def test_every_photo_has_its_faces_and_no_person_photos_none(indexed):
    catalog = Catalog(indexed, create=False)
    try:
        counts = {
            label["file"]: len(catalog.people.faces_of_file(str(FACES / label["file"])))
            for label in _labels()
        }
    finally:
        catalog.close()
    short = {}
    for label in _labels():
        found, expected = counts[label["file"]], label["faces_expected"]
        if label["category"] == "no_person":
            assert found == 0, label["file"]
        elif found < expected:
            short[label["file"]] = found
    # Every photo: the faces cut by the frame's edge in the selfie (the edge pass) and
    # Pierre Curie in profile (a HOG candidate the CNN confirms) included.
    assert not short, short


def test_grouping_pairwise_precision_and_recall(indexed):
    import numpy as np

    from photoanalyzer.analysis.faces import unpack_embeddings

    catalog = Catalog(indexed, create=False)
    try:
        by_file: dict[str, list] = {}
        person_of = {}
        for label in _labels():
            rows = catalog.people.faces_of_file(str(FACES / label["file"]))
            blobs = catalog.people.embeddings([row.id for row in rows])
            vectors = unpack_embeddings(blobs)
            by_file[label["file"]] = [
                (row.box, row.size_px, np.asarray(v)) for row, v in zip(rows, vectors, strict=True)
            ]
            for i, row in enumerate(rows):
                person_of[(label["file"], i)] = row.person_id
    finally:
        catalog.close()
    labelled = labelled_faces(FACES / "labels.json", by_file)
    precision, recall, _, _ = pairwise_scores(labelled, person_of)
    # The figures docs/performance.md reports (`pytest -s -k pairwise` shows them).
    print(f"face corpus grouping: pairwise precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
