"""`photoanalyze duplicates`: near-duplicate groups with their pick; never moves or deletes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    ConfigOption,
    DbOption,
    IncludeMissingOption,
    app,
    echo_output,
    load_checked_config,
    open_existing_catalog,
)
from photoanalyzer.errors import (
    UsageError,
)


class DuplicateMeasure(StrEnum):
    phash = "phash"
    embedding = "embedding"


@app.command(short_help="List groups of near-duplicate or similar photos, and the pick.")
def duplicates(
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the groups as JSON.")] = False,
    by: Annotated[
        DuplicateMeasure,
        typer.Option(
            "--by",
            help="phash: perceptual hashes (copies: resized, re-encoded, bursts; needs the "
            "content phase); embedding: CLIP embeddings (visually similar photos; needs the "
            "ML phase).",
        ),
    ] = DuplicateMeasure.phash,
    distance: Annotated[
        int | None,
        typer.Option(
            "--distance",
            help="With --by phash: most pHash bits two near-duplicates may differ in. Default: "
            "the config's content.near_duplicate_distance.",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            metavar="COS",
            help="With --by embedding: least cosine between two photos' embeddings, -1 to 1. "
            "Default: 0.95.",
            show_default=False,
        ),
    ] = None,
    include_missing: IncludeMissingOption = False,
    print0: Annotated[
        bool,
        typer.Option(
            "--print0",
            "-0",
            help="Print only the paths of the copies beside each pick (every member but the "
            "pick), each ended by a NUL, for `xargs -0`. Not with --json or --include-missing "
            "(a missing pick is not there to keep).",
        ),
    ] = False,
) -> None:
    """List groups of near-duplicate photos (resized, re-encoded or lightly edited copies,
    bursts) found by their perceptual hashes, or with `--by embedding` groups of visually
    similar photos found by their CLIP embeddings; each with the pick and why it won: the
    largest picture; then a camera RAW over its JPEG; among pictures of about that size
    (bursts), a clearly sharper one; then richer metadata (capture time, camera, GPS); then
    the larger file. Nothing is deleted or moved. Present files only, unless
    --include-missing (missing members are then marked; the pick is chosen by the same
    rules).
    """
    cfg = load_checked_config(config)
    if print0 and (as_json or include_missing):
        other = "--json" if as_json else "--include-missing"
        raise UsageError(f"--print0 lists the copies beside present picks: not with {other}")
    form = "print0" if print0 else "json" if as_json else "text"
    if by is DuplicateMeasure.embedding:
        if distance is not None:
            raise UsageError("--distance is for --by phash; --by embedding takes --threshold")
        echo_output(_embedding_duplicates(db, cfg, threshold, form, include_missing))
        return
    if threshold is not None:
        raise UsageError("--threshold is for --by embedding; --by phash takes --distance")
    echo_output(_phash_duplicates(db, cfg, distance, form, include_missing))


def _phash_duplicates(
    db, cfg, distance: int | None, form: str, include_missing: bool
) -> str | bytes:
    from photoanalyzer.analysis import neardup
    from photoanalyzer.outputs import terminal as report

    limit = cfg.content.near_duplicate_distance if distance is None else distance
    if not 0 <= limit <= 32:
        raise UsageError("--distance must be between 0 and 32 bits")
    catalog = open_existing_catalog(db, cfg)
    try:
        candidates = neardup.candidates_from_rows(
            catalog.queries.near_duplicate_candidates(include_missing)
        )
    finally:
        catalog.close()
    groups = neardup.find_groups(candidates, limit)
    if form == "print0":
        return report.copies_print0(groups)
    return (
        report.groups_as_json(groups)
        if form == "json"
        else report.format_groups(groups, limit, len(candidates))
    )


def _embedding_duplicates(
    db, cfg, threshold: float | None, form: str, include_missing: bool
) -> str | bytes:
    from photoanalyzer.outputs import terminal as report
    from photoanalyzer.outputs.search.similar import DEFAULT_MIN_COSINE, similar_groups

    least = DEFAULT_MIN_COSINE if threshold is None else threshold
    if not -1 <= least <= 1:
        raise UsageError("--threshold is a cosine: between -1 and 1")
    catalog = open_existing_catalog(db, cfg)
    try:
        found = similar_groups(catalog, least, include_missing)
    finally:
        catalog.close()
    if form == "print0":
        return report.copies_print0(found.groups)
    if form == "json":
        return report.groups_as_json(found.groups, found.random_ids)
    return report.format_embedding_groups(
        found.groups, least, found.embedded, bool(found.random_ids)
    )
