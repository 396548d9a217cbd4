"""Persons from the stored faces, after each run's faces phase: the catalog's unassigned
faces, anchors and rejections in, analysis.persons' decisions out, stored in one
transaction. Data flows one way: the phase stores faces, this step reads them."""

from __future__ import annotations

from typing import Any

from photoanalyzer.analysis.faces import unpack_embeddings
from photoanalyzer.analysis.persons import Anchor, Candidate, GroupSettings, group, names_for_faces
from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.people import Assignment, person_name_problem
from photoanalyzer.config import FacesConfig


def group_settings(config: FacesConfig) -> GroupSettings:
    return GroupSettings(
        match=config.match_threshold,
        same_face=config.same_face,
        min_cluster=config.min_cluster,
        min_size_px=config.min_size_px,
        min_sharpness=config.min_sharpness,
    )


def group_people(catalog: Catalog, run_id: int | None, config: FacesConfig) -> dict[str, Any]:
    """Group the faces that have no person; return counts for the run's details."""
    inputs = catalog.people.grouping_inputs()
    if not inputs.unassigned:
        return {"assigned": 0, "new_persons": 0}
    face_vectors = unpack_embeddings([row[1] for row in inputs.unassigned])
    faces = [
        Candidate(row[0], vector, row[2], row[3])
        for row, vector in zip(inputs.unassigned, face_vectors, strict=True)
    ]
    anchor_vectors = unpack_embeddings([row[2] for row in inputs.anchors])
    anchors = [
        Anchor(row[0], row[1], vector, row[3])
        for row, vector in zip(inputs.anchors, anchor_vectors, strict=True)
    ]
    rejected = unpack_embeddings([row[1] for row in inputs.rejections])
    rejections = [(row[0], vector) for row, vector in zip(inputs.rejections, rejected, strict=True)]
    names = region_names(catalog, inputs.unassigned, config.region_iou)
    grouping = group(
        faces,
        anchors,
        rejections,
        group_settings(config),
        names,
        catalog.people.named_persons() if names else {},
    )
    decisions = grouping.decisions
    created = catalog.people.apply_grouping(
        [Assignment(d.face_id, d.person, d.anchor, d.assigned) for d in decisions],
        grouping.new_names,
        run_id,
    )
    return {
        "assigned": len(decisions),
        "new_persons": len(created),
        "unassigned": len(faces) - len(decisions),
        "named_by_regions": sum(1 for d in decisions if d.assigned == "region"),
    }


def region_names(catalog: Catalog, unassigned: list[tuple], min_iou: float) -> dict[int, str]:
    """Face id -> the name of the named face region (another program's tag, read by the
    metadata phase) it overlaps, per file, one face per region (persons.names_for_faces).
    A region whose name could not be a person's (digits only, "2024": `people` would read
    it as a number) names no face."""
    by_file: dict[int, list[tuple]] = {}
    for row in unassigned:
        by_file.setdefault(row[4], []).append(row)
    regions = catalog.people.named_regions(list(by_file))
    found: dict[int, str] = {}
    for file_id, named in regions.items():
        rows = by_file[file_id]
        boxes = [tuple(row[5:9]) for row in rows]
        areas = [
            (region.name, (region.x, region.y, region.w, region.h))
            for region in named
            if person_name_problem(region.name.strip()) is None
        ]
        for index, name in names_for_faces(boxes, areas, min_iou).items():
            found[rows[index][0]] = name
    return found


def name_person(catalog: Catalog, person_id: int, name: str) -> int:
    """Give `person_id` a name. Where another person has that name already (any letter
    case), the two are one person: this one merges into the named one, whose id stays (the
    one the user knows). Returns the id the person has afterwards."""
    existing = catalog.people.person_by_name(name)
    if existing is not None and existing != person_id:
        catalog.people.merge(existing, person_id)
        return existing
    catalog.people.rename(person_id, name)
    return person_id
