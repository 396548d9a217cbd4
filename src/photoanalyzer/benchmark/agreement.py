"""How far two ML runs over the same photos agree: scene top-1, embedding cosine, and
detections matched by class at IoU >= 0.5. Used by `photoanalyze benchmark` to check that the
optimized configuration gives the baseline's answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_MATCH = 0.5


@dataclass(frozen=True)
class Agreement:
    photos: int
    top1_agreement_pct: float | None  # share of photos with the same top scene
    mean_cosine: float | None  # mean cosine similarity of the two embeddings of each photo
    detections_baseline: int
    detections_matched_pct: float | None  # None when the baseline detected nothing


def compare(baseline: dict[str, tuple], optimized: dict[str, tuple]) -> Agreement:
    """Both map path -> (top scene, float16 embedding bytes, objects), as Catalog.ml_results."""
    paths = sorted(set(baseline) & set(optimized))
    same_scene = sum(baseline[p][0] == optimized[p][0] for p in paths)
    cosines = [
        cosine(baseline[p][1], optimized[p][1]) for p in paths if baseline[p][1] and optimized[p][1]
    ]
    total = matched = 0
    for path in paths:
        reference, candidates = baseline[path][2], optimized[path][2]
        total += len(reference)
        matched += matched_detections(reference, candidates)
    return Agreement(
        photos=len(paths),
        top1_agreement_pct=round(100.0 * same_scene / len(paths), 2) if paths else None,
        mean_cosine=round(float(np.mean(cosines)), 5) if cosines else None,
        detections_baseline=total,
        detections_matched_pct=round(100.0 * matched / total, 2) if total else None,
    )


def cosine(a: bytes, b: bytes) -> float:
    x = np.frombuffer(a, dtype=np.float16).astype(np.float32)
    y = np.frombuffer(b, dtype=np.float16).astype(np.float32)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched_detections(reference: list[dict], candidates: list[dict]) -> int:
    """Reference detections with a same-class candidate at IoU >= 0.5, each candidate used
    once, most confident reference first (greedy, as detection benchmarks match)."""
    unused = list(candidates)
    matched = 0
    for ref in sorted(reference, key=lambda d: -d["confidence"]):
        scored = [
            (iou(ref["box"], c["box"]), i)
            for i, c in enumerate(unused)
            if c["class"] == ref["class"]
        ]
        best = max(scored, default=(0.0, -1))
        if best[0] >= IOU_MATCH:
            matched += 1
            unused.pop(best[1])
    return matched
