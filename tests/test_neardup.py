"""Near-duplicate grouping: the multi-index search against brute force, and the pick."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from photoanalyzer.analysis.neardup import Candidate, find_groups, pick, similar_pairs
from support.imagegen import exif_of, full_spec, textured_photo


def brute_force(hashes: np.ndarray, max_distance: int) -> set[tuple[int, int]]:
    n = len(hashes)
    return {
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if int(hashes[i] ^ hashes[j]).bit_count() <= max_distance
    }


def with_neighbours(rng, bases: int, copies: int, max_flips: int) -> np.ndarray:
    """Random hashes plus copies of each with up to `max_flips` random bits flipped."""
    base = rng.integers(0, 2**64 - 1, bases, dtype=np.uint64, endpoint=True)
    out = [base]
    for _ in range(copies):
        flips = np.zeros(bases, dtype=np.uint64)
        for k in range(bases):
            for bit in rng.choice(64, int(rng.integers(0, max_flips + 1)), replace=False):
                flips[k] |= np.uint64(1) << np.uint64(bit)
        out.append(base ^ flips)
    return np.concatenate(out)


@pytest.mark.parametrize("max_distance", [0, 3, 8, 12])
def test_multi_index_search_finds_exactly_the_brute_force_pairs(max_distance):
    rng = np.random.default_rng(max_distance)
    hashes = with_neighbours(rng, bases=60, copies=3, max_flips=max_distance + 3)
    found = {tuple(map(int, pair)) for pair in similar_pairs(hashes, max_distance)}
    assert found == brute_force(hashes, max_distance)
    assert found  # the planted neighbours make the check meaningful


def test_groups_are_linked_and_the_largest_picture_wins_even_when_less_sharp():
    def c(i, phash, sharpness, side):
        return Candidate(i, f"/p/{i}.jpg", phash, sharpness, side, side)

    candidates = [
        c(0, 0b0000, 10.0, 10),
        c(1, 0b0011, 90.0, 10),  # a downscaled copy measures sharper: it must not win
        c(2, 0b1111, 50.0, 20),
        c(3, 0xFFFF_0000_0000_0000, 1.0, 1),
    ]
    (group,) = find_groups(candidates, max_distance=2)  # 0-1 and 1-2 link 0 and 2 through 1
    assert group.best.file_id == 2
    assert group.reasons == ["largest picture (20x20 vs 10x10)"]
    assert [m.file_id for m in group.members] == [2, 0, 1]


def ranked(*candidates: Candidate) -> tuple[int, list[str]]:
    best, reasons = pick(list(candidates))
    return best.file_id, reasons


def test_the_pick_ladder_size_then_clear_sharpness_then_metadata_then_file_size():
    def c(i, sharpness=100.0, width=4000, height=3000, size=1000, **facts):
        return Candidate(i, f"/p/{i}.jpg", 0, sharpness, width, height, size, **facts)

    # Within 5% of the largest is the same size: a 2% crop does not beat a sharper frame.
    assert ranked(c(0, 100.0), c(1, 200.0, width=3920)) == (1, ["sharper (sharpness 200 vs 100)"])
    # Sharpness decides only with a clear margin (20%); then metadata, then the file size.
    assert ranked(c(0, 110.0), c(1, 100.0, has_gps=True)) == (1, ["has GPS"])
    assert ranked(c(0, 110.0, has_time=True), c(1, 100.0, has_time=True, has_camera=True)) == (
        1,
        ["has camera"],
    )
    assert ranked(c(0, size=900), c(1, size=1200)) == (1, ["larger file (1,200 vs 900 bytes)"])
    # Every rule that narrowed the field is named, in order.
    assert ranked(c(0, width=2000, height=1500), c(1, 50.0), c(2, 150.0)) == (
        2,
        ["largest picture (4000x3000 vs 2000x1500)", "sharper (sharpness 150 vs 50)"],
    )
    assert ranked(c(5), c(4)) == (
        4,
        ["first by path (the copies are alike in size, sharpness and metadata)"],
    )


def test_duplicates_command_lists_groups_with_the_pick(cli, tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    original = textured_photo((1200, 900), seed=5)
    original.save(library / "original.jpg", quality=95)
    original.resize((400, 300), Image.Resampling.LANCZOS).save(
        library / "small copy.jpg", quality=70
    )
    textured_photo((1200, 900), seed=6).save(library / "different.jpg", quality=95)
    db = str(tmp_path / "c.db")
    cli("run", str(library), "--db", db, "--quiet", "--phases", "metadata,content")
    groups = json.loads(cli("duplicates", "--db", db, "--json").stdout)
    assert len(groups) == 1
    assert groups[0]["pick"] == str(library / "original.jpg")
    assert sorted(m["path"] for m in groups[0]["members"]) == [
        str(library / "original.jpg"),
        str(library / "small copy.jpg"),
    ]
    text = cli("duplicates", "--db", db).stdout
    assert "1 near-duplicate group" in text and f"* {library / 'original.jpg'}" in text
    refused = cli("duplicates", "--db", db, "--distance", "40", check=False)
    assert refused.returncode == 2 and "between 0 and 32" in refused.stderr
    (tmp_path / "nothing").mkdir()
    empty_db = str(tmp_path / "empty.db")
    cli("run", str(tmp_path / "nothing"), "--db", empty_db, "--phases", "metadata,content")
    empty = cli("duplicates", "--db", empty_db).stdout
    assert empty.startswith("No near-duplicates among 0 analyzed photos")


def index_and_group(cli, library: Path, db: Path) -> tuple[list[dict], str]:
    cli("run", str(library), "--db", str(db), "--quiet", "--phases", "metadata,content")
    groups = json.loads(cli("duplicates", "--db", str(db), "--json").stdout)
    return groups, cli("duplicates", "--db", str(db)).stdout


def test_the_original_beats_its_downscaled_copy_that_measures_sharper(cli, tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    # A slightly soft 4 MP original, as lenses render; its 1 MP copy, downscaled, measures
    # sharper because sharpness is measured on a reduced picture.
    original = textured_photo((2400, 1800), seed=5).filter(ImageFilter.GaussianBlur(1.5))
    original.save(library / "original.jpg", quality=92)
    copy = original.resize((1200, 900), Image.Resampling.LANCZOS)
    copy.save(library / "copy.jpg", quality=80)
    (group,), text = index_and_group(cli, library, tmp_path / "c.db")
    members = {Path(m["path"]).name: m for m in group["members"]}
    assert members["copy.jpg"]["sharpness"] > members["original.jpg"]["sharpness"]  # the trap
    assert group["pick"] == str(library / "original.jpg")
    assert group["why"] == ["largest picture (2400x1800 vs 1200x900)"]
    assert "pick: largest picture (2400x1800 vs 1200x900)" in text
    assert f"* {library / 'original.jpg'}  (2400x1800, sharpness" in text


def test_in_a_burst_of_equal_size_the_clearly_sharper_frame_wins(cli, tmp_path):
    library = tmp_path / "lib"
    sharp = textured_photo((1600, 1200), seed=8)
    library.mkdir()
    sharp.save(library / "IMG_0002.jpg", quality=90)
    # The shaken frame carries GPS and is the larger file: sharpness still comes first.
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))
    blurred.save(library / "IMG_0001.jpg", quality=100, exif=exif_of(full_spec()).tobytes())
    (group,), text = index_and_group(cli, library, tmp_path / "c.db")
    assert group["pick"] == str(library / "IMG_0002.jpg")
    (reason,) = group["why"]
    assert reason.startswith("sharper (sharpness ")
    assert f"pick: {reason}" in text


def test_include_missing_lists_groups_with_missing_members_marked(cli, tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    original = textured_photo((1200, 900), seed=5)
    original.save(library / "original.jpg", quality=95)
    original.resize((400, 300), Image.Resampling.LANCZOS).save(library / "copy.jpg", quality=70)
    db = str(tmp_path / "c.db")
    cli("run", str(library), "--db", db, "--quiet", "--phases", "metadata,content")
    (library / "copy.jpg").unlink()
    cli("run", str(library), "--db", db, "--quiet", "--phases", "metadata,content")
    assert cli("duplicates", "--db", db).stdout.startswith("No near-duplicates among 1 analyzed")
    (group,) = json.loads(cli("duplicates", "--db", db, "--json", "--include-missing").stdout)
    assert {m["path"]: m["missing"] for m in group["members"]} == {
        str(library / "original.jpg"): False,
        str(library / "copy.jpg"): True,
    }
    text = cli("duplicates", "--db", db, "--include-missing").stdout
    assert "; [missing]: not on disk at the last run:" in text
    assert f"  {library / 'copy.jpg'}  [missing]  (400x300" in text
    assert f"* {library / 'original.jpg'}  (1200x900" in text


def test_groups_by_embedding_are_the_connected_components_of_close_pairs():
    """The vectorized union-find against a plain one, on planted clusters of unit vectors
    (chains included, which single linkage must join)."""
    from photoanalyzer.analysis.neardup import embedding_groups

    rng = np.random.default_rng(4)
    centres = rng.standard_normal((40, 64))
    vectors = np.concatenate(
        [centres + 0.05 * rng.standard_normal((40, 64)) for _ in range(3)]
        + [rng.standard_normal((200, 64))]
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    candidates = [Candidate(i, f"/p/{i:04}.jpg", 0, 1.0, 10, 10) for i in range(len(vectors))]
    groups = embedding_groups(candidates, vectors, min_cosine=0.98)
    parent = list(range(len(vectors)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    similar = vectors @ vectors.T >= 0.98
    for i, j in zip(*np.nonzero(similar), strict=True):
        parent[root(int(i))] = root(int(j))
    expected = {}
    for i in range(len(vectors)):
        expected.setdefault(root(i), set()).add(i)
    wanted = sorted(sorted(g) for g in expected.values() if len(g) > 1)
    assert sorted(sorted(m.file_id for m in g.members) for g in groups) == wanted
    assert len(wanted) == 40  # the planted clusters, each whole
    for group in groups:
        assert group.cosines[group.best.file_id] == pytest.approx(1.0, abs=1e-4)


def test_a_photo_overwritten_with_another_picture_leaves_its_group(cli, tmp_path):
    """Overwritten, and only the metadata phase ran since: its old pHash is not current, so
    `duplicates`, the report and `search --no-duplicates` no longer group it (nor name it
    the copy to drop) until the content phase has hashed the new picture."""
    from photoanalyzer.catalog import Catalog
    from photoanalyzer.outputs.html_report.data import gather

    library = tmp_path / "lib"
    library.mkdir()
    original = textured_photo((1200, 900), seed=5)
    original.save(library / "original.jpg", quality=95)
    copy = library / "copy.jpg"
    original.resize((400, 300), Image.Resampling.LANCZOS).save(copy, quality=70)
    db = str(tmp_path / "c.db")
    cli("run", str(library), "--db", db, "--quiet", "--phases", "metadata,content")
    assert len(json.loads(cli("duplicates", "--db", db, "--json").stdout)) == 1
    assert cli("search", "--db", db, "--no-duplicates", "-f").stdout.split("\n")[:-1] == [
        str(library / "original.jpg")
    ]
    textured_photo((640, 480), seed=9).save(copy, quality=90)  # another picture, same name
    cli("run", str(library), "--db", db, "--quiet", "--phases", "metadata")
    assert json.loads(cli("duplicates", "--db", db, "--json").stdout) == []
    assert cli("duplicates", "--db", db).stdout.startswith("No near-duplicates among 1 analyzed")
    listed = cli("search", "--db", db, "--no-duplicates", "-f").stdout.split("\n")[:-1]
    assert sorted(listed) == [str(copy), str(library / "original.jpg")]
    catalog = Catalog(Path(db), create=False)
    try:
        report = gather(catalog, [], 8)
    finally:
        catalog.close()
    assert (report.groups, report.compared) == ([], 1)
    cli("run", str(library), "--db", db, "--quiet", "--phases", "content")  # hashed anew
    assert json.loads(cli("duplicates", "--db", db, "--json").stdout) == []
