"""`photoanalyze people` as text and JSON: persons, a person's faces."""

from __future__ import annotations

import json

from photoanalyzer.catalog.people import FaceRow, PersonRow
from photoanalyzer.pathnames import bytes_hex, readable


def person_label(person_id: int, name: str | None) -> str:
    return name if name else f"#{person_id} (unnamed)"


def json_path_fields(path: str | None, key: str) -> dict:
    """A path readable under `key` and its exact bytes in hex under `key`_bytes (null for
    every path that is valid UTF-8), as export does."""
    if path is None:
        return {key: None, f"{key}_bytes": None}
    return {key: readable(path), f"{key}_bytes": bytes_hex(path)}


def persons_text(persons: list[PersonRow], options: str = "") -> str:
    """The persons as a table; `options` (" --db FILE", as the user gave it) ends the hint it
    prints, so that the command copied names the same catalog."""
    if not persons:
        return "No persons yet: run with the faces phase (photoanalyze run PATH --phases faces)."
    lines = [f"{'id':>6}  {'name':<24} {'faces':>6} {'photos':>6}  sample"]
    for p in persons:
        lines.append(
            f"{p.id:>6}  {(p.name or '(unnamed)'):<24} {p.faces:>6} {p.photos:>6}  "
            f"{readable(p.sample or '')}"
        )
    unnamed = [p for p in persons if not p.name]
    if unnamed:
        lines.append(f'Name one: photoanalyze people name {unnamed[0].id} "Anna"{options}')
    return "\n".join(lines)


def persons_json(persons: list[PersonRow]) -> str:
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "faces": p.faces,
            "photos": p.photos,
            **json_path_fields(p.sample, "sample"),
        }
        for p in persons
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1)


def faces_text(faces: list[FaceRow]) -> str:
    if not faces:
        return "No faces."
    lines = [f"{'face':>7}  {'person':>6} {'how':<8} {'size':>5}  box (x y w h)            path"]
    for f in faces:
        box = " ".join(f"{v:.3f}" for v in f.box)
        frame = f" (frame {f.frame})" if f.frame is not None else ""
        lines.append(
            f"{f.id:>7}  {f.person_id if f.person_id is not None else '-':>6} "
            f"{f.assigned or '-':<8} {f.size_px:>5}  {box:<24} {readable(f.path)}{frame}"
        )
    return "\n".join(lines)


def faces_json(faces: list[FaceRow]) -> str:
    rows = [
        {
            "face": f.id,
            **json_path_fields(f.path, "path"),
            "frame": f.frame,
            "box": dict(zip(("x", "y", "w", "h"), f.box, strict=True)),
            "score": f.score,
            "size_px": f.size_px,
            "sharpness": f.sharpness,
            "person": f.person_id,
            "assigned": f.assigned,
        }
        for f in faces
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1)
