"""Plain-text rendering of run reports and catalog status for the terminal. Paths are shown
readable (pathnames.py): a name that is not valid UTF-8 has its odd bytes as \\xNN."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from photoanalyzer.ml import random_weights
from photoanalyzer.pathnames import bytes_hex, exact_bytes, readable, readable_values

if TYPE_CHECKING:  # neardup pulls in numpy, which a rescan does not need
    from photoanalyzer.analysis.neardup import Group
    from photoanalyzer.run.pipeline import PhaseReport, RunReport

MAX_LISTED_PROBLEMS = 10


def format_run(report: RunReport) -> str:
    sync = report.sync
    lines = [
        f"Scanned {_plural(sync.seen, 'file')} in {_plural(len(report.roots), 'folder')} "
        f"({sync.new} new, {sync.changed} changed, {sync.moved} moved, {sync.missing} now missing, "
        f"{sync.unreachable} unreachable) in {report.scan_seconds:.2f} s",
    ]
    if sync.forgotten:
        lines.append(
            f"  forgot {_plural(sync.forgotten, 'file')} in the catalog's own folders "
            "(thumbnails, reports), which an older version indexed as photos"
        )
    for phase in report.phases:
        rate = f", {phase.processed / phase.seconds:.1f} files/s" if phase.seconds > 0 else ""
        lines.append(
            f"  {phase.name:<9} {phase.processed} processed, {_plural(phase.errors, 'error')}, "
            f"{phase.seconds:.2f} s{rate if phase.processed else ''}"
        )
        lines += [f"            {line}" for line in _phase_details(phase)]
    problems = [(p.path, "scan", p.message) for p in report.scan_problems]
    problems += [(path, ph.name, msg) for ph in report.phases for path, msg in ph.error_samples]
    total = len(report.scan_problems) + sum(ph.errors for ph in report.phases)
    if problems:
        lines.append(f"Problems ({total}; every file error is kept in the catalog, see export):")
        lines += [
            f"  [{phase}] {path}: {msg}" for path, phase, msg in problems[:MAX_LISTED_PROBLEMS]
        ]
        if total > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {total - MAX_LISTED_PROBLEMS} more")
    lines.append(f"Catalog: {report.catalog_path}")
    return readable("\n".join(lines))


def _phase_details(phase: PhaseReport) -> list[str]:
    lines = []
    if phase.skipped:
        lines.append(f"skipped: {phase.failure}")
        lines.append(f"({phase.left_pending} files stay pending for it)")
    elif phase.failure:
        lines.append(f"FAILED: {phase.failure}")
        lines.append(f"({phase.left_pending} files left pending; the next run tries them again)")
    details = phase.details
    lines += engine_lines(details)
    lines += backend_lines(details)
    if details.get("gpu"):
        gpu = details["gpu"]
        lines.append(
            f"GPU utilization mean {gpu['utilization_mean']}% (peak "
            f"{gpu['utilization_peak']}%), memory peak {gpu['memory_peak_mib']:.0f} MiB"
        )
    elif details.get("gpu_note"):
        lines.append(details["gpu_note"])
    lines += ml_timing_lines(details)
    lines += places_lines(details)
    detector = details.get("detector")  # the text phase's (analysis/text_detector.py)
    if detector and not detector["rewritten"]:
        lines.append(f"text detection: {detector['note']} (a slower first pass, same text)")
    people = details.get("people")  # the grouping after the faces phase (run/people_step.py)
    if people and people.get("assigned", 0) + people.get("unassigned", 0):
        lines.append(
            f"persons: {people['assigned']} faces given a person ({people['new_persons']} new "
            f"persons, {people.get('named_by_regions', 0)} by named face regions), "
            f"{people.get('unassigned', 0)} left without one"
        )
    models = details.get("random_weights")  # the models whose weights were random
    if models:
        lines.append(random_weights.warning(models))
    return lines


def engine_lines(details: dict[str, Any]) -> list[str]:
    """The Ray cluster a phase ran on, and each ML actor's backend (local runs: nothing)."""
    engine = details.get("engine")
    if not engine:
        return []
    where = " (this phase ran on the driver)" if engine.get("where") == "driver" else ""
    lines = [
        f"engine ray: {_plural(engine['nodes'], 'node')}, {engine['cpus']} CPUs, "
        f"{engine['gpus']} GPUs{where}"
    ]
    for worker in details.get("workers", []):
        lines.append(
            f"worker {worker['node']} pid {worker['pid']}: {worker.get('backend')} on "
            f"{worker.get('device')}"
        )
    return lines


def backend_lines(details: dict[str, Any]) -> list[str]:
    """Which backend an ML phase ran on, and why each faster one was skipped."""
    backend = details.get("backend")
    if not backend:
        return []
    cuda = f", CUDA {backend['cuda']}" if backend["cuda"] else ""
    versions = f"torch {backend['torch']}{cuda}"
    return [
        f"backend {backend['name']} on {backend['device_name']} ({versions}), "
        f"batch {details.get('batch_size_used', details.get('batch_size'))}",
        *(f"skipped {name}: {why}" for name, why in backend["skipped"].items()),
    ]


def ml_timing_lines(details: dict[str, Any]) -> list[str]:
    """Where an ML phase's time went: start-up by step, then seconds per stage and model
    (loader-thread stages add up over the threads), then the rates."""
    lines = []
    if "fallback" in details:
        fallback = details["fallback"]
        lines.append(f"fell back from {fallback['from']}: {fallback['reason']}")
    startup = details.get("startup")
    if startup:
        lines.append(
            f"start-up {details.get('startup_seconds', 0):.2f} s: " + _seconds_by_step(startup)
        )
    stages = details.get("stages")
    if stages:
        lines.append("stages: " + _seconds_by_step(stages))
    if details.get("images_per_second"):
        steady = details.get("steady_images_per_second")
        lines.append(
            f"{details['images_per_second']} images/s after start-up"
            + (f" ({steady} from the second batch on)" if steady else "")
        )
    return lines


def places_lines(details: dict[str, Any]) -> list[str]:
    """What the places phase found, and from which data."""
    data = details.get("data")
    if not data or "geotagged" not in details:
        return []
    return [
        f"{details['geotagged']} geotagged, {details['placed']} placed, "
        f"{details['times_from_gps']} UTC offsets from the zone at the GPS position; data "
        f"load {details['load_seconds']:.2f} s, lookups {details['lookup_seconds']:.2f} s",
        f"data: GeoNames places ({data['geonames']}), zones ({data['zone_boundaries']}), "
        f"tz database {data['tz_database']}",
    ]


def _seconds_by_step(steps: dict[str, Any]) -> str:
    """{"imports": 2.1, "models": {"clip": 0.2, "yolo": 0.1}} -> 'imports 2.10 s, models
    0.30 s (clip 0.20, yolo 0.10)'."""
    parts = []
    for step, value in steps.items():
        if isinstance(value, dict):
            each = ", ".join(f"{model} {seconds:.2f}" for model, seconds in value.items())
            parts.append(f"{step.replace('_', '-')} {sum(value.values()):.2f} s ({each})")
        else:
            parts.append(f"{step.replace('_', '-')} {value:.2f} s")
    return ", ".join(parts)


@dataclass(frozen=True)
class CatalogState:
    catalog: str
    schema: int
    files: dict[str, dict[str, int]]  # kind -> present / missing
    phases: dict[str, dict[str, Any]]  # as catalog.queries.phase_summary gives them
    runs: list[dict[str, Any]]  # newest first, as Catalog.recent_runs gives them
    last_walk: dict[str, Any] | None = None  # as catalog.runs.last_walk gives it
    places: dict[str, Any] | None = None  # as Queries.place_counts gives them
    text: dict[str, int] | None = None  # as catalog.text.counts gives them
    people: dict[str, int] | None = None  # as catalog.people.counts gives them


def status_as_json(state: CatalogState) -> str:
    runs = [{**run, "duration_seconds": run_duration(run)} for run in state.runs]
    document = readable_values({**asdict(state), "runs": runs})
    return json.dumps(document, indent=2, ensure_ascii=False)


def format_status(state: CatalogState) -> str:
    lines = [f"Catalog: {state.catalog} (schema {state.schema})"]
    if not state.files:
        lines.append("No files yet: run `photoanalyze run FOLDER` to index one.")
    for kind, counts in sorted(state.files.items()):
        lines.append(f"  {kind}s: {counts['present']} present, {counts['missing']} missing")
    lines += _not_seen_lines(state)
    lines += [_phase_line(name, counts) for name, counts in state.phases.items()]
    lines += place_status_lines(state.places)
    if state.text is not None and state.phases.get("text", {}).get("version"):
        lines.append(
            f"  text: {state.text['with_text']} files with text, "
            f"{state.text['screenshots']} screenshots"
        )
    lines += people_status_lines(state.people, state.phases.get("faces", {}))
    if state.runs:
        lines.append("Recent runs (newest first):")
    for run in state.runs:
        duration = run_duration(run)
        lines.append(
            f"  #{run['id']} {run['started_at']} {run['status']}"
            + (f" in {duration:.1f} s" if duration is not None else "")
            + f": {run['files_seen']} seen, {run['files_new']} new, {run['files_changed']} "
            f"changed, {run['files_moved']} moved, {run['files_missing']} missing, "
            + (
                f"{run['files_unreachable']} unreachable, "
                if run.get("files_unreachable") is not None
                else ""
            )
            + f"{run['scan_problems']} scan problems"
        )
        for p in run["phases"]:
            failure = f"; FAILED: {p['failure']}" if p.get("failure") else ""
            lines.append(
                f"      {p['phase']:<9} {p['processed']} processed, {p['errors']} failed, "
                f"{p['seconds']:.1f} s{failure}"
            )
            explained = (
                engine_lines(p["details"])
                + backend_lines(p["details"])
                + ml_timing_lines(p["details"])
                + places_lines(p["details"])
            )
            lines += [f"                {line}" for line in explained]
    return readable("\n".join(lines))


def _phase_line(name: str, counts: dict[str, Any]) -> str:
    """'content   40 done, 0 with results of an older version, 0 failed, 0 never analysed
    (version content-3-ab12, as run #7 used); 0 pending for this config'."""
    version = (
        f"version {counts['version']}, as run #{counts['version_run']} used"
        if counts["version"]
        else "no run has finished this phase yet"
    )
    line = (
        f"  {name:<9} {counts['done']} done, {counts['older']} with results of an older "
        f"version, {counts['failed']} failed, {counts['never']} never analysed ({version})"
    )
    if counts["pending_for_config"] is not None:
        line += f"; {counts['pending_for_config']} pending for this config"
    if counts.get("left_out_pairs"):
        line += f" ({counts['left_out_pairs']} left out by scan.raw_pairs)"
    return line


def _not_seen_lines(state: CatalogState) -> list[str]:
    """How many known files the last walk did not see, and why: marked missing (gone from a
    folder that is there), or unreachable (not checked), with the folders they are below."""
    walk = state.last_walk
    if walk is None:
        return []
    known = sum(c["present"] + c["missing"] for c in state.files.values())
    missing = sum(c["missing"] for c in state.files.values())
    not_seen = missing + walk["unreachable"]
    head = f"  At the last run (#{walk['run_id']}, {walk['started_at']})"
    if not_seen == 0:
        return [f"{head} all {known} known files were there."]
    lines = [
        f"{head} {not_seen} of the {known} known files {'was' if not_seen == 1 else 'were'} "
        "not seen:",
        f"    {missing} missing ({walk['newly_missing']} marked by that run; results kept)",
        f"    {walk['unreachable']} unreachable (not checked, not marked missing)"
        + (":" if walk["unreachable_folders"] else ""),
    ]
    lines += [f"      {f['path']}: {f['message']}" for f in walk["unreachable_folders"]]
    return lines


def people_status_lines(counts: dict[str, int] | None, faces_phase: dict[str, Any]) -> list[str]:
    """'people: 120 faces in 80 files, 12 persons (5 named), 9 faces with no person'; nothing
    before the faces phase ever ran."""
    if counts is None or not (faces_phase.get("version") or counts["faces"]):
        return []
    unnamed = counts["persons"] - counts["named"]
    hint = "; `photoanalyze people` lists them" if unnamed else ""
    return [
        f"  people: {_plural(counts['faces'], 'face')} in {_plural(counts['files'], 'file')}, "
        f"{_plural(counts['persons'], 'person')} ({counts['named']} named), "
        f"{_plural(counts['faces'] - counts['assigned'], 'face')} with no person{hint}"
    ]


def place_status_lines(counts: dict[str, Any] | None) -> list[str]:
    """'geotagged: 120 photos, 3 videos; 118 placed in 45 places, 6 countries, 5 time zones'
    and the countries with the most files."""
    if not counts or not any(counts["geotagged"].values()):
        return []
    tagged = ", ".join(
        _plural(n, kind) for kind, n in counts["geotagged"].items() if n or kind == "photo"
    )
    lines = [
        f"  geotagged: {tagged}; {counts['placed']} placed in {_plural(counts['places'], 'place')}"
        f", {counts['countries']} {'country' if counts['countries'] == 1 else 'countries'}, "
        f"{_plural(counts['timezones'], 'time zone')}"
    ]
    if counts["top_countries"]:
        lines.append(
            "  most photographed: "
            + ", ".join(f"{country} {n}" for country, n in counts["top_countries"])
        )
    return lines


def run_duration(run: dict[str, Any]) -> float | None:
    if not run.get("ended_at"):
        return None
    started = datetime.fromisoformat(run["started_at"])
    return (datetime.fromisoformat(run["ended_at"]) - started).total_seconds()


def format_groups(groups: list[Group], max_distance: int, photos: int) -> str:
    if not groups:
        return (
            f"No near-duplicates among {photos} analyzed photos (pHash distance <= {max_distance})."
        )
    grouped = sum(len(g.members) for g in groups)
    heading = (
        f"{_plural(len(groups), 'near-duplicate group')} ({grouped} of {photos} photos, "
        f"pHash distance <= {max_distance})"
    )
    return readable(
        "\n".join(
            _group_lines(
                groups, heading, lambda m, g: f"distance {(m.phash ^ g.best.phash).bit_count()}"
            )
        )
    )


def _group_lines(groups: list[Group], heading: str, likeness) -> list[str]:
    """The heading, then each group with its pick's reasons and one line per member: the
    pick starred, missing members marked, size, sharpness and `likeness(member, group)`."""
    missing = any(m.missing for g in groups for m in g.members)
    lines = [
        f"{heading}; * marks the pick"
        + ("; [missing]: not on disk at the last run" if missing else "")
        + ":"
    ]
    for number, group in enumerate(groups, 1):
        lines.append(
            f"Group {number} ({len(group.members)} photos), pick: {'; '.join(group.reasons)}"
        )
        lines += [
            f"  {'*' if member is group.best else ' '} {member.path}"
            f"{'  [missing]' if member.missing else ''}  ({member.width}x"
            f"{member.height}, sharpness {member.sharpness:.0f}, {likeness(member, group)})"
            for member in group.members
        ]
    return lines


def format_embedding_groups(
    groups: list[Group], min_cosine: float, photos: int, random_weights: bool
) -> str:
    """Groups of visually similar photos by embedding, as format_groups lists pHash groups."""
    warning = [RANDOM_EMBEDDINGS] if random_weights else []
    if not groups:
        return "\n".join(
            [*warning, f"No similar photos among {photos} embedded files (cosine >= {min_cosine})."]
        )
    grouped = sum(len(g.members) for g in groups)
    heading = (
        f"{_plural(len(groups), 'group')} of similar photos ({grouped} of {photos} embedded "
        f"files, embedding cosine >= {min_cosine} to another member; single linkage, so a "
        "member may be further from the pick)"
    )

    def likeness(member, group: Group) -> str:
        return f"cosine {group.cosines[member.file_id]:.3f}"

    return readable("\n".join([*warning, *_group_lines(groups, heading, likeness)]))


RANDOM_EMBEDDINGS = (
    "WARNING: these embeddings were made with RANDOM CLIP weights (configured for testing): "
    "the similarities are meaningless"
)


def groups_as_json(groups: list[Group], random_ids: frozenset[int] = frozenset()) -> str:
    """pHash groups; groups by embedding give each member's cosine with the pick, and
    whether its embedding was made with random CLIP weights, instead of the pHash."""
    return json.dumps(
        [
            {
                "pick": readable(group.best.path),
                "why": group.reasons,
                "members": [_member(m, group, random_ids) for m in group.members],
            }
            for group in groups
        ],
        indent=2,
        ensure_ascii=False,
    )


def copies_print0(groups: list[Group]) -> bytes:
    """`duplicates --print0`: the exact path of every member but the pick, group after
    group, each ended by a NUL, for `xargs -0` (the copies a person reviews, as the report's
    copy button gives them)."""
    return b"".join(
        exact_bytes(m.path) + b"\0" for g in groups for m in g.members if m is not g.best
    )


def _member(m, group: Group, random_ids: frozenset[int]) -> dict[str, Any]:
    member = {
        "path": readable(m.path),
        "path_bytes": bytes_hex(m.path),
        "sharpness": m.sharpness,
        "width": m.width,
        "height": m.height,
        "pixels": m.pixels,
        "file_size": m.file_size,
        "has_capture_time": m.has_time,
        "has_camera": m.has_camera,
        "has_gps": m.has_gps,
        "missing": m.missing,
    }
    if group.cosines is not None:
        return {
            **member,
            "cosine_to_pick": group.cosines[m.file_id],
            "random_weights": m.file_id in random_ids,
        }
    return {
        **member,
        "phash": f"{m.phash:016x}",
        "distance_to_pick": (m.phash ^ group.best.phash).bit_count(),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_benchmark(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"Benchmark: {result['samples']} photos ({result['source']}), median of "
        f"{result['repeat']} alternating repeats",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; GPU: {machine['gpu'] or 'none'}; "
        f"torch {machine['torch']}, CUDA {machine['cuda'] or 'none'}",
        f"Backends: baseline {result['backends']['baseline']}, optimized "
        f"{result['backends']['optimized']}",
    ]
    if result["random_weights"]:
        lines.append(
            "WARNING: RANDOM model weights: speeds are real, labels meaningless; the "
            "agreement compares the same random weights under two precisions"
        )
    lines.append(
        f"{'phase':<9} {'baseline img/s':>15} {'optimized img/s':>16} {'speedup':>8}  spread"
    )
    for phase, row in result["phases"].items():
        spread = row["speedup_spread"]
        lines.append(
            f"{phase:<9} {_number(row['baseline']['images_per_second']):>15} "
            f"{_number(row['optimized']['images_per_second']):>16} "
            f"{_number(row['speedup'], 'x'):>8}  "
            + (f"{spread[0]:.2f}x to {spread[1]:.2f}x" if spread else "-")
        )
    ml = result["phases"].get("ml", {})
    if ml:
        lines.append(
            f"(ML: rate of inference, model start-up apart: baseline "
            f"{ml['baseline']['startup_seconds']:.1f} s, optimized "
            f"{ml['optimized']['startup_seconds']:.1f} s)"
        )
    for name, stages in result.get("ml_stages", {}).items():
        if stages:
            lines.append(f"ML stages, {name} (last repeat): {_seconds_by_step(stages)}")
    for name, gpu in result["gpu"].items():
        if gpu:
            lines.append(
                f"GPU {name}: utilization mean {gpu['utilization_mean']}% peak "
                f"{gpu['utilization_peak']}%, memory mean {gpu['memory_mean_mib']:.0f} "
                f"MiB peak {gpu['memory_peak_mib']:.0f} MiB"
            )
    agree = result["agreement"]
    detections = (
        f"{agree['detections_matched_pct']}% of {agree['detections_baseline']} matched"
        if agree["detections_matched_pct"] is not None
        else "no baseline detections to match"
    )
    lines.append(
        f"Agreement over {agree['photos']} photos: scene top-1 "
        f"{_number(agree['top1_agreement_pct'], '%')}, embedding cosine "
        f"{_number(agree['mean_cosine'], digits=4)}, detections {detections}"
    )
    lines += [f"WARNING: {warning}" for warning in result["agreement_warnings"]]
    sweep = result.get("batch_sweep") or {}
    for run in sweep.get("runs", []):
        memory = run["peak_memory_mib"]
        peak = memory["gpu"] if memory["gpu"] is not None else memory["process_resident"]
        where = "GPU" if memory["gpu"] is not None else "process"
        lines.append(
            f"  batch {run['batch_size']:>3}: {_number(run['images_per_second'])} img/s, "
            f"peak {where} memory {_number(peak)} MiB"
            + (" (ran out of memory)" if run["out_of_memory"] else "")
        )
    if sweep:
        lines.append(f"Recommended batch size: {sweep['recommended_batch_size']}")
    estimate = result.get("library_estimate")
    if estimate:
        lines.append(f"Estimated time for {estimate['photos']} photos:")
        for name, phases in estimate["seconds"].items():
            parts = ", ".join(f"{phase} {_duration_text(s)}" for phase, s in phases.items())
            lines.append(f"  {name}: {parts}")
    return "\n".join(lines)


def _number(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"
