"""File names as a real library has them, end to end through the command line: names that
are not valid UTF-8 (a Latin-1 "café" from an old zip archive or a FAT disk, a byte sequence
that is no encoding at all) and names holding a newline.

The child processes write to a strict UTF-8 stdout, as on a desktop with an en_US.UTF-8
locale (under C.UTF-8, Python would quietly pass the bytes through and hide the problem).
Output is read as bytes: what programs read must be the exact names, what people read must
be valid UTF-8."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from photoanalyzer.pathnames import shell_word
from support.imagegen import full_spec, write_photo

NO_ML = ("--phases", "metadata,content")
LATIN1 = b"caf\xe9.jpg"  # "café" in Latin-1: \xe9 alone is not UTF-8
NOT_TEXT = b"\xff\xfe.jpg"  # bytes no encoding makes text of
ODD_FOLDER = b"d\xe9j\xe0 vu"


class Run:
    """`python -m photoanalyzer ARGS` in a child process; returns (exit code, stdout bytes,
    stderr text). stderr must be valid UTF-8 too, so it is decoded strictly."""

    def __init__(self, cli):
        self.env = {**cli.env, "PYTHONIOENCODING": "utf-8:strict"}

    def __call__(self, *args: str | Path, code: int = 0) -> tuple[bytes, str]:
        result = subprocess.run(
            [sys.executable, "-m", "photoanalyzer", *map(os.fsencode, args)],
            capture_output=True,
            env=self.env,
            timeout=300,
        )
        err = result.stderr.decode("utf-8")
        assert result.returncode == code, (args, result.stdout, err)
        return result.stdout, err


def named(folder: Path, raw: bytes) -> Path:
    """The path of the file named by `raw` bytes in `folder` (as os.listdir would give it)."""
    return folder / os.fsdecode(raw)


@pytest.fixture
def run(cli) -> Run:
    return Run(cli)


@pytest.fixture
def odd_library(tmp_path: Path) -> Path:
    """beach.jpg; its copy under a Latin-1 name (a near-duplicate of it); another photo
    under a name that is no text; one more in a folder whose name is Latin-1."""
    library = tmp_path / "lib"
    beach = write_photo(library / "beach.jpg", full_spec(), size=(320, 240))
    shutil.copy(beach, named(library, LATIN1))
    write_photo(named(library, NOT_TEXT), size=(200, 150), seed=3)
    write_photo(named(library, ODD_FOLDER) / "x.jpg", size=(100, 80), seed=5)
    return library


def readable_name(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def test_names_that_are_not_utf8_are_indexed_and_shown_by_every_command(run, odd_library, tmp_path):
    db = tmp_path / "cat.db"
    odd_paths = {
        named(odd_library, LATIN1),
        named(odd_library, NOT_TEXT),
        named(odd_library, ODD_FOLDER) / "x.jpg",
    }
    every = {odd_library / "beach.jpg", *odd_paths}
    first, _ = run("run", odd_library, "--db", db, *NO_ML)
    assert b"Scanned 4 files" in first and b"4 new" in first, first
    assert b"0 errors" in first
    second, _ = run("run", odd_library, "--db", db, *NO_ML)
    assert b"0 new, 0 changed, 0 moved, 0 now missing" in second, second
    assert b"metadata  0 processed" in second and b"content   0 processed" in second

    # Export: valid UTF-8 JSON, `path` readable, `path_bytes` the exact name.
    out, _ = run("export", "--db", db)
    rows = [json.loads(line) for line in out.decode("utf-8").splitlines()]
    by_bytes = {
        bytes.fromhex(r["path_bytes"]) if r["path_bytes"] else r["path"].encode(): r for r in rows
    }
    assert set(by_bytes) == {os.fsencode(p) for p in every}
    latin = by_bytes[os.fsencode(named(odd_library, LATIN1))]
    assert (
        latin["path"] == f"{odd_library}/{readable_name(LATIN1)}" == f"{odd_library}/caf\\xe9.jpg"
    )
    assert latin["width"] == 320 and latin["thumbnail"] and not latin["errors"]
    assert by_bytes[os.fsencode(odd_library / "beach.jpg")]["path_bytes"] is None
    assert all(r["sharpness"] is not None for r in rows)
    table = list(
        csv.DictReader(io.StringIO(run("export", "--db", db, "--format", "csv")[0].decode()))
    )
    assert list(table[0])[:3] == ["path", "path_bytes", "kind"]
    assert {bytes.fromhex(r["path_bytes"]) for r in table if r["path_bytes"]} == {
        os.fsencode(p) for p in odd_paths
    }

    # Search: bare paths are the exact names; lines and JSON are readable.
    bare, _ = run("search", "--db", db, "-f")
    assert set(bare.splitlines()) == {os.fsencode(p) for p in every}
    lines = run("search", "--db", db)[0].decode("utf-8")
    assert f"{odd_library}/caf\\xe9.jpg" in lines and "\\xff\\xfe.jpg" in lines
    folder = named(odd_library, ODD_FOLDER)
    inside = run("search", "--db", db, "--in", folder, "-f")[0]
    assert inside.splitlines() == [os.fsencode(folder / "x.jpg")]
    results = json.loads(run("search", "--db", db, "--json")[0].decode("utf-8"))["results"]
    exact = {bytes.fromhex(r["path_bytes"]) for r in results if r["path_bytes"]}
    assert exact == {os.fsencode(p) for p in odd_paths}

    # Duplicates: the Latin-1 copy is grouped with its original.
    text = run("duplicates", "--db", db)[0].decode("utf-8")
    assert "caf\\xe9.jpg" in text and "beach.jpg" in text
    groups = json.loads(run("duplicates", "--db", db, "--json")[0].decode("utf-8"))
    members = {bytes.fromhex(m["path_bytes"]) for m in groups[0]["members"] if m["path_bytes"]}
    assert members == {os.fsencode(named(odd_library, LATIN1))}

    # Report: pages are UTF-8 text, links carry the exact bytes (percent-encoded).
    report = tmp_path / "report"
    run("report", "--db", db, "--out", report)
    page = (report / "duplicates.html").read_bytes().decode("utf-8")
    assert "caf\\xe9.jpg" in page and f"file://{odd_library}/caf%E9.jpg" in page
    # The copy button's paths: a shell word that bash reads back as the exact bytes.
    (copied,) = json.loads(html.unescape(re.search(r'data-paths="([^"]*)"', page).group(1)))
    assert copied == f"$'{odd_library}/caf\\xe9.jpg'"
    echoed = subprocess.run(["bash", "-c", f"printf %s {copied}"], capture_output=True)
    assert echoed.stdout == os.fsencode(named(odd_library, LATIN1))
    for written in report.glob("*.html"):
        written.read_bytes().decode("utf-8")
    assert "4 present" in run("status", "--db", db)[0].decode("utf-8")
    json.loads(run("status", "--db", db, "--json")[0].decode("utf-8"))


@pytest.mark.parametrize(
    "raw",
    [
        b"/p/caf\xe9.jpg",
        b"/p/it's \\ \xff\xfe.jpg",
        b"/p/two\nlines.jpg",
        b"/p/\xe9\x01 caf\xc3\xa9",
    ],
)
def test_a_shell_word_names_the_exact_bytes_in_bash(raw):
    word = shell_word(os.fsdecode(raw))
    assert word.startswith("$'") and word.isprintable()
    echoed = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True)
    assert echoed.stdout == raw


def test_a_printable_name_is_its_own_shell_word():
    assert shell_word("/p/été à Zürich's.jpg") == "/p/été à Zürich's.jpg"


def test_a_renamed_odd_name_keeps_its_row_and_errors_naming_it_are_readable(
    run, odd_library, tmp_path
):
    db = tmp_path / "cat.db"
    run("run", odd_library, "--db", db, *NO_ML)
    os.rename(named(odd_library, LATIN1), named(odd_library, b"caf\xe8.jpg"))
    broken = named(odd_library, b"broken\xe9.jpg")
    broken.write_bytes(b"")
    out, _ = run("run", odd_library, "--db", db, *NO_ML)
    summary = out.decode("utf-8")
    assert "1 new, 0 changed, 1 moved" in summary
    assert f"{odd_library}/broken\\xe9.jpg: empty file" in summary
    rows = [json.loads(line) for line in run("export", "--db", db)[0].decode().splitlines()]
    errors = {r["path"]: r["errors"] for r in rows}
    assert errors[f"{odd_library}/broken\\xe9.jpg"]["metadata"] == "empty file (0 bytes)"
    assert f"{odd_library}/caf\\xe8.jpg" in errors and f"{odd_library}/caf\\xe9.jpg" not in errors


# -- --print0 -----------------------------------------------------------------------------------


@pytest.fixture
def newline_library(tmp_path: Path) -> Path:
    """orig.jpg, its smaller copy under a name with a newline (the pick is orig.jpg), and an
    unrelated photo with a newline in its name."""
    library = tmp_path / "lib"
    original = write_photo(library / "orig.jpg", size=(640, 480))
    with Image.open(original) as image:
        image.resize((320, 240)).save(library / "copy\nof orig.jpg")
    write_photo(library / "two\nlines.jpg", size=(200, 150), seed=7)
    return library


def test_print0_gives_names_with_newlines_whole_for_xargs(run, newline_library, tmp_path):
    db = tmp_path / "cat.db"
    run("run", newline_library, "--db", db, *NO_ML)
    every = {newline_library / n for n in ("orig.jpg", "copy\nof orig.jpg", "two\nlines.jpg")}
    for flag in ("-0", "--print0"):
        out, _ = run("search", "--db", db, flag)
        assert out.endswith(b"\0")
        assert set(out[:-1].split(b"\0")) == {os.fsencode(p) for p in every}
    # What xargs -0 makes of it: each name one argument.
    listed = subprocess.run(
        ["xargs", "-0", "ls", "-d", "--"], input=run("search", "--db", db, "-0")[0],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert listed.count(b"copy") == 1
    copies, _ = run("duplicates", "--db", db, "-0")
    assert copies == os.fsencode(newline_library / "copy\nof orig.jpg") + b"\0"
    _, err = run("search", "--db", db, "-0", "--json", code=2)
    assert "--print0" in err
    for other in ("--json", "--include-missing"):
        _, err = run("duplicates", "--db", db, "-0", other, code=2)
        assert "--print0" in err and other in err


def test_a_raw_jpeg_pair_under_a_name_that_is_not_utf8_exports_both_exact_names(run, tmp_path):
    """`pair_of` is shown readable as `path` is; `pair_of_bytes` gives the other half's
    exact name, as `path_bytes` does for the file's own."""
    from support.synthetic_raw import DngSpec, write_dng

    library = tmp_path / "lib"
    raw = write_dng(named(library, b"f\xeate.DNG"), DngSpec(preview_size=(96, 64)))
    jpeg = write_photo(named(library, b"f\xeate.JPG"), size=(96, 64))
    db = tmp_path / "cat.db"
    run("run", library, "--db", db, "--phases", "metadata", "--quiet")
    out, _ = run("export", "--db", db)
    rows = {bytes.fromhex(r["path_bytes"]): r for r in map(json.loads, out.decode().splitlines())}
    for path, other in ((raw, jpeg), (jpeg, raw)):
        row = rows[os.fsencode(path)]
        assert row["pair_of"] == readable_name(os.fsencode(other))
        assert bytes.fromhex(row["pair_of_bytes"]) == os.fsencode(other)
    table = list(
        csv.DictReader(io.StringIO(run("export", "--db", db, "--format", "csv")[0].decode()))
    )
    assert {bytes.fromhex(r["pair_of_bytes"]) for r in table} == {
        os.fsencode(raw),
        os.fsencode(jpeg),
    }
