"""Near-duplicate grouping: the multi-index search against brute force, and the pick."""

import json

import numpy as np
import pytest
from PIL import Image

from imagegen import textured_photo
from photoanalyzer.neardup import Candidate, find_groups, similar_pairs


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


def test_groups_are_linked_and_the_pick_is_the_sharpest_then_the_largest():
    def c(i, phash, sharpness, pixels):
        return Candidate(i, f"/p/{i}.jpg", phash, sharpness, pixels)

    candidates = [
        c(0, 0b0000, 10.0, 100),
        c(1, 0b0011, 50.0, 100),
        c(2, 0b1111, 50.0, 400),
        c(3, 0xFFFF_0000_0000_0000, 1.0, 1),
    ]
    (group,) = find_groups(candidates, max_distance=2)  # 0-1 and 1-2 link 0 and 2 through 1
    assert group.best.file_id == 2  # as sharp as 1, but larger
    assert [m.file_id for m in group.members] == [2, 0, 1]


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
    empty = cli("duplicates", "--db", str(tmp_path / "empty.db")).stdout
    assert empty.startswith("No near-duplicates among 0 analyzed photos")
