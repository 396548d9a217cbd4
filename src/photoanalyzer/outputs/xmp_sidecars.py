"""`photoanalyze xmp write`: our scenes and objects as keywords in the photos' XMP sidecars,
for digiKam, darktable, Lightroom and Immich to see, and named faces as MWG face regions and
PersonInImage names (mwg_regions.py). Merged into what is there (xmp.py and mwg_regions.py
keep every field, keyword, region and name that is not ours), written atomically, only when
something changes, and never into a photo file itself."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from photoanalyzer.catalog.people import SidecarFaces
from photoanalyzer.catalog.queries import LabelledPhoto
from photoanalyzer.errors import UsageError
from photoanalyzer.formats import mwg_regions, xmp
from photoanalyzer.library import sidecars
from photoanalyzer.ml import random_weights
from photoanalyzer.outputs.labels import without_article

ROOT = "photoanalyzer"  # our branch of the keyword hierarchy: photoanalyzer|scene|beach
OWNED = xmp.Owned(ROOT)
# Labels of a model whose weights were random are left out (the other model's are written);
# where that leaves no photo any label, nothing is written at all.
RANDOM_REFUSAL = (
    "these photos ({n}) have only labels made with RANDOM CLIP and YOLO weights (configured "
    "for testing): they mean nothing, and nothing was written. Pass --allow-random to write "
    "them anyway."
)
# Read, merged and written again at most this many times when another program writes the
# sidecar between our read and our rename.
MAX_TRIES = 3
CHANGED_WHILE_WRITTEN = (
    "changed by another program while being written ({n} tries): left as it is; "
    "the next `xmp write` will add our keywords"
)
RANDOM_LEFT_OUT = (
    "WARNING: the {labels} labels of {photos} were made with {weights} (configured for "
    "testing): they mean nothing and were left out (pass --allow-random to write them)."
)
RANDOM_WRITTEN = (
    "WARNING: writing {labels} keywords made with {weights} for {photos} "
    "(--allow-random): they mean nothing."
)
_LABELS = {"clip": "scene", "yolo": "object"}


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool = False
    name: str = "ext"  # a new sidecar's name: "ext" photo.jpg.xmp, "base" photo.xmp
    min_score: float = 0.25
    allow_random: bool = False


@dataclass
class WriteSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    # Sidecars another program kept changing while we wrote them: left as that program wrote
    # them, for the next write.
    left: int = 0
    changes: list[str] = field(default_factory=list)  # what a dry run would write
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # random weights; sidecars left

    def counts(self) -> str:
        counts = (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} failed"
        )
        return counts + (f", {self.left} changed while written (left)" if self.left else "")


def keywords_for(
    photo: LabelledPhoto, min_score: float, allow_random: bool = False
) -> xmp.Keywords:
    """The scenes scored at least `min_score` and every object class present, as leaves
    ("a beach" becomes "beach") and as paths below our root; the labels of a model whose
    weights were random only with `allow_random`."""
    scenes = photo.scenes if allow_random or not photo.clip_random else []
    objects = photo.object_counts if allow_random or not photo.yolo_random else {}
    labelled = [("scene", _leaf(label)) for label, score in scenes if score >= min_score]
    labelled += [("object", _leaf(name)) for name, count in objects.items() if count]
    labelled = list(dict.fromkeys((kind, leaf) for kind, leaf in labelled if leaf))
    return xmp.Keywords(
        leaves=tuple(dict.fromkeys(leaf for _, leaf in labelled)),
        hierarchical=tuple(f"{ROOT}|{kind}|{leaf}" for kind, leaf in labelled),
        tags=tuple(f"{ROOT}/{kind}/{leaf}" for kind, leaf in labelled),
    )


def _leaf(label: str) -> str:
    # `|` and `/` separate the levels of the two hierarchies: never inside a level.
    return without_article(label).replace("|", "-").replace("/", "-").strip()


def write_sidecars(
    photos: Iterable[LabelledPhoto],
    options: WriteOptions,
    progress: Callable[[list], Iterable] = lambda x: x,
    people: Mapping[str, mwg_regions.People] | None = None,
) -> WriteSummary:
    """Every photo's sidecar brought up to date (or, in a dry run, what would change).

    `people`: photo path -> its named faces (boxes on the upright picture, the picture's
    stored size and orientation) and names, written as MWG face regions and PersonInImage.
    A photo it has replaces our earlier regions and names (none: they go); a photo it has
    not keeps them as they are. Photos only in `people` get their sidecar too."""
    photos = list(photos)
    people = dict(people or {})
    if (
        photos
        and not any(faces.regions or faces.names for faces in people.values())
        and not options.allow_random
        and all(photo.clip_random and photo.yolo_random for photo in photos)
    ):
        raise UsageError(RANDOM_REFUSAL.format(n=len(photos)))
    summary = WriteSummary()
    summary.warnings += _random_warnings(photos, options.allow_random)
    known = {photo.path for photo in photos}
    photos += [_unlabelled(path) for path in people if path not in known]
    for target, sharing in progress(list(_by_sidecar(photos, options.name).items())):
        faces = next((people[p.path] for p in sharing if p.path in people), None)
        _one(target, sharing, options, summary, faces)
    return summary


def people_by_path(photos: Iterable[SidecarFaces]) -> dict[str, mwg_regions.People]:
    """Each photo's named faces as `write_sidecars` takes them: MWG face regions (the names
    of persons, boxes on the upright picture) and PersonInImage names, in the order the
    faces are in the picture, each name once."""
    people = {}
    for photo in photos:
        regions = tuple(
            mwg_regions.FaceRegion(name, mwg_regions.Box(*box)) for name, box in photo.faces
        )
        size = (photo.width, photo.height) if photo.width and photo.height else None
        names = tuple(dict.fromkeys(name for name, _ in photo.faces))
        people[photo.path] = mwg_regions.People(regions, size, photo.orientation, names)
    return people


def _unlabelled(path: str) -> LabelledPhoto:
    """A photo with faces to write and no labels (its ML result is not current)."""
    return LabelledPhoto(path, [], {}, clip_random=False, yolo_random=False)


def _random_warnings(photos: list[LabelledPhoto], allow_random: bool) -> list[str]:
    """Per model, how many photos have its labels from random weights, and what became of
    them: left out, or (--allow-random) written."""
    counts = {
        "clip": sum(photo.clip_random for photo in photos),
        "yolo": sum(photo.yolo_random for photo in photos),
    }
    said = RANDOM_WRITTEN if allow_random else RANDOM_LEFT_OUT
    return [
        said.format(
            labels=_LABELS[model],
            weights=random_weights.weights_named([model]),
            photos=f"{n} photo" if n == 1 else f"{n} photos",
        )
        for model, n in counts.items()
        if n
    ]


def _by_sidecar(photos: list[LabelledPhoto], name: str) -> dict[str, list[LabelledPhoto]]:
    """The photos grouped by the sidecar they write: their existing one, else a new one
    named by `name`. Photos of one shot share one: IMG_1.CR2 and IMG_1.JPG both read
    IMG_1.xmp (Lightroom's name), and each writing only its own keywords into it would take
    the other's out."""
    groups: dict[str, list[LabelledPhoto]] = {}
    for photo in photos:
        target = next(
            (c for c in sidecars.candidate_names(photo.path) if os.path.isfile(c)),
            _new_name(photo.path, name),
        )
        groups.setdefault(target, []).append(photo)
    return groups


def _one(
    target: str,
    photos: list[LabelledPhoto],
    options: WriteOptions,
    summary: WriteSummary,
    faces: mwg_regions.People | None = None,
) -> None:
    """One sidecar: our keywords, then (where `faces` is given) our face regions and names,
    merged into it in one write. Photos of one shot sharing it: the first one's faces."""
    wanted = _union(
        keywords_for(photo, options.min_score, options.allow_random) for photo in photos
    )
    has_faces = faces is not None and bool(faces.regions or faces.names)
    try:
        for _ in range(MAX_TRIES):
            existing = _read_if_there(target)
            if existing is None and not wanted.leaves and not has_faces:
                summary.unchanged += 1  # nothing to say, and no sidecar to say it in
                return
            merged = _merged(existing, wanted, faces)
            if merged.text is None:
                summary.unchanged += 1
                return
            if options.dry_run:
                changes = [f"+{k}" for k in merged.added] + [f"-{k}" for k in merged.removed]
                verb = "create" if existing is None else "update"
                summary.changes.append(f"would {verb} {target}: {' '.join(changes) or '(layout)'}")
            elif not write_atomically(target, merged.text, existing):
                continue  # another program wrote it since we read it: read and merge again
            if existing is None:
                summary.created += 1
            else:
                summary.updated += 1
            return
        summary.left += 1
        summary.warnings.append(f"{target}: {CHANGED_WHILE_WRITTEN.format(n=MAX_TRIES)}")
    except xmp.XmpError as exc:
        summary.failed += 1
        summary.failures.append(f"{target}: not readable XMP, left as it is: {exc}")
    except OSError as exc:
        summary.failed += 1
        summary.failures.append(f"{target}: cannot read or write this sidecar: {exc}")


def _merged(
    existing: bytes | None, wanted: xmp.Keywords, faces: mwg_regions.People | None
) -> xmp.Merge:
    """Keywords, then faces, merged into `existing`: one text and what changed in both."""
    keywords = xmp.merge_keywords(existing, wanted, OWNED)
    if faces is None:
        return keywords
    text = keywords.text if keywords.text is not None else existing
    people = mwg_regions.merge_people(text, faces)
    return xmp.Merge(
        people.text if people.text is not None else keywords.text,
        keywords.added + people.added,
        keywords.removed + people.removed,
    )


def _read_if_there(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _union(keywords: Iterable[xmp.Keywords]) -> xmp.Keywords:
    """The keywords of several photos of one shot, each once, in the order first seen."""
    keywords = list(keywords)
    return xmp.Keywords(
        *(
            tuple(dict.fromkeys(k for each in keywords for k in getattr(each, part)))
            for part in ("leaves", "hierarchical", "tags")
        )
    )


def _new_name(photo_path: str, name: str) -> str:
    if name == "base":
        return os.path.splitext(photo_path)[0] + ".xmp"
    return photo_path + ".xmp"


def write_atomically(path: str, data: bytes, expected: bytes | None) -> bool:
    """`data` at `path` through a temporary file in the same folder and a rename: a reader
    sees the old sidecar or the new one, never half of one. `expected` is the sidecar as it
    was read (None: there was none); where it is no longer that when the new one would take
    its place, nothing is written and the answer is False. The new file keeps the old one's
    owner, group and permissions (PermissionError where this user cannot give it that owner);
    a link to a sidecar is followed (the link stays)."""
    if not sidecars.is_sidecar_name(path):
        raise ValueError(f"not a sidecar name: {path}")  # never a photo file
    path = os.path.realpath(path)
    folder, name = os.path.split(path)
    # A dot name: the folder walk skips it, should a run see it before the rename.
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            _keep_owner_and_mode(fh.fileno(), path)
            os.fsync(fh.fileno())
        placed = _put_in_place(temp, path, expected)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if not placed:
        os.unlink(temp)
    return placed


def _keep_owner_and_mode(fd: int, path: str) -> None:
    """The temporary file given the sidecar's owner, group and mode (a new sidecar: the mode
    the umask gives a new file). The owner before the mode: a chown clears set-id bits."""
    try:
        old = os.stat(path)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        return
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            raise PermissionError(
                f"its owner (uid {old.st_uid}, gid {old.st_gid}) cannot be given to a new copy"
                " by this user, and replacing it would change who owns it: left as it is"
            ) from None
    os.fchmod(fd, old.st_mode & 0o7777)


def _put_in_place(temp: str, path: str, expected: bytes | None) -> bool:
    """The temporary file renamed to `path` if `path` still holds `expected`. Checked just
    before the rename, which narrows the window to microseconds (no lock exists that every
    program writing sidecars takes)."""
    if expected is None:
        try:
            os.link(temp, path)  # atomic, and never over a sidecar that appeared meanwhile
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links (FAT, some SMB shares)
            if os.path.lexists(path):
                return False
            os.replace(temp, path)
            return True
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return True
    if _read_if_there(path) != expected:
        return False
    os.replace(temp, path)
    return True
