"""`photoanalyze search`: photos by text, by example and by facts."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import (
    ConfigOption,
    DbOption,
    app,
    echo_lines,
    load_checked_config,
    phase_context,
    write_bytes,
)
from photoanalyzer.errors import (
    FatalError,
    UsageError,
)


class SortOrder(StrEnum):
    score = "score"
    date = "date"


class FileKind(StrEnum):
    photo = "photo"
    video = "video"


def _many(name: str, help_text: str, metavar: str):
    return typer.Option(name, help=help_text, metavar=metavar, show_default=False)


@app.command(no_args_is_help=False, short_help="Find photos and videos by text, example or facts.")
def search(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help="Text, or the path of an image (the catalog's stored embedding when the file "
            "is indexed, else it is encoded). `+ QUERY` adds and `- QUERY` subtracts another; "
            "`2:snow` weighs one twice. None: a query by the filters alone.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    top: Annotated[
        int, typer.Option("--top", min=0, help="How many results; 0: every match.")
    ] = 20,
    min_score: Annotated[
        float | None,
        typer.Option(
            "--min-score",
            metavar="S",
            help="Only matches with at least this cosine score (-1 to 1).",
            show_default=False,
        ),
    ] = None,
    sort: Annotated[
        SortOrder | None,
        typer.Option(
            "--sort",
            help="score: best first. date: the best --top matches above --min-score, oldest "
            "first by capture time, in true UTC order where the instant is known (an EXIF "
            "offset, or the time zone of the place). Default: score with a QUERY, date "
            "without.",
            show_default=False,
        ),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            metavar="DATE",
            help="Taken at or after the start of DATE (YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM), camera's local time.",
            show_default=False,
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="DATE",
            help="Taken before the start of DATE: --after 2023 --before 2024 is the year 2023.",
            show_default=False,
        ),
    ] = None,
    camera: Annotated[
        list[str] | None,
        _many("--camera", "Camera make or model contains TEXT (any case).", "TEXT"),
    ] = None,
    lens: Annotated[
        list[str] | None, _many("--lens", "Lens make or model contains TEXT (any case).", "TEXT")
    ] = None,
    folder: Annotated[
        list[Path] | None,
        _many(
            "--in",
            "Only files at or below PATH (any path: a disk that is not mounted too; a note "
            "says when the catalog has no file there).",
            "PATH",
        ),
    ] = None,
    kind: Annotated[list[FileKind] | None, _many("--kind", "photo or video.", "KIND")] = None,
    scene: Annotated[
        list[str] | None,
        _many("--scene", "Top scene is LABEL (any case; beach for 'a beach').", "LABEL"),
    ] = None,
    objects: Annotated[
        list[str] | None,
        _many(
            "--object",
            "At least MIN_COUNT (default 1) detections of CLASS in the picture, e.g. dog:2.",
            "CLASS[:MIN_COUNT]",
        ),
    ] = None,
    near: Annotated[
        list[str] | None,
        _many("--near", "Taken within KM of LAT,LON (decimal degrees).", "LAT,LON,KM"),
    ] = None,
    place: Annotated[
        list[str] | None,
        _many(
            "--place",
            "Taken at a place whose city, region or country contains TEXT, in any letter "
            "case, or in the country with that code (IT, US); needs the places phase.",
            "TEXT",
        ),
    ] = None,
    has_gps: Annotated[bool, typer.Option("--has-gps", help="Has a GPS position.")] = False,
    rating_min: Annotated[
        float | None,
        typer.Option(
            "--rating-min",
            metavar="N",
            help="Rated at least N (-1 rejected to 5) in its XMP (xmp:Rating).",
            show_default=False,
        ),
    ] = None,
    keyword: Annotated[
        list[str] | None,
        _many("--keyword", "Has the keyword TEXT (XMP dc:subject, else IPTC), any case.", "TEXT"),
    ] = None,
    sharp: Annotated[bool, typer.Option("--sharp", help="Not flagged blurry.")] = False,
    blurry: Annotated[bool, typer.Option("--blurry", help="Flagged blurry.")] = False,
    dark: Annotated[bool, typer.Option("--dark", help="Flagged underexposed.")] = False,
    overexposed: Annotated[
        bool, typer.Option("--overexposed", help="Flagged overexposed.")
    ] = False,
    text: Annotated[
        list[str] | None,
        _many(
            "--text",
            "The photo's text (read by the text phase) holds every word of WORDS, each "
            "anywhere in it: any part of a word of 3 or more characters, any case and any "
            'accents; "quoted phrases" keep their spaces; shorter words match too (slower). '
            "Repeated: all of them. Results show the matching line.",
            "WORDS",
        ),
    ] = None,
    screenshots: Annotated[
        bool | None,
        typer.Option(
            "--screenshots/--no-screenshots",
            help="Only screenshots, or only what is not one (as the text phase flagged them: "
            "files it has not read match neither).",
            show_default=False,
        ),
    ] = None,
    person: Annotated[
        list[str] | None,
        _many(
            "--person",
            "Shows the person NAME (any case; as `photoanalyze people` lists them, or a "
            "person's number there). Repeated: any of them; with --all-persons, all of "
            "them. Needs the faces phase (docs/people.md).",
            "NAME",
        ),
    ] = None,
    all_persons: Annotated[
        bool,
        typer.Option(
            "--all-persons",
            help="Every --person must be in the picture (default: any of them).",
        ),
    ] = False,
    faces: Annotated[
        str | None,
        typer.Option(
            "--faces",
            metavar="N[-M]",
            help="At least N faces (e.g. 2 for group photos), or N to M (2-2: exactly two), "
            "as the faces phase found them; files it has not analyzed match no count.",
            show_default=False,
        ),
    ] = None,
    no_faces: Annotated[
        bool,
        typer.Option("--no-faces", help="Only files in which the faces phase found no face."),
    ] = False,
    no_duplicates: Annotated[
        bool,
        typer.Option(
            "--no-duplicates",
            help="Of each group of near-duplicates (as `duplicates` finds them), only the pick.",
        ),
    ] = False,
    paths_only: Annotated[
        bool, typer.Option("--paths-only", "-f", help="Print bare paths, one a line.")
    ] = False,
    print0: Annotated[
        bool,
        typer.Option(
            "--print0",
            "-0",
            help="Print bare paths, each ended by a NUL instead of a newline, for `xargs -0` "
            "(a file name may hold a newline).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON (docs/search.md).")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Also write a self-contained page of the results' thumbnails to FILE.",
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never try to download model weights.")
    ] = False,
) -> None:
    """Find photos and videos by text, by example and by facts, over the stored CLIP
    embeddings. Prints `score<TAB>path` lines, best first (a video's line adds the second of
    its best-matching frame). Repeated filter options mean "any of"; different ones must all
    hold. Missing files are never listed. Exit codes: 1 no catalog, 2 a bad option value, 4
    the query needs model weights that are not here.

    Examples:

    ```
    photoanalyze search "a dog on a beach" --after 2023-06 --camera pixel
    photoanalyze search ./racing-car.jpg - "2:sports car" + snow --top 5 --json
    photoanalyze search sunset --min-score 0.25 -0 | xargs -0 cp -t ~/best
    photoanalyze search --text "wifi password" --screenshots
    photoanalyze search beach --person Anna --person Ben --all-persons
    ```
    """
    from photoanalyzer.config import with_ml_overrides
    from photoanalyzer.outputs.search.engine import SearchRequest
    from photoanalyzer.outputs.search.engine import search as run_search
    from photoanalyzer.outputs.search.filters import FilterOptions

    if (paths_only or print0) and as_json:
        bare = "--print0" if print0 else "--paths-only"
        raise UsageError(f"{bare} and --json are two output forms: choose one")
    cfg = with_ml_overrides(load_checked_config(config), offline=offline)
    options = FilterOptions(
        after=after,
        before=before,
        cameras=camera or (),
        lenses=lens or (),
        folders=[str(path) for path in folder or ()],
        kinds=[k.value for k in kind or ()],
        scenes=scene or (),
        objects=objects or (),
        near=near or (),
        places=place or (),
        has_gps=has_gps,
        rating_min=rating_min,
        keywords=keyword or (),
        sharp=sharp,
        blurry=blurry,
        dark=dark,
        overexposed=overexposed,
        texts=text or (),
        screenshots=screenshots,
        persons=person or (),
        all_persons=all_persons,
        faces=faces,
        no_faces=no_faces,
    )
    request = SearchRequest(
        words=query or (), filters=options, top=top, min_score=min_score,
        sort=sort.value if sort else None, no_duplicates=no_duplicates,
    )  # fmt: skip
    result = run_search(search_settings(cfg, db), request)
    _print_search(result, b"\0" if print0 else b"\n" if paths_only else None, as_json, html)


def search_settings(cfg, db: Path | None):
    from photoanalyzer.config import resolve_catalog_path
    from photoanalyzer.outputs.search.engine import SearchSettings

    context = phase_context(cfg, db)
    return SearchSettings(
        catalog_path=resolve_catalog_path(db, cfg),
        thumbnail_dir=context.thumbnail_dir,
        models_dir=context.models_dir,
        ml=cfg.ml,
        content=cfg.content,
    )


def _print_search(result, bare: bytes | None, as_json: bool, html: Path | None) -> None:
    """`bare`: print bare paths, each ended by it (b"\\n", or NUL for --print0)."""
    from photoanalyzer.outputs.search import output

    if html is not None:
        try:
            html.write_text(output.html_page(result), encoding="utf-8")
        except OSError as exc:
            raise FatalError(f"cannot write --html {html}: {exc.strerror}") from exc
        typer.echo(f"Wrote {len(result.hits)} results to {html}", err=True)
    if as_json:
        echo_lines([output.as_json(result)])
        return
    if bare is None:
        echo_lines(output.lines(result))
    else:
        write_bytes(output.paths(result, bare))
    for line in output.stderr_lines(result):
        typer.echo(line, err=True)
