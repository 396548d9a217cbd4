"""`photoanalyze people`: list persons and their faces, name, merge, reject, forget."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from photoanalyzer.cli.app import ConfigOption, DbOption, app, load_checked_config
from photoanalyzer.errors import CatalogError, UsageError

people_app = typer.Typer(
    help="Persons found by the faces phase (run --phases faces): list them and their faces, "
    "name them, merge two that are one, take a face from a person, or forget every face. "
    "Names, merges and rejections stand through every later run, --full included. Faces "
    "and names stay in the local catalog (docs/people.md).",
    short_help="Persons: list, faces, name, merge, reject, forget.",
    invoke_without_command=True,
)
app.add_typer(people_app, name="people")

JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]
WaitOption = Annotated[
    bool,
    typer.Option("--wait", help="If a run holds the catalog, wait for it instead of exit 3."),
]
PersonArg = Annotated[str, typer.Argument(help="A person's id or name.", show_default=False)]


@dataclass(frozen=True)
class GroupOptions:
    """The options given after `people` itself, before its command: they apply to the
    command (click hands a group's `obj` down to its command's context)."""

    db: Path | None
    config: Path | None
    json: bool


@people_app.callback()
def people(
    ctx: typer.Context, db: DbOption = None, config: ConfigOption = None, json: JsonOption = False
) -> None:
    """Without a command: the persons, as `people list`. --db and --config given here apply to
    the command that follows (`people --db FILE name 3 Anna`), and --json to list and faces."""
    ctx.obj = GroupOptions(db, config, json)
    if ctx.invoked_subcommand is None:
        people_list(ctx)


@people_app.command("list")
def people_list(
    ctx: typer.Context, db: DbOption = None, config: ConfigOption = None, json: JsonOption = False
) -> None:
    """Persons with their face and photo counts and a sample path, named ones first."""
    from photoanalyzer.outputs.people import persons_json, persons_text

    with _reading(ctx, db, config) as catalog:
        persons = catalog.people.list_persons()
    if _as_json(ctx, json):
        typer.echo(persons_json(persons))
    else:
        typer.echo(persons_text(persons, _options_to_repeat(ctx, db, config)))


@people_app.command("faces")
def people_faces(
    ctx: typer.Context,
    person: PersonArg,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """A person's faces with their ids (for `people reject`), boxes and paths."""
    from photoanalyzer.outputs.people import faces_json, faces_text

    with _reading(ctx, db, config) as catalog:
        faces = catalog.people.faces_of_person(_person_id(catalog, person))
    typer.echo(faces_json(faces) if _as_json(ctx, json) else faces_text(faces))


@people_app.command("name")
def people_name(
    ctx: typer.Context,
    person: PersonArg,
    name: Annotated[str, typer.Argument(help="The name to give.", show_default=False)],
    db: DbOption = None,
    config: ConfigOption = None,
    wait: WaitOption = False,
) -> None:
    """Name a person. A name another person has already merges the two into that one."""
    from photoanalyzer.catalog.people import person_name_problem
    from photoanalyzer.run.people_step import name_person

    name = name.strip()
    problem = person_name_problem(name)
    if problem:
        raise UsageError(problem)
    with _writing(ctx, db, config, wait) as catalog:
        person_id = _person_id(catalog, person)
        kept = name_person(catalog, person_id, name)
    merged = f" (merged into #{kept}, which had that name)" if kept != person_id else ""
    typer.echo(f"#{person_id} is {name}{merged}")


@people_app.command("merge")
def people_merge(
    ctx: typer.Context,
    keep: PersonArg,
    other: PersonArg,
    db: DbOption = None,
    config: ConfigOption = None,
    wait: WaitOption = False,
) -> None:
    """Merge OTHER into KEEP: its faces join KEEP, which keeps its id (and takes OTHER's name
    where it has none)."""
    with _writing(ctx, db, config, wait) as catalog:
        keep_id, other_id = _person_id(catalog, keep), _person_id(catalog, other)
        if keep_id == other_id:
            raise UsageError(f"#{keep_id} and #{other_id} are the same person")
        catalog.people.merge(keep_id, other_id)
    typer.echo(f"#{other_id} merged into #{keep_id}")


@people_app.command("reject")
def people_reject(
    ctx: typer.Context,
    face: Annotated[int, typer.Argument(help="A face id (people faces PERSON).")],
    db: DbOption = None,
    config: ConfigOption = None,
    wait: WaitOption = False,
) -> None:
    """Take a face from its person: it is not them, and no later run gives it back to them
    (a later grouping may place it with someone else)."""
    with _writing(ctx, db, config, wait) as catalog:
        person = catalog.people.reject(face)
    if person is None:
        raise UsageError(f"face {face} does not exist or belongs to no person")
    typer.echo(f"face {face} is no longer #{person}'s")


@people_app.command("forget")
def people_forget(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    wait: WaitOption = False,
) -> None:
    """Delete every face, embedding, person, name and decision from the catalog (faces are
    biometric data). The faces phase's results go too: a later run that includes the faces
    phase finds faces again; leave `faces` out of the phases to stop that."""
    _no_json_for_a_change(ctx)  # before asking: the answer would be refused anyway
    if not yes:
        typer.confirm("Delete every face, embedding, person and name from the catalog?", abort=True)
    with _writing(ctx, db, config, wait) as catalog:
        count = catalog.people.forget()
    typer.echo(
        f"deleted {count} faces with their embeddings, every person and name. A run with "
        "the faces phase will detect faces again; leave it out of --phases and the config's "
        "`phases` to keep them gone."
    )


def _person_id(catalog, text: str) -> int:
    from photoanalyzer.catalog.people import person_number

    person_id = person_number(text)
    if person_id is not None:
        if catalog.people.person(person_id) is None:
            raise UsageError(f"no person #{person_id} (photoanalyze people lists them)")
        return person_id
    found = catalog.people.person_by_name(text)
    if found is None:
        raise UsageError(f"no person named {text!r} (photoanalyze people lists them)")
    return found


def _group(ctx: typer.Context) -> GroupOptions:
    """The options given after `people` (none where a test calls a command alone)."""
    return ctx.obj if isinstance(ctx.obj, GroupOptions) else GroupOptions(None, None, False)


def _chosen(ctx: typer.Context, flag: str, own: Path | None) -> Path | None:
    """The command's own --db or --config, else the one given after `people`; both, naming
    two files, is a mistake that must not pick one silently."""
    given = getattr(_group(ctx), flag)
    if own is not None and given is not None and own != given:
        raise UsageError(
            f"--{flag} is given twice, {given} after `people` and {own} after its command"
        )
    return own if own is not None else given


def _options_to_repeat(ctx: typer.Context, db: Path | None, config: Path | None) -> str:
    """ " --db FILE --config FILE" as given, shell-quoted, for a command the output suggests."""
    from photoanalyzer.pathnames import shell_argument

    given = (("--db", _chosen(ctx, "db", db)), ("--config", _chosen(ctx, "config", config)))
    return "".join(f" {flag} {shell_argument(str(path))}" for flag, path in given if path)


def _as_json(ctx: typer.Context, own: bool) -> bool:
    return own or _group(ctx).json


def _no_json_for_a_change(ctx: typer.Context) -> None:
    if _group(ctx).json:
        raise UsageError("--json is for listing: `people list --json`, `people faces P --json`")


@contextmanager
def _reading(ctx: typer.Context, db: Path | None, config: Path | None):
    from photoanalyzer.cli.app import open_existing_catalog

    db, config = _chosen(ctx, "db", db), _chosen(ctx, "config", config)
    catalog = open_existing_catalog(db, load_checked_config(config))
    try:
        yield catalog
    finally:
        catalog.close()


@contextmanager
def _writing(ctx: typer.Context, db: Path | None, config: Path | None, wait: bool):
    """The catalog for a change, under the run lock: never while a run writes."""
    from photoanalyzer.catalog import Catalog
    from photoanalyzer.config import resolve_catalog_path
    from photoanalyzer.library.locking import RunLock, lock_path

    _no_json_for_a_change(ctx)
    db, config = _chosen(ctx, "db", db), _chosen(ctx, "config", config)
    path = resolve_catalog_path(db, load_checked_config(config))
    if not path.is_file():
        raise CatalogError(f"no catalog at {path}: run `photoanalyze run FOLDER` first")
    with RunLock(lock_path(path)).acquire(wait=wait):
        catalog = Catalog(path)
        try:
            yield catalog
        finally:
            catalog.close()
